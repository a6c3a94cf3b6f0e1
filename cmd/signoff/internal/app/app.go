// Package app wires signoff's parts into one running process: NATS (embedded
// or external), the sqlite store, the coordinator and its outbox relay, the
// adapters, and the HTTP server. serve, demo, the end-to-end tests and the
// benchmarks all start signoff through Start.
package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/trace"

	"github.com/signoff/signoff/adapters/keys"
	"github.com/signoff/signoff/cmd/signoff/internal/config"
	"github.com/signoff/signoff/coordinator"
	"github.com/signoff/signoff/coordinator/bus"
	"github.com/signoff/signoff/coordinator/cluster"
	"github.com/signoff/signoff/coordinator/engine"
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
	// TracerProvider, when set, traces logouts instead of the provider of
	// the tracing section (tests pass the SDK's with an in-memory exporter).
	TracerProvider trace.TracerProvider
}

// App is a running signoff.
type App struct {
	cfg   *config.Config
	log   *slog.Logger
	bus   *bus.Bus
	store *store.Store
	keys  *keys.Set
	// engine runs the partitions this instance owns: the intake, and per
	// partition the coordinator, outbox relay and sweeper (cluster.go).
	engine *engine.Engine
	member *cluster.Member // nil without cluster.enabled
	// rpcConn carries requests to partition owners and the change feed
	// (cluster.go; nil without cluster.enabled).
	rpcConn *nats.Conn
	// held are the dispatches under delivery, acknowledged once their
	// result is published (held.go).
	held *heldDispatches
	// httpAddr is the listener's address once it listens (read by the
	// cluster heartbeat, which starts before the HTTP server).
	httpAddr atomic.Value
	js       jetstream.JetStream
	// adapters are the adapters of adapterKinds, in order (port.go).
	adapters []Adapter

	keycloak keycloakBridges // bridges.keycloak (keycloak.go)

	work     []*bus.Work
	sealer   *events.Sealer
	tracing  *tracingState
	batcher  *bus.Batcher // group-commits results, requests and poison copies
	httpSrv  *http.Server
	listener net.Listener
	prom     *metrics // the Prometheus registry (metrics.go)

	stops     []func(context.Context) error // run by Close, last first
	bg        sync.WaitGroup
	ready     atomic.Bool
	published atomic.Uint64
	closeOnce sync.Once
	closeErr  error
}

// Start brings signoff up and returns once it consumes events and serves
// HTTP. Unfinished sagas of a previous run are resumed. Every part is
// stopped by Close, in the reverse order of its start (App.onStop).
func Start(ctx context.Context, o Options) (_ *App, err error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 32
	}
	a := &App{cfg: o.Config, log: o.Logger}
	a.held = newHeldDispatches(o.Logger.With("component", "dispatches"), o.Now)
	defer func() {
		if err != nil {
			a.Close(context.Background())
		}
	}()
	secret, err := a.startCore(ctx, o)
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	a.onStop(func(context.Context) error { cancel(); a.bg.Wait(); return nil }) // the goBG goroutines

	// The bind hook of adapters that start logouts in a browser (SAML
	// SP-initiated): the binding of the web pages, which need only the
	// public URL and the secret for it.
	binder := web.Browser{PublicURL: a.cfg.PublicURL, Secret: secret}
	// After the adapters stop: what they were delivering goes back.
	a.onStop(func(context.Context) error { a.held.nakAll(); return nil })
	a.adapters, err = buildAdapters(adapterDeps{cfg: a.cfg, o: o, keys: a.keys, store: a.store, parts: a, secret: secret,
		results: resultPublisher{held: a.held, batcher: a.batcher, sealer: a.sealer, tracing: a.tracing}, logouts: a, bind: binder.Bind})
	a.onStop(func(ctx context.Context) error { return closeAdapters(ctx, a.adapters) })
	if err != nil {
		return nil, err
	}
	dir := directory(a.cfg, adapterNames[Adapter](a.adapters))
	if err := a.startCoordinator(ctx, o, dir); err != nil {
		return nil, err
	}
	if err := a.startWork(ctx, o); err != nil {
		return nil, err
	}
	a.goBG(func() { a.held.run(runCtx, 10*time.Second) })
	if err := a.joinCluster(ctx, o); err != nil {
		return nil, err
	}
	a.goBG(func() { a.keys.Watch(runCtx, 10*time.Second) })
	a.goBG(func() { a.bus.KeepStream(runCtx) })
	if err := a.startBridges(ctx, runCtx, o); err != nil {
		return nil, err
	}
	if err := a.serve(ctx, runCtx, o, dir, secret); err != nil {
		return nil, err
	}
	a.ready.Store(true)
	a.log.Info("signoff running", "http", "http://"+a.listener.Addr().String(), "issuer", a.cfg.Issuer,
		"nats", a.natsDescription(), "relying_parties", len(a.cfg.RelyingParties))
	return a, nil
}

