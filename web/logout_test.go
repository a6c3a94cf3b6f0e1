package web

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signoff/signoff/events"
	"github.com/signoff/signoff/web/redirect"
)

type fakeLogouts struct {
	mu   sync.Mutex
	reqs []events.LogoutRequested
	err  error
}

func (f *fakeLogouts) RequestLogout(_ context.Context, r events.LogoutRequested) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return f.err
	}
	f.reqs = append(f.reqs, r)
	return nil
}

type fakeStatus struct {
	mu    sync.Mutex
	views map[string][]LogoutView // successive states; the last repeats
	reads map[string]int
}

func (f *fakeStatus) set(id string, vs ...LogoutView) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.views[id] = vs
	f.reads[id] = 0
}

func (f *fakeStatus) Logout(_ context.Context, id string) (LogoutView, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	vs, ok := f.views[id]
	if !ok {
		return LogoutView{}, false, nil
	}
	v := vs[min(f.reads[id], len(vs)-1)]
	f.reads[id]++
	return v, true, nil
}

type fakeLocal struct {
	mu        sync.Mutex
	confirmed []string
}

func (f *fakeLocal) SessionID(r *http.Request) string {
	if c, err := r.Cookie("idp_session"); err == nil {
		return c.Value
	}
	return ""
}
func (f *fakeLocal) Clear(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: "idp_session", Value: "", Path: "/", MaxAge: -1})
}
func (f *fakeLocal) Confirm(_ context.Context, id string, _ *http.Request) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.confirmed = append(f.confirmed, id)
	return nil
}

type fakeFrames struct {
	mu   sync.Mutex
	acks []string
}

func (f *fakeFrames) Frame(logoutID, rpID, sid string) (Frame, bool) {
	if rpID == "payroll" {
		return Frame{RPID: rpID, Name: "Payroll", URL: "https://payroll.example.com/slo?SAMLRequest=x", TopLevel: true}, true
	}
	if rpID != "wiki" {
		return Frame{}, false
	}
	return Frame{RPID: rpID, Name: "Wiki", URL: "https://wiki.example.com/fc?iss=x&sid=" + sid, Origin: "https://wiki.example.com", Token: "tok-" + logoutID}, true
}
func (f *fakeFrames) Origins() []string      { return []string{"https://wiki.example.com"} }
func (f *fakeFrames) Timeout() time.Duration { return 5 * time.Second }
func (f *fakeFrames) Ack(_ context.Context, logoutID, rpID, token, status, _ string) error {
	if token != "tok-"+logoutID {
		return errors.New("bad token")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.acks = append(f.acks, rpID+":"+status)
	return nil
}

// fakeSteps is the store's participants.step_at in memory (the status
// fake does not know which participants are pending; the page asks only
// for pending ones).
type fakeSteps struct {
	mu sync.Mutex
	at map[string]time.Time
}

func (f *fakeSteps) ClaimStep(_ context.Context, logoutID, rpID string, now time.Time, again time.Duration) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := logoutID + "\x00" + rpID
	if last, ok := f.at[k]; ok && (again <= 0 || now.Sub(last) < again) {
		return false, nil
	}
	f.at[k] = now
	return true, nil
}

func (f *fakeSteps) ReleaseStep(_ context.Context, logoutID, rpID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.at, logoutID+"\x00"+rpID)
	return nil
}

type env struct {
	srv     *httptest.Server
	logouts *fakeLogouts
	status  *fakeStatus
	local   *fakeLocal
	frames  *fakeFrames
	changes *watchedHub
}

func newEnv(t *testing.T) *env {
	return newEnvRecheck(t, 5*time.Millisecond)
}

