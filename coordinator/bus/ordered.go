package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signoff/signoff/events"
)

// OrderedConfig configures an ordered intake.
type OrderedConfig struct {
	// Name identifies the intake in logs, readiness and metrics.
	Name string
	// Subjects of the SIGNOFF stream to read, in stream order.
	Subjects []string
	// Start is the first stream sequence to deliver: one after the last
	// sequence the caller applied (the caller keeps that position with
	// its state, as Kafka Streams keeps offsets with its store).
	Start uint64
	// MaxBatch bounds the messages handed to Apply at once (default 512).
	MaxBatch int
	// Apply durably applies a batch, in order. It returns nil only once the
	// whole batch (and the position after it) is committed; on error the
	// same batch is offered again after a backoff.
	Apply func(ctx context.Context, batch []jetstream.Msg) error
	// StallAfter is how long the intake may have pending messages without
	// applying any before it reports itself not ready (default 15s).
	StallAfter time.Duration
	Logger     *slog.Logger
	Now        func() time.Time
}

// Ordered reads a set of subjects in stream order with a nats.go ordered
// consumer (an ephemeral, ack-less consumer that nats.go recreates from its
// last delivered sequence after a gap, a missed heartbeat, a reconnect or
// its deletion) and applies them in batches. Nothing is acknowledged to
// JetStream: progress is the caller's, stored with what it applied, so a
// crash can neither lose nor reorder an event, and no unacknowledged
// message can hold the stream back.
type Ordered struct {
	cfg    OrderedConfig
	js     jetstream.JetStream
	log    *slog.Logger
	health health

	cancel context.CancelFunc
	done   chan struct{}

	applied     atomic.Uint64
	pending     atomic.Uint64
	lastApplied atomic.Int64 // unix nanos of the last applied batch
	batches     atomic.Uint64
	events      atomic.Uint64

	lastDelivered atomic.Int64 // unix nanos of the last message handed over by nats.go
	waitSince     time.Time    // watch only: since when events wait with none delivered
	serial        atomic.Uint64

	mu   sync.Mutex
	cons jetstream.Consumer
	cc   jetstream.ConsumeContext
	msgs chan jetstream.Msg
	stop chan struct{} // closed when the subscription is replaced
}

// Ordered starts an ordered intake; Stop ends it.
func (b *Bus) Ordered(cfg OrderedConfig) (*Ordered, error) {
	if cfg.Apply == nil || len(cfg.Subjects) == 0 {
		return nil, errors.New("bus: ordered intake needs subjects and Apply")
	}
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 512
	}
	if cfg.StallAfter <= 0 {
		cfg.StallAfter = 15 * time.Second
	}
	if cfg.Start == 0 {
		cfg.Start = 1
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = b.log
	}
	o := &Ordered{cfg: cfg, js: b.js, log: cfg.Logger.With("intake", cfg.Name), done: make(chan struct{})}
	o.health.set(errStarting)
	o.applied.Store(cfg.Start - 1)
	o.lastApplied.Store(cfg.Now().UnixNano())
	ctx, cancel := context.WithCancel(context.Background())
	o.cancel = cancel
	if err := o.subscribe(ctx, cfg.Start); err != nil {
		cancel()
		return nil, err
	}
	go o.run(ctx)
	go o.watch(ctx)
	return o, nil
}

// subscribe (re)creates the ordered consumer from sequence start.
func (o *Ordered) subscribe(ctx context.Context, start uint64) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.cc != nil {
		o.cc.Stop()
		close(o.stop)
		o.cc = nil
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cons, err := o.js.OrderedConsumer(cctx, events.StreamName, jetstream.OrderedConsumerConfig{
		FilterSubjects: o.cfg.Subjects,
		DeliverPolicy:  jetstream.DeliverByStartSequencePolicy,
		OptStartSeq:    start,
		// A name of its own for every subscription: nats.go numbers the
		// consumers of one prefix from 1, and a second subscription
		// would otherwise update the first one's consumer in place.
		NamePrefix: fmt.Sprintf("signoff-%s-%d-%d", o.cfg.Name, o.cfg.Now().UnixNano()%1e9, o.serial.Add(1)),
	})
	if err != nil {
		return fmt.Errorf("bus: ordered consumer %s: %w", o.cfg.Name, err)
	}
	msgs := make(chan jetstream.Msg, 4*o.cfg.MaxBatch)
	stop := make(chan struct{})
	cc, err := cons.Consume(func(m jetstream.Msg) {
		o.lastDelivered.Store(o.cfg.Now().UnixNano())
		select {
		case msgs <- m:
		case <-stop:
		case <-ctx.Done():
		}
	},
		jetstream.PullMaxMessages(2*o.cfg.MaxBatch),
		jetstream.PullHeartbeat(time.Second), jetstream.PullExpiry(5*time.Second),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			o.log.Warn("intake consumer interrupted; nats.go recreates it", "err", err)
			o.health.set(fmt.Errorf("intake %s: %w", o.cfg.Name, err))
		}))
	if err != nil {
		return fmt.Errorf("bus: ordered consumer %s: consume: %w", o.cfg.Name, err)
	}
	o.cons, o.cc, o.msgs, o.stop = cons, cc, msgs, stop
	o.lastDelivered.Store(o.cfg.Now().UnixNano())
	return nil
}

func (o *Ordered) channel() chan jetstream.Msg {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.msgs
}

