package config

import (
	"net/url"
	"strings"
)

// Defaults of the tracing section.
const (
	// DefaultTracingProtocol is the OTLP protocol of traces.
	DefaultTracingProtocol = "http/protobuf"
	// DefaultTracingServiceName is the service.name resource attribute.
	DefaultTracingServiceName = "signoff"
	// DefaultTracingSampleRatio samples every trace that signoff starts.
	DefaultTracingSampleRatio = 1.0
)

// Tracing configures OpenTelemetry traces exported over OTLP/HTTP (README
// "Tracing"). Addition beyond the contract. Off unless OTLPEndpoint is set.
type Tracing struct {
	// OTLPEndpoint is the base URL of an OTLP/HTTP receiver, such as
	// http://127.0.0.1:4318 (an OpenTelemetry Collector): signoff posts
	// spans to its path /v1/traces, as OTEL_EXPORTER_OTLP_ENDPOINT does
	// (OTLP 1.x specification, "OTLP/HTTP"); a URL whose path already ends
	// in /v1/traces is used as written. Empty (default): tracing is off.
	OTLPEndpoint string `yaml:"otlp_endpoint"`
	// Protocol is the OTLP transport: http/protobuf (default and the only
	// one; gRPC is not built in, collectors accept both).
	Protocol string `yaml:"protocol"`
	// SampleRatio is the share of the traces signoff starts that are
	// recorded, from 0 to 1 (default 1). A trace context that arrives with a
	// logout (a traceparent on the HTTP request or the NATS message) keeps
	// its own sampling decision.
	SampleRatio float64 `yaml:"sample_ratio"`
	// ServiceName is the service.name of the spans (default signoff).
	ServiceName string `yaml:"service_name"`
	// Insecure allows a plain http:// OTLPEndpoint on a host other than
	// loopback (spans then cross the network in clear text).
	Insecure bool `yaml:"insecure"`
}

// Enabled reports whether traces are exported.
func (t Tracing) Enabled() bool { return t.OTLPEndpoint != "" }

// TracesURL is the URL spans are posted to: OTLPEndpoint with /v1/traces
// appended to its path unless it already ends with it.
func (t Tracing) TracesURL() string {
	u, err := url.Parse(t.OTLPEndpoint)
	if err != nil {
		return t.OTLPEndpoint
	}
	if !strings.HasSuffix(u.Path, "/v1/traces") {
		u.Path = strings.TrimSuffix(u.Path, "/") + "/v1/traces"
	}
	return u.String()
}

func (t *Tracing) defaults(set func(string) bool) {
	if t.Protocol == "" {
		t.Protocol = DefaultTracingProtocol
	}
	if t.ServiceName == "" {
		t.ServiceName = DefaultTracingServiceName
	}
	if !set("tracing.sample_ratio") && t.SampleRatio == 0 {
		t.SampleRatio = DefaultTracingSampleRatio
	}
}

// tracing validates the tracing section.
func (v *validator) tracing(t *Tracing) {
	switch t.Protocol {
	case DefaultTracingProtocol:
	case "grpc":
		v.add("tracing.protocol", "grpc is not built into signoff: use http/protobuf and the collector's OTLP/HTTP port (4318 by default)")
	default:
		v.add("tracing.protocol", "must be http/protobuf; got %q", t.Protocol)
	}
	if t.SampleRatio < 0 || t.SampleRatio > 1 {
		v.add("tracing.sample_ratio", "must be between 0 and 1; got %v", t.SampleRatio)
	}
	if strings.TrimSpace(t.ServiceName) == "" || hasSpaceOrControl(t.ServiceName) {
		v.add("tracing.service_name", "must be a name without whitespace or control characters; got %q", t.ServiceName)
	}
	if t.OTLPEndpoint == "" {
		return
	}
	if hasSpaceOrControl(t.OTLPEndpoint) {
		v.add("tracing.otlp_endpoint", "must not contain whitespace, control characters or backslashes")
		return
	}
	u, err := url.Parse(t.OTLPEndpoint)
	switch {
	case err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Opaque != "" || u.Hostname() == "":
		v.add("tracing.otlp_endpoint", "must be an absolute http(s) URL such as http://127.0.0.1:4318, got %q", t.OTLPEndpoint)
	case u.User != nil:
		v.add("tracing.otlp_endpoint", "must not contain credentials (set OTEL_EXPORTER_OTLP_HEADERS instead)")
	case u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(t.OTLPEndpoint, "?#"):
		v.add("tracing.otlp_endpoint", "must not have a query or fragment")
	case u.Scheme == "http" && !t.Insecure && !isLoopback(u.Hostname()):
		v.add("tracing.otlp_endpoint", "must use https, or set tracing.insecure: true to send spans in clear text (http is allowed without it only on 127.0.0.1, localhost and ::1)")
	}
}
