package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signoff/signoff/events"
	"github.com/signoff/signoff/events/eventstest"
)

// natsNode is one nats-server process of a test cluster.
type natsNode struct {
	name      string
	clientURL string
	monURL    string
	bin       string
	confPath  string
	cmd       *exec.Cmd
	logs      *logBuffer
}

var natsServerBin struct {
	once sync.Once
	path string
	err  error
}

// buildNATSServer builds nats-server from the module version in go.mod,
// once per test binary.
func buildNATSServer(t testing.TB) string {
	t.Helper()
	natsServerBin.once.Do(func() {
		dir, err := os.MkdirTemp("", "signoff-nats-server")
		if err != nil {
			natsServerBin.err = err
			return
		}
		goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, err := os.Stat(goBin); err != nil {
			goBin = "go"
		}
		path := filepath.Join(dir, "nats-server")
		out, err := exec.Command(goBin, "build", "-o", path, "github.com/nats-io/nats-server/v2").CombinedOutput()
		if err != nil {
			natsServerBin.err = fmt.Errorf("go build nats-server: %v\n%s", err, out)
			return
		}
		natsServerBin.path = path
	})
	if natsServerBin.err != nil {
		t.Fatal(natsServerBin.err)
	}
	return natsServerBin.path
}

// startNATSCluster runs a cluster of n nats-server processes with
// JetStream, each with its own store dir, on loopback, and waits until
// every node reports healthy (JetStream with a meta leader).
func startNATSCluster(t testing.TB, n int) []*natsNode {
	t.Helper()
	bin := buildNATSServer(t)
	routes := make([]string, n)
	for i := range n {
		routes[i] = "nats://" + freePort(t)
	}
	nodes := make([]*natsNode, n)
	for i := range n {
		dir := t.TempDir()
		client, mon := freePort(t), freePort(t)
		var others []string
		for j, r := range routes {
			if j != i {
				others = append(others, r)
			}
		}
		conf := fmt.Sprintf(`server_name: n%d
listen: %s
http: %s
jetstream { store_dir: %q }
cluster {
  name: signoff-test
  listen: %s
  routes: [%s]
}
`, i+1, client, mon, filepath.Join(dir, "js"), strings.TrimPrefix(routes[i], "nats://"), strings.Join(others, ", "))
		confPath := filepath.Join(dir, "nats.conf")
		if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		nd := &natsNode{name: fmt.Sprintf("n%d", i+1), clientURL: "nats://" + client, monURL: "http://" + mon,
			bin: bin, confPath: confPath, logs: &logBuffer{}}
		nd.start(t)
		t.Cleanup(nd.kill)
		nodes[i] = nd
	}
	waitHealthy(t, nodes)
	return nodes
}

// start runs the node (again, on the same store dir).
func (nd *natsNode) start(t testing.TB) {
	t.Helper()
	nd.cmd = exec.Command(nd.bin, "-c", nd.confPath)
	nd.cmd.Stdout, nd.cmd.Stderr = nd.logs, nd.logs
	if err := nd.cmd.Start(); err != nil {
		t.Fatal(err)
	}
}

// waitHealthy waits until every node's /healthz answers 200: JetStream
// has a meta leader and the node's streams are current.
func waitHealthy(t testing.TB, nodes []*natsNode) {
	t.Helper()
	eventstest.EventuallyErr(t, 60*time.Second, func() error {
		for _, nd := range nodes {
			resp, err := http.Get(nd.monURL + "/healthz")
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != 200 {
				return fmt.Errorf("%s /healthz %d", nd.name, resp.StatusCode)
			}
		}
		return nil
	})
}

// kill ends the node with SIGKILL, if it still runs.
func (nd *natsNode) kill() {
	if nd.cmd.ProcessState == nil {
		nd.cmd.Process.Kill()
		nd.cmd.Wait()
	}
}

