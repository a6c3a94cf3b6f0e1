// Package saml is the SAML 2.0 Single Logout adapter of signoff: signoff
// acts as the session authority (the IdP side of SLO, saml-profiles 4.4,
// https://docs.oasis-open.org/security/saml/v2.0/saml-profiles-2.0-os.pdf).
//
// It has three parts:
//
//   - The Adapter consumes logout dispatches (events.Dispatch on
//     signoff.logout.dispatch.saml). A service provider that offers a SOAP
//     SingleLogoutService gets a signed LogoutRequest (saml-core 3.7.1) over
//     the SOAP binding (saml-bindings 3.2), retried like OIDC back-channel
//     deliveries (network errors, timeouts, 408, 429 and 5xx, with backoff,
//     until the dispatch deadline); its signed LogoutResponse with
//     top-level Success and a matching InResponseTo is the only proof that
//     counts. Exactly one events.Result is published per dispatch.
//   - Browser SPs (HTTP-Redirect or HTTP-POST only) are signed out by
//     signoff's logout page: Frame gives the page a top-level redirect hop
//     (default) or an iframe per SP, and the SP's LogoutResponse comes back
//     to /saml/slo, which verifies it and publishes the result.
//   - The HTTP endpoints (Handlers): /saml/metadata, /saml/slo (HTTP-Redirect
//     and HTTP-POST), /saml/slo/soap and the helpers /saml/post and
//     /saml/return. /saml/slo and /saml/slo/soap also take SP-initiated
//     LogoutRequests (saml-core 3.7.3.2): signoff starts a saga with
//     initiator rp, and once it has ended answers the SP with a signed
//     LogoutResponse — Success, or Success with a nested PartialLogout when
//     another participant did not confirm.
//
// The XML work (signing, verification, bindings, metadata) is done by
// package message.
package saml

import (
	"context"
	"crypto/x509"
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
	"github.com/signoff/signoff/adapters/saml/message"
	"github.com/signoff/signoff/events"
)

// Defaults of Config.
const (
	// DefaultConcurrency bounds the dispatches in progress at once.
	DefaultConcurrency = 256
	// DefaultAttemptTimeout bounds one SOAP attempt, response included.
	DefaultAttemptTimeout = 5 * time.Second
	// DefaultDeadline is used for a dispatch without a deadline.
	DefaultDeadline = 30 * time.Second
	// DefaultSkew is the clock skew allowed on IssueInstant (±3 minutes).
	DefaultSkew = 3 * time.Minute
	// DefaultFrameTimeout is how long the logout page waits for one
	// iframe's acknowledgement.
	DefaultFrameTimeout = 5 * time.Second
	// RequestLifetime is NotOnOrAfter − IssueInstant of the LogoutRequests
	// signoff sends (saml-core 3.7.1).
	RequestLifetime = 5 * time.Minute
)

// Retry schedule of SOAP deliveries, the same as back-channel logout: the
// n-th retry waits a random duration in [b/2, b) with
// b = min(BackoffInitial * BackoffFactor^(n-1), BackoffMax).
const (
	// BackoffInitial is the backoff before the first retry.
	BackoffInitial = delivery.BackoffInitial
	// BackoffFactor multiplies the backoff after every retry.
	BackoffFactor = delivery.BackoffFactor
	// BackoffMax caps the backoff; a longer Retry-After that ends before
	// the deadline is waited instead.
	BackoffMax = delivery.BackoffMax
)

// DefaultLimits bound inbound messages: 256 KiB on the wire and after
// inflating, and an inflate ratio of at most 100 (saml-bindings 3.4.4.1
// DEFLATE bombs).
var DefaultLimits = message.Limits{MaxMessage: 256 << 10, MaxInflateRatio: 100}

// ErrClosed is returned by Handle after Close.
var ErrClosed = delivery.ErrClosed

// ResultPublisher publishes the result of a participant on
// signoff.logout.result.
type ResultPublisher interface {
	// PublishResult publishes r; an error makes the adapter retry.
	PublishResult(ctx context.Context, r events.Result) error
}

// LogoutStarter publishes a logout.requested (SP-initiated logout).
type LogoutStarter interface {
	RequestLogout(ctx context.Context, req events.LogoutRequested) error
}

// Logout is what the coordinator's store knows of one logout.
type Logout struct {
	ID             string
	Status         events.Status
	Initiator      events.Initiator
	InitiatingRPID string
	Deadline       time.Time
	Participants   []Participant
}

