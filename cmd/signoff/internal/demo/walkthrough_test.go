package demo

import (
	"context"
	"io"
	"log/slog"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/signoff/signoff/events"
)

// TestREADMEWalkthrough publishes the README's two `nats pub` payloads,
// byte for byte, to `signoff demo --nats-listen` and expects a real
// sign-out: logout.completed complete, with Notes succeeded.
func TestREADMEWalkthrough(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, io.Discard, Options{NATSListen: addr, DataDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler),
			Ready: func(URLs) { close(ready) }})
	}()
	defer func() { cancel(); <-done }()
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("demo: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("demo not ready")
	}
	nc, err := nats.Connect("nats://" + addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	completed := make(chan *nats.Msg, 1)
	if _, err := nc.ChanSubscribe(events.SubjectLogoutCompleted, completed); err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	for _, m := range []struct{ subject, data string }{
		{events.SubjectSessionJoined, `{"event_id":"0190f1d2-8a3b-7c4d-9e5f-a0b1c2d3e4f5","occurred_at":"2026-11-21T09:26:53Z",
  "session_id":"s-7Kq2pXw9","subject":"alice","rp_id":"notes","oidc":{"sid":"08a5019c-17e1-4977-8f42-65a12843ea02"}}`},
		{events.SubjectLogoutRequested, `{"event_id":"0190f1e0-1c2d-7e3f-8a4b-5c6d7e8f9a0b","logout_id":"lo-01J8Z3Q4R5",
  "occurred_at":"2026-11-21T17:45:00Z","session_id":"s-7Kq2pXw9","initiator":"user","scope":"global"}`},
	} {
		if _, err := js.Publish(context.Background(), m.subject, []byte(m.data)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case m := <-completed:
		ev, err := events.Decode[events.Completed](m.Data)
		if err != nil {
			t.Fatal(err)
		}
		if ev.LogoutID != "lo-01J8Z3Q4R5" || ev.Outcome != events.StatusComplete || len(ev.Participants) != 1 ||
			ev.Participants[0].RPID != "notes" || ev.Participants[0].Outcome != events.OutcomeSucceeded {
			t.Fatalf("completed: %+v", ev)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no logout.completed")
	}
}
