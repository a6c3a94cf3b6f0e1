package app

import (
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/trace"

	"github.com/signoff/signoff/cmd/signoff/internal/tracing"
	"github.com/signoff/signoff/coordinator/bus"
)

// tracingState is the tracing of a running signoff (README "Tracing"); a
// nil *tracingState is tracing off, and every method is then a no-op.
type tracingState struct {
	tp       trace.TracerProvider
	shutdown func(context.Context) error // nil: not ours to stop
}

// startTracing sets up tracing: o.TracerProvider when given (tests), else
// the OTLP/HTTP exporter of the tracing section, else nothing.
func (a *App) startTracing(ctx context.Context, o Options) error {
	if o.TracerProvider != nil {
		a.tracing = &tracingState{tp: o.TracerProvider}
		return nil
	}
	p, err := tracing.New(ctx, a.cfg.Tracing)
	if err != nil || p == nil {
		return err
	}
	a.tracing = &tracingState{tp: p, shutdown: p.Shutdown}
	// Export failures (a collector down) are logged, never fatal: the
	// logouts go on and the spans of that batch are dropped.
	log := a.log.With("component", "tracing")
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { log.Warn("exporting spans", "err", err) }))
	a.log.Info("tracing on", "otlp_endpoint", a.cfg.Tracing.TracesURL(), "sample_ratio", a.cfg.Tracing.SampleRatio)
	return nil
}

// provider is the tracer provider handed to the coordinator and the
// adapters: nil (an untyped nil interface) when tracing is off.
func (t *tracingState) provider() trace.TracerProvider {
	if t == nil {
		return nil
	}
	return t.tp
}

// handler traces the requests that start a logout.
func (t *tracingState) handler(publicURL string, h http.Handler) http.Handler {
	if t == nil {
		return h
	}
	base := ""
	if u, err := url.Parse(publicURL); err == nil {
		base = u.Path
	}
	return tracing.Handler(t.tp, base, tracing.Routes, h)
}

// inject adds the trace context of ctx to the headers of a message.
func (t *tracingState) inject(ctx context.Context, h nats.Header) {
	if t != nil {
		bus.InjectTrace(ctx, h)
	}
}

// extract returns ctx with the trace context a message carries.
func (t *tracingState) extract(ctx context.Context, h nats.Header) context.Context {
	if t == nil {
		return ctx
	}
	return bus.ExtractTrace(ctx, h)
}

// stop exports the spans still buffered, for at most 5 s.
func (t *tracingState) stop(ctx context.Context) error {
	if t == nil || t.shutdown == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	return t.shutdown(ctx)
}
