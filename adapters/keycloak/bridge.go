package keycloak

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/signoff/signoff/events"
)

// Names on the NATS side of the bridge.
const (
	// CaptureStream is the stream signoff creates to capture events that
	// the listener publishes on core NATS, when no stream holds them yet.
	CaptureStream = "SIGNOFF_KEYCLOAK"
	// Consumer is the durable consumer of the bridge; every signoff
	// instance shares it.
	Consumer = "signoff-keycloak-bridge"
	// AdminCaptureStream and AdminConsumer are those of the bridge of
	// admin events (bridges.keycloak.admin_subject).
	AdminCaptureStream = "SIGNOFF_KEYCLOAK_ADMIN"
	AdminConsumer      = "signoff-keycloak-admin-bridge"
	// priorityGroup pins the consumer to one instance at a time, so that
	// events are translated in stream order even with several instances.
	priorityGroup = "signoff"
	// ackWait is how long an event delivered to an instance that stopped
	// or died waits before it is delivered again; retries extend it.
	ackWait = 10 * time.Second
)

// Publisher stores signoff events in the SIGNOFF stream, in order, and
// returns once JetStream acknowledged all of them (bus.AllPublisher).
type Publisher interface {
	PublishAll(ctx context.Context, msgs []*nats.Msg) error
}

// Config configures a Bridge.
type Config struct {
	JS jetstream.JetStream
	// Subject is the subject filter of the Keycloak events.
	Subject string
	// Admin marks the bridge of Keycloak admin events (its own consumer
	// AdminConsumer and capture stream AdminCaptureStream).
	Admin bool
	// Stream holds them; empty: the stream that captures Subject, else
	// CaptureStream (AdminCaptureStream), created.
	Stream string
	// Replicas of CaptureStream when it is created (default 1).
	Replicas int
	// MaxAge of the events in CaptureStream (default 7 days).
	MaxAge  time.Duration
	Mapping Mapping
	// Publisher stores the signoff events and the poison copies.
	Publisher Publisher
	// Batch is the most events translated and published at once (default 256).
	Batch  int
	Logger *slog.Logger
	Now    func() time.Time
}

// Stats are the bridge's counters since start. Redelivered events count
// again.
type Stats struct {
	Received      uint64 // messages taken from the stream
	Joins         uint64 // session.joined published
	Logouts       uint64 // logout.requested published
	IgnoredRealm  uint64 // events of another realm
	IgnoredClient uint64 // logins at clients not in the mapping
	IgnoredError  uint64 // failed events (error set)
	IgnoredType   uint64 // types the bridge does not act on, admin events
	Poisoned      uint64 // malformed events sent to signoff.poison
}

// Bridge consumes Keycloak events from a JetStream stream and publishes
// signoff events. It acknowledges an event only once what it became (or
// its poison copy) is stored in the SIGNOFF stream: a crash in between
// redelivers it, and its deterministic event_id (Nats-Msg-Id) keeps
// JetStream from storing it twice.
type Bridge struct {
	cfg    Config
	log    *slog.Logger
	stream string
	// capture and consumer are the names of the capture stream and the
	// durable consumer (CaptureStream and Consumer, or the admin ones).
	capture, consumer string
	cons              jetstream.Consumer
	cancel            context.CancelFunc
	done              chan struct{}
	stop              sync.Once

	received, joins, logouts               atomic.Uint64
	ignRealm, ignClient, ignError, ignType atomic.Uint64
	poisoned                               atomic.Uint64

	// otherRealms are the realms whose events were ignored, each logged
	// once (at most maxRealmsLogged), so that a realm configured by name
	// where events carry only the realm's id is noticed.
	otherRealms map[string]bool
}

