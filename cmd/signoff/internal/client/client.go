// Package client asks a running signoff, over NATS, to sign a session or a
// user out, and follows the logout until signoff.logout.completed.
package client

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/signoff/signoff/events"
	"github.com/signoff/signoff/events/summary"
)

// Logout publishes req (filling event_id, logout_id and occurred_at when
// empty) and waits for its logout.completed. onResult, when not nil, sees
// every participant result as it arrives.
func Logout(ctx context.Context, nc *nats.Conn, req events.LogoutRequested, onResult func(events.Result)) (events.Completed, error) {
	if req.EventID == "" {
		req.EventID = uuid.NewString()
	}
	if req.LogoutID == "" {
		req.LogoutID = uuid.NewString()
	}
	if req.OccurredAt.IsZero() {
		req.OccurredAt = time.Now().UTC()
	}
	results := make(chan events.Result, 64)
	completed := make(chan events.Completed, 1)
	// Subscribe before publishing so that nothing is missed.
	sub, err := nc.Subscribe("signoff.logout.>", func(m *nats.Msg) {
		switch {
		case m.Subject == events.SubjectLogoutResult:
			if r, err := events.Decode[events.Result](m.Data); err == nil && r.LogoutID == req.LogoutID {
				select {
				case results <- r:
				default:
				}
			}
		case m.Subject == events.SubjectLogoutCompleted:
			if c, err := events.Decode[events.Completed](m.Data); err == nil && c.LogoutID == req.LogoutID {
				select {
				case completed <- c:
				default:
				}
			}
		}
	})
	if err != nil {
		return events.Completed{}, fmt.Errorf("subscribe: %w", err)
	}
	defer sub.Unsubscribe()
	if err := nc.Flush(); err != nil {
		return events.Completed{}, fmt.Errorf("flush: %w", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return events.Completed{}, err
	}
	b, err := events.Encode(req)
	if err != nil {
		return events.Completed{}, err
	}
	if _, err := js.PublishMsg(ctx, &nats.Msg{Subject: events.SubjectLogoutRequested, Data: b, Header: nats.Header{}},
		jetstream.WithMsgID(req.EventID)); err != nil {
		return events.Completed{}, fmt.Errorf("publish logout.requested: %w", err)
	}
	for {
		select {
		case r := <-results:
			if onResult != nil {
				onResult(r)
			}
		case c := <-completed:
			// Hand over results that arrived just before the completion.
			for len(results) > 0 && onResult != nil {
				onResult(<-results)
			}
			return c, nil
		case <-ctx.Done():
			return events.Completed{}, fmt.Errorf("waiting for logout %s: %w", req.LogoutID, ctx.Err())
		}
	}
}

// Summary is the sentence a user should read about a completed logout:
// where they were signed out, and which apps did not confirm.
func Summary(c events.Completed) string {
	var ok, notOK []string
	for _, p := range c.Participants {
		if p.Outcome == events.OutcomeSucceeded {
			ok = append(ok, p.Name)
		} else {
			notOK = append(notOK, p.Name)
		}
	}
	switch {
	case len(ok) == 0 && len(notOK) == 0:
		return "You were already signed out: no application had a session."
	case len(notOK) == 0:
		return summary.SignedOutOf(ok)
	case len(ok) == 0:
		return list(notOK) + " did not confirm the sign-out — close your browser to be sure."
	default:
		return "You were signed out of " + list(ok) + "; " + list(notOK) + " did not confirm — close your browser to be sure."
	}
}

// list is summary.List: "A, B and C".
func list(names []string) string { return summary.List(names) }
