package bus

import (
	"context"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/propagation"
)

// TraceContext is the propagator of signoff's trace context on the bus:
// W3C Trace Context (https://www.w3.org/TR/trace-context/, section 3:
// the traceparent and tracestate fields), carried as NATS headers of the
// same lower-case names on logout.requested, dispatch, result and
// completed messages, and in the headers of the outbox rows that become
// them.
var TraceContext propagation.TextMapPropagator = propagation.TraceContext{}

// HeaderCarrier adapts NATS headers to a propagation.TextMapCarrier. NATS
// header names are case-sensitive (nats.Header.Get does not canonicalize),
// so the fields are kept exactly as the propagator names them
// ("traceparent", "tracestate").
type HeaderCarrier nats.Header

// Get returns the first value of key.
func (c HeaderCarrier) Get(key string) string {
	if v := c[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Set replaces the values of key with value.
func (c HeaderCarrier) Set(key, value string) { c[key] = []string{value} }

// Keys lists the header names.
func (c HeaderCarrier) Keys() []string {
	out := make([]string, 0, len(c))
	for k := range c {
		out = append(out, k)
	}
	return out
}

// InjectTrace writes the trace context of ctx into h (nothing when ctx has
// no valid span context).
func InjectTrace(ctx context.Context, h nats.Header) {
	TraceContext.Inject(ctx, HeaderCarrier(h))
}

// ExtractTrace returns ctx with the remote span context found in h, if any.
func ExtractTrace(ctx context.Context, h nats.Header) context.Context {
	if len(h) == 0 {
		return ctx
	}
	return TraceContext.Extract(ctx, HeaderCarrier(h))
}
