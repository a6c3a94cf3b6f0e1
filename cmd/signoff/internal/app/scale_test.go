package app

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/signoff/signoff/cmd/signoff/internal/config"
	"github.com/signoff/signoff/coordinator/bus"
	"github.com/signoff/signoff/events"
	"github.com/signoff/signoff/events/eventstest"
)

// clusterConfig is testConfig with cluster.enabled and P partitions on an
// embedded NATS that listens (a cluster needs a NATS others can reach).
func clusterConfig(t testing.TB, partitions int, rps ...*testRP) *config.Config {
	t.Helper()
	cfg := testConfig(t, 20*time.Second, rps...)
	cfg.NATS.Listen = "127.0.0.1:0"
	cfg.NATS.AllowAnonymous = true
	cfg.Cluster = config.Cluster{Enabled: true, Partitions: partitions, Instance: "solo",
		LeaseTTL: config.Duration(2 * time.Second), SnapshotInterval: config.Duration(time.Second)}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("cluster config: %v", err)
	}
	return cfg
}

// TestClusterModeOneInstance: with cluster.enabled and 8 partitions, one
// instance owns them all; logouts that name only a session reach the
// partition of its user through the route index, and every result the
// partition of its logout: 300 users × 2 RPs all signed out, each token
// verified by go-oidc, nothing poisoned. After a restart on the same
// data_dir a logout still finds its sessions.
func TestClusterModeOneInstance(t *testing.T) {
	rps := []*testRP{newTestRP(t, "wiki", "ES256"), newTestRP(t, "chat", "ES256")}
	cfg := clusterConfig(t, 8, rps...)
	a := startApp(t, cfg, rps...)
	c := appClient(t, a)
	const users = 300
	for u := range users {
		for _, rp := range rps {
			c.join(fmt.Sprintf("s-%d", u), fmt.Sprintf("user-%d", u), rp.ID, fmt.Sprintf("sid-%d-%s", u, rp.ID))
		}
	}
	for u := range users - 1 {
		c.logout(fmt.Sprintf("l-%d", u), fmt.Sprintf("s-%d", u))
	}
	eventstest.EventuallyErr(t, 60*time.Second, func() error {
		byID, _ := c.completed()
		if len(byID) < users-1 {
			return fmt.Errorf("%d of %d logouts completed", len(byID), users-1)
		}
		return nil
	})
	byID, count := c.completed()
	for id, ev := range byID {
		if count[id] != 1 || ev.Outcome != events.StatusComplete || len(ev.Participants) != 2 {
			t.Fatalf("%s: %d completions, %+v", id, count[id], ev)
		}
	}
	for _, rp := range rps {
		n, toks := rp.snapshot()
		if n != users-1 {
			t.Fatalf("%s received %d tokens, want %d", rp.ID, n, users-1)
		}
		for _, tok := range toks {
			if !tok.Valid {
				t.Fatalf("%s: token rejected: %s", rp.ID, tok.Err)
			}
		}
	}
	if poisoned := c.received(events.SubjectPoison); len(poisoned) != 0 {
		t.Fatalf("%d events poisoned, e.g. %s", len(poisoned), poisoned[0].Headers().Get(events.HeaderPoisonReason))
	}
	st, ok, err := a.Cluster(context.Background())
	if err != nil || !ok || len(st.Instances) != 1 || len(st.Instances[0].Owned) != 8 {
		t.Fatalf("cluster status: %+v ok=%t err=%v", st, ok, err)
	}

	// Restart with the partitions and the route index deleted (the
	// embedded NATS, with the snapshots, is kept): the last user's session
	// is still known.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := a.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	for _, f := range []string{"partitions", "routes.db", "routes.db-wal", "routes.db-shm"} {
		if err := os.RemoveAll(filepath.Join(cfg.DataDir, f)); err != nil {
			t.Fatal(err)
		}
	}
	a2 := startApp(t, cfg, rps...)
	c2 := appClient(t, a2)
	last := fmt.Sprintf("l-%d", users-1)
	c2.logout(last, fmt.Sprintf("s-%d", users-1))
	done := c2.waitCompleted(last, 30*time.Second)
	if done.Outcome != events.StatusComplete || len(done.Participants) != 2 {
		t.Fatalf("after restart: %+v", done)
	}
}

