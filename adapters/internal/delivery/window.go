package delivery

import (
	"context"
	"time"
)

// Window returns the context of one dispatch's deliveries: it ends when
// run ends or after the time left until deadline (now+def when the dispatch
// has none; measured from now, so an injected clock decides), and carries
// the span of sctx. late reports that the deadline has already passed:
// nothing may be sent, and the result is timed_out with DetailLate; ctx and
// cancel are then nil.
func Window(run, sctx context.Context, deadline, now time.Time, def time.Duration) (ctx context.Context, cancel context.CancelFunc, late bool) {
	if deadline.IsZero() {
		deadline = now.Add(def)
	}
	remaining := deadline.Sub(now)
	if remaining <= 0 {
		return nil, nil, true
	}
	ctx, cancel = context.WithTimeout(run, remaining)
	return WithSpan(ctx, sctx), cancel, false
}
