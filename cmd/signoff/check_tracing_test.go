package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheckTracing: `signoff check` reports every problem of the tracing
// section with its line and key, and accepts a valid one.
func TestCheckTracing(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	tests := []struct {
		name     string
		yaml     string
		wantCode int
		want     []string
	}{
		{"valid", "public_url: https://auth.example.com\ndata_dir: " + data + "\ntracing:\n  otlp_endpoint: https://otel.example.com\n  sample_ratio: 0.25\n",
			0, []string{"is valid"}},
		{"bad tracing", "public_url: https://auth.example.com\ndata_dir: " + data + "\ntracing:\n  otlp_endpoint: http://otel.example.com:4318\n  protocol: grpc\n  sample_ratio: 2\n",
			1, []string{
				"3 problem(s)",
				"c.yaml:4: tracing.otlp_endpoint: must use https, or set tracing.insecure: true",
				"c.yaml:5: tracing.protocol: grpc is not built into signoff",
				"c.yaml:6: tracing.sample_ratio: must be between 0 and 1; got 2",
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "c.yaml")
			if err := os.WriteFile(path, []byte(tt.yaml), 0o600); err != nil {
				t.Fatal(err)
			}
			var out, errb bytes.Buffer
			code := run([]string{"check", "--config", path}, &out, &errb)
			all := out.String() + errb.String()
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d; output:\n%s", code, tt.wantCode, all)
			}
			for _, w := range tt.want {
				if !strings.Contains(all, w) {
					t.Errorf("output\n%s\ndoes not contain %q", all, w)
				}
			}
		})
	}
}
