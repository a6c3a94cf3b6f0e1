package demo

// Browser tests of SAML Single Logout over HTTP-Redirect: the demo's SAML
// SP, Payroll, driven through headless Chromium. The tab's top-level
// document requests (each redirect hop included) are recorded from the
// DevTools network events, and the SAML messages the browser carried are
// verified again here with the signers' published certificates.

import (
	"context"
	"crypto/x509"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/signoff/signoff/adapters/saml/message"
	"github.com/signoff/signoff/events/eventstest"
)

// docRequest is a request for the tab's top-level document: a navigation,
// or the next leg of a redirect, when from is the URL that answered with
// the redirect status fromStatus.
type docRequest struct {
	method, url string
	from        string
	fromStatus  int64
}

// navLog records the top-level document requests of a tab.
type navLog struct {
	mu   sync.Mutex
	reqs []docRequest
}

func recordNavigations(t *testing.T, ctx context.Context) *navLog {
	t.Helper()
	c := chromedp.FromContext(ctx)
	if c == nil || c.Target == nil {
		t.Fatal("recording navigations: no tab")
	}
	mainFrame := string(c.Target.TargetID) // the main frame's id is the target's
	n := &navLog{}
	err := chromedp.Listen(ctx, func(ev any) {
		e, ok := ev.(*network.EventRequestWillBeSent)
		if !ok || e.Type != network.ResourceTypeDocument || string(e.FrameID) != mainFrame || e.Request == nil {
			return
		}
		d := docRequest{method: e.Request.Method, url: e.Request.URL}
		if e.RedirectResponse != nil {
			d.from, d.fromStatus = e.RedirectResponse.URL, e.RedirectResponse.Status
		}
		n.mu.Lock()
		n.reqs = append(n.reqs, d)
		n.mu.Unlock()
	})
	if err != nil {
		t.Fatalf("recording navigations: %v", err)
	}
	return n
}

// since returns the requests recorded from the i-th on.
func (n *navLog) since(i int) []docRequest {
	n.mu.Lock()
	defer n.mu.Unlock()
	return append([]docRequest(nil), n.reqs[min(i, len(n.reqs)):]...)
}

func (n *navLog) len() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	return len(n.reqs)
}

// redirectedTo waits until, from the mark-th request on, a response from a
// URL with prefix fromPrefix redirected the tab to a URL that match
// accepts, and returns the index of that leg in since(mark).
func (n *navLog) redirectedTo(t *testing.T, ctx context.Context, mark int, what, fromPrefix string, match func(string) bool) int {
	t.Helper()
	found := -1
	eventstest.Eventually(t, 20*time.Second, func() bool {
		for i, r := range n.since(mark) {
			if strings.HasPrefix(r.from, fromPrefix) && match(r.url) {
				found = i
				return true
			}
		}
		return false
	}, "waiting for %s", what)
	return found
}

func chainString(reqs []docRequest) string {
	var b strings.Builder
	for _, r := range reqs {
		b.WriteString("\n  " + r.method + " " + r.url)
		if r.from != "" {
			b.WriteString("  ← " + r.from)
		}
	}
	return b.String()
}

// certsAt reads the signing certificates of SAML metadata (signoff's or an
// SP's: every ds:X509Certificate).
func certsAt(t *testing.T, metadataURL string) func(string) ([]*x509.Certificate, bool) {
	t.Helper()
	certs, err := fetchIdPCerts(metadataURL)
	if err != nil {
		t.Fatalf("reading %s: %v", metadataURL, err)
	}
	return func(string) ([]*x509.Certificate, bool) { return certs, true }
}

// parseCarried verifies the HTTP-Redirect message in rawURL (its signature
// with certs, its Destination) as its receiver does, and returns it.
func parseCarried(t *testing.T, rawURL string, certs func(string) ([]*x509.Certificate, bool)) *message.Inbound {
	t.Helper()
	p, err := url.Parse(rawURL)
	if err != nil {
		t.Fatal(err)
	}
	dest := p.Scheme + "://" + p.Host + p.Path
	in, err := message.ParseRedirect(p.RawQuery, message.Expect{Destination: dest, Certs: certs})
	if err != nil {
		t.Fatalf("the SAML message the browser carried to %s does not verify: %v", dest, err)
	}
	return in
}

// samlSessionIndex returns the SessionIndex with which the sign-in chain
// (from the mark-th request on) went through Payroll's login.
func samlSessionIndex(t *testing.T, nav *navLog, mark int, payroll string) string {
	t.Helper()
	for _, r := range nav.since(mark) {
		if strings.HasPrefix(r.url, payroll+"/login?") {
			p, _ := url.Parse(r.url)
			if idx := p.Query().Get("session_index"); idx != "" {
				return idx
			}
		}
	}
	t.Fatalf("the sign-in did not go through Payroll's login:%s", chainString(nav.since(mark)))
	return ""
}

