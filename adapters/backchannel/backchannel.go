// Package backchannel is the OpenID Connect Back-Channel Logout 1.0
// (incorporating errata set 1) sender of signoff
// (https://openid.net/specs/openid-connect-backchannel-1_0.html).
//
// The Adapter consumes logout dispatches (events.Dispatch on
// signoff.logout.dispatch.backchannel), POSTs a signed logout token to the
// relying party's backchannel_logout_uri for every session, and publishes
// exactly one events.Result per dispatch. A participant counts as signed
// out only when every token was answered with 200 or 204.
//
// Retransmission follows section 2.8 of the spec
// (https://openid.net/specs/openid-connect-backchannel-1_0.html#BCResponse):
// only network errors, timeouts, 408, 429 and 5xx are retried, with
// exponential backoff and jitter, until the dispatch deadline; every attempt
// carries a freshly minted token (new jti, iat and exp).
package backchannel

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/trace"

	"github.com/signoff/signoff/adapters/internal/delivery"
	"github.com/signoff/signoff/adapters/keys"
	"github.com/signoff/signoff/events"
)

// Defaults of Config.
const (
	// DefaultConcurrency bounds the deliveries in progress at once.
	DefaultConcurrency = 256
	// DefaultAttemptTimeout bounds one HTTP attempt, response body included.
	DefaultAttemptTimeout = 5 * time.Second
	// DefaultDeadline is used for a dispatch without a deadline.
	DefaultDeadline = 30 * time.Second
)

// Retry schedule of deliveries: the n-th retry waits a random duration in
// [b/2, b) with b = min(BackoffInitial * BackoffFactor^(n-1), BackoffMax).
const (
	// BackoffInitial is the backoff before the first retry.
	BackoffInitial = delivery.BackoffInitial
	// BackoffFactor multiplies the backoff after every retry.
	BackoffFactor = delivery.BackoffFactor
	// BackoffMax caps the backoff. A Retry-After on 429 or 503 that is
	// longer than the backoff but ends before the deadline is waited instead.
	BackoffMax = delivery.BackoffMax
)

// ErrClosed is returned by Handle after Close.
var ErrClosed = delivery.ErrClosed

// RP is one relying party that receives back-channel logout tokens
// (client metadata of
// https://openid.net/specs/openid-connect-backchannel-1_0.html#BCRegistration).
type RP struct {
	// ID is the rp_id of events.
	ID string
	// Name is the display name.
	Name string
	// ClientID is the OAuth client_id: the aud of its logout tokens.
	ClientID string
	// LogoutURI is backchannel_logout_uri, an absolute http(s) URI,
	// query allowed, no fragment.
	LogoutURI string
	// SessionRequired is backchannel_logout_session_required: every token
	// must carry sid.
	SessionRequired bool
	// Alg is the JWS alg of its tokens: RS256 (default), ES256 or EdDSA.
	Alg string
	// Typ is the JWS typ header: "logout+jwt" (default) or "JWT".
	Typ string
}

func (rp RP) alg() string {
	if rp.Alg == "" {
		return keys.RS256
	}
	return rp.Alg
}

func (rp RP) typ() string {
	if rp.Typ == "" {
		return TypLogoutJWT
	}
	return rp.Typ
}

// Validate reports the first problem of the RP's configuration.
func (rp RP) Validate() error {
	if rp.ID == "" {
		return errors.New("relying party without id")
	}
	if rp.ClientID == "" {
		return fmt.Errorf("relying party %q: client_id is empty", rp.ID)
	}
	u, err := url.Parse(rp.LogoutURI)
	if err != nil {
		return fmt.Errorf("relying party %q: backchannel_logout_uri: %w", rp.ID, err)
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("relying party %q: backchannel_logout_uri %q is not an absolute http(s) URI", rp.ID, rp.LogoutURI)
	}
	if u.Fragment != "" || u.RawFragment != "" {
		return fmt.Errorf("relying party %q: backchannel_logout_uri must not have a fragment", rp.ID)
	}
	switch rp.alg() {
	case keys.RS256, keys.ES256, keys.EdDSA:
	default:
		return fmt.Errorf("relying party %q: logout_token_alg %q is not RS256, ES256 or EdDSA", rp.ID, rp.Alg)
	}
	switch rp.typ() {
	case TypLogoutJWT, TypJWT:
	default:
		return fmt.Errorf("relying party %q: logout_token_typ %q is not %q or %q", rp.ID, rp.Typ, TypLogoutJWT, TypJWT)
	}
	return nil
}

