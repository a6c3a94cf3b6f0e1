package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// The Shared Signals adapter's state (adapters/ssf): the SETs of poll
// streams waiting for their receiver's acknowledgement (RFC 8936), and what
// receivers set on their streams (SSF 1.0 section 8.1). Both tables stay
// small: a SET lives until it is acknowledged or its logout deadline
// passes, and there is one stream row per SSF relying party.
const ssfSchema = `
CREATE TABLE IF NOT EXISTS ssf_sets (
	jti        TEXT PRIMARY KEY,
	rp_id      TEXT NOT NULL,
	logout_id  TEXT NOT NULL DEFAULT '',
	set_jwt    TEXT NOT NULL,
	created_at INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS ssf_sets_participant ON ssf_sets(rp_id, logout_id) WHERE logout_id != '';
CREATE INDEX IF NOT EXISTS ssf_sets_rp ON ssf_sets(rp_id, created_at);
CREATE TABLE IF NOT EXISTS ssf_streams (
	rp_id            TEXT PRIMARY KEY,
	status           TEXT NOT NULL DEFAULT 'enabled',
	reason           TEXT NOT NULL DEFAULT '',
	description      TEXT NOT NULL DEFAULT '',
	events_requested TEXT NOT NULL DEFAULT '',
	created_at       INTEGER
) WITHOUT ROWID;
`

func migrateSSFOut(tx *sql.Tx) error {
	if _, err := tx.Exec(ssfSchema); err != nil {
		return fmt.Errorf("create the ssf tables: %w", err)
	}
	return nil
}

// SSFQueuedSET is one SET waiting to be polled.
type SSFQueuedSET struct {
	JTI, RPID string
	// LogoutID is empty for a verification SET.
	LogoutID  string
	SET       string
	ExpiresAt time.Time
}

// SSFStreamState is what a receiver set on its stream.
type SSFStreamState struct {
	Created                     time.Time
	Status, Reason, Description string
	EventsRequested             []string
}

// SSFEnqueue stores a SET for polling (a second one for the same rp_id and
// logout_id is ignored) and drops the SETs whose time passed.
func (s *Store) SSFEnqueue(ctx context.Context, q SSFQueuedSET, now time.Time) error {
	err := s.Update(ctx, func(t *Tx) error {
		if _, err := t.tx.ExecContext(t.ctx, `DELETE FROM ssf_sets WHERE expires_at <= ?`, nanos(now)); err != nil {
			return err
		}
		_, err := t.tx.ExecContext(t.ctx, `INSERT OR IGNORE INTO ssf_sets (jti, rp_id, logout_id, set_jwt, created_at, expires_at)
			VALUES (?, ?, ?, ?, ?, ?)`, q.JTI, q.RPID, q.LogoutID, q.SET, nanos(now), nanos(q.ExpiresAt))
		return err
	})
	if err != nil {
		return fmt.Errorf("store: queue SET %s: %w", q.JTI, err)
	}
	return nil
}