// TestSAMLRedirectChainInChromium: IdP-initiated "Sign out everywhere"
// with Payroll, a SAML SP signed out over HTTP-Redirect. The logout page
// takes the browser to Payroll's SingleLogoutService with a LogoutRequest
// signed by signoff, Payroll ends its session and sends the browser back
// to signoff's /saml/slo with a signed LogoutResponse, which settles
// Payroll and returns the browser to the same logout page.
func TestSAMLRedirectChainInChromium(t *testing.T) {
	t.Parallel()
	ctx := newTab(t, sharedBrowser(t))
	u, out := startDemoOutput(t, Options{SAML: true})
	payroll := strings.TrimSuffix(u.Payroll, "/")
	nav := recordNavigations(t, ctx)

	signIn(t, ctx, u)
	index := samlSessionIndex(t, nav, 0, payroll)
	if got := rpStatus(t, ctx, u.Payroll); got != "You are signed in to Payroll as alice." {
		t.Fatalf("Payroll says %q after sign-in", got)
	}

	// "Sign out everywhere", then wait for the browser's way back from
	// Payroll (the page hops once the Wiki iframe has settled).
	do(t, ctx, 15*time.Second, "opening the IdP", chromedp.Navigate(u.IdP), chromedp.WaitVisible(chromedp.CSS("#signout")))
	mark := nav.len()
	do(t, ctx, 10*time.Second, "clicking Sign out everywhere", chromedp.Click(chromedp.CSS("#signout")))
	back := nav.redirectedTo(t, ctx, mark, "the return from Payroll to the logout page", u.Signoff+"/saml/slo?",
		func(s string) bool { return strings.HasPrefix(s, u.Signoff+"/logout/") })
	waitDone(t, ctx)
	chain := nav.since(mark)
	if back < 2 {
		t.Fatalf("unexpected chain:%s", chainString(chain))
	}

	// The chain: POST /logout → 303 /logout/{id} … → Payroll's /saml/slo
	// (the hop) → 303 signoff's /saml/slo → 303 /logout/{id}.
	if chain[0].method != "POST" || chain[0].url != u.Signoff+"/logout" {
		t.Errorf("the sign-out started with %s %s", chain[0].method, chain[0].url)
	}
	start := chain[1]
	checkLogoutURL(t, u, start.url)
	if start.from != u.Signoff+"/logout" || start.fromStatus != 303 {
		t.Errorf("the logout page was reached from %q (%d), want a 303 from /logout", start.from, start.fromStatus)
	}
	hop, ret, home := chain[back-2], chain[back-1], chain[back]
	var toPayroll int
	for _, r := range chain {
		if strings.HasPrefix(r.url, payroll+"/") {
			toPayroll++
		}
	}
	if toPayroll != 1 || !strings.HasPrefix(hop.url, payroll+"/saml/slo?SAMLRequest=") || hop.from != "" || hop.method != "GET" {
		t.Fatalf("want exactly one hop, a GET of Payroll's /saml/slo with a SAMLRequest; the chain:%s", chainString(chain))
	}
	if ret.from != hop.url || ret.fromStatus != 303 || !strings.HasPrefix(ret.url, u.Signoff+"/saml/slo?SAMLResponse=") {
		t.Fatalf("Payroll did not redirect (303) to signoff's /saml/slo with a SAMLResponse; the chain:%s", chainString(chain))
	}
	if home.from != ret.url || home.fromStatus != 303 || home.url != start.url {
		t.Fatalf("signoff's /saml/slo did not redirect (303) back to %s; the chain:%s", start.url, chainString(chain))
	}
	if loc := run(t, ctx, 5*time.Second, "reading the location", chromedp.Location()); loc != start.url {
		t.Errorf("the browser ended at %q, want back at %q", loc, start.url)
	}

	// What the browser carried, verified as its receivers do: signoff's
	// signed LogoutRequest for Payroll's session, and Payroll's signed
	// LogoutResponse to it, RelayState echoed.
	req := parseCarried(t, hop.url, certsAt(t, u.Signoff+"/saml/metadata"))
	if req.Request == nil || req.Issuer != u.Signoff {
		t.Fatalf("the hop carried %+v, want a LogoutRequest issued by %s", req, u.Signoff)
	}
	if r := req.Request; r.NameID.Value != "alice@payroll" || r.NameID.Format != nameIDPersistent ||
		len(r.SessionIndexes) != 1 || r.SessionIndexes[0] != index {
		t.Errorf("the LogoutRequest names %+v %v, want alice@payroll (persistent) and SessionIndex %s", r.NameID, r.SessionIndexes, index)
	}
	resp := parseCarried(t, ret.url, certsAt(t, payroll+"/saml/metadata"))
	if r := resp.Response; r == nil || resp.Issuer != payroll+"/saml/metadata" || r.InResponseTo != req.Request.ID ||
		r.StatusCode != message.StatusSuccess || resp.RelayState != req.RelayState || req.RelayState == "" {
		t.Errorf("Payroll's answer %+v (response %+v), want a Success LogoutResponse to %s with RelayState %q",
			resp, resp.Response, req.Request.ID, req.RelayState)
	}
	// Payroll's own record: it verified one LogoutRequest and ended the
	// session; signoff's: Payroll's signed LogoutResponse settled it.
	logs := out.String()
	if n := strings.Count(logs, "Payroll verified a SAML LogoutRequest"); n != 1 {
		t.Errorf("Payroll verified %d LogoutRequests, want 1", n)
	}
	if want := "Payroll verified a SAML LogoutRequest (NameID=alice@payroll SessionIndex=" + index + ") and ended 1 session(s)"; !strings.Contains(logs, want) {
		t.Errorf("Payroll's output lacks %q", want)
	}
	if !regexp.MustCompile(`Payroll +succeeded +attempts=1 — signed LogoutResponse: Success`).MatchString(logs) {
		t.Error("signoff did not report Payroll settled by its signed LogoutResponse")
	}

	// The page: Payroll signed out alongside the others.
	want := map[string]string{"signoff": "Signed out", "notes": "Signed out", "wiki": "Signed out",
		"chat": "Not confirmed", "payroll": "Signed out"}
	if got := rowStates(t, ctx); len(got) != len(want) {
		t.Errorf("the page shows %v, want %v", got, want)
	} else {
		for id, w := range want {
			if got[id] != w {
				t.Errorf("row %s says %q, want %q", id, got[id], w)
			}
		}
	}
	if got := text(t, ctx, "#done .summary"); !strings.Contains(strings.SplitN(got, ". ", 2)[0], "Payroll") {
		t.Errorf("summary %q does not count Payroll as signed out", got)
	}
	if got := rpStatus(t, ctx, u.Payroll); got != "You are not signed in to Payroll." {
		t.Errorf("Payroll says %q after the sign-out", got)
	}
}