// onStop adds stop to what Close runs: the stops run in the reverse order
// of their onStop, so each part stops before the parts started before it.
func (a *App) onStop(stop func(context.Context) error) { a.stops = append(a.stops, stop) }

// startCore starts what everything else uses: tracing, the signing keys,
// the sqlite store, NATS, the outbox relay, the secret and the sealer, and
// the batcher of the web's and the adapters' publishes. It returns the
// secret.
func (a *App) startCore(ctx context.Context, o Options) (secret []byte, err error) {
	cfg := a.cfg
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data_dir %s: %w", cfg.DataDir, err)
	}
	if err := a.startTracing(ctx, o); err != nil {
		return nil, err
	}
	a.onStop(a.tracing.stop)
	if a.keys, err = keys.Open(cfg.KeyDir(), cfg.Keys.Dir == "", o.Now, o.Logger); err != nil {
		return nil, err
	}
	if a.store, err = store.Open(filepath.Join(cfg.DataDir, "signoff.db")); err != nil {
		return nil, err
	}
	if err := checkSingleStore(ctx, cfg, a.store); err != nil {
		a.store.Close()
		return nil, err
	}
	a.onStop(func(context.Context) error { return a.store.Close() })
	// The files and secrets of nats: a missing one stops start-up naming
	// its key.
	natsAuth, err := cfg.NATSAuth()
	if err != nil {
		return nil, err
	}
	if a.bus, err = bus.Start(ctx, busConfig(cfg, natsAuth, o.Logger)); err != nil {
		return nil, err
	}
	a.onStop(func(context.Context) error { a.bus.Close(); return nil })
	if secret, err = loadSecret(cfg.SecretPath(), cfg.SecretFile == ""); err != nil {
		return nil, err
	}
	if a.sealer, err = events.NewSealer(secret); err != nil {
		return nil, err
	}
	webNC, err := a.bus.Connect("signoff-web")
	if err != nil {
		return nil, err
	}
	if a.js, err = jetstream.New(webNC); err != nil {
		return nil, err
	}
	a.batcher = bus.NewBatcher(a.js)
	a.onStop(func(context.Context) error { a.batcher.Close(); return nil })
	return secret, nil
}

