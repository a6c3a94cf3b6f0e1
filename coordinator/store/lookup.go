package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// SessionApp is one RP a session is signed in to.
type SessionApp struct{ RPID string }

// SessionRPs lists the rp_ids the IdP session is signed in to, in the order
// they were joined.
func (s *Store) SessionRPs(ctx context.Context, sessionID string) ([]string, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT rp_id FROM sessions WHERE session_id = ? ORDER BY joined_at, rp_id`, sessionID)
	if err != nil {
		return nil, fmt.Errorf("store: session rps: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("store: scan rp: %w", err)
		}
		out = append(out, id)
	}
	return out, rows.Err()
}

// SessionBySID finds the IdP session whose session at rpID has this sid.
func (s *Store) SessionBySID(ctx context.Context, rpID, sid string) (string, bool, error) {
	var id string
	err := s.r.QueryRowContext(ctx, `SELECT session_id FROM sessions WHERE rp_id = ? AND sid = ? LIMIT 1`, rpID, sid).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("store: session by sid: %w", err)
	}
	return id, true, nil
}
