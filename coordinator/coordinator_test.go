package coordinator

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/signoff/signoff/coordinator/bus"
	"github.com/signoff/signoff/coordinator/saga"
	"github.com/signoff/signoff/coordinator/store"
	"github.com/signoff/signoff/events"
)

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time          { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

type dir struct{}

func (dir) RP(id string) (saga.RP, bool) {
	return saga.RP{ID: id, Name: "RP " + id, Adapter: events.AdapterBackchannel}, id != "gone"
}
func (dir) AdapterEnabled(a events.Adapter) bool { return a == events.AdapterBackchannel }

func setup(t *testing.T) (*Coordinator, *store.Store, *clock) {
	st, err := store.Open(filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := &clock{t: time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)}
	c := New(Config{Store: st, Directory: dir{}, Deadline: 30 * time.Second, Now: clk.Now})
	ctx := context.Background()
	err = st.Update(ctx, func(tx *store.Tx) error {
		for _, rp := range []string{"wiki", "chat"} {
			if err := tx.JoinSession(events.SessionJoined{SessionID: "s1", Subject: "alice", RPID: rp, OccurredAt: clk.Now(), OIDC: &events.OIDCSession{SID: rp + "-sid"}}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return c, st, clk
}

func outbox(t *testing.T, st *store.Store) map[string]int {
	rows, err := st.PendingOutbox(context.Background(), 100)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, r := range rows {
		out[r.Subject]++
	}
	return out
}

func TestStartRecordAndDeadline(t *testing.T) {
	c, st, clk := setup(t)
	ctx := context.Background()
	req := events.LogoutRequested{LogoutID: "L1", SessionID: "s1", Initiator: events.InitiatorUser, Scope: events.ScopeGlobal}
	if err := c.Start(ctx, req); err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx, req); err != nil { // idempotent
		t.Fatal(err)
	}
	if got := outbox(t, st); got[events.DispatchSubject(events.AdapterBackchannel)] != 2 || len(got) != 1 {
		t.Fatalf("outbox after start: %v, want 2 dispatches only", got)
	}
	if err := c.Record(ctx, events.Result{LogoutID: "L1", RPID: "wiki", Outcome: events.OutcomeSucceeded, Attempts: 1, FinishedAt: clk.Now()}); err != nil {
		t.Fatal(err)
	}
	// Unknown participant and unknown logout are permanent (poison), not retried.
	if err := c.Record(ctx, events.Result{LogoutID: "L1", RPID: "ghost", Outcome: events.OutcomeSucceeded}); !errors.Is(err, bus.ErrPermanent) {
		t.Errorf("unknown participant: %v", err)
	}
	if err := c.Record(ctx, events.Result{LogoutID: "nope", RPID: "wiki", Outcome: events.OutcomeSucceeded}); !errors.Is(err, bus.ErrPermanent) {
		t.Errorf("unknown logout: %v", err)
	}
	clk.Advance(29 * time.Second)
	if n, _ := c.Sweep(ctx, 10); n != 0 {
		t.Errorf("swept %d sagas before the deadline", n)
	}
	clk.Advance(time.Second)
	if n, err := c.Sweep(ctx, 10); n != 1 || err != nil {
		t.Fatalf("swept %d at the deadline (%v)", n, err)
	}
	s, _, _ := st.Saga(ctx, "L1")
	if s.Status != saga.StatusPartial || state(s, "wiki") != events.OutcomeSucceeded || state(s, "chat") != events.OutcomeTimedOut {
		t.Errorf("after deadline: %+v", s)
	}
	rows, _ := st.PendingOutbox(ctx, 100)
	var completed events.Completed
	for _, r := range rows {
		if r.Subject == events.SubjectLogoutCompleted {
			if err := json.Unmarshal(r.Payload, &completed); err != nil {
				t.Fatal(err)
			}
			if _, err := events.Decode[events.Completed](r.Payload); err != nil {
				t.Errorf("completed event does not validate: %v", err)
			}
		}
	}
	if completed.Outcome != events.StatusPartial || len(completed.Participants) != 2 {
		t.Errorf("completed %+v", completed)
	}
	// A late result after the deadline changes nothing.
	if err := c.Record(ctx, events.Result{LogoutID: "L1", RPID: "chat", Outcome: events.OutcomeSucceeded}); err != nil {
		t.Fatal(err)
	}
	if s2, _, _ := st.Saga(ctx, "L1"); state(s2, "chat") != events.OutcomeTimedOut {
		t.Error("late result changed an ended saga")
	}
}

func TestResumeRedispatchesPending(t *testing.T) {
	c, st, clk := setup(t)
	ctx := context.Background()
	if err := c.Start(ctx, events.LogoutRequested{LogoutID: "L1", Subject: "alice", Initiator: events.InitiatorAdmin, Scope: events.ScopeGlobal}); err != nil {
		t.Fatal(err)
	}
	if err := c.Record(ctx, events.Result{LogoutID: "L1", RPID: "chat", Outcome: events.OutcomeFailed, Detail: "HTTP 400", FinishedAt: clk.Now()}); err != nil {
		t.Fatal(err)
	}
	rows, _ := st.PendingOutbox(ctx, 100)
	var seqs []int64
	for _, r := range rows {
		seqs = append(seqs, r.Seq)
	}
	st.DeleteOutbox(ctx, seqs) // as if the relay had published them
	n, err := c.Resume(ctx)
	if err != nil || n != 1 {
		t.Fatalf("resumed %d (%v)", n, err)
	}
	rows, _ = st.PendingOutbox(ctx, 100)
	if len(rows) != 1 {
		t.Fatalf("%d outbox rows after resume, want 1 dispatch", len(rows))
	}
	d, err := events.Decode[events.Dispatch](rows[0].Payload)
	if err != nil || d.RPID != "wiki" || len(d.Sessions) != 1 || d.Sessions[0].OIDC.SID != "wiki-sid" {
		t.Errorf("resumed dispatch %+v (%v)", d, err)
	}
}

func state(s saga.Saga, rp string) events.Outcome {
	for _, p := range s.Participants {
		if p.RPID == rp {
			return p.State
		}
	}
	return ""
}

// TestUnknownRPJoinAndEmptyLogout: a session.joined for an rp_id that is
// not configured is refused (poison) with an error naming it; a logout that
// finds no relying party session completes with a detail that says so.
func TestUnknownRPJoinAndEmptyLogout(t *testing.T) {
	c, st, clk := setup(t)
	ctx := context.Background()
	b, _ := events.Encode(events.SessionJoined{EventID: "0b6f2b8e-5d7a-4a39-9d2e-3c1f4f3f8a11", SessionID: "s9", Subject: "zed", RPID: "gone", OccurredAt: clk.Now()})
	_, err := c.Prepare(events.SubjectSessionJoined, "", b)
	var u *UnknownRPError
	if !errors.Is(err, bus.ErrPermanent) || !errors.As(err, &u) || u.RPID != "gone" || u.SessionID != "s9" {
		t.Fatalf("join for an unknown rp_id: %v", err)
	}
	if err := c.Start(ctx, events.LogoutRequested{LogoutID: "L9", SessionID: "s9", Initiator: events.InitiatorUser, Scope: events.ScopeGlobal}); err != nil {
		t.Fatal(err)
	}
	rows, _ := st.PendingOutbox(ctx, 100)
	var found bool
	for _, r := range rows {
		if r.Subject != events.SubjectLogoutCompleted {
			continue
		}
		ev, err := events.Decode[events.Completed](r.Payload)
		if err != nil {
			t.Fatal(err)
		}
		found = ev.LogoutID == "L9"
		if ev.Outcome != events.StatusComplete || len(ev.Participants) != 0 || ev.Detail != events.CompletedNoSessions {
			t.Errorf("completed %+v", ev)
		}
	}
	if !found {
		t.Fatal("no logout.completed for L9")
	}
	// A logout with relying parties carries no detail.
	if err := c.Start(ctx, events.LogoutRequested{LogoutID: "L1", SessionID: "s1", Initiator: events.InitiatorUser, Scope: events.ScopeGlobal}); err != nil {
		t.Fatal(err)
	}
	for _, rp := range []string{"wiki", "chat"} {
		if err := c.Record(ctx, events.Result{LogoutID: "L1", RPID: rp, Outcome: events.OutcomeSucceeded, FinishedAt: clk.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	rows, _ = st.PendingOutbox(ctx, 100)
	for _, r := range rows {
		if ev, err := events.Decode[events.Completed](r.Payload); err == nil && ev.LogoutID == "L1" && ev.Detail != "" {
			t.Errorf("L1 completed with detail %q", ev.Detail)
		}
	}
}