// startCoordinator builds the coordinator (and the metrics, its
// observer), resumes the unfinished sagas and starts the ordered intake.
func (a *App) startCoordinator(ctx context.Context, o Options, dir dirMap) error {
	cfg := a.cfg
	a.prom = newMetrics(cfg)
	a.prom.dispatchSubjects(adapterNames[Dispatcher](a.adapters))
	busAdapters := map[events.Adapter]bool{}
	for _, name := range adapterNames[Dispatcher](a.adapters) {
		busAdapters[name] = true
	}
	newCoordinator := func(p int, st *store.Store) *coordinator.Coordinator {
		log := o.Logger.With("component", "coordinator")
		if cfg.Cluster.Enabled {
			log = log.With("partition", p)
		}
		return coordinator.New(coordinator.Config{
			Store: st, Directory: dir, Deadline: cfg.Logout.Deadline.Std(), Now: o.Now,
			SessionExpiration: cfg.Session.Expiration.Std(), SessionInactivity: cfg.Session.Inactivity.Std(),
			Tracer: a.tracing.provider(), Logger: log, Sealer: a.sealer,
			BusAdapters: busAdapters, Observer: a.prom,
		})
	}
	ec := engine.Config{
		Bus: a.bus, Partitions: cfg.PartitionCount(), Clustered: cfg.Cluster.Enabled, DataDir: cfg.DataDir,
		Coordinator: newCoordinator, Publisher: bus.AllPublisher{JS: a.bus.JetStream()},
		Changes: a.store.Changes(), SnapshotInterval: cfg.Cluster.SnapshotInterval.Std(),
		OnPublished: func(n int) { a.published.Add(uint64(n)) },
		Logger:      o.Logger.With("component", "engine"), Now: o.Now,
	}
	if cfg.Cluster.Enabled {
		if err := a.clusterEngine(ctx, &ec); err != nil {
			return err
		}
	} else {
		// One partition in data_dir/signoff.db. The intake resumes after
		// the last event the store applied (or, upgrading from the
		// per-subject consumers of an earlier version, after theirs).
		applied, err := a.store.Applied(ctx, 0)
		if err != nil {
			return err
		}
		up, err := a.upgradeFrom(ctx, applied)
		if err != nil {
			return err
		}
		if applied == 0 && up.start > 0 {
			a.log.Info("upgrading from per-subject consumers: the intake starts at the oldest unapplied event", "stream_sequence", up.start)
		} else if applied > 0 {
			a.log.Info("intake resumes after the last applied event", "stream_sequence", applied)
		}
		ec.Zero, ec.Skip, ec.Applied = a.store, up.skip, up.progress
	}
	e, err := engine.New(ec)
	if err != nil {
		return err
	}
	if err := e.Start(ctx); err != nil {
		e.Stop(ctx)
		return err
	}
	a.engine = e
	a.onStop(e.Stop)
	return nil
}

// startWork starts the work consumer of every Dispatcher: adapter-<name>
// on signoff.logout.dispatch.<name>, pulling only as many dispatches as
// the adapter's delivery pool has room for.
func (a *App) startWork(ctx context.Context, o Options) error {
	for _, ad := range capable[Dispatcher](a.adapters) {
		w, err := a.bus.Work(ctx, bus.WorkConfig{
			Durable: "adapter-" + string(ad.Name()), Subject: events.DispatchSubject(ad.Name()),
			Free: ad.Free, Freed: ad.Freed(), Take: a.dispatchHandler(ad), Now: o.Now,
			Logger: o.Logger.With("component", "adapter-"+string(ad.Name())),
		})
		if err != nil {
			return err
		}
		a.work = append(a.work, w)
		a.onStop(func(context.Context) error { w.Stop(); return nil })
	}
	return nil
}

