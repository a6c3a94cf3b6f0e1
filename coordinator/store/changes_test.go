package store

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/signoff/signoff/coordinator/saga"
)

// TestChangesNotifyWaitersOfCommittedSagaChanges: a waiter subscribed to a
// logout wakes on the commit that creates its saga and on one that changes
// a participant, never on a rolled-back change or on a change of another
// logout, and the subscription is gone after stop.
func TestChangesNotifyWaitersOfCommittedSagaChanges(t *testing.T) {
	s, _ := open(t)
	ctx := context.Background()
	sg := saga.Saga{LogoutID: "L1", Status: saga.StatusRunning, Initiator: "user", Scope: "global", Subject: "alice",
		RequestedAt: t0, Deadline: t0.Add(30 * time.Second),
		Participants: []saga.Participant{{RPID: "chat", Name: "Chat", Adapter: "backchannel", State: saga.StatePending}}}
	changed, stop := s.Changes().Watch("L1")
	other, stopOther := s.Changes().Watch("L2")
	if err := s.Update(ctx, func(tx *Tx) error { return tx.SaveSaga(sg) }); err != nil {
		t.Fatal(err)
	}
	// Update returns after the commit hooks ran: the wake-up is there.
	woke := func(what string) {
		t.Helper()
		select {
		case <-changed:
		default:
			t.Fatalf("not woken by %s", what)
		}
	}
	woke("the commit that created the saga")
	noWake := func(ch <-chan struct{}, what string) {
		t.Helper()
		select {
		case <-ch:
			t.Fatalf("woken by %s", what)
		default:
		}
	}
	noWake(other, "a change of another logout")

	next := sg
	next.Participants = []saga.Participant{sg.Participants[0]}
	next.Participants[0].State = "succeeded"
	rollback := errors.New("rolled back")
	if err := s.Update(ctx, func(tx *Tx) error {
		if err := tx.SaveProgress(sg, next); err != nil {
			return err
		}
		return rollback
	}); !errors.Is(err, rollback) {
		t.Fatalf("Update = %v", err)
	}
	noWake(changed, "a rolled-back change")
	if err := s.Update(ctx, func(tx *Tx) error { return tx.SaveProgress(sg, sg) }); err != nil {
		t.Fatal(err)
	}
	noWake(changed, "a SaveProgress that changed nothing")
	if err := s.Update(ctx, func(tx *Tx) error { return tx.SaveProgress(sg, next) }); err != nil {
		t.Fatal(err)
	}
	woke("the commit that changed a participant")
	stop()
	stopOther()
	if n := s.Changes().Len(); n != 0 {
		t.Fatalf("%d subscriptions left after stop", n)
	}
}
