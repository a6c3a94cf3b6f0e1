package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/signoff/signoff/coordinator/bus/natstest"
	"github.com/signoff/signoff/events"
	"github.com/signoff/signoff/events/eventstest"
)

// clientsNamed counts the node's client connections whose name starts
// with prefix (from its /connz monitoring endpoint).
func clientsNamed(nd *natstest.Node, prefix string) (int, error) {
	resp, err := http.Get(nd.MonURL + "/connz?limit=10000")
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
func mostSignoffClients(t *testing.T, nodes []*natstest.Node, skip map[*natstest.Node]bool) (*natstest.Node, string) {
	t.Helper()
	var target *natstest.Node
	var spread []string
	best := -1
	for _, nd := range nodes {
		if !nd.Running() {
			continue
		}
		n, err := clientsNamed(nd, "signoff")
		if err != nil {
			t.Fatal(err)
		}
		spread = append(spread, fmt.Sprintf("%s: %d", nd.Name, n))
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
	nodes := natstest.StartCluster(t, nodeCount)
	urls := make([]string, len(nodes))
	for i, nd := range nodes {
		urls[i] = nd.ClientURL
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
	killed := map[*natstest.Node]bool{}
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
			if nd != target && nd.Running() {
				rc = faultClient(t, connect(t, nd.ClientURL))
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
			round+1, spread, streamInfo(rc), target.Name, time.Since(start).Round(time.Millisecond), totalValid(rps), users*len(rps))
		target.Kill()
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
			target.Start(t)
			natstest.WaitHealthy(t, nodes)
			t.Logf("%s restarted and current again", target.Name)
		}
	}
	waitAllCompleted(t, c, ids, time.Until(cutoffs[parts-1])+30*time.Second)
	checkDelivered(t, rps, users, sid, func(i int) time.Time { return cutoffs[i/part] })
	checkCompletedOnce(t, c, ids)
}
