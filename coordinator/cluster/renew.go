package cluster

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// parallel is how many KV writes a member has in flight at once.
const parallel = 16

// renewLoop heartbeats the member key and renews the held leases every
// period until ctx ends. It never waits for a Handoff call.
func (m *Member) renewLoop(ctx context.Context) {
	defer close(m.renewDone)
	t := time.NewTicker(m.period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		m.hbMu.Lock()
		if !m.leaving {
			hctx, cancel := context.WithTimeout(ctx, m.period)
			if err := m.heartbeat(hctx); err != nil && ctx.Err() == nil {
				m.log.Warn("cluster: heartbeat failed", "err", err)
			}
			cancel()
		}
		m.hbMu.Unlock()
		m.renew(ctx)
	}
}

// renewal is one lease to renew: its partition and the revision sent.
type renewal struct {
	p   int
	rev uint64
}

// renew renews every held lease (but those being deleted) once.
func (m *Member) renew(ctx context.Context) {
	m.mu.Lock()
	var jobs []renewal
	for p, l := range m.held {
		if l.state != deleting && !l.gone {
			jobs = append(jobs, renewal{p, l.rev})
		}
	}
	m.mu.Unlock()
	forEach(len(jobs), func(i int) {
		m.renewOne(ctx, jobs[i])
	})
}

// renewOne renews one lease and settles the result: a new revision and
// deadline, or the lease lost.
func (m *Member) renewOne(ctx context.Context, j renewal) {
	rctx, cancel := context.WithTimeout(ctx, m.period)
	defer cancel()
	key := keyLease(j.p)
	sent := m.cfg.Now()
	rev, err := m.update(rctx, key, m.value, j.rev)
	adopted := false
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		// A renewal that timed out may have been written all the same:
		// the key then holds this member's id at a later revision. Only
		// this member writes its id into a lease it holds.
		if e, gerr := m.kv.Get(rctx, key); gerr == nil && string(e.Value()) == m.cfg.Instance && e.Revision() > j.rev {
			rev, err, adopted = e.Revision(), nil, true
		}
	}
	if ctx.Err() != nil {
		return // stopping: the outcome does not matter any more
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	l := m.held[j.p]
	if l == nil || l.rev != j.rev || l.gone {
		return // settled meanwhile (released, lost, taken again)
	}
	switch {
	case err == nil:
		l.rev = rev
		if !adopted {
			l.validUntil = sent.Add(m.cfg.TTL)
		}
	case l.state == deleting:
		// released: the delete settles it
	case errors.Is(err, jetstream.ErrKeyRevisionMismatch):
		m.loseLocked(j.p, l, err)
	case !m.cfg.Now().Add(2 * m.period).Before(l.validUntil):
		// Two periods of margin: the next attempt starts within a period
		// and gives up within another, so the partition is lost before the
		// lease can have expired on the server.
		m.loseLocked(j.p, l, err)
	default:
		m.log.Warn("cluster: lease renewal failed, retrying", "partition", j.p, "valid_until", l.validUntil, "err", err)
	}
}

// loseLocked forgets a lost lease: an owned partition is due a
// Handoff.Lost; one in an Acquire or a Release is settled by the handoff
// loop when the call returns. m.mu is held.
func (m *Member) loseLocked(p int, l *lease, err error) {
	m.log.Warn("cluster: partition lost", "partition", p, "err", err)
	if l.state == owned {
		delete(m.held, p)
		m.lost = append(m.lost, p)
		select {
		case m.nudge <- struct{}{}:
		default:
		}
		return
	}
	l.gone = true
}

// forEach calls f(0..n-1) with at most parallel calls at once.
func forEach(n int, f func(i int)) {
	var wg sync.WaitGroup
	sem := make(chan struct{}, parallel)
	for i := range n {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			f(i)
		})
	}
	wg.Wait()
}