// serve starts the HTTP server: the web pages, the adapters' routes, the
// upstreams' and the Shared Signals receiver's endpoints, and /metrics.
func (a *App) serve(ctx, runCtx context.Context, o Options, dir dirMap, secret []byte) (err error) {
	cfg := a.cfg
	if o.Listener != nil {
		a.listener = o.Listener
	} else if a.listener, err = net.Listen("tcp", cfg.Listen); err != nil {
		return fmt.Errorf("listen %s: %w", cfg.Listen, err)
	}
	a.httpAddr.Store(a.listener.Addr().String())
	local, _ := adapterOf[LocalSession](a.adapters)
	browserCfg := &web.Browser{
		PublicURL: cfg.PublicURL, Secret: secret, Logouts: a, Status: statusReader{routed{a}, dir}, Local: local,
		Frames: frames(capable[BrowserStep](a.adapters)), Redirects: redirect.Policy{AllowedDomains: cfg.Redirects.AllowedDomains},
		Steps: routed{a}, Changes: a.store.Changes(), DefaultRedirect: cfg.Redirects.DefaultURL, LocalRPID: saga.LocalRPID, MaxWait: cfg.Logout.Deadline.Std() + 30*time.Second,
		Logger: o.Logger.With("component", "web"), Now: o.Now,
		Issuer: cfg.Issuer, Sessions: sessionDirectory{routed{a}, dir}, Hints: newHintVerifier(ctx, cfg, a.keys),
		Clients: clientsOf(cfg), ChooseScope: cfg.Logout.ChooseScope, AdminToken: cfg.Admin.Token,
	}
	routes, err := routesOf(a.adapters)
	if err != nil {
		return err
	}
	extra, err := a.withUpstreams(routes, o)
	if err != nil {
		return err
	}
	if err := a.startSSF(runCtx, o, extra); err != nil {
		return err
	}
	if extra == nil {
		extra = map[string]http.Handler{}
	}
	extra[clusterPattern] = a.clusterHandler()
	metricsHandler, err := a.startMetrics()
	if err != nil {
		return err
	}
	a.onStop(a.stopMetrics)
	handler, err := web.New(web.Config{Keys: a.keys, Ready: a.readyErr, Metrics: metricsHandler, Browser: browserCfg,
		Extra: extra})
	if err != nil {
		return err
	}
	a.httpSrv = &http.Server{Handler: a.tracing.handler(cfg.PublicURL, handler), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute}
	for _, lp := range capable[LongPolls](a.adapters) {
		a.httpSrv.RegisterOnShutdown(lp.EndPolls) // long polls must not hold up Shutdown
	}
	a.onStop(a.httpSrv.Shutdown)
	go func() {
		if err := a.httpSrv.Serve(a.listener); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("http server", "err", err)
		}
	}()
	return nil
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
		AllowAnonymous: cfg.NATS.AllowAnonymous, IDPPublish: bridgeSubjects(cfg),
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
	if err := a.bus.StreamReady(); err != nil {
		return err
	}
	if err := a.engine.Ready(); err != nil {
		return err
	}
	if a.member != nil {
		if err := a.member.Ready(); err != nil {
			return err
		}
	}
	for _, w := range a.work {
		if err := w.Ready(); err != nil {
			return err
		}
	}
	return nil
}

// legacyConsumers are the durable consumers of the coordinator before
// Backbone v2, one per subject, each with its own position.
var legacyConsumers = map[string]string{
	"coordinator-session-joined":   events.SubjectSessionJoined,
	"coordinator-session-activity": events.SubjectSessionActivity,
	"coordinator-logout-requested": events.SubjectLogoutRequested,
	"coordinator-logout-result":    events.SubjectLogoutResult,
}

// upgrade carries the positions of the legacy consumers into the intake:
// it starts at the oldest event one of them had not applied, skips what
// each had applied, and deletes them once the intake is past all of them.
type upgrade struct {
	start  uint64            // 0: nothing to upgrade from
	floors map[string]uint64 // subject → last applied stream sequence
	last   uint64
	bus    *bus.Bus
	log    *slog.Logger
	done   atomic.Bool
}

func (a *App) upgradeFrom(ctx context.Context, applied uint64) (*upgrade, error) {
	up := &upgrade{floors: map[string]uint64{}, bus: a.bus, log: a.log}
	for name, subject := range legacyConsumers {
		c, err := a.bus.JetStream().Consumer(ctx, events.StreamName, name)
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("read the position of %s: %w", name, err)
		}
		floor := c.CachedInfo().AckFloor.Stream
		up.floors[subject] = floor
		if up.start == 0 || floor+1 < up.start {
			up.start = floor + 1
		}
		up.last = max(up.last, c.CachedInfo().Delivered.Stream)
	}
	if len(up.floors) == 0 {
		up.done.Store(true)
	} else if applied >= up.last {
		up.finish(ctx)
	}
	return up, nil
}

func (up *upgrade) skip(subject string, seq uint64) bool {
	if up.done.Load() {
		return false
	}
	return seq <= up.floors[subject]
}