// newEnvRecheck is newEnv with the safety re-read of waits every recheck:
// the fake status advances one state per read, so the default env re-reads
// often; tests of change notification pass a recheck longer than any test.
func newEnvRecheck(t *testing.T, recheck time.Duration) *env {
	e := &env{logouts: &fakeLogouts{}, status: &fakeStatus{views: map[string][]LogoutView{}, reads: map[string]int{}}, local: &fakeLocal{}, frames: &fakeFrames{},
		changes: &watchedHub{watched: make(chan string, 16)}}
	h, err := New(Config{Keys: keys(`{"keys":[]}`), Browser: &Browser{
		PublicURL: "https://auth.example.com", Secret: []byte(strings.Repeat("k", 32)),
		Logouts: e.logouts, Status: e.status, Local: e.local, Frames: e.frames, Steps: &fakeSteps{at: map[string]time.Time{}},
		Redirects: redirect.Policy{AllowedDomains: []string{"example.com"}}, DefaultRedirect: "https://example.com/home",
		LocalRPID: "signoff", Recheck: recheck, Changes: e.changes,
	}})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(h)
	t.Cleanup(e.srv.Close)
	return e
}

// browser is an HTTP client with its own cookie jar that does not follow
// redirects. Cookies are set for the test server whatever their Secure flag.
func (e *env) browser(t *testing.T, session string) *http.Client {
	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse(e.srv.URL)
	if session != "" {
		jar.SetCookies(u, []*http.Cookie{{Name: "idp_session", Value: session, Path: "/"}})
	}
	return &http.Client{Jar: secureJar{jar}, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

// secureJar keeps Secure cookies over the test's plain http.
type secureJar struct{ *cookiejar.Jar }

func (j secureJar) SetCookies(u *url.URL, cs []*http.Cookie) {
	for _, c := range cs {
		c.Secure = false
	}
	j.Jar.SetCookies(u, cs)
}

func get(t *testing.T, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestLogoutStartsSagaAndBindsBrowser(t *testing.T) {
	e := newEnv(t)
	c := e.browser(t, "sess-1")
	resp, _ := get(t, c, e.srv.URL+"/logout?rd="+url.QueryEscape("https://app.example.com/bye"))
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("status %d, want 303", resp.StatusCode)
	}
	if len(e.logouts.reqs) != 1 {
		t.Fatalf("%d logouts requested", len(e.logouts.reqs))
	}
	req := e.logouts.reqs[0]
	if req.SessionID != "sess-1" || req.Initiator != events.InitiatorUser || req.Scope != events.ScopeGlobal || !req.Browser || req.ReturnTo != "https://app.example.com/bye" {
		t.Errorf("logout.requested %+v", req)
	}
	if loc := resp.Header.Get("Location"); loc != "/logout/"+req.LogoutID {
		t.Errorf("Location %q", loc)
	}
	var binding, cleared *http.Cookie
	for _, ck := range resp.Cookies() {
		switch ck.Name {
		case bindingCookie:
			binding = ck
		case "idp_session":
			cleared = ck
		}
	}
	if binding == nil || !binding.HttpOnly || !binding.Secure || binding.SameSite != http.SameSiteLaxMode || !strings.HasPrefix(binding.Value, req.LogoutID+".") {
		t.Errorf("binding cookie %+v", binding)
	}
	if cleared == nil || cleared.MaxAge >= 0 {
		t.Errorf("session cookie not cleared: %+v", cleared)
	}
	// Clear-Site-Data "cookies" would make Chromium drop the binding cookie
	// set by this very response (see bind).
	if csd := resp.Header.Get("Clear-Site-Data"); csd != "" {
		t.Errorf("the response that binds the browser sends Clear-Site-Data %q", csd)
	}
	// The bound browser sees its page; another browser, and a forged
	// binding, get 404.
	e.status.set(req.LogoutID, LogoutView{ID: req.LogoutID, Status: events.StatusRunning, Participants: []ParticipantView{{RPID: "wiki", Name: "Wiki", Outcome: events.OutcomePending}}})
	if resp, body := get(t, c, e.srv.URL+"/logout/"+req.LogoutID); resp.StatusCode != 200 || !strings.Contains(body, "Wiki") {
		t.Errorf("owner: %d %q", resp.StatusCode, body)
	}
	other := e.browser(t, "")
	for _, p := range []string{"", "/events", "/ack"} {
		if resp, _ := get(t, other, e.srv.URL+"/logout/"+req.LogoutID+p); resp.StatusCode != 404 && !(p == "/ack" && resp.StatusCode == 405) {
			t.Errorf("other browser %s: %d, want 404", p, resp.StatusCode)
		}
	}
	forged := e.browser(t, "")
	u, _ := url.Parse(e.srv.URL)
	forged.Jar.SetCookies(u, []*http.Cookie{{Name: bindingCookie, Value: req.LogoutID + ".forged", Path: "/"}})
	if resp, _ := get(t, forged, e.srv.URL+"/logout/"+req.LogoutID); resp.StatusCode != 404 {
		t.Errorf("forged binding: %d, want 404", resp.StatusCode)
	}
	if resp, _ := get(t, other, e.srv.URL+"/api/logouts/"+req.LogoutID); resp.StatusCode != 404 {
		t.Errorf("status API for another browser: %d", resp.StatusCode)
	}
}

func TestLogoutRedirectHandling(t *testing.T) {
	tests := []struct {
		name, query  string
		wantReturnTo string
		wantRefused  bool
	}{
		{"none", "", "", false},
		{"valid", "rd=" + url.QueryEscape("https://example.com/x"), "https://example.com/x", false},
		{"evil", "rd=" + url.QueryEscape("https://evil.com/"), "", true},
		{"downgrade", "rd=" + url.QueryEscape("http://app.example.com/"), "", true},
		{"repeated", "rd=" + url.QueryEscape("https://example.com/a") + "&rd=" + url.QueryEscape("https://example.com/b"), "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			resp, _ := get(t, e.browser(t, "s"), e.srv.URL+"/logout?"+tt.query)
			if len(e.logouts.reqs) != 1 || e.logouts.reqs[0].ReturnTo != tt.wantReturnTo {
				t.Fatalf("requests %+v, want return_to %q", e.logouts.reqs, tt.wantReturnTo)
			}
			if got := strings.Contains(resp.Header.Get("Location"), "refused=1"); got != tt.wantRefused {
				t.Errorf("Location %q, refused flag %v want %v", resp.Header.Get("Location"), got, tt.wantRefused)
			}
		})
	}
}

func TestLogoutWithoutSessionAndPublishFailure(t *testing.T) {
	e := newEnv(t)
	resp, body := get(t, e.browser(t, ""), e.srv.URL+"/logout")
	if resp.StatusCode != 200 || !strings.Contains(body, "You were already signed out.") || !strings.Contains(body, `href="https://example.com/home"`) {
		t.Errorf("no session: %d %s", resp.StatusCode, body)
	}
	if resp.Header.Get("Clear-Site-Data") == "" || len(e.logouts.reqs) != 0 {
		t.Errorf("no session: cookies not cleared or a logout was requested")
	}
	e.logouts.err = errors.New("nats down")
	resp, _ = get(t, e.browser(t, "s"), e.srv.URL+"/logout")
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("publish failure: %d, want 503", resp.StatusCode)
	}
	for _, ck := range resp.Cookies() {
		if ck.Name == "idp_session" {
			t.Error("the session cookie was cleared although no logout started")
		}
	}
}

