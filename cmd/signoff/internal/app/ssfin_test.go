package app

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"

	"github.com/signoff/signoff/adapters/ssfin"
	"github.com/signoff/signoff/cmd/signoff/internal/config"
	"github.com/signoff/signoff/events"
	"github.com/signoff/signoff/events/eventstest"
)

const (
	ssfAudience = "https://auth.signoff.test/ssf"
	ssfToken    = "okta-push-token-0123456789"
)

var ssfKeys = sync.OnceValue(func() [2]*rsa.PrivateKey {
	var ks [2]*rsa.PrivateKey
	for i := range ks {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		ks[i] = k
	}
	return ks
})

// ssfTransmitter is an SSF transmitter implemented in the test: it signs
// SETs with go-jose directly (RFC 8417), serves its JWKS and its
// /.well-known/ssf-configuration, and an RFC 8936 poll endpoint.
type ssfTransmitter struct {
	srv *httptest.Server

	mu    sync.Mutex
	queue map[string]string // polled SETs by jti
	acks  []string
	polls int
}

func newSSFTransmitter(t *testing.T) *ssfTransmitter {
	st := &ssfTransmitter{queue: map[string]string{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /jwks.json", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &ssfKeys()[0].PublicKey, KeyID: "k1", Use: "sig", Algorithm: "RS256"}}})
	})
	mux.HandleFunc("GET /.well-known/ssf-configuration", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(map[string]any{"spec_version": "1_0", "issuer": st.srv.URL, "jwks_uri": st.srv.URL + "/jwks.json",
			"delivery_methods_supported": []string{"urn:ietf:rfc:8935", "urn:ietf:rfc:8936"}})
	})
	mux.HandleFunc("POST /poll", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Ack       []string `json:"ack"`
			MaxEvents int      `json:"maxEvents"`
		}
		if r.Header.Get("Authorization") != "Bearer poll-secret" || json.NewDecoder(r.Body).Decode(&req) != nil {
			http.Error(w, `{"err":"authentication_failed"}`, http.StatusUnauthorized)
			return
		}
		st.mu.Lock()
		defer st.mu.Unlock()
		st.polls++
		for _, a := range req.Ack {
			st.acks = append(st.acks, a)
			delete(st.queue, a)
		}
		json.NewEncoder(w).Encode(map[string]any{"sets": st.queue, "moreAvailable": false})
	})
	st.srv = httptest.NewServer(mux)
	t.Cleanup(st.srv.Close)
	return st
}

// set signs a SET of one event about subID; mod may change the claims
// before signing. key 1 is a key the transmitter never published.
func (st *ssfTransmitter) set(t *testing.T, event string, subID map[string]any, key int, typ string, mod func(map[string]any)) (raw, jti string) {
	t.Helper()
	jti = uuid.NewString()
	c := map[string]any{"iss": st.srv.URL, "aud": ssfAudience, "iat": time.Now().Unix(), "jti": jti, "sub_id": subID,
		"events": map[string]any{event: map[string]any{"reason_admin": map[string]string{"en": "test"}}}}
	if mod != nil {
		mod(c)
	}
	payload, _ := json.Marshal(c)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: ssfKeys()[key], KeyID: "k1"}},
		(&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
	if err != nil {
		t.Fatal(err)
	}
	obj, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	raw, err = obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return raw, jti
}

// ssfConfig adds transmitter okta (discovery, push token) to cfg.
func ssfConfig(t *testing.T, cfg *config.Config, st *ssfTransmitter, poll bool) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "okta.token")
	os.WriteFile(tokenFile, []byte(ssfToken+"\n"), 0o600)
	tr := config.SSFTransmitter{ID: "okta", Issuer: st.srv.URL, Audience: ssfAudience, Discovery: true,
		Auth: &config.SSFAuth{BearerTokenFile: tokenFile}, SubjectClaim: config.SSFSubjectSub}
	if poll {
		hdr := filepath.Join(dir, "poll.hdr")
		os.WriteFile(hdr, []byte("Bearer poll-secret\n"), 0o600)
		tr.Poll = &config.SSFPoll{EndpointURL: st.srv.URL + "/poll", Interval: config.Duration(time.Second),
			AuthorizationHeaderFile: hdr, MaxEvents: 10}
	}
	cfg.SSF.Transmitters = append(cfg.SSF.Transmitters, tr)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
}

