package coordinator

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/signoff/signoff/events"
)

// recorder is an Observer that writes down what it is told.
type recorder struct {
	mu  sync.Mutex
	got []string
}

func (r *recorder) add(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, fmt.Sprintf(format, args...))
}

func (r *recorder) LogoutCompleted(outcome events.Status, took time.Duration, parts []events.ParticipantOutcome) {
	var ps []string
	for _, p := range parts {
		ps = append(ps, p.RPID+"="+string(p.Outcome))
	}
	r.add("completed %s %v %v", outcome, took, ps)
}

func (r *recorder) ParticipantResult(adapter events.Adapter, rpID string, outcome events.Outcome, took time.Duration) {
	r.add("result %s %s %s %v", adapter, rpID, outcome, took)
}
func (r *recorder) LateResult(adapter events.Adapter, rpID string) {
	r.add("late %s %s", adapter, rpID)
}
func (r *recorder) Poisoned(subject string) { r.add("poisoned %s", subject) }

// TestObserver: the observer hears, on the coordinator's clock, a result
// 2 s after the start, the deadline ending the logout partial at 30 s,
// and a result after that as late; a repeated result tells nothing.
func TestObserver(t *testing.T) {
	c, _, clk := setup(t)
	rec := &recorder{}
	c.cfg.Observer = rec
	ctx := context.Background()
	if err := c.Start(ctx, events.LogoutRequested{LogoutID: "L1", SessionID: "s1", Initiator: events.InitiatorUser, Scope: events.ScopeGlobal}); err != nil {
		t.Fatal(err)
	}
	clk.Advance(2 * time.Second)
	wiki := events.Result{LogoutID: "L1", RPID: "wiki", Adapter: events.AdapterBackchannel, Outcome: events.OutcomeSucceeded, Attempts: 1, FinishedAt: clk.Now()}
	for range 2 { // the second is a redelivery
		if err := c.Record(ctx, wiki); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(28 * time.Second)
	if n, err := c.Sweep(ctx, 10); err != nil || n != 1 {
		t.Fatalf("sweep: %d %v", n, err)
	}
	if err := c.Record(ctx, events.Result{LogoutID: "L1", RPID: "chat", Adapter: events.AdapterBackchannel, Outcome: events.OutcomeSucceeded, FinishedAt: clk.Now()}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"result backchannel wiki succeeded 2s",
		"completed partial 30s [chat=timed_out wiki=succeeded]",
		"late backchannel chat",
	}
	if !slices.Equal(rec.got, want) {
		t.Errorf("observed\n%q\nwant\n%q", rec.got, want)
	}
}
