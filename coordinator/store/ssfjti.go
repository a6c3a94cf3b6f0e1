package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ssfJTISchema is the memory of the jti of every Security Event Token the
// Shared Signals receiver (adapters/ssfin) processed, per transmitter, so
// that a replayed SET is refused even after a restart (RFC 8417 section 2.2,
// "jti"; RFC 8935 section 2).
const ssfJTISchema = `
CREATE TABLE IF NOT EXISTS ssf_jti (
	transmitter TEXT NOT NULL,
	jti         TEXT NOT NULL,
	seen_at     INTEGER NOT NULL,
	PRIMARY KEY (transmitter, jti)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS ssf_jti_seen_at ON ssf_jti(seen_at);
`

// migrateSSF creates the ssf_jti table of databases made before it existed.
func migrateSSF(tx *sql.Tx) error {
	if _, err := tx.Exec(ssfJTISchema); err != nil {
		return fmt.Errorf("create ssf_jti: %w", err)
	}
	return nil
}

// SeenJTI reports whether the SET jti of transmitter was remembered by
// RememberJTI (and not yet forgotten).
func (s *Store) SeenJTI(ctx context.Context, transmitter, jti string) (bool, error) {
	var one int
	err := s.r.QueryRowContext(ctx, `SELECT 1 FROM ssf_jti WHERE transmitter = ? AND jti = ?`, transmitter, jti).Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("store: read ssf_jti: %w", err)
	}
	return true, nil
}

// RememberJTI records that the SET jti of transmitter was processed at at,
// durably, and forgets (a bounded number of) the jtis seen before
// forgetBefore, so that the table stays small.
func (s *Store) RememberJTI(ctx context.Context, transmitter, jti string, at, forgetBefore time.Time) error {
	return s.Update(ctx, func(t *Tx) error {
		if _, err := t.tx.Exec(`INSERT INTO ssf_jti(transmitter, jti, seen_at) VALUES(?,?,?) ON CONFLICT DO NOTHING`,
			transmitter, jti, nanos(at)); err != nil {
			return fmt.Errorf("store: remember jti: %w", err)
		}
		if _, err := t.tx.Exec(`DELETE FROM ssf_jti WHERE (transmitter, jti) IN
			(SELECT transmitter, jti FROM ssf_jti WHERE seen_at < ? LIMIT 256)`, nanos(forgetBefore)); err != nil {
			return fmt.Errorf("store: forget old jtis: %w", err)
		}
		return nil
	})
}
