package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/signoff/signoff/events"
	"github.com/signoff/signoff/events/eventstest"
)

// TestBrowserLogoutOverHTTP follows a browser sign-out with a plain HTTP
// client through the real wiring: /logout starts a saga with the local
// session participant, the back-channel RP gets its token, the page's
// explicit confirmation step (sent without the session cookie) confirms the
// local participant, and the status API reports the saga complete.
func TestBrowserLogoutOverHTTP(t *testing.T) {
	rp := newTestRP(t, "wiki", "ES256")
	cfg := testConfig(t, 10*time.Second, rp)
	a := startApp(t, cfg, rp)
	c := appClient(t, a)
	c.join("sess-b", "erin", "wiki", "sid-w")
	eventstest.EventuallyErr(t, 10*time.Second, func() error {
		if n, _ := a.Store().SessionCount(context.Background(), "sess-b"); n != 1 {
			return fmt.Errorf("%d sessions", n)
		}
		return nil
	})
	base := "http://" + a.Addr()
	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse(base)
	jar.SetCookies(u, []*http.Cookie{{Name: cfg.Session.CookieName, Value: "sess-b", Path: "/"}})
	browser := &http.Client{Jar: jar}
	resp, err := browser.Get(base + "/logout")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Request.URL.Path, "/logout/") {
		t.Fatalf("after /logout: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	id := strings.TrimPrefix(resp.Request.URL.Path, "/logout/")
	confirmLocal(t, browser, base, id)
	if !strings.Contains(string(body), "Signing you out") {
		t.Errorf("progress page: %s", body)
	}
	var status struct {
		Status       events.Status `json:"status"`
		Participants []struct {
			RPID    string
			Outcome events.Outcome
		} `json:"participants"`
	}
	eventstest.EventuallyErr(t, 15*time.Second, func() error {
		resp, err := browser.Get(base + "/api/logouts/" + id)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status API %d", resp.StatusCode)
		}
		status.Participants = nil
		json.NewDecoder(resp.Body).Decode(&status)
		if status.Status == events.StatusRunning {
			return fmt.Errorf("still running: %+v", status)
		}
		return nil
	})
	if status.Status != events.StatusComplete || len(status.Participants) != 2 {
		t.Fatalf("status %+v", status)
	}
	for _, p := range status.Participants {
		if p.Outcome != events.OutcomeSucceeded {
			t.Errorf("participant %+v", p)
		}
	}
	if n, toks := rp.snapshot(); n != 1 || !toks[0].Valid || toks[0].SID != "sid-w" {
		t.Errorf("RP got %d requests: %+v", n, toks)
	}
	resp, _ = browser.Get(base + "/logout/" + id)
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), "You were signed out of this sign-in service and RP wiki.") ||
		!strings.Contains(string(body), `<span class="name">This sign-in service</span>`) {
		t.Errorf("confirmation page: %s", body)
	}
	// Another browser sees nothing.
	resp, _ = http.Get(base + "/logout/" + id)
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("another browser: %d", resp.StatusCode)
	}
}
