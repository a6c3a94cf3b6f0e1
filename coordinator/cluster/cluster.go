package cluster

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// DefaultTTL is the lease and membership TTL when Config.TTL is zero.
const DefaultTTL = 5 * time.Second

// minTTL is the smallest per-message TTL nats-server accepts (ADR-43).
const minTTL = time.Second

// Handoff is what the owner of partitions does when they move (implemented
// by the intake).
type Handoff interface {
	// Acquire is called after the leases of parts were taken: restore and
	// start them. When it returns an error none of parts may be started:
	// the leases are given back and taken again at a later reconcile.
	Acquire(ctx context.Context, parts []int) error
	// Release is called before the leases of parts are given up (graceful
	// move or Stop): snapshot and stop them. The leases are deleted only
	// after it returns nil; when it returns an error the partitions must
	// still run (a move is retried at the next reconcile).
	Release(ctx context.Context, parts []int) error
	// Lost is called when leases were lost without a release (a renewal
	// failed: another instance may own them now): stop applying them at
	// once.
	Lost(parts []int)
}

// Config is what Start needs.
type Config struct {
	JS         jetstream.JetStream
	Instance   string        // unique member id
	Partitions int           // P
	Replicas   int           // of the KV bucket (1 embedded, 3 cluster)
	TTL        time.Duration // lease and membership TTL (default 5s); renew every TTL/5
	Handoff    Handoff
	// Info, when set, is published with the member's heartbeat (e.g. its
	// public URL and per-partition lag). It is called every TTL/5 from the
	// renewal loop: it must not block.
	Info   func() map[string]string
	Now    func() time.Time
	Logger *slog.Logger
}

// leaseState is where a held lease is in its handoff.
type leaseState int

const (
	acquiring leaseState = iota // lease taken, Handoff.Acquire not returned yet
	owned                       // acquired: the member applies the partition
	releasing                   // Handoff.Release in progress
	deleting                    // released: the lease is being deleted, no renewals
)

// lease is one lease the member holds.
type lease struct {
	rev        uint64    // revision of the member's last write of the key
	validUntil time.Time // the lease cannot expire before this (last renewal sent + TTL)
	state      leaseState
	// gone is set when the lease was lost during an Acquire or a Release:
	// the handoff loop settles it when the call returns.
	gone bool
}

// Member is one live member of the cluster: it heartbeats its member key
// and holds, renews, takes and gives up partition leases.
type Member struct {
	cfg    Config
	kv     jetstream.KeyValue
	period time.Duration
	log    *slog.Logger
	value  []byte // the lease value: the member id

	mu      sync.Mutex
	held    map[int]*lease
	lost    []int // lost while owned: Handoff.Lost is due
	desired []int // desired for this member at the last reconcile
	viewed  bool  // a reconcile has read the keys

	hbMu    sync.Mutex // held while the renewal loop heartbeats
	leaving bool       // Stop began: no more heartbeats (hbMu)

	nudge      chan struct{}
	stopLoop   context.CancelFunc // ends the handoff loop
	stopRenew  context.CancelFunc // ends the renewal loop
	loopDone   chan struct{}
	renewDone  chan struct{}
	stopOnce   sync.Once
	stopResult error
}