// ResultPublisher publishes the result of a participant on
// signoff.logout.result.
type ResultPublisher interface {
	// PublishResult publishes r; an error makes the adapter retry.
	PublishResult(ctx context.Context, r events.Result) error
}

// Config configures an Adapter.
type Config struct {
	// Issuer is the iss of logout tokens.
	Issuer string
	// Keys supplies the signing keys; usually a *keys.Set.
	Keys KeySet
	// RPs are the relying parties with a backchannel_logout_uri.
	RPs []RP
	// Publisher receives one result per dispatch.
	Publisher ResultPublisher
	// Concurrency bounds the deliveries in progress (and so the HTTP
	// requests in flight); Handle blocks while it is reached. Default 256.
	Concurrency int
	// AttemptTimeout bounds one HTTP attempt. Default 5 s.
	AttemptTimeout time.Duration
	// Client sends the requests; nil means a client tuned for many RPs.
	// Redirects are never followed, whatever the client's CheckRedirect.
	Client *http.Client
	// Now is the clock of token times, deadlines and finished_at;
	// nil means time.Now.
	Now func() time.Time
	// Logger nil means slog.Default().
	Logger *slog.Logger
	// Tracer, when set, traces every participant's delivery and each of
	// its HTTP attempts (delivery.Tracer); nil turns tracing off.
	Tracer trace.TracerProvider
}

// Stats are counters of an Adapter since New, for metrics.
type Stats struct {
	// Accepted is the number of dispatches Handle accepted.
	Accepted uint64
	// InFlight is the number of deliveries in progress.
	InFlight int64
	// Attempts is the number of HTTP requests sent.
	Attempts uint64
	// Succeeded, Failed and TimedOut count published outcomes of
	// deliveries.
	Succeeded, Failed, TimedOut uint64
	// Late counts dispatches that arrived after their logout deadline:
	// nothing was sent, and the timed_out result published for them
	// (detail delivery.DetailLate) is not counted in TimedOut.
	Late uint64
	// PublishErrors counts failed attempts to publish a result.
	PublishErrors uint64
}

// Adapter delivers back-channel logout tokens
// (https://openid.net/specs/openid-connect-backchannel-1_0.html#BCRequest).
// Its dispatches come in through the embedded delivery.Intake (Handle,
// Free, Freed, Close): each participant is delivered in its own goroutine,
// so the deliveries of one logout run in parallel, as section 2.3 of
// https://openid.net/specs/openid-connect-backchannel-1_0.html encourages.
type Adapter struct {
	*delivery.Intake

	rps            map[string]RP
	minter         *Minter
	pub            ResultPublisher
	client         *http.Client
	attemptTimeout time.Duration
	now            func() time.Time
	log            *slog.Logger
	tracer         delivery.Tracer

	pool   *delivery.Pool // keyed by logout_id and rp_id
	runCtx context.Context

	attempts, late, publishErrors atomic.Uint64
	outcomes                      delivery.Outcomes
}

