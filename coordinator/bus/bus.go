// Package bus connects signoff to NATS JetStream: it starts the embedded
// nats-server when no external NATS is configured, provisions the SIGNOFF
// stream, and builds watermill publishers, subscribers and routers — each
// publisher and subscriber on its own NATS connection, because watermill-nats
// closes the connection it was given.
package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nkeys"

	"github.com/signoff/signoff/events"
)

// Config says where NATS is.
type Config struct {
	// URL of an existing NATS (cluster). Empty starts the embedded server.
	URL string
	// Listen exposes the embedded server on TCP (host:port); empty keeps it
	// in-process only.
	Listen string
	// StoreDir holds the embedded server's JetStream files.
	StoreDir string
	// SyncAlways makes the embedded server fsync every JetStream write.
	SyncAlways bool
	// Replicas of the SIGNOFF stream (1 embedded; 3 on a cluster).
	Replicas int
	// MaxAge of messages kept in the stream (default 7 days).
	MaxAge time.Duration
	// Duplicates is the stream's Nats-Msg-Id dedup window (default 10 min).
	Duplicates time.Duration
	// Auth logs signoff in to the NATS at URL (not used with the embedded
	// server).
	Auth Auth
	// Users may connect to the embedded server on Listen; with Listen set,
	// Users or AllowAnonymous is required.
	Users []User
	// AllowAnonymous lets clients without credentials connect to Listen
	// with every permission; it is logged as a warning at every start.
	AllowAnonymous bool
	// IDPPublish are more subjects the idp role may publish: those an IdP
	// bridge consumes (bridges.keycloak.subject), so that the IdP's event
	// listener logs in as an idp user.
	IDPPublish []string
	Logger     *slog.Logger
}

// Bus is a running connection to NATS, with the embedded server if any.
type Bus struct {
	cfg    Config
	server *server.Server
	url    string
	log    *slog.Logger

	stream health

	mu    sync.Mutex
	conns []*nats.Conn
	admin *nats.Conn
	js    jetstream.JetStream

	internal    nkeys.KeyPair // the embedded server's internal user
	internalPub string
}

// Start connects to NATS (starting the embedded server when cfg.URL is
// empty) and provisions the SIGNOFF stream.
func Start(ctx context.Context, cfg Config) (*Bus, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = 7 * 24 * time.Hour
	}
	if cfg.Duplicates <= 0 {
		cfg.Duplicates = 10 * time.Minute
	}
	b := &Bus{cfg: cfg, url: cfg.URL, log: cfg.Logger}
	if cfg.URL == "" {
		if err := b.startEmbedded(); err != nil {
			return nil, err
		}
	}
	admin, err := b.Connect("signoff-admin")
	if err != nil {
		b.Close()
		return nil, err
	}
	b.admin = admin
	b.js, err = jetstream.New(admin)
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("bus: jetstream: %w", err)
	}
	if err := b.provision(ctx); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

func (b *Bus) startEmbedded() error {
	opts := &server.Options{
		ServerName:         "signoff-embedded",
		JetStream:          true,
		StoreDir:           b.cfg.StoreDir,
		JetStreamMaxMemory: 64 << 20,
		NoSigs:             true,
		SyncAlways:         b.cfg.SyncAlways,
		DontListen:         b.cfg.Listen == "",
		MaxPayload:         1 << 20,
	}
	if b.cfg.Listen != "" {
		host, port, err := net.SplitHostPort(b.cfg.Listen)
		if err != nil {
			return fmt.Errorf("bus: nats.listen %q: %w", b.cfg.Listen, err)
		}
		p, err := strconv.Atoi(port)
		if err != nil {
			return fmt.Errorf("bus: nats.listen %q: port: %w", b.cfg.Listen, err)
		}
		if p == 0 {
			p = server.RANDOM_PORT // nats-server reads 0 as its default, 4222
		}
		opts.Host, opts.Port = host, p
		if err := b.serverAuth(opts); err != nil {
			return err
		}
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return fmt.Errorf("bus: embedded nats-server: %w", err)
	}
	ns.SetLoggerV2(slogAdapter{b.log.With("component", "nats-server")}, false, false, false)
	go ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return errors.New("bus: embedded nats-server not ready after 30s")
	}
	b.server = ns
	if b.cfg.Listen != "" {
		b.url = ns.ClientURL()
		b.log.Info("embedded NATS listening", "url", RedactURL(b.url), "users", len(b.cfg.Users))
		if b.cfg.AllowAnonymous {
			b.log.Warn("embedded NATS allows anonymous clients with every permission (nats.allow_anonymous: true): anyone who reaches "+b.cfg.Listen+" can read sessions, log users out and forge internal events", "listen", b.cfg.Listen)
		}
	}
	return nil
}

// ClientURL is the URL other processes use to reach this NATS; empty when
// the embedded server does not listen on TCP. It is Config.URL as given,
// credentials included: log it through RedactURL.
func (b *Bus) ClientURL() string { return b.url }

