package ssfin

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/signoff/signoff/events"
)

// TestPushAccepted: SETs signed with go-jose by the test transmitter are
// answered 202 and become the logout.requested their event asks for.
func TestPushAccepted(t *testing.T) {
	complexSession := map[string]any{"format": "complex",
		"session": map[string]any{"format": "opaque", "id": "up-sess-1"},
		"user":    issSub("https://idp.test", "alice"),
		"tenant":  map[string]any{"format": "opaque", "id": "t1"}}
	for _, tc := range []struct {
		name, event  string
		ev, subID    any
		subjectClaim string
		alg          jose.SignatureAlgorithm
		wantSubject  string
		wantSID      string
		wantReason   string
	}{
		{name: "session-revoked user iss_sub", event: EventSessionRevoked, ev: map[string]any{"initiating_entity": "admin", "reason_admin": map[string]string{"en": "Account locked"}},
			subID: issSub("https://idp.test", "alice"), wantSubject: "alice", wantReason: "Shared Signals CAEP session-revoked from transmitter idp: Account locked"},
		{name: "session-revoked complex session", event: EventSessionRevoked, ev: map[string]any{}, subID: complexSession,
			wantSubject: "alice", wantSID: "up-sess-1", wantReason: "Shared Signals CAEP session-revoked from transmitter idp"},
		{name: "session-revoked simple opaque is a session", event: EventSessionRevoked, ev: map[string]any{},
			subID: map[string]any{"format": "opaque", "id": "dMTlD|1600802906337.16|16008.16"}, wantSID: "dMTlD|1600802906337.16|16008.16"},
		{name: "session-revoked complex user only", event: EventSessionRevoked, ev: map[string]any{},
			subID: map[string]any{"format": "complex", "user": issSub("https://idp.test", "bob")}, wantSubject: "bob"},
		{name: "session-revoked email by email", event: EventSessionRevoked, ev: map[string]any{}, subjectClaim: SubjectClaimEmail,
			subID: map[string]any{"format": "email", "email": "carol@example.com"}, wantSubject: "carol@example.com"},
		{name: "account-disabled", event: EventAccountDisabled, ev: map[string]any{"reason": "hijacking"},
			subID: issSub("https://idp.test", "dave"), alg: jose.ES256, wantSubject: "dave", wantReason: "Shared Signals RISC account-disabled from transmitter idp"},
		{name: "account-purged complex email", event: EventAccountPurged, ev: map[string]any{}, subjectClaim: SubjectClaimEmail,
			subID: map[string]any{"format": "complex", "user": map[string]any{"format": "email", "email": "erin@example.com"}}, wantSubject: "erin@example.com"},
		{name: "credential-compromise opaque user", event: EventCredentialCompromise, ev: map[string]any{"credential_type": "password"},
			subID: map[string]any{"format": "opaque", "id": "user-77"}, alg: jose.PS256, wantSubject: "user-77"},
		{name: "RISC sessions-revoked EdDSA", event: EventSessionsRevoked, ev: map[string]any{}, alg: jose.EdDSA,
			subID: issSub("https://idp.test", "gina"), wantSubject: "gina", wantReason: "Shared Signals RISC sessions-revoked from transmitter idp"},
		{name: "account-disabled aliases", event: EventAccountDisabled, ev: map[string]any{}, subjectClaim: SubjectClaimEmail,
			subID:       map[string]any{"format": "aliases", "identifiers": []any{issSub("https://idp.test", "x"), map[string]any{"format": "email", "email": "frank@example.com"}}},
			wantSubject: "frank@example.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(tr *Transmitter) { tr.SubjectClaim = tc.subjectClaim })
			f.tt.publish("e1", testKeys()["ec"])
			f.tt.publish("d1", testKeys()["ed"])
			c := f.tt.claims(tc.event, tc.ev, tc.subID)
			raw := sign(t, c, func(o *signOpts) {
				switch tc.alg {
				case jose.ES256:
					o.alg, o.key, o.kid = jose.ES256, testKeys()["ec"], "e1"
				case jose.EdDSA:
					o.alg, o.key, o.kid = jose.EdDSA, testKeys()["ed"], "d1"
				case "":
				default:
					o.alg = tc.alg
				}
			})
			code, e, _ := f.push(t, raw, testToken, setType)
			if code != http.StatusAccepted {
				t.Fatalf("status %d, %+v", code, e)
			}
			reqs := f.logouts.all()
			if len(reqs) != 1 {
				t.Fatalf("%d logout requests, want 1", len(reqs))
			}
			req := reqs[0]
			if req.Subject != tc.wantSubject || req.Initiator != events.InitiatorIdP || req.Scope != events.ScopeGlobal ||
				req.LogoutID != LogoutID("idp", c["jti"].(string)) || !req.OccurredAt.Equal(time.Unix(c["iat"].(int64), 0)) {
				t.Errorf("logout request %+v", req)
			}
			if tc.wantSID == "" && req.Upstream != nil {
				t.Errorf("upstream %+v for a user-wide logout", req.Upstream)
			}
			if tc.wantSID != "" && (req.Upstream == nil || req.Upstream.ID != "idp" || req.Upstream.SID != tc.wantSID) {
				t.Errorf("upstream %+v, want {idp %s}", req.Upstream, tc.wantSID)
			}
			if tc.wantReason != "" && req.Reason != tc.wantReason {
				t.Errorf("reason %q, want %q", req.Reason, tc.wantReason)
			}
			if f.jtis.len() != 1 {
				t.Errorf("%d jtis remembered, want 1", f.jtis.len())
			}
		})
	}
}

