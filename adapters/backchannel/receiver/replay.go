package receiver

import (
	"context"
	"sync"
	"time"
)

// DefaultMaxJTIs is the capacity of the JTIStore that NewBackChannel creates
// when BackChannelConfig.Replay is nil.
const DefaultMaxJTIs = 100_000

// JTIStore remembers the jti of logout tokens already processed, so that a
// token replayed before it expires is rejected (section 2.6, step 7,
// https://openid.net/specs/openid-connect-backchannel-1_0.html#Validation).
// An RP running several instances shares one store between them (a
// database table or a cache with expiry); one store serves one issuer.
type JTIStore interface {
	// Seen reports whether jti was remembered and has not yet expired.
	Seen(ctx context.Context, jti string) (bool, error)
	// Remember records jti until the time until, after which a token
	// carrying it is rejected as expired anyway.
	Remember(ctx context.Context, jti string, until time.Time) error
}

// MemoryJTIStore is an in-process JTIStore, safe for concurrent use. It
// holds at most a fixed number of entries; when full, it first drops the
// expired ones and then the one that expires soonest. Only tokens that were
// verified and processed are remembered, so a flood of forged tokens cannot
// fill it.
type MemoryJTIStore struct {
	max int
	now func() time.Time

	mu      sync.Mutex
	entries map[string]time.Time
}

// NewMemoryJTIStore returns an empty store of at most maxEntries entries
// (DefaultMaxJTIs when maxEntries <= 0). now nil means time.Now.
func NewMemoryJTIStore(maxEntries int, now func() time.Time) *MemoryJTIStore {
	if maxEntries <= 0 {
		maxEntries = DefaultMaxJTIs
	}
	if now == nil {
		now = time.Now
	}
	return &MemoryJTIStore{max: maxEntries, now: now, entries: map[string]time.Time{}}
}

// Seen implements JTIStore.
func (s *MemoryJTIStore) Seen(_ context.Context, jti string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	until, ok := s.entries[jti]
	if ok && !s.now().Before(until) {
		delete(s.entries, jti)
		ok = false
	}
	return ok, nil
}

// Remember implements JTIStore.
func (s *MemoryJTIStore) Remember(_ context.Context, jti string, until time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.entries[jti]; !ok && len(s.entries) >= s.max {
		now := s.now()
		for k, u := range s.entries {
			if !now.Before(u) {
				delete(s.entries, k)
			}
		}
		if len(s.entries) >= s.max {
			var (
				first      string
				firstUntil time.Time
				found      bool
			)
			for k, u := range s.entries {
				if !found || u.Before(firstUntil) {
					first, firstUntil, found = k, u, true
				}
			}
			delete(s.entries, first)
		}
	}
	s.entries[jti] = until
	return nil
}

// Len returns the number of entries held, expired ones included.
func (s *MemoryJTIStore) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.entries)
}
