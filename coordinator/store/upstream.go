package store

import (
	"fmt"

	"github.com/signoff/signoff/coordinator/saga"
)

// sessionsByUpstreamSIDQuery returns every RP session of the signoff
// sessions that joined with upstream (id, sid); the inner lookup uses the
// index sessions_upstream.
const sessionsByUpstreamSIDQuery = `SELECT session_id, rp_id, subject, sid, saml FROM sessions
	WHERE session_id IN (SELECT session_id FROM sessions WHERE upstream_id != '' AND upstream_id = ? AND upstream_sid = ?)
	ORDER BY joined_at, rp_id`

// sessionsByUpstreamSubQuery returns every RP session of the signoff
// sessions of a subject that joined with upstream id, whatever their
// upstream sid; the inner lookup uses the index sessions_subject.
const sessionsByUpstreamSubQuery = `SELECT session_id, rp_id, subject, sid, saml FROM sessions
	WHERE session_id IN (SELECT session_id FROM sessions WHERE subject = ? AND upstream_id = ?)
	ORDER BY joined_at, rp_id`

// upstreamStatements are the prepared statements of the upstream lookups.
var upstreamStatements = map[string]string{
	"sessionsByUpstreamSID": sessionsByUpstreamSIDQuery,
	"sessionsByUpstreamSub": sessionsByUpstreamSubQuery,
}

// UpstreamSessions returns the registered RP sessions that rest on a
// session at the upstream upstreamID (session.joined upstream): with sid,
// those of every signoff session that joined with that upstream sid; with
// sid empty, those of every session of subject that joined with that
// upstream (a logout token with sub and no sid ends all the user's sessions
// at the RP, OpenID Connect Back-Channel Logout 1.0 section 2.7). A signoff
// session is taken whole: all its RP sessions, also those whose join did
// not repeat the upstream.
func (t *Tx) UpstreamSessions(upstreamID, sid, subject string) ([]saga.Session, error) {
	var err error
	var out []saga.Session
	if sid != "" {
		rows, qerr := t.stmt("sessionsByUpstreamSID").Query(upstreamID, sid)
		if qerr != nil {
			return nil, fmt.Errorf("store: sessions of upstream %s sid %s: %w", upstreamID, sid, qerr)
		}
		out, err = scanSessions(rows)
	} else {
		rows, qerr := t.stmt("sessionsByUpstreamSub").Query(subject, upstreamID)
		if qerr != nil {
			return nil, fmt.Errorf("store: sessions of %s at upstream %s: %w", subject, upstreamID, qerr)
		}
		out, err = scanSessions(rows)
	}
	return out, err
}
