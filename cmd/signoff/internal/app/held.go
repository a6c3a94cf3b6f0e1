package app

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// heldDispatches keeps the dispatch messages whose delivery is under way,
// unacknowledged, until the adapter's result for that participant is in
// the stream: an instance killed while it delivers (the token sent, the
// result not yet published) leaves them to be redelivered to another
// instance after the work consumer's AckWait, instead of a saga that waits
// for a result nobody will publish. Meanwhile InProgress keeps them from
// being redelivered; a message whose logout deadline has passed is
// acknowledged (the saga has timed the participant out).
type heldDispatches struct {
	mu  sync.Mutex
	m   map[heldKey][]heldMsg
	log *slog.Logger
	now func() time.Time
}

type heldKey struct{ logoutID, rpID string }

type heldMsg struct {
	msg      jetstream.Msg
	deadline time.Time
}

func newHeldDispatches(log *slog.Logger, now func() time.Time) *heldDispatches {
	return &heldDispatches{m: map[heldKey][]heldMsg{}, log: log, now: now}
}

// hold keeps m until release(logoutID, rpID) or its deadline.
func (h *heldDispatches) hold(logoutID, rpID string, deadline time.Time, m jetstream.Msg) {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := heldKey{logoutID, rpID}
	h.m[k] = append(h.m[k], heldMsg{msg: m, deadline: deadline})
}

// drop forgets m without acknowledging it (its Take failed: the consumer
// redelivers it).
func (h *heldDispatches) drop(logoutID, rpID string, m jetstream.Msg) {
	h.mu.Lock()
	defer h.mu.Unlock()
	k := heldKey{logoutID, rpID}
	msgs := h.m[k]
	for i := range msgs {
		if msgs[i].msg == m {
			msgs = append(msgs[:i], msgs[i+1:]...)
			break
		}
	}
	if len(msgs) == 0 {
		delete(h.m, k)
	} else {
		h.m[k] = msgs
	}
}

// release acknowledges the dispatches of (logoutID, rpID): its result is
// in the stream.
func (h *heldDispatches) release(logoutID, rpID string) {
	h.mu.Lock()
	msgs := h.m[heldKey{logoutID, rpID}]
	delete(h.m, heldKey{logoutID, rpID})
	h.mu.Unlock()
	for _, hm := range msgs {
		if err := hm.msg.Ack(); err != nil {
			h.log.Debug("ack of a delivered dispatch", "logout_id", logoutID, "rp_id", rpID, "err", err)
		}
	}
}

// run tells JetStream every period that the held dispatches are still in
// progress, and acknowledges those past their deadline, until ctx ends.
// What is still held then stays unacknowledged: redelivered after AckWait
// (to another instance, or to this one after a restart).
func (h *heldDispatches) run(ctx context.Context, period time.Duration) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := h.now()
		var keep, done []jetstream.Msg
		h.mu.Lock()
		for k, msgs := range h.m {
			kept := msgs[:0]
			for _, hm := range msgs {
				if now.After(hm.deadline.Add(5 * time.Second)) {
					done = append(done, hm.msg)
					continue
				}
				kept = append(kept, hm)
				keep = append(keep, hm.msg)
			}
			if len(kept) == 0 {
				delete(h.m, k)
			} else {
				h.m[k] = kept
			}
		}
		h.mu.Unlock()
		for _, m := range keep {
			_ = m.InProgress()
		}
		for _, m := range done {
			_ = m.Ack()
		}
	}
}

// nakAll hands back what is still held when the adapters have stopped
// (their deliveries ended without a result): JetStream redelivers it at
// once, to another instance or to this one after its restart.
func (h *heldDispatches) nakAll() {
	h.mu.Lock()
	m := h.m
	h.m = map[heldKey][]heldMsg{}
	h.mu.Unlock()
	for _, msgs := range m {
		for _, hm := range msgs {
			_ = hm.msg.Nak()
		}
	}
}