// sharedNATS starts a NATS with JetStream that outlives the instances of a
// test (an embedded server of its own, listening on loopback).
func sharedNATS(t testing.TB) string {
	t.Helper()
	b, err := bus.Start(context.Background(), bus.Config{StoreDir: filepath.Join(t.TempDir(), "nats"), Listen: "127.0.0.1:0", AllowAnonymous: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b.ClientURL()
}

// instanceConfig is the config of cluster instance id on the NATS at url;
// first, when set, is an instance whose keys and secret it shares.
func instanceConfig(t testing.TB, url, id string, first *config.Config, rps ...*testRP) *config.Config {
	t.Helper()
	cfg := testConfig(t, 20*time.Second, rps...)
	cfg.NATS.URL = url
	cfg.Cluster = config.Cluster{Enabled: true, Partitions: 8, Instance: id,
		LeaseTTL: config.Duration(2 * time.Second), SnapshotInterval: config.Duration(time.Second)}
	if first != nil {
		cfg.Keys.Dir = first.KeyDir()
		cfg.SecretFile = first.SecretPath()
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("instance config: %v", err)
	}
	return cfg
}

// waitOwners waits until the cluster lists want instances and every
// partition is owned.
func waitOwners(t testing.TB, a *App, want int) ClusterStatus {
	t.Helper()
	var st ClusterStatus
	eventstest.EventuallyErr(t, 30*time.Second, func() error {
		var err error
		st, _, err = a.Cluster(context.Background())
		if err != nil {
			return err
		}
		owners := map[string]int{}
		for _, o := range st.Owners {
			if o == "" {
				return fmt.Errorf("partitions without owner: %v", st.Unowned)
			}
			owners[o]++
		}
		if len(st.Instances) != want || len(owners) != want {
			return fmt.Errorf("%d instances, %d owners, want %d: %v", len(st.Instances), len(owners), want, st.Owners)
		}
		return nil
	})
	return st
}

// TestScaleOutTwoInstances: two instances in one process on one NATS
// share 8 partitions; 400 users × 2 RPs join and are signed out by
// session (the logout reaches the partition of the user through the
// route index, whichever instance owns it): every logout completes once,
// every token verifies, nothing is poisoned. Then one instance stops
// gracefully (last snapshots, leases released): the other owns every
// partition and signs out the users of the moved partitions.
func TestScaleOutTwoInstances(t *testing.T) {
	rps := []*testRP{newTestRP(t, "wiki", "ES256"), newTestRP(t, "chat", "ES256")}
	url := sharedNATS(t)
	cfgA := instanceConfig(t, url, "a", nil, rps...)
	a := startApp(t, cfgA, rps...)
	b := startApp(t, instanceConfig(t, url, "b", cfgA, rps...))
	waitOwners(t, a, 2)
	c := appClient(t, a)
	const users = 400
	for u := range users {
		for _, rp := range rps {
			c.join(fmt.Sprintf("s-%d", u), fmt.Sprintf("user-%d", u), rp.ID, fmt.Sprintf("sid-%d-%s", u, rp.ID))
		}
	}
	var ids []string
	for u := range users / 2 {
		ids = append(ids, fmt.Sprintf("l-%d", u))
		c.logout(ids[u], fmt.Sprintf("s-%d", u))
	}
	waitAllCompleted(t, c, ids, 60*time.Second)
	checkCompletedOnce(t, c, ids)

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := b.Close(ctx); err != nil {
		t.Fatalf("stop b: %v", err)
	}
	st := waitOwners(t, a, 1)
	if len(st.Instances[0].Owned) != 8 {
		t.Fatalf("after b stopped: %+v", st)
	}
	for u := users / 2; u < users; u++ {
		ids = append(ids, fmt.Sprintf("l-%d", u))
		c.logout(ids[u], fmt.Sprintf("s-%d", u))
	}
	waitAllCompleted(t, c, ids, 60*time.Second)
	for id, ev := range checkCompletedOnce(t, c, ids) {
		if ev.Outcome != events.StatusComplete || len(ev.Participants) != 2 {
			t.Fatalf("%s: %+v", id, ev)
		}
	}
	for _, rp := range rps {
		n, toks := rp.snapshot()
		valid := 0
		for _, tok := range toks {
			if tok.Valid {
				valid++
			}
		}
		seen := map[string]int{}
		for _, tok := range toks {
			seen[tok.Sub]++
		}
		for sub, k := range seen {
			if k > 1 {
				t.Logf("%s: %s got %d tokens", rp.ID, sub, k)
			}
		}
		// A moved running saga may send a token again; none was running.
		if n != users || valid != users {
			t.Fatalf("%s: %d requests, %d valid tokens, want %d", rp.ID, n, valid, users)
		}
	}
	if poisoned := c.received(events.SubjectPoison); len(poisoned) != 0 {
		t.Fatalf("%d events poisoned, e.g. %s", len(poisoned), poisoned[0].Headers().Get(events.HeaderPoisonReason))
	}
}
