// Package app wires signoff's parts into one running process: NATS (embedded
// or external), the sqlite store, the coordinator and its outbox relay, the
// adapters, and the HTTP server. serve, demo, the end-to-end tests and the
// benchmarks all start signoff through Start.
package app

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/signoff/signoff/adapters/backchannel"
	"github.com/signoff/signoff/adapters/cookie"
	"github.com/signoff/signoff/adapters/frontchannel"
	"github.com/signoff/signoff/adapters/keys"
	"github.com/signoff/signoff/adapters/saml"
	"github.com/signoff/signoff/cmd/signoff/internal/config"
	"github.com/signoff/signoff/coordinator"
	"github.com/signoff/signoff/coordinator/bus"
	"github.com/signoff/signoff/coordinator/outbox"
	"github.com/signoff/signoff/coordinator/saga"
	"github.com/signoff/signoff/coordinator/store"
	"github.com/signoff/signoff/events"
	"github.com/signoff/signoff/web"
	"github.com/signoff/signoff/web/redirect"
)

// Options are the dependencies of a running signoff.
type Options struct {
	Config *config.Config
	Logger *slog.Logger
	// Now is the clock (nil: time.Now).
	Now func() time.Time
	// HTTPClient sends back-channel logout tokens (nil: a tuned default).
	HTTPClient *http.Client
	// Concurrency of each coordinator consumer (default 32).
	Concurrency int
	// Listener, when set, serves HTTP instead of a new listener on
	// Config.Listen (the demo opens it first to know its address).
	Listener net.Listener
}

// App is a running signoff.
type App struct {
	cfg   *config.Config
	log   *slog.Logger
	bus   *bus.Bus
	store *store.Store
	keys  *keys.Set
	coord *coordinator.Coordinator
	relay *outbox.Relay
	bc    *backchannel.Adapter
	fc    *frontchannel.Adapter
	saml  *saml.Adapter
	local *cookie.Adapter
	js    jetstream.JetStream

	router   *message.Router
	httpSrv  *http.Server
	listener net.Listener

	cancel    context.CancelFunc
	bg        sync.WaitGroup
	ready     atomic.Bool
	published atomic.Uint64
	closeOnce sync.Once
	closeErr  error
}

