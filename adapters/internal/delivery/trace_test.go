package delivery

import (
	"context"
	"net/http"
	"testing"

	"go.opentelemetry.io/otel/trace"
)

// TestTracerOffAllocatesNothing: with tracing off (the zero Tracer), the
// tracing steps of a delivery allocate nothing and carry no span.
func TestTracerOffAllocatesNothing(t *testing.T) {
	var tr Tracer
	if NewTracer(nil, "x") != tr {
		t.Fatal("NewTracer(nil) is not the zero Tracer")
	}
	req, _ := http.NewRequest(http.MethodPost, "https://rp.example/logout", nil)
	parent := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1}, SpanID: trace.SpanID{2}, TraceFlags: trace.FlagsSampled})
	base := context.Background()
	var carried bool
	allocs := testing.AllocsPerRun(100, func() {
		sctx, span := tr.Participant(parent, "backchannel", "L1", "rp1")
		ctx := WithSpan(base, sctx)
		actx, as := tr.Attempt(ctx, http.MethodPost, 1)
		tr.Request(req)
		EndAttempt(as, 200, Attempt{Verdict: Accepted})
		EndParticipant(span, "succeeded", "HTTP 200", 1, false)
		carried = carried || trace.SpanContextFromContext(WithSpanContext(base, sctx)).IsValid() || trace.SpanFromContext(actx).IsRecording()
	})
	if allocs != 0 || carried {
		t.Errorf("tracing off: %v allocations per delivery, span carried %v; want 0, false", allocs, carried)
	}
	if req.Header.Get("traceparent") != "" {
		t.Errorf("tracing off: request got traceparent %q", req.Header.Get("traceparent"))
	}
}
