package bus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signoff/signoff/events"
)

// KeepStream checks every second until ctx ends that the SIGNOFF stream
// exists, and provisions it again when it was deleted; StreamReady reports
// the problem meanwhile.
func (b *Bus) KeepStream(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err := b.js.Stream(cctx, events.StreamName)
		cancel()
		switch {
		case err == nil:
			b.stream.set(nil)
		case errors.Is(err, jetstream.ErrStreamNotFound):
			b.stream.set(fmt.Errorf("stream %s missing; being recreated", events.StreamName))
			b.log.Warn("stream missing; provisioning it again", "stream", events.StreamName)
			if perr := b.provision(ctx); perr != nil && ctx.Err() == nil {
				b.log.Warn("provisioning the stream failed", "err", perr)
			}
		default:
			if ctx.Err() == nil {
				b.stream.set(fmt.Errorf("stream %s: %w", events.StreamName, err))
			}
		}
	}
}

// StreamReady is nil while the SIGNOFF stream is known to exist.
func (b *Bus) StreamReady() error { return b.stream.get() }

// RemoveConsumers deletes the named durable consumers if they exist (those
// of an earlier version that nothing reads any more) and returns the names
// it deleted.
func (b *Bus) RemoveConsumers(ctx context.Context, names ...string) ([]string, error) {
	var gone []string
	for _, n := range names {
		err := b.js.DeleteConsumer(ctx, events.StreamName, n)
		switch {
		case err == nil:
			gone = append(gone, n)
		case errors.Is(err, jetstream.ErrConsumerNotFound):
		default:
			return gone, fmt.Errorf("bus: remove consumer %s: %w", n, err)
		}
	}
	return gone, nil
}