// Start brings signoff up and returns once it consumes events and serves
// HTTP. Unfinished sagas of a previous run are resumed.
func Start(ctx context.Context, o Options) (_ *App, err error) {
	cfg := o.Config
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 32
	}
	a := &App{cfg: cfg, log: o.Logger}
	defer func() {
		if err != nil {
			a.Close(context.Background())
		}
	}()
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data_dir %s: %w", cfg.DataDir, err)
	}
	a.keys, err = keys.Open(cfg.KeyDir(), cfg.Keys.Dir == "", o.Now, o.Logger)
	if err != nil {
		return nil, err
	}
	// SAML service providers: their metadata is read now, so that a
	// broken file stops start-up with its name and the problem.
	sps, err := loadSPs(cfg)
	if err != nil {
		return nil, err
	}
	signer := &samlSigner{ks: a.keys, entityID: cfg.Issuer, commonName: hostOf(cfg.Issuer)}
	if len(sps) > 0 {
		if _, err := signer.Signer(); err != nil {
			return nil, fmt.Errorf("SAML service providers are configured but signoff cannot sign SAML messages: %w", err)
		}
	}
	a.store, err = store.Open(filepath.Join(cfg.DataDir, "signoff.db"))
	if err != nil {
		return nil, err
	}
	// The files and secrets of nats: a missing one stops start-up naming
	// its key.
	natsAuth, err := cfg.NATSAuth()
	if err != nil {
		return nil, err
	}
	a.bus, err = bus.Start(ctx, busConfig(cfg, natsAuth, o.Logger))
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a.cancel = cancel

	// Outbox relay, woken by every commit that adds rows.
	a.relay = outbox.New(a.store, a.bus.JetStream(), o.Logger.With("component", "outbox"), time.Second)
	a.relay.OnPublished(func(n int) { a.published.Add(uint64(n)) })
	a.store.OnOutbox = a.relay.Wake

	dir, bcRPs, fcRPs := directory(cfg)
	a.coord = coordinator.New(coordinator.Config{
		Store: a.store, Directory: dir, Deadline: cfg.Logout.Deadline.Std(), Now: o.Now,
		SessionExpiration: cfg.Session.Expiration.Std(), SessionInactivity: cfg.Session.Inactivity.Std(),
		Logger: o.Logger.With("component", "coordinator"),
	})

	resultPub, err := a.bus.Publisher("signoff-results", true)
	if err != nil {
		return nil, err
	}
	a.bc, err = backchannel.New(backchannel.Config{
		Issuer: cfg.Issuer, Keys: a.keys, RPs: bcRPs, Publisher: resultPublisher{resultPub},
		Concurrency: cfg.Backchannel.Concurrency, AttemptTimeout: cfg.Backchannel.AttemptTimeout.Std(),
		Client: o.HTTPClient, Now: o.Now, Logger: o.Logger,
	})
	if err != nil {
		return nil, err
	}

	secret, err := loadSecret(filepath.Join(cfg.DataDir, "secret.key"))
	if err != nil {
		return nil, err
	}
	a.fc, err = frontchannel.New(frontchannel.Config{Issuer: cfg.Issuer, RPs: fcRPs, Secret: secret,
		Publisher: resultPublisher{resultPub}, Now: o.Now})
	if err != nil {
		return nil, err
	}
	a.local = cookie.New(cookie.Config{Name: cfg.Session.CookieName, Domain: cfg.Session.CookieDomain,
		Secure: strings.HasPrefix(cfg.PublicURL, "https://"), RPID: saga.LocalRPID, Publisher: resultPublisher{resultPub}, Now: o.Now})
	samlBrowserBinder := &samlBrowser{local: a.local}
	a.saml, err = saml.New(saml.Config{
		EntityID: cfg.Issuer, PublicURL: cfg.PublicURL, Signer: signer.Signer, SPs: sps, Publisher: resultPublisher{resultPub},
		Sagas: samlSagas{a.store}, Logouts: a, Sessions: samlSessions{a.store}, Browser: samlBrowserBinder, Secret: secret,
		Concurrency: cfg.Backchannel.Concurrency, AttemptTimeout: cfg.Backchannel.AttemptTimeout.Std(),
		LogoutDeadline: cfg.Logout.Deadline.Std(), Client: o.HTTPClient, Now: o.Now, Logger: o.Logger,
	})
	if err != nil {
		return nil, err
	}
	webNC, err := a.bus.Connect("signoff-web")
	if err != nil {
		return nil, err
	}
	if a.js, err = jetstream.New(webNC); err != nil {
		return nil, err
	}

	poisonPub, err := a.bus.Publisher("signoff-poison", false)
	if err != nil {
		return nil, err
	}
	a.router, err = bus.NewRouter(poisonPub, bus.RouterConfig{Logger: o.Logger})
	if err != nil {
		return nil, err
	}
	deliveryWait := cfg.Logout.Deadline.Std() + 30*time.Second
	handlers := []struct {
		durable, subject string
		concurrency      int
		ackWait          time.Duration
		h                message.NoPublishHandlerFunc
	}{
		{"coordinator-session-joined", events.SubjectSessionJoined, o.Concurrency, 0, a.coord.HandleSessionJoined},
		{"coordinator-session-activity", events.SubjectSessionActivity, o.Concurrency, 0, a.coord.HandleSessionActivity},
		{"coordinator-logout-requested", events.SubjectLogoutRequested, o.Concurrency, 0, a.coord.HandleLogoutRequested},
		{"coordinator-logout-result", events.SubjectLogoutResult, o.Concurrency, 0, a.coord.HandleResult},
		{"adapter-backchannel", events.DispatchSubject(events.AdapterBackchannel), o.Concurrency, deliveryWait, a.handleBackchannel},
		{"adapter-saml", events.DispatchSubject(events.AdapterSAML), o.Concurrency, deliveryWait, a.handleSAML},
	}
	for _, h := range handlers {
		sub, err := a.bus.Subscriber(bus.SubscriberConfig{Durable: h.durable, Concurrency: h.concurrency, AckWait: h.ackWait})
		if err != nil {
			return nil, err
		}
		a.router.AddConsumerHandler(h.durable, h.subject, sub, h.h)
	}

	// Resume before consuming: pending participants are dispatched again
	// and passed deadlines enforced; the relay publishes what a crash left.
	if _, err := a.coord.Resume(ctx); err != nil {
		return nil, fmt.Errorf("resume unfinished logouts: %w", err)
	}
	a.goBG(func() { a.relay.Run(runCtx) })
	a.relay.Wake()
	a.goBG(func() { a.coord.RunSweeper(runCtx) })
	a.goBG(func() { a.keys.Watch(runCtx, 10*time.Second) })
	routerErr := make(chan error, 1)
	go func() { routerErr <- a.router.Run(runCtx) }()
	select {
	case <-a.router.Running():
	case err := <-routerErr:
		return nil, fmt.Errorf("router: %w", err)
	case <-ctx.Done():
		return nil, ctx.Err()
	}

	if o.Listener != nil {
		a.listener = o.Listener
	} else if a.listener, err = net.Listen("tcp", cfg.Listen); err != nil {
		return nil, fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	browserCfg := &web.Browser{
		PublicURL: cfg.PublicURL, Secret: secret, Logouts: a, Status: statusReader{a.store}, Local: a.local,
		Frames: frames{a.fc, a.saml}, Redirects: redirect.Policy{AllowedDomains: cfg.Redirects.AllowedDomains},
		DefaultRedirect: cfg.Redirects.DefaultURL, LocalRPID: saga.LocalRPID, MaxWait: cfg.Logout.Deadline.Std() + 30*time.Second,
		Logger: o.Logger.With("component", "web"), Now: o.Now,
		Issuer: cfg.Issuer, Sessions: sessionDirectory{a.store, dir}, Hints: newHintVerifier(ctx, cfg, a.keys),
		Clients: clientsOf(cfg), ChooseScope: cfg.Logout.ChooseScope, AdminToken: cfg.Admin.Token,
	}
	samlBrowserBinder.web = browserCfg
	handler, err := web.New(web.Config{Keys: a.keys, Ready: a.readyErr, Metrics: a.metrics, Browser: browserCfg,
		Extra: a.saml.Handlers()})
	if err != nil {
		return nil, err
	}
	a.httpSrv = &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	go func() {
		if err := a.httpSrv.Serve(a.listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("http server", "err", err)
		}
	}()
	a.ready.Store(true)
	a.log.Info("signoff running", "http", "http://"+a.listener.Addr().String(), "issuer", cfg.Issuer,
		"nats", a.natsDescription(), "relying_parties", len(cfg.RelyingParties))
	return a, nil
}

