package demo

import (
	"net/http"
	"net/url"
	"strings"
)

// confirmLocal takes the logout page's explicit step that confirms the
// local session, as its button does without JavaScript (POST
// /logout/{id}/confirm, page=1, sent back to the page): reading the page
// confirms nothing.
func (b *httpBrowser) confirmLocal(signoff, id string) {
	b.t.Helper()
	_, page := b.do(http.MethodGet, signoff+"/logout/"+id, nil)
	if !strings.Contains(page, `action="/logout/`+id+`/confirm"`) {
		b.t.Fatalf("the logout page has no confirmation step:\n%s", page)
	}
	resp, _ := b.do(http.MethodPost, signoff+"/logout/"+id+"/confirm", url.Values{"page": {"1"}})
	if resp.StatusCode != http.StatusOK || resp.Request.URL.String() != signoff+"/logout/"+id {
		b.t.Fatalf("confirmation: %d at %s, want the logout page", resp.StatusCode, resp.Request.URL)
	}
}