// TestPushRefused: every bad SET or request gets its RFC 8935 error code,
// publishes nothing and remembers no jti.
func TestPushRefused(t *testing.T) {
	user := issSub("https://idp.test", "alice")
	valid := func(tt *testTransmitter) map[string]any {
		return tt.claims(EventSessionRevoked, map[string]any{}, user)
	}
	for _, tc := range []struct {
		name        string
		raw         func(t *testing.T, tt *testTransmitter) string
		token, ctyp string
		status      int
		code, desc  string
	}{
		{name: "wrong typ", raw: func(t *testing.T, tt *testTransmitter) string {
			return sign(t, valid(tt), func(o *signOpts) { o.typ = "JWT" })
		}, code: CodeInvalidRequest, desc: "not secevent+jwt"},
		{name: "no typ", raw: func(t *testing.T, tt *testTransmitter) string {
			return sign(t, valid(tt), func(o *signOpts) { o.typ = "-" })
		}, code: CodeInvalidRequest, desc: "typ"},
		{name: "wrong aud", raw: func(t *testing.T, tt *testTransmitter) string {
			c := valid(tt)
			c["aud"] = []string{"https://other.test/ssf"}
			return sign(t, c)
		}, code: CodeInvalidAudience},
		{name: "wrong iss", raw: func(t *testing.T, tt *testTransmitter) string {
			c := valid(tt)
			c["iss"] = tt.issuer + "/other"
			return sign(t, c)
		}, code: CodeInvalidIssuer},
		{name: "unsigned alg none", raw: func(t *testing.T, tt *testTransmitter) string {
			return sign(t, valid(tt), func(o *signOpts) { o.alg = "none" })
		}, code: CodeInvalidRequest, desc: "not signed"},
		{name: "HS256", raw: func(t *testing.T, tt *testTransmitter) string {
			return sign(t, valid(tt), func(o *signOpts) { o.alg, o.key = jose.HS256, []byte("0123456789abcdef0123456789abcdef") })
		}, code: CodeInvalidKey},
		{name: "foreign key same kid", raw: func(t *testing.T, tt *testTransmitter) string {
			return sign(t, valid(tt), func(o *signOpts) { o.key = testKeys()["rsa-foreign"] })
		}, code: CodeInvalidKey, desc: "does not verify"},
		{name: "foreign key unknown kid", raw: func(t *testing.T, tt *testTransmitter) string {
			return sign(t, valid(tt), func(o *signOpts) { o.key, o.kid = testKeys()["rsa-foreign"], "k9" })
		}, code: CodeInvalidKey, desc: "no key with kid"},
		{name: "sub claim", raw: func(t *testing.T, tt *testTransmitter) string {
			c := valid(tt)
			c["sub"] = "alice"
			return sign(t, c)
		}, code: CodeInvalidRequest, desc: "sub claim"},
		{name: "exp claim", raw: func(t *testing.T, tt *testTransmitter) string {
			c := valid(tt)
			c["exp"] = time.Now().Add(time.Hour).Unix()
			return sign(t, c)
		}, code: CodeInvalidRequest, desc: "exp"},
		{name: "no iat", raw: func(t *testing.T, tt *testTransmitter) string {
			c := valid(tt)
			delete(c, "iat")
			return sign(t, c)
		}, code: CodeInvalidRequest, desc: "iat"},
		{name: "iat older than the jti memory", raw: func(t *testing.T, tt *testTransmitter) string {
			c := valid(tt)
			c["iat"] = time.Now().Add(-8 * 24 * time.Hour).Unix()
			return sign(t, c)
		}, code: CodeInvalidRequest, desc: "older"},
		{name: "no jti", raw: func(t *testing.T, tt *testTransmitter) string {
			c := valid(tt)
			delete(c, "jti")
			return sign(t, c)
		}, code: CodeInvalidRequest, desc: "jti"},
		{name: "unknown event type", raw: func(t *testing.T, tt *testTransmitter) string {
			return sign(t, tt.claims("https://schemas.openid.net/secevent/caep/event-type/token-claims-change", map[string]any{"claims": map[string]any{"role": "x"}}, user))
		}, code: CodeInvalidRequest, desc: "not supported"},
		{name: "two events", raw: func(t *testing.T, tt *testTransmitter) string {
			c := valid(tt)
			c["events"] = map[string]any{EventSessionRevoked: map[string]any{}, EventAccountDisabled: map[string]any{}}
			return sign(t, c)
		}, code: CodeInvalidRequest, desc: "2 events"},
		{name: "no sub_id", raw: func(t *testing.T, tt *testTransmitter) string {
			return sign(t, tt.claims(EventSessionRevoked, map[string]any{}, nil))
		}, code: CodeInvalidRequest, desc: "sub_id"},
		{name: "email subject with subject_claim sub", raw: func(t *testing.T, tt *testTransmitter) string {
			return sign(t, tt.claims(EventAccountDisabled, map[string]any{}, map[string]any{"format": "email", "email": "a@example.com"}))
		}, code: CodeInvalidRequest, desc: "subject_claim"},
		{name: "session not opaque", raw: func(t *testing.T, tt *testTransmitter) string {
			return sign(t, tt.claims(EventSessionRevoked, map[string]any{}, map[string]any{"format": "complex", "session": map[string]any{"format": "email", "email": "x@y"}}))
		}, code: CodeInvalidRequest, desc: "opaque"},
		{name: "not a JWS", raw: func(t *testing.T, tt *testTransmitter) string { return "hello" }, code: CodeInvalidRequest},
		{name: "wrong content type", raw: func(t *testing.T, tt *testTransmitter) string { return sign(t, valid(tt)) },
			ctyp: "application/jwt", code: CodeInvalidRequest, desc: "Content-Type"},
		{name: "bad bearer token", raw: func(t *testing.T, tt *testTransmitter) string { return sign(t, valid(tt)) },
			token: "push-token-0123456780", status: http.StatusUnauthorized, code: CodeAuthenticationFailed},
		{name: "no bearer token", raw: func(t *testing.T, tt *testTransmitter) string { return sign(t, valid(tt)) },
			token: "-", status: http.StatusUnauthorized, code: CodeAuthenticationFailed},
		{name: "too large", raw: func(t *testing.T, tt *testTransmitter) string { return strings.Repeat("a", MaxSETSize+1) },
			status: http.StatusRequestEntityTooLarge, code: CodeInvalidRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			token, ctyp, status := testToken, setType, http.StatusBadRequest
			if tc.token != "" {
				token = strings.TrimPrefix(tc.token, "-")
			}
			if tc.ctyp != "" {
				ctyp = tc.ctyp
			}
			if tc.status != 0 {
				status = tc.status
			}
			code, e, h := f.push(t, tc.raw(t, f.tt), token, ctyp)
			if code != status || e.Err != tc.code || !strings.Contains(e.Description, tc.desc) {
				t.Fatalf("got %d %+v, want %d %s (%q)", code, e, status, tc.code, tc.desc)
			}
			if status == http.StatusUnauthorized && !strings.HasPrefix(h.Get("WWW-Authenticate"), "Bearer") {
				t.Errorf("401 without WWW-Authenticate: Bearer")
			}
			if n := len(f.logouts.all()); n != 0 {
				t.Errorf("%d logouts published for a refused SET", n)
			}
			if f.jtis.len() != 0 {
				t.Errorf("a refused SET's jti was remembered")
			}
		})
	}
}

