package app

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/signoff/signoff/cmd/signoff/internal/config"
)

// This file is an SSF receiver written for the tests from RFC 8417, RFC
// 8935, RFC 8936, RFC 9493, SSF 1.0 and CAEP 1.0 with go-jose alone: it
// shares no code with adapters/ssf.

const (
	txSessionRevoked = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"
	txVerification   = "https://schemas.openid.net/secevent/ssf/event-type/verification"
)

// txSET is one SET as the test receiver checked it.
type txSET struct {
	JTI, Txn, Event string
	SubID           map[string]string
	Body            map[string]any // the event's members
	Err             string         // why the SET is invalid; "" when valid
}

// txChecker verifies SETs for one receiver (issuer, audience, format of
// sub_id) against signoff's /jwks.json.
type txChecker struct {
	jwksURL, issuer, audience, format string
}

// check validates raw per RFC 8417 and SSF 1.0 section 4.1: signature by a
// key of /jwks.json (RS256, the interoperability profile's "Event
// Signatures"), typ secevent+jwt, kid, iss, aud, iat, jti, no sub, no exp,
// exactly one event, sub_id of the expected format; for session-revoked,
// txn and the CAEP members.
func (c txChecker) check(raw string) txSET {
	var r txSET
	fail := func(format string, args ...any) txSET {
		r.Err = fmt.Sprintf(format, args...)
		return r
	}
	jws, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return fail("parse: %v", err)
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != "secevent+jwt" {
		return fail("typ = %q, want secevent+jwt", typ)
	}
	if h.KeyID == "" {
		return fail("no kid")
	}
	resp, err := http.Get(c.jwksURL)
	if err != nil {
		return fail("jwks: %v", err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		return fail("jwks: %v", err)
	}
	keys := set.Key(h.KeyID)
	if len(keys) == 0 {
		return fail("kid %q not in /jwks.json", h.KeyID)
	}
	payload, err := jws.Verify(keys[0].Key)
	if err != nil {
		return fail("signature: %v", err)
	}
	var claims map[string]json.RawMessage
	if err := json.Unmarshal(payload, &claims); err != nil {
		return fail("claims: %v", err)
	}
	str := func(name string) string {
		var s string
		json.Unmarshal(claims[name], &s)
		return s
	}
	if got := str("iss"); got != c.issuer {
		return fail("iss = %q, want %q", got, c.issuer)
	}
	if got := str("aud"); got != c.audience {
		return fail("aud = %s, want %q", claims["aud"], c.audience)
	}
	var iat float64
	if err := json.Unmarshal(claims["iat"], &iat); err != nil || time.Since(time.Unix(int64(iat), 0)).Abs() > 5*time.Minute {
		return fail("iat = %s, want a time near now", claims["iat"])
	}
	if r.JTI = str("jti"); r.JTI == "" {
		return fail("no jti")
	}
	for _, banned := range []string{"sub", "exp"} {
		if _, ok := claims[banned]; ok {
			return fail("claim %q is present (SSF 1.0 section 4.1: MUST NOT)", banned)
		}
	}
	var events map[string]map[string]any
	if err := json.Unmarshal(claims["events"], &events); err != nil || len(events) != 1 {
		return fail("events = %s, want exactly one event", claims["events"])
	}
	for k, v := range events {
		r.Event, r.Body = k, v
	}
	if err := json.Unmarshal(claims["sub_id"], &r.SubID); err != nil {
		return fail("sub_id = %s: %v", claims["sub_id"], err)
	}
	r.Txn = str("txn")
	switch r.Event {
	case txVerification:
		if r.SubID["format"] != "opaque" || r.SubID["id"] == "" || len(r.SubID) != 2 {
			return fail("verification sub_id = %v, want opaque with the stream_id", r.SubID)
		}
	case txSessionRevoked:
		if err := c.checkSubID(r.SubID); err != nil {
			return fail("sub_id: %v", err)
		}
		if r.Txn == "" {
			return fail("no txn")
		}
		if _, ok := r.Body["event_timestamp"].(float64); !ok {
			return fail("event_timestamp = %v", r.Body["event_timestamp"])
		}
		switch r.Body["initiating_entity"] {
		case "admin", "user", "policy", "system":
		default:
			return fail("initiating_entity = %v", r.Body["initiating_entity"])
		}
		reason, _ := r.Body["reason_admin"].(map[string]any)
		if en, _ := reason["en"].(string); en == "" {
			return fail("reason_admin = %v, want a non-empty en", r.Body["reason_admin"])
		}
	default:
		return fail("unexpected event %q", r.Event)
	}
	return r
}

// checkSubID checks sub_id against RFC 9493 section 3.2 for the format.
func (c txChecker) checkSubID(s map[string]string) error {
	if s["format"] != c.format {
		return fmt.Errorf("format %q, want %q", s["format"], c.format)
	}
	switch c.format {
	case "iss_sub":
		if s["iss"] != c.issuer || s["sub"] == "" || len(s) != 3 {
			return fmt.Errorf("%v is not iss_sub of %s", s, c.issuer)
		}
	case "email":
		if _, err := mail.ParseAddress(s["email"]); err != nil || len(s) != 2 {
			return fmt.Errorf("%v is not an email subject", s)
		}
	case "opaque":
		if s["id"] == "" || len(s) != 2 {
			return fmt.Errorf("%v is not an opaque subject", s)
		}
	}
	return nil
}

// txReceiver is an RFC 8935 push endpoint on loopback: it answers every
// POST by its script (the last code repeats; 0 hangs until the request is
// cancelled) and records the SET it received, checked.
type txReceiver struct {
	checker txChecker
	auth    string // expected Authorization header
	script  []int
	errBody string // body of a 400
	srv     *httptest.Server

	mu       sync.Mutex
	requests int
	sets     []txSET
}

func newTxReceiver(t testing.TB, auth string, script ...int) *txReceiver {
	p := &txReceiver{auth: auth, script: script}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(p.srv.CloseClientConnections)
	t.Cleanup(p.srv.Close)
	return p
}

func (p *txReceiver) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	var s txSET
	switch {
	case r.Method != http.MethodPost:
		s.Err = "method " + r.Method
	case r.Header.Get("Content-Type") != "application/secevent+jwt":
		s.Err = "Content-Type " + r.Header.Get("Content-Type")
	case r.Header.Get("Authorization") != p.auth:
		s.Err = "Authorization header " + r.Header.Get("Authorization")
	default:
		s = p.checker.check(string(body))
	}
	p.mu.Lock()
	n := p.requests
	p.requests++
	p.sets = append(p.sets, s)
	p.mu.Unlock()
	code := p.script[min(n, len(p.script)-1)]
	switch code {
	case 0:
		<-r.Context().Done()
		return
	case http.StatusBadRequest:
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		io.WriteString(w, p.errBody)
		return
	}
	w.WriteHeader(code)
}

func (p *txReceiver) snapshot() (int, []txSET) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.requests, append([]txSET(nil), p.sets...)
}

// txSecretFile writes content to a new file and returns its path.
func txSecretFile(t testing.TB, name, content string) string {
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// txRP is the configuration of an SSF relying party.
func txRP(id string, s config.SSFReceiver) config.RelyingParty {
	return config.RelyingParty{ID: id, Name: "SSF " + id, SSF: &s}
}

// txCall sends a JSON request with a bearer token (none when token is
// empty) and decodes a JSON answer into out (when not nil).
func txCall(t testing.TB, client *http.Client, method, url, token string, body, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %d %s: %v", method, url, resp.StatusCode, b, err)
		}
	}
	return resp.StatusCode
}

// txPollAnswer is the body of an RFC 8936 poll response.
type txPollAnswer struct {
	Sets          map[string]string `json:"sets"`
	MoreAvailable bool              `json:"moreAvailable"`
}

var errTxNoSET = errors.New("no SET yet")
