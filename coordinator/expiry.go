package coordinator

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/signoff/signoff/coordinator/store"
	"github.com/signoff/signoff/events"
	"github.com/signoff/signoff/events/summary"
)

// SessionSweepBatch is the number of expired sessions one pass of
// RunSweeper turns into logouts at most.
const SessionSweepBatch = 500

// expiryNamespace derives the event_id of a sweeper's logout.requested from
// its logout_id (UUID v5), so that the same logout queued twice is one event
// for the outbox and for JetStream's duplicate window.
var expiryNamespace = uuid.MustParse("5d0f4c1e-7a52-4b8e-9c3d-2f6a1b0e8d47")

func (c *Coordinator) policy() store.ExpiryPolicy {
	return store.ExpiryPolicy{Expiration: c.cfg.SessionExpiration, Inactivity: c.cfg.SessionInactivity}
}

// withPolicy runs fn in a store update. Until the first such update
// commits, it first makes the store compute expiry_at with this
// coordinator's policy (store.Tx.SetExpiryPolicy), which recomputes every
// registered session once when the configuration changed since the last
// run, or when the database was just created or migrated.
func (c *Coordinator) withPolicy(ctx context.Context, fn func(tx *store.Tx) error) error {
	ensure := !c.policySet.Load()
	var changed bool
	err := c.cfg.Store.Update(ctx, func(tx *store.Tx) error {
		if ensure {
			var err error
			if changed, err = tx.SetExpiryPolicy(c.policy()); err != nil {
				return err
			}
		}
		return fn(tx)
	})
	if err == nil && ensure && c.policySet.CompareAndSwap(false, true) && changed {
		c.log.Info("session expiry policy applied", "expiration", c.cfg.SessionExpiration, "inactivity", c.cfg.SessionInactivity)
	}
	return err
}

// SweepSessions ends up to limit IdP sessions whose expiry passed (the
// expires_at of session.joined, SessionExpiration after the first join,
// SessionInactivity after the last activity) and returns how many. For each
// it queues, in the outbox and in the same transaction that marks the
// session as queued, a logout.requested with initiator expiry, scope global
// and a deterministic logout_id (expiryLogoutID); the coordinator's own
// HandleLogoutRequested then runs the saga like any other. A queued session
// is never swept again but stays registered until its saga takes it.
func (c *Coordinator) SweepSessions(ctx context.Context, limit int) (int, error) {
	if !c.policySet.Load() {
		if err := c.withPolicy(ctx, func(*store.Tx) error { return nil }); err != nil {
			return 0, err
		}
	}
	now := c.now()
	ids, err := c.cfg.Store.ExpiredSessions(ctx, now, limit)
	if err != nil || len(ids) == 0 {
		return 0, err
	}
	var queued []events.LogoutRequested
	err = c.cfg.Store.Update(ctx, func(tx *store.Tx) error {
		queued = queued[:0]
		for _, id := range ids {
			// Re-read in the write transaction: the session may have been
			// taken by a logout, queued or used since the read above.
			s, ok, err := tx.ExpiringSession(id)
			if err != nil {
				return err
			}
			if !ok || s.ExpiryAt.IsZero() || s.ExpiryAt.After(now) {
				continue
			}
			req, err := c.expiryRequest(tx, s, now)
			if err != nil {
				return err
			}
			payload, err := events.Encode(req)
			if err != nil {
				return fmt.Errorf("coordinator: encode: %w", err)
			}
			if err := tx.QueueExpiry(s.SessionID, req.LogoutID); err != nil {
				return err
			}
			if err := tx.AddOutbox(req.EventID, events.SubjectLogoutRequested, payload, now); err != nil {
				return err
			}
			queued = append(queued, req)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	for _, req := range queued {
		// Never log the session_id: it is the value of the session cookie.
		c.log.Info("session expired", "logout_id", req.LogoutID, "reason", req.Reason)
	}
	return len(queued), nil
}

// expiryRequest builds the logout.requested of an expired session.
func (c *Coordinator) expiryRequest(tx *store.Tx, s store.ExpiringSession, now time.Time) (events.LogoutRequested, error) {
	reason := expiryReason(s, c.policy())
	base := expiryLogoutID(s.SessionID, s.ExpiryAt)
	id := base
	// A saga with this id exists when it ended the session before some RP
	// joined it again (after its expiry): that RP session needs a logout of
	// its own.
	for n := 2; ; n++ {
		exists, err := tx.SagaExists(id)
		if err != nil {
			return events.LogoutRequested{}, err
		}
		if !exists {
			break
		}
		id = base + "." + strconv.Itoa(n)
	}
	return events.LogoutRequested{
		EventID:    uuid.NewSHA1(expiryNamespace, []byte(id)).String(),
		LogoutID:   id,
		OccurredAt: now,
		SessionID:  s.SessionID,
		Subject:    s.Subject,
		Initiator:  events.InitiatorExpiry,
		Scope:      events.ScopeGlobal,
		Reason:     reason,
	}, nil
}

// expiryLogoutID is the logout_id of the expiry of sessionID at deadline:
// "expiry-" + the first 128 bits of SHA-256(session_id) in hex + "-" + the
// deadline in Unix seconds. Session ids may hold any character (and are the
// session cookie's value, which does not belong in URLs and logs); the hash
// fits the logout_id pattern ^[A-Za-z0-9._:-]{1,128}$.
func expiryLogoutID(sessionID string, deadline time.Time) string {
	h := sha256.Sum256([]byte(sessionID))
	return "expiry-" + hex.EncodeToString(h[:16]) + "-" + strconv.FormatInt(deadline.Unix(), 10)
}

// expiryReason says which deadline of s passed: the one equal to its
// expiry_at (expires_at first, then the absolute lifetime, then
// inactivity, when several are equal).
func expiryReason(s store.ExpiringSession, p store.ExpiryPolicy) string {
	switch at := s.ExpiryAt; {
	case !s.ExpiresAt.IsZero() && s.ExpiresAt.Equal(at):
		return "session expired (expires_at " + s.ExpiresAt.Format(time.RFC3339) + " reached)"
	case p.Expiration > 0 && s.JoinedAt.Add(p.Expiration).Equal(at):
		return "session expired (absolute lifetime " + summary.Duration(p.Expiration) + ")"
	case p.Inactivity > 0 && s.LastActive.Add(p.Inactivity).Equal(at):
		return "session inactive for " + summary.Duration(p.Inactivity)
	}
	return "session expired"
}
