package web

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/signoff/signoff/events"
)

// LogoutStarter publishes a logout.requested (the web → NATS arrow of
// DESIGN.md's flow).
type LogoutStarter interface {
	RequestLogout(ctx context.Context, req events.LogoutRequested) error
}

// StatusReader reads what the saga of a logout knows.
type StatusReader interface {
	Logout(ctx context.Context, id string) (LogoutView, bool, error)
}

// LocalSession is the IdP session cookie in the browser (adapters/cookie).
type LocalSession interface {
	SessionID(r *http.Request) string
	Clear(w http.ResponseWriter)
	Confirm(ctx context.Context, logoutID string, r *http.Request) error
}

// Frame is one front-channel step of the logout page: an iframe, or, when
// TopLevel, a top-level navigation of the whole page (a SAML redirect
// chain: the SP sends the browser back to signoff when it is done).
type Frame struct {
	RPID, Name, URL, Origin, Token string
	TopLevel                       bool
}

// Frames gives the front-channel iframes and takes their acknowledgements
// (adapters/frontchannel).
type Frames interface {
	Frame(logoutID, rpID, sid string) (Frame, bool)
	Origins() []string
	Timeout() time.Duration
	Ack(ctx context.Context, logoutID, rpID, token, status, detail string) error
}

// Steps records the steps the logout page takes for a pending participant
// (confirming the local session, a hop of a redirect chain) where every
// instance sees them: on the saga's participant in the store. The page
// keeps nothing per logout in process memory.
type Steps interface {
	// ClaimStep records a step for participant rpID of logoutID at now and
	// returns true, or returns false when the participant is no longer
	// pending or a step was recorded less than again before now (again
	// <= 0: ever). Of concurrent claims at most one wins.
	ClaimStep(ctx context.Context, logoutID, rpID string, now time.Time, again time.Duration) (bool, error)
	// ReleaseStep forgets the recorded step (it failed; take it again).
	ReleaseStep(ctx context.Context, logoutID, rpID string) error
}

// Changes tells the pages that a logout's saga changed (package
// coordinator/watch; the store notifies it after each commit). Watch
// subscribes to logoutID: the channel receives a value after each change;
// stop ends the subscription. A bus-backed implementation can carry the
// changes committed by another instance (scale-out).
type Changes interface {
	Watch(logoutID string) (changed <-chan struct{}, stop func())
}

// RedirectPolicy validates rd and targetURL (package web/redirect).
type RedirectPolicy interface {
	Validate(raw string) (string, error)
}

// LogoutView is the state of one logout as the pages show it.
type LogoutView struct {
	ID           string            `json:"logout_id"`
	Status       events.Status     `json:"status"` // running, complete, partial
	ReturnTo     string            `json:"-"`
	Participants []ParticipantView `json:"participants"`
	// Scope is the logout's scope (events.Scope*); initiator_only is
	// "sign out of this app only".
	Scope events.Scope `json:"scope,omitempty"`
	// StillSignedIn names the applications of the sign-in that a logout of
	// scope initiator_only left signed in, when known.
	StillSignedIn []string `json:"-"`
	// Detail explains a finished outcome the participants alone do not
	// (events.Completed.Detail, e.g. events.CompletedNoSessions).
	Detail string `json:"detail,omitempty"`
}

// ParticipantView is one participant of a logout.
type ParticipantView struct {
	RPID    string         `json:"rp_id"`
	Name    string         `json:"name"`
	Adapter events.Adapter `json:"adapter"`
	Outcome events.Outcome `json:"outcome"` // pending or a result's outcome
	Detail  string         `json:"detail"`
	// Reason is the plain sentence the sign-out page shows instead of
	// Detail (set only on the page's own event stream).
	Reason string `json:"reason,omitempty"`
	// SID is the participant's session at the RP (front-channel iframes).
	SID string `json:"-"`
}

