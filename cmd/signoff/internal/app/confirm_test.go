package app

import (
	"bufio"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/signoff/signoff/events"
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

// TestBrowserEventsFollowTheStoreAndLeaveNoSubscription: through the real
// wiring (store, bus, back-channel RP), the page's event stream, opened
// before the local session is confirmed, reports the confirmation and the
// end of the saga from the store's change notifications, and once the page
// and the stream are done no subscription is left in the store's hub.
func TestBrowserEventsFollowTheStoreAndLeaveNoSubscription(t *testing.T) {
	rp := newTestRP(t, "wiki", "ES256")
	cfg := testConfig(t, 10*time.Second, rp)
	a := startApp(t, cfg, rp)
	c := appClient(t, a)
	c.join("sess-e", "erin", "wiki", "sid-w")
	waitSessions(t, a, "sess-e", 1)
	base := "http://" + a.Addr()
	browser := browserClient(t, base, "sess-e")
	resp, _ := get(t, browser, base+"/logout")
	id, ok := strings.CutPrefix(resp.Request.URL.Path, "/logout/")
	if !ok {
		t.Fatalf("/logout ended at %s", resp.Request.URL)
	}
	stream, err := browser.Get(base + "/logout/" + id + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer stream.Body.Close()
	confirmLocal(t, browser, base, id)
	var last struct {
		Status       events.Status `json:"status"`
		Outcome      events.Status `json:"outcome"`
		Participants []struct {
			RPID    string         `json:"rp_id"`
			Outcome events.Outcome `json:"outcome"`
		} `json:"participants"`
	}
	sc := bufio.NewScanner(stream.Body)
	for sc.Scan() {
		if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			if err := json.Unmarshal([]byte(data), &last); err != nil {
				t.Fatal(err)
			}
		}
	}
	if last.Outcome != events.StatusComplete || len(last.Participants) != 2 {
		t.Fatalf("the stream ended on %+v, want the complete saga", last)
	}
	for _, p := range last.Participants {
		if p.Outcome != events.OutcomeSucceeded {
			t.Errorf("participant %+v", p)
		}
	}
	if n := a.Store().Changes().Len(); n != 0 {
		t.Fatalf("%d subscriptions left in the store's hub after the page and its stream", n)
	}
}
