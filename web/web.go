// Package web serves signoff's HTTP endpoints (DESIGN.md, "Contract: HTTP"):
// the browser sign-out pages (/logout, /api/logout, /logout/{id} with its
// server-sent events), the public keys of logout tokens and the operations
// endpoints. Every response carries nosniff, no-referrer, no-store and a
// CSP; pages get a fresh nonce per response.
package web

import (
	"fmt"
	"io"
	"net/http"
)

// KeySource gives the JSON Web Key Set of the logout-token signing keys.
type KeySource interface {
	JWKSJSON() []byte
}

// Config are the handler's dependencies.
type Config struct {
	Keys KeySource
	// Ready reports why signoff cannot serve yet (nil when it can).
	Ready func() error
	// Metrics writes the Prometheus text exposition of signoff's counters.
	Metrics func(w io.Writer)
	// Browser enables the browser sign-out pages; nil leaves them out.
	Browser *Browser
	// Extra are more handlers by http.ServeMux pattern (such as
	// "GET /saml/metadata"), served behind the same security headers; a
	// handler may override the default CSP.
	Extra map[string]http.Handler
}

// New returns the HTTP handler of signoff.
func New(cfg Config) (http.Handler, error) {
	mux := http.NewServeMux()
	if cfg.Browser != nil {
		b, err := newBrowser(*cfg.Browser)
		if err != nil {
			return nil, err
		}
		b.routes(mux)
	}
	for pattern, h := range cfg.Extra {
		mux.Handle(pattern, h)
	}
	mux.HandleFunc("GET /jwks.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		// Short: a newly added key must reach RPs quickly; they also
		// refetch on an unknown kid (Back-Channel Logout 1.0, 2.6).
		w.Header().Set("Cache-Control", "public, max-age=60")
		w.Write(cfg.Keys.JWKSJSON())
	})
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if cfg.Ready != nil {
			if err := cfg.Ready(); err != nil {
				http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		io.WriteString(w, "ready\n")
	})
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		w.Header().Set("Cache-Control", "no-store")
		if cfg.Metrics != nil {
			cfg.Metrics(w)
		}
	})
	return secure(mux), nil
}

// secure adds the headers every response carries.
func secure(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Content-Security-Policy", "default-src 'none'; frame-ancestors 'none'")
		h.Set("Cache-Control", "no-store")
		next.ServeHTTP(w, r)
	})
}

// Counter is one metric line.
type Counter struct {
	Name, Help string
	Value      func() uint64
}

// Gauge is one Prometheus gauge of /metrics, with optional labels
// (rendered as given, e.g. `consumer="adapter-saml"`).
type Gauge struct {
	Name, Help, Labels string
	Value              float64
}

// WriteGauges writes gauges in the Prometheus text format; gauges of one
// name must be adjacent.
func WriteGauges(w io.Writer, gs []Gauge) {
	for i, g := range gs {
		if i == 0 || gs[i-1].Name != g.Name {
			fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n", g.Name, g.Help, g.Name)
		}
		if g.Labels != "" {
			fmt.Fprintf(w, "%s{%s} %g\n", g.Name, g.Labels, g.Value)
		} else {
			fmt.Fprintf(w, "%s %g\n", g.Name, g.Value)
		}
	}
}

// WriteCounters writes counters in the Prometheus text format.
func WriteCounters(w io.Writer, cs []Counter) {
	for _, c := range cs {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s counter\n%s %d\n", c.Name, c.Help, c.Name, c.Name, c.Value())
	}
}
