package store

import (
	"context"
	"fmt"
	"time"

	"github.com/signoff/signoff/coordinator/saga"
	"github.com/signoff/signoff/events"
)

// States of a SessionApp.
const (
	// AppSignedIn: the registry holds the RP session.
	AppSignedIn = "signed_in"
	// AppSigningOut: a logout of this IdP session is still waiting for the
	// RP (its participant is pending).
	AppSigningOut = "signing_out"
	// AppNotConfirmed: the last logout of this IdP session that reached the
	// RP ended without proof (failed, timed_out or unsupported), so the user
	// may still be signed in there (DESIGN.md: signed out only on proof).
	AppNotConfirmed = "not_confirmed"
)

// SessionApp is one application of an IdP session as signoff knows it.
type SessionApp struct {
	RPID  string
	State string // AppSignedIn, AppSigningOut or AppNotConfirmed
	// Since is when the RP session was joined (AppSignedIn), else when the
	// logout that reached the RP was requested.
	Since time.Time
}

// sessionAppsLogoutsQuery lists the RP participants of the logouts of one
// IdP session that ended a session of it (not, say, an RP a logout reached
// without a session of the user), newest logout first; it uses the index
// sagas_session.
const sessionAppsLogoutsQuery = `SELECT p.rp_id, p.state, s.requested_at FROM sagas s
	JOIN participants p ON p.logout_id = s.logout_id
	WHERE s.session_id = ? AND s.session_id != '' AND p.rp_id != ?
		AND EXISTS (SELECT 1 FROM json_each(p.sessions) WHERE json_extract(value, '$.session_id') = s.session_id)
	ORDER BY s.requested_at DESC, s.logout_id, p.pos`

// SessionApps lists the applications of the IdP session sessionID with
// their state: first those it is signed in to (in the order they were
// joined), then those a logout of this session is still signing out, or
// signed out without confirmation. An application a logout of the session
// signed out with proof, and that was not joined again, is not listed.
// Logouts of a subject (no session_id) are not considered.
func (s *Store) SessionApps(ctx context.Context, sessionID string) ([]SessionApp, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT rp_id, joined_at FROM sessions WHERE session_id = ? ORDER BY joined_at, rp_id`, sessionID)
	if err != nil {
		return nil, fmt.Errorf("store: session apps: %w", err)
	}
	var out []SessionApp
	seen := map[string]bool{}
	for rows.Next() {
		var a SessionApp
		var at int64
		if err := rows.Scan(&a.RPID, &at); err != nil {
			rows.Close()
			return nil, fmt.Errorf("store: scan session app: %w", err)
		}
		a.State, a.Since, seen[a.RPID] = AppSignedIn, fromNanos(at), true
		out = append(out, a)
	}
	if err := rows.Close(); err != nil {
		return nil, fmt.Errorf("store: session apps: %w", err)
	}
	rows, err = s.r.QueryContext(ctx, sessionAppsLogoutsQuery, sessionID, saga.LocalRPID)
	if err != nil {
		return nil, fmt.Errorf("store: session apps: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var rpID string
		var state events.Outcome
		var at int64
		if err := rows.Scan(&rpID, &state, &at); err != nil {
			return nil, fmt.Errorf("store: scan session app: %w", err)
		}
		if seen[rpID] {
			continue // joined again since, or a newer logout decided
		}
		seen[rpID] = true
		switch state {
		case saga.StatePending:
			out = append(out, SessionApp{RPID: rpID, State: AppSigningOut, Since: fromNanos(at)})
		case events.OutcomeSucceeded:
			// Signed out, with proof.
		default:
			out = append(out, SessionApp{RPID: rpID, State: AppNotConfirmed, Since: fromNanos(at)})
		}
	}
	return out, rows.Err()
}
