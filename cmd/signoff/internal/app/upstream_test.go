package app

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"

	"github.com/signoff/signoff/cmd/signoff/internal/config"
	"github.com/signoff/signoff/events"
	"github.com/signoff/signoff/events/eventstest"
)

// upstreamOP is an independent OpenID Provider in the test: it signs
// logout tokens with go-jose directly, per OpenID Connect Back-Channel
// Logout 1.0 section 2.4, and serves its JWKS on loopback.
type upstreamOP struct {
	issuer string
	key    *rsa.PrivateKey
	srv    *httptest.Server
}

const upstreamClientID = "signoff-at-corp"

func newUpstreamOP(t *testing.T) *upstreamOP {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	op := &upstreamOP{key: key}
	op.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: "op-1", Algorithm: "RS256", Use: "sig"}}}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(set)
	}))
	t.Cleanup(op.srv.Close)
	op.issuer = op.srv.URL + "/realms/corp"
	return op
}

// claims are valid logout token claims for sub and sid (either may be "").
func (op *upstreamOP) claims(sub, sid string) map[string]any {
	now := time.Now()
	c := map[string]any{
		"iss": op.issuer, "aud": upstreamClientID, "iat": now.Unix(), "exp": now.Add(2 * time.Minute).Unix(),
		"jti":    uuid.NewString(),
		"events": map[string]any{"http://schemas.openid.net/event/backchannel-logout": map[string]any{}},
	}
	if sub != "" {
		c["sub"] = sub
	}
	if sid != "" {
		c["sid"] = sid
	}
	return c
}

// sign signs claims with key (the OP's unless another is given).
func (op *upstreamOP) sign(t *testing.T, claims map[string]any, key *rsa.PrivateKey) string {
	t.Helper()
	if key == nil {
		key = op.key
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: key, KeyID: "op-1"}},
		(&jose.SignerOptions{}).WithType("logout+jwt"))
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(claims)
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