func (a *App) goBG(f func()) {
	a.bg.Add(1)
	go func() { defer a.bg.Done(); f() }()
}

// busConfig is the bus configuration of cfg with the secrets of na.
func busConfig(cfg *config.Config, na *config.NATSAuth, log *slog.Logger) bus.Config {
	bc := bus.Config{
		URL: cfg.NATS.URL, Listen: cfg.NATS.Listen, StoreDir: filepath.Join(cfg.DataDir, "nats"),
		SyncAlways: cfg.NATS.SyncAlways, Replicas: cfg.NATS.Replicas, Logger: log,
		AllowAnonymous: cfg.NATS.AllowAnonymous,
		Auth: bus.Auth{
			CredsFile: na.CredsFile, NkeySeedFile: na.NkeySeedFile, User: na.User, Password: na.Password, Token: na.Token,
			TLS: bus.TLS{CAFile: na.TLS.CAFile, CertFile: na.TLS.CertFile, KeyFile: na.TLS.KeyFile, ServerName: na.TLS.ServerName},
		},
	}
	for _, u := range na.Users {
		bc.Users = append(bc.Users, bus.User{Name: u.Name, Password: u.Password, Nkey: u.Nkey, Role: bus.Role(u.Role)})
	}
	return bc
}

func (a *App) natsDescription() string {
	if a.cfg.NATS.URL != "" {
		return bus.RedactURL(a.cfg.NATS.URL)
	}
	if u := a.bus.ClientURL(); u != "" {
		return "embedded, " + bus.RedactURL(u)
	}
	return "embedded, in-process"
}