// TestPushReplay: the same SET pushed twice is accepted once; the second
// push is refused with invalid_request and publishes nothing more.
func TestPushReplay(t *testing.T) {
	f := newFixture(t)
	raw := sign(t, f.tt.claims(EventSessionRevoked, map[string]any{}, issSub("https://idp.test", "alice")))
	if code, e, _ := f.push(t, raw, testToken, setType); code != http.StatusAccepted {
		t.Fatalf("first push: %d %+v", code, e)
	}
	code, e, _ := f.push(t, raw, testToken, setType)
	if code != http.StatusBadRequest || e.Err != CodeInvalidRequest || !strings.Contains(e.Description, "already received") {
		t.Fatalf("replay: %d %+v", code, e)
	}
	if n := len(f.logouts.all()); n != 1 {
		t.Fatalf("%d logouts published, want 1", n)
	}
}

// TestPushVerificationAndStreamUpdated: a verification event is answered
// 202 and its state logged; a stream-updated event is accepted; neither
// publishes a logout.
func TestPushVerificationAndStreamUpdated(t *testing.T) {
	f := newFixture(t)
	stream := map[string]any{"format": "opaque", "id": "stream-1"}
	raw := sign(t, f.tt.claims(EventVerification, map[string]any{"state": "VGhpcyBpcyBhIHN0YXRl"}, stream))
	if code, e, _ := f.push(t, raw, testToken, setType); code != http.StatusAccepted {
		t.Fatalf("verification: %d %+v", code, e)
	}
	if !strings.Contains(f.logs.String(), "state=VGhpcyBpcyBhIHN0YXRl") {
		t.Errorf("the verification state is not in the log:\n%s", f.logs.String())
	}
	raw = sign(t, f.tt.claims(EventStreamUpdated, map[string]any{"status": "paused", "reason": "maintenance"}, stream))
	if code, e, _ := f.push(t, raw, testToken, setType); code != http.StatusAccepted {
		t.Fatalf("stream-updated: %d %+v", code, e)
	}
	if n := len(f.logouts.all()); n != 0 {
		t.Errorf("%d logouts published for verification and stream-updated", n)
	}
	if f.jtis.len() != 2 {
		t.Errorf("%d jtis remembered, want 2", f.jtis.len())
	}
}

