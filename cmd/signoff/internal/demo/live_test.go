package demo

import (
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/signoff/signoff/events"
	"github.com/signoff/signoff/events/eventstest"
)

// TestLivePrintsCompletionDetail: a logout of a session nobody registered
// (the README's `nats pub` with a join that was poisoned) is printed with
// logout.completed's detail, not as a bare "complete", and once.
func TestLivePrintsCompletionDetail(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	ctx, cancel := context.WithCancel(context.Background())
	out := &lockedBuffer{}
	ready := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, out, Options{NATSListen: addr, DataDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler),
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
	js, _ := jetstream.New(nc)
	b, _ := events.Encode(events.LogoutRequested{EventID: "0190f1e0-1c2d-7e3f-8a4b-5c6d7e8f9a0c", LogoutID: "0badc0de-nobody",
		OccurredAt: time.Now().UTC(), SessionID: "s-nobody", Initiator: events.InitiatorAdmin, Scope: events.ScopeGlobal})
	if _, err := js.Publish(context.Background(), events.SubjectLogoutRequested, b); err != nil {
		t.Fatal(err)
	}
	want := "logout 0badc0de: complete (+0s)\n  " + events.CompletedNoSessions + "\n  You were already signed out: no application had a session.\n"
	eventstest.Eventually(t, 30*time.Second, func() bool { return strings.Contains(out.String(), want) }, "waiting for the outcome with its detail in:\n%s", want)
	if n := strings.Count(out.String(), "logout 0badc0de:"); n != 1 {
		t.Errorf("the outcome is printed %d times:\n%s", n, out.String())
	}
}
