package app

import (
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/signoff/signoff/events/eventstest"
)

// chooserApps returns the chooser's list of applications as "Name: State
// label" rows, in page order.
func chooserApps(page string) []string {
	var rows []string
	for _, m := range regexp.MustCompile(`<li id="app-[^"]+"><span class="name">([^<]+)</span> <span class="state ([a-z_]+)">([^<]+)</span></li>`).FindAllStringSubmatch(page, -1) {
		rows = append(rows, m[1]+": "+m[2]+" "+m[3])
	}
	return rows
}

// TestChooserShowsEachAppsState: the "this app only or everywhere"
// chooser lists each application of the sign-in with its state: signed in;
// signing out while a "this app only" logout still waits for it (an RP that
// hangs); sign-out not confirmed once that logout ended without its
// confirmation, with a sentence that says the user may still be signed in.
func TestChooserShowsEachAppsState(t *testing.T) {
	wiki, chat := newTestRP(t, "wiki", "ES256", 0), newTestRP(t, "chat", "ES256") // wiki hangs
	cfg := testConfig(t, 8*time.Second, wiki, chat)
	cfg.RelyingParties[0].OIDC.PostLogoutRedirectURIs = []string{byeURI}
	a := startApp(t, cfg, wiki, chat)
	e := &esEnv{t: t, a: a, c: appClient(t, a), base: "http://" + a.Addr(), wiki: wiki, chat: chat, cookie: cfg.Session.CookieName}
	b, s := e.session()
	q := url.Values{"id_token_hint": {e.ownToken(s, time.Now().Add(time.Hour))}, "post_logout_redirect_uri": {byeURI}}
	_, page := read(t)(b.Get(e.base + "/oidc/end_session?" + q.Encode()))
	if got, want := strings.Join(chooserApps(page), "; "), "RP wiki: signed_in Signed in; RP chat: signed_in Signed in"; got != want {
		t.Fatalf("chooser apps %q, want %q:\n%s", got, want, page)
	}

	// "Sign out of RP wiki only": wiki hangs, so its sign-out is pending.
	m := tokenRE.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no chooser form:\n%s", page)
	}
	code, _ := read(t)(b.PostForm(e.base+"/logout/choose", url.Values{"token": {m[1]}, "scope": {"initiator_only"}}))
	if code != http.StatusSeeOther {
		t.Fatalf("choose: %d", code)
	}
	chooser := func(wantApps, wantText string) {
		t.Helper()
		eventstest.EventuallyErr(t, 20*time.Second, func() error {
			_, page = read(t)(b.Get(e.base + "/oidc/end_session"))
			if got := strings.Join(chooserApps(page), "; "); got != wantApps || !strings.Contains(page, wantText) {
				return fmt.Errorf("chooser apps %q, want %q; text %q wanted in:\n%s", got, wantApps, wantText, page)
			}
			return nil
		})
	}
	chooser("RP chat: signed_in Signed in; RP wiki: signing_out Signing out…",
		"You are signed in to RP chat. Unsaved work in them may be lost. The sign-out of RP wiki is still in progress.")
	eventstest.EventuallyErr(t, 20*time.Second, func() error {
		if n, _ := wiki.snapshot(); n == 0 {
			return fmt.Errorf("wiki received no logout token")
		}
		return nil
	})
	// The logout's deadline passes without wiki's confirmation.
	chooser("RP chat: signed_in Signed in; RP wiki: not_confirmed Sign-out not confirmed",
		"RP wiki did not confirm an earlier sign-out: you may still be signed in there.")
	if n, _ := chat.snapshot(); n != 0 {
		t.Errorf("chat received %d logout tokens; it was not signed out", n)
	}
}