// clientsNamed counts the node's client connections whose name starts
// with prefix (from its /connz monitoring endpoint).
func (nd *natsNode) clientsNamed(prefix string) (int, error) {
	resp, err := http.Get(nd.monURL + "/connz?limit=10000")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var connz struct {
		Connections []struct {
			Name string `json:"name"`
		} `json:"connections"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&connz); err != nil {
		return 0, err
	}
	n := 0
	for _, c := range connz.Connections {
		if strings.HasPrefix(c.Name, prefix) {
			n++
		}
	}
	return n, nil
}

// mostSignoffClients is the node with most of signoff's client
// connections among the running nodes not in skip, and how signoff's
// connections are spread.
func mostSignoffClients(t *testing.T, nodes []*natsNode, skip map[*natsNode]bool) (*natsNode, string) {
	t.Helper()
	var target *natsNode
	var spread []string
	best := -1
	for _, nd := range nodes {
		if nd.cmd.ProcessState != nil {
			continue
		}
		n, err := nd.clientsNamed("signoff")
		if err != nil {
			t.Fatal(err)
		}
		spread = append(spread, fmt.Sprintf("%s: %d", nd.name, n))
		if !skip[nd] && n > best {
			best, target = n, nd
		}
	}
	if target == nil {
		t.Fatalf("no node to kill (%v)", spread)
	}
	return target, strings.Join(spread, ", ")
}

// TestClusterNodeKill: signoff on a real 3-node nats-server cluster with
// the SIGNOFF stream at 3 replicas; 1,200 users × 3 RPs answering after
// 1 s. Each node in turn is killed with SIGKILL in the middle of the
// deliveries, first the one with most of signoff's connections (so every
// connection of signoff's is on a killed node at least once, whatever
// signoff's internals), and logouts keep coming through a surviving node;
// the killed node is restarted before the next kill. 0 RP sessions are
// left without a token, and every logout completes exactly once. The
// recovery times are logged for README.
func TestClusterNodeKill(t *testing.T) {
	if testing.Short() {
		t.Skip("runs a 3-node nats-server cluster")
	}
	const (
		nodeCount = 3
		// Before and after each kill, a part of the logouts; each part
		// puts more dispatches in flight than the back-channel slots
		// (256) and MaxAckPending (128) together.
		parts = 2 * nodeCount
		users = 1200
		// The logout deadline is longer than the wait for a recovery
		// (stuckAfter) plus a node's restart: a kill that leaves signoff
		// without progress until the killed node is back (seen in 2 of 6
		// runs under -race; README, "Scaling out") still
		// costs no RP session its token; the recovery times are logged.
		deadline   = 180 * time.Second
		stuckAfter = 60 * time.Second
	)
	nodes := startNATSCluster(t, nodeCount)
	urls := make([]string, len(nodes))
	for i, nd := range nodes {
		urls[i] = nd.clientURL
	}
	rps := []*testRP{newTestRP(t, "wiki", "ES256"), newTestRP(t, "chat", "ES256"), newTestRP(t, "payroll", "RS256")}
	for _, rp := range rps {
		rp.delay = time.Second
	}
	sid := func(rp string, i int) string { return fmt.Sprintf("sid-%s-%d", rp, i) }
	setup := newChildSetup(t, rps, childOptions{deadline: deadline, natsURL: strings.Join(urls, ","), replicas: 3})
	ch := setup.start(t)
	defer ch.stop()

	c := faultClient(t, connect(t, strings.Join(urls, ",")))
	streamInfo := func(c *client) string {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		st, err := c.js.Stream(ctx, events.StreamName)
		if err != nil {
			return err.Error()
		}
		info := st.CachedInfo()
		if info.Config.Replicas != 3 {
			t.Errorf("stream %s has %d replicas, want 3", events.StreamName, info.Config.Replicas)
		}
		if info.Cluster == nil {
			return "not clustered"
		}
		return fmt.Sprintf("%d replicas, leader %s", info.Config.Replicas, info.Cluster.Leader)
	}

	joins := make([]outMsg, 0, users*len(rps))
	for i := range users {
		for _, rp := range rps {
			joins = append(joins, joinMsg(fmt.Sprintf("s%d", i), fmt.Sprintf("u%d", i), rp.ID, sid(rp.ID, i)))
		}
	}
	if err := c.publishAll(joins, time.Minute); err != nil {
		t.Fatal(err)
	}
	c.settle(60 * time.Second)
	ids := make([]string, users)
	logouts := make([]outMsg, users)
	for i := range users {
		ids[i] = fmt.Sprintf("L%d", i)
		logouts[i] = logoutBySubjectMsg(ids[i], fmt.Sprintf("u%d", i))
	}
	part := users / parts
	start := time.Now()
	cutoffs := make([]time.Time, parts) // of the logouts of each part
	publish := func(c *client, p int) {
		t.Helper()
		if err := c.publishAll(logouts[p*part:(p+1)*part], time.Minute); err != nil {
			t.Fatal(err)
		}
		cutoffs[p] = time.Now().Add(deadline)
	}
	killed := map[*natsNode]bool{}
	stuck := false // no progress: the rest is published without more kills
	for round := range nodeCount {
		if stuck {
			publish(c, 2*round)
			publish(c, 2*round+1)
			continue
		}
		target, spread := mostSignoffClients(t, nodes, killed)
		// This round's test client is on a node that survives it.
		var rc *client
		for _, nd := range nodes {
			if nd != target && nd.cmd.ProcessState == nil {
				rc = faultClient(t, connect(t, nd.clientURL))
				break
			}
		}
		live := countCompleted(t, rc.nc)
		before := totalValid(rps)
		publish(rc, 2*round)
		if err := eventstest.Poll(45*time.Second, 20*time.Millisecond, func() error {
			if n := totalValid(rps) - before; n < part {
				return fmt.Errorf("%d tokens delivered", n)
			}
			return nil
		}); err != nil {
			t.Logf("before kill %d: no progress (%v); publishing the rest without more kills", round+1, err)
			stuck = true
			publish(c, 2*round+1)
			continue
		}
		t.Logf("kill %d: signoff connections per node: %s; stream %s; killing %s at +%v with %d of %d RP sessions signed out",
			round+1, spread, streamInfo(rc), target.name, time.Since(start).Round(time.Millisecond), totalValid(rps), users*len(rps))
		target.kill()
		killedAt := time.Now()
		killed[target] = true

		// More logouts, through a surviving node.
		publish(rc, 2*round+1)
		t.Logf("kill %d: the next %d logouts acknowledged %v after the kill", round+1, part, time.Since(killedAt).Round(time.Millisecond))
		after := map[string]bool{}
		for _, id := range ids[(2*round+1)*part : (2*round+2)*part] {
			after[id] = true
		}
		var first time.Time
		// Slow is not stuck: the kills go on unless nothing completes
		// within stuckAfter.
		err := eventstest.Poll(stuckAfter, 100*time.Millisecond, func() error {
			var ok bool
			if first, ok = live.firstAfter(killedAt, after); !ok {
				return errors.New("no logout requested after the kill has completed")
			}
			return nil
		})
		if err != nil {
			t.Logf("kill %d: recovery: %v", round+1, err)
			stuck = true
		} else {
			t.Logf("kill %d: recovery: first completion of a logout requested after the kill %v after the kill",
				round+1, first.Sub(killedAt).Round(time.Millisecond))
		}
		if round < nodeCount-1 {
			target.start(t)
			waitHealthy(t, nodes)
			t.Logf("%s restarted and current again", target.name)
		}
	}
	waitAllCompleted(t, c, ids, time.Until(cutoffs[parts-1])+30*time.Second)
	checkDelivered(t, rps, users, sid, func(i int) time.Time { return cutoffs[i/part] })
	checkCompletedOnce(t, c, ids)
}
