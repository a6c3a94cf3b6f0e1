package backchannel

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/signoff/signoff/events"
)

// TestTracingHangingRP: an RP that hangs on the first request and then
// answers 200. The participant is one span under the dispatch's trace
// context, succeeded after 2 attempts; the hanging attempt is an error
// span ("no response within …") without status code, the second carries
// 200; each request carried the traceparent of its own attempt span.
func TestTracingHangingRP(t *testing.T) {
	var mu sync.Mutex
	var seen []string
	rp := newRP(t, func(w http.ResponseWriter, r *http.Request, n int) {
		mu.Lock()
		seen = append(seen, r.Header.Get("traceparent"))
		mu.Unlock()
		if n == 0 {
			<-r.Context().Done()
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	a, pub := newAdapter(t, rp.URL, func(c *Config) { c.AttemptTimeout = 200 * time.Millisecond; c.Tracer = tp })
	parent := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{9, 9}, SpanID: trace.SpanID{7, 7},
		TraceFlags: trace.FlagsSampled, Remote: true})
	d := dispatch(a, "app", 5*time.Second, "sid-1")
	if err := a.Handle(trace.ContextWithRemoteSpanContext(context.Background(), parent), d); err != nil {
		t.Fatal(err)
	}
	if res := pub.wait(t, 1, 10*time.Second)[0]; res.Outcome != events.OutcomeSucceeded || res.Attempts != 2 {
		t.Fatalf("result %+v, want succeeded after 2 attempts", res)
	}
	var deliver tracetest.SpanStub
	var attempts []tracetest.SpanStub
	for _, s := range exp.GetSpans() {
		switch s.Name {
		case "signoff.deliver":
			deliver = s
		case "POST":
			attempts = append(attempts, s)
		}
	}
	if deliver.Parent.SpanID() != parent.SpanID() || deliver.SpanContext.TraceID() != parent.TraceID() || deliver.Status.Code == codes.Error {
		t.Fatalf("deliver span: parent %v status %v; want under the dispatch's span, not an error", deliver.Parent.SpanID(), deliver.Status)
	}
	if len(attempts) != 2 {
		t.Fatalf("%d attempt spans, want 2", len(attempts))
	}
	hung, ok := attempts[0], attempts[1]
	hasStatus := func(s tracetest.SpanStub) bool {
		for _, kv := range s.Attributes {
			if kv.Key == "http.response.status_code" {
				return true
			}
		}
		return false
	}
	if hung.Status.Code != codes.Error || !strings.Contains(hung.Status.Description, "no response within 200ms") || hasStatus(hung) {
		t.Errorf("hanging attempt: status %v; want an error naming the attempt timeout, no status code", hung.Status)
	}
	if ok.Status.Code == codes.Error || !hasStatus(ok) {
		t.Errorf("second attempt: status %v attributes %v; want 200", ok.Status, ok.Attributes)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, s := range []tracetest.SpanStub{hung, ok} {
		if s.Parent.SpanID() != deliver.SpanContext.SpanID() {
			t.Errorf("attempt %d is not a child of the participant span", i+1)
		}
		if i < len(seen) && !strings.Contains(seen[i], s.SpanContext.SpanID().String()) {
			t.Errorf("request %d carried traceparent %q, want its attempt span %s", i+1, seen[i], s.SpanContext.SpanID())
		}
	}
}
