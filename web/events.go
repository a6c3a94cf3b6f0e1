package web

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/signoff/signoff/events"
)

// streamState is one server-sent event of /logout/{id}/events.
type streamState struct {
	LogoutView
	Outcome events.Status `json:"outcome,omitempty"`
	Title   string        `json:"title,omitempty"`
	Summary string        `json:"summary,omitempty"`
}

// pageView is v as the sign-out page receives it: each participant with
// its plain Reason and without the technical Detail (operators read that in
// the logs, the events and the admin API).
func pageView(v LogoutView, localRPID string) LogoutView {
	ps := make([]ParticipantView, len(v.Participants))
	for i, p := range v.Participants {
		p.Reason, p.Detail = reason(p, localRPID), ""
		ps[i] = p
	}
	v.Participants = ps
	v.Detail = ""
	return v
}

// events streams the saga's state as server-sent events until it ends.
func (b *browser) events(w http.ResponseWriter, r *http.Request) {
	if _, ok := b.view(w, r); !ok {
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fl.Flush()
	ctx, cancel := context.WithTimeout(r.Context(), b.MaxWait)
	defer cancel()
	id := r.PathValue("id")
	var last []byte
	// Subscribed before the first read: no change is missed between them.
	changed, stop := b.Changes.Watch(id)
	defer stop()
	keepAlive := time.NewTicker(15 * time.Second)
	defer keepAlive.Stop()
	for {
		v, found, err := b.Status.Logout(ctx, id)
		if err == nil && found {
			st := streamState{LogoutView: pageView(v, b.LocalRPID)}
			if v.Status != events.StatusRunning {
				st.Outcome = v.Status
				st.Title, st.Summary = headline(v, b.LocalRPID)
			}
			data, _ := json.Marshal(st)
			if string(data) != string(last) {
				fmt.Fprintf(w, "event: state\ndata: %s\n\n", data)
				fl.Flush()
				last = data
			}
			if v.Status != events.StatusRunning {
				return
			}
		}
		if !b.awaitStream(ctx, w, fl, changed, keepAlive.C) {
			return
		}
	}
}

// awaitStream waits for a change of the saga (or Recheck, the safety
// re-read), writing SSE comments on keepAlive meanwhile; false when ctx
// ends.
func (b *browser) awaitStream(ctx context.Context, w io.Writer, fl http.Flusher, changed <-chan struct{}, keepAlive <-chan time.Time) bool {
	recheck := time.NewTimer(b.Recheck)
	defer recheck.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-keepAlive:
			io.WriteString(w, ": keep-alive\n\n")
			fl.Flush()
		case <-changed:
			return true
		case <-recheck.C:
			return true
		}
	}
}
