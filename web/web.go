// Package web serves signoff's HTTP endpoints (DESIGN.md, "Contract: HTTP"):
// the browser sign-out pages (/logout, /api/logout, /logout/{id} with its
// server-sent events), the public keys of logout tokens and the operations
// endpoints. Every response carries nosniff, no-referrer, no-store and a
// CSP; pages get a fresh nonce per response.
package web

import (
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
	// Metrics serves GET /metrics (the Prometheus exposition); nil leaves
	// the route out (404), as when metrics have a listener of their own.
	Metrics http.Handler
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
	if cfg.Metrics != nil {
		mux.Handle("GET /metrics", cfg.Metrics)
	}
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
