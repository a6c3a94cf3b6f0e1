package demo

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/nats-io/nats.go"

	"github.com/signoff/signoff/events"
)

// appStatus is what a demo app's (or the IdP's) home page says of the
// browser's session.
func (b *httpBrowser) appStatus(home string) string {
	b.t.Helper()
	_, body := b.do(http.MethodGet, home, nil)
	m := statusLine.FindStringSubmatch(body)
	if m == nil {
		b.t.Fatalf("%s has no status:\n%s", home, body)
	}
	return strings.NewReplacer("<strong>", "", "</strong>", "").Replace(m[1])
}

// TestUpstreamDemoOverHTTP drives the demo's upstream path with an HTTP
// client: "Sign in with the upstream IdP" signs in at Corp IdP and, through
// its ID Token, at every app (joins with upstream {corp, sid}); "Sign out at
// the upstream IdP" sends signoff a back-channel logout token, and signoff
// signs the user out of Notes (back-channel) and Expenses (SAML over SOAP)
// server to server, while the apps that need a
// browser on signoff's logout page (Payroll over HTTP-Redirect, Wiki's
// front-channel iframe) and Chat (503) are reported not confirmed, each
// truthfully, in logout.completed, the terminal and Corp IdP's page.
func TestUpstreamDemoOverHTTP(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	natsAddr := l.Addr().String()
	l.Close()
	u, out := startDemoOutput(t, Options{SAML: true, NATSListen: natsAddr})
	nc, err := nats.Connect("nats://" + natsAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	completed := make(chan *nats.Msg, 16)
	if _, err := nc.ChanSubscribe(events.SubjectLogoutCompleted, completed); err != nil {
		t.Fatal(err)
	}
	b := newHTTPBrowser(t)

	// The sign-in page offers the upstream path.
	_, page := b.do(http.MethodGet, u.IdP, nil)
	if !strings.Contains(page, `action="`+u.Upstream+`authorize"`) || !strings.Contains(page, "Sign in with the upstream IdP") {
		t.Fatalf("the sign-in page has no \"Sign in with the upstream IdP\":\n%s", page)
	}
	resp, page := b.do(http.MethodGet, u.Upstream+"authorize?user=alice", nil)
	if resp.Request.URL.String() != u.IdP {
		t.Fatalf("the upstream sign-in ended at %s, want the IdP's home", resp.Request.URL)
	}
	m := regexp.MustCompile(`session (corp-[0-9a-f]+)\)`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("the IdP's home does not name the upstream session:\n%s", page)
	}
	upstreamSID := m[1]
	for _, c := range []struct{ home, want string }{
		{u.IdP, "You are signed in as alice."},
		{u.Upstream, "You are signed in at the upstream IdP as alice (session " + upstreamSID + ")."},
		{u.Notes, "You are signed in to Notes as alice."},
		{u.Wiki, "You are signed in to Wiki as alice."},
		{u.Payroll, "You are signed in to Payroll as alice."},
		{u.Expenses, "You are signed in to Expenses as alice."},
	} {
		if got := b.appStatus(c.home); got != c.want {
			t.Fatalf("%s after the upstream sign-in: %q, want %q", c.home, got, c.want)
		}
	}

	// Sign out at the upstream IdP: a logout token to signoff.
	resp, _ = b.do(http.MethodPost, u.Upstream+"signout", nil)
	id := resp.Request.URL.Query().Get("logout")
	if resp.StatusCode != http.StatusOK || id == "" {
		t.Fatalf("the upstream sign-out ended at %s (HTTP %d)", resp.Request.URL, resp.StatusCode)
	}
	var ev events.Completed
	timeout := time.After(45 * time.Second)
	for ev.LogoutID != id {
		select {
		case msg := <-completed:
			if ev, err = events.Decode[events.Completed](msg.Data); err != nil {
				t.Fatal(err)
			}
		case <-timeout:
			t.Fatalf("no logout.completed for %s", id)
		}
	}
	got := map[string]events.ParticipantOutcome{}
	for _, p := range ev.Participants {
		got[p.RPID] = p
	}
	want := map[string]struct {
		adapter events.Adapter
		outcome events.Outcome
		detail  string
	}{
		"notes":    {"backchannel", events.OutcomeSucceeded, "HTTP 200"},
		"chat":     {"backchannel", events.OutcomeTimedOut, "HTTP 503"},
		"wiki":     {"frontchannel", events.OutcomeTimedOut, ""},
		"payroll":  {"saml", events.OutcomeTimedOut, ""},
		"expenses": {"saml", events.OutcomeSucceeded, ""},
	}
	if ev.Outcome != events.StatusPartial || len(got) != len(want) {
		t.Errorf("logout %s: %s with %d participants, want partial with %d: %+v", id, ev.Outcome, len(got), len(want), ev.Participants)
	}
	for rp, w := range want {
		p, ok := got[rp]
		switch {
		case !ok:
			t.Errorf("%s is not a participant: %+v", rp, ev.Participants)
		case p.Adapter != w.adapter || p.Outcome != w.outcome:
			t.Errorf("%s: %s %s, want %s %s (%s)", rp, p.Adapter, p.Outcome, w.adapter, w.outcome, p.Detail)
		case p.Outcome != events.OutcomeSucceeded && p.Detail == "":
			t.Errorf("%s %s without a detail", rp, p.Outcome)
		case !strings.Contains(p.Detail, w.detail):
			t.Errorf("%s: detail %q lacks %q", rp, p.Detail, w.detail)
		}
	}
	if _, ok := got["signoff"]; ok {
		t.Errorf("no browser took part, yet the IdP session cookie is a participant: %+v", got["signoff"])
	}

	// The sessions that ended did, the others truthfully did not.
	for _, c := range []struct{ home, want string }{
		{u.Notes, "You are not signed in to Notes."},
		{u.Expenses, "You are not signed in to Expenses."},
		{u.Payroll, "You are signed in to Payroll as alice."}, // its SAML logout needs this browser on signoff's page
		{u.Upstream, "You are not signed in at the upstream IdP."},
		{u.IdP, "You are not signed in."},
	} {
		if got := b.appStatus(c.home); got != c.want {
			t.Errorf("%s after the upstream sign-out: %q, want %q", c.home, got, c.want)
		}
	}
	// Corp IdP's page shows what signoff reported (once its own
	// subscription has the logout.completed).
	wctx, wcancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer wcancel()
	waitUntil(t, wctx, "the outcome on Corp IdP's page", func() bool {
		_, page = b.do(http.MethodGet, resp.Request.URL.String(), nil)
		return !strings.Contains(page, `data-outcome="`+string(events.StatusRunning)+`"`)
	})
	for _, s := range []string{`data-outcome="partial"`, "You were signed out of Notes and Expenses; ", `data-rp="wiki" data-outcome="timed_out"`} {
		if !strings.Contains(page, s) {
			t.Errorf("Corp IdP's page lacks %q:\n%s", s, page)
		}
	}
	// The terminal prints it live (the outcome line may follow the event).
	waitUntil(t, wctx, "the outcome on the terminal", func() bool { return strings.Contains(out.String(), "logout "+short(id)+": partial") })
	for _, s := range []string{
		"Corp IdP: alice signs out there; it sends signoff a back-channel logout token (sub=alice sid=" + upstreamSID + ")",
		"Corp IdP: signoff answered HTTP 200 (logout " + short(id) + ")",
		"Notes verified a logout token (sub=alice sid=notes-",
		"Expenses verified a SAML LogoutRequest over SOAP (NameID=alice@expenses SessionIndex=_",
		"logout " + short(id) + ": partial",
	} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("the terminal lacks %q:\n%s", s, out.String())
		}
	} // Every participant, also those no adapter reported on.
	for _, name := range []string{"Notes", "Expenses", "Chat", "Wiki", "Payroll"} {
		line := regexp.MustCompile(`(?m)^  ` + name + ` +(succeeded|timed_out) .*— \S`)
		if n := len(line.FindAllString(out.String(), -1)); n != 1 {
			t.Errorf("the terminal prints %s's outcome %d times, want once:\n%s", name, n, out.String())
		}
	}
}

