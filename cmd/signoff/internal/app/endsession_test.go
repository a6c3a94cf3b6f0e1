package app

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"

	"github.com/signoff/signoff/events"
	"github.com/signoff/signoff/events/eventstest"
)

// esEnv is a running signoff with two RPs for RP-initiated logout tests.
type esEnv struct {
	t          *testing.T
	a          *App
	c          *client
	base       string
	wiki, chat *testRP
	cookie     string
	// lastPage is the confirmation page choose ended on.
	lastPage string
}

const byeURI = "https://wiki.example.com/bye"

func newESEnv(t *testing.T) *esEnv {
	wiki, chat := newTestRP(t, "wiki", "ES256"), newTestRP(t, "chat", "ES256")
	cfg := testConfig(t, 10*time.Second, wiki, chat)
	cfg.RelyingParties[0].OIDC.PostLogoutRedirectURIs = []string{byeURI}
	cfg.Redirects.DefaultURL = "https://example.com/home"
	a := startApp(t, cfg, wiki, chat)
	return &esEnv{t: t, a: a, c: appClient(t, a), base: "http://" + a.Addr(), wiki: wiki, chat: chat, cookie: cfg.Session.CookieName}
}

// session signs a fresh user in to both RPs and returns a browser holding
// the IdP session cookie, and the session id.
func (e *esEnv) session() (*http.Client, string) {
	s := uuid.NewString()
	e.c.join(s, "u-"+s[:8], "wiki", "wsid-"+s)
	e.c.join(s, "u-"+s[:8], "chat", "csid-"+s)
	eventstest.EventuallyErr(e.t, 10*time.Second, func() error {
		if n, _ := e.a.Store().SessionCount(context.Background(), s); n != 2 {
			return fmt.Errorf("%d sessions", n)
		}
		return nil
	})
	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse(e.base)
	jar.SetCookies(u, []*http.Cookie{{Name: e.cookie, Value: s, Path: "/"}})
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}, s
}

// idToken is an ID Token of signoff's issuer for the wiki client.
func (e *esEnv) idToken(session string, key any, alg jose.SignatureAlgorithm, kid string, exp time.Time) string {
	claims := map[string]any{"iss": testIssuer, "sub": "u-" + session[:8], "aud": []string{e.wiki.ClientID}, "sid": "wsid-" + session,
		"iat": time.Now().Add(-time.Hour).Unix(), "exp": exp.Unix()}
	payload, _ := json.Marshal(claims)
	if alg == "none" {
		hdr := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))
		return hdr + "." + base64.RawURLEncoding.EncodeToString(payload) + "."
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: key, KeyID: kid}}, nil)
	if err != nil {
		e.t.Fatal(err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		e.t.Fatal(err)
	}
	raw, _ := jws.CompactSerialize()
	return raw
}

func (e *esEnv) ownToken(session string, exp time.Time) string {
	k, err := e.a.Keys().Signing("ES256")
	if err != nil {
		e.t.Fatal(err)
	}
	return e.idToken(session, k.Signer, jose.ES256, k.KID, exp)
}

// read returns a function that reads a response's status and body.
func read(t *testing.T) func(resp *http.Response, err error) (int, string) {
	return func(resp *http.Response, err error) (int, string) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
}

var tokenRE = regexp.MustCompile(`name="token" value="([^"]+)"`)

// choose answers the chooser with scope and follows the logout to its end,
// returning the Continue target of the confirmation page.
func (e *esEnv) choose(b *http.Client, page string, scope events.Scope) (status int, cont string) {
	m := tokenRE.FindStringSubmatch(page)
	if m == nil {
		e.t.Fatalf("no chooser form in:\n%s", page)
	}
	resp, err := b.PostForm(e.base+"/logout/choose", url.Values{"token": {m[1]}, "scope": {string(scope)}})
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		return resp.StatusCode, ""
	}
	loc := resp.Header.Get("Location")
	var body string
	eventstest.EventuallyErr(e.t, 20*time.Second, func() error {
		_, body = read(e.t)(b.Get(e.base + loc))
		if strings.Contains(body, `data-status="`+string(events.StatusRunning)+`"`) {
			return fmt.Errorf("still running")
		}
		return nil
	})
	e.lastPage = body
	if m := regexp.MustCompile(`class="button" href="([^"]+)"`).FindStringSubmatch(body); m != nil {
		cont = html.UnescapeString(m[1])
	}
	return http.StatusSeeOther, cont
}

