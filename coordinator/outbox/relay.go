// Package outbox relays the coordinator's transactional outbox to JetStream.
//
// The coordinator writes the events it must publish into the outbox table in
// the same sqlite transaction as the saga change that causes them; the
// relay publishes them in order with Nats-Msg-Id = the outbox id (the
// event_id), a round of rows as atomic batches (one fsync each), and
// deletes the rows only after JetStream acknowledged them. A crash
// between the two republishes the row, and the stream's duplicate window
// drops the copy: the event is published exactly once per window.
package outbox

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/signoff/signoff/coordinator/store"
	"github.com/signoff/signoff/events"
)

// Source is the outbox table.
type Source interface {
	PendingOutbox(ctx context.Context, limit int) ([]store.OutboxRow, error)
	DeleteOutbox(ctx context.Context, seqs []int64) error
}

// Publisher stores messages in the stream, all or none acknowledged
// (bus.AllPublisher: atomic batches, one fsync per batch).
type Publisher interface {
	PublishAll(ctx context.Context, msgs []*nats.Msg) error
}

// Relay publishes outbox rows.
type Relay struct {
	src   Source
	js    Publisher
	log   *slog.Logger
	wake  chan struct{}
	poll  time.Duration
	batch int

	published func(n int)
}

// New returns a relay. poll is how often it looks at the outbox without a
// wake-up (a safety net; Wake is the normal path).
func New(src Source, js Publisher, log *slog.Logger, poll time.Duration) *Relay {
	if poll <= 0 {
		poll = time.Second
	}
	return &Relay{src: src, js: js, log: log, wake: make(chan struct{}, 1), poll: poll, batch: 512}
}

// OnPublished sets a callback told how many events each round published.
func (r *Relay) OnPublished(f func(n int)) { r.published = f }

// Wake tells the relay that rows were committed. It never blocks.
func (r *Relay) Wake() {
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run relays until ctx ends. It returns after a last drain attempt.
func (r *Relay) Run(ctx context.Context) {
	backoff := 50 * time.Millisecond
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			dctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			r.drain(dctx)
			cancel()
			return
		case <-r.wake:
		case <-t.C:
		}
		if err := r.drain(ctx); err != nil {
			r.log.Warn("outbox relay", "err", err, "retry_in", backoff)
			t.Reset(backoff)
			backoff = min(backoff*2, 5*time.Second)
			continue
		}
		backoff = 50 * time.Millisecond
		t.Reset(r.poll)
	}
}

// drain publishes until the outbox is empty.
func (r *Relay) drain(ctx context.Context) error {
	for {
		n, err := r.round(ctx)
		if err != nil {
			return err
		}
		if n < r.batch {
			return nil
		}
	}
}

func (r *Relay) round(ctx context.Context) (int, error) {
	rows, err := r.src.PendingOutbox(ctx, r.batch)
	if err != nil || len(rows) == 0 {
		return 0, err
	}
	msgs := make([]*nats.Msg, len(rows))
	done := make([]int64, len(rows))
	for i, row := range rows {
		h := nats.Header{}
		for k, v := range row.Headers {
			h.Set(k, v)
		}
		if !strings.HasPrefix(row.Subject, events.SubjectDispatchPrefix) {
			// Dispatches carry no Nats-Msg-Id: a repeated one is harmless
			// (an adapter delivers only for a pending participant), and
			// every id costs the stream an entry in its duplicate window.
			h.Set(jetstream.MsgIDHeader, row.ID)
		}
		msgs[i] = &nats.Msg{Subject: row.Subject, Data: row.Payload, Header: h}
		done[i] = rows[i].Seq
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := r.js.PublishAll(pctx, msgs); err != nil {
		// Nothing is deleted: the rows are published again, and the
		// stream's duplicate window drops what was stored.
		return 0, fmt.Errorf("outbox: publish %d events: %w", len(rows), err)
	}
	if err := r.src.DeleteOutbox(context.WithoutCancel(ctx), done); err != nil {
		return 0, err
	}
	if r.published != nil {
		r.published(len(done))
	}
	return len(rows), nil
}
