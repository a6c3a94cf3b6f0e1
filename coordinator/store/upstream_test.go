package store

import (
	"context"
	"strings"
	"testing"

	"github.com/signoff/signoff/events"
)

// TestUpstreamJoinKeptAndIndexed: a later join of the same RP session
// without upstream keeps the recorded upstream session, a join with another
// one replaces it, and the lookup by upstream sid uses the index
// sessions_upstream.
func TestUpstreamJoinKeptAndIndexed(t *testing.T) {
	s, _ := open(t)
	ctx := context.Background()
	j := joined("s1", "wiki", "alice", "w1")
	j.Upstream = &events.Upstream{ID: "corp", SID: "A"}
	again := joined("s1", "wiki", "alice", "w2")
	lookup := func(sid string) int {
		var n int
		err := s.Update(ctx, func(tx *Tx) error {
			ss, err := tx.UpstreamSessions("corp", sid, "")
			n = len(ss)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if err := s.Update(ctx, func(tx *Tx) error {
		if err := tx.JoinSession(j); err != nil {
			return err
		}
		return tx.JoinSession(again)
	}); err != nil {
		t.Fatal(err)
	}
	if n := lookup("A"); n != 1 {
		t.Errorf("after a join without upstream: %d sessions on corp/A, want 1", n)
	}
	moved := joined("s1", "wiki", "alice", "w3")
	moved.Upstream = &events.Upstream{ID: "corp", SID: "B"}
	if err := s.Update(ctx, func(tx *Tx) error { return tx.JoinSession(moved) }); err != nil {
		t.Fatal(err)
	}
	if a, b := lookup("A"), lookup("B"); a != 0 || b != 1 {
		t.Errorf("after a join with corp/B: %d on A, %d on B", a, b)
	}
	plan := queryPlan(t, s, sessionsByUpstreamSIDQuery, "corp", "A")
	if !strings.Contains(plan, "sessions_upstream") {
		t.Errorf("the upstream lookup does not use its index:\n%s", plan)
	}
}
