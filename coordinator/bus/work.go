package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signoff/signoff/events"
)

// WorkConfig configures a work consumer.
type WorkConfig struct {
	// Durable is the consumer's name; every instance with the same name
	// shares the work.
	Durable string
	// Subject is the one subject consumed.
	Subject string
	// Free returns how many messages the handler can take now without
	// waiting; the consumer pulls no more than that.
	Free func() int
	// Freed is signalled when capacity becomes free again.
	Freed <-chan struct{}
	// Take hands one message to the handler; it must not block for long.
	// The message is acknowledged when Take returns nil (the work it
	// started is the handler's now, and durable elsewhere), or terminated
	// when Take returns a permanent error (after the caller poisoned it);
	// any other error leaves it to be redelivered after AckWait.
	Take func(ctx context.Context, m jetstream.Msg) error
	// AckWait is how long a pulled message may stay unacknowledged
	// before it is redelivered (default 30s): short, since a message is
	// acknowledged as soon as it is taken.
	AckWait time.Duration
	// StallAfter is how long the consumer may have messages waiting and
	// room for them without taking any before it reports itself not ready
	// (default 15s).
	StallAfter time.Duration
	Logger     *slog.Logger
	Now        func() time.Time
}

// Work is a durable pull consumer that pulls only as many messages as its
// handler has room for, acknowledges each once taken, and recreates itself
// when it is deleted. No message can wait behind work that cannot start.
type Work struct {
	cfg    WorkConfig
	js     jetstream.JetStream
	log    *slog.Logger
	health health
	cancel context.CancelFunc
	done   chan struct{}

	pending    atomic.Uint64
	ackPending atomic.Uint64
	taken      atomic.Uint64
	lastSeq    atomic.Uint64 // stream sequence of the last message taken

	// progress, read and written by run alone: the taken count when it
	// last moved (or when nothing was waiting) and when.
	progressTaken uint64
	progressAt    time.Time
}

func (w *Work) consumerConfig() jetstream.ConsumerConfig {
	cfg := jetstream.ConsumerConfig{
		Durable:       w.cfg.Durable,
		Description:   "signoff: " + w.cfg.Subject,
		FilterSubject: w.cfg.Subject,
		DeliverPolicy: jetstream.DeliverAllPolicy,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       w.cfg.AckWait,
		MaxDeliver:    -1,
		MaxAckPending: 10000,
	}
	if seq := w.lastSeq.Load(); seq > 0 {
		// Recreated after a loss: go on after the last message taken
		// rather than offer the whole history again.
		cfg.DeliverPolicy, cfg.OptStartSeq = jetstream.DeliverByStartSequencePolicy, seq+1
	}
	return cfg
}

// Work starts a work consumer; Stop ends it.
func (b *Bus) Work(ctx context.Context, cfg WorkConfig) (*Work, error) {
	if cfg.Take == nil || cfg.Free == nil || cfg.Subject == "" || cfg.Durable == "" {
		return nil, errors.New("bus: work consumer needs Durable, Subject, Free and Take")
	}
	if cfg.AckWait <= 0 {
		cfg.AckWait = 30 * time.Second
	}
	if cfg.StallAfter <= 0 {
		cfg.StallAfter = 15 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = b.log
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	w := &Work{cfg: cfg, js: b.js, log: cfg.Logger.With("consumer", cfg.Durable), done: make(chan struct{})}
	w.health.set(errStarting)
	w.progressAt = cfg.Now()
	// A fresh cluster may take seconds to place a new R3 consumer (several
	// instances starting at once): try for 30 s, as the stream's
	// provisioning does.
	for deadline := time.Now().Add(30 * time.Second); ; {
		_, err := w.ensure(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return nil, err
		}
		w.log.Info("work consumer not created yet; retrying", "err", err)
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(500 * time.Millisecond):
		}
	}
	rctx, cancel := context.WithCancel(context.Background())
	w.cancel = cancel
	go w.run(rctx)
	return w, nil
}

// ensure creates the consumer, or updates it to this configuration.
func (w *Work) ensure(ctx context.Context) (jetstream.Consumer, error) {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := w.js.Consumer(cctx, events.StreamName, w.cfg.Durable)
	if err == nil && c.CachedInfo().Config.DeliverSubject == "" {
		return c, nil
	}
	if err == nil {
		// A push consumer of signoff before Backbone v2: replace it.
		w.log.Info("replacing the push consumer of an earlier version by a pull consumer")
		if err := w.js.DeleteConsumer(cctx, events.StreamName, w.cfg.Durable); err != nil {
			return nil, fmt.Errorf("bus: replace consumer %s: %w", w.cfg.Durable, err)
		}
	}
	if st, serr := w.js.Stream(cctx, events.StreamName); serr == nil && st.CachedInfo().State.LastSeq < w.lastSeq.Load() {
		// The stream was created again: its sequences start over.
		w.lastSeq.Store(0)
	}
	c, err = w.js.CreateOrUpdateConsumer(cctx, events.StreamName, w.consumerConfig())
	if err != nil {
		err = fmt.Errorf("bus: consumer %s: %w", w.cfg.Durable, err)
		w.health.set(err)
		return nil, err
	}
	// Ready again only once refresh sees it (a second later at most), so
	// that a recreation is visible on /readyz.
	return c, nil
}

