package demo

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/signoff/signoff/events"
)

// TestBrowserUpstreamPath walks the upstream IdP path in Chromium: "Sign in
// with the upstream IdP" signs alice in everywhere through Corp IdP; "Sign
// out at the upstream IdP" leads to Corp IdP's page, which follows the
// logout until signoff's logout.completed and says who was signed out and
// who did not confirm; Notes is signed out, Wiki (front-channel, which
// needs this browser on signoff's page) still says signed in, because it
// is.
func TestBrowserUpstreamPath(t *testing.T) {
	t.Parallel()
	root := sharedBrowser(t)
	u := startDemo(t, Options{SAML: true})
	ctx := newTab(t, root)

	do(t, ctx, 20*time.Second, "signing in with the upstream IdP",
		chromedp.Navigate(u.IdP),
		chromedp.Click(chromedp.CSS("#signin-upstream")),
		chromedp.WaitVisible(chromedp.CSS("#via")),
	)
	if got := text(t, ctx, "#status"); got != "You are signed in as alice." {
		t.Fatalf("IdP home after the upstream sign-in says %q", got)
	}
	for _, c := range []struct{ url, want string }{
		{u.Notes, "You are signed in to Notes as alice."},
		{u.Expenses, "You are signed in to Expenses as alice."},
	} {
		if got := rpStatus(t, ctx, c.url); got != c.want {
			t.Fatalf("%s after the upstream sign-in: %q", c.url, got)
		}
	}

	do(t, ctx, 20*time.Second, "signing out at the upstream IdP",
		chromedp.Navigate(u.Upstream),
		chromedp.Click(chromedp.CSS("#upstream-signout")),
		chromedp.WaitVisible(chromedp.CSS("#logout-result")),
	)
	loc := run(t, ctx, 10*time.Second, "reading the location", chromedp.Location())
	if !strings.HasPrefix(loc, u.Upstream+"?logout=") {
		t.Fatalf("after the upstream sign-out the browser is at %q", loc)
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	waitUntil(t, wctx, "the outcome on Corp IdP's page", func() bool {
		do(t, ctx, 10*time.Second, "reloading Corp IdP's page", chromedp.Navigate(loc), chromedp.WaitVisible(chromedp.CSS("#logout-result")))
		a := run(t, ctx, 10*time.Second, "reading the outcome", chromedp.AttributeValue(chromedp.CSS("#logout-result"), "data-outcome"))
		return a.Value != string(events.StatusRunning)
	})
	want := "You were signed out of Notes and Expenses; Wiki, Chat and Payroll did not confirm — close your browser to be sure."
	if got := text(t, ctx, "#logout-result"); got != want {
		t.Errorf("Corp IdP's page says %q, want %q", got, want)
	}
	for _, c := range []struct{ url, want string }{
		{u.Notes, "You are not signed in to Notes."},
		{u.Expenses, "You are not signed in to Expenses."},
		{u.Wiki, "You are signed in to Wiki as alice."},
		{u.IdP, "You are not signed in."},
	} {
		if got := rpStatus(t, ctx, c.url); got != c.want {
			t.Errorf("%s after the upstream sign-out: %q, want %q", c.url, got, c.want)
		}
	}
}
