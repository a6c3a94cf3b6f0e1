package ssfin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/signoff/signoff/events"
)

// Defaults of Config.
const (
	// DefaultJTIRetention is how long processed jtis are remembered; SETs
	// issued earlier are refused.
	DefaultJTIRetention = 7 * 24 * time.Hour
	// DefaultKeyRefetchInterval is the shortest time between two fetches of
	// a transmitter's keys.
	DefaultKeyRefetchInterval = time.Minute
	// DefaultClockSkew is how far in the future an iat may be.
	DefaultClockSkew = 5 * time.Minute
)

// Transmitter is one configured SSF transmitter.
type Transmitter struct {
	// ID names the transmitter in signoff: the upstream id of the
	// sessions its session-revoked events end.
	ID string
	// Issuer is the iss of its SETs, compared exactly.
	Issuer string
	// Audience must be one of the aud values of its SETs.
	Audience string
	// JWKSURI locates its keys; with Discovery, the jwks_uri of
	// Issuer's /.well-known/ssf-configuration is used instead.
	JWKSURI   string
	Discovery bool
	// BearerToken authenticates its pushes to POST /ssf/events; empty
	// refuses pushes from it.
	BearerToken string
	// SubjectClaim is SubjectClaimSub (default) or SubjectClaimEmail.
	SubjectClaim string
	// Poll, when set, polls its RFC 8936 endpoint.
	Poll *Poll
}

// Poll configures RFC 8936 polling of a transmitter.
type Poll struct {
	EndpointURL string
	// Interval is the pause after a poll that returned nothing.
	Interval time.Duration
	// AuthorizationHeader is sent as the Authorization header, if set.
	AuthorizationHeader string
	// MaxEvents is the maxEvents of each poll request.
	MaxEvents int
}

// JTIStore remembers the jtis of processed SETs durably (the sqlite store).
type JTIStore interface {
	SeenJTI(ctx context.Context, transmitter, jti string) (bool, error)
	RememberJTI(ctx context.Context, transmitter, jti string, at, forgetBefore time.Time) error
}

// Logouts publishes a logout.requested durably: it returns once the bus
// acknowledged it.
type Logouts interface {
	RequestLogout(ctx context.Context, req events.LogoutRequested) error
}

// Config are the receiver's dependencies.
type Config struct {
	Transmitters []Transmitter
	JTIs         JTIStore
	Logouts      Logouts
	// Client fetches keys and configuration metadata and polls (nil: a
	// client without an overall timeout; each request has its own).
	Client *http.Client
	Now    func() time.Time
	Logger *slog.Logger
	// JTIRetention, KeyRefetchInterval and ClockSkew default to the
	// constants of the same names.
	JTIRetention       time.Duration
	KeyRefetchInterval time.Duration
	ClockSkew          time.Duration
}

type transmitter struct {
	Transmitter
	keys *keySource
}

// Receiver processes SETs of the configured transmitters.
type Receiver struct {
	transmitters []*transmitter
	jtis         JTIStore
	logouts      Logouts
	client       *http.Client
	now          func() time.Time
	log          *slog.Logger
	retention    time.Duration
	skew         time.Duration
}

var idRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// New returns a receiver for cfg.
func New(cfg Config) (*Receiver, error) {
	if cfg.JTIs == nil || cfg.Logouts == nil {
		return nil, errors.New("ssfin: JTIs and Logouts are required")
	}
	r := &Receiver{jtis: cfg.JTIs, logouts: cfg.Logouts, client: cfg.Client, now: cfg.Now, log: cfg.Logger,
		retention: cfg.JTIRetention, skew: cfg.ClockSkew}
	if r.client == nil {
		r.client = &http.Client{}
	}
	if r.now == nil {
		r.now = time.Now
	}
	if r.log == nil {
		r.log = slog.New(slog.DiscardHandler)
	}
	if r.retention <= 0 {
		r.retention = DefaultJTIRetention
	}
	if r.skew <= 0 {
		r.skew = DefaultClockSkew
	}
	interval := cfg.KeyRefetchInterval
	if interval <= 0 {
		interval = DefaultKeyRefetchInterval
	}
	seen := map[string]bool{}
	for _, t := range cfg.Transmitters {
		switch {
		case !idRE.MatchString(t.ID):
			return nil, fmt.Errorf("ssfin: transmitter id %q: 1-64 characters of A-Z a-z 0-9 . _ -", t.ID)
		case seen[t.ID]:
			return nil, fmt.Errorf("ssfin: transmitter id %q is used twice", t.ID)
		case t.Issuer == "" || t.Audience == "":
			return nil, fmt.Errorf("ssfin: transmitter %s needs an issuer and an audience", t.ID)
		case (t.JWKSURI == "") == !t.Discovery:
			return nil, fmt.Errorf("ssfin: transmitter %s needs exactly one of a jwks_uri and discovery", t.ID)
		}
		seen[t.ID] = true
		if t.SubjectClaim == "" {
			t.SubjectClaim = SubjectClaimSub
		}
		if t.SubjectClaim != SubjectClaimSub && t.SubjectClaim != SubjectClaimEmail {
			return nil, fmt.Errorf("ssfin: transmitter %s: subject_claim %q is not sub or email", t.ID, t.SubjectClaim)
		}
		if t.Poll != nil {
			p := *t.Poll
			if p.Interval <= 0 {
				p.Interval = 30 * time.Second
			}
			if p.MaxEvents <= 0 {
				p.MaxEvents = 25
			}
			t.Poll = &p
		}
		r.transmitters = append(r.transmitters, &transmitter{Transmitter: t, keys: &keySource{
			issuer: t.Issuer, jwksURI: t.JWKSURI, discovery: t.Discovery, client: r.client, interval: interval,
			now: r.now, log: r.log,
		}})
	}
	return r, nil
}

// Outcome is what processing one SET did.
type Outcome struct {
	// Event is the short name of the event type, e.g. "CAEP session-revoked".
	Event string
	// LogoutID is the logout requested, if any.
	LogoutID string
}

// process validates raw as a SET from transmitter t and acts on it; a
// polled SET must carry wantJTI, the jti it was listed under. The
// error is an *Error when the SET is refused for good (a replayed jti
// included: Error.Replay), and any other error when it could not be
// processed now and should be sent again later.
func (r *Receiver) process(ctx context.Context, t *transmitter, raw, wantJTI string) (Outcome, error) {
	s, err := r.verify(ctx, t, raw)
	if err != nil {
		return Outcome{}, err
	}
	if wantJTI != "" && s.JTI != wantJTI {
		return Outcome{}, invalid("the SET listed under jti %q has jti %q", wantJTI, s.JTI)
	}
	out := Outcome{Event: eventNames[s.EventType]}
	var req *events.LogoutRequested
	switch s.EventType {
	case EventSessionRevoked, EventAccountDisabled, EventAccountPurged, EventCredentialCompromise, EventSessionsRevoked:
		if req, err = r.logoutFor(t, s); err != nil {
			return out, err
		}
		out.LogoutID = req.LogoutID
	}
	seen, err := r.jtis.SeenJTI(ctx, t.ID, s.JTI)
	if err != nil {
		return out, &unavailableError{msg: "the jti memory cannot be read", retryAfter: 5 * time.Second, err: err}
	}
	if seen {
		return out, &Error{Code: CodeInvalidRequest, Description: fmt.Sprintf("jti %q was already received from transmitter %s", s.JTI, t.ID), Replay: true}
	}
	switch s.EventType {
	case EventVerification:
		var ev struct {
			State string `json:"state"`
		}
		_ = json.Unmarshal(s.Event, &ev)
		r.log.Info("SSF verification event received", "transmitter", t.ID, "jti", s.JTI, "state", ev.State)
	case EventStreamUpdated:
		var ev struct {
			Status string `json:"status"`
			Reason string `json:"reason"`
		}
		_ = json.Unmarshal(s.Event, &ev)
		r.log.Info("SSF stream-updated event received; nothing to do", "transmitter", t.ID, "jti", s.JTI, "status", ev.Status, "reason", ev.Reason)
	default:
		if err := r.logouts.RequestLogout(ctx, *req); err != nil {
			if errors.Is(err, events.ErrInvalid) {
				return out, invalid("the event cannot become a logout request: %v", err)
			}
			return out, &unavailableError{msg: "the logout request could not be published", retryAfter: 5 * time.Second, err: err}
		}
		r.log.Info("SSF event: logout requested", "transmitter", t.ID, "event", out.Event, "jti", s.JTI,
			"logout_id", req.LogoutID, "subject", req.Subject, "upstream_sid", upstreamSID(req))
	}
	now := r.now()
	if err := r.jtis.RememberJTI(ctx, t.ID, s.JTI, now, now.Add(-r.retention)); err != nil {
		// The logout is published under a logout_id derived from the jti:
		// a replay starts nothing new even when the jti is not remembered.
		r.log.Warn("remembering an SSF jti failed", "transmitter", t.ID, "jti", s.JTI, "err", err)
	}
	return out, nil
}