// TestSAMLSPInitiatedInChromium: Payroll's own "Sign out" sends signoff a
// signed LogoutRequest (SP-initiated, initiator rp); signoff signs the user
// out everywhere on its logout page (Chat is down: partial), and its
// Continue answers Payroll with a signed LogoutResponse, Success with a
// nested PartialLogout, RelayState echoed.
func TestSAMLSPInitiatedInChromium(t *testing.T) {
	t.Parallel()
	ctx := newTab(t, sharedBrowser(t))
	u, out := startDemoOutput(t, Options{SAML: true})
	payroll := strings.TrimSuffix(u.Payroll, "/")
	nav := recordNavigations(t, ctx)

	signIn(t, ctx, u)
	index := samlSessionIndex(t, nav, 0, payroll)
	if got := rpStatus(t, ctx, u.Payroll); got != "You are signed in to Payroll as alice." {
		t.Fatalf("Payroll says %q after sign-in", got)
	}
	if got := href(t, ctx, "#rp-signout"); got != "/logout" {
		t.Fatalf("Payroll's Sign out goes to %q, want its own /logout", got)
	}

	mark := nav.len()
	do(t, ctx, 10*time.Second, "clicking Payroll's Sign out", chromedp.Click(chromedp.CSS("#rp-signout")))
	at := nav.redirectedTo(t, ctx, mark, "signoff's logout page", u.Signoff+"/saml/slo?",
		func(s string) bool { return strings.HasPrefix(s, u.Signoff+"/logout/") })
	waitDone(t, ctx)
	chain := nav.since(mark)
	// Payroll's /logout → 303 signoff's /saml/slo?SAMLRequest → 303 /logout/{id}.
	if at != 2 || chain[0].url != payroll+"/logout" || chain[1].from != chain[0].url || chain[1].fromStatus != 303 ||
		!strings.HasPrefix(chain[1].url, u.Signoff+"/saml/slo?SAMLRequest=") || chain[2].fromStatus != 303 {
		t.Fatalf("unexpected chain:%s", chainString(chain))
	}
	page := chain[2].url
	checkLogoutURL(t, u, page)
	for _, r := range nav.since(mark + 3) {
		if strings.HasPrefix(r.url, payroll+"/") {
			t.Errorf("the logout page sent the browser to Payroll, which asked for the logout itself: %s", r.url)
		}
	}
	if n := run(t, ctx, 5*time.Second, "looking for a hop", chromedp.Evaluate[int](`document.querySelectorAll("#hop").length`)); n != 0 {
		t.Error("the logout page has a hop to Payroll, which asked for the logout itself")
	}

	// Payroll's LogoutRequest, verified as signoff does.
	req := parseCarried(t, chain[1].url, certsAt(t, payroll+"/saml/metadata"))
	if r := req.Request; r == nil || req.Issuer != payroll+"/saml/metadata" || r.NameID.Value != "alice@payroll" ||
		len(r.SessionIndexes) != 1 || r.SessionIndexes[0] != index {
		t.Fatalf("Payroll's Sign out carried %+v (request %+v), want a LogoutRequest for alice@payroll, SessionIndex %s", req, req.Request, index)
	}
	if !strings.HasPrefix(req.RelayState, "payroll-") {
		t.Fatalf("Payroll's RelayState %q", req.RelayState)
	}

	// The page: everyone but Chat signed out; Payroll (the initiator, which
	// gets the LogoutResponse) counted as signed out.
	want := map[string]string{"signoff": "Signed out", "notes": "Signed out", "wiki": "Signed out",
		"chat": "Not confirmed", "payroll": "Signed out"}
	if got := rowStates(t, ctx); len(got) != len(want) {
		t.Errorf("the page shows %v, want %v", got, want)
	} else {
		for id, w := range want {
			if got[id] != w {
				t.Errorf("row %s says %q, want %q", id, got[id], w)
			}
		}
	}
	if got := text(t, ctx, "#title"); got != "Sign-out not confirmed everywhere" {
		t.Errorf("title %q", got)
	}
	logs := out.String()
	if !regexp.MustCompile(`Payroll +succeeded +attempts=1 — the service provider asked for this logout with a signed LogoutRequest`).MatchString(logs) {
		t.Error("signoff did not report Payroll as the initiator of the logout")
	}
	if strings.Contains(logs, "Payroll verified a SAML LogoutRequest") {
		t.Error("Payroll was sent a LogoutRequest for the logout it asked for")
	}

	// Continue: signoff's /saml/return answers Payroll's LogoutRequest.
	cont := href(t, ctx, "#done a.button")
	if !strings.HasPrefix(cont, u.Signoff+"/saml/return?t=") {
		t.Fatalf("Continue goes to %q, want signoff's /saml/return", cont)
	}
	mark = nav.len()
	do(t, ctx, 15*time.Second, "following Continue",
		chromedp.Click(chromedp.CSS("#done a.button")),
		chromedp.WaitVisible(chromedp.CSS("#bye")),
	)
	loc := run(t, ctx, 5*time.Second, "reading the location", chromedp.Location())
	chain = nav.since(mark)
	if len(chain) != 2 || chain[0].url != cont || chain[1].from != cont || chain[1].fromStatus != 303 || chain[1].url != loc ||
		!strings.HasPrefix(loc, payroll+"/saml/slo?SAMLResponse=") {
		t.Fatalf("Continue led to %q; the chain:%s", loc, chainString(chain))
	}
	resp := parseCarried(t, loc, certsAt(t, u.Signoff+"/saml/metadata"))
	if r := resp.Response; r == nil || resp.Issuer != u.Signoff || r.InResponseTo != req.Request.ID ||
		r.StatusCode != message.StatusSuccess || r.SubStatusCode != message.StatusPartialLogout {
		t.Errorf("signoff answered %+v (response %+v), want Success/PartialLogout in response to %s", resp, resp.Response, req.Request.ID)
	}
	if resp.RelayState != req.RelayState {
		t.Errorf("RelayState came back as %q, want %q", resp.RelayState, req.RelayState)
	}

	// What Payroll shows of it.
	if got := text(t, ctx, "#bye"); got != "You left Payroll. Some applications did not confirm the sign-out: close your browser to be sure." {
		t.Errorf("Payroll says %q", got)
	}
	if got := text(t, ctx, "#saml-status"); got != "Success (PartialLogout)" {
		t.Errorf("Payroll shows the status %q, want \"Success (PartialLogout)\"", got)
	}
	attrs := run(t, ctx, 5*time.Second, "reading the status", chromedp.Evaluate[map[string]string](
		`Object.assign({}, document.getElementById("saml-status").dataset, document.getElementById("saml-relaystate").dataset)`))
	if attrs["status"] != message.StatusSuccess || attrs["substatus"] != message.StatusPartialLogout || attrs["relaystate"] != req.RelayState {
		t.Errorf("Payroll received %v, want status %s, sub-status %s, RelayState %q",
			attrs, message.StatusSuccess, message.StatusPartialLogout, req.RelayState)
	}
	if got := text(t, ctx, "#saml-relaystate"); got != "came back intact" {
		t.Errorf("Payroll says its RelayState %q", got)
	}
	if got := text(t, ctx, "#status"); got != "You are not signed in to Payroll." {
		t.Errorf("Payroll says %q after its Sign out", got)
	}
}
