package cluster

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signoff/signoff/coordinator/bus/natstest"
	"github.com/signoff/signoff/events/eventstest"
)

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
	nodes := natstest.StartCluster(t, 3)
	const P = 12
	rec := newRecorder(t)
	members := make([]*Member, 3)
	for i := range members {
		// Member i prefers node i and fails over to the others in order.
		var urls []string
		for j := range nodes {
			urls = append(urls, nodes[(i+j)%len(nodes)].ClientURL)
		}
		_, js := connect(t, strings.Join(urls, ","))
		id := fmt.Sprintf("m%d", i+1)
		members[i] = startConfig(t, rec, Config{JS: js, Instance: id, Partitions: P, Replicas: 3, TTL: nodeKillTTL})
	}
	want := map[*Member]int{members[0]: 4, members[1]: 4, members[2]: 4}
	owners(t, rec, want)

	_, js := connect(t, nodes[0].ClientURL+","+nodes[1].ClientURL+","+nodes[2].ClientURL)
	info, err := streamInfo(js)
	if err != nil {
		t.Fatal(err)
	}
	if info.Config.Replicas != 3 || info.Cluster == nil {
		t.Fatalf("bucket stream: %d replicas, cluster %+v", info.Config.Replicas, info.Cluster)
	}
	var victim *natstest.Node
	for _, nd := range nodes {
		if nd.Name == info.Cluster.Leader {
			victim = nd
		}
	}
	if victim == nil {
		t.Fatalf("no node leads %s (leader %q)", streamName, info.Cluster.Leader)
	}
	victim.Kill()
	killed := time.Now()
	t.Logf("killed %s, the leader of %s", victim.Name, streamName)

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
	if slices.Contains([]string{"", victim.Name}, info.Cluster.Leader) {
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
