package tracing

import (
	"net/http"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Routes are the paths (below the path of public_url) whose requests start
// a logout, and so the root span of its trace.
var Routes = []string{
	"/logout", "/logout/choose", "/api/logout", "/oidc/end_session", "/api/admin/logout",
	"/saml/slo", "/saml/slo/soap",
}

// Handler wraps next so that a request to one of routes (below base) is a
// server span named after its method and route, with its response status
// (OpenTelemetry HTTP server span conventions,
// https://opentelemetry.io/docs/specs/semconv/http/http-spans/, without
// the query, which may carry an id_token_hint or a SAML message). The span
// is the root of a new trace: a traceparent sent by the browser or an API
// client is recorded as a link, never as the parent, since anyone could
// send one (W3C Trace Context, section 4.4 "Alternative Processing" and
// section 7 "Security Considerations"). Other requests pass through
// untouched.
func Handler(tp trace.TracerProvider, base string, routes []string, next http.Handler) http.Handler {
	tr := tp.Tracer("github.com/signoff/signoff/cmd/signoff/internal/tracing")
	known := make(map[string]bool, len(routes))
	for _, r := range routes {
		known[r] = true
	}
	base = strings.TrimSuffix(base, "/")
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		route, ok := strings.CutPrefix(r.URL.Path, base)
		if !ok || !known[route] {
			next.ServeHTTP(w, r)
			return
		}
		opts := []trace.SpanStartOption{
			trace.WithNewRoot(), trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.String("http.request.method", r.Method),
				attribute.String("http.route", base+route), attribute.String("url.path", r.URL.Path)),
		}
		if remote := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(r.Context(), propagation.HeaderCarrier(r.Header))); remote.IsValid() {
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: remote}))
		}
		ctx, span := tr.Start(r.Context(), r.Method+" "+base+route, opts...)
		defer span.End()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r.WithContext(ctx))
		span.SetAttributes(attribute.Int("http.response.status_code", sw.status))
		if sw.status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(sw.status))
		}
	})
}

// statusWriter remembers the status code of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.status, w.wrote = code, true
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
