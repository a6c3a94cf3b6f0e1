package demo

import (
	"context"
	"testing"
	"time"

	"github.com/signoff/signoff/events/eventstest"
)

// waitUntil is eventstest.Eventually until ctx's deadline (30 s when it has
// none), for the callers written against the demo's former polling helper
// (the upstream path's tests); new tests call eventstest directly.
func waitUntil(t *testing.T, ctx context.Context, what string, cond func() bool) {
	t.Helper()
	timeout := 30 * time.Second
	if dl, ok := ctx.Deadline(); ok {
		timeout = time.Until(dl)
	}
	eventstest.Eventually(t, timeout, cond, "waiting for %s", what)
}
