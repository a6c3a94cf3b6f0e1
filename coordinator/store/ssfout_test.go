package store

import (
	"context"
	"testing"
	"time"
)

// TestSSFOutQueue: one SET per participant (a second enqueue is ignored),
// oldest first with moreAvailable, scoped by rp_id, gone once removed or
// expired; the removal returns what it removed, once.
func TestSSFOutQueue(t *testing.T) {
	s, _ := open(t)
	ctx := context.Background()
	exp := t0.Add(time.Minute)
	for i, q := range []SSFQueuedSET{
		{JTI: "j1", RPID: "crm", LogoutID: "L1", SET: "set1", ExpiresAt: exp},
		{JTI: "j1b", RPID: "crm", LogoutID: "L1", SET: "set1b", ExpiresAt: exp}, // same participant: ignored
		{JTI: "j2", RPID: "crm", LogoutID: "L2", SET: "set2", ExpiresAt: exp},
		{JTI: "v1", RPID: "crm", SET: "verify", ExpiresAt: exp},
		{JTI: "k1", RPID: "vpn", LogoutID: "L1", SET: "other", ExpiresAt: exp},
		{JTI: "old", RPID: "crm", LogoutID: "L0", SET: "old", ExpiresAt: t0.Add(time.Second)},
	} {
		if err := s.SSFEnqueue(ctx, q, t0.Add(time.Duration(i)*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
	}
	now := t0.Add(2 * time.Second) // "old" has expired
	got, more, err := s.SSFPending(ctx, "crm", now, 2)
	if err != nil || len(got) != 2 || !more || got[0].JTI != "j1" || got[1].JTI != "j2" || got[0].SET != "set1" {
		t.Fatalf("pending(2) = %+v, more %v, %v", got, more, err)
	}
	got, more, _ = s.SSFPending(ctx, "crm", now, 10)
	if len(got) != 3 || more {
		t.Fatalf("pending(10) = %+v, more %v; want j1 j2 v1", got, more)
	}
	// vpn's jti is not crm's to remove.
	gone, err := s.SSFRemove(ctx, "crm", []string{"j1", "k1", "nope"})
	if err != nil || len(gone) != 1 || gone[0].JTI != "j1" || gone[0].LogoutID != "L1" {
		t.Fatalf("remove = %+v, %v", gone, err)
	}
	if gone, _ := s.SSFRemove(ctx, "crm", []string{"j1"}); len(gone) != 0 {
		t.Errorf("removed twice: %+v", gone)
	}
	if got, _, _ := s.SSFPending(ctx, "vpn", now, 10); len(got) != 1 || got[0].JTI != "k1" {
		t.Errorf("vpn pending = %+v", got)
	}
	if got, _, _ := s.SSFPending(ctx, "crm", exp, 10); len(got) != 0 {
		t.Errorf("expired SETs still pending: %+v", got)
	}
}

// TestSSFOutStream: a stream is created once; its status is kept.
func TestSSFOutStream(t *testing.T) {
	s, _ := open(t)
	ctx := context.Background()
	if _, ok, err := s.SSFStream(ctx, "crm"); ok || err != nil {
		t.Fatalf("stream before anything: %v %v", ok, err)
	}
	if err := s.SSFSetStatus(ctx, "crm", "paused", "maintenance"); err != nil {
		t.Fatal(err)
	}
	ok, err := s.SSFCreateStream(ctx, "crm", SSFStreamState{Created: t0, Status: "enabled", Description: "d", EventsRequested: []string{"e1"}})
	if err != nil || !ok {
		t.Fatalf("create = %v %v", ok, err)
	}
	if ok, _ := s.SSFCreateStream(ctx, "crm", SSFStreamState{Created: t0, Status: "enabled", Description: "again"}); ok {
		t.Error("created twice")
	}
	st, ok, err := s.SSFStream(ctx, "crm")
	if err != nil || !ok || st.Status != "paused" || st.Reason != "maintenance" || st.Description != "d" || len(st.EventsRequested) != 1 || !st.Created.Equal(t0) {
		t.Errorf("stream = %+v %v %v", st, ok, err)
	}
}
