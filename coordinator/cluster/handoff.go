package cluster

import (
	"context"
	"errors"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// assign is the desired assignment, the same on every member: balanced
// rendezvous hashing. Each partition ranks the live members by a hash of
// (member, partition); partitions are taken in order and each goes to
// the first member of its ranking whose quota (⌊P/n⌋ or ⌈P/n⌉) is not
// full. So every member owns ⌊P/n⌋ or ⌈P/n⌉ partitions, and a member that joins or
// leaves moves few partitions besides its own (with p mod n, one leaving
// of three moved two thirds of them: a snapshot, a restore and a replay
// each).
func assign(live []string, partitions int) []string {
	out := make([]string, partitions)
	if len(live) == 0 {
		return out
	}
	// Quotas: ⌊P/n⌋ each, and one more for the first P mod n members in
	// the order of their own hash, so that they sum to P exactly.
	quota := make(map[string]int, len(live))
	byHash := slices.Clone(live)
	slices.SortFunc(byHash, func(a, b string) int { return cmpWeight(a, b, -1) })
	for i, m := range byHash {
		quota[m] = partitions / len(live)
		if i < partitions%len(live) {
			quota[m]++
		}
	}
	ranked := slices.Clone(live)
	for p := range out {
		slices.SortFunc(ranked, func(a, b string) int { return cmpWeight(a, b, p) })
		for _, m := range ranked {
			if quota[m] > 0 {
				out[p] = m
				quota[m]--
				break
			}
		}
	}
	return out
}

// cmpWeight orders members by their weight for partition p, highest
// first (ties by id).
func cmpWeight(a, b string, p int) int {
	wa, wb := weight(a, p), weight(b, p)
	switch {
	case wa > wb:
		return -1
	case wa < wb:
		return 1
	}
	return strings.Compare(a, b)
}

// weight is the rendezvous weight of member for partition p: FNV-1a 64 of
// "member/p".
func weight(member string, p int) uint64 {
	h := fnv.New64a()
	h.Write([]byte(member))
	h.Write([]byte{'/'})
	h.Write([]byte(strconv.Itoa(p)))
	return h.Sum64()
}

// ownedIn lists the partitions assignment gives member.
func ownedIn(assignment []string, member string) []int {
	var out []int
	for p, m := range assignment {
		if m == member {
			out = append(out, p)
		}
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