// TestEndSessionConformanceVariants covers every variant of the OpenID
// conformance suite's RP-initiated logout module. The last five must not
// redirect: no "this app only", and Continue never leads to the RP.
func TestEndSessionConformanceVariants(t *testing.T) {
	e := newESEnv(t)
	foreign, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	type variant struct {
		name         string
		params       func(session string) url.Values
		wantRedirect string // "" = must not lead to the RP
		trusted      bool
	}
	valid := func(s string) string { return e.ownToken(s, time.Now().Add(time.Hour)) }
	variants := []variant{
		{"no state", func(s string) url.Values {
			return url.Values{"id_token_hint": {valid(s)}, "post_logout_redirect_uri": {byeURI}}
		}, byeURI, true},
		{"only state", func(s string) url.Values { return url.Values{"id_token_hint": {valid(s)}, "state": {"xyz"}} }, "", true},
		{"no params", func(string) url.Values { return url.Values{} }, "", false},
		{"no post_logout_redirect_uri", func(s string) url.Values { return url.Values{"id_token_hint": {valid(s)}} }, "", true},
		{"state and uri, expired hint accepted", func(s string) url.Values {
			return url.Values{"id_token_hint": {e.ownToken(s, time.Now().Add(-time.Minute))}, "post_logout_redirect_uri": {byeURI}, "state": {"a b"}}
		}, byeURI + "?state=a+b", true},
		{"bad post_logout_redirect_uri", func(s string) url.Values {
			return url.Values{"id_token_hint": {valid(s)}, "post_logout_redirect_uri": {"https://evil.example.net/bye"}, "state": {"x"}}
		}, "", false},
		{"query added to the registered uri", func(s string) url.Values {
			return url.Values{"id_token_hint": {valid(s)}, "post_logout_redirect_uri": {byeURI + "?foo=bar"}}
		}, "", false},
		{"no id_token_hint", func(string) url.Values {
			return url.Values{"post_logout_redirect_uri": {byeURI}, "client_id": {e.wiki.ClientID}}
		}, "", false},
		{"hint signed by a foreign key", func(s string) url.Values {
			return url.Values{"id_token_hint": {e.idToken(s, foreign, jose.ES256, "foreign", time.Now().Add(time.Hour))}, "post_logout_redirect_uri": {byeURI}}
		}, "", false},
		{"modified hint with alg none", func(s string) url.Values {
			return url.Values{"id_token_hint": {e.idToken(s, nil, "none", "", time.Now().Add(time.Hour))}, "post_logout_redirect_uri": {byeURI}}
		}, "", false},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			b, s := e.session()
			resp, err := b.Get(e.base + "/oidc/end_session?" + v.params(s).Encode())
			loc := ""
			if err == nil {
				loc = resp.Header.Get("Location")
			}
			code, page := read(t)(resp, err)
			if code != 200 {
				t.Fatalf("end_session: %d %s", code, page)
			}
			if loc != "" {
				t.Fatalf("end_session redirected at once to %q", loc)
			}
			if got := strings.Contains(page, `value="initiator_only"`); got != v.trusted {
				t.Errorf("'this app only' offered = %v, want %v", got, v.trusted)
			}
			if !strings.Contains(page, "You are signed in to RP wiki and RP chat.") {
				t.Errorf("the chooser does not list the apps:\n%s", page)
			}
			_, cont := e.choose(b, page, events.ScopeGlobal)
			if v.wantRedirect != "" && cont != v.wantRedirect {
				t.Errorf("Continue %q, want %q", cont, v.wantRedirect)
			}
			if v.wantRedirect == "" && strings.Contains(cont, "wiki.example.com") {
				t.Errorf("Continue leads to the RP (%q) although the request was not trusted", cont)
			}
		})
	}
}

// TestThisAppOnlyOrEverywhere: "this app only" ends only the initiating
// RP's session and keeps the IdP session; "everywhere" ends all of them.
func TestThisAppOnlyOrEverywhere(t *testing.T) {
	e := newESEnv(t)
	b, s := e.session()
	q := url.Values{"id_token_hint": {e.ownToken(s, time.Now().Add(time.Hour))}, "post_logout_redirect_uri": {byeURI}, "state": {"s1"}}
	_, page := read(t)(b.Get(e.base + "/oidc/end_session?" + q.Encode()))
	if _, cont := e.choose(b, page, events.ScopeInitiatorOnly); cont != byeURI+"?state=s1" {
		t.Errorf("Continue after 'this app only': %q", cont)
	}
	if n, toks := e.wiki.snapshot(); n != 1 || toks[0].SID != "wsid-"+s {
		t.Errorf("wiki got %d tokens", n)
	}
	// The page says what happened, and what is still signed in.
	if !strings.Contains(e.lastPage, `<h1 id="title" tabindex="-1">You are signed out of RP wiki</h1>`) ||
		!strings.Contains(e.lastPage, "You are signed out of RP wiki. You are still signed in to RP chat.") {
		t.Errorf("confirmation after 'this app only':\n%s", e.lastPage)
	}
	if n, _ := e.chat.snapshot(); n != 0 {
		t.Errorf("chat got %d tokens after 'this app only'", n)
	}
	if n, _ := e.a.Store().SessionCount(context.Background(), s); n != 1 {
		t.Errorf("%d RP sessions left, want chat's", n)
	}
	// The IdP session is kept: the browser still has it, and can now sign
	// out everywhere.
	_, page = read(t)(b.Get(e.base + "/oidc/end_session"))
	if !strings.Contains(page, "You are signed in to RP chat.") {
		t.Fatalf("after 'this app only' the chooser shows:\n%s", page)
	}
	e.choose(b, page, events.ScopeGlobal)
	if n, _ := e.chat.snapshot(); n != 1 {
		t.Errorf("chat got %d tokens after 'everywhere'", n)
	}
	if n, _ := e.a.Store().SessionCount(context.Background(), s); n != 0 {
		t.Errorf("%d RP sessions left after 'everywhere'", n)
	}
}

