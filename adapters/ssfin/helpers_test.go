package ssfin

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
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"

	"github.com/signoff/signoff/coordinator/bus/natstest"
	"github.com/signoff/signoff/events"
)

const testAudience = "https://signoff.test/ssf"

// testKeys are generated once: RSA key generation is slow on a shared
// machine.
var testKeys = sync.OnceValue(func() map[string]any {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	rk2, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	_, edk, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	return map[string]any{"rsa": rk, "rsa-foreign": rk2, "ec": ek, "ed": edk}
})

// testTransmitter is an SSF transmitter implemented in the test: it signs
// SETs with go-jose directly (RFC 8417, independent of the package under
// test) and serves its JWKS and its transmitter configuration metadata.
type testTransmitter struct {
	srv     *httptest.Server
	issuer  string
	mu      sync.Mutex
	jwks    jose.JSONWebKeySet
	fetches atomic.Int32 // JWKS requests
	mdIss   string       // issuer in the metadata (default: issuer)
}

func newTestTransmitter(t *testing.T) *testTransmitter {
	tt := &testTransmitter{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /jwks.json", func(w http.ResponseWriter, r *http.Request) {
		tt.fetches.Add(1)
		tt.mu.Lock()
		defer tt.mu.Unlock()
		json.NewEncoder(w).Encode(tt.jwks)
	})
	mux.HandleFunc("GET /.well-known/ssf-configuration", func(w http.ResponseWriter, r *http.Request) {
		iss := tt.mdIss
		if iss == "" {
			iss = tt.issuer
		}
		json.NewEncoder(w).Encode(map[string]any{"spec_version": "1_0", "issuer": iss, "jwks_uri": tt.srv.URL + "/jwks.json",
			"delivery_methods_supported": []string{"urn:ietf:rfc:8935", "urn:ietf:rfc:8936"}})
	})
	tt.srv = httptest.NewServer(mux)
	t.Cleanup(tt.srv.Close)
	tt.issuer = tt.srv.URL
	tt.publish("k1", testKeys()["rsa"])
	return tt
}

// publish adds the public half of key to the JWKS under kid.
func (tt *testTransmitter) publish(kid string, key any) {
	tt.mu.Lock()
	defer tt.mu.Unlock()
	var pub any
	switch k := key.(type) {
	case *rsa.PrivateKey:
		pub = &k.PublicKey
	case *ecdsa.PrivateKey:
		pub = &k.PublicKey
	case ed25519.PrivateKey:
		pub = k.Public()
	}
	tt.jwks.Keys = append(tt.jwks.Keys, jose.JSONWebKey{Key: pub, KeyID: kid, Use: "sig"})
}

// claims are the claims of a valid SET of tt with one event.
func (tt *testTransmitter) claims(event string, ev any, subID any) map[string]any {
	c := map[string]any{
		"iss": tt.issuer, "aud": testAudience, "iat": time.Now().Unix(), "jti": uuid.NewString(), "txn": "txn-1",
		"events": map[string]any{event: ev},
	}
	if subID != nil {
		c["sub_id"] = subID
	}
	return c
}

// signOpts change how sign signs.
type signOpts struct {
	alg jose.SignatureAlgorithm
	key any
	kid string
	typ string // "-" for none
}