// Addr is the address the HTTP server listens on.
func (a *App) Addr() string { return a.listener.Addr().String() }

// Bus is the NATS connection factory of the running signoff.
func (a *App) Bus() *bus.Bus { return a.bus }

// Store is the sqlite store of the running signoff.
func (a *App) Store() *store.Store { return a.store }

// Keys are the signing keys.
func (a *App) Keys() *keys.Set { return a.keys }

func (a *App) readyErr() error {
	if !a.ready.Load() {
		return errors.New("starting or stopping")
	}
	if !a.router.IsRunning() {
		return errors.New("event router is not running")
	}
	return nil
}

func (a *App) handleBackchannel(msg *message.Message) error {
	d, err := events.Decode[events.Dispatch](msg.Payload)
	if err != nil {
		return err
	}
	middleware.SetCorrelationID(d.LogoutID, msg)
	return a.bc.Handle(msg.Context(), d)
}

func (a *App) handleSAML(msg *message.Message) error {
	d, err := events.Decode[events.Dispatch](msg.Payload)
	if err != nil {
		return err
	}
	middleware.SetCorrelationID(d.LogoutID, msg)
	return a.saml.Handle(msg.Context(), d)
}

func (a *App) metrics(w io.Writer) {
	st := a.bc.Stats()
	ss := a.saml.Stats()
	web.WriteCounters(w, []web.Counter{
		{Name: "signoff_outbox_published_total", Help: "Events published by the outbox relay.", Value: a.published.Load},
		{Name: "signoff_backchannel_attempts_total", Help: "Back-channel HTTP attempts.", Value: func() uint64 { return st.Attempts }},
		{Name: "signoff_backchannel_succeeded_total", Help: "Back-channel participants signed out.", Value: func() uint64 { return st.Succeeded }},
		{Name: "signoff_backchannel_failed_total", Help: "Back-channel participants failed.", Value: func() uint64 { return st.Failed }},
		{Name: "signoff_backchannel_timed_out_total", Help: "Back-channel participants timed out.", Value: func() uint64 { return st.TimedOut }},
		{Name: "signoff_saml_attempts_total", Help: "SAML SOAP LogoutRequests sent.", Value: func() uint64 { return ss.Attempts }},
		{Name: "signoff_saml_succeeded_total", Help: "SAML participants signed out (signed Success).", Value: func() uint64 { return ss.Succeeded }},
		{Name: "signoff_saml_failed_total", Help: "SAML participants failed.", Value: func() uint64 { return ss.Failed }},
		{Name: "signoff_saml_timed_out_total", Help: "SAML participants timed out.", Value: func() uint64 { return ss.TimedOut }},
		{Name: "signoff_saml_refused_total", Help: "Inbound SAML messages refused.", Value: func() uint64 { return ss.Refused }},
		{Name: "signoff_saml_sp_initiated_total", Help: "SP-initiated SAML logouts started.", Value: func() uint64 { return ss.SPInitiated }},
	})
}