// TestUpstreamDemoRefusesForeignIDToken: the demo IdP signs nobody in on
// an ID Token that Corp IdP did not sign, or that is not one.
func TestUpstreamDemoRefusesForeignIDToken(t *testing.T) {
	t.Parallel()
	u := startDemo(t, Options{})
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: key}, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	payload, _ := json.Marshal(map[string]any{"iss": strings.TrimSuffix(u.Upstream, "/"), "sub": "mallory",
		"aud": "signoff", "sid": "corp-forged", "iat": now.Unix(), "exp": now.Add(time.Minute).Unix()})
	jws, err := signer.Sign(payload)
	if err != nil {
		t.Fatal(err)
	}
	forged, _ := jws.CompactSerialize()
	for _, tok := range []string{forged, "not-a-jwt", ""} {
		b := newHTTPBrowser(t)
		resp, body := b.do(http.MethodGet, u.IdP+"signin/upstream?"+url.Values{"id_token": {tok}}.Encode(), nil)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "ID Token") {
			t.Errorf("id_token %.20q: HTTP %d %q, want 400 naming the ID Token", tok, resp.StatusCode, body)
		}
		if got := b.appStatus(u.Notes); got != "You are not signed in to Notes." {
			t.Errorf("Notes after a refused sign-in: %q", got)
		}
	}
}
