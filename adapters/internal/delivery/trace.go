package delivery

import (
	"context"
	"net/http"
	"strconv"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/signoff/signoff/events"
)

// Span names and attributes of deliveries (README "Tracing"). The HTTP
// attempt spans follow the OpenTelemetry HTTP client conventions
// (https://opentelemetry.io/docs/specs/semconv/http/http-spans/, "HTTP
// client span"), without url.full: a logout URI may carry credentials in
// its query, which details and logs never show either.
const (
	SpanParticipant = "signoff.deliver"

	AttrLogoutID = attribute.Key("signoff.logout_id")
	AttrRPID     = attribute.Key("signoff.rp_id")
	AttrAdapter  = attribute.Key("signoff.adapter")
	AttrOutcome  = attribute.Key("signoff.outcome")
	AttrAttempts = attribute.Key("signoff.attempts")
	AttrAttempt  = attribute.Key("signoff.attempt")
)

// Tracer starts the spans of deliveries: one per participant (a dispatch),
// whose duration is the RP's delivery latency, and one child per HTTP
// attempt. The zero Tracer (tracing off) starts none and costs nothing.
type Tracer struct{ t trace.Tracer }

// NewTracer returns the Tracer of scope; a nil tp turns tracing off.
func NewTracer(tp trace.TracerProvider, scope string) Tracer {
	if tp == nil {
		return Tracer{}
	}
	return Tracer{t: tp.Tracer(scope)}
}

// Participant starts the span of one participant's delivery, a child of
// parent (the trace context of its dispatch; invalid: a new trace), and
// returns it with a context that carries only that span (no deadline, no
// cancellation).
func (t Tracer) Participant(parent trace.SpanContext, adapter events.Adapter, logoutID, rpID string) (context.Context, trace.Span) {
	if t.t == nil {
		return context.Background(), trace.SpanFromContext(context.Background())
	}
	return t.t.Start(trace.ContextWithSpanContext(context.Background(), parent), SpanParticipant, trace.WithAttributes(
		AttrAdapter.String(string(adapter)), AttrLogoutID.String(logoutID), AttrRPID.String(rpID)))
}

// WithSpan returns ctx carrying the span of sctx when it records (nothing
// to carry otherwise).
func WithSpan(ctx, sctx context.Context) context.Context {
	if s := trace.SpanFromContext(sctx); s.IsRecording() {
		return trace.ContextWithSpan(ctx, s)
	}
	return ctx
}

// WithSpanContext returns ctx carrying the span context of sctx, to be
// injected into a message (ctx itself when there is none).
func WithSpanContext(ctx, sctx context.Context) context.Context {
	if sc := trace.SpanContextFromContext(sctx); sc.IsValid() {
		return trace.ContextWithSpanContext(ctx, sc)
	}
	return ctx
}

// EndParticipant records the outcome of a participant's delivery on s and
// ends it. aborted means the adapter stopped before the outcome was known.
func EndParticipant(s trace.Span, outcome events.Outcome, detail string, attempts int, aborted bool) {
	if !s.IsRecording() {
		return
	}
	s.SetAttributes(AttrAttempts.Int(attempts))
	switch {
	case aborted:
		s.SetStatus(codes.Error, "aborted by shutdown; resumed after a restart")
	case outcome != events.OutcomeSucceeded:
		s.SetAttributes(AttrOutcome.String(string(outcome)))
		s.SetStatus(codes.Error, detail)
	default:
		s.SetAttributes(AttrOutcome.String(string(outcome)))
	}
	s.End()
}

// Attempt starts the span of HTTP attempt n (from 1), a child of the span
// of ctx, and returns the context to build its request with.
func (t Tracer) Attempt(ctx context.Context, method string, n int) (context.Context, trace.Span) {
	if t.t == nil {
		return ctx, trace.SpanFromContext(context.Background())
	}
	return t.t.Start(ctx, method, trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(AttrAttempt.Int(n), attribute.String("http.request.method", method)))
}

// Request completes the attempt span of req's context with the server
// address and injects its trace context (W3C traceparent) into req.
func (t Tracer) Request(req *http.Request) {
	if t.t == nil {
		return
	}
	s := trace.SpanFromContext(req.Context())
	attrs := []attribute.KeyValue{attribute.String("server.address", req.URL.Hostname()), attribute.String("url.scheme", req.URL.Scheme)}
	if p := req.URL.Port(); p != "" {
		if n, err := strconv.Atoi(p); err == nil {
			attrs = append(attrs, attribute.Int("server.port", n))
		}
	}
	s.SetAttributes(attrs...)
	propagation.TraceContext{}.Inject(req.Context(), propagation.HeaderCarrier(req.Header))
}

// EndAttempt records the response status (0: no response) and the
// verdict of an attempt on s and ends it.
func EndAttempt(s trace.Span, status int, a Attempt) {
	if !s.IsRecording() {
		return
	}
	if status != 0 {
		s.SetAttributes(attribute.Int("http.response.status_code", status))
	}
	if a.Verdict != Accepted {
		if status == 0 {
			s.SetAttributes(attribute.String("error.type", "network"))
		} else {
			s.SetAttributes(attribute.String("error.type", strconv.Itoa(status)))
		}
		s.SetStatus(codes.Error, a.Detail)
	}
	s.End()
}
