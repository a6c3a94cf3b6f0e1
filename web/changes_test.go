package web

import (
	"bufio"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/signoff/signoff/coordinator/watch"
	"github.com/signoff/signoff/events"
)

// watchedHub is the store's change hub that also reports each Watch, so
// that a test changes the saga only once the page waits for it.
type watchedHub struct {
	watch.Hub
	watched chan string
}

func (h *watchedHub) Watch(id string) (<-chan struct{}, func()) {
	ch, stop := h.Hub.Watch(id)
	select {
	case h.watched <- id:
	default:
	}
	return ch, stop
}

// TestPageWakesOnTheSagaCommit: a page served before the coordinator took
// the logout waits for it; the store's notification (not a timer: the
// safety re-read is an hour) wakes it with the participants, and the
// subscription is gone once the page is served.
func TestPageWakesOnTheSagaCommit(t *testing.T) {
	e := newEnvRecheck(t, time.Hour)
	c := e.browser(t, "s")
	get(t, c, e.srv.URL+"/logout")
	id := e.logouts.reqs[0].LogoutID
	type page struct {
		body string
		err  error
	}
	got := make(chan page, 1)
	go func() {
		resp, err := c.Get(e.srv.URL + "/logout/" + id)
		if err != nil {
			got <- page{err: err}
			return
		}
		defer resp.Body.Close()
		var b strings.Builder
		_, err = bufio.NewReader(resp.Body).WriteTo(&b)
		got <- page{b.String(), err}
	}()
	if w := <-e.changes.watched; w != id {
		t.Fatalf("the page watches %q, want %q", w, id)
	}
	e.status.set(id, LogoutView{ID: id, Status: events.StatusRunning, Participants: []ParticipantView{{RPID: "chat", Name: "Chat", Outcome: events.OutcomePending}}})
	e.changes.Notify(id)
	p := <-got
	if p.err != nil {
		t.Fatal(p.err)
	}
	if !strings.Contains(p.body, `<span class="name">Chat</span>`) {
		t.Fatalf("the page does not list the participant of the saga committed while it waited:\n%s", p.body)
	}
	if n := e.changes.Len(); n != 0 {
		t.Fatalf("%d subscriptions left after the page was served", n)
	}
}

// TestEventsStreamWakesOnChange: the events stream sends a state for each
// notified change (the safety re-read is an hour) and ends with the saga;
// the subscription is gone when the stream ends.
func TestEventsStreamWakesOnChange(t *testing.T) {
	e := newEnvRecheck(t, time.Hour)
	c := e.browser(t, "s")
	get(t, c, e.srv.URL+"/logout")
	id := e.logouts.reqs[0].LogoutID
	e.status.set(id, LogoutView{ID: id, Status: events.StatusRunning, Participants: []ParticipantView{{RPID: "chat", Name: "Chat", Outcome: events.OutcomePending}}})
	resp, err := c.Get(e.srv.URL + "/logout/" + id + "/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	next := func() streamState {
		t.Helper()
		for sc.Scan() {
			if data, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
				var s streamState
				if err := json.Unmarshal([]byte(data), &s); err != nil {
					t.Fatal(err)
				}
				return s
			}
		}
		t.Fatalf("the stream ended: %v", sc.Err())
		return streamState{}
	}
	if s := next(); s.Status != events.StatusRunning {
		t.Fatalf("first state %+v", s)
	}
	if e.changes.Len() != 1 {
		t.Fatalf("%d subscriptions while the stream runs, want 1", e.changes.Len())
	}
	e.status.set(id, LogoutView{ID: id, Status: events.StatusComplete, Participants: []ParticipantView{{RPID: "chat", Name: "Chat", Outcome: events.OutcomeSucceeded}}})
	e.changes.Notify(id)
	if s := next(); s.Outcome != events.StatusComplete {
		t.Fatalf("state after the change %+v", s)
	}
	for sc.Scan() {
	}
	if n := e.changes.Len(); n != 0 {
		t.Fatalf("%d subscriptions left after the stream ended", n)
	}
}

// TestConfirmIsAnExplicitStep: reading the page, its events and its status
// never confirms the local session; POST /logout/{id}/confirm does, once,
// only from the bound browser, and the no-JavaScript form is sent back to
// the page.
func TestConfirmIsAnExplicitStep(t *testing.T) {
	e := newEnv(t)
	c := e.browser(t, "s")
	get(t, c, e.srv.URL+"/logout")
	id := e.logouts.reqs[0].LogoutID
	done := LogoutView{ID: id, Status: events.StatusPartial, Participants: []ParticipantView{{RPID: "signoff", Name: "This sign-in service", Outcome: events.OutcomePending}}}
	e.status.set(id, done)
	for _, u := range []string{"/logout/" + id, "/logout/" + id + "/events", "/api/logouts/" + id} {
		if resp, _ := get(t, c, e.srv.URL+u); resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d", u, resp.StatusCode)
		}
	}
	if n := len(e.local.confirmed); n != 0 {
		t.Fatalf("GETs confirmed the local session %d times", n)
	}
	stranger := e.browser(t, "")
	resp, err := stranger.Post(e.srv.URL+"/logout/"+id+"/confirm", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || len(e.local.confirmed) != 0 {
		t.Fatalf("another browser's confirmation: %d, %d confirmations", resp.StatusCode, len(e.local.confirmed))
	}
	resp, err = c.PostForm(e.srv.URL+"/logout/"+id+"/confirm", map[string][]string{"page": {"1"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/logout/"+id {
		t.Fatalf("form confirmation: %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if len(e.local.confirmed) != 1 || e.local.confirmed[0] != id {
		t.Fatalf("confirmations %v, want [%s]", e.local.confirmed, id)
	}
}
