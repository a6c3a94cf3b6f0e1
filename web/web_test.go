package web

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

type keys []byte

func (k keys) JWKSJSON() []byte { return k }

func TestEndpoints(t *testing.T) {
	ready := errors.New("stream not provisioned")
	h, err := New(Config{
		Keys:  keys(`{"keys":[]}`),
		Ready: func() error { return ready },
		Metrics: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/plain; version=0.0.4")
			io.WriteString(w, "signoff_x_total 7\n")
		}),
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	tests := []struct {
		path, wantBody, wantType string
		wantStatus               int
	}{
		{"/jwks.json", `{"keys":[]}`, "application/jwk-set+json", 200},
		{"/healthz", "ok", "", 200},
		{"/readyz", "not ready: stream not provisioned", "", 503},
		{"/metrics", "signoff_x_total 7", "text/plain", 200},
		{"/nope", "404", "", 404},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, err := http.Get(srv.URL + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus || !strings.Contains(string(b), tt.wantBody) {
				t.Errorf("%d %q, want %d containing %q", resp.StatusCode, b, tt.wantStatus, tt.wantBody)
			}
			if !strings.HasPrefix(resp.Header.Get("Content-Type"), tt.wantType) {
				t.Errorf("content type %q", resp.Header.Get("Content-Type"))
			}
			if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
				t.Error("missing nosniff")
			}
		})
	}
	ready = nil
	resp, err := http.Get(srv.URL + "/readyz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("readyz after ready: %v %v", resp.StatusCode, err)
	}
}

// TestNoMetricsRoute: without a Metrics handler (metrics.listen serves them
// on a port of their own) the public handler answers 404 for /metrics.
func TestNoMetricsRoute(t *testing.T) {
	h, err := New(Config{Keys: keys(`{"keys":[]}`)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("/metrics without a handler: %d, want 404", resp.StatusCode)
	}
}
