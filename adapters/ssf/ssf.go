// Package ssf is signoff's Shared Signals transmitter: the adapter "ssf"
// signs relying parties out with a CAEP session-revoked Security Event
// Token (RFC 8417; OpenID Shared Signals Framework 1.0, "SSF"; OpenID CAEP
// 1.0 section 3.1), one SET per participant, with txn = logout_id.
//
// The Adapter consumes logout dispatches (events.Dispatch on
// signoff.logout.dispatch.ssf) and delivers the SET as the RP's stream says:
//
//   - push (RFC 8935): POST application/secevent+jwt to the RP's
//     endpoint_url. 202 Accepted signs the participant out; 400 with an
//     error code is final; network errors, timeouts, 408, 429 and 5xx are
//     retried (adapters/internal/delivery, the back-channel's rules) with a
//     fresh jti per attempt until the logout deadline.
//   - poll (RFC 8936): the SET waits in the store until the RP polls
//     POST /ssf/poll; an acknowledged SET signs the participant out, one
//     reported in setErrs fails it, and one still unacknowledged at the
//     deadline is timed out by the coordinator.
//
// Handlers serves the transmitter side of SSF 1.0 at the interoperability
// profile's minimum: the configuration metadata, stream create and read,
// stream status (read and update) and verification, each authorized by the
// RP's bearer token (RFC 6750 section 2.1); one stream per RP.
package ssf

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/trace"

	"github.com/signoff/signoff/adapters/internal/delivery"
	"github.com/signoff/signoff/events"
)

// Delivery methods of a stream (SSF 1.0 section 6.1).
const (
	// MethodPush is RFC 8935 push delivery.
	MethodPush = "urn:ietf:rfc:8935"
	// MethodPoll is RFC 8936 poll delivery.
	MethodPoll = "urn:ietf:rfc:8936"
)

// Delivery names of the configuration (ssf.delivery).
const (
	Push = "push"
	Poll = "poll"
)

// Defaults of Config.
const (
	DefaultConcurrency    = 256
	DefaultAttemptTimeout = 5 * time.Second
	// DefaultDeadline is used for a dispatch without a deadline.
	DefaultDeadline = 30 * time.Second
	// DefaultLongPoll bounds how long a poll without returnImmediately
	// waits for a SET (RFC 8936 section 2.4: the transmitter decides).
	DefaultLongPoll = 20 * time.Second
	// VerificationLifetime is how long a verification SET is retried
	// (push) or kept for polling (poll).
	VerificationLifetime = 5 * time.Minute
)

// ErrClosed is returned by Handle after Close.
var ErrClosed = delivery.ErrClosed

// RP is one relying party that receives SETs over its stream.
type RP struct {
	// ID is the rp_id of events; it is also the stream_id of its stream.
	ID   string
	Name string
	// Delivery is Push or Poll.
	Delivery string
	// EndpointURL is the push endpoint (push only).
	EndpointURL string
	// AuthorizationHeader is the Authorization header value of every push
	// (the stream's delivery.authorization_header); empty sends none.
	AuthorizationHeader string
	// SubjectFormat is FormatIssSub (default), FormatEmail or FormatOpaque.
	SubjectFormat string
	// Audience is the aud of its SETs.
	Audience string
	// BearerToken authorizes the RP at the stream management endpoints and
	// the poll endpoint; empty leaves them closed to this RP.
	BearerToken string
}

// StreamID is the stream_id of the RP's stream: its rp_id, which is made of
// the unreserved characters of RFC 3986 section 2.3 that SSF 1.0 section
// 8.1.1 recommends.
func (rp RP) StreamID() string { return rp.ID }

func (rp RP) method() string {
	if rp.Delivery == Poll {
		return MethodPoll
	}
	return MethodPush
}