// Start provisions the stream and the durable consumer and starts
// consuming; Stop ends it.
func Start(ctx context.Context, cfg Config) (*Bridge, error) {
	if cfg.JS == nil || cfg.Publisher == nil || cfg.Subject == "" {
		return nil, errors.New("keycloak: bridge needs JS, Publisher and Subject")
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 256
	}
	if cfg.Replicas <= 0 {
		cfg.Replicas = 1
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = 7 * 24 * time.Hour
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	b := &Bridge{cfg: cfg, log: cfg.Logger, done: make(chan struct{}), capture: CaptureStream, consumer: Consumer}
	if cfg.Admin {
		b.capture, b.consumer = AdminCaptureStream, AdminConsumer
	}
	own, err := b.provisionStream(ctx)
	if err != nil {
		return nil, err
	}
	if b.cons, err = b.provisionConsumer(ctx, own); err != nil {
		return nil, err
	}
	b.log.Info("Keycloak bridge consuming", "stream", b.stream, "subject", cfg.Subject, "realm", cfg.Mapping.Realm,
		"clients", len(cfg.Mapping.Clients))
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	b.cancel = cancel
	go b.run(rctx)
	return b, nil
}

// provisionStream finds the stream of the events, or creates CaptureStream;
// own reports whether it is signoff's.
func (b *Bridge) provisionStream(ctx context.Context) (own bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if name := b.cfg.Stream; name != "" {
		if _, err := b.cfg.JS.Stream(ctx, name); err != nil {
			return false, fmt.Errorf("keycloak: bridges.keycloak.stream %s: %w", name, err)
		}
		b.stream = name
		return name == b.capture, nil
	}
	name, err := b.cfg.JS.StreamNameBySubject(ctx, b.cfg.Subject)
	switch {
	case err == nil && name != b.capture:
		b.stream = name
		return false, nil
	case err != nil && !errors.Is(err, jetstream.ErrStreamNotFound):
		return false, fmt.Errorf("keycloak: look up the stream of %s: %w", b.cfg.Subject, err)
	}
	// Events published on core NATS: capture them in a stream of our own,
	// a work queue (an event is deleted once the bridge acknowledged it).
	_, err = b.cfg.JS.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:        b.capture,
		Description: "signoff: Keycloak events captured for the bridge (bridges.keycloak)",
		Subjects:    []string{b.cfg.Subject},
		Storage:     jetstream.FileStorage,
		Retention:   jetstream.WorkQueuePolicy,
		MaxAge:      b.cfg.MaxAge,
		Replicas:    b.cfg.Replicas,
		Duplicates:  2 * time.Minute,
	})
	if err != nil {
		return false, fmt.Errorf("keycloak: create stream %s on %s: %w", b.capture, b.cfg.Subject, err)
	}
	b.stream = b.capture
	return true, nil
}

// provisionConsumer creates the durable consumer, or brings an existing
// one to this configuration (a changed subject, say) keeping where it is.
// A new one starts at the first event of signoff's own stream, or at the
// new events of a stream the listener owns (its history before the bridge
// existed is not replayed).
func (b *Bridge) provisionConsumer(ctx context.Context, own bool) (jetstream.Consumer, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cfg := jetstream.ConsumerConfig{
		Durable:       b.consumer,
		Description:   "signoff: Keycloak events → signoff events",
		FilterSubject: b.cfg.Subject,
		DeliverPolicy: jetstream.DeliverNewPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       ackWait,
		MaxDeliver:    -1,
		MaxAckPending: b.cfg.Batch,
		// One instance at a time receives events, so they are translated
		// in stream order. The fetch loop pulls at least every 2 s: an
		// instance that died loses the pin after 10 s.
		PriorityPolicy: jetstream.PriorityPolicyPinned,
		PriorityGroups: []string{priorityGroup},
		PinnedTTL:      10 * time.Second,
	}
	if own {
		cfg.DeliverPolicy = jetstream.DeliverAllPolicy
	}
	c, err := b.cfg.JS.Consumer(ctx, b.stream, b.consumer)
	switch {
	case err == nil:
		old := c.CachedInfo().Config
		cfg.DeliverPolicy, cfg.OptStartSeq, cfg.OptStartTime = old.DeliverPolicy, old.OptStartSeq, old.OptStartTime
		c, err = b.cfg.JS.UpdateConsumer(ctx, b.stream, cfg)
	case errors.Is(err, jetstream.ErrConsumerNotFound):
		c, err = b.cfg.JS.CreateConsumer(ctx, b.stream, cfg)
	}
	if err != nil {
		return nil, fmt.Errorf("keycloak: consumer %s on %s: %w", b.consumer, b.stream, err)
	}
	return c, nil
}

// Stream is the stream the bridge consumes.
func (b *Bridge) Stream() string { return b.stream }

// Stats returns the counters.
func (b *Bridge) Stats() Stats {
	return Stats{
		Received: b.received.Load(), Joins: b.joins.Load(), Logouts: b.logouts.Load(),
		IgnoredRealm: b.ignRealm.Load(), IgnoredClient: b.ignClient.Load(), IgnoredError: b.ignError.Load(),
		IgnoredType: b.ignType.Load(), Poisoned: b.poisoned.Load(),
	}
}

// Stop ends consuming after the batch in progress; events not yet
// acknowledged are delivered again on the next start.
func (b *Bridge) Stop() {
	b.stop.Do(func() {
		b.cancel()
		<-b.done
		// Hand the pin over at once rather than after the pinned TTL: a
		// restart, or another instance, goes on without waiting.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if st, err := b.cfg.JS.Stream(ctx, b.stream); err == nil {
			if err := st.UnpinConsumer(ctx, b.consumer, priorityGroup); err != nil {
				b.log.Debug("Keycloak bridge: unpin", "err", err)
			}
		}
	})
}

