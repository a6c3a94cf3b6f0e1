package tracing

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/signoff/signoff/cmd/signoff/internal/config"
)

// TestNewOff: without otlp_endpoint there is no provider at all (signoff
// then skips every tracing step).
func TestNewOff(t *testing.T) {
	p, err := New(context.Background(), config.Default().Tracing)
	if err != nil || p != nil {
		t.Fatalf("New(off) = %v, %v; want nil, nil", p, err)
	}
}

// TestHandler: a logout route becomes a root server span with its status;
// a traceparent sent by the client is a link, not the parent; the handler
// sees the span in its context; other paths are not traced.
func TestHandler(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	var inner trace.SpanContext
	h := Handler(tp, "/sso/", Routes, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inner = trace.SpanContextFromContext(r.Context())
		w.WriteHeader(http.StatusSeeOther)
	}))
	const remote = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	tests := []struct {
		method, path string
		traced       bool
	}{
		{"GET", "/sso/logout", true},
		{"POST", "/sso/api/admin/logout", true},
		{"GET", "/sso/oidc/end_session", true},
		{"GET", "/sso/logout/abc/events", false},
		{"GET", "/logout", false}, // outside the base path
		{"GET", "/sso/healthz", false},
	}
	for _, tt := range tests {
		exp.Reset()
		inner = trace.SpanContext{}
		req := httptest.NewRequest(tt.method, tt.path+"?id_token_hint=secret", nil)
		req.Header.Set("traceparent", remote)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		spans := exp.GetSpans()
		if !tt.traced {
			if len(spans) != 0 || inner.IsValid() {
				t.Errorf("%s %s: %d spans, want none", tt.method, tt.path, len(spans))
			}
			continue
		}
		if len(spans) != 1 {
			t.Fatalf("%s %s: %d spans, want 1", tt.method, tt.path, len(spans))
		}
		s := spans[0]
		if s.Name != tt.method+" "+tt.path || s.SpanKind != trace.SpanKindServer || s.Parent.IsValid() {
			t.Errorf("span %q kind %v parent %v; want %q, server, root", s.Name, s.SpanKind, s.Parent, tt.method+" "+tt.path)
		}
		if inner.SpanID() != s.SpanContext.SpanID() {
			t.Errorf("%s: the handler's context does not carry the span", tt.path)
		}
		if len(s.Links) != 1 || s.Links[0].SpanContext.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" ||
			s.SpanContext.TraceID() == s.Links[0].SpanContext.TraceID() {
			t.Errorf("%s: links %v; want the client's traceparent as a link, in a new trace", tt.path, s.Links)
		}
		var status int64
		for _, kv := range s.Attributes {
			if kv.Key == "http.response.status_code" {
				status = kv.Value.AsInt64()
			}
			if kv.Value.Emit() != "" && (kv.Key == "url.full" || kv.Key == "url.query") {
				t.Errorf("%s: span records the query (%s)", tt.path, kv.Key)
			}
		}
		if status != http.StatusSeeOther {
			t.Errorf("%s: status attribute %d, want 303", tt.path, status)
		}
	}
}