// pushSET posts raw to signoff's /ssf/events with token.
func pushSET(t *testing.T, a *App, raw, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+a.Addr()+"/ssf/events", strings.NewReader(raw))
	req.Header.Set("Content-Type", "application/secevent+jwt")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var e struct {
		Err         string `json:"err"`
		Description string `json:"description"`
	}
	json.NewDecoder(resp.Body).Decode(&e)
	return resp.StatusCode, e.Err + ": " + e.Description
}

// logoutRequests are the logout.requested events on the bus.
func logoutRequests(t *testing.T, c *client) []events.LogoutRequested {
	t.Helper()
	var out []events.LogoutRequested
	for _, m := range c.received(events.SubjectLogoutRequested) {
		ev, err := events.Decode[events.LogoutRequested](m.Data())
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, ev)
	}
	return out
}

// TestSSFPushEndToEnd: a CAEP session-revoked SET for a user, signed with
// go-jose by a transmitter found by discovery, is pushed to a real signoff:
// 202, then the user's back-channel RP receives a logout token that
// go-oidc verifies, another user's session stays, and the saga says idp
// and names the event. The same SET pushed again is refused
// (invalid_request) and requests nothing new; forged and misaddressed SETs
// and a wrong bearer token change nothing.
func TestSSFPushEndToEnd(t *testing.T) {
	rp := newTestRP(t, "wiki", "RS256")
	st := newSSFTransmitter(t)
	cfg := testConfig(t, 10*time.Second, rp)
	ssfConfig(t, cfg, st, false)
	a := startApp(t, cfg, rp)
	c := appClient(t, a)
	c.join("sess-a", "alice", "wiki", "sid-alice")
	c.join("sess-b", "bob", "wiki", "sid-bob")
	eventstest.EventuallyErr(t, 10*time.Second, func() error {
		if n, _ := a.Store().SessionCount(context.Background(), "sess-b"); n != 1 {
			return fmt.Errorf("bob's session not registered yet")
		}
		if n, _ := a.Store().SessionCount(context.Background(), "sess-a"); n != 1 {
			return fmt.Errorf("alice's session not registered yet")
		}
		return nil
	})
	alice := map[string]any{"format": "iss_sub", "iss": st.srv.URL, "sub": "alice"}

	// Refused: nothing reaches the bus.
	for _, tc := range []struct {
		name, raw, token, want string
		status                 int
	}{
		{"wrong typ", first(st.set(t, ssfin.EventSessionRevoked, alice, 0, "JWT", nil)), ssfToken, "invalid_request", 400},
		{"foreign key", first(st.set(t, ssfin.EventSessionRevoked, alice, 1, "secevent+jwt", nil)), ssfToken, "invalid_key", 400},
		{"wrong aud", first(st.set(t, ssfin.EventSessionRevoked, alice, 0, "secevent+jwt", func(c map[string]any) { c["aud"] = "https://other.test" })), ssfToken, "invalid_audience", 400},
		{"sub claim", first(st.set(t, ssfin.EventSessionRevoked, alice, 0, "secevent+jwt", func(c map[string]any) { c["sub"] = "alice" })), ssfToken, "invalid_request", 400},
		{"bad token", first(st.set(t, ssfin.EventSessionRevoked, alice, 0, "secevent+jwt", nil)), "okta-push-token-0123456780", "authentication_failed", 401},
	} {
		if code, msg := pushSET(t, a, tc.raw, tc.token); code != tc.status || !strings.HasPrefix(msg, tc.want+":") {
			t.Errorf("%s: %d %q, want %d %s", tc.name, code, msg, tc.status, tc.want)
		}
	}
	if reqs := logoutRequests(t, c); len(reqs) != 0 {
		t.Fatalf("refused SETs published %d logout requests", len(reqs))
	}

	raw, jti := st.set(t, ssfin.EventSessionRevoked, alice, 0, "secevent+jwt", nil)
	if code, msg := pushSET(t, a, raw, ssfToken); code != http.StatusAccepted {
		t.Fatalf("push: %d %s", code, msg)
	}
	// 202 came after the JetStream ack: the request is on the bus already.
	if reqs := logoutRequests(t, c); len(reqs) != 1 || reqs[0].Subject != "alice" || reqs[0].Initiator != events.InitiatorIdP {
		t.Fatalf("logout requests after the 202: %+v", reqs)
	}
	logoutID := ssfin.LogoutID("okta", jti)
	done := c.waitCompleted(logoutID, 15*time.Second)
	if done.Outcome != events.StatusComplete || len(done.Participants) != 1 || done.Participants[0].Outcome != events.OutcomeSucceeded {
		t.Fatalf("completed: %+v", done)
	}
	_, toks := rp.snapshot()
	if len(toks) != 1 || !toks[0].Valid || toks[0].Sub != "alice" || toks[0].SID != "sid-alice" {
		t.Fatalf("RP tokens: %+v", toks)
	}
	if n, _ := a.Store().SessionCount(context.Background(), "sess-b"); n != 1 {
		t.Error("bob's session ended too")
	}
	sg, ok, err := a.Store().Saga(context.Background(), logoutID)
	if err != nil || !ok || sg.Initiator != events.InitiatorIdP || !strings.Contains(sg.Reason, "CAEP session-revoked from transmitter okta") {
		t.Errorf("saga %+v %v %v", sg, ok, err)
	}

	// A replay is refused and requests nothing more.
	if code, msg := pushSET(t, a, raw, ssfToken); code != http.StatusBadRequest || !strings.Contains(msg, "already received") {
		t.Fatalf("replay: %d %s", code, msg)
	}
	if reqs := logoutRequests(t, c); len(reqs) != 1 {
		t.Fatalf("%d logout requests after the replay, want 1", len(reqs))
	}
}