func (w *Work) run(ctx context.Context) {
	defer close(w.done)
	var cons jetstream.Consumer
	backoff := 100 * time.Millisecond
	lastInfo := time.Time{}
	for ctx.Err() == nil {
		if cons == nil {
			c, err := w.ensure(ctx)
			if err != nil {
				w.log.Warn("consumer unavailable; retrying", "err", err, "retry_in", backoff)
				sleep(ctx, backoff)
				backoff = min(2*backoff, 5*time.Second)
				continue
			}
			cons, backoff = c, 100*time.Millisecond
		}
		if now := w.cfg.Now(); now.Sub(lastInfo) >= time.Second {
			lastInfo = now
			if err := w.refresh(ctx, cons); err != nil {
				w.log.Warn("consumer missing; recreating it", "err", err)
				w.health.set(fmt.Errorf("consumer %s missing; being recreated", w.cfg.Durable))
				cons = nil
				continue
			}
		}
		n := w.cfg.Free()
		if n <= 0 {
			select {
			case <-ctx.Done():
			case <-w.cfg.Freed:
			case <-time.After(time.Second):
			}
			continue
		}
		batch, err := cons.Fetch(n, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			w.fetchFailed(ctx, err, &cons)
			continue
		}
		for m := range batch.Messages() {
			w.take(ctx, m)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) {
			w.fetchFailed(ctx, err, &cons)
		}
	}
}

func (w *Work) fetchFailed(ctx context.Context, err error, cons *jetstream.Consumer) {
	if ctx.Err() != nil {
		return
	}
	if errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) {
		w.health.set(fmt.Errorf("consumer %s missing; being recreated", w.cfg.Durable))
		*cons = nil
		return
	}
	w.log.Debug("fetch", "err", err)
	sleep(ctx, 100*time.Millisecond)
}

// refresh reads the consumer's lag, and fails when it is gone.
func (w *Work) refresh(ctx context.Context, cons jetstream.Consumer) error {
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	info, err := cons.Info(cctx)
	if err != nil {
		if errors.Is(err, jetstream.ErrConsumerNotFound) {
			return err
		}
		w.health.set(fmt.Errorf("consumer %s: %w", w.cfg.Durable, err))
		return nil
	}
	w.pending.Store(info.NumPending)
	w.ackPending.Store(uint64(info.NumAckPending))
	// Waiting: not yet delivered, or delivered and not taken (redelivered
	// later); taken messages are acknowledged at once.
	waiting := info.NumPending + uint64(info.NumAckPending)
	taken, now := w.taken.Load(), w.cfg.Now()
	if taken != w.progressTaken || waiting == 0 || w.cfg.Free() == 0 {
		w.progressTaken, w.progressAt = taken, now
	}
	if idle := now.Sub(w.progressAt); idle > w.cfg.StallAfter {
		w.health.set(fmt.Errorf("consumer %s: %d messages waiting, room to take them, and none taken for %s",
			w.cfg.Durable, waiting, idle.Round(time.Second)))
		return nil
	}
	w.health.set(nil)
	return nil
}

// ErrAckLater is returned by a Take that keeps the message to
// acknowledge it itself once its work is durable elsewhere (a dispatch:
// when its result is in the stream), sending m.InProgress meanwhile. If
// the process dies first, the message is redelivered after AckWait to
// another instance.
var ErrAckLater = errors.New("bus: acknowledged later by the handler")

func (w *Work) take(ctx context.Context, m jetstream.Msg) {
	err := w.cfg.Take(ctx, m)
	switch {
	case errors.Is(err, ErrAckLater):
		w.taken.Add(1)
		if md, merr := m.Metadata(); merr == nil {
			w.lastSeq.Store(md.Sequence.Stream)
		}
	case err == nil:
		w.taken.Add(1)
		if md, merr := m.Metadata(); merr == nil {
			w.lastSeq.Store(md.Sequence.Stream)
		}
		if aerr := m.Ack(); aerr != nil {
			w.log.Debug("ack", "err", aerr)
		}
	case IsPermanent(err):
		if aerr := m.Term(); aerr != nil {
			w.log.Debug("term", "err", aerr)
		}
	default:
		w.log.Warn("message not taken; it will be redelivered", "subject", m.Subject(), "err", err)
		if aerr := m.NakWithDelay(time.Second); aerr != nil {
			w.log.Debug("nak", "err", aerr)
		}
	}
}

// Name is the consumer's durable name.
func (w *Work) Name() string { return w.cfg.Durable }

// Ready is nil while the consumer exists and consumes.
func (w *Work) Ready() error { return w.health.get() }

// WorkStats are a work consumer's counters.
type WorkStats struct {
	Pending    uint64 // messages not yet delivered (lag)
	AckPending uint64 // delivered and not yet acknowledged
	Taken      uint64
}

// Stats returns the consumer's counters (lag as of the last second).
func (w *Work) Stats() WorkStats {
	return WorkStats{Pending: w.pending.Load(), AckPending: w.ackPending.Load(), Taken: w.taken.Load()}
}

// Stop ends the consumer; messages pulled and not taken are redelivered.
func (w *Work) Stop() {
	w.cancel()
	<-w.done
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
