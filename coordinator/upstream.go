package coordinator

import (
	"fmt"

	"github.com/signoff/signoff/coordinator/saga"
	"github.com/signoff/signoff/coordinator/store"
	"github.com/signoff/signoff/events"
)

// resolve returns the registered RP sessions a logout.requested names:
// with upstream, those resting on that upstream session (store
// UpstreamSessions: by upstream sid, or by subject when the request has no
// sid); otherwise those of session_id, or of every session of subject.
func resolve(tx *store.Tx, req events.LogoutRequested) ([]saga.Session, error) {
	if up := req.Upstream; up != nil {
		return tx.UpstreamSessions(up.ID, up.SID, req.Subject)
	}
	return tx.Sessions(req.SessionID, req.Subject)
}

// NoUpstreamSessionsDetail is the Detail of a logout.completed for a
// logout.requested with upstream that named no session signoff knew: no
// session.joined carried that upstream session (or, without sid, that
// upstream and subject).
func NoUpstreamSessionsDetail(up events.Upstream) string {
	if up.SID == "" {
		return fmt.Sprintf("no session of this user resting on upstream %q was known; nothing was signed out at any application", up.ID)
	}
	return fmt.Sprintf("no session resting on upstream %q session %q was known; nothing was signed out at any application", up.ID, up.SID)
}

// noUpstreamSessions replaces the generic detail of a logout that found no
// relying party session by the upstream one.
func noUpstreamSessions(cmds []saga.Command, up events.Upstream) []saga.Command {
	for i, cmd := range cmds {
		if c, ok := cmd.(saga.Complete); ok && c.Detail == events.CompletedNoSessions {
			c.Detail = NoUpstreamSessionsDetail(up)
			cmds[i] = c
		}
	}
	return cmds
}
