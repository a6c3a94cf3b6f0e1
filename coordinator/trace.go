package coordinator

import (
	"context"

	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/signoff/signoff/coordinator/bus"
	"github.com/signoff/signoff/coordinator/saga"
	"github.com/signoff/signoff/coordinator/store"
	"github.com/signoff/signoff/events"
)

// tracerName is the instrumentation scope of the coordinator's spans.
const tracerName = "github.com/signoff/signoff/coordinator"

// Span names and attributes of the coordinator (README "Tracing").
const (
	SpanSagaStart    = "signoff.saga.start"
	SpanSagaResult   = "signoff.saga.result"
	SpanSagaComplete = "signoff.saga.complete"

	AttrLogoutID     = attribute.Key("signoff.logout_id")
	AttrRPID         = attribute.Key("signoff.rp_id")
	AttrAdapter      = attribute.Key("signoff.adapter")
	AttrOutcome      = attribute.Key("signoff.outcome")
	AttrInitiator    = attribute.Key("signoff.initiator")
	AttrParticipants = attribute.Key("signoff.participants")
)

// batchSpans are the spans of the traced messages of one intake batch:
// one per logout.requested (the start of a saga) and per logout.result,
// each a child of the trace context its message carries (W3C traceparent
// in the NATS headers) or, without one, the root of a new trace.
type batchSpans struct {
	ctxs  []context.Context // nil entry: message not traced
	spans []trace.Span
}

// traceBatch starts the spans of msgs; nil when tracing is off.
func (c *Coordinator) traceBatch(ctx context.Context, msgs []jetstream.Msg) *batchSpans {
	if c.cfg.Tracer == nil {
		return nil
	}
	tr := c.cfg.Tracer.Tracer(tracerName)
	b := &batchSpans{ctxs: make([]context.Context, len(msgs)), spans: make([]trace.Span, len(msgs))}
	for i, m := range msgs {
		var name string
		switch m.Subject() {
		case events.SubjectLogoutRequested:
			name = SpanSagaStart
		case events.SubjectLogoutResult:
			name = SpanSagaResult
		default:
			continue
		}
		parent := bus.ExtractTrace(ctx, m.Headers())
		b.ctxs[i], b.spans[i] = tr.Start(parent, name, trace.WithSpanKind(trace.SpanKindConsumer),
			trace.WithAttributes(attribute.String("messaging.system", "nats"),
				attribute.String("messaging.destination.name", m.Subject())))
	}
	return b
}

// ctx is the context to prepare message i with.
func (b *batchSpans) ctx(ctx context.Context, i int) context.Context {
	if b == nil || b.ctxs[i] == nil {
		return ctx
	}
	return b.ctxs[i]
}

// fail marks message i as poisoned.
func (b *batchSpans) fail(i int, err error) {
	if b == nil || b.spans[i] == nil {
		return
	}
	b.spans[i].RecordError(err)
	b.spans[i].SetStatus(codes.Error, "poisoned: "+err.Error())
}

// end ends every span; err is the batch's (nothing applied).
func (b *batchSpans) end(err error) {
	if b == nil {
		return
	}
	for _, s := range b.spans {
		if s == nil {
			continue
		}
		if err != nil {
			s.SetStatus(codes.Error, "batch not applied: "+err.Error())
		}
		s.End()
	}
}

// traceRequest names the logout of the span of ctx.
func traceRequest(ctx context.Context, req events.LogoutRequested) {
	if s := trace.SpanFromContext(ctx); s.IsRecording() {
		s.SetAttributes(AttrLogoutID.String(req.LogoutID), AttrInitiator.String(string(req.Initiator)))
	}
}

// traceResult names the participant and outcome of the span of ctx.
func traceResult(ctx context.Context, r events.Result) {
	if s := trace.SpanFromContext(ctx); s.IsRecording() {
		s.SetAttributes(AttrLogoutID.String(r.LogoutID), AttrRPID.String(r.RPID),
			AttrAdapter.String(string(r.Adapter)), AttrOutcome.String(string(r.Outcome)))
	}
}

// traceStart records the participants of a saga that starts.
func traceStart(ctx context.Context, s saga.Saga) {
	if sp := trace.SpanFromContext(ctx); sp.IsRecording() {
		sp.SetAttributes(AttrParticipants.Int(len(s.Participants)))
	}
}

// traceComplete starts the span of a saga's completion, a child of ctx,
// which ends when the transaction commits (never if it is rolled back),
// and returns its context for the logout.completed event.
func (c *Coordinator) traceComplete(ctx context.Context, tx *store.Tx, ev events.Completed) context.Context {
	if c.cfg.Tracer == nil {
		return ctx
	}
	ctx, span := c.cfg.Tracer.Tracer(tracerName).Start(ctx, SpanSagaComplete, trace.WithAttributes(
		AttrLogoutID.String(ev.LogoutID), AttrOutcome.String(string(ev.Outcome)), AttrParticipants.Int(len(ev.Participants))))
	if ev.Outcome != events.StatusComplete {
		span.SetStatus(codes.Error, string(ev.Outcome))
	}
	tx.AfterCommit(func() { span.End() })
	return ctx
}

// traceHeaders adds the trace context of ctx to the headers of an outbox
// row, so the dispatch or completion carries the traceparent of its
// logout. Without tracing, or without a span in ctx, headers are returned
// as they are.
func (c *Coordinator) traceHeaders(ctx context.Context, headers map[string]string) map[string]string {
	if c.cfg.Tracer == nil || !trace.SpanContextFromContext(ctx).IsValid() {
		return headers
	}
	if headers == nil {
		headers = map[string]string{}
	}
	bus.TraceContext.Inject(ctx, propagation.MapCarrier(headers))
	return headers
}