// Validate reports the first problem of the RP's configuration.
func (rp RP) Validate() error {
	if rp.ID == "" {
		return errors.New("relying party without id")
	}
	if rp.Audience == "" {
		return fmt.Errorf("relying party %q: audience is empty", rp.ID)
	}
	switch rp.SubjectFormat {
	case "", FormatIssSub, FormatEmail, FormatOpaque:
	default:
		return fmt.Errorf("relying party %q: subject_format %q is not iss_sub, email or opaque", rp.ID, rp.SubjectFormat)
	}
	switch rp.Delivery {
	case Push:
		u, err := url.Parse(rp.EndpointURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fmt.Errorf("relying party %q: endpoint_url %q is not an absolute http(s) URL", rp.ID, rp.EndpointURL)
		}
	case Poll:
		if rp.BearerToken == "" {
			return fmt.Errorf("relying party %q: poll delivery needs a bearer token", rp.ID)
		}
	default:
		return fmt.Errorf("relying party %q: delivery %q is not push or poll", rp.ID, rp.Delivery)
	}
	return nil
}

// Stream statuses (SSF 1.0 section 8.1.2).
const (
	StatusEnabled  = "enabled"
	StatusPaused   = "paused"
	StatusDisabled = "disabled"
)

// Stream is what the store keeps of a stream: what the receiver set.
type Stream struct {
	// Created is when the receiver created it (zero: never; the stream
	// still delivers, being provisioned by configuration).
	Created         time.Time
	Status, Reason  string
	Description     string
	EventsRequested []string
}

// Queued is one SET waiting to be polled.
type Queued struct {
	JTI, RPID string
	// LogoutID is empty for a verification SET.
	LogoutID  string
	SET       string
	ExpiresAt time.Time
}

// Store keeps the streams' state and the SETs of poll streams; the
// coordinator's sqlite store implements it (adapted in the app).
type Store interface {
	// Stream returns the stored state of rpID's stream; ok is false when
	// the receiver never created or changed it.
	Stream(ctx context.Context, rpID string) (s Stream, ok bool, err error)
	// CreateStream records that the receiver created rpID's stream; it
	// returns false, changing nothing, when it was created before.
	CreateStream(ctx context.Context, rpID string, s Stream) (bool, error)
	// SetStatus stores the status of rpID's stream.
	SetStatus(ctx context.Context, rpID, status, reason string) error
	// Enqueue stores q for polling; a second SET for the same rp_id and
	// non-empty logout_id is ignored. Expired SETs may be dropped.
	Enqueue(ctx context.Context, q Queued, now time.Time) error
	// Pending returns up to limit unexpired SETs of rpID, oldest first, and
	// whether there are more.
	Pending(ctx context.Context, rpID string, now time.Time, limit int) ([]Queued, bool, error)
	// Remove deletes the SETs of rpID with the given jtis and returns those
	// that existed.
	Remove(ctx context.Context, rpID string, jtis []string) ([]Queued, error)
}

// ResultPublisher publishes the result of a participant on
// signoff.logout.result.
type ResultPublisher interface {
	PublishResult(ctx context.Context, r events.Result) error
}

// Config configures an Adapter.
type Config struct {
	// Issuer is the iss of SETs and of the configuration metadata.
	Issuer string
	// PublicURL is where RPs reach signoff's endpoints.
	PublicURL string
	Keys      KeySet
	RPs       []RP
	Store     Store
	Publisher ResultPublisher
	// Concurrency bounds the deliveries in progress. Default 256.
	Concurrency int
	// AttemptTimeout bounds one push. Default 5 s.
	AttemptTimeout time.Duration
	// LongPoll bounds a poll that waits for SETs. Default 20 s.
	LongPoll time.Duration
	// Client sends pushes; redirects are never followed.
	Client *http.Client
	Now    func() time.Time
	Logger *slog.Logger
}

// Stats are counters of an Adapter since New.
type Stats struct {
	Attempts, Succeeded, Failed, TimedOut, Queued, Polls uint64
}