// Participant is one participant of a Logout.
type Participant struct {
	RPID, Name string
	Outcome    events.Outcome // events.OutcomePending until it reports
	Detail     string
	Sessions   []events.DispatchSession
}

func (l Logout) participant(rpID string) (Participant, bool) {
	for _, p := range l.Participants {
		if p.RPID == rpID {
			return p, true
		}
	}
	return Participant{}, false
}

// Sagas reads logouts from the coordinator's store.
type Sagas interface {
	Logout(ctx context.Context, id string) (Logout, bool, error)
}

// Session is one registered RP session found by its SAML NameID.
type Session struct {
	SessionID, Subject string
	SAML               events.SAMLSession
}

// Sessions finds the registered sessions at an SP by NameID value.
type Sessions interface {
	SessionsByNameID(ctx context.Context, rpID, nameID string) ([]Session, error)
}

// Browser binds a logout to the browser that asked for it, as /logout does:
// it expires the IdP session cookie and sets the cookie that lets only this
// browser see /logout/{id}.
type Browser interface {
	Bind(w http.ResponseWriter, r *http.Request, logoutID string)
}

// Config configures an Adapter.
type Config struct {
	// EntityID is signoff's entityID (config issuer): the Issuer of its
	// messages.
	EntityID string
	// PublicURL is where browsers reach signoff; the endpoints are
	// PublicURL + /saml/slo, /saml/slo/soap, /saml/post, /saml/return.
	PublicURL string
	// Signer returns the current signer (signoff's RSA key and
	// certificate).
	Signer func() (*message.Signer, error)
	// SPs are the SAML service providers.
	SPs []SP
	// Publisher receives the results.
	Publisher ResultPublisher
	// Sagas, Logouts, Sessions and Browser serve the browser frames and
	// SP-initiated logout.
	Sagas Sagas
	// Changes wakes the waits for a saga when it changes; nil: they see
	// changes only at Recheck.
	Changes Changes
	// Recheck is how often a wait reads the saga without a change
	// notification (default DefaultRecheck).
	Recheck  time.Duration
	Logouts  LogoutStarter
	Sessions Sessions
	Browser  Browser
	// Secret keys the HMAC of RelayState and URL tokens (≥ 32 bytes).
	Secret []byte
	// Concurrency bounds the dispatches in progress (default 256).
	Concurrency int
	// AttemptTimeout bounds one SOAP attempt (default 5 s).
	AttemptTimeout time.Duration
	// LogoutDeadline is the coordinator's logout deadline, the bound of an
	// SP-initiated SOAP logout's wait when the saga is not readable
	// (default 30 s).
	LogoutDeadline time.Duration
	// FrameTimeout is how long the page waits for an iframe (default 5 s).
	FrameTimeout time.Duration
	// Skew is the clock skew allowed on IssueInstant (default 3 min).
	Skew time.Duration
	// Limits bound inbound messages (default DefaultLimits).
	Limits message.Limits
	// Client sends SOAP requests; nil means a tuned default. Redirects are
	// never followed.
	Client *http.Client
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger nil means slog.Default().
	Logger *slog.Logger
	// Tracer, when set, traces every SOAP participant's delivery and each
	// of its HTTP attempts (delivery.Tracer); nil turns tracing off.
	Tracer trace.TracerProvider
}

// Stats are counters of an Adapter since New, for metrics.
type Stats struct {
	// Accepted is the number of dispatches Handle accepted.
	Accepted uint64
	// InFlight is the number of dispatches in progress.
	InFlight int64
	// Attempts is the number of SOAP requests sent.
	Attempts uint64
	// Succeeded, Failed and TimedOut count published outcomes (SOAP
	// deliveries, browser LogoutResponses and acknowledgements).
	Succeeded, Failed, TimedOut uint64
	// Late counts dispatches that arrived after their logout deadline:
	// nothing was sent, and the timed_out result published for them
	// (detail delivery.DetailLate) is not counted in TimedOut.
	Late uint64
	// PublishErrors counts failed attempts to publish a result.
	PublishErrors uint64
	// Refused counts inbound messages refused at /saml/slo and
	// /saml/slo/soap.
	Refused uint64
	// SPInitiated counts SP-initiated logouts started.
	SPInitiated uint64
}

