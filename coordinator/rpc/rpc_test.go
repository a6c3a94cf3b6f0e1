package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/trace"

	"github.com/signoff/signoff/coordinator/bus/natstest"
	"github.com/signoff/signoff/events/eventstest"
)

// startNATS runs a real nats-server on a random loopback port and returns
// a connection to it.
func startNATS(t *testing.T) *nats.Conn {
	t.Helper()
	return connect(t, natstest.Embedded(t, false).ClientURL())
}

func connect(t *testing.T, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

type echoReq struct{ Key string }
type echoResp struct{ Value string }

// keys is a handler over a map: found when the key is there, an error for
// the key "boom".
func keys(m map[string]string) Handler {
	return func(_ context.Context, req []byte) ([]byte, bool, error) {
		var r echoReq
		if err := json.Unmarshal(req, &r); err != nil {
			return nil, false, err
		}
		if r.Key == "boom" {
			return nil, false, errors.New("disk on fire")
		}
		v, ok := m[r.Key]
		if !ok {
			return nil, false, nil
		}
		b, err := json.Marshal(echoResp{v})
		return b, true, err
	}
}

func serveT(t *testing.T, nc *nats.Conn, p int, method string, h Handler) func() {
	t.Helper()
	stop, err := Serve(nc, p, method, h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return stop
}

// TestCall: found, not found and the handler's error reach the caller;
// another partition's server does not answer for p.
func TestCall(t *testing.T) {
	nc := startNATS(t)
	serveT(t, nc, 3, "get", keys(map[string]string{"a": "alpha"}))
	serveT(t, nc, 4, "get", keys(map[string]string{"b": "beta"}))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	tests := []struct {
		key       string
		found     bool
		value     string
		errSubstr string
	}{
		{key: "a", found: true, value: "alpha"},
		{key: "b"}, // partition 4 has it, 3 does not
		{key: "boom", errSubstr: "disk on fire"},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			var resp echoResp
			found, err := Call(ctx, nc, 3, "get", echoReq{tt.key}, &resp)
			if tt.errSubstr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errSubstr) {
					t.Fatalf("err = %v, want %q", err, tt.errSubstr)
				}
				return
			}
			if err != nil || found != tt.found || resp.Value != tt.value {
				t.Fatalf("Call = %v, %v, %+v; want %v, %q", found, err, resp, tt.found, tt.value)
			}
		})
	}
}

// TestCallRetriesUntilOwner: while nobody serves the partition Call
// retries; it gets the answer once a server subscribes.
func TestCallRetriesUntilOwner(t *testing.T) {
	nc := startNATS(t)
	owner := connect(t, nc.ConnectedUrl())
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	caller := connect(t, nc.ConnectedUrl())
	type result struct {
		found bool
		resp  echoResp
		err   error
	}
	done := make(chan result, 1)
	go func() {
		var r result
		r.found, r.err = Call(ctx, caller, 7, "get", echoReq{"k"}, &r.resp)
		done <- r
	}()
	// The owner subscribes only after the caller has sent its request
	// twice: it met no responders and retried.
	eventstest.Eventually(t, 10*time.Second, func() bool { return caller.Stats().OutMsgs >= 2 }, "waiting for a retried request")
	select {
	case r := <-done:
		t.Fatalf("Call returned before any owner: %+v", r)
	default:
	}
	serveT(t, owner, 7, "get", keys(map[string]string{"k": "v"}))
	r := <-done
	if r.err != nil || !r.found || r.resp.Value != "v" {
		t.Fatalf("Call after the owner came = %+v", r)
	}
}

// TestCallNoOwner: with no server at all, Call fails once the context
// ends, saying the partition has no owner.
func TestCallNoOwner(t *testing.T) {
	nc := startNATS(t)
	ctx, cancel := context.WithTimeout(context.Background(), 400*time.Millisecond)
	defer cancel()
	_, err := Call(ctx, nc, 1, "get", echoReq{"k"}, nil)
	if !errors.Is(err, ErrNoOwner) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrNoOwner and the deadline", err)
	}
	if !strings.Contains(err.Error(), "no owner right now") {
		t.Errorf("message %q", err)
	}
}

