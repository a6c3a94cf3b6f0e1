package app

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/signoff/signoff/adapters/keys"
	"github.com/signoff/signoff/cmd/signoff/internal/config"
	"github.com/signoff/signoff/coordinator/store"
	"github.com/signoff/signoff/events"
	"github.com/signoff/signoff/web"
)

// The adapter port: every adapter is an Adapter, and the app finds what
// else it does by type assertion (the optional capabilities below, as in
// zitadel/oidc's op/storage.go), then loops over the adapters to subscribe
// work consumers, collect browser frames, mount routes, gather metrics and
// stop them in order.

// Adapter is the core of the port: an adapter of the event contract, named
// as the adapter field of events (events.Adapter*).
type Adapter interface {
	Name() events.Adapter
}

// Dispatcher takes its dispatches from the work consumer adapter-<name> on
// signoff.logout.dispatch.<name> (README "Event contract"): Handle accepts
// one dispatch and publishes exactly one result for it; Free and Freed let
// the consumer pull only what the adapter has room for.
type Dispatcher interface {
	Adapter
	Handle(ctx context.Context, d events.Dispatch) error
	Free() int
	Freed() <-chan struct{}
}

// BrowserStep is an adapter the logout page drives in the browser: a frame
// for each of its participants, the origins they post from, and their
// acknowledgements (which publish the participant's result).
type BrowserStep interface {
	Adapter
	Handles(rpID string) bool
	Frame(logoutID, rpID, sid string) (web.Frame, bool)
	Origins() []string
	Timeout() time.Duration
	Ack(ctx context.Context, logoutID, rpID, token, status, detail string) error
}

// LocalSession is the adapter of signoff's own session cookie (the local
// participant): the logout page clears and confirms it.
type LocalSession interface {
	Adapter
	web.LocalSession
}

// Routes is an adapter with HTTP endpoints of its own, by ServeMux
// pattern.
type Routes interface {
	Handlers() map[string]http.Handler
}

// Metered is an adapter with Prometheus families of its own (read at
// scrape time).
type Metered interface {
	Collectors() []prometheus.Collector
}

// Closer is an adapter with work in progress: Close stops accepting it and
// waits for what runs until ctx ends.
type Closer interface {
	Close(ctx context.Context) error
}

// LongPolls is an adapter whose HTTP handlers may hold requests open:
// EndPolls answers them at once, so that the HTTP server's Shutdown need
// not wait for them.
type LongPolls interface {
	EndPolls()
}

// adapterDeps are what the adapters are built from.
type adapterDeps struct {
	cfg   *config.Config
	o     Options
	keys  *keys.Set
	store *store.Store
	// parts reads sagas and sessions where their partition is: the local
	// store, or its owner (remote.go).
	parts   partitions
	secret  []byte
	results resultPublisher
	// logouts starts logouts (App.RequestLogout) for adapters that
	// receive sign-outs themselves (SAML SP-initiated).
	logouts interface {
		RequestLogout(context.Context, events.LogoutRequested) error
	}
	// bind binds a logout to the browser (web.Browser.Bind), the hook of
	// adapters that start logouts in a browser.
	bind func(w http.ResponseWriter, logoutID string) error
	// rps are the configured relying parties the adapter claims.
	rps []config.RelyingParty
	// built are the adapters built before, in adapterKinds order.
	built []Adapter
}

// adapterKind is one adapter of signoff: its name (the adapter field of
// events and the metrics' adapter label), which configured relying parties
// it takes (nil: none; the first kind that claims one takes it), and how
// it is built.
type adapterKind struct {
	name   events.Adapter
	claims func(config.RelyingParty) bool
	build  func(adapterDeps) (Adapter, error)
}

// adapterKinds are signoff's adapters, in the order they claim relying
// parties, are built, are asked for frames and are closed. Adding an
// adapter is one entry here (and its file).
var adapterKinds = []adapterKind{
	{events.AdapterBackchannel, func(rp config.RelyingParty) bool { return rp.OIDC != nil && rp.OIDC.BackchannelLogoutURI != "" }, newBackchannel},
	{events.AdapterFrontchannel, func(rp config.RelyingParty) bool { return rp.OIDC != nil && rp.OIDC.FrontchannelLogoutURI != "" }, newFrontchannel},
	{events.AdapterCookie, nil, newCookie}, // the local session, participant saga.LocalRPID
	{events.AdapterSAML, func(rp config.RelyingParty) bool { return rp.SAML != nil }, newSAML},
	{events.AdapterSSF, func(rp config.RelyingParty) bool { return rp.SSF != nil }, newSSFOut},
}