// New validates cfg and returns an Adapter. Every RP must be valid and have
// a signing key for its alg.
func New(cfg Config) (*Adapter, error) {
	if cfg.Issuer == "" {
		return nil, errors.New("backchannel: issuer is empty")
	}
	if cfg.Keys == nil {
		return nil, errors.New("backchannel: no key set")
	}
	if cfg.Publisher == nil {
		return nil, errors.New("backchannel: no result publisher")
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.AttemptTimeout <= 0 {
		cfg.AttemptTimeout = DefaultAttemptTimeout
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
			return nil, fmt.Errorf("backchannel: %w", err)
		}
		if _, dup := rps[rp.ID]; dup {
			return nil, fmt.Errorf("backchannel: relying party %q configured twice", rp.ID)
		}
		if _, err := cfg.Keys.Signing(rp.alg()); err != nil {
			return nil, fmt.Errorf("backchannel: relying party %q: %w", rp.ID, err)
		}
		rps[rp.ID] = rp
	}
	client := delivery.Client(cfg.Client)
	a := &Adapter{
		rps:            rps,
		minter:         NewMinter(cfg.Issuer, cfg.Keys, cfg.Now),
		pub:            cfg.Publisher,
		client:         client,
		attemptTimeout: cfg.AttemptTimeout,
		now:            cfg.Now,
		log:            cfg.Logger.With("component", "backchannel"),
		tracer:         delivery.NewTracer(cfg.Tracer, "github.com/signoff/signoff/adapters/backchannel"),
		pool:           delivery.NewPool(cfg.Concurrency),
	}
	a.Intake, a.runCtx = delivery.NewIntake(a.pool, a.log, a.run)
	return a, nil
}

// NewHTTPClient returns the default client of an Adapter (see
// delivery.NewHTTPClient: keep-alive, 5 s dial and TLS timeouts, no
// redirects followed).
func NewHTTPClient() *http.Client { return delivery.NewHTTPClient() }

// Minter returns the adapter's logout token minter.
func (a *Adapter) Minter() *Minter { return a.minter }

// Stats returns the adapter's counters.
func (a *Adapter) Stats() Stats {
	return Stats{
		Accepted:      a.Accepted(),
		InFlight:      a.pool.InFlight(),
		Attempts:      a.attempts.Load(),
		Succeeded:     a.outcomes.Succeeded.Load(),
		Failed:        a.outcomes.Failed.Load(),
		TimedOut:      a.outcomes.TimedOut.Load(),
		Late:          a.late.Load(),
		PublishErrors: a.publishErrors.Load(),
	}
}

func (a *Adapter) run(parent trace.SpanContext, d events.Dispatch) {
	start := time.Now()
	sctx, span := a.tracer.Participant(parent, events.AdapterBackchannel, d.LogoutID, d.RPID)
	res, ok := a.deliver(sctx, d)
	delivery.EndParticipant(span, res.Outcome, res.Detail, res.Attempts, !ok)
	if !ok {
		a.log.Warn("delivery aborted by shutdown; no result published",
			"logout_id", d.LogoutID, "rp_id", d.RPID, "attempts", res.Attempts)
		return
	}
	res.EventID = uuid.NewString()
	res.LogoutID = d.LogoutID
	res.RPID = d.RPID
	res.Adapter = events.AdapterBackchannel
	res.FinishedAt = a.now().UTC()
	if res.Outcome == events.OutcomeTimedOut && res.Detail == delivery.DetailLate && res.Attempts == 0 {
		a.late.Add(1)
		a.log.Info("dispatch arrived after its logout deadline; nothing sent",
			"logout_id", d.LogoutID, "rp_id", d.RPID)
		a.publish(sctx, res)
		return
	}
	a.outcomes.Count(res.Outcome)
	level := slog.LevelInfo
	if res.Outcome != events.OutcomeSucceeded {
		level = slog.LevelWarn
	}
	a.log.Log(a.runCtx, level, "back-channel logout finished",
		"logout_id", d.LogoutID, "rp_id", d.RPID, "outcome", res.Outcome,
		"detail", res.Detail, "attempts", res.Attempts, "duration", time.Since(start))
	a.publish(sctx, res)
}

// publish retries until the result is published or the adapter stops; the
// result carries the trace context of sctx.
func (a *Adapter) publish(sctx context.Context, r events.Result) {
	delivery.PublishResult(a.runCtx, a.log, &a.publishErrors, r, func(ctx context.Context) error {
		return a.pub.PublishResult(delivery.WithSpanContext(ctx, sctx), r)
	})
}
