package ssf

import (
	"context"
	"net/http"
	"time"

	"github.com/signoff/signoff/adapters/internal/delivery"
	"github.com/signoff/signoff/events"
)

// Bounds of maxEvents (RFC 8936 section 2.4: the transmitter may return
// fewer SETs than asked).
const (
	defaultMaxEvents = 100
	maxMaxEvents     = 1000
)

// pollRequest is the body of a poll (RFC 8936 section 2.4).
type pollRequest struct {
	MaxEvents         *int                 `json:"maxEvents"`
	ReturnImmediately bool                 `json:"returnImmediately"`
	Ack               []string             `json:"ack"`
	SetErrs           map[string]pushError `json:"setErrs"`
}

// pollResponse is the answer to a poll (RFC 8936 section 2.5).
type pollResponse struct {
	Sets          map[string]string `json:"sets"`
	MoreAvailable bool              `json:"moreAvailable"`
}

// poll serves the transmitter's poll endpoint (RFC 8936 section 2): it
// settles the acknowledged SETs (a logout SET: the participant succeeded)
// and those reported in setErrs (failed), then returns up to maxEvents
// SETs. Without returnImmediately and with no SET to return, it waits for
// one to be queued, at most LongPoll.
func (a *Adapter) poll(w http.ResponseWriter, r *http.Request, rp RP) {
	if rp.Delivery != Poll {
		writeError(w, http.StatusBadRequest, "invalid_request", "this stream uses push delivery; there is nothing to poll")
		return
	}
	var req pollRequest
	if !readJSON(w, r, &req) {
		return
	}
	a.polls.Add(1)
	limit := defaultMaxEvents
	if req.MaxEvents != nil {
		limit = min(max(*req.MaxEvents, 0), maxMaxEvents)
	}
	if !a.settle(w, r.Context(), rp, req) {
		return
	}
	st, err := a.status(r.Context(), rp)
	if err != nil {
		a.internal(w, err)
		return
	}
	if st.Status != StatusEnabled {
		// SSF 1.0 section 8.1.2: nothing is transmitted on a paused or
		// disabled stream.
		writeJSON(w, http.StatusOK, pollResponse{Sets: map[string]string{}})
		return
	}
	var timeout <-chan time.Time
	for {
		wake := a.waiter(rp.ID)
		sets, more, err := a.store.Pending(r.Context(), rp.ID, a.now(), limit)
		if err != nil {
			a.internal(w, err)
			return
		}
		if len(sets) > 0 || req.ReturnImmediately || limit == 0 {
			resp := pollResponse{Sets: make(map[string]string, len(sets)), MoreAvailable: more}
			for _, q := range sets {
				resp.Sets[q.JTI] = q.SET
			}
			writeJSON(w, http.StatusOK, resp)
			return
		}
		if timeout == nil {
			t := time.NewTimer(a.longPoll)
			defer t.Stop()
			timeout = t.C
		}
		select {
		case <-wake:
		case <-timeout:
			writeJSON(w, http.StatusOK, pollResponse{Sets: map[string]string{}})
			return
		case <-r.Context().Done():
			return
		case <-a.ending:
			writeJSON(w, http.StatusOK, pollResponse{Sets: map[string]string{}})
			return
		case <-a.runCtx.Done():
			writeJSON(w, http.StatusOK, pollResponse{Sets: map[string]string{}})
			return
		}
	}
}

// settle removes the acknowledged and failed SETs of the request and
// publishes the results of their participants. It answers the request
// itself and returns false when it cannot go on.
func (a *Adapter) settle(w http.ResponseWriter, ctx context.Context, rp RP, req pollRequest) bool {
	if len(req.Ack) > 0 {
		done, err := a.store.Remove(ctx, rp.ID, req.Ack)
		if err != nil {
			a.internal(w, err)
			return false
		}
		for _, q := range done {
			if q.LogoutID == "" {
				a.log.Info("verification SET acknowledged", "rp_id", rp.ID, "jti", q.JTI)
				continue
			}
			a.outcomes.Succeeded.Add(1)
			a.log.Info("SET acknowledged by poll", "logout_id", q.LogoutID, "rp_id", rp.ID, "jti", q.JTI)
			a.publish(q.LogoutID, rp.ID, events.Result{Outcome: events.OutcomeSucceeded, Detail: "SET acknowledged by the receiver's poll", Attempts: 1})
		}
	}
	if len(req.SetErrs) > 0 {
		jtis := make([]string, 0, len(req.SetErrs))
		for jti := range req.SetErrs {
			jtis = append(jtis, jti)
		}
		done, err := a.store.Remove(ctx, rp.ID, jtis)
		if err != nil {
			a.internal(w, err)
			return false
		}
		for _, q := range done {
			e := req.SetErrs[q.JTI]
			detail := "the receiver reported an error for the SET: " + delivery.Sanitize(e.Err)
			if e.Description != "" {
				detail += ": " + delivery.Sanitize(e.Description)
			}
			if q.LogoutID == "" {
				a.log.Warn("verification SET refused by the receiver", "rp_id", rp.ID, "detail", detail)
				continue
			}
			a.outcomes.Failed.Add(1)
			a.log.Warn("SET refused by poll", "logout_id", q.LogoutID, "rp_id", rp.ID, "detail", detail)
			a.publish(q.LogoutID, rp.ID, events.Result{Outcome: events.OutcomeFailed, Detail: detail, Attempts: 1})
		}
	}
	return true
}