// Connect opens a new NATS connection owned by the bus (closed by Close).
func (b *Bus) Connect(name string) (*nats.Conn, error) {
	opts := []nats.Option{nats.Name(name), nats.MaxReconnects(-1), nats.ReconnectWait(250 * time.Millisecond)}
	more, err := b.connectOptions()
	if err != nil {
		return nil, err
	}
	opts = append(opts, more...)
	url := b.url
	if b.server != nil {
		opts = append(opts, nats.InProcessServer(b.server))
		url = ""
	}
	nc, err := nats.Connect(url, opts...)
	if err != nil {
		if url != "" {
			return nil, RedactError(fmt.Errorf("bus: connect %s to %s (is NATS running there, and are its credentials right?): %w", name, RedactURL(url), err), url, b.cfg.Auth)
		}
		return nil, fmt.Errorf("bus: connect %s: %w", name, err)
	}
	b.mu.Lock()
	b.conns = append(b.conns, nc)
	b.mu.Unlock()
	return nc, nil
}

// WaitForServer connects to the NATS at url with auth until a server
// answers or timeout passes, so that signoff may start before its
// nats-server (a Procfile, a compose file). Only "no server answered" is
// retried; a refused login or a TLS error returns at once. timeout 0 tries
// once. The connection is closed again: Start then connects as usual.
func WaitForServer(ctx context.Context, url string, auth Auth, timeout time.Duration, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts, err := auth.Options()
	if err != nil {
		return err
	}
	opts = append(opts, nats.Name("signoff-wait"), nats.Timeout(2*time.Second), nats.NoReconnect())
	deadline := time.Now().Add(timeout)
	for logged := false; ; {
		nc, err := nats.Connect(url, opts...)
		if err == nil {
			nc.Close()
			return nil
		}
		if !errors.Is(err, nats.ErrNoServers) || !time.Now().Before(deadline) {
			return RedactError(fmt.Errorf("bus: connect to %s (is NATS running there, and are its credentials right?): %w", RedactURL(url), err), url, auth)
		}
		if !logged {
			log.Info("waiting for NATS", "url", RedactURL(url), "timeout", timeout)
			logged = true
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// JetStream is the JetStream API on the bus's own connection.
func (b *Bus) JetStream() jetstream.JetStream { return b.js }

func (b *Bus) provision(ctx context.Context) error {
	cfg := jetstream.StreamConfig{
		Name:        events.StreamName,
		Description: "signoff events (DESIGN.md, Contract: events)",
		Subjects:    []string{events.Subjects},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      b.cfg.MaxAge,
		Duplicates:  b.cfg.Duplicates,
		Replicas:    b.cfg.Replicas,
		Discard:     jetstream.DiscardOld,
		// Atomic batch publishing (nats-server 2.12+): the outbox relay and
		// the result and request publishers commit many events with one
		// fsync (see Batcher).
		AllowAtomicPublish: true,
	}
	// The meta leader of a fresh cluster takes a few seconds to appear.
	var err error
	var replicasKept bool
	for attempt := 0; attempt < 20; attempt++ {
		actx, cancel := context.WithTimeout(ctx, 3*time.Second)
		if !replicasKept {
			// An operator may have scaled the stream (R3): never shrink it.
			if st, serr := b.js.Stream(actx, cfg.Name); serr == nil {
				cfg.Replicas = st.CachedInfo().Config.Replicas
				replicasKept = true
			} else if errors.Is(serr, jetstream.ErrStreamNotFound) {
				replicasKept = true
			}
		}
		_, err = b.js.CreateOrUpdateStream(actx, cfg)
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
	return fmt.Errorf("bus: provision stream %s: %w", events.StreamName, err)
}

// Close drains every connection of the bus and then shuts the embedded
// server down.
func (b *Bus) Close() {
	b.mu.Lock()
	conns := b.conns
	b.conns = nil
	b.mu.Unlock()
	for _, nc := range conns {
		if nc.IsClosed() {
			continue
		}
		if err := nc.Drain(); err != nil {
			nc.Close()
		}
	}
	for _, nc := range conns {
		for i := 0; i < 100 && !nc.IsClosed(); i++ {
			time.Sleep(20 * time.Millisecond)
		}
		nc.Close()
	}
	if b.server != nil {
		b.server.Shutdown()
		b.server.WaitForShutdown()
	}
}

type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Noticef(f string, v ...any) { a.l.Debug(fmt.Sprintf(f, v...)) }
func (a slogAdapter) Warnf(f string, v ...any)   { a.l.Warn(fmt.Sprintf(f, v...)) }
func (a slogAdapter) Fatalf(f string, v ...any)  { a.l.Error(fmt.Sprintf(f, v...)) }
func (a slogAdapter) Errorf(f string, v ...any)  { a.l.Error(fmt.Sprintf(f, v...)) }
func (a slogAdapter) Debugf(f string, v ...any)  { a.l.Debug(fmt.Sprintf(f, v...)) }
func (a slogAdapter) Tracef(f string, v ...any)  {}
