package message

import (
	"fmt"
	"sync"
	"time"
)

// ReplayCache remembers the IDs of accepted messages so that a captured
// message cannot be accepted twice (saml-core 3.7.3.2 asks the session
// authority to authenticate requests; saml-bindings 3.4.5.2 / 3.5.5.2 leave
// replay protection to the receiver). An entry lives for ttl; when the cache
// holds max entries the oldest is dropped. Since only messages whose
// signature verified are recorded, an attacker cannot fill it. It is safe
// for concurrent use.
//
// Choose ttl of at least twice Expect.Skew: a message is accepted only while
// its IssueInstant is within ±Skew of now, so after 2×Skew the time check
// refuses a replay anyway.
type ReplayCache struct {
	mu      sync.Mutex
	max     int
	ttl     time.Duration
	now     func() time.Time
	expires map[string]time.Time
	queue   []replayEntry // in insertion order, so in expiry order
}

type replayEntry struct {
	key     string
	expires time.Time
}

// NewReplayCache returns a ReplayCache of at most maxEntries entries (default
// 100000) that each live ttl (default 10 minutes), on the clock now (default
// time.Now).
func NewReplayCache(maxEntries int, ttl time.Duration, now func() time.Time) *ReplayCache {
	if maxEntries <= 0 {
		maxEntries = 100000
	}
	if ttl <= 0 {
		ttl = 10 * time.Minute
	}
	if now == nil {
		now = time.Now
	}
	return &ReplayCache{max: maxEntries, ttl: ttl, now: now, expires: make(map[string]time.Time)}
}

// Check records key and returns nil, or returns an error wrapping ErrReplay
// when key was recorded before and has not expired.
func (c *ReplayCache) Check(key string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	for len(c.queue) > 0 && !now.Before(c.queue[0].expires) {
		c.drop()
	}
	if exp, ok := c.expires[key]; ok && now.Before(exp) {
		return fmt.Errorf("%w: %q", ErrReplay, key)
	}
	for len(c.expires) >= c.max && len(c.queue) > 0 {
		c.drop()
	}
	exp := now.Add(c.ttl)
	c.expires[key] = exp
	c.queue = append(c.queue, replayEntry{key, exp})
	return nil
}

// Len returns the number of remembered IDs.
func (c *ReplayCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.expires)
}

// drop removes the oldest queue entry, and its map entry unless the key was
// recorded again later.
func (c *ReplayCache) drop() {
	e := c.queue[0]
	c.queue[0] = replayEntry{}
	c.queue = c.queue[1:]
	if c.expires[e.key].Equal(e.expires) {
		delete(c.expires, e.key)
	}
}
