// Package frontchannel signs users out of relying parties through their
// browser: one hidden iframe per participant on signoff's logout page, per
// OpenID Connect Front-Channel Logout 1.0
// (https://openid.net/specs/openid-connect-frontchannel-1_0.html#OPLogout).
// It is protocol-neutral: a Frame is any URL to load in the browser, so
// SAML service providers can use the same mechanism.
//
// A participant counts as signed out only on an acknowledgement: the RP's
// logout page posts
//
//	window.parent.postMessage({"type": "signoff:frontchannel-logout", "ok": true}, "<signoff origin>")
//
// to the logout page, whose script checks the message's origin and source
// window and reports it to signoff with the participant's token. An iframe
// that merely loaded is "not confirmed".
package frontchannel

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"time"

	"github.com/google/uuid"

	"github.com/signoff/signoff/adapters/internal/delivery"
	"github.com/signoff/signoff/events"
)

// ErrBadToken is returned for an acknowledgement whose token does not match
// its participant.
var ErrBadToken = errors.New("frontchannel: acknowledgement token does not match")

// RP is a relying party with a front-channel logout URI.
type RP struct {
	ID, Name string
	// URI is frontchannel_logout_uri.
	URI string
	// SessionRequired adds iss and sid to the URI
	// (frontchannel_logout_session_required).
	SessionRequired bool
}

// ResultPublisher publishes a participant's outcome.
type ResultPublisher interface {
	PublishResult(ctx context.Context, r events.Result) error
}

// Config configures the adapter.
type Config struct {
	Issuer    string
	RPs       []RP
	Secret    []byte // key of the per-participant acknowledgement tokens
	Publisher ResultPublisher
	Now       func() time.Time
	// Timeout of one iframe in the browser (default 5 s).
	Timeout time.Duration
}

// Adapter builds frames and turns acknowledgements into results.
type Adapter struct {
	cfg Config
	rps map[string]RP
}

// New returns an Adapter; every RP's URI must be an absolute URL.
func New(cfg Config) (*Adapter, error) {
	if len(cfg.Secret) < 16 {
		return nil, errors.New("frontchannel: secret shorter than 16 bytes")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	a := &Adapter{cfg: cfg, rps: map[string]RP{}}
	for _, rp := range cfg.RPs {
		u, err := url.Parse(rp.URI)
		if err != nil || !u.IsAbs() || u.Host == "" {
			return nil, fmt.Errorf("frontchannel: relying party %q: frontchannel_logout_uri %q is not an absolute URL", rp.ID, rp.URI)
		}
		a.rps[rp.ID] = rp
	}
	return a, nil
}

// Timeout is how long the page waits for one iframe's acknowledgement.
func (a *Adapter) Timeout() time.Duration { return a.cfg.Timeout }

// Frame is one iframe of the logout page.
type Frame struct {
	RPID, Name string
	// URL is loaded in the iframe; Origin is its origin, the only one
	// whose messages count for this frame.
	URL, Origin string
	// Token authenticates this participant's acknowledgement.
	Token string
}

// Origins lists the origins of every front-channel RP (the CSP frame-src).
func (a *Adapter) Origins() []string {
	var out []string
	for _, rp := range a.rps {
		out = append(out, origin(rp.URI))
	}
	return out
}

// Handles reports whether rpID is a front-channel RP.
func (a *Adapter) Handles(rpID string) bool { _, ok := a.rps[rpID]; return ok }

// Frame returns the iframe of participant rpID of logout logoutID, whose
// session at the RP is sid ("" when unknown).
func (a *Adapter) Frame(logoutID, rpID, sid string) (Frame, bool) {
	rp, ok := a.rps[rpID]
	if !ok {
		return Frame{}, false
	}
	u := rp.URI
	if rp.SessionRequired && sid != "" {
		// iss and sid together or not at all (Front-Channel Logout 1.0, 2).
		parsed, _ := url.Parse(rp.URI)
		q := parsed.Query()
		q.Set("iss", a.cfg.Issuer)
		q.Set("sid", sid)
		parsed.RawQuery = q.Encode()
		u = parsed.String()
	}
	return Frame{RPID: rp.ID, Name: rp.Name, URL: u, Origin: origin(rp.URI), Token: a.token(logoutID, rp.ID)}, true
}

func (a *Adapter) token(logoutID, rpID string) string {
	m := hmac.New(sha256.New, a.cfg.Secret)
	fmt.Fprintf(m, "frontchannel\x00%s\x00%s", logoutID, rpID)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// Ack outcomes reported by the page.
const (
	AckOK      = "ok"         // the RP's page acknowledged
	AckError   = "error"      // the RP's page reported a failure
	AckTimeout = "timeout"    // loaded, but no acknowledgement in time
	AckNoLoad  = "not_loaded" // did not even load in time
)

// Ack verifies an acknowledgement from the logout page and publishes the
// participant's result.
func (a *Adapter) Ack(ctx context.Context, logoutID, rpID, token, status, detail string) error {
	if _, ok := a.rps[rpID]; !ok || !hmac.Equal([]byte(token), []byte(a.token(logoutID, rpID))) {
		return ErrBadToken
	}
	res := events.Result{EventID: uuid.NewString(), LogoutID: logoutID, RPID: rpID, Adapter: events.AdapterFrontchannel,
		Attempts: 1, FinishedAt: a.cfg.Now().UTC()}
	switch status {
	case AckOK:
		res.Outcome, res.Detail = events.OutcomeSucceeded, "the app's logout page confirmed"
	case AckError:
		res.Outcome, res.Detail = events.OutcomeFailed, "the app's logout page reported an error"
		if detail != "" {
			res.Detail += ": " + delivery.Sanitize(detail) // the browser's text: bounded, printable
		}
	case AckNoLoad:
		res.Outcome, res.Detail = events.OutcomeTimedOut, fmt.Sprintf("the app's logout page did not load within %v", a.cfg.Timeout)
	default:
		res.Outcome, res.Detail = events.OutcomeTimedOut, fmt.Sprintf("the app's logout page loaded but did not confirm within %v", a.cfg.Timeout)
	}
	return a.cfg.Publisher.PublishResult(ctx, res)
}

func origin(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host
}
