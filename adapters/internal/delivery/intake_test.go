package delivery

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/signoff/signoff/events"
)

// TestIntake: a dispatch runs with the span context of Handle's ctx; a
// full pool makes Handle wait for its ctx; Close waits for the deliveries,
// then cancels their context, and Handle refuses with ErrClosed afterwards.
func TestIntake(t *testing.T) {
	release := make(chan struct{})
	var ran atomic.Int32
	var parents = make(chan trace.SpanContext, 4)
	in, runCtx := NewIntake(NewPool(2), slog.New(slog.DiscardHandler), func(parent trace.SpanContext, d events.Dispatch) {
		ran.Add(1)
		parents <- parent
		<-release
	})
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled})
	ctx := trace.ContextWithSpanContext(context.Background(), sc)
	d := events.Dispatch{EventID: "e1", LogoutID: "L1", RPID: "wiki"}
	for _, disp := range []events.Dispatch{d, {EventID: "e2", LogoutID: "L1", RPID: "chat"}} {
		if err := in.Handle(ctx, disp); err != nil {
			t.Fatalf("Handle(%s): %v", disp.RPID, err)
		}
	}
	if p := <-parents; p.TraceID() != sc.TraceID() {
		t.Errorf("run got parent %v, want the span context of Handle's ctx", p)
	}
	if in.Free() != 0 {
		t.Errorf("Free = %d with two deliveries in a pool of 2", in.Free())
	}
	short, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := in.Handle(short, events.Dispatch{LogoutID: "L2", RPID: "wiki"}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Handle on a full pool: %v, want the context's error (backpressure)", err)
	}
	close(release)
	<-in.Freed()
	if err := in.Handle(context.Background(), events.Dispatch{LogoutID: "L3", RPID: "crm"}); err != nil {
		t.Fatalf("Handle once room is free: %v", err)
	}
	if err := in.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if runCtx.Err() == nil {
		t.Error("the deliveries' context is not cancelled after Close")
	}
	if err := in.Handle(context.Background(), d); !errors.Is(err, ErrClosed) {
		t.Errorf("Handle after Close: %v, want ErrClosed", err)
	}
	if ran.Load() != 3 || in.Accepted() != 3 {
		t.Errorf("ran %d, accepted %d, want 3 and 3", ran.Load(), in.Accepted())
	}
}

// TestIntakeDuplicate: a dispatch of a participant in progress is accepted
// without a second run, and logged.
func TestIntakeDuplicate(t *testing.T) {
	var logs bytes.Buffer
	block := make(chan struct{})
	var ran atomic.Int32
	in, _ := NewIntake(NewPool(4), slog.New(slog.NewTextHandler(&logs, nil)), func(trace.SpanContext, events.Dispatch) {
		ran.Add(1)
		<-block
	})
	d := events.Dispatch{EventID: "e1", LogoutID: "L1", RPID: "wiki"}
	for i := 0; i < 2; i++ {
		if err := in.Handle(context.Background(), d); err != nil {
			t.Fatalf("Handle %d: %v", i, err)
		}
	}
	close(block)
	if err := in.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ran.Load() != 1 || in.Accepted() != 1 || !strings.Contains(logs.String(), "dispatch already in progress") {
		t.Errorf("ran %d, accepted %d, logs %q", ran.Load(), in.Accepted(), logs.String())
	}
}

// TestPublishResult: failures are counted and logged while retried; the
// result is published once publish succeeds.
func TestPublishResult(t *testing.T) {
	var logs bytes.Buffer
	var errs atomic.Uint64
	calls := 0
	PublishResult(context.Background(), slog.New(slog.NewTextHandler(&logs, nil)), &errs,
		events.Result{LogoutID: "L1", RPID: "wiki", Outcome: events.OutcomeSucceeded},
		func(context.Context) error {
			if calls++; calls < 3 {
				return errors.New("nats: timeout")
			}
			return nil
		})
	if calls != 3 || errs.Load() != 2 || strings.Count(logs.String(), "publishing result failed; retrying") != 2 {
		t.Errorf("calls %d, errors %d, logs %q", calls, errs.Load(), logs.String())
	}
	stopped, stop := context.WithCancel(context.Background())
	stop()
	logs.Reset()
	PublishResult(stopped, slog.New(slog.NewTextHandler(&logs, nil)), &errs, events.Result{LogoutID: "L2"},
		func(context.Context) error { return errors.New("nats: connection closed") })
	if errs.Load() != 3 || !strings.Contains(logs.String(), "result not published: adapter stopped") {
		t.Errorf("after stop: errors %d, logs %q", errs.Load(), logs.String())
	}
}