// TestChooserFormIsBoundToTheBrowser: the form token of one browser is
// refused from another (CSRF), and a forged scope for an untrusted request
// is refused.
func TestChooserFormIsBoundToTheBrowser(t *testing.T) {
	e := newESEnv(t)
	b, _ := e.session()
	_, page := read(t)(b.Get(e.base + "/oidc/end_session"))
	m := tokenRE.FindStringSubmatch(page)
	other, _ := e.session()
	if code, _ := read(t)(other.PostForm(e.base+"/logout/choose", url.Values{"token": {m[1]}, "scope": {"global"}})); code != http.StatusForbidden {
		t.Errorf("another browser's form: %d, want 403", code)
	}
	if code, _ := read(t)(b.PostForm(e.base+"/logout/choose", url.Values{"token": {m[1]}, "scope": {"initiator_only"}})); code != http.StatusBadRequest {
		t.Errorf("'this app only' without a trusted RP: %d, want 400", code)
	}
}

// TestAdminAPIAndDiscovery: the admin API needs the bearer token and
// starts a logout by subject; its status is readable with the token.
func TestAdminAPIAndDiscovery(t *testing.T) {
	wiki := newTestRP(t, "wiki", "ES256")
	cfg := testConfig(t, 10*time.Second, wiki)
	cfg.Admin.Token = "s3cret-admin-token-for-tests"
	a := startApp(t, cfg, wiki)
	c := appClient(t, a)
	c.join("sx", "mallory", "wiki", "sid-x")
	eventstest.EventuallyErr(t, 10*time.Second, func() error {
		if n, _ := a.Store().SessionCount(context.Background(), "sx"); n != 1 {
			return fmt.Errorf("%d", n)
		}
		return nil
	})
	base := "http://" + a.Addr()
	post := func(token, body string) (int, string) {
		req, _ := http.NewRequest("POST", base+"/api/admin/logout", strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		return read(t)(http.DefaultClient.Do(req))
	}
	if code, _ := post("", `{"subject":"mallory"}`); code != 401 {
		t.Errorf("no token: %d", code)
	}
	if code, _ := post("wrong", `{"subject":"mallory"}`); code != 401 {
		t.Errorf("wrong token: %d", code)
	}
	if code, _ := post(cfg.Admin.Token, `{"subject":"mallory","session_id":"sx"}`); code != 400 {
		t.Errorf("both targets: %d", code)
	}
	code, body := post(cfg.Admin.Token, `{"subject":"mallory","reason":"account disabled"}`)
	if code != 202 {
		t.Fatalf("admin logout: %d %s", code, body)
	}
	var started struct {
		LogoutID string `json:"logout_id"`
	}
	json.Unmarshal([]byte(body), &started)
	eventstest.EventuallyErr(t, 15*time.Second, func() error {
		req, _ := http.NewRequest("GET", base+"/api/logouts/"+started.LogoutID, nil)
		req.Header.Set("Authorization", "Bearer "+cfg.Admin.Token)
		code, body := read(t)(http.DefaultClient.Do(req))
		if code != 200 || !strings.Contains(body, `"status":"complete"`) {
			return fmt.Errorf("%d %s", code, body)
		}
		return nil
	})
	if n, toks := wiki.snapshot(); n != 1 || toks[0].Sub != "mallory" {
		t.Errorf("wiki: %d tokens", n)
	}
	if s, _, _ := a.Store().Saga(context.Background(), started.LogoutID); s.Initiator != events.InitiatorAdmin || s.Reason != "account disabled" {
		t.Errorf("saga %+v", s)
	}
	code, body = read(t)(http.Get(base + "/.well-known/openid-configuration"))
	var disc map[string]any
	json.Unmarshal([]byte(body), &disc)
	if code != 200 || disc["end_session_endpoint"] != cfg.PublicURL+"/oidc/end_session" || disc["backchannel_logout_session_supported"] != true || disc["frontchannel_logout_supported"] != true || disc["issuer"] != testIssuer {
		t.Errorf("discovery %d %v", code, disc)
	}
}
