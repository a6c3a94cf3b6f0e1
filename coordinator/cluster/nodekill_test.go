package cluster

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signoff/signoff/events/eventstest"
)

// The 3-node cluster helpers follow cmd/signoff/internal/app's
// cluster_test.go: real nats-server processes built from the module in
// go.mod, killed with SIGKILL.

// natsNode is one nats-server process of a test cluster.
type natsNode struct {
	name, clientURL, monURL, bin, confPath string
	cmd                                    *exec.Cmd
	logs                                   *logBuffer
}

type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

var natsServerBin struct {
	once sync.Once
	path string
	err  error
}

// buildNATSServer builds nats-server from the module version in go.mod,
// once per test binary.
func buildNATSServer(t *testing.T) string {
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

// startNATSCluster runs n nats-server processes with JetStream in one
// cluster on loopback and waits until every node is healthy.
func startNATSCluster(t *testing.T, n int) []*natsNode {
	t.Helper()
	bin := buildNATSServer(t)
	routes := make([]string, n)
	for i := range n {
		routes[i] = freePort(t)
	}
	nodes := make([]*natsNode, n)
	for i := range n {
		dir := t.TempDir()
		client, mon := freePort(t), freePort(t)
		var others []string
		for j, r := range routes {
			if j != i {
				others = append(others, "nats://"+r)
			}
		}
		conf := fmt.Sprintf("server_name: n%d\nlisten: %s\nhttp: %s\njetstream { store_dir: %q }\ncluster {\n  name: signoff-lease-test\n  listen: %s\n  routes: [%s]\n}\n",
			i+1, client, mon, filepath.Join(dir, "js"), routes[i], strings.Join(others, ", "))
		confPath := filepath.Join(dir, "nats.conf")
		if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		nd := &natsNode{name: fmt.Sprintf("n%d", i+1), clientURL: "nats://" + client, monURL: "http://" + mon,
			bin: bin, confPath: confPath, logs: &logBuffer{}}
		nd.cmd = exec.Command(nd.bin, "-c", nd.confPath)
		nd.cmd.Stdout, nd.cmd.Stderr = nd.logs, nd.logs
		if err := nd.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nd.kill)
		nodes[i] = nd
	}
	eventstest.EventuallyErr(t, wait, func() error {
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
	return nodes
}

// kill ends the node with SIGKILL, if it still runs.
func (nd *natsNode) kill() {
	if nd.cmd.ProcessState == nil {
		nd.cmd.Process.Kill()
		nd.cmd.Wait()
	}
}

// nodeKillTTL is the lease TTL of the node-kill test.
const nodeKillTTL = 2 * time.Second

// TestNodeKill: three members on a real 3-node JetStream cluster with an
// R3 bucket; the node that leads the bucket's stream is killed with
// SIGKILL. The members reconnect to the other nodes, every partition is
// owned again by its desired member, and no partition is ever applied by
// two members at once (the recorder fails the test on a double Acquire).
func TestNodeKill(t *testing.T) {
	if testing.Short() {
		t.Skip("builds nats-server and runs a 3-node cluster")
	}
	nodes := startNATSCluster(t, 3)
	const P = 12
	rec := newRecorder(t)
	members := make([]*Member, 3)
	for i := range members {
		// Member i prefers node i and fails over to the others in order.
		var urls []string
		for j := range nodes {
			urls = append(urls, nodes[(i+j)%len(nodes)].clientURL)
		}
		_, js := connect(t, strings.Join(urls, ","))
		id := fmt.Sprintf("m%d", i+1)
		m, err := Start(context.Background(), Config{JS: js, Instance: id, Partitions: P, Replicas: 3, TTL: nodeKillTTL,
			Handoff: rec.member(id)})
		if err != nil {
			t.Fatal(err)
		}
		if rec.kv == nil {
			kv, err := js.KeyValue(context.Background(), Bucket)
			if err != nil {
				t.Fatal(err)
			}
			rec.mu.Lock()
			rec.kv = kv
			rec.mu.Unlock()
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			m.Stop(ctx)
		})
		members[i] = m
	}
	want := map[*Member]int{members[0]: 4, members[1]: 4, members[2]: 4}
	owners(t, rec, want)

	_, js := connect(t, nodes[0].clientURL+","+nodes[1].clientURL+","+nodes[2].clientURL)
	info, err := streamInfo(js)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.Replicas != 3 || info.Cluster == nil {
		t.Fatalf("bucket stream: %d replicas, cluster %+v", info.Config.Replicas, info.Cluster)
	}
	var victim *natsNode
	for _, nd := range nodes {
		if nd.name == info.Cluster.Leader {
			victim = nd
		}
	}
	if victim == nil {
		t.Fatalf("no node leads %s (leader %q)", streamName, info.Cluster.Leader)
	}
	victim.kill()
	killed := time.Now()
	t.Logf("killed %s, the leader of %s", victim.name, streamName)

	// Every member heartbeats again after the kill (it reconnected) and
	// every partition is owned by its desired member.
	eventstest.EventuallyErr(t, wait, func() error {
		st, err := members[0].Status(context.Background())
		if err != nil {
			return err
		}
		if len(st.Members) != 3 {
			return fmt.Errorf("members %+v", st.Members)
		}
		for _, ms := range st.Members {
			if !ms.Seen.After(killed) {
				return fmt.Errorf("%s last seen %v, before the kill", ms.ID, ms.Seen)
			}
		}
		return nil
	})
	owners(t, rec, want)
	took := time.Since(killed)
	info, err = streamInfo(js)
	if err != nil {
		t.Fatal(err)
	}
	var lost []string
	for _, m := range members {
		if l := rec.lostBy(m.cfg.Instance); len(l) > 0 {
			lost = append(lost, fmt.Sprintf("%s lost %v", m.cfg.Instance, l))
		}
	}
	t.Logf("ownership settled %v after the kill; new leader %s; %s", took, info.Cluster.Leader,
		strings.Join(append(lost, fmt.Sprintf("%d members lost partitions", len(lost))), "; "))
	if slices.Contains([]string{"", victim.name}, info.Cluster.Leader) {
		t.Errorf("stream leader after the kill: %q", info.Cluster.Leader)
	}
}

func streamInfo(js jetstream.JetStream) (*jetstream.StreamInfo, error) {
	var info *jetstream.StreamInfo
	err := eventstest.Poll(wait, 100*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		s, err := js.Stream(ctx, streamName)
		if err != nil {
			return err
		}
		info, err = s.Info(ctx)
		if err == nil && (info.Cluster == nil || info.Cluster.Leader == "") {
			err = fmt.Errorf("stream %s has no leader", streamName)
		}
		return err
	})
	return info, err
}
