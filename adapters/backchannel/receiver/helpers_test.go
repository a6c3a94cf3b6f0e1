package receiver_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/signoff/signoff/adapters/backchannel/receiver"
)

const (
	issuer   = "https://op.example.test"
	clientID = "notes"
	bclEvent = "http://schemas.openid.net/event/backchannel-logout"
)

// clock is an injected clock that moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 8, 7, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testKey is a private signing key with its kid.
type testKey struct {
	priv any
	alg  jose.SignatureAlgorithm
	kid  string
}

func (k testKey) public() jose.JSONWebKey {
	var pub any
	switch p := k.priv.(type) {
	case *rsa.PrivateKey:
		pub = &p.PublicKey
	case *ecdsa.PrivateKey:
		pub = &p.PublicKey
	case ed25519.PrivateKey:
		pub = p.Public()
	}
	return jose.JSONWebKey{Key: pub, KeyID: k.kid, Algorithm: string(k.alg), Use: "sig"}
}

var (
	rsaOnce sync.Once
	rsaKeys [2]*rsa.PrivateKey
)

// newKey generates a key of alg; RSA keys come from a pool of two, made
// once, because generating them is slow.
func newKey(t *testing.T, alg jose.SignatureAlgorithm, kid string) testKey {
	t.Helper()
	switch alg {
	case jose.RS256:
		rsaOnce.Do(func() {
			for i := range rsaKeys {
				k, err := rsa.GenerateKey(rand.Reader, 2048)
				if err != nil {
					panic(err)
				}
				rsaKeys[i] = k
			}
		})
		i := 0
		if strings.HasSuffix(kid, "-other") {
			i = 1
		}
		return testKey{rsaKeys[i], alg, kid}
	case jose.ES256:
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return testKey{k, alg, kid}
	case jose.EdDSA:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return testKey{k, alg, kid}
	}
	t.Fatalf("no key for %s", alg)
	return testKey{}
}

// mint signs claims with k; typ "" leaves the typ header out.
func mint(t *testing.T, k testKey, typ string, claims map[string]any) string {
	t.Helper()
	opts := &jose.SignerOptions{}
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: k.alg,
		Key: jose.JSONWebKey{Key: k.priv, KeyID: k.kid}}, opts)
	if err != nil {
		t.Fatal(err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := jws.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// unsigned returns an "alg":"none" token of claims.
func unsigned(t *testing.T, claims map[string]any) string {
	t.Helper()
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"none","typ":"logout+jwt"}`)) + "." + enc(payload) + "."
}

// claims returns the claims of a valid logout token issued at now, shaped
// like the conformance suite's: exp = iat + 120 s.
func claims(now time.Time) map[string]any {
	return map[string]any{
		"iss":    issuer,
		"aud":    clientID,
		"iat":    now.Unix(),
		"exp":    now.Add(120 * time.Second).Unix(),
		"jti":    rand.Text(),
		"sub":    "alice",
		"sid":    "sid-1",
		"events": map[string]any{bclEvent: map[string]any{}},
	}
}

// jwksServer serves a JWKS on loopback and counts the fetches.
type jwksServer struct {
	*httptest.Server
	doc     atomic.Pointer[[]byte]
	fetches atomic.Int32
	down    atomic.Bool
}

func newJWKS(t *testing.T, keys ...testKey) *jwksServer {
	t.Helper()
	s := &jwksServer{}
	s.set(keys...)
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		if s.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(*s.doc.Load())
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(keys ...testKey) {
	var set jose.JSONWebKeySet
	for _, k := range keys {
		set.Keys = append(set.Keys, k.public())
	}
	doc, err := json.Marshal(set)
	if err != nil {
		panic(err)
	}
	s.doc.Store(&doc)
}

// rp is a relying party running a BackChannel on loopback.
type rp struct {
	*httptest.Server
	clk  *clock
	jwks *jwksServer

	mu       sync.Mutex
	logouts  []receiver.Logout
	failNext int // the next failNext callbacks fail
}

// newRP starts an RP whose OP publishes keys; cfg, when not nil, adjusts
// the configuration.
func newRP(t *testing.T, keys []testKey, cfg func(*receiver.BackChannelConfig)) *rp {
	t.Helper()
	r := &rp{clk: newClock(), jwks: newJWKS(t, keys...)}
	c := receiver.BackChannelConfig{
		Issuer:   issuer,
		ClientID: clientID,
		JWKSURL:  r.jwks.URL,
		Now:      r.clk.Now,
		Logger:   quiet(),
		Logout: func(_ context.Context, l receiver.Logout) error {
			r.mu.Lock()
			defer r.mu.Unlock()
			r.logouts = append(r.logouts, l)
			if r.failNext > 0 {
				r.failNext--
				return errors.New("session store unavailable")
			}
			return nil
		},
	}
	if cfg != nil {
		cfg(&c)
	}
	h, err := receiver.NewBackChannel(c)
	if err != nil {
		t.Fatal(err)
	}
	r.Server = httptest.NewServer(h)
	t.Cleanup(r.Close)
	return r
}

func (r *rp) calls() []receiver.Logout {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]receiver.Logout(nil), r.logouts...)
}

// response is an answer of a handler.
type response struct {
	status int
	header http.Header
	body   []byte
}

// errorBody decodes a JSON error body.
func (r response) errorBody(t *testing.T) (code, desc string) {
	t.Helper()
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("Content-Type %q, want application/json (body %q)", ct, r.body)
	}
	var b struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
	}
	if err := json.Unmarshal(r.body, &b); err != nil {
		t.Fatalf("error body %q is not JSON: %v", r.body, err)
	}
	return b.Error, b.Description
}

func do(t *testing.T, req *http.Request) response {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return response{resp.StatusCode, resp.Header, body}
}

// post sends form to the RP's back-channel endpoint.
func (r *rp) post(t *testing.T, form url.Values) response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, r.URL, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return do(t, req)
}

// send posts one logout token.
func (r *rp) send(t *testing.T, token string) response {
	t.Helper()
	return r.post(t, url.Values{"logout_token": {token}})
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