// Close shuts signoff down in order: HTTP, router (no new events), the
// adapters' deliveries in progress (until ctx ends), deadline sweeper and
// outbox relay (after a last drain), NATS connections and the embedded
// server, and last the sqlite store.
func (a *App) Close(ctx context.Context) error {
	a.closeOnce.Do(func() {
		a.ready.Store(false)
		var errs []error
		if a.httpSrv != nil {
			errs = append(errs, a.httpSrv.Shutdown(ctx))
		}
		if a.router != nil {
			errs = append(errs, a.router.Close())
		}
		if a.bc != nil {
			if err := a.bc.Close(ctx); err != nil {
				errs = append(errs, fmt.Errorf("back-channel deliveries: %w", err))
			}
		}
		if a.saml != nil {
			if err := a.saml.Close(ctx); err != nil {
				errs = append(errs, fmt.Errorf("SAML deliveries: %w", err))
			}
		}
		if a.cancel != nil {
			a.cancel()
		}
		a.bg.Wait()
		if a.bus != nil {
			a.bus.Close()
		}
		if a.store != nil {
			errs = append(errs, a.store.Close())
		}
		a.closeErr = errors.Join(errs...)
	})
	return a.closeErr
}

// directory builds the coordinator's view of the relying parties and the
// adapters' RP lists from the configuration.
func directory(cfg *config.Config) (dirMap, []backchannel.RP, []frontchannel.RP) {
	d := dirMap{rps: map[string]saga.RP{}, enabled: map[string]bool{
		events.AdapterBackchannel: true, events.AdapterFrontchannel: true, events.AdapterCookie: true, events.AdapterSAML: true,
	}}
	d.rps[saga.LocalRPID] = saga.RP{ID: saga.LocalRPID, Name: "this sign-in service", Adapter: events.AdapterCookie}
	var bc []backchannel.RP
	var fc []frontchannel.RP
	for _, rp := range cfg.RelyingParties {
		r := saga.RP{ID: rp.ID, Name: rp.Name}
		switch {
		case rp.OIDC != nil && rp.OIDC.BackchannelLogoutURI != "":
			r.Adapter = events.AdapterBackchannel
			bc = append(bc, backchannel.RP{
				ID: rp.ID, Name: rp.Name, ClientID: rp.OIDC.ClientID, LogoutURI: rp.OIDC.BackchannelLogoutURI,
				SessionRequired: rp.OIDC.BackchannelLogoutSessionRequired, Alg: rp.OIDC.LogoutTokenAlg, Typ: rp.OIDC.LogoutTokenTyp,
			})
		case rp.OIDC != nil && rp.OIDC.FrontchannelLogoutURI != "":
			r.Adapter = events.AdapterFrontchannel
			fc = append(fc, frontchannel.RP{ID: rp.ID, Name: rp.Name, URI: rp.OIDC.FrontchannelLogoutURI,
				SessionRequired: rp.OIDC.FrontchannelLogoutSessionRequired})
		case rp.SAML != nil:
			r.Adapter = events.AdapterSAML
		}
		d.rps[rp.ID] = r
	}
	return d, bc, fc
}

type dirMap struct {
	rps     map[string]saga.RP
	enabled map[string]bool
}

func (d dirMap) RP(id string) (saga.RP, bool)       { rp, ok := d.rps[id]; return rp, ok }
func (d dirMap) AdapterEnabled(adapter string) bool { return d.enabled[adapter] }

// resultPublisher publishes adapter results through a watermill publisher.
type resultPublisher struct{ pub message.Publisher }

func (p resultPublisher) PublishResult(ctx context.Context, r events.Result) error {
	b, err := events.Encode(r)
	if err != nil {
		return err
	}
	msg := bus.NewEventMessage(r.EventID, b)
	msg.SetContext(ctx)
	middleware.SetCorrelationID(r.LogoutID, msg)
	return p.pub.Publish(events.SubjectLogoutResult, msg)
}

// RequestLogout publishes a logout.requested for the web pages.
func (a *App) RequestLogout(ctx context.Context, req events.LogoutRequested) error {
	b, err := events.Encode(req)
	if err != nil {
		return err
	}
	_, err = a.js.PublishMsg(ctx, &nats.Msg{Subject: events.SubjectLogoutRequested, Data: b, Header: nats.Header{}},
		jetstream.WithMsgID(req.EventID))
	return err
}

// statusReader shows sagas to the web pages.
type statusReader struct{ st *store.Store }