// Browser configures the pages of browser sign-out (DESIGN.md, Contract:
// HTTP: /logout, /api/logout, /logout/{id}, /logout/{id}/events).
type Browser struct {
	// PublicURL is where browsers reach signoff (https → Secure cookies).
	PublicURL string
	// Secret keys the HMAC that binds a logout to the browser that
	// started it (at least 32 bytes).
	Secret          []byte
	Logouts         LogoutStarter
	Status          StatusReader
	Local           LocalSession
	Frames          Frames
	Steps           Steps
	Redirects       RedirectPolicy
	DefaultRedirect string
	// LocalRPID is the rp_id of the local-session participant.
	LocalRPID string
	// Issuer is signoff's issuer (discovery).
	Issuer string
	// Sessions, Hints and Clients serve RP-initiated logout
	// (/oidc/end_session); nil Hints disables the endpoint.
	Sessions SessionDirectory
	Hints    HintVerifier
	Clients  Clients
	// ChooseScope says when the user is asked "this app only or
	// everywhere" first: ChooseRPInitiated (default), ChooseAlways or
	// ChooseNever.
	ChooseScope string
	// AdminToken enables POST /api/admin/logout (empty: disabled).
	AdminToken string
	// Changes wakes the page and its events stream when the saga changes;
	// nil: they notice changes only at Recheck.
	Changes Changes
	// Recheck is how often a wait reads the saga even without a change
	// notification (default 5 s): a safety net for a lost notification,
	// not the way changes are seen.
	Recheck time.Duration
	// MaxWait bounds one events stream (default 2 minutes).
	MaxWait time.Duration
	Logger  *slog.Logger
	Now     func() time.Time
}

type browser struct {
	Browser
	base     string
	secure   bool
	frameSrc string
}

func newBrowser(b Browser) (*browser, error) {
	if len(b.Secret) < 32 {
		return nil, errors.New("web: browser secret shorter than 32 bytes")
	}
	if b.Steps == nil {
		return nil, errors.New("web: browser has no Steps store")
	}
	u, err := url.Parse(b.PublicURL)
	if err != nil {
		return nil, fmt.Errorf("web: public_url: %w", err)
	}
	if b.Recheck <= 0 {
		b.Recheck = 5 * time.Second
	}
	if b.Changes == nil {
		b.Changes = noChanges{}
	}
	if b.MaxWait <= 0 {
		b.MaxWait = 2 * time.Minute
	}
	if b.Logger == nil {
		b.Logger = slog.New(slog.DiscardHandler)
	}
	if b.Now == nil {
		b.Now = time.Now
	}
	if b.ChooseScope == "" {
		b.ChooseScope = ChooseRPInitiated
	}
	br := &browser{Browser: b, base: strings.TrimSuffix(u.Path, "/"), secure: u.Scheme == "https", frameSrc: "'none'"}
	if origins := b.Frames.Origins(); len(origins) > 0 {
		br.frameSrc = strings.Join(origins, " ")
	}
	return br, nil
}

func (b *browser) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+b.base+"/logout", b.startLogout)
	mux.HandleFunc("POST "+b.base+"/logout", b.startLogout)
	mux.HandleFunc("POST "+b.base+"/api/logout", b.apiLogout)
	mux.HandleFunc("GET "+b.base+"/logout/{id}", b.page)
	mux.HandleFunc("GET "+b.base+"/logout/{id}/events", b.events)
	mux.HandleFunc("POST "+b.base+"/logout/{id}/ack", b.ack)
	mux.HandleFunc("POST "+b.base+"/logout/{id}/confirm", b.confirm)
	mux.HandleFunc("GET "+b.base+"/api/logouts/{id}", b.status)
	mux.HandleFunc("POST "+b.base+"/logout/choose", b.choose)
	mux.HandleFunc("POST "+b.base+"/api/admin/logout", b.adminLogout)
	mux.HandleFunc("GET "+b.base+"/.well-known/openid-configuration", b.discovery)
	if b.Hints != nil {
		mux.HandleFunc("GET "+b.base+"/oidc/end_session", b.endSession)
		mux.HandleFunc("POST "+b.base+"/oidc/end_session", b.endSession)
	}
}