// Adapter signs users out of SAML service providers. Its dispatches come
// in through the embedded delivery.Intake (Handle, Free, Freed, Close), and
// each runs in its own goroutine:
//
//   - the SP that initiated the logout itself (initiator rp) succeeds at
//     once: its signed LogoutRequest is its proof, and it gets the
//     LogoutResponse (saml-profiles 4.4.3.5);
//   - a SOAP SP gets its LogoutRequest, and exactly one events.Result is
//     published;
//   - a browser SP needs nothing from the server: the logout page signs
//     it out (Frame) and /saml/slo settles it, or the saga deadline does.
type Adapter struct {
	*delivery.Intake
	cfg        Config
	sps        map[string]SP // by rp_id
	byEntity   map[string]SP // by entityID
	client     *http.Client
	replay     *message.ReplayCache
	log        *slog.Logger
	now        func() time.Time
	base       string // path of PublicURL, without a trailing slash
	origin     string // of PublicURL
	sloURL     string
	soapURL    string
	postURL    string
	returnURL  string
	pool       *delivery.Pool // keyed by logout_id and rp_id
	tracer     delivery.Tracer
	runCtx     context.Context
	settled    sync.Map // logoutID+"\x00"+rpID → time: settled by /saml/slo (no second hop)
	attempts   atomic.Uint64
	outcomes   delivery.Outcomes
	late       atomic.Uint64
	publishErr atomic.Uint64
	refused    atomic.Uint64
	spInit     atomic.Uint64
}

