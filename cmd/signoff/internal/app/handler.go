package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signoff/signoff/coordinator/bus"
	"github.com/signoff/signoff/events"
)

// sealedHandler is the Take of a work consumer of sealed events of type T
// (events.Sealer, README "Security"): a message that a signoff coordinator
// did not seal, or that is not a valid T (events.Decode, its JSON Schema),
// is put on signoff.poison with the reason and terminated; handle gets the
// others, decoded, in the trace context the message carries. kind names
// the events in the poison reason.
func sealedHandler[T any, PT interface {
	*T
	events.Event
}](a *App, kind string, handle func(context.Context, T) error) func(context.Context, jetstream.Msg) error {
	return func(ctx context.Context, m jetstream.Msg) error {
		if err := a.sealer.Verify(m.Subject(), m.Data(), m.Headers().Get(events.HeaderSeal)); err != nil {
			return a.poison(ctx, m, fmt.Errorf("%s not from a signoff coordinator: %w", kind, err))
		}
		v, err := events.Decode[T, PT](m.Data())
		if err != nil {
			return a.poison(ctx, m, err)
		}
		return handle(a.tracing.extract(ctx, m.Headers()), v)
	}
}

// dispatchHandler hands dispatches to ad. A dispatch is delivered only when
// it is sealed by a signoff coordinator and names a pending participant of
// a running saga: a forged one is poisoned and mints no token, and a
// replayed or stale one is dropped (the adapters' idempotency on event_id:
// a dispatch delivered again after its result is not delivered twice). A
// dispatch handed to ad stays unacknowledged until its result is
// published (heldDispatches): if this instance dies in between, another
// delivers it.
func (a *App) dispatchHandler(ad Dispatcher) func(context.Context, jetstream.Msg) error {
	return func(ctx context.Context, m jetstream.Msg) error {
		return sealedHandler(a, "dispatch", func(ctx context.Context, d events.Dispatch) error {
			ok, err := routed{a}.ParticipantPending(ctx, d.LogoutID, d.RPID)
			if err != nil {
				if errors.Is(err, errNotRouted) && !time.Now().Before(d.Deadline) {
					a.log.Debug("dispatch past its deadline for a logout no instance knows; not delivered", "logout_id", d.LogoutID, "rp_id", d.RPID)
					return nil
				}
				return err // redelivered: the index catches up, the partition finds its owner
			}
			if !ok {
				a.log.Debug("dispatch for a participant no longer pending; not delivered", "logout_id", d.LogoutID, "rp_id", d.RPID)
				return nil
			}
			a.held.hold(d.LogoutID, d.RPID, d.Deadline, m)
			if err := ad.Handle(ctx, d); err != nil {
				a.held.drop(d.LogoutID, d.RPID, m)
				return err
			}
			return bus.ErrAckLater
		})(ctx, m)
	}
}
