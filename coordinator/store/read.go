package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/signoff/signoff/coordinator/saga"
)

// readQ adapts the reader pool with a fixed query to the queryer interface.
type readQ struct {
	ctx   context.Context
	s     *Store
	query string
}

func (q readQ) QueryRow(args ...any) *sql.Row { return q.s.r.QueryRowContext(q.ctx, q.query, args...) }

func (q readQ) Query(args ...any) (*sql.Rows, error) {
	return q.s.r.QueryContext(q.ctx, q.query, args...)
}

// Saga reads one saga from the reader pool.
func (s *Store) Saga(ctx context.Context, logoutID string) (saga.Saga, bool, error) {
	return loadSaga(readQ{ctx, s, statements["sagaRow"]}, readQ{ctx, s, statements["participantRows"]}, logoutID)
}

// RunningSagas lists the ids of every saga that has not ended.
func (s *Store) RunningSagas(ctx context.Context) ([]string, error) {
	return s.ids(ctx, `SELECT logout_id FROM sagas WHERE status = 'running' ORDER BY deadline`)
}

// ExpiredSagas lists up to limit running sagas whose deadline is not after now.
func (s *Store) ExpiredSagas(ctx context.Context, now time.Time, limit int) ([]string, error) {
	return s.ids(ctx, `SELECT logout_id FROM sagas WHERE status = 'running' AND deadline <= ? ORDER BY deadline LIMIT ?`, nanos(now), limit)
}

// NextDeadline returns the earliest deadline of a running saga.
func (s *Store) NextDeadline(ctx context.Context) (time.Time, bool, error) {
	var n *int64
	if err := s.r.QueryRowContext(ctx, `SELECT MIN(deadline) FROM sagas WHERE status = 'running'`).Scan(&n); err != nil {
		return time.Time{}, false, fmt.Errorf("store: next deadline: %w", err)
	}
	if n == nil {
		return time.Time{}, false, nil
	}
	return fromNanos(*n), true, nil
}

// SessionCount returns the number of registered RP sessions of sessionID
// (all sessions when sessionID is empty).
func (s *Store) SessionCount(ctx context.Context, sessionID string) (int, error) {
	var n int
	var err error
	if sessionID == "" {
		err = s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM sessions`).Scan(&n)
	} else {
		err = s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM sessions WHERE session_id = ?`, sessionID).Scan(&n)
	}
	if err != nil {
		return 0, fmt.Errorf("store: count sessions: %w", err)
	}
	return n, nil
}

// OutboxRow is one queued event.
type OutboxRow struct {
	Seq     int64
	ID      string
	Subject string
	Payload []byte
	// Headers are NATS headers to send with the event (nil: none).
	Headers map[string]string
}

// PendingOutbox returns up to limit queued events, oldest first.
func (s *Store) PendingOutbox(ctx context.Context, limit int) ([]OutboxRow, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT seq, id, subject, payload, headers FROM outbox ORDER BY seq LIMIT ?`, limit)
	if err != nil {
		return nil, fmt.Errorf("store: read outbox: %w", err)
	}
	defer rows.Close()
	var out []OutboxRow
	for rows.Next() {
		var r OutboxRow
		var h string
		if err := rows.Scan(&r.Seq, &r.ID, &r.Subject, &r.Payload, &h); err != nil {
			return nil, fmt.Errorf("store: scan outbox: %w", err)
		}
		if h != "" {
			if err := json.Unmarshal([]byte(h), &r.Headers); err != nil {
				return nil, fmt.Errorf("store: outbox %s headers: %w", r.ID, err)
			}
		}
		out = append(out, r)
	}
	return out, rows.Err()
}

// DeleteOutbox removes published events up to and including seq.
func (s *Store) DeleteOutbox(ctx context.Context, seqs []int64) error {
	return s.Update(ctx, func(tx *Tx) error {
		st := tx.tx.StmtContext(tx.ctx, tx.s.stmts["deleteOutbox"])
		for _, seq := range seqs {
			if _, err := st.Exec(seq); err != nil {
				return fmt.Errorf("store: delete outbox %d: %w", seq, err)
			}
		}
		return nil
	})
}

// Applied is the stream sequence up to which every event of partition has
// been applied (0: none yet).
func (s *Store) Applied(ctx context.Context, partition int) (uint64, error) {
	var seq int64
	err := s.r.QueryRowContext(ctx, `SELECT applied_seq FROM progress WHERE partition = ?`, partition).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("store: applied sequence of partition %d: %w", partition, err)
	}
	return uint64(seq), nil
}

func (s *Store) ids(ctx context.Context, query string, args ...any) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("store: list sagas: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("store: scan saga id: %w", err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// ParticipantPending reports whether rpID is a pending participant of the
// running saga logoutID: the one check an adapter makes before it delivers
// a dispatch (one indexed row, no session decoding).
func (s *Store) ParticipantPending(ctx context.Context, logoutID, rpID string) (bool, error) {
	var n int
	err := s.r.QueryRowContext(ctx, `SELECT COUNT(*) FROM participants p JOIN sagas s ON s.logout_id = p.logout_id
		WHERE p.logout_id = ? AND p.rp_id = ? AND p.state = 'pending' AND s.status = 'running'`, logoutID, rpID).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("store: participant %s of %s: %w", rpID, logoutID, err)
	}
	return n > 0, nil
}
