package demo

import (
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

	"github.com/signoff/signoff/events"
	"github.com/signoff/signoff/events/eventstest"
)

// httpBrowser is a cookie-keeping HTTP client standing in for a browser
// without JavaScript.
type httpBrowser struct {
	t *testing.T
	c *http.Client
}

func newHTTPBrowser(t *testing.T) *httpBrowser {
	jar, _ := cookiejar.New(nil)
	return &httpBrowser{t: t, c: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

func (b *httpBrowser) do(method, raw string, form url.Values) (*http.Response, string) {
	b.t.Helper()
	var (
		resp *http.Response
		err  error
	)
	if method == http.MethodPost {
		resp, err = b.c.PostForm(raw, form)
	} else {
		resp, err = b.c.Get(raw)
	}
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, raw, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

var (
	samlHop      = regexp.MustCompile(`id="hop"[^>]*data-href="([^"]+)"`)
	samlContinue = regexp.MustCompile(`<a class="button" href="([^"]+)">Continue</a>`)
	statusLine   = regexp.MustCompile(`id="status" role="status">([^<]*(?:<strong>[^<]*</strong>[^<]*)?)</p>`)
	byeLine      = regexp.MustCompile(`id="bye" role="status">([^<]*)</p>`)
)

// payrollStatus is what the SAML SP's home page says.
func (b *httpBrowser) payrollStatus(u URLs) string {
	_, body := b.do(http.MethodGet, u.Payroll, nil)
	m := statusLine.FindStringSubmatch(body)
	if m == nil {
		b.t.Fatalf("Payroll's home page has no status:\n%s", body)
	}
	return strings.NewReplacer("<strong>", "", "</strong>", "").Replace(m[1])
}

// waitLogout polls the status API until the logout has ended and returns
// the outcome of each participant.
func (b *httpBrowser) waitLogout(u URLs, id string) (string, map[string]string) {
	b.t.Helper()
	var status string
	out := map[string]string{}
	eventstest.EventuallyErr(b.t, 30*time.Second, func() error {
		_, body := b.do(http.MethodGet, u.Signoff+"/api/logouts/"+id, nil)
		var v struct {
			Status       events.Status `json:"status"`
			Participants []struct {
				RPID    string         `json:"rp_id"`
				Outcome events.Outcome `json:"outcome"`
			} `json:"participants"`
		}
		json.Unmarshal([]byte(body), &v)
		if v.Status == "" || v.Status == events.StatusRunning {
			return fmt.Errorf("logout %s still %q: %s", id, v.Status, body)
		}
		status = string(v.Status)
		for _, p := range v.Participants {
			out[p.RPID] = string(p.Outcome)
		}
		return nil
	})
	return status, out
}

// TestSAMLDemoOverHTTP drives the demo's SAML SP, Payroll, with an HTTP
// client: sign-in registers a SAML session (NameID, SessionIndex) and signs
// in at Payroll; "Sign out everywhere" leads to a logout page whose
// redirect hop takes the browser to Payroll's SingleLogoutService, which
// verifies signoff's LogoutRequest, ends the session and sends the browser
// back with a signed LogoutResponse that settles Payroll; then Payroll's own
// "Sign out" (SP-initiated) ends at signoff's page, whose Continue brings a
// signed LogoutResponse back to Payroll.
func TestSAMLDemoOverHTTP(t *testing.T) {
	t.Parallel()
	u := startDemo(t, Options{SAML: true})
	if u.Payroll == "" {
		t.Fatal("the demo has no SAML SP with Options.SAML")
	}
	b := newHTTPBrowser(t)

	// Sign in: through every app's login, Payroll's included.
	b.do(http.MethodPost, u.IdP+"signin", url.Values{"user": {"alice"}})
	if got := b.payrollStatus(u); got != "You are signed in to Payroll as alice." {
		t.Fatalf("Payroll after sign-in: %q", got)
	}

	// Sign out everywhere: the page hops to Payroll and back.
	resp, page := b.do(http.MethodPost, u.Signoff+"/logout", nil)
	if !logoutPath.MatchString(resp.Request.URL.Path) {
		t.Fatalf("/logout ended at %s", resp.Request.URL)
	}
	id := strings.TrimPrefix(resp.Request.URL.Path, "/logout/")
	m := samlHop.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no hop to Payroll on the logout page:\n%s", page)
	}
	hop := html.UnescapeString(m[1])
	if !strings.HasPrefix(hop, strings.TrimSuffix(u.Payroll, "/")+"/saml/slo?SAMLRequest=") {
		t.Fatalf("the hop goes to %q", hop)
	}
	resp, _ = b.do(http.MethodGet, hop, nil)
	if resp.Request.URL.String() != u.Signoff+"/logout/"+id {
		t.Fatalf("the hop ended at %s, want back on the logout page", resp.Request.URL)
	}
	status, outcomes := b.waitLogout(u, id)
	if outcomes["payroll"] != "succeeded" || outcomes["notes"] != "succeeded" || status != "partial" {
		t.Errorf("logout %s: %s %v", id, status, outcomes) // Wiki needs JavaScript, Chat is down
	}
	if got := b.payrollStatus(u); got != "You are not signed in to Payroll." {
		t.Errorf("Payroll after the logout: %q", got)
	}

	// Payroll's own Sign out: SP-initiated.
	b.do(http.MethodPost, u.IdP+"signin", url.Values{"user": {"alice"}})
	if got := b.payrollStatus(u); got != "You are signed in to Payroll as alice." {
		t.Fatalf("Payroll after the second sign-in: %q", got)
	}
	resp, _ = b.do(http.MethodGet, strings.TrimSuffix(u.Payroll, "/")+"/logout", nil)
	if !logoutPath.MatchString(resp.Request.URL.Path) || !strings.HasPrefix(resp.Request.URL.String(), u.Signoff) {
		t.Fatalf("Payroll's Sign out ended at %s", resp.Request.URL)
	}
	id = strings.TrimPrefix(resp.Request.URL.Path, "/logout/")
	b.confirmLocal(u.Signoff, id)
	status, outcomes = b.waitLogout(u, id)
	if outcomes["payroll"] != "succeeded" || outcomes["signoff"] != "succeeded" || outcomes["notes"] != "succeeded" {
		t.Errorf("SP-initiated logout %s: %s %v", id, status, outcomes)
	}
	_, page = b.do(http.MethodGet, u.Signoff+"/logout/"+id, nil)
	m = samlContinue.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no Continue on the confirmation page:\n%s", page)
	}
	resp, body := b.do(http.MethodGet, html.UnescapeString(m[1]), nil)
	bye := byeLine.FindStringSubmatch(body)
	if !strings.HasPrefix(resp.Request.URL.String(), u.Payroll) || bye == nil {
		t.Fatalf("Continue ended at %s:\n%s", resp.Request.URL, body)
	}
	want := "You left Payroll. Some applications did not confirm the sign-out: close your browser to be sure."
	if status == "complete" {
		want = "You left Payroll and were signed out everywhere."
	}
	if bye[1] != want {
		t.Errorf("Payroll says %q, want %q (logout %s)", bye[1], want, fmt.Sprint(outcomes))
	}
	if got := b.payrollStatus(u); got != "You are not signed in to Payroll." {
		t.Errorf("Payroll after its Sign out: %q", got)
	}
}