func (up *upgrade) progress(ctx context.Context, batch []jetstream.Msg) {
	if up.done.Load() {
		return
	}
	if md, err := batch[len(batch)-1].Metadata(); err == nil && md.Sequence.Stream >= up.last {
		up.finish(ctx)
	}
}

func (up *upgrade) finish(ctx context.Context) {
	names := make([]string, 0, len(legacyConsumers))
	for n := range legacyConsumers {
		names = append(names, n)
	}
	gone, err := up.bus.RemoveConsumers(ctx, names...)
	if err != nil {
		up.log.Warn("removing the consumers of an earlier version", "err", err)
		return
	}
	up.done.Store(true)
	if len(gone) > 0 {
		up.log.Info("removed the consumers of an earlier version", "consumers", gone)
	}
}

// poison publishes m on signoff.poison with the reason, and returns a
// permanent error (the message is then terminated), or the publishing
// error (the message is redelivered and poisoned later).
func (a *App) poison(ctx context.Context, m jetstream.Msg, reason error) error {
	a.log.Warn("event poisoned", "subject", m.Subject(), "reason", reason.Error())
	h := nats.Header{}
	h.Set(events.HeaderPoisonReason, reason.Error())
	h.Set(events.HeaderPoisonSubject, m.Subject())
	if err := a.batcher.Publish(ctx, &nats.Msg{Subject: events.SubjectPoison, Data: m.Data(), Header: h}); err != nil {
		return fmt.Errorf("publish poison: %w", err)
	}
	a.prom.Poisoned(m.Subject())
	return bus.Permanent(reason)
}

// Close shuts signoff down in the reverse order of Start: HTTP, metrics
// listener, the work consumers and the intake (no new events), the
// adapters' deliveries in progress (until ctx ends), the background loops
// (deadline sweeper, outbox relay after a last drain, bridges, receivers),
// the batcher, NATS connections and the embedded server, the sqlite store,
// and last tracing.
func (a *App) Close(ctx context.Context) error {
	a.closeOnce.Do(func() {
		a.ready.Store(false)
		var errs []error
		for i := len(a.stops) - 1; i >= 0; i-- {
			errs = append(errs, a.stops[i](ctx))
		}
		a.closeErr = errors.Join(errs...)
	})
	return a.closeErr
}

// directory builds the coordinator's view of the relying parties from the
// configuration; enabled are the names of the adapters.
func directory(cfg *config.Config, enabled []events.Adapter) dirMap {
	d := dirMap{rps: map[string]saga.RP{}, enabled: map[events.Adapter]bool{}}
	for _, name := range enabled {
		d.enabled[name] = true
	}
	d.rps[saga.LocalRPID] = saga.RP{ID: saga.LocalRPID, Name: "This sign-in service", Adapter: events.AdapterCookie}
	for _, rp := range cfg.RelyingParties {
		r := saga.RP{ID: rp.ID, Name: rp.Name, Adapter: rpAdapter(rp)}
		if rp.SAML != nil {
			r.SubjectNameIDFormat = rp.SAML.SubjectNameIDFormat()
		}
		d.rps[rp.ID] = r
		if rp.Fanout == config.FanoutAlways {
			d.fanout = append(d.fanout, r)
		}
	}
	return d
}

type dirMap struct {
	rps     map[string]saga.RP
	enabled map[events.Adapter]bool
	fanout  []saga.RP // relying parties with fanout: always (upstream.go)
}

func (d dirMap) RP(id string) (saga.RP, bool)               { rp, ok := d.rps[id]; return rp, ok }
func (d dirMap) AdapterEnabled(adapter events.Adapter) bool { return d.enabled[adapter] }

// resultPublisher publishes adapter results, sealed, group-committed; a
// published result acknowledges the dispatches held for its participant.
type resultPublisher struct {
	held    *heldDispatches
	batcher *bus.Batcher
	sealer  *events.Sealer
	tracing *tracingState
}

