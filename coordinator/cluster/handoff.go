package cluster

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// assign is the desired assignment: partition p → live[p % len(live)],
// live being the sorted ids of the live members (design §4).
func assign(live []string, partitions int) []string {
	out := make([]string, partitions)
	if len(live) == 0 {
		return out
	}
	for p := range out {
		out[p] = live[p%len(live)]
	}
	return out
}

// handoffLoop reconciles every period (and when a lease was lost) until
// ctx ends. It is the only caller of Handoff while it runs.
func (m *Member) handoffLoop(ctx context.Context) {
	defer close(m.loopDone)
	t := time.NewTicker(m.period)
	defer t.Stop()
	for {
		m.flushLost()
		m.reconcile(ctx)
		m.flushLost()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-m.nudge:
		}
	}
}

// flushLost calls Handoff.Lost for the partitions lost since the last call.
func (m *Member) flushLost() {
	m.mu.Lock()
	lost := m.lost
	m.lost = nil
	m.mu.Unlock()
	if len(lost) == 0 {
		return
	}
	slices.Sort(lost)
	m.cfg.Handoff.Lost(slices.Compact(lost))
}

// reconcile reads the keys once, gives up the owned partitions desired
// elsewhere and takes the free partitions desired for the member.
func (m *Member) reconcile(ctx context.Context) {
	rctx, cancel := context.WithTimeout(ctx, m.cfg.TTL)
	v, err := m.read(rctx)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			m.log.Warn("cluster: read leases failed", "err", err)
		}
		return
	}
	live := make([]string, 0, len(v.members)+1)
	for id := range v.members {
		live = append(live, id)
	}
	if _, ok := v.members[m.cfg.Instance]; !ok {
		live = append(live, m.cfg.Instance)
	}
	slices.Sort(live)
	owners := assign(live, m.cfg.Partitions)
	var mine, release, take []int
	m.mu.Lock()
	for p, id := range owners {
		if id != m.cfg.Instance {
			if l := m.held[p]; l != nil && l.state == owned && !l.gone {
				l.state = releasing
				release = append(release, p)
			}
			continue
		}
		mine = append(mine, p)
		if _, held := m.held[p]; !held && v.leases[p] == "" {
			take = append(take, p)
		}
	}
	m.desired, m.viewed = mine, true
	m.mu.Unlock()
	if len(release) > 0 {
		m.release(ctx, release)
	}
	if len(take) > 0 && ctx.Err() == nil {
		m.take(ctx, take)
	}
}

// release gives up parts (already marked releasing): Handoff.Release, then
// the leases are deleted.
func (m *Member) release(ctx context.Context, parts []int) {
	m.log.Info("cluster: releasing partitions", "partitions", parts)
	if err := m.cfg.Handoff.Release(ctx, parts); err != nil {
		m.log.Warn("cluster: release failed, partitions kept", "partitions", parts, "err", err)
		m.mu.Lock()
		for _, p := range parts {
			l := m.held[p]
			if l == nil {
				continue
			}
			if l.gone {
				delete(m.held, p)
				m.lost = append(m.lost, p)
			} else {
				l.state = owned
			}
		}
		m.mu.Unlock()
		return
	}
	m.deleteLeases(ctx, m.released(parts))
}

// released marks the released parts deleting and returns those whose
// lease is still held (a lease lost during the Release is forgotten).
func (m *Member) released(parts []int) []int {
	m.mu.Lock()
	defer m.mu.Unlock()
	var del []int
	for _, p := range parts {
		l := m.held[p]
		if l == nil {
			continue
		}
		if l.gone {
			delete(m.held, p)
			continue
		}
		l.state = deleting
		del = append(del, p)
	}
	return del
}

// deleteLeases deletes the leases of parts (state deleting) with a KV
// Delete on their last revision and forgets them. A lease that cannot be
// deleted expires after the TTL.
func (m *Member) deleteLeases(ctx context.Context, parts []int) {
	forEach(len(parts), func(i int) {
		p := parts[i]
		var err error
		for range 3 { // a renewal sent before the release may move the revision once
			m.mu.Lock()
			rev := m.held[p].rev
			m.mu.Unlock()
			// Even when stopping: a lease left behind holds its partition
			// up for a TTL.
			dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), m.cfg.TTL)
			err = m.kv.Delete(dctx, keyLease(p), jetstream.LastRevision(rev))
			cancel()
			if !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
				break
			}
			m.mu.Lock()
			moved := m.held[p].rev != rev
			m.mu.Unlock()
			if !moved {
				break
			}
		}
		if err != nil {
			m.log.Warn("cluster: delete lease failed; it expires after the TTL", "partition", p, "err", err)
		}
		m.mu.Lock()
		delete(m.held, p)
		m.mu.Unlock()
	})
}

// take creates the leases of the free parts (Create fails when another
// member took one first) and acquires those it got.
func (m *Member) take(ctx context.Context, parts []int) {
	var mu sync.Mutex
	var got []int
	forEach(len(parts), func(i int) {
		p := parts[i]
		cctx, cancel := context.WithTimeout(ctx, m.cfg.TTL)
		defer cancel()
		sent := m.cfg.Now()
		rev, err := m.kv.Create(cctx, keyLease(p), m.value, jetstream.KeyTTL(m.cfg.TTL))
		if err != nil {
			if !errors.Is(err, jetstream.ErrKeyExists) {
				m.log.Warn("cluster: take lease failed", "partition", p, "err", err)
			}
			return
		}
		m.mu.Lock()
		m.held[p] = &lease{rev: rev, validUntil: sent.Add(m.cfg.TTL), state: acquiring}
		m.mu.Unlock()
		mu.Lock()
		got = append(got, p)
		mu.Unlock()
	})
	if len(got) == 0 {
		return
	}
	slices.Sort(got)
	err := ctx.Err() // stopping: give the leases back without an Acquire
	if err == nil {
		m.log.Info("cluster: acquiring partitions", "partitions", got)
		err = m.cfg.Handoff.Acquire(ctx, got)
	}
	if err != nil {
		m.log.Warn("cluster: acquire failed, leases given back", "partitions", got, "err", err)
	}
	var del []int
	m.mu.Lock()
	for _, p := range got {
		l := m.held[p]
		switch {
		case err == nil && l.gone:
			delete(m.held, p)
			m.lost = append(m.lost, p) // started, then lost
		case err == nil:
			l.state = owned
		case l.gone:
			delete(m.held, p) // never started
		default:
			l.state = deleting
			del = append(del, p)
		}
	}
	m.mu.Unlock()
	m.deleteLeases(ctx, del)
}