// sign signs claims as a SET with go-jose: RS256, kid k1, typ secevent+jwt
// unless opts say otherwise.
func sign(t *testing.T, claims map[string]any, opts ...func(*signOpts)) string {
	t.Helper()
	o := signOpts{alg: jose.RS256, key: testKeys()["rsa"], kid: "k1", typ: "secevent+jwt"}
	for _, f := range opts {
		f(&o)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	if o.alg == "none" {
		hdr, _ := json.Marshal(map[string]string{"alg": "none", "typ": o.typ})
		return base64.RawURLEncoding.EncodeToString(hdr) + "." + base64.RawURLEncoding.EncodeToString(payload) + "."
	}
	so := &jose.SignerOptions{}
	if o.typ != "-" {
		so = so.WithType(jose.ContentType(o.typ))
	}
	var key any = jose.JSONWebKey{Key: o.key, KeyID: o.kid}
	if o.kid == "" {
		key = o.key
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: o.alg, Key: key}, so)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// memJTIs is a JTIStore in memory.
type memJTIs struct {
	mu sync.Mutex
	m  map[string]time.Time
}

func (s *memJTIs) SeenJTI(_ context.Context, tr, jti string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.m[tr+"\x00"+jti]
	return ok, nil
}

func (s *memJTIs) RememberJTI(_ context.Context, tr, jti string, at, _ time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]time.Time{}
	}
	s.m[tr+"\x00"+jti] = at
	return nil
}

func (s *memJTIs) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// recLogouts records the logout requests, after checking each against the
// schema as the coordinator would.
type recLogouts struct {
	mu   sync.Mutex
	reqs []events.LogoutRequested
	fail error
}

func (l *recLogouts) RequestLogout(_ context.Context, req events.LogoutRequested) error {
	b, err := events.Encode(req)
	if err != nil {
		return err
	}
	if _, err := events.Decode[events.LogoutRequested](b); err != nil {
		return fmt.Errorf("test: invalid logout.requested: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail != nil {
		return l.fail
	}
	l.reqs = append(l.reqs, req)
	return nil
}

func (l *recLogouts) all() []events.LogoutRequested {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]events.LogoutRequested(nil), l.reqs...)
}

// logBuffer collects log lines.
type logBuffer = natstest.LogBuffer

// fixture is a receiver with one push transmitter ("idp", token
// "push-token-0123456789"), served on loopback.
type fixture struct {
	tt      *testTransmitter
	r       *Receiver
	jtis    *memJTIs
	logouts *recLogouts
	logs    *logBuffer
	srv     *httptest.Server
	skew    atomic.Int64 // added to the receiver's clock
}

// advance moves the receiver's clock forward by d.
func (f *fixture) advance(d time.Duration) { f.skew.Add(int64(d)) }

const testToken = "push-token-0123456789"

func newFixture(t *testing.T, mod ...func(*Transmitter)) *fixture {
	f := &fixture{tt: newTestTransmitter(t), jtis: &memJTIs{}, logouts: &recLogouts{}, logs: &logBuffer{}}
	tr := Transmitter{ID: "idp", Issuer: f.tt.issuer, Audience: testAudience, JWKSURI: f.tt.srv.URL + "/jwks.json",
		BearerToken: testToken}
	for _, m := range mod {
		m(&tr)
	}
	r, err := New(Config{Transmitters: []Transmitter{tr}, JTIs: f.jtis, Logouts: f.logouts,
		Logger: slog.New(slog.NewTextHandler(f.logs, nil)), KeyRefetchInterval: time.Minute,
		Now: func() time.Time { return time.Now().Add(time.Duration(f.skew.Load())) }})
	if err != nil {
		t.Fatal(err)
	}
	f.r = r
	f.srv = httptest.NewServer(r.Handler())
	t.Cleanup(f.srv.Close)
	return f
}

// push POSTs raw to the receiver and returns the status and the decoded
// error body.
func (f *fixture) push(t *testing.T, raw, token, contentType string) (int, setErr, http.Header) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.srv.URL+PushPath, strings.NewReader(raw))
	req.Header.Set("Content-Type", contentType)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e setErr
	if resp.StatusCode != http.StatusAccepted {
		if err := json.NewDecoder(resp.Body).Decode(&e); err != nil && !errors.Is(err, io.EOF) {
			e.Description = "undecodable body: " + err.Error()
		}
	}
	return resp.StatusCode, e, resp.Header
}

const setType = "application/secevent+jwt"

func issSub(iss, sub string) map[string]any {
	return map[string]any{"format": "iss_sub", "iss": iss, "sub": sub}
}