// rpAdapter is the adapter of a configured relying party: the first of
// adapterKinds that claims it, or "" when none does (the coordinator's
// directory; the metrics' adapter label "none").
func rpAdapter(rp config.RelyingParty) events.Adapter {
	for _, k := range adapterKinds {
		if k.claims != nil && k.claims(rp) {
			return k.name
		}
	}
	return ""
}

// buildAdapters builds every adapter of adapterKinds.
func buildAdapters(d adapterDeps) ([]Adapter, error) {
	for _, k := range adapterKinds {
		d.rps = nil
		for _, rp := range d.cfg.RelyingParties {
			if rpAdapter(rp) == k.name {
				d.rps = append(d.rps, rp)
			}
		}
		ad, err := k.build(d)
		if err != nil {
			return d.built, err
		}
		if ad.Name() != k.name {
			return d.built, fmt.Errorf("adapter %q built as %q", k.name, ad.Name())
		}
		d.built = append(d.built, ad)
	}
	return d.built, nil
}

// capable returns the adapters of as with capability T, in order.
func capable[T any](as []Adapter) []T {
	var out []T
	for _, a := range as {
		if c, ok := a.(T); ok {
			out = append(out, c)
		}
	}
	return out
}

// adapterOf returns the first adapter of as with capability (or type) T.
func adapterOf[T any](as []Adapter) (T, bool) {
	if c := capable[T](as); len(c) > 0 {
		return c[0], true
	}
	var zero T
	return zero, false
}

// adapterNames are the names of the adapters with capability T.
func adapterNames[T Adapter](as []Adapter) []events.Adapter {
	var out []events.Adapter
	for _, a := range capable[T](as) {
		out = append(out, a.Name())
	}
	return out
}

// routesOf merges the adapters' routes; a pattern claimed twice is an
// error.
func routesOf(as []Adapter) (map[string]http.Handler, error) {
	out := map[string]http.Handler{}
	for _, r := range capable[Routes](as) {
		for p, h := range r.Handlers() {
			if _, dup := out[p]; dup {
				return nil, fmt.Errorf("two adapters serve %q", p)
			}
			out[p] = h
		}
	}
	return out, nil
}

// closeAdapters closes the adapters with work in progress, in order.
func closeAdapters(ctx context.Context, as []Adapter) error {
	var errs []error
	for _, a := range as {
		if c, ok := a.(Closer); ok {
			if err := c.Close(ctx); err != nil {
				errs = append(errs, fmt.Errorf("%s deliveries: %w", a.Name(), err))
			}
		}
	}
	return errors.Join(errs...)
}

// frames merges the adapters' browser steps for the logout page: the frame
// of the first step that has one, the origins of all, the longest timeout,
// and an acknowledgement goes to the step that handles the participant.
type frames []BrowserStep

// errNoBrowserStep answers an acknowledgement for a participant no browser
// step handles.
var errNoBrowserStep = errors.New("acknowledgement token does not match: no front-channel participant has this rp_id")

func (f frames) Frame(logoutID, rpID, sid string) (web.Frame, bool) {
	for _, s := range f {
		if fr, ok := s.Frame(logoutID, rpID, sid); ok {
			return fr, true
		}
	}
	return web.Frame{}, false
}

func (f frames) Origins() []string {
	var out []string
	for _, s := range f {
		for _, o := range s.Origins() {
			if !slices.Contains(out, o) {
				out = append(out, o)
			}
		}
	}
	return out
}

func (f frames) Timeout() time.Duration {
	var t time.Duration
	for _, s := range f {
		t = max(t, s.Timeout())
	}
	return t
}

func (f frames) Ack(ctx context.Context, logoutID, rpID, token, status, detail string) error {
	for _, s := range f {
		if s.Handles(rpID) {
			return s.Ack(ctx, logoutID, rpID, token, status, detail)
		}
	}
	return errNoBrowserStep
}