func (b *Bridge) run(ctx context.Context) {
	defer close(b.done)
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		// The pull ends with ctx: Stop withdraws it at once.
		fctx, fcancel := context.WithTimeout(ctx, 2*time.Second)
		batch, err := b.cons.Fetch(b.cfg.Batch, jetstream.FetchContext(fctx),
			jetstream.FetchPriorityGroup(priorityGroup))
		if err != nil {
			fcancel()
			b.log.Warn("Keycloak bridge: fetch", "err", err)
			sleep(ctx, backoff)
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		// Translate and store what has arrived as soon as no more is
		// waiting: a lone event is not held until the pull expires.
		ch := batch.Messages()
		var msgs []jetstream.Msg
		for m := range ch {
			msgs = append(msgs, m)
			if len(ch) > 0 && len(msgs) < b.cfg.Batch {
				continue
			}
			if err := b.handle(ctx, msgs); err != nil {
				// Stopped mid-publish. The events this pull delivered are
				// not acknowledged: JetStream delivers them again after
				// AckWait, sorted by sequence (a NAK would requeue them in
				// no guaranteed order).
				fcancel()
				return
			}
			msgs = nil
		}
		fcancel()
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
			b.log.Debug("Keycloak bridge: pull ended", "err", err)
			sleep(ctx, backoff)
			backoff = min(2*backoff, 5*time.Second)
			continue
		}
		backoff = 100 * time.Millisecond
	}
}

// handle translates msgs in order, stores the results, and then
// acknowledges msgs. A failed publish is retried with backoff, in order,
// until it succeeds or the bridge stops.
func (b *Bridge) handle(ctx context.Context, msgs []jetstream.Msg) error {
	out := make([]*nats.Msg, 0, len(msgs))
	var joins, logouts, poisoned uint64
	for _, m := range msgs {
		b.received.Add(1)
		ev, o, err := b.translate(m)
		if err != nil {
			b.log.Warn("Keycloak event poisoned", "subject", m.Subject(), "reason", err.Error())
			h := nats.Header{}
			h.Set(events.HeaderPoisonReason, strings.Join(strings.Fields(err.Error()), " ")) // one line
			h.Set(events.HeaderPoisonSubject, m.Subject())
			if md, err := m.Metadata(); err == nil {
				// A redelivered malformed event is poisoned once.
				h.Set(jetstream.MsgIDHeader, fmt.Sprintf("keycloak-poison-%s-%d", md.Stream, md.Sequence.Stream))
			}
			out = append(out, &nats.Msg{Subject: events.SubjectPoison, Data: m.Data(), Header: h})
			poisoned++
			continue
		}
		switch o.Kind {
		case Joined, LogoutRequested:
			h := nats.Header{}
			h.Set(jetstream.MsgIDHeader, o.EventID)
			out = append(out, &nats.Msg{Subject: o.Subject, Data: o.Data, Header: h})
			if o.Kind == Joined {
				joins++
			} else {
				logouts++
			}
		default:
			b.ignored(o.Why)
			if o.Why == WhyRealm {
				b.warnRealm(ev)
			}
		}
	}
	for backoff := 100 * time.Millisecond; len(out) > 0; {
		pctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err := b.cfg.Publisher.PublishAll(pctx, out)
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err() // the caller hands msgs back
		}
		b.log.Warn("Keycloak bridge: publish signoff events; retrying", "events", len(out), "err", err)
		for _, m := range msgs {
			m.InProgress() // still ours: no redelivery while we retry
		}
		sleep(ctx, backoff)
		backoff = min(2*backoff, 5*time.Second)
	}
	b.joins.Add(joins)
	b.logouts.Add(logouts)
	b.poisoned.Add(poisoned)
	for _, m := range msgs {
		if err := m.Ack(); err != nil {
			// Redelivered after AckWait; the event ids make it harmless.
			b.log.Debug("Keycloak bridge: ack", "err", err)
		}
	}
	return nil
}

func (b *Bridge) translate(m jetstream.Msg) (Event, Outcome, error) {
	ev, err := Parse(m.Data())
	if err != nil {
		return Event{}, Outcome{}, err
	}
	o, err := b.cfg.Mapping.Map(ev, b.cfg.Now())
	return ev, o, err
}

// maxRealmsLogged bounds the realms warned about.
const maxRealmsLogged = 32

// warnRealm logs, once per realm, that events of a realm other than the
// configured one arrive and are ignored.
func (b *Bridge) warnRealm(ev Event) {
	if b.otherRealms == nil {
		b.otherRealms = map[string]bool{}
	}
	if b.otherRealms[ev.RealmID] || len(b.otherRealms) >= maxRealmsLogged {
		return
	}
	b.otherRealms[ev.RealmID] = true
	b.log.Warn("Keycloak events of another realm are ignored; if this is your realm, set bridges.keycloak.realm to its id",
		"realmId", ev.RealmID, "realmName", ev.RealmName, "configured_realm", b.cfg.Mapping.Realm)
}

func (b *Bridge) ignored(why string) {
	switch why {
	case WhyRealm:
		b.ignRealm.Add(1)
	case WhyClient:
		b.ignClient.Add(1)
	case WhyError:
		b.ignError.Add(1)
	default:
		b.ignType.Add(1)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