// SSFPending returns up to limit SETs of rpID not yet expired at now,
// oldest first, and whether there are more.
func (s *Store) SSFPending(ctx context.Context, rpID string, now time.Time, limit int) ([]SSFQueuedSET, bool, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT jti, logout_id, set_jwt, expires_at FROM ssf_sets
		WHERE rp_id = ? AND expires_at > ? ORDER BY created_at, jti LIMIT ?`, rpID, nanos(now), limit+1)
	if err != nil {
		return nil, false, fmt.Errorf("store: pending SETs of %s: %w", rpID, err)
	}
	defer rows.Close()
	var out []SSFQueuedSET
	for rows.Next() {
		q := SSFQueuedSET{RPID: rpID}
		var exp int64
		if err := rows.Scan(&q.JTI, &q.LogoutID, &q.SET, &exp); err != nil {
			return nil, false, err
		}
		q.ExpiresAt = fromNanos(exp)
		out = append(out, q)
	}
	if err := rows.Err(); err != nil {
		return nil, false, err
	}
	if len(out) > limit {
		return out[:limit], true, nil
	}
	return out, false, nil
}

// SSFRemove deletes the SETs of rpID with the given jtis and returns those
// that existed.
func (s *Store) SSFRemove(ctx context.Context, rpID string, jtis []string) ([]SSFQueuedSET, error) {
	if len(jtis) == 0 {
		return nil, nil
	}
	var out []SSFQueuedSET
	err := s.Update(ctx, func(t *Tx) error {
		out = out[:0]
		args := []any{rpID}
		for _, j := range jtis {
			args = append(args, j)
		}
		marks := strings.TrimSuffix(strings.Repeat("?,", len(jtis)), ",")
		rows, err := t.tx.QueryContext(t.ctx, `DELETE FROM ssf_sets WHERE rp_id = ? AND jti IN (`+marks+`)
			RETURNING jti, logout_id, set_jwt, expires_at`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			q := SSFQueuedSET{RPID: rpID}
			var exp int64
			if err := rows.Scan(&q.JTI, &q.LogoutID, &q.SET, &exp); err != nil {
				return err
			}
			q.ExpiresAt = fromNanos(exp)
			out = append(out, q)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, fmt.Errorf("store: remove SETs of %s: %w", rpID, err)
	}
	return out, nil
}

// SSFStream returns what the receiver set on rpID's stream; ok is false
// when it set nothing.
func (s *Store) SSFStream(ctx context.Context, rpID string) (SSFStreamState, bool, error) {
	var (
		st      SSFStreamState
		events  string
		created sql.NullInt64
	)
	err := s.r.QueryRowContext(ctx, `SELECT status, reason, description, events_requested, created_at FROM ssf_streams WHERE rp_id = ?`, rpID).
		Scan(&st.Status, &st.Reason, &st.Description, &events, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return SSFStreamState{}, false, nil
	}
	if err != nil {
		return SSFStreamState{}, false, fmt.Errorf("store: stream of %s: %w", rpID, err)
	}
	st.Created = fromNull(created)
	if events != "" {
		if err := json.Unmarshal([]byte(events), &st.EventsRequested); err != nil {
			return SSFStreamState{}, false, fmt.Errorf("store: stream of %s: events_requested: %w", rpID, err)
		}
	}
	return st, true, nil
}

// SSFCreateStream records that the receiver created rpID's stream; it
// returns false, changing nothing, when it was created before.
func (s *Store) SSFCreateStream(ctx context.Context, rpID string, st SSFStreamState) (bool, error) {
	events := ""
	if len(st.EventsRequested) > 0 {
		b, err := json.Marshal(st.EventsRequested)
		if err != nil {
			return false, err
		}
		events = string(b)
	}
	created := false
	err := s.Update(ctx, func(t *Tx) error {
		res, err := t.tx.ExecContext(t.ctx, `INSERT INTO ssf_streams (rp_id, status, reason, description, events_requested, created_at)
			VALUES (?, ?, ?, ?, ?, ?)
			ON CONFLICT (rp_id) DO UPDATE SET description = excluded.description, events_requested = excluded.events_requested,
				created_at = excluded.created_at WHERE ssf_streams.created_at IS NULL`,
			rpID, st.Status, st.Reason, st.Description, events, nanos(st.Created))
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		created = n == 1
		return err
	})
	if err != nil {
		return false, fmt.Errorf("store: create stream of %s: %w", rpID, err)
	}
	return created, nil
}

// SSFSetStatus stores the status of rpID's stream.
func (s *Store) SSFSetStatus(ctx context.Context, rpID, status, reason string) error {
	err := s.Update(ctx, func(t *Tx) error {
		_, err := t.tx.ExecContext(t.ctx, `INSERT INTO ssf_streams (rp_id, status, reason) VALUES (?, ?, ?)
			ON CONFLICT (rp_id) DO UPDATE SET status = excluded.status, reason = excluded.reason`, rpID, status, reason)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: status of stream %s: %w", rpID, err)
	}
	return nil
}
