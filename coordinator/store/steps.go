package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/signoff/signoff/coordinator/saga"
	"github.com/signoff/signoff/events"
)

// Browser steps are what the logout page does for a pending participant on
// the user's behalf: confirming the local session cookie, sending the
// browser along a SAML redirect chain. They are recorded on the
// participant's row (participants.step_at), not in process memory, so that
// nothing grows with logouts and any instance can serve any page.

// ClaimStep records that the page takes a browser step for participant
// rpID of logoutID at now. It returns false, recording nothing, when the
// participant is unknown or no longer pending, or when a step was recorded
// less than again before now (again <= 0: a step was ever recorded). Two
// concurrent claims never both win: the claim is one conditional UPDATE on
// the single writer. A read on the reader pool comes first, so a page that
// asks again and again costs no write.
func (s *Store) ClaimStep(ctx context.Context, logoutID, rpID string, now time.Time, again time.Duration) (bool, error) {
	var state events.Outcome
	var at sql.NullInt64
	err := s.r.QueryRowContext(ctx, `SELECT state, step_at FROM participants WHERE logout_id = ? AND rp_id = ?`, logoutID, rpID).Scan(&state, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: read step of %s/%s: %w", logoutID, rpID, err)
	}
	if state != saga.StatePending || (at.Valid && (again <= 0 || now.Sub(fromNanos(at.Int64)) < again)) {
		return false, nil
	}
	// Before this instant a previous step counts as stale; with again <= 0
	// none does.
	stale := int64(-1 << 63)
	if again > 0 {
		stale = nanos(now.Add(-again))
	}
	won := false
	err = s.Update(ctx, func(t *Tx) error {
		res, err := t.tx.ExecContext(t.ctx, `UPDATE participants SET step_at = ?
			WHERE logout_id = ? AND rp_id = ? AND state = ? AND (step_at IS NULL OR step_at <= ?)`,
			nanos(now), logoutID, rpID, saga.StatePending, stale)
		if err != nil {
			return err
		}
		n, err := res.RowsAffected()
		won = n == 1
		return err
	})
	if err != nil {
		return false, fmt.Errorf("store: claim step of %s/%s: %w", logoutID, rpID, err)
	}
	return won, nil
}

// ReleaseStep forgets the step recorded for participant rpID of logoutID
// (the step failed; the next page may take it again).
func (s *Store) ReleaseStep(ctx context.Context, logoutID, rpID string) error {
	err := s.Update(ctx, func(t *Tx) error {
		_, err := t.tx.ExecContext(t.ctx, `UPDATE participants SET step_at = NULL WHERE logout_id = ? AND rp_id = ?`, logoutID, rpID)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: release step of %s/%s: %w", logoutID, rpID, err)
	}
	return nil
}