func (o *Ordered) run(ctx context.Context) {
	defer close(o.done)
	batch := make([]jetstream.Msg, 0, o.cfg.MaxBatch)
	for {
		msgs := o.channel()
		var first jetstream.Msg
		select {
		case <-ctx.Done():
			return
		case first = <-msgs:
		case <-time.After(time.Second):
			continue // the channel may have been replaced by a restart
		}
		batch = append(batch[:0], first)
	fill:
		for len(batch) < o.cfg.MaxBatch {
			select {
			case m := <-msgs:
				batch = append(batch, m)
			default:
				break fill
			}
		}
		// After a resubscription, what an earlier subscription delivered
		// and this loop applied comes again: skip it.
		batch = slices.DeleteFunc(batch, func(m jetstream.Msg) bool {
			md, err := m.Metadata()
			return err == nil && md.Sequence.Stream <= o.applied.Load()
		})
		if len(batch) == 0 {
			continue
		}
		backoff := 50 * time.Millisecond
		for {
			err := o.cfg.Apply(ctx, batch)
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return
			}
			o.log.Warn("applying events failed; retrying the same batch", "events", len(batch), "err", err, "retry_in", backoff)
			o.health.set(fmt.Errorf("intake %s: applying events: %w", o.cfg.Name, err))
			select {
			case <-ctx.Done():
				return
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, 5*time.Second)
		}
		if md, err := batch[len(batch)-1].Metadata(); err == nil {
			o.applied.Store(md.Sequence.Stream)
			o.pending.Store(md.NumPending)
		}
		o.batches.Add(1)
		o.events.Add(uint64(len(batch)))
		o.lastApplied.Store(o.cfg.Now().UnixNano())
	}
}

// watch checks the consumer every second: it reports readiness, refreshes
// the lag, and restarts the intake from the beginning of a stream that was
// deleted and created again (its sequences start over).
func (o *Ordered) watch(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var created time.Time
	healthy := o.cfg.Now()
	for {
		if err := o.check(ctx, &created); err != nil {
			if o.health.get() == nil {
				o.log.Warn("intake not consuming", "err", err)
			}
			o.health.set(err)
			// nats.go recreates an ordered consumer on its own; when it
			// has not within resubscribeAfter (a NATS node lost while it
			// held the consumer, a meta leader election), start a new one
			// after the last applied event.
			if o.cfg.Now().Sub(healthy) > resubscribeAfter {
				o.log.Warn("recreating the intake consumer after the last applied event", "stream_sequence", o.applied.Load())
				if err := o.subscribe(ctx, o.applied.Load()+1); err != nil {
					o.log.Warn("recreating the intake consumer", "err", err)
				}
				healthy = o.cfg.Now()
			}
		} else {
			healthy = o.cfg.Now()
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (o *Ordered) check(ctx context.Context, created *time.Time) error {
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	st, err := o.js.Stream(cctx, events.StreamName)
	if err != nil {
		return fmt.Errorf("intake %s: stream %s: %w", o.cfg.Name, events.StreamName, err)
	}
	si := st.CachedInfo()
	if created.IsZero() {
		*created = si.Created
	} else if !si.Created.Equal(*created) {
		o.log.Warn("stream was created again; reading it from its first message", "stream", events.StreamName)
		*created = si.Created
		if err := o.subscribe(ctx, 1); err != nil {
			return err
		}
	}
	o.mu.Lock()
	cons := o.cons
	o.mu.Unlock()
	info, err := cons.Info(cctx)
	if err != nil {
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			return fmt.Errorf("intake %s: consumer missing; being recreated", o.cfg.Name)
		}
		return fmt.Errorf("intake %s: consumer: %w", o.cfg.Name, err)
	}
	o.pending.Store(info.NumPending)
	now := o.cfg.Now()
	if info.NumPending == 0 || len(o.channel()) > 0 {
		o.waitSince = time.Time{}
	} else if o.waitSince.IsZero() {
		o.waitSince = now
	} else if since := latest(o.waitSince, time.Unix(0, o.lastDelivered.Load())); now.Sub(since) > resubscribeAfter {
		return fmt.Errorf("intake %s: %d events waiting and none delivered for %s", o.cfg.Name, info.NumPending, now.Sub(since).Round(time.Second))
	}
	idle := now.Sub(time.Unix(0, o.lastApplied.Load()))
	if info.NumPending > 0 && idle > o.cfg.StallAfter {
		return fmt.Errorf("intake %s: %d events waiting and none applied for %s", o.cfg.Name, info.NumPending, idle.Round(time.Second))
	}
	o.health.set(nil)
	return nil
}

func latest(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// resubscribeAfter is how long the intake waits for nats.go to recreate
// its consumer before it subscribes anew.
const resubscribeAfter = 5 * time.Second

// Ready is nil while the intake consumes, or the reason it does not.
func (o *Ordered) Ready() error { return o.health.get() }

// OrderedStats are an intake's counters.
type OrderedStats struct {
	Applied uint64 // stream sequence of the last applied event
	Pending uint64 // events in the stream not yet delivered (lag)
	Batches uint64
	Events  uint64
}

// Stats returns the intake's counters.
func (o *Ordered) Stats() OrderedStats {
	return OrderedStats{Applied: o.applied.Load(), Pending: o.pending.Load(), Batches: o.batches.Load(), Events: o.events.Load()}
}

// Stop ends the intake after the batch being applied.
func (o *Ordered) Stop() {
	o.cancel()
	<-o.done
	o.mu.Lock()
	if o.cc != nil {
		o.cc.Stop()
	}
	o.mu.Unlock()
}