func TestAPILogoutIsAutheliaCompatible(t *testing.T) {
	tests := []struct {
		body       string
		wantStatus int
		wantSafe   bool
	}{
		{`{"targetURL":"https://app.example.com/"}`, 200, true},
		{`{"targetURL":"https://evil.com/"}`, 200, false},
		{`{}`, 200, false},
		{`not json`, 400, false},
	}
	for _, tt := range tests {
		e := newEnv(t)
		resp, err := e.browser(t, "s").Post(e.srv.URL+"/api/logout", "application/json", strings.NewReader(tt.body))
		if err != nil {
			t.Fatal(err)
		}
		var out struct {
			Status string `json:"status"`
			Data   struct {
				SafeTargetURL bool   `json:"safeTargetURL"`
				LogoutURL     string `json:"logoutURL"`
			} `json:"data"`
		}
		json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if resp.StatusCode != tt.wantStatus {
			t.Errorf("%s: status %d", tt.body, resp.StatusCode)
			continue
		}
		if tt.wantStatus == 200 && (out.Status != "OK" || out.Data.SafeTargetURL != tt.wantSafe || !strings.HasPrefix(out.Data.LogoutURL, "/logout/")) {
			t.Errorf("%s: %+v", tt.body, out)
		}
	}
}

func TestPageHeadersAndConfirmation(t *testing.T) {
	e := newEnv(t)
	c := e.browser(t, "s")
	get(t, c, e.srv.URL+"/logout")
	id := e.logouts.reqs[0].LogoutID
	e.status.set(id, LogoutView{ID: id, Status: events.StatusRunning, Participants: []ParticipantView{
		{RPID: "signoff", Name: "This sign-in service", Outcome: events.OutcomePending},
		{RPID: "wiki", Name: "Wiki", Adapter: "frontchannel", Outcome: events.OutcomePending, SID: "w1"},
	}})
	resp, body := get(t, c, e.srv.URL+"/logout/"+id)
	csp := resp.Header.Get("Content-Security-Policy")
	m := regexp.MustCompile(`script-src 'nonce-([^']+)'`).FindStringSubmatch(csp)
	if m == nil || !strings.Contains(body, `nonce="`+m[1]+`"`) {
		t.Fatalf("CSP %q has no nonce used by the page", csp)
	}
	for _, want := range []string{"frame-src https://wiki.example.com", "frame-ancestors 'none'", "default-src 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}
	for h, want := range map[string]string{"Referrer-Policy": "no-referrer", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"} {
		if resp.Header.Get(h) != want {
			t.Errorf("%s = %q", h, resp.Header.Get(h))
		}
	}
	if !strings.Contains(body, `data-src="https://wiki.example.com/fc?iss=x&amp;sid=w1"`) || !strings.Contains(body, `data-token="tok-`+id+`"`) {
		t.Errorf("front-channel iframe missing:\n%s", body)
	}
	if !strings.Contains(body, `http-equiv="refresh"`) {
		t.Error("a running logout page has no noscript refresh")
	}
	_, body2 := get(t, c, e.srv.URL+"/logout/"+id)
	if m2 := regexp.MustCompile(`nonce="([^"]+)"`).FindStringSubmatch(body2); m2 == nil || m2[1] == m[1] {
		t.Error("the nonce is not fresh per response")
	}
	if len(e.local.confirmed) != 0 {
		t.Errorf("local session confirmed %d times by two page loads (GET), want never", len(e.local.confirmed))
	}
	if !strings.Contains(body, `data-confirm="1"`) || !strings.Contains(body, `action="/logout/`+id+`/confirm"`) {
		t.Errorf("the page of a pending local session takes no explicit confirmation step:\n%s", body)
	}
	for range 2 {
		resp, err := c.Post(e.srv.URL+"/logout/"+id+"/confirm", "", nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNoContent {
			t.Fatalf("confirm: status %d, want 204", resp.StatusCode)
		}
	}
	if len(e.local.confirmed) != 1 {
		t.Errorf("local session confirmed %d times over two confirmation steps, want once", len(e.local.confirmed))
	}

	e.status.set(id, LogoutView{ID: id, Status: "partial", ReturnTo: "https://app.example.com/bye", Participants: []ParticipantView{
		{RPID: "signoff", Name: "This sign-in service", Outcome: events.OutcomeSucceeded},
		{RPID: "wiki", Name: "Wiki", Outcome: events.OutcomeSucceeded},
		{RPID: "chat", Name: "Chat", Outcome: events.OutcomeTimedOut, Detail: "no confirmation before the deadline after 9 attempt(s); last error: HTTP 503"},
	}})
	_, body = get(t, c, e.srv.URL+"/logout/"+id)
	for _, want := range []string{"You were signed out of this sign-in service and Wiki. Chat did not confirm.", "Close your browser to be sure",
		`href="https://app.example.com/bye"`, "Chat did not confirm in time.", "Not confirmed", `<span class="name">This sign-in service</span>`} {
		if !strings.Contains(body, want) {
			t.Errorf("confirmation lacks %q", want)
		}
	}
	if strings.Contains(body, "HTTP 503") || strings.Contains(body, "attempt(s)") {
		t.Error("the page shows the technical detail")
	}
	if strings.Contains(body, "<iframe") && strings.Contains(body, `data-rp="wiki"`) {
		t.Error("an iframe is rendered for a participant that already ended")
	}
}

func TestEventsStreamUntilTheEnd(t *testing.T) {
	e := newEnv(t)
	c := e.browser(t, "s")
	get(t, c, e.srv.URL+"/logout")
	id := e.logouts.reqs[0].LogoutID
	running := LogoutView{ID: id, Status: events.StatusRunning, Participants: []ParticipantView{{RPID: "chat", Name: "Chat", Outcome: events.OutcomePending}}}
	done := LogoutView{ID: id, Status: "partial", Participants: []ParticipantView{{RPID: "chat", Name: "Chat", Outcome: events.OutcomeFailed, Detail: "HTTP 400"}}}
	e.status.set(id, running, running, running, done)
	resp, err := c.Get(e.srv.URL + "/logout/" + id + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("content type %q", resp.Header.Get("Content-Type"))
	}
	var states []streamState
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			var s streamState
			if err := json.Unmarshal([]byte(data), &s); err != nil {
				t.Fatal(err)
			}
			states = append(states, s)
		}
	}
	if len(states) != 2 {
		t.Fatalf("%d events, want 2 (one per change): %+v", len(states), states)
	}
	last := states[1]
	if last.Status != "partial" || last.Summary != "Chat did not confirm the sign-out." || last.Participants[0].Detail != "" ||
		last.Participants[0].Reason != "Chat refused the sign-out." {
		t.Errorf("final event %+v", last)
	}
}