// Adapter delivers CAEP session-revoked SETs and serves the transmitter
// endpoints. Its dispatches come in through the embedded delivery.Intake
// (Handle, Free, Freed, Close); a participant already being delivered is
// not delivered twice.
type Adapter struct {
	*delivery.Intake
	issuer, publicURL string
	rps               map[string]RP
	minter            *Minter
	store             Store
	pub               ResultPublisher
	client            *http.Client
	attemptTimeout    time.Duration
	longPoll          time.Duration
	now               func() time.Time
	log               *slog.Logger

	pool   *delivery.Pool
	runCtx context.Context

	mu      sync.Mutex
	waiters map[string]chan struct{} // rp_id → closed when a SET is queued
	ending  chan struct{}            // closed by EndPolls
	endOnce sync.Once

	attempts, queued, polls atomic.Uint64
	outcomes                delivery.Outcomes
}

// New validates cfg and returns an Adapter.
func New(cfg Config) (*Adapter, error) {
	switch {
	case cfg.Issuer == "":
		return nil, errors.New("ssf: issuer is empty")
	case cfg.Keys == nil:
		return nil, errors.New("ssf: no key set")
	case cfg.Publisher == nil:
		return nil, errors.New("ssf: no result publisher")
	case cfg.Store == nil:
		return nil, errors.New("ssf: no store")
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.AttemptTimeout <= 0 {
		cfg.AttemptTimeout = DefaultAttemptTimeout
	}
	if cfg.LongPoll <= 0 {
		cfg.LongPoll = DefaultLongPoll
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	rps := make(map[string]RP, len(cfg.RPs))
	for _, rp := range cfg.RPs {
		if err := rp.Validate(); err != nil {
			return nil, fmt.Errorf("ssf: %w", err)
		}
		if _, dup := rps[rp.ID]; dup {
			return nil, fmt.Errorf("ssf: relying party %q configured twice", rp.ID)
		}
		rps[rp.ID] = rp
	}
	if len(rps) > 0 {
		if _, err := cfg.Keys.Signing(Alg); err != nil {
			return nil, fmt.Errorf("ssf: SETs are signed with RS256: %w", err)
		}
	}
	client := delivery.Client(cfg.Client)
	a := &Adapter{
		issuer: cfg.Issuer, publicURL: strings.TrimRight(cfg.PublicURL, "/"), rps: rps,
		minter: NewMinter(cfg.Issuer, cfg.Keys, cfg.Now), store: cfg.Store, pub: cfg.Publisher,
		client: client, attemptTimeout: cfg.AttemptTimeout, longPoll: cfg.LongPoll,
		now: cfg.Now, log: cfg.Logger.With("component", "ssf"),
		pool:    delivery.NewPool(cfg.Concurrency),
		waiters: map[string]chan struct{}{}, ending: make(chan struct{}),
	}
	a.Intake, a.runCtx = delivery.NewIntake(a.pool, a.log, func(_ trace.SpanContext, d events.Dispatch) { a.run(d) })
	return a, nil
}

// Minter returns the adapter's SET minter.
func (a *Adapter) Minter() *Minter { return a.minter }

// EndPolls answers the long polls in progress at once (with what they
// have, usually nothing) and makes later ones return immediately, so that
// an HTTP server shutting down need not wait for them
// (http.Server.RegisterOnShutdown).
func (a *Adapter) EndPolls() { a.endOnce.Do(func() { close(a.ending) }) }

// Stats returns the adapter's counters.
func (a *Adapter) Stats() Stats {
	return Stats{Attempts: a.attempts.Load(), Succeeded: a.outcomes.Succeeded.Load(), Failed: a.outcomes.Failed.Load(),
		TimedOut: a.outcomes.TimedOut.Load(), Queued: a.queued.Load(), Polls: a.polls.Load()}
}

// run delivers one dispatch: a push to its end, or a poll SET into the
// store (its result comes with the receiver's acknowledgement).
func (a *Adapter) run(d events.Dispatch) {
	rp, ok := a.rps[d.RPID]
	if !ok {
		a.finish(d, events.Result{Outcome: events.OutcomeFailed, Detail: "relying party has no ssf stream configured"})
		return
	}
	deadline := d.Deadline
	if deadline.IsZero() {
		deadline = a.now().Add(DefaultDeadline)
	}
	if deadline.Sub(a.now()) <= 0 {
		a.finish(d, events.Result{Outcome: events.OutcomeTimedOut, Detail: delivery.DetailLate})
		return
	}
	if rp.Delivery == Poll {
		if err := a.queue(rp, d, deadline); err != nil {
			a.finish(d, events.Result{Outcome: events.OutcomeFailed, Detail: delivery.Sanitize(err.Error())})
		}
		return
	}
	ctx, cancel := context.WithDeadline(a.runCtx, deadline)
	defer cancel()
	o := a.push(ctx, rp, func() (SET, error) { return a.minter.SessionRevoked(rp, d) })
	if o.Aborted {
		a.log.Warn("delivery aborted by shutdown; no result published", "logout_id", d.LogoutID, "rp_id", d.RPID)
		return
	}
	a.finish(d, events.Result{Outcome: o.Outcome, Detail: o.Detail, Attempts: o.Attempts})
}

// queue stores the participant's SET for polling and wakes its waiting
// polls.
func (a *Adapter) queue(rp RP, d events.Dispatch, deadline time.Time) error {
	st, err := a.status(a.runCtx, rp)
	if err != nil {
		return err
	}
	if st.Status == StatusDisabled {
		return errors.New("the receiver disabled its stream: no SET is queued (SSF 1.0 section 8.1.2)")
	}
	set, err := a.minter.SessionRevoked(rp, d)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(a.runCtx, 10*time.Second)
	defer cancel()
	if err := a.store.Enqueue(ctx, Queued{JTI: set.JTI, RPID: rp.ID, LogoutID: d.LogoutID, SET: set.Raw, ExpiresAt: deadline}, a.now()); err != nil {
		return fmt.Errorf("queueing the SET: %w", err)
	}
	a.queued.Add(1)
	a.wake(rp.ID)
	a.log.Info("SET queued for polling", "logout_id", d.LogoutID, "rp_id", rp.ID, "jti", set.JTI)
	return nil
}

// finish publishes the result of a dispatch.
func (a *Adapter) finish(d events.Dispatch, res events.Result) {
	a.outcomes.Count(res.Outcome)
	level := slog.LevelInfo
	if res.Outcome != events.OutcomeSucceeded {
		level = slog.LevelWarn
	}
	a.log.Log(a.runCtx, level, "SSF logout finished", "logout_id", d.LogoutID, "rp_id", d.RPID,
		"outcome", res.Outcome, "detail", res.Detail, "attempts", res.Attempts)
	a.publish(d.LogoutID, d.RPID, res)
}

// publish completes res and retries until it is published or the adapter
// stops.
func (a *Adapter) publish(logoutID, rpID string, res events.Result) bool {
	res.EventID = uuid.NewString()
	res.LogoutID, res.RPID, res.Adapter = logoutID, rpID, events.AdapterSSF
	res.FinishedAt = a.now().UTC()
	return delivery.Publish(a.runCtx, func(ctx context.Context) error { return a.pub.PublishResult(ctx, res) },
		func(attempt int, err error, retrying bool) {
			a.log.Warn("publishing result failed", "logout_id", logoutID, "rp_id", rpID, "attempt", attempt, "retrying", retrying, "err", err)
		})
}

// status is the stream's stored state, enabled when the receiver never
// changed it.
func (a *Adapter) status(ctx context.Context, rp RP) (Stream, error) {
	st, ok, err := a.store.Stream(ctx, rp.ID)
	if err != nil {
		return Stream{}, fmt.Errorf("reading the stream status: %w", err)
	}
	if !ok || st.Status == "" {
		st.Status = StatusEnabled
	}
	return st, nil
}

// waiter returns the channel closed at the next SET queued for rpID.
func (a *Adapter) waiter(rpID string) <-chan struct{} {
	a.mu.Lock()
	defer a.mu.Unlock()
	ch, ok := a.waiters[rpID]
	if !ok {
		ch = make(chan struct{})
		a.waiters[rpID] = ch
	}
	return ch
}

// wake releases the polls waiting for rpID's SETs.
func (a *Adapter) wake(rpID string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if ch, ok := a.waiters[rpID]; ok {
		close(ch)
		delete(a.waiters, rpID)
	}
}