// TestPushBusDown: when the logout cannot be published, the push gets 503
// with Retry-After and the jti is not remembered; the transmitter's retry
// of the same SET is then accepted and requests the same logout_id.
func TestPushBusDown(t *testing.T) {
	f := newFixture(t)
	f.logouts.fail = errors.New("nats: no responders")
	c := f.tt.claims(EventAccountDisabled, map[string]any{}, issSub("https://idp.test", "alice"))
	raw := sign(t, c)
	code, _, h := f.push(t, raw, testToken, setType)
	if code != http.StatusServiceUnavailable || h.Get("Retry-After") == "" {
		t.Fatalf("with the bus down: %d, Retry-After %q", code, h.Get("Retry-After"))
	}
	if f.jtis.len() != 0 {
		t.Fatal("the jti of an unpublished logout was remembered")
	}
	f.logouts.mu.Lock()
	f.logouts.fail = nil
	f.logouts.mu.Unlock()
	if code, e, _ := f.push(t, raw, testToken, setType); code != http.StatusAccepted {
		t.Fatalf("retry: %d %+v", code, e)
	}
	if reqs := f.logouts.all(); len(reqs) != 1 || reqs[0].LogoutID != LogoutID("idp", c["jti"].(string)) {
		t.Fatalf("logouts %+v", reqs)
	}
}