func TestFrontchannelAck(t *testing.T) {
	e := newEnv(t)
	c := e.browser(t, "s")
	get(t, c, e.srv.URL+"/logout")
	id := e.logouts.reqs[0].LogoutID
	post := func(c *http.Client, body string) int {
		resp, err := c.Post(e.srv.URL+"/logout/"+id+"/ack", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(c, `{"rp_id":"wiki","token":"tok-`+id+`","status":"ok"}`); code != 204 {
		t.Errorf("valid ack: %d", code)
	}
	if code := post(c, `{"rp_id":"wiki","token":"tok-other","status":"ok"}`); code != 400 {
		t.Errorf("forged token: %d", code)
	}
	if code := post(c, `nope`); code != 400 {
		t.Errorf("bad body: %d", code)
	}
	if code := post(e.browser(t, ""), `{"rp_id":"wiki","token":"tok-`+id+`","status":"ok"}`); code != 404 {
		t.Errorf("ack from another browser: %d", code)
	}
	if len(e.frames.acks) != 1 || e.frames.acks[0] != "wiki:ok" {
		t.Errorf("acks %v", e.frames.acks)
	}
}

func TestRedirectChainHopIssuedOnce(t *testing.T) {
	e := newEnv(t)
	c := e.browser(t, "s")
	get(t, c, e.srv.URL+"/logout")
	id := e.logouts.reqs[0].LogoutID
	e.status.set(id, LogoutView{ID: id, Status: events.StatusRunning, Participants: []ParticipantView{
		{RPID: "wiki", Name: "Wiki", Outcome: events.OutcomePending, SID: "w"},
		{RPID: "payroll", Name: "Payroll", Outcome: events.OutcomePending},
	}})
	_, body := get(t, c, e.srv.URL+"/logout/"+id)
	if !strings.Contains(body, `id="hop"`) || !strings.Contains(body, `data-href="https://payroll.example.com/slo?SAMLRequest=x"`) {
		t.Fatalf("no redirect-chain hop:\n%s", body)
	}
	if strings.Contains(body, `data-rp="payroll" data-token`) {
		t.Error("a top-level hop is rendered as an iframe")
	}
	if !strings.Contains(body, `data-rp="wiki" data-token`) {
		t.Error("the iframe participant is missing beside the hop")
	}
	// Back from the SP before its result is recorded: no second hop (no loop).
	if _, body := get(t, c, e.srv.URL+"/logout/"+id); strings.Contains(body, `id="hop"`) {
		t.Error("the hop was issued twice in a row")
	}
}
