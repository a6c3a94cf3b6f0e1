// Package coordinator orchestrates Single Logout sagas: it keeps the
// session registry (which RPs each IdP session is signed in to), turns a
// logout.requested into a saga whose participants are dispatched to the
// adapters, records their results, enforces the deadline and announces
// logout.completed. See DESIGN.md ("Flow").
//
// Every state change and the events it causes are written in one sqlite
// transaction (store.Update) with the events in the outbox; the outbox relay
// publishes them. Handlers are idempotent: a repeated logout.requested (same
// logout_id) starts nothing new, and a repeated result changes nothing.
package coordinator

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/trace"

	"github.com/signoff/signoff/coordinator/bus"
	"github.com/signoff/signoff/coordinator/saga"
	"github.com/signoff/signoff/coordinator/store"
	"github.com/signoff/signoff/events"
)

// Store is the part of the sqlite store the coordinator uses.
type Store interface {
	Update(ctx context.Context, fn func(tx *store.Tx) error) error
	RunningSagas(ctx context.Context) ([]string, error)
	ExpiredSagas(ctx context.Context, now time.Time, limit int) ([]string, error)
	ExpiredSessions(ctx context.Context, now time.Time, limit int) ([]string, error)
	Apply(ctx context.Context, partition int, seq uint64, fns []func(*store.Tx) error, failed func(*store.Tx, int, error) error) error
	Applied(ctx context.Context, partition int) (uint64, error)
}

// Config are the coordinator's dependencies.
type Config struct {
	Store     Store
	Directory saga.Directory
	// Deadline of every logout (config logout.deadline).
	Deadline time.Duration
	Now      func() time.Time
	Logger   *slog.Logger
	// Tracer, when set, traces the intake of logout.requested and
	// logout.result, the start and the completion of sagas, and carries
	// the trace context to dispatches and logout.completed (see trace.go);
	// nil turns tracing off at no cost.
	Tracer trace.TracerProvider
	// SweepInterval is how often deadlines and expired sessions are
	// checked (default 250ms).
	SweepInterval time.Duration
	// SessionExpiration is the absolute lifetime of an IdP session, counted
	// from its first session.joined (config session.expiration); 0 means
	// none.
	SessionExpiration time.Duration
	// SessionInactivity ends an IdP session that saw no session.joined or
	// session.activity for this long (config session.inactivity); 0 means
	// none.
	SessionInactivity time.Duration
	// Sealer authenticates dispatches (sealed here) and results (verified
	// here); nil turns both off (unit tests).
	Sealer *events.Sealer
	// BusAdapters are the adapters that consume their dispatches from the
	// bus; the others (front-channel, cookie) are driven by the browser
	// page from the saga, and get no dispatch event. Nil: every adapter.
	BusAdapters map[events.Adapter]bool
	// Observer is told of completed logouts, results and poisoned events
	// once committed (metrics); nil tells no one.
	Observer Observer
}

// completedNS is the UUID namespace of CompletedEventID.
var completedNS = uuid.MustParse("6d1f2c54-3b7e-4f0a-9a51-2f7c9d3e8b10")

// CompletedEventID is the event_id (and Nats-Msg-Id) of the
// logout.completed of logoutID: a UUID v5 of it, the same on every
// instance, so that a saga completed again after its partition moved (a
// replay from a snapshot) is dropped by the stream's duplicate window
// rather than announced twice.
func CompletedEventID(logoutID string) string {
	return uuid.NewSHA1(completedNS, []byte(logoutID)).String()
}

// Coordinator handles the coordinator's subjects.
type Coordinator struct {
	cfg Config
	log *slog.Logger
	// unknownRPJoins counts session.joined events poisoned for an rp_id
	// that is not configured.
	unknownRPJoins atomic.Uint64
	// policySet is true once the store computes expiry_at with this
	// coordinator's expiry policy (see withPolicy).
	policySet atomic.Bool
}

