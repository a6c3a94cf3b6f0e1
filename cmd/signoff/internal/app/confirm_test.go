package app

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// confirmLocal takes the logout page's explicit step that confirms the
// local session, as its button does without JavaScript (POST
// /logout/{id}/confirm, page=1, sent back to the page): reading the page
// confirms nothing. The page must list the form first.
func confirmLocal(t *testing.T, browser *http.Client, base, id string) {
	t.Helper()
	_, page := get(t, browser, base+"/logout/"+id)
	if !strings.Contains(page, `action="/logout/`+id+`/confirm"`) {
		t.Fatalf("the logout page has no confirmation step:\n%s", page)
	}
	resp, err := browser.PostForm(base+"/logout/"+id+"/confirm", url.Values{"page": {"1"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != "/logout/"+id {
		t.Fatalf("confirmation: %d at %s, want the logout page", resp.StatusCode, resp.Request.URL)
	}
}
