package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Keys of the expiry policy in the settings table, in nanoseconds; 0 means
// none.
const (
	keyExpiration = "session_expiration"
	keyInactivity = "session_inactivity"
)

// never stands for "no deadline" inside expiryExpr: MIN ignores it unless
// nothing else applies, and NULLIF turns it back into NULL.
const never = "9223372036854775807"

// expiryExpr is the expiry_at of one IdP session, over the aggregate of its
// rows s: the earliest of its expires_at, its first join plus
// session.expiration and its last activity plus session.inactivity, each
// only when it applies; NULL when none does. The durations come from the
// settings table, so joins, activity and a policy change compute it the same
// way.
const expiryExpr = `NULLIF(MIN(
	COALESCE(MIN(s.expires_at), ` + never + `),
	COALESCE(MIN(s.joined_at) + NULLIF((SELECT value FROM settings WHERE key = '` + keyExpiration + `'), 0), ` + never + `),
	COALESCE(MAX(s.last_active) + NULLIF((SELECT value FROM settings WHERE key = '` + keyInactivity + `'), 0), ` + never + `)
), ` + never + `)`

var expiryStatements = map[string]string{
	// sessionExpiry recomputes expiry_at of every row of one session whose
	// logout the sweeper has not queued yet.
	"sessionExpiry": `UPDATE sessions SET expiry_at = (SELECT ` + expiryExpr + ` FROM sessions s WHERE s.session_id = ?)
		WHERE session_id = ? AND expiry_logout_id = ''`,
	// allExpiry recomputes expiry_at of every row not yet queued, after the
	// policy changed (one pass over the table).
	"allExpiry": `UPDATE sessions SET expiry_at = agg.e
		FROM (SELECT s.session_id AS id, ` + expiryExpr + ` AS e FROM sessions s GROUP BY s.session_id) AS agg
		WHERE sessions.session_id = agg.id AND sessions.expiry_logout_id = ''`,
	"getSetting": `SELECT value FROM settings WHERE key = ?`,
	"putSetting": `INSERT INTO settings(key, value) VALUES(?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value`,
	"expiringSession": `SELECT MIN(subject), MIN(joined_at), MAX(last_active), MIN(expires_at), MIN(expiry_at)
		FROM sessions WHERE session_id = ?`,
	"queueExpiry": `UPDATE sessions SET expiry_at = NULL, expiry_logout_id = ? WHERE session_id = ? AND expiry_logout_id = ''`,
}

// expiredSessionsQuery walks the partial index sessions_expiry in deadline
// order: no table scan, and it stops after limit rows.
const expiredSessionsQuery = `SELECT session_id FROM sessions
	WHERE expiry_at IS NOT NULL AND expiry_at <= ? ORDER BY expiry_at LIMIT ?`

// ExpiryPolicy is how long IdP sessions live on their own, beyond the
// expires_at of session.joined. A zero duration means no such limit.
type ExpiryPolicy struct {
	// Expiration is the absolute lifetime of a session, counted from its
	// first session.joined (config session.expiration).
	Expiration time.Duration
	// Inactivity ends a session that saw neither a session.joined nor a
	// session.activity for this long (config session.inactivity).
	Inactivity time.Duration
}

// SetExpiryPolicy makes p the policy with which expiry_at is computed.
// When it differs from the stored one (or none is stored yet: a new or
// migrated database), expiry_at of every session whose logout is not queued
// yet is recomputed in one pass, and changed is true.
func (t *Tx) SetExpiryPolicy(p ExpiryPolicy) (changed bool, err error) {
	want := map[string]int64{keyExpiration: int64(max(p.Expiration, 0)), keyInactivity: int64(max(p.Inactivity, 0))}
	for _, key := range []string{keyExpiration, keyInactivity} {
		var v int64
		switch err := t.stmt("getSetting").QueryRow(key).Scan(&v); {
		case errors.Is(err, sql.ErrNoRows):
			changed = true
		case err != nil:
			return false, fmt.Errorf("store: read setting %s: %w", key, err)
		case v != want[key]:
			changed = true
		}
	}
	if !changed {
		return false, nil
	}
	for _, key := range []string{keyExpiration, keyInactivity} {
		if _, err := t.stmt("putSetting").Exec(key, want[key]); err != nil {
			return false, fmt.Errorf("store: write setting %s: %w", key, err)
		}
	}
	if _, err := t.stmt("allExpiry").Exec(); err != nil {
		return false, fmt.Errorf("store: recompute session expiry: %w", err)
	}
	return true, nil
}

