// Package tracing sets up OpenTelemetry tracing for signoff (README
// "Tracing"): the tracer provider of the tracing section of the
// configuration, exporting over OTLP/HTTP (OTLP specification 1.x,
// "OTLP/HTTP", binary protobuf to /v1/traces), and the root span of the
// HTTP requests that start a logout.
//
// Tracing is off unless tracing.otlp_endpoint is set; then New returns
// nil, and every part of signoff skips its tracing work: no exporter, no
// goroutine, no header.
package tracing

import (
	"context"
	"fmt"
	"runtime/debug"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/signoff/signoff/cmd/signoff/internal/config"
)

// Provider is a tracer provider that exports spans, and how to flush and
// stop it.
type Provider struct {
	trace.TracerProvider
	// Shutdown exports the spans still buffered and stops the exporter.
	Shutdown func(context.Context) error
}

// New returns the provider of cfg, or nil when tracing is off. Spans are
// batched (sdk BatchSpanProcessor: up to 512 per export, every 5 s) and
// posted to cfg.TracesURL(); headers such as an API key come from the
// standard variable OTEL_EXPORTER_OTLP_HEADERS (or
// OTEL_EXPORTER_OTLP_TRACES_HEADERS), so that no secret sits in the file.
// The sampler is parent-based (a sampled traceparent that arrives with a
// logout is followed) with cfg.SampleRatio for the traces signoff starts.
func New(ctx context.Context, cfg config.Tracing) (*Provider, error) {
	if !cfg.Enabled() {
		return nil, nil
	}
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(cfg.TracesURL()))
	if err != nil {
		return nil, fmt.Errorf("tracing.otlp_endpoint: %w", err)
	}
	return NewWithExporter(cfg, exp), nil
}

// NewWithExporter is New with another exporter (tests use the SDK's
// in-memory one).
func NewWithExporter(cfg config.Tracing, exp sdktrace.SpanExporter) *Provider {
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(Resource(cfg.ServiceName)),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.SampleRatio))),
	)
	return &Provider{TracerProvider: tp, Shutdown: tp.Shutdown}
}

// Resource describes this process: service.name and service.version (the
// module version of the binary).
func Resource(serviceName string) *resource.Resource {
	attrs := []attribute.KeyValue{attribute.String("service.name", serviceName)}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		attrs = append(attrs, attribute.String("service.version", bi.Main.Version))
	}
	return resource.NewSchemaless(attrs...)
}