// TestKeysDiscoveryAndRotation: with discovery, the keys come from the
// jwks_uri of the transmitter configuration; a SET signed with a new kid
// refetches them once, and a second unknown kid within the refetch
// interval does not fetch again.
func TestKeysDiscoveryAndRotation(t *testing.T) {
	f := newFixture(t, func(tr *Transmitter) { tr.JWKSURI, tr.Discovery = "", true })
	user := issSub("https://idp.test", "alice")
	if code, e, _ := f.push(t, sign(t, f.tt.claims(EventAccountDisabled, map[string]any{}, user)), testToken, setType); code != http.StatusAccepted {
		t.Fatalf("first SET: %d %+v", code, e)
	}
	if n := f.tt.fetches.Load(); n != 1 {
		t.Fatalf("%d JWKS fetches, want 1", n)
	}
	f.tt.publish("k2", testKeys()["rsa-foreign"])
	f.advance(2 * time.Minute) // past the refetch interval
	raw := sign(t, f.tt.claims(EventAccountDisabled, map[string]any{}, user), func(o *signOpts) { o.key, o.kid = testKeys()["rsa-foreign"], "k2" })
	if code, e, _ := f.push(t, raw, testToken, setType); code != http.StatusAccepted {
		t.Fatalf("rotated key: %d %+v", code, e)
	}
	raw = sign(t, f.tt.claims(EventAccountDisabled, map[string]any{}, user), func(o *signOpts) { o.kid = "k3" })
	if code, e, _ := f.push(t, raw, testToken, setType); code != http.StatusBadRequest || e.Err != CodeInvalidKey {
		t.Fatalf("unknown kid: %d %+v", code, e)
	}
	if n := f.tt.fetches.Load(); n != 2 {
		t.Fatalf("%d JWKS fetches, want 2 (the refetch is rate-limited)", n)
	}
}

// TestDiscoveryIssuerMismatch: transmitter metadata naming another issuer
// is not trusted: the SET cannot be verified now (503), nothing happens.
func TestDiscoveryIssuerMismatch(t *testing.T) {
	f := newFixture(t, func(tr *Transmitter) { tr.JWKSURI, tr.Discovery = "", true })
	f.tt.mdIss = "https://evil.test"
	code, _, _ := f.push(t, sign(t, f.tt.claims(EventAccountDisabled, map[string]any{}, issSub("https://idp.test", "a"))), testToken, setType)
	if code != http.StatusServiceUnavailable || len(f.logouts.all()) != 0 || f.tt.fetches.Load() != 0 {
		t.Fatalf("status %d, %d logouts, %d JWKS fetches", code, len(f.logouts.all()), f.tt.fetches.Load())
	}
}

func TestConfigurationURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://tr.example.com":          "https://tr.example.com/.well-known/ssf-configuration",
		"https://tr.example.com/":         "https://tr.example.com/.well-known/ssf-configuration",
		"https://tr.example.com/issuer1":  "https://tr.example.com/.well-known/ssf-configuration/issuer1",
		"https://tr.example.com/issuer1/": "https://tr.example.com/.well-known/ssf-configuration/issuer1",
	} {
		if got, err := ConfigurationURL(in); err != nil || got != want {
			t.Errorf("ConfigurationURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