// New validates cfg and returns an Adapter.
func New(cfg Config) (*Adapter, error) {
	switch {
	case cfg.EntityID == "":
		return nil, errors.New("saml: entityID (issuer) is empty")
	case cfg.Signer == nil:
		return nil, errors.New("saml: no signer")
	case cfg.Publisher == nil:
		return nil, errors.New("saml: no result publisher")
	case len(cfg.Secret) < 32:
		return nil, errors.New("saml: secret shorter than 32 bytes")
	}
	pu, err := url.Parse(cfg.PublicURL)
	if err != nil || (pu.Scheme != "https" && pu.Scheme != "http") || pu.Host == "" {
		return nil, fmt.Errorf("saml: public URL %q is not an absolute http(s) URL", cfg.PublicURL)
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.AttemptTimeout <= 0 {
		cfg.AttemptTimeout = DefaultAttemptTimeout
	}
	if cfg.LogoutDeadline <= 0 {
		cfg.LogoutDeadline = DefaultDeadline
	}
	if cfg.FrameTimeout <= 0 {
		cfg.FrameTimeout = DefaultFrameTimeout
	}
	if cfg.Skew <= 0 {
		cfg.Skew = DefaultSkew
	}
	if cfg.Limits == (message.Limits{}) {
		cfg.Limits = DefaultLimits
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Changes == nil {
		cfg.Changes = noChanges{}
	}
	if cfg.Recheck <= 0 {
		cfg.Recheck = DefaultRecheck
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	a := &Adapter{cfg: cfg, sps: map[string]SP{}, byEntity: map[string]SP{}, now: cfg.Now,
		log: cfg.Logger.With("component", "saml"), pool: delivery.NewPool(cfg.Concurrency),
		tracer: delivery.NewTracer(cfg.Tracer, "github.com/signoff/signoff/adapters/saml")}
	for _, sp := range cfg.SPs {
		if err := sp.Validate(); err != nil {
			return nil, fmt.Errorf("saml: relying party %q: %w", sp.ID, err)
		}
		if _, dup := a.sps[sp.ID]; dup {
			return nil, fmt.Errorf("saml: relying party %q configured twice", sp.ID)
		}
		if other, dup := a.byEntity[sp.EntityID]; dup {
			return nil, fmt.Errorf("saml: relying parties %q and %q have the same entityID %q", other.ID, sp.ID, sp.EntityID)
		}
		if sp.Name == "" {
			sp.Name = sp.ID
		}
		a.sps[sp.ID] = sp
		a.byEntity[sp.EntityID] = sp
	}
	base := strings.TrimSuffix(cfg.PublicURL, "/")
	a.base = strings.TrimSuffix(pu.Path, "/")
	a.origin = pu.Scheme + "://" + pu.Host
	a.sloURL, a.soapURL = base+"/saml/slo", base+"/saml/slo/soap"
	a.postURL, a.returnURL = base+"/saml/post", base+"/saml/return"
	a.replay = message.NewReplayCache(100_000, RequestLifetime+2*cfg.Skew, cfg.Now)
	client := delivery.Client(cfg.Client)
	a.client = client
	a.Intake, a.runCtx = delivery.NewIntake(a.pool, a.log, a.run)
	return a, nil
}

// NewHTTPClient returns the default client of SOAP deliveries (see
// delivery.NewHTTPClient: keep-alive, 5 s dial and TLS timeouts, no
// redirects followed).
func NewHTTPClient() *http.Client { return delivery.NewHTTPClient() }

// SP returns the service provider rpID.
func (a *Adapter) SP(rpID string) (SP, bool) { sp, ok := a.sps[rpID]; return sp, ok }

// Handles reports whether rpID is a SAML service provider of this adapter.
func (a *Adapter) Handles(rpID string) bool { _, ok := a.sps[rpID]; return ok }

// SLOURL is signoff's SingleLogoutService for HTTP-Redirect and HTTP-POST.
func (a *Adapter) SLOURL() string { return a.sloURL }

// SOAPURL is signoff's SingleLogoutService for the SOAP binding.
func (a *Adapter) SOAPURL() string { return a.soapURL }

// Stats returns the adapter's counters.
func (a *Adapter) Stats() Stats {
	return Stats{
		Accepted: a.Accepted(), InFlight: a.pool.InFlight(), Attempts: a.attempts.Load(),
		Succeeded: a.outcomes.Succeeded.Load(), Failed: a.outcomes.Failed.Load(), TimedOut: a.outcomes.TimedOut.Load(), Late: a.late.Load(),
		PublishErrors: a.publishErr.Load(), Refused: a.refused.Load(), SPInitiated: a.spInit.Load(),
	}
}

func (a *Adapter) run(parent trace.SpanContext, d events.Dispatch) {
	start := time.Now()
	sctx, span := a.tracer.Participant(parent, events.AdapterSAML, d.LogoutID, d.RPID)
	sp, known := a.sps[d.RPID]
	var res events.Result
	switch {
	case !known:
		res = events.Result{Outcome: events.OutcomeFailed, Detail: "unknown relying party"}
	case d.Initiator == events.InitiatorRP && a.initiatedBy(d.LogoutID, d.RPID):
		res = events.Result{Outcome: events.OutcomeSucceeded,
			Detail: "the service provider asked for this logout with a signed LogoutRequest; it gets the LogoutResponse"}
	case sp.Channel() == ChannelBrowser:
		if ts, _ := targets(d.Sessions); len(ts) == 0 {
			res = events.Result{Outcome: events.OutcomeFailed,
				Detail: "no SAML session (NameID) to sign out: the IdP's session.joined must carry saml.name_id"}
			break
		}
		a.log.Debug("browser service provider: the logout page signs it out",
			"logout_id", d.LogoutID, "rp_id", d.RPID, "mode", sp.mode())
		span.End()
		return
	default:
		var ok bool
		res, ok = a.deliver(sctx, sp, d)
		if !ok {
			delivery.EndParticipant(span, "", "", res.Attempts, true)
			a.log.Warn("SOAP logout aborted by shutdown; no result published",
				"logout_id", d.LogoutID, "rp_id", d.RPID, "attempts", res.Attempts)
			return
		}
	}
	res.LogoutID, res.RPID = d.LogoutID, d.RPID
	delivery.EndParticipant(span, res.Outcome, res.Detail, res.Attempts, false)
	if res.Outcome == events.OutcomeTimedOut && res.Detail == delivery.DetailLate && res.Attempts == 0 {
		a.log.Info("dispatch arrived after its logout deadline; nothing sent", "logout_id", d.LogoutID, "rp_id", d.RPID)
		a.publish(sctx, res)
		return
	}
	level := slog.LevelInfo
	if res.Outcome != events.OutcomeSucceeded {
		level = slog.LevelWarn
	}
	a.log.Log(a.runCtx, level, "SAML logout finished", "logout_id", d.LogoutID, "rp_id", d.RPID,
		"outcome", res.Outcome, "detail", res.Detail, "attempts", res.Attempts, "duration", time.Since(start))
	a.publish(sctx, res)
}

// initiatedBy reports whether rpID asked for logoutID itself.
func (a *Adapter) initiatedBy(logoutID, rpID string) bool {
	if a.cfg.Sagas == nil {
		return false
	}
	for i := 0; i < 3; i++ {
		ctx, cancel := context.WithTimeout(a.runCtx, 5*time.Second)
		l, found, err := a.cfg.Sagas.Logout(ctx, logoutID)
		cancel()
		if err == nil {
			return found && l.Initiator == events.InitiatorRP && l.InitiatingRPID == rpID
		}
		a.log.Warn("reading the logout", "logout_id", logoutID, "err", err)
		if !delivery.Sleep(a.runCtx, time.Duration(i+1)*100*time.Millisecond) {
			break
		}
	}
	return false
}

// publish completes r (event_id, adapter, finished_at), counts it and
// retries until it is published or the adapter stops; r carries the trace
// context of sctx.
func (a *Adapter) publish(sctx context.Context, r events.Result) {
	r.EventID = uuid.NewString()
	r.Adapter = events.AdapterSAML
	r.FinishedAt = a.now().UTC()
	late := r.Outcome == events.OutcomeTimedOut && r.Detail == delivery.DetailLate && r.Attempts == 0
	if r.Attempts == 0 && !late {
		r.Attempts = 1
	}
	if late {
		a.late.Add(1)
	} else {
		a.outcomes.Count(r.Outcome)
	}
	delivery.PublishResult(a.runCtx, a.log, &a.publishErr, r, func(ctx context.Context) error {
		return a.cfg.Publisher.PublishResult(delivery.WithSpanContext(ctx, sctx), r)
	})
}

// certsOf is the Expect.Certs of messages from any configured SP.
func (a *Adapter) certsOf(issuer string) ([]*x509.Certificate, bool) {
	sp, ok := a.byEntity[issuer]
	if !ok {
		return nil, false
	}
	return sp.Certs, true
}

// expect is what inbound messages at destination must satisfy.
func (a *Adapter) expect(destination string, certs func(string) ([]*x509.Certificate, bool)) message.Expect {
	return message.Expect{Destination: destination, Certs: certs, Now: a.now, Skew: a.cfg.Skew,
		Replay: a.replay, Limits: a.cfg.Limits}
}

// reasonOf maps a dispatch initiator to the LogoutRequest Reason
// (saml-core 3.7.3.3).
func reasonOf(initiator events.Initiator) string {
	switch initiator {
	case events.InitiatorAdmin:
		return message.ReasonAdmin
	case events.InitiatorExpiry:
		return message.ReasonGlobalTimeout
	default: // user, rp, idp
		return message.ReasonUser
	}
}

// target is one LogoutRequest to send: a NameID and its session indexes.
type target struct {
	nameID  message.NameID
	indexes []string
}

// targets groups sessions by NameID (saml-core 3.3.4: the NameID exactly
// as asserted), collecting their SessionIndexes; a session without a
// SessionIndex makes its NameID's request carry none (all sessions).
func targets(sessions []events.DispatchSession) (out []target, missing int) {
	index := map[message.NameID]int{}
	all := map[message.NameID]bool{}
	for _, s := range sessions {
		if s.SAML == nil || s.SAML.NameID == "" {
			missing++
			continue
		}
		n := message.NameID{Value: s.SAML.NameID, Format: s.SAML.Format, NameQualifier: s.SAML.NameQualifier, SPNameQualifier: s.SAML.SPNameQualifier}
		i, ok := index[n]
		if !ok {
			i = len(out)
			index[n] = i
			out = append(out, target{nameID: n})
		}
		if s.SAML.SessionIndex == "" {
			all[n] = true
		} else if !contains(out[i].indexes, s.SAML.SessionIndex) {
			out[i].indexes = append(out[i].indexes, s.SAML.SessionIndex)
		}
	}
	for i := range out {
		if all[out[i].nameID] {
			out[i].indexes = nil
		}
	}
	return out, missing
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// newRequest is a LogoutRequest from signoff to sp for t.
func (a *Adapter) newRequest(destination string, initiator events.Initiator, t target) message.LogoutRequest {
	now := a.now().UTC()
	return message.LogoutRequest{
		ID: message.NewID(), Destination: destination, Issuer: a.cfg.EntityID,
		IssueInstant: now, NotOnOrAfter: now.Add(RequestLifetime), Reason: reasonOf(initiator),
		NameID: t.nameID, SessionIndexes: t.indexes,
	}
}