// New returns a coordinator.
func New(cfg Config) *Coordinator {
	if cfg.Store == nil || cfg.Directory == nil {
		panic("coordinator: nil store or directory")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Deadline <= 0 {
		cfg.Deadline = 30 * time.Second
	}
	if cfg.SweepInterval <= 0 {
		cfg.SweepInterval = 250 * time.Millisecond
	}
	cfg.SessionExpiration = max(cfg.SessionExpiration, 0)
	cfg.SessionInactivity = max(cfg.SessionInactivity, 0)
	if cfg.Observer == nil {
		cfg.Observer = nopObserver{}
	}
	return &Coordinator{cfg: cfg, log: cfg.Logger}
}

func (c *Coordinator) now() time.Time { return c.cfg.Now().UTC() }

// Handle applies one event of the coordinator's subjects in a transaction
// of its own (the ordered intake batches them with ApplyBatch instead).
func (c *Coordinator) Handle(ctx context.Context, subject, seal string, payload []byte) error {
	fn, err := c.Prepare(subject, seal, payload)
	if err != nil {
		return err
	}
	return c.withPolicy(ctx, fn)
}

// Prepare decodes one event of the coordinator's subjects and returns the
// change it makes, to run inside a store transaction. An error (always
// permanent: the event is invalid, unsealed or names an unknown RP) means
// the event is to be poisoned. seal is the event's HeaderSeal value, which
// a logout.result must carry when the coordinator has a Sealer.
func (c *Coordinator) Prepare(subject, seal string, payload []byte) (func(tx *store.Tx) error, error) {
	return c.prepare(context.Background(), subject, seal, payload)
}

// prepare is Prepare with the context of the event: its span, whose trace
// context the dispatches and completion it causes carry.
func (c *Coordinator) prepare(ctx context.Context, subject, seal string, payload []byte) (func(tx *store.Tx) error, error) {
	switch subject {
	case events.SubjectSessionJoined:
		ev, err := events.Decode[events.SessionJoined](payload)
		if err != nil {
			return nil, err
		}
		if _, ok := c.cfg.Directory.RP(ev.RPID); !ok {
			return nil, bus.Permanent(&UnknownRPError{RPID: ev.RPID, SessionID: ev.SessionID})
		}
		return func(tx *store.Tx) error { return tx.JoinSession(ev) }, nil
	case events.SubjectSessionActivity:
		ev, err := events.Decode[events.SessionActivity](payload)
		if err != nil {
			return nil, err
		}
		return func(tx *store.Tx) error { return tx.TouchSession(ev.SessionID, ev.OccurredAt) }, nil
	case events.SubjectLogoutRequested:
		req, err := events.Decode[events.LogoutRequested](payload)
		if err != nil {
			return nil, err
		}
		if up := req.Upstream; up != nil && up.SID == "" && req.Subject == "" {
			return nil, bus.Permanent(fmt.Errorf("logout.requested: upstream %q without upstream.sid needs subject (whose sessions at that upstream end)", up.ID))
		}
		traceRequest(ctx, req)
		return func(tx *store.Tx) error { return c.start(ctx, tx, req) }, nil
	case events.SubjectLogoutResult:
		if c.cfg.Sealer != nil {
			if err := c.cfg.Sealer.Verify(subject, payload, seal); err != nil {
				return nil, fmt.Errorf("logout.result not from a signoff adapter: %w", err)
			}
		}
		r, err := events.Decode[events.Result](payload)
		if err != nil {
			return nil, err
		}
		traceResult(ctx, r)
		return func(tx *store.Tx) error { return c.record(ctx, tx, r) }, nil
	}
	return nil, bus.Permanent(fmt.Errorf("coordinator: no handler for subject %q", subject))
}

// UnknownRPError is the error of a session.joined for an rp_id that is
// not in relying_parties: the event is poisoned and registers nothing, so
// a later logout of that session cannot sign it out.
type UnknownRPError struct {
	RPID, SessionID string
}

func (e *UnknownRPError) Error() string {
	return fmt.Sprintf("session.joined: unknown rp_id %q (not in relying_parties)", e.RPID)
}

// UnknownRPJoins is the number of session.joined events poisoned because
// their rp_id is not configured (metric signoff_unknown_rp_joins_total).
func (c *Coordinator) UnknownRPJoins() uint64 { return c.unknownRPJoins.Load() }

// unknownRPJoin counts and logs a poisoned join for an unknown rp_id, once
// the poisoning is committed.
func (c *Coordinator) unknownRPJoin(tx *store.Tx, err error) {
	var u *UnknownRPError
	if !errors.As(err, &u) {
		return
	}
	tx.AfterCommit(func() {
		c.unknownRPJoins.Add(1)
		c.log.Warn("session.joined for an unknown relying party: the session is NOT registered and no logout will reach it; add the rp_id to relying_parties or fix the publisher",
			"rp_id", u.RPID, "session_id", u.SessionID)
	})
}

// Start begins the saga of req (idempotent on req.LogoutID).
func (c *Coordinator) Start(ctx context.Context, req events.LogoutRequested) error {
	return c.cfg.Store.Update(ctx, func(tx *store.Tx) error { return c.start(ctx, tx, req) })
}

func (c *Coordinator) start(ctx context.Context, tx *store.Tx, req events.LogoutRequested) error {
	exists, err := tx.SagaExists(req.LogoutID)
	if err != nil || exists {
		return err
	}
	sessions, err := resolve(tx, req)
	if err != nil {
		return err
	}
	if req.Upstream != nil && req.Upstream.SID != "" && len(sessions) > 0 {
		// The sessions found name the user as the RPs know them; the
		// upstream's sub is only a fallback (fan-out when none is found).
		req.Subject = ""
	}
	now := c.now()
	s, cmds := saga.Start(req, sessions, c.cfg.Directory, c.cfg.Deadline, now)
	if req.Upstream != nil {
		cmds = noUpstreamSessions(cmds, *req.Upstream)
	}
	if err := tx.EndSessions(taken(s)); err != nil {
		return err
	}
	if err := tx.SaveSaga(s); err != nil {
		return err
	}
	tx.AfterCommit(func() {
		c.log.Info("logout started", "logout_id", s.LogoutID, "initiator", s.Initiator, "participants", len(s.Participants))
		if s.NoRPSessions() {
			c.log.Warn("logout found no relying party session: nothing to sign out at any application (were its session.joined events for unknown rp_ids? see signoff_unknown_rp_joins_total)",
				"logout_id", s.LogoutID, "session_id", s.SessionID, "subject", s.Subject)
		}
	})
	traceStart(ctx, s)
	return c.apply(ctx, tx, s, cmds, now)
}

// taken lists the registry sessions a saga took over (fan-out participants
// took none).
func taken(s saga.Saga) []saga.Session {
	var out []saga.Session
	for _, p := range s.Participants {
		if p.Fanout {
			continue
		}
		for _, ds := range p.Sessions {
			out = append(out, saga.Session{SessionID: ds.SessionID, RPID: p.RPID})
		}
	}
	return out
}

// Record applies one result to its saga.
func (c *Coordinator) Record(ctx context.Context, r events.Result) error {
	return c.cfg.Store.Update(ctx, func(tx *store.Tx) error { return c.record(ctx, tx, r) })
}

func (c *Coordinator) record(ctx context.Context, tx *store.Tx, r events.Result) error {
	s, ok, err := tx.SagaWithoutSessions(r.LogoutID)
	if err != nil {
		return err
	}
	if !ok {
		return bus.Permanent(fmt.Errorf("logout.result: unknown logout_id %q", r.LogoutID))
	}
	if !s.Running() {
		tx.AfterCommit(func() { c.cfg.Observer.LateResult(r.Adapter, r.RPID) })
		return nil
	}
	now := c.now()
	next, cmds, changed, err := s.ApplyResult(r, now)
	if errors.Is(err, saga.ErrUnknownParticipant) {
		return bus.Permanent(err)
	}
	if err != nil {
		return err
	}
	if !changed {
		return nil
	}
	if err := tx.SaveProgress(s, next); err != nil {
		return err
	}
	adapter, took := r.Adapter, now.Sub(s.RequestedAt)
	tx.AfterCommit(func() { c.cfg.Observer.ParticipantResult(adapter, r.RPID, r.Outcome, took) })
	return c.apply(ctx, tx, next, cmds, now)
}

// Resume brings every unfinished saga back in motion after a start: pending
// participants are dispatched again and passed deadlines are enforced.
// Outbox rows not yet published are the relay's job.
func (c *Coordinator) Resume(ctx context.Context) (int, error) {
	ids, err := c.cfg.Store.RunningSagas(ctx)
	if err != nil {
		return 0, err
	}
	for _, id := range ids {
		if err := c.step(ctx, id, saga.Saga.Resume); err != nil {
			return 0, err
		}
	}
	if len(ids) > 0 {
		c.log.Info("resumed unfinished logouts", "count", len(ids))
	}
	return len(ids), nil
}

// Sweep ends up to limit sagas whose deadline has passed and returns how
// many it ended.
func (c *Coordinator) Sweep(ctx context.Context, limit int) (int, error) {
	ids, err := c.cfg.Store.ExpiredSagas(ctx, c.now(), limit)
	if err != nil {
		return 0, err
	}
	for _, id := range ids {
		if err := c.step(ctx, id, saga.Saga.Expire); err != nil {
			return 0, err
		}
	}
	return len(ids), nil
}

// RunSweeper enforces saga deadlines and ends expired sessions until ctx
// ends. Every SweepInterval it ends every saga whose deadline passed (256 per
// pass, as many passes as needed) and queues the logouts of up to
// SessionSweepBatch expired sessions (one pass: a backlog drains at that
// rate rather than flooding NATS with logouts).
func (c *Coordinator) RunSweeper(ctx context.Context) {
	t := time.NewTicker(c.cfg.SweepInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for {
			n, err := c.Sweep(ctx, 256)
			if err != nil {
				if ctx.Err() == nil {
					c.log.Warn("deadline sweep", "err", err)
				}
				break
			}
			if n < 256 {
				break
			}
		}
		if _, err := c.SweepSessions(ctx, SessionSweepBatch); err != nil && ctx.Err() == nil {
			c.log.Warn("session expiry sweep", "err", err)
		}
	}
}

func (c *Coordinator) step(ctx context.Context, id string, f func(saga.Saga, time.Time) (saga.Saga, []saga.Command)) error {
	return c.cfg.Store.Update(ctx, func(tx *store.Tx) error {
		s, ok, err := tx.Saga(id)
		if err != nil || !ok {
			return err
		}
		now := c.now()
		next, cmds := f(s, now)
		if len(cmds) == 0 {
			return nil
		}
		if err := tx.SaveProgress(s, next); err != nil {
			return err
		}
		return c.apply(ctx, tx, next, cmds, now)
	})
}

// apply turns commands into outbox rows; with tracing, each row carries
// the trace context of ctx (the completion its own span's).
func (c *Coordinator) apply(ctx context.Context, tx *store.Tx, s saga.Saga, cmds []saga.Command, now time.Time) error {
	for _, cmd := range cmds {
		rctx := ctx
		var id, subject string
		var payload []byte
		var err error
		switch cmd := cmd.(type) {
		case saga.Dispatch:
			p := cmd.Participant
			if c.cfg.BusAdapters != nil && !c.cfg.BusAdapters[p.Adapter] {
				continue
			}
			d := events.Dispatch{
				EventID: uuid.NewString(), LogoutID: s.LogoutID, RPID: p.RPID, Adapter: p.Adapter,
				Deadline: s.Deadline, OccurredAt: now, Initiator: s.Initiator, Reason: s.Reason,
				Subject: s.Subject, Sessions: p.Sessions,
			}
			id, subject = d.EventID, events.DispatchSubject(p.Adapter)
			payload, err = events.Encode(d)
		case saga.Complete:
			ev := events.Completed{EventID: CompletedEventID(s.LogoutID), LogoutID: s.LogoutID, OccurredAt: now, Outcome: cmd.Outcome, Participants: cmd.Participants, Detail: cmd.Detail}
			id, subject = ev.EventID, events.SubjectLogoutCompleted
			payload, err = events.Encode(ev)
			rctx = c.traceComplete(ctx, tx, ev)
			// Logged once committed: a rolled-back apply (an intake batch
			// stopped by a shutdown) runs again after the restart.
			logoutID, outcome, n := s.LogoutID, cmd.Outcome, len(cmd.Participants)
			detail, parts, took := cmd.Detail, cmd.Participants, now.Sub(s.RequestedAt)
			tx.AfterCommit(func() {
				c.cfg.Observer.LogoutCompleted(outcome, took, parts)
				if detail != "" {
					c.log.Info("logout completed", "logout_id", logoutID, "outcome", outcome, "participants", n, "detail", detail)
					return
				}
				c.log.Info("logout completed", "logout_id", logoutID, "outcome", outcome, "participants", n)
			})
		default:
			return fmt.Errorf("coordinator: unknown command %T", cmd)
		}
		if err != nil {
			return fmt.Errorf("coordinator: encode: %w", err)
		}
		var headers map[string]string
		if c.cfg.Sealer != nil && strings.HasPrefix(subject, events.SubjectDispatchPrefix) {
			headers = map[string]string{events.HeaderSeal: c.cfg.Sealer.Seal(subject, payload)}
		}
		headers = c.traceHeaders(rctx, headers)
		if err := tx.AddOutboxWithHeaders(id, subject, payload, headers, now); err != nil {
			return err
		}
	}
	return nil
}
