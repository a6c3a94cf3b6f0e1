package web

import (
	"context"
	"time"
)

// noChanges is the Changes of a Browser configured without one: it never
// notifies, so waits see changes at Recheck only.
type noChanges struct{}

func (noChanges) Watch(string) (<-chan struct{}, func()) { return nil, func() {} }

// awaitChange waits until changed fires or Recheck passes (then the caller
// reads the saga again), and returns false when ctx ends first.
func (b *browser) awaitChange(ctx context.Context, changed <-chan struct{}) bool {
	t := time.NewTimer(b.Recheck)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-changed:
	case <-t.C:
	}
	return true
}