func upstreamSID(req *events.LogoutRequested) string {
	if req.Upstream == nil {
		return ""
	}
	return req.Upstream.SID
}

// LogoutID is the logout_id of the logout a SET requests: derived from the
// transmitter and the jti, so that a SET sent again starts nothing new.
func LogoutID(transmitterID, jti string) string {
	h := sha256.Sum256([]byte(transmitterID + "\x00" + jti))
	return "ssf-" + transmitterID + "-" + hex.EncodeToString(h[:16])
}

// eventNamespace is the UUID namespace of event_ids derived from SETs.
var eventNamespace = uuid.MustParse("9b0a4f52-3a8e-4c1e-9f61-1f2d3c4b5a69")

// logoutFor maps a session-revoked or RISC account event to the
// logout.requested it asks for.
func (r *Receiver) logoutFor(t *transmitter, s *set) (*events.LogoutRequested, error) {
	var (
		tg  target
		err *Error
	)
	if s.EventType == EventSessionRevoked {
		tg, err = sessionTarget(s.SubID, t.SubjectClaim)
	} else {
		tg, err = accountTarget(s.SubID, t.SubjectClaim)
	}
	if err != nil {
		return nil, err
	}
	req := &events.LogoutRequested{
		EventID:    uuid.NewSHA1(eventNamespace, []byte(t.ID+"\x00"+s.JTI)).String(),
		LogoutID:   LogoutID(t.ID, s.JTI),
		OccurredAt: s.IssuedAt,
		Subject:    tg.Subject,
		Initiator:  events.InitiatorIdP,
		Scope:      events.ScopeGlobal,
		Reason:     reason(t.ID, s),
	}
	if tg.SID != "" {
		req.Upstream = &events.Upstream{ID: t.ID, SID: tg.SID}
	}
	// Checked against schemas/logout.requested.v1.json here, so that a SET
	// the coordinator would poison is refused to the transmitter instead.
	b, merr := events.Encode(req)
	if merr == nil {
		_, merr = events.Decode[events.LogoutRequested](b)
	}
	if merr != nil {
		return nil, invalid("the event cannot become a logout request: %v", merr)
	}
	return req, nil
}

// reason names the event and the transmitter, with the event's English
// reason_admin (CAEP 1.0 section 2) when there is one.
func reason(tid string, s *set) string {
	msg := fmt.Sprintf("Shared Signals %s from transmitter %s", eventNames[s.EventType], tid)
	var ev struct {
		ReasonAdmin map[string]string `json:"reason_admin"`
	}
	if json.Unmarshal(s.Event, &ev) == nil {
		if ra := ev.ReasonAdmin["en"]; ra != "" {
			msg += ": " + strings.Map(func(r rune) rune {
				if r < 0x20 || r == 0x7f {
					return ' '
				}
				return r
			}, ra)
		}
	}
	if len(msg) > 1000 {
		msg = strings.ToValidUTF8(msg[:1000], "") + "…"
	}
	return msg
}