// postToken POSTs a logout token to signoff's back-channel URI of upstream
// id, as the OP does (section 2.5), and returns the status, the error
// body and the Cache-Control header.
func postToken(t *testing.T, base, id, raw string) (int, map[string]string, string) {
	t.Helper()
	resp, err := http.PostForm(base+UpstreamPath(id), url.Values{"logout_token": {raw}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var e map[string]string
	json.Unmarshal(body, &e)
	return resp.StatusCode, e, resp.Header.Get("Cache-Control")
}

// startUpstream starts signoff on the address of its public URL with the
// OIDC RPs, the SAML SPs (browser SPs in redirect mode), the extra RPs and
// the upstream "corp" of op; edit changes the configuration before it is
// validated.
func startUpstream(t *testing.T, deadline time.Duration, op *upstreamOP, rps []*testRP, sps []*samlSP, edit func(*config.Config)) (*App, string) {
	t.Helper()
	cfg := testConfig(t, deadline, rps...)
	dir := t.TempDir()
	for _, sp := range sps {
		cfg.RelyingParties = append(cfg.RelyingParties, sp.config(t, dir, ""))
	}
	cfg.Upstreams = []config.Upstream{{ID: "corp", Issuer: op.issuer, ClientID: upstreamClientID, JWKSURI: op.srv.URL + "/jwks"}}
	if edit != nil {
		edit(cfg)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen = l.Addr().String()
	l.Close()
	cfg.PublicURL = "http://" + cfg.Listen
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a := startApp(t, cfg, rps...)
	for _, sp := range sps {
		sp.signoff = cfg.PublicURL
	}
	return a, cfg.PublicURL
}

// joinUpstream registers a sign-in resting on upstream corp session upSID.
func (c *client) joinUpstream(session, subject, rp, upSID string, oidcSID string, saml *events.SAMLSession) {
	ev := events.SessionJoined{EventID: uuid.NewString(), OccurredAt: time.Now().UTC(), SessionID: session, Subject: subject, RPID: rp,
		SAML: saml, Upstream: &events.Upstream{ID: "corp", SID: upSID}}
	if oidcSID != "" {
		ev.OIDC = &events.OIDCSession{SID: oidcSID}
	}
	c.publish(events.SubjectSessionJoined, ev)
}

// requested counts the logout.requested events on the bus.
func (c *client) requested() int {
	c.t.Helper()
	var n int
	eventstest.EventuallyErr(c.t, 30*time.Second, func() error {
		stored, err := c.stored(events.SubjectLogoutRequested)
		n = len(stored)
		return err
	})
	return n
}

// jtiOf is the jti claim of a compact JWS.
func jtiOf(raw string) string {
	var c struct {
		JTI string `json:"jti"`
	}
	decodeSegment(splitJWT(raw)[1], &c)
	return c.JTI
}

// TestUpstreamBackchannelEndToEnd: a logout token of the upstream OP,
// signed by the test with go-jose, ends exactly the signoff sessions that
// joined with its sid — at an OIDC back-channel RP (a token with the RP's
// own sid, verified by go-oidc), a SOAP SAML SP (a LogoutRequest with the
// session's NameID and SessionIndex) and a front-channel RP (a participant
// that no browser confirms: timed_out, reported as such). The 200 comes
// with Cache-Control: no-store; the same token again is a replay (400) and
// starts nothing; a sub-only token then ends the user's other session on
// that upstream, and leaves another user's alone.
func TestUpstreamBackchannelEndToEnd(t *testing.T) {
	op := newUpstreamOP(t)
	wiki := newTestRP(t, "wiki", "RS256")
	payroll := newSAMLSP(t, "payroll", true)
	fc := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(fc.Close)
	a, base := startUpstream(t, 6*time.Second, op, []*testRP{wiki}, []*samlSP{payroll}, func(cfg *config.Config) {
		cfg.RelyingParties = append(cfg.RelyingParties, config.RelyingParty{ID: "blog", Name: "Blog", OIDC: &config.OIDC{
			ClientID: "blog", FrontchannelLogoutURI: fc.URL + "/fc", LogoutTokenAlg: "RS256", LogoutTokenTyp: "logout+jwt"}})
	})
	c := appClient(t, a)
	c.joinUpstream("s1", "alice", "wiki", "up-A", "wiki-s1", nil)
	c.joinUpstream("s1", "alice", "payroll", "up-A", "", &events.SAMLSession{NameID: "alice-pid",
		Format: config.NameIDPersistent, SessionIndex: "_s1"})
	c.joinUpstream("s1", "alice", "blog", "up-A", "blog-s1", nil)
	c.joinUpstream("s2", "alice", "wiki", "up-B", "wiki-s2", nil)
	c.join("s3", "bob", "wiki", "wiki-s3")
	waitSessions(t, a, "s1", 3)
	waitSessions(t, a, "s2", 1)
	waitSessions(t, a, "s3", 1)
	before := c.requested()

	raw := op.sign(t, op.claims("alice", "up-A"), nil)
	status, body, cc := postToken(t, base, "corp", raw)
	if status != http.StatusOK || cc != "no-store" {
		t.Fatalf("token with sid: %d %v, Cache-Control %q", status, body, cc)
	}
	// The 200 came after the logout.requested was durably published.
	if n := c.requested(); n != before+1 {
		t.Fatalf("%d logout.requested after the 200, want %d", n, before+1)
	}
	_, logoutID := UpstreamLogoutIDs("corp", jtiOf(raw))
	ev := c.waitCompleted(logoutID, 30*time.Second)
	want := map[string]struct {
		adapter events.Adapter
		outcome events.Outcome
	}{
		"wiki":    {events.AdapterBackchannel, events.OutcomeSucceeded},
		"payroll": {events.AdapterSAML, events.OutcomeSucceeded},
		"blog":    {events.AdapterFrontchannel, events.OutcomeTimedOut},
	}
	if len(ev.Participants) != len(want) {
		t.Errorf("participants %+v", ev.Participants)
	}
	for id, w := range want {
		if p := participant(ev, id); p.Adapter != w.adapter || p.Outcome != w.outcome {
			t.Errorf("%s: %+v, want %s %s", id, p, w.adapter, w.outcome)
		}
	}
	if _, toks := wiki.snapshot(); len(toks) != 1 || !toks[0].Valid || toks[0].SID != "wiki-s1" || toks[0].Sub != "alice" {
		t.Errorf("wiki tokens %+v, want one valid token for sid wiki-s1", toks)
	}
	if reqs, _, errs := payroll.snapshot(); len(errs) > 0 || len(reqs) != 1 || reqs[0].NameID.Value != "alice-pid" ||
		len(reqs[0].SessionIndexes) != 1 || reqs[0].SessionIndexes[0] != "_s1" {
		t.Errorf("payroll requests %+v, errors %v", reqs, errs)
	}
	waitSessions(t, a, "s1", 0)
	for _, s := range []string{"s2", "s3"} {
		if n, _ := a.Store().SessionCount(context.Background(), s); n != 1 {
			t.Errorf("session %s: %d RP sessions left, want 1", s, n)
		}
	}

	// The OP sends the same token again: a replay, refused; nothing new.
	status, body, _ = postToken(t, base, "corp", raw)
	if status != http.StatusBadRequest || body["error"] != "invalid_request" || !strings.Contains(body["error_description"], "replayed") {
		t.Errorf("replayed token: %d %v", status, body)
	}
	if n := c.requested(); n != before+1 {
		t.Errorf("a replayed token published a logout.requested (%d)", n)
	}

	// sub only: every session of alice resting on corp (s2), not bob's.
	raw = op.sign(t, op.claims("alice", ""), nil)
	if status, body, _ := postToken(t, base, "corp", raw); status != http.StatusOK {
		t.Fatalf("sub-only token: %d %v", status, body)
	}
	_, logoutID = UpstreamLogoutIDs("corp", jtiOf(raw))
	ev = c.waitCompleted(logoutID, 30*time.Second)
	if p := participant(ev, "wiki"); len(ev.Participants) != 1 || p.Outcome != events.OutcomeSucceeded {
		t.Errorf("sub-only logout participants %+v", ev.Participants)
	}
	if _, toks := wiki.snapshot(); len(toks) != 2 || toks[1].SID != "wiki-s2" {
		t.Errorf("wiki tokens %+v, want a second one for wiki-s2", toks)
	}
	waitSessions(t, a, "s2", 0)
	if n, _ := a.Store().SessionCount(context.Background(), "s3"); n != 1 {
		t.Errorf("bob's session ended by alice's upstream logout")
	}

	// A sid that no session.joined carried: a truthful, empty logout.
	raw = op.sign(t, op.claims("", "up-unknown"), nil)
	if status, body, _ := postToken(t, base, "corp", raw); status != http.StatusOK {
		t.Fatalf("unknown sid: %d %v", status, body)
	}
	_, logoutID = UpstreamLogoutIDs("corp", jtiOf(raw))
	if ev := c.waitCompleted(logoutID, 30*time.Second); len(ev.Participants) != 0 || !strings.Contains(ev.Detail, `upstream "corp" session "up-unknown"`) {
		t.Errorf("unknown sid completed %+v", ev)
	}
}

// TestUpstreamBackchannelRejects: the receiver suite's negatives (bad
// signature, wrong iss, wrong aud, no events claim, a nonce, expired, no
// sub or sid) are answered 400 invalid_request with a description (section
// 2.8), an unknown upstream 404, and none publishes a logout.requested or
// ends a session.
func TestUpstreamBackchannelRejects(t *testing.T) {
	op := newUpstreamOP(t)
	wiki := newTestRP(t, "wiki", "RS256")
	a, base := startUpstream(t, 5*time.Second, op, []*testRP{wiki}, nil, nil)
	c := appClient(t, a)
	c.joinUpstream("s1", "alice", "wiki", "up-A", "wiki-s1", nil)
	waitSessions(t, a, "s1", 1)
	before := c.requested()
	foreign, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	edit := func(f func(map[string]any)) map[string]any {
		cl := op.claims("alice", "up-A")
		f(cl)
		return cl
	}
	for _, tc := range []struct {
		name   string
		raw    string
		id     string
		status int
		desc   string
	}{
		{"bad signature", op.sign(t, op.claims("alice", "up-A"), foreign), "corp", 400, "signature"},
		{"wrong iss", op.sign(t, edit(func(c map[string]any) { c["iss"] = "https://evil.example" }), nil), "corp", 400, "iss"},
		{"wrong aud", op.sign(t, edit(func(c map[string]any) { c["aud"] = "someone-else" }), nil), "corp", 400, "aud"},
		{"no events", op.sign(t, edit(func(c map[string]any) { delete(c, "events") }), nil), "corp", 400, "events"},
		{"nonce", op.sign(t, edit(func(c map[string]any) { c["nonce"] = "n-1" }), nil), "corp", 400, "nonce"},
		{"expired", op.sign(t, edit(func(c map[string]any) {
			c["iat"], c["exp"] = time.Now().Add(-9*time.Minute).Unix(), time.Now().Add(-5*time.Minute).Unix()
		}), nil), "corp", 400, "exp"},
		{"neither sub nor sid", op.sign(t, op.claims("", ""), nil), "corp", 400, "sid"},
		{"not a JWT", "not-a-token", "corp", 400, ""},
		{"unknown upstream", op.sign(t, op.claims("alice", "up-A"), nil), "elsewhere", 404, `no upstream "elsewhere"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body, cc := postToken(t, base, tc.id, tc.raw)
			if status != tc.status || cc != "no-store" {
				t.Errorf("status %d (Cache-Control %q), want %d: %v", status, cc, tc.status, body)
			}
			if body["error"] != "invalid_request" || !strings.Contains(body["error_description"], tc.desc) || body["error_description"] == "" {
				t.Errorf("body %v, want invalid_request mentioning %q", body, tc.desc)
			}
		})
	}
	if n := c.requested(); n != before {
		t.Errorf("refused tokens published %d logout.requested", n-before)
	}
	if n, _ := a.Store().SessionCount(context.Background(), "s1"); n != 1 {
		t.Errorf("a refused token ended the session (%d left)", n)
	}
	if _, toks := wiki.snapshot(); len(toks) != 0 {
		t.Errorf("wiki got %d tokens", len(toks))
	}
}

// TestFanoutAlwaysEndToEnd: RPs configured fanout: always take part in a
// logout of a subject signoff knows no session of: the OIDC RP gets a
// logout token with sub and no sid, verified by go-oidc's VerifyLogout; the
// SAML SP a LogoutRequest whose NameID is the subject (persistent, no
// SessionIndex); logout.completed reports both, with their names and
// adapters. A plain RP without a session is not a participant.
func TestFanoutAlwaysEndToEnd(t *testing.T) {
	op := newUpstreamOP(t)
	crm := newTestRP(t, "crm", "RS256")
	wiki := newTestRP(t, "wiki", "RS256")
	hr := newSAMLSP(t, "hr", true)
	a, base := startUpstream(t, 10*time.Second, op, []*testRP{crm, wiki}, []*samlSP{hr}, func(cfg *config.Config) {
		cfg.Admin.Token = "admin-secret"
		for i := range cfg.RelyingParties {
			rp := &cfg.RelyingParties[i]
			switch rp.ID {
			case "crm":
				rp.Fanout, rp.OIDC.BackchannelLogoutSessionRequired = config.FanoutAlways, false
			case "hr":
				rp.Fanout, rp.SAML.NameID = config.FanoutAlways, config.NameIDSubject
			}
		}
	})
	c := appClient(t, a)
	c.publish(events.SubjectLogoutRequested, events.LogoutRequested{EventID: uuid.NewString(), LogoutID: "fan-1",
		OccurredAt: time.Now().UTC(), Subject: "carol", Initiator: events.InitiatorAdmin, Scope: events.ScopeGlobal})
	ev := c.waitCompleted("fan-1", 30*time.Second)
	if ev.Outcome != events.StatusComplete || len(ev.Participants) != 2 || ev.Detail != "" {
		t.Errorf("completed %+v", ev)
	}
	for id, w := range map[string][2]string{"crm": {"RP crm", string(events.AdapterBackchannel)}, "hr": {"SP hr", string(events.AdapterSAML)}} {
		if p := participant(ev, id); p.Name != w[0] || string(p.Adapter) != w[1] || p.Outcome != events.OutcomeSucceeded {
			t.Errorf("%s: %+v", id, p)
		}
	}
	if _, toks := crm.snapshot(); len(toks) != 1 || !toks[0].Valid || toks[0].Sub != "carol" || toks[0].SID != "" {
		t.Errorf("crm tokens %+v, want one valid sub-only token for carol", toks)
	}
	if n, _ := wiki.snapshot(); n != 0 {
		t.Errorf("wiki (no fanout, no session) got %d requests", n)
	}
	reqs, _, errs := hr.snapshot()
	if len(errs) > 0 || len(reqs) != 1 {
		t.Fatalf("hr requests %d, errors %v", len(reqs), errs)
	}
	if n := reqs[0].NameID; n.Value != "carol" || n.Format != config.NameIDPersistent || len(reqs[0].SessionIndexes) != 0 {
		t.Errorf("hr LogoutRequest NameID %+v, SessionIndexes %v", n, reqs[0].SessionIndexes)
	}
	// The status the page shows lists the same participants.
	req, _ := http.NewRequest(http.MethodGet, base+"/api/logouts/fan-1", nil)
	req.Header.Set("Authorization", "Bearer admin-secret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var view struct {
		Status       events.Status `json:"status"`
		Participants []struct {
			RPID, Name string
			Adapter    events.Adapter
			Outcome    events.Outcome
		} `json:"participants"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&view); err != nil || view.Status != events.StatusComplete || len(view.Participants) != 2 ||
		view.Participants[0].Name != "RP crm" || view.Participants[0].Adapter != events.AdapterBackchannel || view.Participants[0].Outcome != events.OutcomeSucceeded ||
		view.Participants[1].Name != "SP hr" || view.Participants[1].Adapter != events.AdapterSAML || view.Participants[1].Outcome != events.OutcomeSucceeded {
		t.Errorf("status view %+v (%v)", view, err)
	}
}

// TestFanoutBrowserSAML: in a logout from the browser, a browser SAML SP
// with fanout: always and no known session is signed out by the page's
// redirect hop with a LogoutRequest whose NameID is the user's subject
// (resolved from the session of the cookie), and its signed Success
// counts.
func TestFanoutBrowserSAML(t *testing.T) {
	op := newUpstreamOP(t)
	wiki := newTestRP(t, "wiki", "RS256")
	hr := newSAMLSP(t, "hr", false)
	a, base := startUpstream(t, 8*time.Second, op, []*testRP{wiki}, []*samlSP{hr}, func(cfg *config.Config) {
		for i := range cfg.RelyingParties {
			if rp := &cfg.RelyingParties[i]; rp.ID == "hr" {
				rp.Fanout, rp.SAML.NameID = config.FanoutAlways, config.NameIDSubject
			}
		}
	})
	c := appClient(t, a)
	c.join("sess-h", "hank", "wiki", "wiki-h")
	waitSessions(t, a, "sess-h", 1)
	browser := browserClient(t, base, "sess-h")
	resp, page := get(t, browser, base+"/logout")
	if !strings.HasPrefix(resp.Request.URL.Path, "/logout/") {
		t.Fatalf("/logout ended at %s", resp.Request.URL)
	}
	id := strings.TrimPrefix(resp.Request.URL.Path, "/logout/")
	confirmLocal(t, browser, base, id)
	m := hopHref.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no hop to the fan-out SP on the page:\n%s", page)
	}
	if resp, _ = get(t, browser, html.UnescapeString(m[1])); resp.Request.URL.Path != "/logout/"+id {
		t.Fatalf("the chain ended at %s", resp.Request.URL)
	}
	status, outcomes := waitEnded(t, browser, base, id)
	if status != events.StatusComplete || outcomes["hr"] != events.OutcomeSucceeded || outcomes["wiki"] != events.OutcomeSucceeded {
		t.Errorf("logout: %s %v", status, outcomes)
	}
	reqs, _, errs := hr.snapshot()
	if len(errs) > 0 || len(reqs) != 1 || reqs[0].NameID.Value != "hank" || reqs[0].NameID.Format != config.NameIDPersistent || len(reqs[0].SessionIndexes) != 0 {
		t.Errorf("SP: requests %+v errors %v", reqs, errs)
	}
}

// TestUpstreamTokenAgainAfterRestart: the jti memory is per process, so
// after a restart the OP's same token is accepted again (200) — and starts
// nothing: its logout_id is that of the first delivery, so the RP gets no
// second logout token and logout.completed is not published twice.
func TestUpstreamTokenAgainAfterRestart(t *testing.T) {
	op := newUpstreamOP(t)
	wiki := newTestRP(t, "wiki", "RS256")
	a, base := startUpstream(t, 5*time.Second, op, []*testRP{wiki}, nil, nil)
	c := appClient(t, a)
	c.joinUpstream("s1", "alice", "wiki", "up-A", "wiki-s1", nil)
	c.join("s2", "bob", "wiki", "wiki-s2")
	waitSessions(t, a, "s1", 1)
	waitSessions(t, a, "s2", 1)
	raw := op.sign(t, op.claims("alice", "up-A"), nil)
	if status, body, _ := postToken(t, base, "corp", raw); status != http.StatusOK {
		t.Fatalf("first delivery: %d %v", status, body)
	}
	_, logoutID := UpstreamLogoutIDs("corp", jtiOf(raw))
	c.waitCompleted(logoutID, 30*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	a2 := startApp(t, a.cfg, wiki)
	c2 := appClient(t, a2)
	if status, body, _ := postToken(t, base, "corp", raw); status != http.StatusOK {
		t.Fatalf("after the restart: %d %v", status, body)
	}
	// A later logout, applied after the repeated request (ordered intake).
	c2.logout("marker", "s2")
	c2.waitCompleted("marker", 30*time.Second)
	if _, count := c2.completed(); count[logoutID] != 1 {
		t.Errorf("logout.completed of %s published %d times", logoutID, count[logoutID])
	}
	if _, toks := wiki.snapshot(); len(toks) != 2 || toks[0].SID != "wiki-s1" || toks[1].SID != "wiki-s2" {
		t.Errorf("wiki tokens %+v, want wiki-s1 once, then the marker's wiki-s2", toks)
	}
}
