// Package app wires signoff's parts into one running process: NATS (embedded
// or external), the sqlite store, the coordinator and its outbox relay, the
// adapters, and the HTTP server. serve, demo, the end-to-end tests and the
// benchmarks all start signoff through Start.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/signoff/signoff/adapters/backchannel"
	"github.com/signoff/signoff/adapters/keys"
	"github.com/signoff/signoff/cmd/signoff/internal/config"
	"github.com/signoff/signoff/coordinator"
	"github.com/signoff/signoff/coordinator/bus"
	"github.com/signoff/signoff/coordinator/outbox"
	"github.com/signoff/signoff/coordinator/saga"
	"github.com/signoff/signoff/coordinator/store"
	"github.com/signoff/signoff/events"
	"github.com/signoff/signoff/web"
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
	a.store, err = store.Open(filepath.Join(cfg.DataDir, "signoff.db"))
	if err != nil {
		return nil, err
	}
	a.bus, err = bus.Start(ctx, bus.Config{
		URL: cfg.NATS.URL, Listen: cfg.NATS.Listen, StoreDir: filepath.Join(cfg.DataDir, "nats"),
		SyncAlways: cfg.NATS.SyncAlways, Replicas: cfg.NATS.Replicas, Logger: o.Logger,
	})
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a.cancel = cancel

	// Outbox relay, woken by every commit that adds rows.
	a.relay = outbox.New(a.store, a.bus.JetStream(), o.Logger.With("component", "outbox"), time.Second)
	a.relay.OnPublished(func(n int) { a.published.Add(uint64(n)) })
	a.store.OnOutbox = a.relay.Wake

	dir, bcRPs := directory(cfg)
	a.coord = coordinator.New(coordinator.Config{
		Store: a.store, Directory: dir, Deadline: cfg.Logout.Deadline.Std(), Now: o.Now,
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

	a.listener, err = net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	a.httpSrv = &http.Server{
		Handler:           web.New(web.Config{Keys: a.keys, Ready: a.readyErr, Metrics: a.metrics}),
		ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
	}
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

func (a *App) natsDescription() string {
	if a.cfg.NATS.URL != "" {
		return a.cfg.NATS.URL
	}
	if u := a.bus.ClientURL(); u != "" {
		return "embedded, " + u
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

func (a *App) metrics(w io.Writer) {
	st := a.bc.Stats()
	web.WriteCounters(w, []web.Counter{
		{Name: "signoff_outbox_published_total", Help: "Events published by the outbox relay.", Value: a.published.Load},
		{Name: "signoff_backchannel_attempts_total", Help: "Back-channel HTTP attempts.", Value: func() uint64 { return st.Attempts }},
		{Name: "signoff_backchannel_succeeded_total", Help: "Back-channel participants signed out.", Value: func() uint64 { return st.Succeeded }},
		{Name: "signoff_backchannel_failed_total", Help: "Back-channel participants failed.", Value: func() uint64 { return st.Failed }},
		{Name: "signoff_backchannel_timed_out_total", Help: "Back-channel participants timed out.", Value: func() uint64 { return st.TimedOut }},
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
// back-channel adapter's RP list from the configuration.
func directory(cfg *config.Config) (dirMap, []backchannel.RP) {
	d := dirMap{rps: map[string]saga.RP{}, enabled: map[string]bool{events.AdapterBackchannel: true}}
	var bc []backchannel.RP
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
		case rp.SAML != nil:
			r.Adapter = events.AdapterSAML
		}
		d.rps[rp.ID] = r
	}
	return d, bc
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
