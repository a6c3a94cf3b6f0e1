package store

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signoff/signoff/coordinator/saga"
	"github.com/signoff/signoff/events"
)

func TestClaimStep(t *testing.T) {
	s, path := open(t)
	ctx := context.Background()
	sg := saga.Saga{LogoutID: "L1", Status: saga.StatusRunning, Initiator: "user", Scope: "global", Subject: "alice",
		RequestedAt: t0, Deadline: t0.Add(30 * time.Second),
		Participants: []saga.Participant{
			{RPID: "signoff", Name: "this sign-in service", Adapter: "cookie", State: saga.StatePending},
			{RPID: "payroll", Name: "Payroll", Adapter: "saml", State: saga.StatePending},
			{RPID: "chat", Name: "Chat", Adapter: "backchannel", State: events.OutcomeFailed, FinishedAt: t0},
		}}
	if err := s.Update(ctx, func(tx *Tx) error { return tx.SaveSaga(sg) }); err != nil {
		t.Fatal(err)
	}
	claim := func(id, rp string, at time.Time, again time.Duration) bool {
		t.Helper()
		ok, err := s.ClaimStep(ctx, id, rp, at, again)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}

	// Once ever (the local cookie confirmation): concurrent claims, one winner.
	var wins atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if claim("L1", "signoff", t0, 0) {
				wins.Add(1)
			}
		})
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Errorf("%d concurrent claims won, want 1", wins.Load())
	}
	if claim("L1", "signoff", t0.Add(time.Hour), 0) {
		t.Error("a once-ever step claimed twice")
	}
	if err := s.ReleaseStep(ctx, "L1", "signoff"); err != nil {
		t.Fatal(err)
	}
	if !claim("L1", "signoff", t0, 0) {
		t.Error("a released step could not be claimed again")
	}

	// Again after a while (a redirect-chain hop).
	if !claim("L1", "payroll", t0, 20*time.Second) || claim("L1", "payroll", t0.Add(19*time.Second), 20*time.Second) {
		t.Error("hop: first claim must win, a second within 20s must not")
	}
	if !claim("L1", "payroll", t0.Add(20*time.Second), 20*time.Second) {
		t.Error("hop: a claim 20s later must win")
	}

	// Not pending, unknown participant, unknown saga.
	if claim("L1", "chat", t0, 0) || claim("L1", "nope", t0, 0) || claim("L2", "signoff", t0, 0) {
		t.Error("claimed a step of a finished or unknown participant")
	}
	// The step survives the coordinator's updates of the participant's
	// outcome only while pending; once finished, no step is claimed.
	next := sg
	next.Participants = append([]saga.Participant(nil), sg.Participants...)
	next.Participants[1].State = events.OutcomeSucceeded
	if err := s.Update(ctx, func(tx *Tx) error { return tx.SaveProgress(sg, next) }); err != nil {
		t.Fatal(err)
	}
	if claim("L1", "payroll", t0.Add(time.Hour), 20*time.Second) {
		t.Error("claimed a step of a participant that finished")
	}

	// The steps persist across a reopen (migrate adds the column once).
	s.Close()
	s2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if ok, err := s2.ClaimStep(ctx, "L1", "signoff", t0, 0); err != nil || ok {
		t.Errorf("after reopen: claim %v %v, want false (already claimed)", ok, err)
	}
}
