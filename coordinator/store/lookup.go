package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/signoff/signoff/events"
)

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

// SAMLSession is one registered RP session with its SAML NameID.
type SAMLSession struct {
	SessionID, Subject string
	SAML               events.SAMLSession
}

// sessionsByNameIDQuery matches the partial index sessions_saml_name_id.
const sessionsByNameIDQuery = `SELECT session_id, subject, saml FROM sessions
	WHERE rp_id = ? AND saml != '' AND json_extract(saml, '$.name_id') = ? ORDER BY joined_at DESC, session_id`

// SessionsByNameID lists the sessions at rpID whose SAML NameID value is
// nameID, most recently joined first (SP-initiated SAML logout finds the
// IdP session by the NameID the SP received, saml-core 3.7.3.2). It uses
// the index sessions_saml_name_id.
func (s *Store) SessionsByNameID(ctx context.Context, rpID, nameID string) ([]SAMLSession, error) {
	rows, err := s.r.QueryContext(ctx, sessionsByNameIDQuery, rpID, nameID)
	if err != nil {
		return nil, fmt.Errorf("store: sessions by NameID: %w", err)
	}
	defer rows.Close()
	var out []SAMLSession
	for rows.Next() {
		var (
			ss  SAMLSession
			raw string
		)
		if err := rows.Scan(&ss.SessionID, &ss.Subject, &raw); err != nil {
			return nil, fmt.Errorf("store: scan session: %w", err)
		}
		if err := json.Unmarshal([]byte(raw), &ss.SAML); err != nil {
			return nil, fmt.Errorf("store: decode saml session: %w", err)
		}
		out = append(out, ss)
	}
	return out, rows.Err()
}
