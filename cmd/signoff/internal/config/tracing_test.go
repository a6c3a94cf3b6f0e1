package config

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

// TestTracingValidation: every bad value of the tracing section stops
// loading with one error naming the key and its line.
func TestTracingValidation(t *testing.T) {
	const p = "public_url: https://auth.example.com\ntracing:\n"
	tests := []struct {
		name string
		yaml string // the line of the error carries a "#<" marker
		path string
		msg  string
	}{
		{"endpoint relative", p + "  otlp_endpoint: collector:4318 #<\n", "tracing.otlp_endpoint", `must be an absolute http(s) URL such as http://127.0.0.1:4318, got "collector:4318"`},
		{"endpoint grpc scheme", p + "  otlp_endpoint: grpc://collector:4317 #<\n", "tracing.otlp_endpoint", "must be an absolute http(s) URL"},
		{"endpoint http remote", p + "  otlp_endpoint: http://collector.example.com:4318 #<\n", "tracing.otlp_endpoint", "must use https, or set tracing.insecure: true"},
		{"endpoint credentials", p + "  otlp_endpoint: https://u:p@collector.example.com #<\n", "tracing.otlp_endpoint", "must not contain credentials"},
		{"endpoint query", p + "  otlp_endpoint: https://collector.example.com/?k=v #<\n", "tracing.otlp_endpoint", "must not have a query or fragment"},
		{"endpoint space", p + "  otlp_endpoint: 'https://collector.example.com/ x' #<\n", "tracing.otlp_endpoint", "must not contain whitespace"},
		{"protocol grpc", p + "  otlp_endpoint: http://127.0.0.1:4318\n  protocol: grpc #<\n", "tracing.protocol", "grpc is not built into signoff"},
		{"protocol other", p + "  protocol: http/json #<\n", "tracing.protocol", `must be http/protobuf; got "http/json"`},
		{"sample_ratio above 1", p + "  sample_ratio: 1.5 #<\n", "tracing.sample_ratio", "must be between 0 and 1; got 1.5"},
		{"sample_ratio negative", p + "  sample_ratio: -0.1 #<\n", "tracing.sample_ratio", "must be between 0 and 1; got -0.1"},
		{"sample_ratio not a number", p + "  sample_ratio: all #<\n", "tracing.sample_ratio", "all"},
		{"service_name spaces", p + "  service_name: 'sign off' #<\n", "tracing.service_name", `must be a name without whitespace or control characters; got "sign off"`},
		{"insecure not bool", p + "  insecure: maybe #<\n", "tracing.insecure", `must be true or false, got "maybe"`},
		{"unknown key", p + "  endpoint: http://127.0.0.1:4318 #<\n", "tracing", `unknown key "endpoint"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), "signoff.yaml", nil)
			if err == nil {
				t.Fatal("Parse succeeded, want an error")
			}
			line := strconv.Itoa(markedLine(t, tt.yaml))
			if !strings.Contains(err.Error(), "signoff.yaml:"+line+":") || !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error =\n%v\nwant line %s and %q", err, line, tt.msg)
			}
			if n := len(errorList(err)); n != 1 {
				t.Errorf("got %d errors, want exactly 1:\n%v", n, err)
			}
			var fe *FieldError
			var uk *UnknownKeyError
			if !errors.As(err, &fe) && !errors.As(err, &uk) {
				t.Errorf("error %T names no key", err)
			}
			if fe != nil && fe.Path != tt.path {
				t.Errorf("FieldError.Path = %q, want %q", fe.Path, tt.path)
			}
		})
	}
}

// TestTracingDefaults: off by default; an explicit sample_ratio 0 is kept;
// the traces URL follows OTEL_EXPORTER_OTLP_ENDPOINT's rule.
func TestTracingDefaults(t *testing.T) {
	c, err := Parse([]byte("public_url: https://auth.example.com\n"), "signoff.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Tracing{Protocol: "http/protobuf", SampleRatio: 1, ServiceName: "signoff"}
	if c.Tracing != want || c.Tracing.Enabled() {
		t.Errorf("defaults = %+v (enabled %v), want %+v, off", c.Tracing, c.Tracing.Enabled(), want)
	}
	if d := Default().Tracing; d != want {
		t.Errorf("Default().Tracing = %+v, want %+v", d, want)
	}
	c, err = Parse([]byte("public_url: https://auth.example.com\ntracing:\n  otlp_endpoint: http://collector.internal:4318\n  insecure: true\n  sample_ratio: 0\n  service_name: signoff-eu\n"), "signoff.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Tracing.Enabled() || c.Tracing.SampleRatio != 0 || c.Tracing.ServiceName != "signoff-eu" {
		t.Errorf("tracing = %+v, want enabled, sample_ratio 0 kept, service_name signoff-eu", c.Tracing)
	}
	for in, want := range map[string]string{
		"http://127.0.0.1:4318":                "http://127.0.0.1:4318/v1/traces",
		"http://127.0.0.1:4318/":               "http://127.0.0.1:4318/v1/traces",
		"https://otel.example.com/otlp":        "https://otel.example.com/otlp/v1/traces",
		"https://otel.example.com/x/v1/traces": "https://otel.example.com/x/v1/traces",
	} {
		if got := (Tracing{OTLPEndpoint: in}).TracesURL(); got != want {
			t.Errorf("TracesURL(%q) = %q, want %q", in, got, want)
		}
	}
}
