package delivery

import (
	"context"
	"log/slog"
	"sync/atomic"

	"go.opentelemetry.io/otel/trace"

	"github.com/signoff/signoff/events"
)

// Intake is the dispatch intake the adapters that deliver from the server
// share (backchannel, saml, ssf): Handle, Free, Freed and Close over a Pool
// keyed by participant (logout_id, rp_id), so that a dispatch delivered
// again by the work consumer (at least once, README "Event contract") never
// starts a second delivery. An adapter embeds it; its deliveries run under
// the context NewIntake returns, which Close cancels.
type Intake struct {
	pool     *Pool
	stop     context.CancelFunc
	log      *slog.Logger
	run      func(parent trace.SpanContext, d events.Dispatch)
	accepted atomic.Uint64
}

// NewIntake returns an Intake that runs every accepted dispatch with run on
// pool, and the context of the deliveries (cancelled by Close).
func NewIntake(pool *Pool, log *slog.Logger, run func(parent trace.SpanContext, d events.Dispatch)) (*Intake, context.Context) {
	ctx, stop := context.WithCancel(context.Background())
	return &Intake{pool: pool, stop: stop, log: log, run: run}, ctx
}

// Handle accepts one dispatch. It blocks while the pool is full
// (backpressure) and returns ctx.Err() if ctx ends first, or ErrClosed
// after Close. Once accepted, the dispatch runs in its own goroutine,
// independent of ctx but with the span context of ctx as the parent of its
// trace, and the adapter publishes exactly one events.Result for it. A
// dispatch of a participant (logout_id, rp_id) already in progress is
// accepted without running twice.
func (in *Intake) Handle(ctx context.Context, d events.Dispatch) error {
	parent := trace.SpanContextFromContext(ctx)
	started, err := in.pool.Go(ctx, d.LogoutID+"\x00"+d.RPID, func() { in.run(parent, d) })
	if started {
		in.accepted.Add(1)
	}
	if err == nil && !started {
		in.log.Info("dispatch already in progress; not delivering twice",
			"event_id", d.EventID, "logout_id", d.LogoutID, "rp_id", d.RPID)
	}
	return err
}

// Free is how many dispatches Handle can accept now without waiting.
func (in *Intake) Free() int { return in.pool.Free() }

// Freed is signalled when a delivery ends and room is free again.
func (in *Intake) Freed() <-chan struct{} { return in.pool.Freed() }

// Close stops accepting dispatches and waits until the deliveries in
// progress have published their results or ctx ends. Then it cancels the
// deliveries' context: when ctx ended first, the remaining deliveries are
// aborted without a result (the coordinator resumes them after a restart)
// and Close returns ctx.Err().
func (in *Intake) Close(ctx context.Context) error {
	err := in.pool.Close(ctx)
	in.stop()
	return err
}

// Accepted is the number of dispatches Handle started.
func (in *Intake) Accepted() uint64 { return in.accepted.Load() }

// PublishResult publishes r with publish, retried until it succeeds or
// stop ends (Publish), counting every failure in errs and logging it: a
// warning while it is retried, an error once the adapter has stopped.
func PublishResult(stop context.Context, log *slog.Logger, errs *atomic.Uint64, r events.Result, publish func(ctx context.Context) error) {
	Publish(stop, publish, func(attempt int, err error, retrying bool) {
		errs.Add(1)
		if !retrying {
			log.Error("result not published: adapter stopped",
				"logout_id", r.LogoutID, "rp_id", r.RPID, "outcome", r.Outcome, "err", err)
			return
		}
		log.Warn("publishing result failed; retrying",
			"logout_id", r.LogoutID, "rp_id", r.RPID, "attempt", attempt, "err", err)
	})
}
