// Package watch tells waiters that a logout's saga changed, so that the
// logout page, its server-sent events and the SAML endpoints react to a
// commit at once instead of reading the store on a timer.
//
// A Hub holds subscriptions only: no saga state, no history. A waiter
// subscribes to a logout id, reads the store, and reads it again each time
// its channel fires; because it subscribes before its first read, no
// commit can fall between the read and the wait. Notifications coalesce
// (a channel holds at most one), so a slow waiter never blocks the store's
// writer and still sees the latest state on its next read.
//
// Scale-out seam (several instances, any of which serves any page): the
// consumers (web, adapters/saml) depend on a one-method interface,
// Watch(logoutID) (<-chan struct{}, func()). A bus-backed implementation
// publishes the ids of each commit on a core NATS subject (for example
// signoff.changed.<logout_id>) from the store's commit hook and calls
// Notify on every instance that receives them; waiters stay as they are.
package watch

import (
	"context"
	"sync"
	"time"
)

// Hub fans change notifications out to the waiters of each logout id. The
// zero Hub is ready to use.
type Hub struct {
	mu   sync.Mutex
	subs map[string]map[chan struct{}]struct{}
	n    int
	// then is told the ids of each Notify (OnNotify).
	then func(logoutIDs []string)
}

// Watch subscribes to changes of logoutID. The channel receives a value
// after each Notify of logoutID (several notifications before a receive
// coalesce into one). stop removes the subscription; call it when the
// wait is over (it is idempotent). The channel is never closed.
func (h *Hub) Watch(logoutID string) (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	h.mu.Lock()
	if h.subs == nil {
		h.subs = map[string]map[chan struct{}]struct{}{}
	}
	set := h.subs[logoutID]
	if set == nil {
		set = map[chan struct{}]struct{}{}
		h.subs[logoutID] = set
	}
	set[ch] = struct{}{}
	h.n++
	h.mu.Unlock()
	var once sync.Once
	return ch, func() {
		once.Do(func() {
			h.mu.Lock()
			defer h.mu.Unlock()
			set := h.subs[logoutID]
			if _, ok := set[ch]; !ok {
				return
			}
			delete(set, ch)
			h.n--
			if len(set) == 0 {
				delete(h.subs, logoutID)
			}
		})
	}
}

// OnNotify has f told the ids of every later Notify, after the waiters
// were woken and outside the hub's lock (scale-out: a partition store's hub
// forwards its commits to a Feed, which tells the other instances). f must
// not block, and must not Notify this hub again.
func (h *Hub) OnNotify(f func(logoutIDs []string)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.then = f
}

// Notify wakes the waiters of each logout id. It never blocks.
func (h *Hub) Notify(logoutIDs ...string) {
	h.mu.Lock()
	then := h.then
	h.wake(logoutIDs)
	h.mu.Unlock()
	if then != nil && len(logoutIDs) > 0 {
		then(logoutIDs)
	}
}

// wake signals the waiters of logoutIDs; h.mu is held.
func (h *Hub) wake(logoutIDs []string) {
	for _, id := range logoutIDs {
		for ch := range h.subs[id] {
			select {
			case ch <- struct{}{}:
			default: // one is already waiting to be received
			}
		}
	}
}

// Len is the number of subscriptions (for tests and metrics: it returns to
// zero once every waiter has stopped).
func (h *Hub) Len() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n
}

// Await waits until changed fires or d passes (then the caller reads the
// saga again: a safety net for a lost notification), and returns false
// when ctx ends first. A nil changed waits for d alone.
func Await(ctx context.Context, changed <-chan struct{}, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-changed:
	case <-t.C:
	}
	return true
}