func (p resultPublisher) PublishResult(ctx context.Context, r events.Result) error {
	b, err := events.Encode(r)
	if err != nil {
		return err
	}
	h := nats.Header{}
	h.Set(events.HeaderSeal, p.sealer.Seal(events.SubjectLogoutResult, b))
	p.tracing.inject(ctx, h)
	// No Nats-Msg-Id: a repeated result changes nothing, and every id costs
	// the stream an entry in its duplicate window.
	if err := p.batcher.Publish(ctx, &nats.Msg{Subject: events.SubjectLogoutResult, Data: b, Header: h}); err != nil {
		return err
	}
	if p.held != nil {
		p.held.release(r.LogoutID, r.RPID)
	}
	return nil
}

// RequestLogout publishes a logout.requested for the web pages.
func (a *App) RequestLogout(ctx context.Context, req events.LogoutRequested) error {
	b, err := events.Encode(req)
	if err != nil {
		return err
	}
	h := nats.Header{}
	h.Set(jetstream.MsgIDHeader, req.EventID)
	a.tracing.inject(ctx, h)
	return a.batcher.Publish(ctx, &nats.Msg{Subject: events.SubjectLogoutRequested, Data: b, Header: h})
}

// statusReader shows sagas to the web pages.
type statusReader struct {
	st  partStore // *store.Store, or routed with scale-out
	dir dirMap
}

func (s statusReader) Logout(ctx context.Context, id string) (web.LogoutView, bool, error) {
	sg, ok, err := s.st.Saga(ctx, id)
	if err != nil || !ok {
		return web.LogoutView{}, ok, err
	}
	v := web.LogoutView{ID: sg.LogoutID, Status: sg.Status, ReturnTo: sg.ReturnTo, Scope: sg.Scope}
	if !sg.Running() && sg.NoRPSessions() {
		v.Detail = events.CompletedNoSessions // as its logout.completed says
	}
	if sg.Scope == events.ScopeInitiatorOnly && sg.SessionID != "" && !sg.Running() {
		// "This app only": the applications of the sign-in that are still
		// signed in, for the headline.
		if v.StillSignedIn, err = (sessionDirectory{s.st, s.dir}).names(ctx, sg.SessionID, sg.InitiatingRPID); err != nil {
			return web.LogoutView{}, false, err
		}
	}
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

// loadSecret reads the key of browser bindings and front-channel tokens,
// generating it (32 random bytes, mode 0600) on first start. Instances that
// share browsers must share this file.
func loadSecret(path string, generate bool) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		if !generate {
			b = bytes.TrimRight(b, "\r\n")
		}
		if len(b) < 32 {
			return nil, fmt.Errorf("%s: secret shorter than 32 bytes", path)
		}
		return b, nil
	}
	if !errors.Is(err, os.ErrNotExist) || !generate {
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
	st  partStore // *store.Store, or routed with scale-out
	dir dirMap
}

func (s sessionDirectory) Apps(ctx context.Context, sessionID string) ([]web.App, error) {
	apps, err := s.st.SessionApps(ctx, sessionID)
	if err != nil {
		return nil, err
	}
	var out []web.App
	for _, a := range apps {
		name := a.RPID
		if rp, ok := s.dir.RP(a.RPID); ok {
			name = rp.Name
		}
		out = append(out, web.App{RPID: a.RPID, Name: name, State: appStates[a.State]})
	}
	return out, nil
}

// appStates maps the store's application states to the chooser's.
var appStates = map[string]string{
	store.AppSignedIn: web.AppSignedIn, store.AppSigningOut: web.AppSigningOut, store.AppNotConfirmed: web.AppNotConfirmed,
}

// names are the display names of the applications sessionID is still
// signed in to, but skip.
func (s sessionDirectory) names(ctx context.Context, sessionID, skip string) ([]string, error) {
	apps, err := s.Apps(ctx, sessionID)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, a := range apps {
		if a.RPID != skip && a.RPID != saga.LocalRPID && a.State == web.AppSignedIn {
			out = append(out, a.Name)
		}
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