func (s statusReader) Logout(ctx context.Context, id string) (web.LogoutView, bool, error) {
	sg, ok, err := s.st.Saga(ctx, id)
	if err != nil || !ok {
		return web.LogoutView{}, ok, err
	}
	v := web.LogoutView{ID: sg.LogoutID, Status: sg.Status, ReturnTo: sg.ReturnTo}
	for _, p := range sg.Participants {
		pv := web.ParticipantView{RPID: p.RPID, Name: p.Name, Adapter: p.Adapter, Outcome: p.State, Detail: p.Detail}
		for _, ds := range p.Sessions {
			if ds.OIDC != nil && ds.OIDC.SID != "" {
				pv.SID = ds.OIDC.SID
				break
			}
		}
		v.Participants = append(v.Participants, pv)
	}
	return v, true, nil
}

// frames adapts the OIDC front-channel adapter and the SAML adapter's
// browser SPs to the web pages: OIDC front-channel first, then SAML.
type frames struct {
	fc   *frontchannel.Adapter
	saml *saml.Adapter
}

func (f frames) Frame(logoutID, rpID, sid string) (web.Frame, bool) {
	if fr, ok := f.fc.Frame(logoutID, rpID, sid); ok {
		return web.Frame{RPID: fr.RPID, Name: fr.Name, URL: fr.URL, Origin: fr.Origin, Token: fr.Token}, true
	}
	if f.saml != nil {
		if fr, ok := f.saml.Frame(logoutID, rpID); ok {
			return web.Frame{RPID: fr.RPID, Name: fr.Name, URL: fr.URL, Origin: fr.Origin, Token: fr.Token, TopLevel: fr.TopLevel}, true
		}
	}
	return web.Frame{}, false
}

func (f frames) Origins() []string {
	out := f.fc.Origins()
	if f.saml != nil {
		for _, o := range f.saml.Origins() {
			if !slices.Contains(out, o) {
				out = append(out, o)
			}
		}
	}
	return out
}

func (f frames) Timeout() time.Duration { return f.fc.Timeout() }

func (f frames) Ack(ctx context.Context, logoutID, rpID, token, status, detail string) error {
	if f.saml != nil && f.saml.Handles(rpID) {
		return f.saml.Ack(ctx, logoutID, rpID, token, status, detail)
	}
	return f.fc.Ack(ctx, logoutID, rpID, token, status, detail)
}

// loadSecret reads the key of browser bindings and front-channel tokens,
// generating it (32 random bytes, mode 0600) on first start. Instances that
// share browsers must share this file.
func loadSecret(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if len(b) < 32 {
			return nil, fmt.Errorf("%s: secret shorter than 32 bytes", path)
		}
		return b, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("secret: %w", err)
	}
	b = make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("secret: %w", err)
	}
	return b, nil
}

// sessionDirectory lists a session's applications for the chooser.
type sessionDirectory struct {
	st  *store.Store
	dir dirMap
}

func (s sessionDirectory) Apps(ctx context.Context, sessionID string) ([]web.App, error) {
	ids, err := s.st.SessionRPs(ctx, sessionID)
	if err != nil {
		return nil, err
	}
	var out []web.App
	for _, id := range ids {
		name := id
		if rp, ok := s.dir.RP(id); ok {
			name = rp.Name
		}
		out = append(out, web.App{RPID: id, Name: name})
	}
	return out, nil
}

func (s sessionDirectory) SessionBySID(ctx context.Context, rpID, sid string) (string, bool, error) {
	return s.st.SessionBySID(ctx, rpID, sid)
}

// clients maps client_id → OIDC relying party.
type clients map[string]web.Client

func (c clients) Client(id string) (web.Client, bool) { cl, ok := c[id]; return cl, ok }

func clientsOf(cfg *config.Config) clients {
	out := clients{}
	for _, rp := range cfg.RelyingParties {
		if rp.OIDC != nil {
			out[rp.OIDC.ClientID] = web.Client{RPID: rp.ID, Name: rp.Name, ClientID: rp.OIDC.ClientID, PostLogoutRedirectURIs: rp.OIDC.PostLogoutRedirectURIs}
		}
	}
	return out
}