// TestCallSlowServer: a server slower than the caller's deadline makes
// Call fail with the deadline (not no-owner), and the handler's context
// ends with the caller's time (the header carried it), not DefaultTimeout.
func TestCallSlowServer(t *testing.T) {
	nc := startNATS(t)
	handlerDeadline := make(chan time.Time, 1)
	serveT(t, nc, 0, "slow", func(ctx context.Context, _ []byte) ([]byte, bool, error) {
		dl, _ := ctx.Deadline()
		handlerDeadline <- dl
		<-ctx.Done()
		return nil, false, ctx.Err()
	})
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := Call(ctx, nc, 0, "slow", echoReq{}, nil)
	// The caller's deadline, or the handler's (the caller's time, as the
	// header carried it) reported in its reply: whichever ends first.
	if err == nil || errors.Is(err, ErrNoOwner) || !strings.Contains(err.Error(), "deadline exceeded") {
		t.Fatalf("err = %v, want the deadline", err)
	}
	if dl := <-handlerDeadline; !dl.Before(start.Add(DefaultTimeout / 2)) {
		t.Errorf("handler deadline %s: not the caller's (300ms), the default", dl.Sub(start))
	}
}

// TestServeStop: after stop, the partition has no responders again.
func TestServeStop(t *testing.T) {
	nc := startNATS(t)
	stop := serveT(t, nc, 2, "get", keys(map[string]string{"k": "v"}))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if found, err := Call(ctx, nc, 2, "get", echoReq{"k"}, nil); err != nil || !found {
		t.Fatalf("served: %v %v", found, err)
	}
	stop()
	stop() // idempotent
	short, cancel2 := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel2()
	if _, err := Call(short, nc, 2, "get", echoReq{"k"}, nil); !errors.Is(err, ErrNoOwner) {
		t.Fatalf("after stop: %v", err)
	}
}

// TestBroadcast: three instances answer; each sees the found answers, the
// one without the key counts as an answer, and gathering ends when all
// members answered.
func TestBroadcast(t *testing.T) {
	nc := startNATS(t)
	for _, m := range []map[string]string{{"k": "one"}, {"k": "two"}, {"x": "none"}} {
		c := connect(t, nc.ConnectedUrl())
		stop, err := ServeAll(c, "get", keys(m))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(stop)
	}
	var got []string
	err := Broadcast(context.Background(), nc, "get", echoReq{"k"}, 3, func(b []byte) error {
		var r echoResp
		if err := json.Unmarshal(b, &r); err != nil {
			return err
		}
		got = append(got, r.Value)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(got)
	if strings.Join(got, ",") != "one,two" {
		t.Fatalf("answers %v", got)
	}

	// A member that fails: its error comes back, the others' answers too.
	got = nil
	err = Broadcast(context.Background(), nc, "get", echoReq{"boom"}, 3, func(b []byte) error {
		got = append(got, string(b))
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "disk on fire") || len(got) != 0 {
		t.Fatalf("boom: %v %v", err, got)
	}

	// More members expected than answer: what came is the answer, after
	// BroadcastWait.
	got = nil
	err = Broadcast(context.Background(), nc, "get", echoReq{"k"}, 4, func(b []byte) error {
		got = append(got, string(b))
		return nil
	})
	if err != nil || len(got) != 2 {
		t.Fatalf("4 members expected, 3 live: %v %v", err, got)
	}
}

// TestCallCarriesTrace: the handler runs in the caller's trace (W3C
// traceparent header); a call without a trace carries none.
func TestCallCarriesTrace(t *testing.T) {
	nc := startNATS(t)
	seen := make(chan trace.SpanContext, 2)
	serveT(t, nc, 0, "traced", func(ctx context.Context, _ []byte) ([]byte, bool, error) {
		seen <- trace.SpanContextFromContext(ctx)
		return []byte(`{}`), true, nil
	})
	sc := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID:    trace.TraceID{0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6, 0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36},
		SpanID:     trace.SpanID{0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7},
		TraceFlags: trace.FlagsSampled,
	})
	ctx, cancel := context.WithTimeout(trace.ContextWithSpanContext(context.Background(), sc), 5*time.Second)
	defer cancel()
	if _, err := Call(ctx, nc, 0, "traced", struct{}{}, nil); err != nil {
		t.Fatal(err)
	}
	if got := <-seen; got.TraceID() != sc.TraceID() || got.SpanID() != sc.SpanID() || !got.IsRemote() {
		t.Errorf("handler's span context %v, want the caller's %v (remote)", got, sc)
	}
	plain, cancel2 := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel2()
	if _, err := Call(plain, nc, 0, "traced", struct{}{}, nil); err != nil {
		t.Fatal(err)
	}
	if got := <-seen; got.IsValid() {
		t.Errorf("a call without a trace gave the handler %v", got)
	}
}