// refreshExpiry recomputes expiry_at of every row of sessionID.
func (t *Tx) refreshExpiry(sessionID string) error {
	if _, err := t.stmt("sessionExpiry").Exec(sessionID, sessionID); err != nil {
		return fmt.Errorf("store: session expiry of %s: %w", sessionID, err)
	}
	return nil
}

// ExpiringSession is an IdP session as the expiry sweeper sees it: the
// aggregate of its RP sessions.
type ExpiringSession struct {
	SessionID string
	Subject   string
	// JoinedAt is its first session.joined.
	JoinedAt time.Time
	// LastActive is its latest session.joined or session.activity.
	LastActive time.Time
	// ExpiresAt is the earliest expires_at the IdP announced; zero when none.
	ExpiresAt time.Time
	// ExpiryAt is when it expires (expiry_at); zero when nothing applies or
	// its logout is queued already.
	ExpiryAt time.Time
}

// ExpiringSession returns the aggregate of sessionID's RP sessions; ok is
// false when none is registered.
func (t *Tx) ExpiringSession(sessionID string) (s ExpiringSession, ok bool, err error) {
	var subject sql.NullString
	var joined, active, expires, expiry sql.NullInt64
	if err := t.stmt("expiringSession").QueryRow(sessionID).Scan(&subject, &joined, &active, &expires, &expiry); err != nil {
		return s, false, fmt.Errorf("store: expiring session %s: %w", sessionID, err)
	}
	if !subject.Valid {
		return s, false, nil
	}
	return ExpiringSession{
		SessionID: sessionID, Subject: subject.String,
		JoinedAt: fromNull(joined), LastActive: fromNull(active), ExpiresAt: fromNull(expires), ExpiryAt: fromNull(expiry),
	}, true, nil
}

// QueueExpiry records that the sweeper queued logoutID for sessionID: its
// rows leave the sweeper's index (expiry_at NULL) but stay registered until
// the logout takes them. Rows joined later are swept on their own.
func (t *Tx) QueueExpiry(sessionID, logoutID string) error {
	if _, err := t.stmt("queueExpiry").Exec(logoutID, sessionID); err != nil {
		return fmt.Errorf("store: queue expiry of %s: %w", sessionID, err)
	}
	return nil
}

// ExpiredSessions lists up to limit IdP sessions whose expiry_at is not
// after now, earliest first. It reads at most limit index entries (one per
// RP session), so a session with several RPs counts for each of them.
func (s *Store) ExpiredSessions(ctx context.Context, now time.Time, limit int) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, expiredSessionsQuery, nanos(now), limit)
	if err != nil {
		return nil, fmt.Errorf("store: expired sessions: %w", err)
	}
	defer rows.Close()
	var out []string
	seen := map[string]bool{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("store: scan expired session: %w", err)
		}
		if !seen[id] {
			seen[id] = true
			out = append(out, id)
		}
	}
	return out, rows.Err()
}

// expiresNanos stores an expires_at: a time after 2262, which int64
// nanoseconds cannot hold (a common way to say "never"), means no expiry; one
// before 1678 means long expired.
func expiresNanos(t time.Time) sql.NullInt64 {
	switch {
	case t.After(maxNanosTime):
		return sql.NullInt64{}
	case t.Before(minNanosTime):
		return sql.NullInt64{Int64: minNanosTime.UnixNano(), Valid: true}
	}
	return sql.NullInt64{Int64: t.UnixNano(), Valid: true}
}

var (
	maxNanosTime = time.Unix(0, 1<<63-1).UTC()
	minNanosTime = time.Unix(0, -1<<63).UTC()
)
