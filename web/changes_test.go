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
	e.status.set(id, LogoutView{ID: id, Status: "running", Participants: []ParticipantView{{RPID: "chat", Name: "Chat", Outcome: "pending"}}})
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
	e.status.set(id, LogoutView{ID: id, Status: "running", Participants: []ParticipantView{{RPID: "chat", Name: "Chat", Outcome: "pending"}}})
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
	if s := next(); s.Status != "running" {
		t.Fatalf("first state %+v", s)
	}
	if e.changes.Len() != 1 {
		t.Fatalf("%d subscriptions while the stream runs, want 1", e.changes.Len())
	}
	e.status.set(id, LogoutView{ID: id, Status: events.CompletedComplete, Participants: []ParticipantView{{RPID: "chat", Name: "Chat", Outcome: events.OutcomeSucceeded}}})
	e.changes.Notify(id)
	if s := next(); s.Outcome != events.CompletedComplete {
		t.Fatalf("state after the change %+v", s)
	}
	for sc.Scan() {
	}
	if n := e.changes.Len(); n != 0 {
		t.Fatalf("%d subscriptions left after the stream ended", n)
	}
}
