package coordinator

import (
	"context"

	"fmt"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/signoff/signoff/coordinator/bus"
	"github.com/signoff/signoff/coordinator/store"
	"github.com/signoff/signoff/events"
)

// IntakeSubjects are the subjects the coordinator consumes, all through one
// ordered path per partition so that every event about a user (joins,
// activity, logouts, results of their sagas) is applied in stream order.
var IntakeSubjects = []string{
	events.SubjectSessionJoined, events.SubjectSessionActivity,
	events.SubjectLogoutRequested, events.SubjectLogoutResult,
}

// Applied is the stream sequence up to which partition's events are
// applied: the ordered intake resumes after it.
func (c *Coordinator) Applied(ctx context.Context, partition int) (uint64, error) {
	return c.cfg.Store.Applied(ctx, partition)
}

// ApplyBatch applies a batch of intake messages of partition, in order, in
// one sqlite transaction that also records the stream sequence of the last
// one. An event that cannot be applied (invalid, unsealed result, unknown
// rp_id or logout_id) is rolled back alone and queued in the same
// transaction, through the outbox, onto signoff.poison with the reason.
// An error means nothing was applied: the caller retries the same batch.
//
// skip, when set, names messages already applied by another path (the
// per-subject consumers of an earlier version): they only move the
// position.
func (c *Coordinator) ApplyBatch(ctx context.Context, partition int, msgs []jetstream.Msg, skip func(subject string, seq uint64) bool) error {
	if len(msgs) == 0 {
		return nil
	}
	last, err := msgs[len(msgs)-1].Metadata()
	if err != nil {
		return fmt.Errorf("coordinator: intake message metadata: %w", err)
	}
	if skip != nil {
		kept := make([]jetstream.Msg, 0, len(msgs))
		for _, m := range msgs {
			if md, err := m.Metadata(); err == nil && skip(m.Subject(), md.Sequence.Stream) {
				continue
			}
			kept = append(kept, m)
		}
		msgs = kept
	}
	return c.ApplyBatchAt(ctx, partition, msgs, last.Sequence.Stream)
}

// ApplyBatchAt applies msgs, all of partition, in order, in one sqlite
// transaction that records upTo (at least the sequence of the last of
// them) as the stream sequence up to which partition has applied every
// one of its events. With no msgs it only records upTo. Poisoning and
// errors are as in ApplyBatch.
func (c *Coordinator) ApplyBatchAt(ctx context.Context, partition int, msgs []jetstream.Msg, upTo uint64) error {
	if err := c.ensurePolicy(ctx); err != nil {
		return err
	}
	spans := c.traceBatch(ctx, msgs)
	fns := make([]func(*store.Tx) error, len(msgs))
	for i, m := range msgs {
		fn, err := c.prepare(spans.ctx(ctx, i), m.Subject(), m.Headers().Get(events.HeaderSeal), m.Data())
		if err != nil {
			fn = func(*store.Tx) error { return err }
		}
		fns[i] = fn
	}
	now := c.now()
	err := c.cfg.Store.Apply(ctx, partition, upTo, fns, func(tx *store.Tx, i int, err error) error {
		if !bus.IsPermanent(err) {
			return err
		}
		spans.fail(i, err)
		m := msgs[i]
		c.unknownRPJoin(tx, err)
		c.log.Warn("event poisoned", "subject", m.Subject(), "reason", err.Error())
		subject := m.Subject()
		tx.AfterCommit(func() { c.cfg.Observer.Poisoned(subject) })
		return tx.AddOutboxWithHeaders(uuid.NewString(), events.SubjectPoison, m.Data(), map[string]string{
			events.HeaderPoisonReason: err.Error(), events.HeaderPoisonSubject: m.Subject(),
		}, now)
	})
	spans.end(err)
	return err
}

// ensurePolicy makes the store compute session expiry with this
// coordinator's policy before the first event is applied.
func (c *Coordinator) ensurePolicy(ctx context.Context) error {
	if c.policySet.Load() {
		return nil
	}
	return c.withPolicy(ctx, func(*store.Tx) error { return nil })
}