// Start joins the cluster: it creates (or opens) the SIGNOFF_CLUSTER bucket,
// checks the cluster's partition count, writes the member key and starts
// the renewal and handoff loops, which run until Stop (ctx only bounds the
// start-up). It does not wait for partitions: Ready reports when the member
// holds those desired for it.
func Start(ctx context.Context, cfg Config) (*Member, error) {
	if cfg.JS == nil {
		return nil, errors.New("cluster: no JetStream")
	}
	if cfg.Handoff == nil {
		return nil, errors.New("cluster: no Handoff")
	}
	if cfg.Partitions < 1 {
		return nil, fmt.Errorf("cluster: cluster.partitions must be at least 1, got %d", cfg.Partitions)
	}
	if !validID(cfg.Instance) {
		return nil, fmt.Errorf("cluster: cluster.instance %q is not a valid member id (letters, digits, '-', '_', '.'; not starting or ending with '.')", cfg.Instance)
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.TTL < minTTL {
		return nil, fmt.Errorf("cluster: cluster.lease_ttl must be at least %s, got %s", minTTL, cfg.TTL)
	}
	if cfg.Replicas < 1 {
		cfg.Replicas = 1
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	kv, err := openBucket(ctx, cfg.JS, cfg.Replicas)
	if err != nil {
		return nil, err
	}
	if err := checkPartitions(ctx, kv, cfg.Partitions); err != nil {
		return nil, err
	}
	m := &Member{
		cfg:       cfg,
		kv:        kv,
		period:    cfg.TTL / 5,
		log:       log.With("member", cfg.Instance),
		value:     []byte(cfg.Instance),
		held:      map[int]*lease{},
		nudge:     make(chan struct{}, 1),
		loopDone:  make(chan struct{}),
		renewDone: make(chan struct{}),
	}
	if err := m.heartbeat(ctx); err != nil {
		return nil, fmt.Errorf("cluster: write member key: %w", err)
	}
	base := context.WithoutCancel(ctx)
	renewCtx, stopRenew := context.WithCancel(base)
	loopCtx, stopLoop := context.WithCancel(base)
	m.stopRenew, m.stopLoop = stopRenew, stopLoop
	go m.renewLoop(renewCtx)
	go m.handoffLoop(loopCtx)
	return m, nil
}

// Owned returns the partitions the member owns (acquired and not given
// up), sorted.
func (m *Member) Owned() []int {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []int
	for p, l := range m.held {
		if (l.state == owned || l.state == releasing) && !l.gone {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// Ready reports whether the member holds every partition desired for it
// (readiness): nil when it does.
func (m *Member) Ready() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.viewed {
		return fmt.Errorf("cluster: %s has not read the cluster's leases yet", m.cfg.Instance)
	}
	var missing []int
	for _, p := range m.desired {
		if l := m.held[p]; l == nil || l.state != owned || l.gone {
			missing = append(missing, p)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("cluster: %s does not own %d of the %d partitions desired for it yet: %v",
			m.cfg.Instance, len(missing), len(m.desired), missing)
	}
	return nil
}

// Stop leaves the cluster gracefully: it ends the handoff loop, deletes the
// member key, releases every owned partition (Handoff.Release) and deletes
// their leases, and ends the renewal loop. If Release fails, the leases are
// left to expire and Handoff.Lost is called for them. It waits for the
// member's goroutines; a second call returns the first one's result.
func (m *Member) Stop(ctx context.Context) error {
	m.stopOnce.Do(func() { m.stopResult = m.stop(ctx) })
	return m.stopResult
}

func (m *Member) stop(ctx context.Context) error {
	m.stopLoop()
	<-m.loopDone
	var errs []error
	m.hbMu.Lock() // waits for a heartbeat in flight, which would write the key again
	m.leaving = true
	m.hbMu.Unlock()
	if err := m.kv.Purge(ctx, keyMember(m.cfg.Instance), jetstream.PurgeTTL(markerTTL)); err != nil {
		errs = append(errs, fmt.Errorf("cluster: delete member key: %w", err))
	}
	m.flushLost()
	m.mu.Lock()
	var parts []int
	for p, l := range m.held {
		if l.state == owned && !l.gone {
			l.state = releasing
			parts = append(parts, p)
		}
	}
	m.mu.Unlock()
	slices.Sort(parts)
	if len(parts) > 0 {
		err := m.cfg.Handoff.Release(ctx, parts)
		if err != nil {
			errs = append(errs, fmt.Errorf("cluster: release partitions %v: %w", parts, err))
			m.mu.Lock()
			for _, p := range parts {
				delete(m.held, p)
			}
			m.mu.Unlock()
			m.cfg.Handoff.Lost(parts)
		} else {
			m.deleteLeases(ctx, m.released(parts))
		}
	}
	m.stopRenew()
	<-m.renewDone
	m.flushLost()
	return errors.Join(errs...)
}

// kill ends the member's goroutines without releasing anything, as a
// SIGKILL would (tests).
func (m *Member) kill() {
	m.stopOnce.Do(func() {
		m.stopLoop()
		m.stopRenew()
		<-m.loopDone
		<-m.renewDone
	})
}