func first(raw, _ string) string { return raw }

// TestSSFRestartKeepsJTIs: a SET accepted before a restart on the same
// data_dir is refused as a replay after it.
func TestSSFRestartKeepsJTIs(t *testing.T) {
	st := newSSFTransmitter(t)
	cfg := testConfig(t, 10*time.Second)
	ssfConfig(t, cfg, st, false)
	a, err := Start(context.Background(), Options{Config: cfg, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := st.set(t, ssfin.EventAccountDisabled, map[string]any{"format": "iss_sub", "iss": st.srv.URL, "sub": "carol"}, 0, "secevent+jwt", nil)
	if code, msg := pushSET(t, a, raw, ssfToken); code != http.StatusAccepted {
		t.Fatalf("push: %d %s", code, msg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}
	b := startApp(t, cfg)
	if code, msg := pushSET(t, b, raw, ssfToken); code != http.StatusBadRequest || !strings.Contains(msg, "invalid_request: jti") {
		t.Fatalf("replay after restart: %d %s", code, msg)
	}
	if reqs := logoutRequests(t, appClient(t, b)); len(reqs) != 1 {
		t.Fatalf("%d logout requests, want 1", len(reqs))
	}
}

// TestSSFPollEndToEnd: the app polls a transmitter; a polled RISC
// account-disabled SET logs its user out at a back-channel RP and is
// acknowledged; Close stops the poll loop.
func TestSSFPollEndToEnd(t *testing.T) {
	rp := newTestRP(t, "wiki", "RS256")
	st := newSSFTransmitter(t)
	cfg := testConfig(t, 10*time.Second, rp)
	ssfConfig(t, cfg, st, true)
	a, err := Start(context.Background(), Options{Config: cfg, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	rp.useJWKS("http://" + a.Addr() + "/jwks.json")
	c := appClient(t, a)
	c.join("sess-d", "dave", "wiki", "sid-dave")
	eventstest.EventuallyErr(t, 10*time.Second, func() error {
		if n, _ := a.Store().SessionCount(context.Background(), "sess-d"); n != 1 {
			return fmt.Errorf("session not registered yet")
		}
		return nil
	})
	raw, jti := st.set(t, ssfin.EventAccountDisabled, map[string]any{"format": "iss_sub", "iss": st.srv.URL, "sub": "dave"}, 0, "secevent+jwt", nil)
	st.mu.Lock()
	st.queue[jti] = raw
	st.mu.Unlock()
	done := c.waitCompleted(ssfin.LogoutID("okta", jti), 20*time.Second)
	if done.Outcome != events.StatusComplete || len(done.Participants) != 1 {
		t.Fatalf("completed %+v", done)
	}
	eventstest.EventuallyErr(t, 10*time.Second, func() error {
		st.mu.Lock()
		defer st.mu.Unlock()
		if len(st.acks) != 1 || st.acks[0] != jti || len(st.queue) != 0 {
			return fmt.Errorf("acks %v, queue %d", st.acks, len(st.queue))
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}
	if ctx.Err() != nil {
		t.Fatal("Close waited for its whole grace: the poll loop did not stop")
	}
}

// TestSSFSessionRevokedNamesUpstreamSession: a session-revoked SET whose
// complex sub_id names a session becomes a logout.requested with upstream
// {id: transmitter id, sid: the session}, the contract by which the
// coordinator ends every session that joined with that upstream session.
func TestSSFSessionRevokedNamesUpstreamSession(t *testing.T) {
	st := newSSFTransmitter(t)
	cfg := testConfig(t, 10*time.Second)
	ssfConfig(t, cfg, st, false)
	a := startApp(t, cfg)
	sub := map[string]any{"format": "complex", "session": map[string]any{"format": "opaque", "id": "okta-sess-42"},
		"user": map[string]any{"format": "iss_sub", "iss": st.srv.URL, "sub": "alice"}}
	raw, jti := st.set(t, ssfin.EventSessionRevoked, sub, 0, "secevent+jwt", nil)
	if code, msg := pushSET(t, a, raw, ssfToken); code != http.StatusAccepted {
		t.Fatalf("push: %d %s", code, msg)
	}
	reqs := logoutRequests(t, appClient(t, a))
	if len(reqs) != 1 {
		t.Fatalf("%d logout requests", len(reqs))
	}
	r := reqs[0]
	if r.Upstream == nil || r.Upstream.ID != "okta" || r.Upstream.SID != "okta-sess-42" || r.Subject != "alice" ||
		r.LogoutID != ssfin.LogoutID("okta", jti) || r.Scope != events.ScopeGlobal || r.Initiator != events.InitiatorIdP {
		t.Fatalf("logout request %+v (upstream %+v)", r, r.Upstream)
	}
}

// BenchmarkSSFPush measures one push end to end on a real signoff:
// verification (RS256, cached keys), the jti look-up, the durable publish
// of the logout.requested (JetStream ack, sync_always) and the jti write
// to sqlite, sequentially. The SETs are signed before the timer starts.
func BenchmarkSSFPush(b *testing.B) {
	t := &testing.T{}
	st := newSSFTransmitter(t)
	defer st.srv.Close()
	cfg := config.Default()
	cfg.DataDir = b.TempDir()
	cfg.Listen = "127.0.0.1:0"
	cfg.Issuer = testIssuer
	ssfConfigTB(b, cfg, st)
	a, err := Start(context.Background(), Options{Config: cfg, Logger: testLogger(b)})
	if err != nil {
		b.Fatal(err)
	}
	defer a.Close(context.Background())
	sets := make([]string, b.N)
	for i := range sets {
		sets[i], _ = st.set(t, ssfin.EventAccountDisabled, map[string]any{"format": "iss_sub", "iss": st.srv.URL, "sub": fmt.Sprintf("u%d", i)}, 0, "secevent+jwt", nil)
	}
	client := &http.Client{}
	b.ResetTimer()
	for _, raw := range sets {
		req, _ := http.NewRequest(http.MethodPost, "http://"+a.Addr()+"/ssf/events", strings.NewReader(raw))
		req.Header.Set("Content-Type", "application/secevent+jwt")
		req.Header.Set("Authorization", "Bearer "+ssfToken)
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusAccepted {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}

// ssfConfigTB is ssfConfig for a benchmark.
func ssfConfigTB(tb testing.TB, cfg *config.Config, st *ssfTransmitter) {
	dir := tb.TempDir()
	tokenFile := filepath.Join(dir, "okta.token")
	os.WriteFile(tokenFile, []byte(ssfToken+"\n"), 0o600)
	cfg.SSF.Transmitters = append(cfg.SSF.Transmitters, config.SSFTransmitter{ID: "okta", Issuer: st.srv.URL, Audience: ssfAudience,
		Discovery: true, Auth: &config.SSFAuth{BearerTokenFile: tokenFile}, SubjectClaim: config.SSFSubjectSub})
	if err := cfg.Validate(); err != nil {
		tb.Fatal(err)
	}
}
