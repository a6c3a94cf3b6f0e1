// Package engine runs the partitions one signoff instance owns: one ordered
// intake over the coordinator's subjects, and for each owned partition its
// sqlite store, its coordinator, its outbox relay and its deadline sweeper
// (README "Scaling out").
//
// Without a cluster there is one partition, always owned, whose store is
// the instance's data_dir/signoff.db: exactly the single-instance design.
// With a cluster, users are hashed to P partitions (partition.Of of the
// subject); every instance reads the whole intake and keeps the route
// index (partition.Index) so that an event that names only a session or a
// logout reaches the partition of its user; a partition's events are
// applied only by its owner, which coordinator/cluster decides with NATS KV
// leases and tells the engine through Acquire, Release and Lost. An owned
// partition is snapshotted to the JetStream object store every
// SnapshotInterval and at a release; a new owner restores the more
// advanced of its local file and the snapshot, replays the stream from
// there, and only then resumes the partition's sagas and enforces their
// deadlines.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signoff/signoff/coordinator"
	"github.com/signoff/signoff/coordinator/bus"
	"github.com/signoff/signoff/coordinator/outbox"
	"github.com/signoff/signoff/coordinator/partition"
	"github.com/signoff/signoff/coordinator/store"
	"github.com/signoff/signoff/coordinator/watch"
	"github.com/signoff/signoff/events"
)

// Config are the engine's dependencies.
type Config struct {
	Bus *bus.Bus
	// Partitions is P; 1 without a cluster.
	Partitions int
	// Clustered turns on the route index, leases-driven ownership and
	// snapshots. Without it the engine owns partition 0 from Start.
	Clustered bool
	// DataDir holds partitions/p-NN.db and routes.db (clustered).
	DataDir string
	// Zero is the store of partition 0 without a cluster (the app's
	// data_dir/signoff.db, which also holds instance-local tables).
	Zero *store.Store
	// Coordinator builds the coordinator of a partition's store.
	Coordinator func(p int, st *store.Store) *coordinator.Coordinator
	// Publisher publishes outbox rows (bus.AllPublisher).
	Publisher outbox.Publisher
	// Changes is the hub every partition's store notifies; Notify, when
	// set, is told the same ids (the change feed to other instances).
	Changes *watch.Hub
	Notify  func(logoutIDs ...string)
	// Snapshots keeps the partitions' snapshots (clustered).
	Snapshots        *partition.Snapshots
	SnapshotInterval time.Duration
	// Skip and Applied are the single-instance upgrade hooks (app
	// upgradeFrom): events an earlier version applied, and its progress.
	Skip    func(subject string, seq uint64) bool
	Applied func(ctx context.Context, batch []jetstream.Msg)
	// Serve, when set, is called when a partition starts (its owner's
	// request handlers, README "Any instance serves any request"); the
	// returned stop runs when it stops.
	Serve       func(p int, st *store.Store) (stop func())
	OnPublished func(n int)
	Logger      *slog.Logger
	Now         func() time.Time
}

// lazyPosition is how far behind the intake a partition that received no
// event may let its recorded position fall before a batch records it: it
// bounds what a restart replays without a write per partition per batch.
const lazyPosition = 4096

// part is one owned partition.
type part struct {
	id      int
	st      *store.Store
	own     bool // st is the app's (Zero): not closed, not deleted
	coord   *coordinator.Coordinator
	relay   *outbox.Relay
	applied uint64 // position recorded in st (intake goroutine only, or under Engine.mu while stopped)
	// target is the stream's last sequence when the partition was taken:
	// its sagas resume and their deadlines are enforced once the intake
	// has applied up to it.
	target   uint64
	caughtUp atomic.Bool
	snapped  uint64          // applied at the last snapshot
	ctx      context.Context // ends when the partition stops
	cancel   context.CancelFunc
	bg       sync.WaitGroup
	serve    func()
}

// Engine runs an instance's owned partitions.
type Engine struct {
	cfg   Config
	log   *slog.Logger
	index *partition.Index

	// hmu serialises Start, Acquire, Release, Lost and Stop, which stop
	// the intake while they change the partitions (a restore may take
	// seconds). mu guards the fields below only briefly, so that Local,
	// Lag and Ready never wait for a restore. apply, in the intake's
	// goroutine, reads parts without mu: it is changed only while the
	// intake is stopped.
	hmu    sync.Mutex
	mu     sync.RWMutex
	parts  map[int]*part
	intake *bus.Ordered
	done   bool
	totals bus.OrderedStats // of the intakes stopped so far

	runCtx context.Context
	cancel context.CancelFunc
	bg     sync.WaitGroup
}

// New returns an engine; Start starts it.
func New(cfg Config) (*Engine, error) {
	if cfg.Bus == nil || cfg.Coordinator == nil || cfg.Publisher == nil {
		return nil, errors.New("engine: Bus, Coordinator and Publisher are required")
	}
	if cfg.Partitions < 1 {
		cfg.Partitions = 1
	}
	if !cfg.Clustered && (cfg.Partitions != 1 || cfg.Zero == nil) {
		return nil, errors.New("engine: without a cluster there is one partition, whose store is Zero")
	}
	if cfg.Clustered && cfg.Snapshots == nil {
		return nil, errors.New("engine: a cluster needs Snapshots")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Changes == nil {
		cfg.Changes = &watch.Hub{}
	}
	if cfg.SnapshotInterval <= 0 {
		cfg.SnapshotInterval = 30 * time.Second
	}
	return &Engine{cfg: cfg, log: cfg.Logger, parts: map[int]*part{}}, nil
}

// Start opens the route index (restoring it from its snapshot when this
// instance has none) and starts the intake. Without a cluster it also
// starts partition 0.
func (e *Engine) Start(ctx context.Context) error {
	e.runCtx, e.cancel = context.WithCancel(context.WithoutCancel(ctx))
	e.hmu.Lock()
	defer e.hmu.Unlock()
	if e.cfg.Clustered {
		path := filepath.Join(e.cfg.DataDir, "routes.db")
		if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
			if _, _, err := e.cfg.Snapshots.Restore(ctx, "routes", path, 0); err != nil {
				return fmt.Errorf("engine: restore the route index: %w", err)
			}
		}
		ix, err := partition.OpenIndex(path, e.cfg.Partitions)
		if err != nil {
			return err
		}
		e.index = ix
		if err := os.MkdirAll(filepath.Join(e.cfg.DataDir, "partitions"), 0o700); err != nil {
			return fmt.Errorf("engine: %w", err)
		}
		e.bg.Add(1)
		go e.snapshotLoop()
	} else {
		if err := e.startPart(ctx, 0, 0); err != nil {
			return err
		}
	}
	return e.restartIntake(ctx)
}

// Stop stops the intake and every partition (without releasing leases:
// coordinator/cluster's Stop releases them first, through Release).
func (e *Engine) Stop(ctx context.Context) error {
	e.hmu.Lock()
	e.mu.Lock()
	e.done = true
	e.mu.Unlock()
	e.stopIntake()
	var errs []error
	for _, id := range e.Owned() {
		errs = append(errs, e.stopPart(ctx, e.part(id), false))
	}
	e.hmu.Unlock()
	if e.cancel != nil {
		e.cancel()
	}
	e.bg.Wait()
	if e.index != nil {
		errs = append(errs, e.index.Close())
	}
	return errors.Join(errs...)
}

// Acquire starts parts, whose leases this instance has just taken: each
// is restored (the more advanced of the local file and the snapshot) and
// replayed from the stream; its sagas resume once it has caught up.
func (e *Engine) Acquire(ctx context.Context, parts []int) error {
	e.hmu.Lock()
	defer e.hmu.Unlock()
	if e.stopped() {
		return errors.New("engine: stopped")
	}
	e.stopIntake()
	target, err := e.lastSeq(ctx)
	if err != nil {
		return errors.Join(err, e.restartIntake(ctx))
	}
	var errs []error
	for _, id := range parts {
		if e.part(id) != nil {
			continue
		}
		if err := e.restore(ctx, id); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := e.startPart(ctx, id, target); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, e.restartIntake(ctx))
	return errors.Join(errs...)
}

// Release stops parts, which move to another instance: the outbox is
// drained, a last snapshot uploaded, and the local file deleted.
func (e *Engine) Release(ctx context.Context, parts []int) error {
	e.hmu.Lock()
	defer e.hmu.Unlock()
	e.stopIntake()
	var errs []error
	for _, id := range parts {
		if p := e.part(id); p != nil {
			errs = append(errs, e.stopPart(ctx, p, true))
		}
	}
	if !e.stopped() {
		errs = append(errs, e.restartIntake(ctx))
	}
	return errors.Join(errs...)
}

// Lost stops parts at once: their leases were lost, another instance may
// own them already. Nothing is uploaded; the local file stays (a later
// Acquire takes the more advanced of it and the snapshot).
func (e *Engine) Lost(parts []int) {
	e.hmu.Lock()
	defer e.hmu.Unlock()
	e.stopIntake()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, id := range parts {
		if p := e.part(id); p != nil {
			if err := e.stopPart(ctx, p, false); err != nil {
				e.log.Warn("stopping a lost partition", "partition", id, "err", err)
			}
		}
	}
	if !e.stopped() {
		if err := e.restartIntake(ctx); err != nil {
			e.log.Error("intake not restarted", "err", err)
		}
	}
}

// Owned lists the partitions this engine runs.
func (e *Engine) Owned() []int {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.ownedLocked()
}

func (e *Engine) part(id int) *part {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.parts[id]
}

func (e *Engine) stopped() bool {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.done
}

func (e *Engine) ownedLocked() []int {
	ids := make([]int, 0, len(e.parts))
	for id := range e.parts {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Local returns the store of partition p when this instance owns it.
func (e *Engine) Local(p int) (*store.Store, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if pt, ok := e.parts[p]; ok {
		return pt.st, true
	}
	return nil, false
}

// Count is P.
func (e *Engine) Count() int { return e.cfg.Partitions }

// Locate finds the partition of a session, logout, upstream session, RP sid
// or SAML NameID in the route index (always 0 without a cluster).
func (e *Engine) Locate(ctx context.Context, kind partition.Kind, key string) (int, bool, error) {
	if e.index == nil {
		return 0, true, nil
	}
	return e.index.Lookup(ctx, kind, key)
}

// Ready reports whether the intake is healthy and every owned partition
// has caught up with the stream.
func (e *Engine) Ready() error {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.intake == nil {
		return errors.New("intake not running")
	}
	if err := e.intake.Ready(); err != nil {
		return err
	}
	for _, id := range e.ownedLocked() {
		if !e.parts[id].caughtUp.Load() {
			return fmt.Errorf("partition %d is replaying the stream", id)
		}
	}
	return nil
}

// Stats sums the intake's counters over its restarts.
func (e *Engine) Stats() bus.OrderedStats {
	e.mu.RLock()
	defer e.mu.RUnlock()
	s := e.totals
	if e.intake != nil {
		cur := e.intake.Stats()
		s.Batches += cur.Batches
		s.Events += cur.Events
		s.Applied, s.Pending = cur.Applied, cur.Pending
	}
	return s
}

// Lag is, for each owned partition, how many stream events it has yet to
// apply: the intake's pending count, or more while it replays.
func (e *Engine) Lag() map[int]uint64 {
	st := e.Stats()
	e.mu.RLock()
	defer e.mu.RUnlock()
	out := map[int]uint64{}
	for id, p := range e.parts {
		lag := st.Pending
		if !p.caughtUp.Load() && p.target > st.Applied {
			lag += p.target - st.Applied
		}
		out[id] = lag
	}
	return out
}

// UnknownRPJoins sums the coordinators' counters.
func (e *Engine) UnknownRPJoins() uint64 {
	e.mu.RLock()
	defer e.mu.RUnlock()
	var n uint64
	for _, p := range e.parts {
		n += p.coord.UnknownRPJoins()
	}
	return n
}

func (e *Engine) path(id int) string {
	return filepath.Join(e.cfg.DataDir, "partitions", partition.SnapshotName(id, e.cfg.Partitions)+".db")
}

func (e *Engine) restore(ctx context.Context, id int) error {
	path := e.path(id)
	var local uint64
	if _, err := os.Stat(path); err == nil {
		st, err := store.Open(path)
		if err != nil {
			return fmt.Errorf("engine: partition %d: %w", id, err)
		}
		local, err = st.Applied(ctx, id)
		st.Close()
		if err != nil {
			return fmt.Errorf("engine: partition %d: %w", id, err)
		}
	}
	// Restore logs what it restored.
	if _, _, err := e.cfg.Snapshots.Restore(ctx, partition.SnapshotName(id, e.cfg.Partitions), path, local); err != nil {
		return fmt.Errorf("engine: restore partition %d: %w", id, err)
	}
	return nil
}

// startPart opens partition id and starts its relay; its sweeper and the
// resumption of its sagas wait until the intake has applied target.
func (e *Engine) startPart(ctx context.Context, id int, target uint64) error {
	p := &part{id: id, target: target}
	if !e.cfg.Clustered {
		p.st, p.own = e.cfg.Zero, true
	} else {
		var relay *outbox.Relay
		st, err := store.OpenWith(e.path(id), store.Options{Changes: e.cfg.Changes, Notify: e.cfg.Notify,
			OnOutbox: func() { relay.Wake() }})
		if err != nil {
			return fmt.Errorf("engine: partition %d: %w", id, err)
		}
		p.st = st
		relay = outbox.New(st, e.cfg.Publisher, e.log.With("component", "outbox", "partition", id), time.Second)
		p.relay = relay
	}
	if p.relay == nil {
		p.relay = outbox.New(p.st, e.cfg.Publisher, e.log.With("component", "outbox"), time.Second)
		p.st.OnOutbox = p.relay.Wake
	}
	if e.cfg.OnPublished != nil {
		p.relay.OnPublished(e.cfg.OnPublished)
	}
	applied, err := p.st.Applied(ctx, id)
	if err != nil {
		if !p.own {
			p.st.Close()
		}
		return err
	}
	p.applied, p.snapped = applied, applied
	p.coord = e.cfg.Coordinator(id, p.st)
	pctx, cancel := context.WithCancel(e.runCtx)
	p.ctx, p.cancel = pctx, cancel
	p.bg.Add(1)
	go func() { defer p.bg.Done(); p.relay.Run(pctx) }()
	p.relay.Wake()
	if e.cfg.Serve != nil {
		p.serve = e.cfg.Serve(id, p.st)
	}
	e.mu.Lock()
	e.parts[id] = p
	e.mu.Unlock()
	if applied >= target {
		e.caughtUp(p)
	}
	return nil
}

// caughtUp resumes p's unfinished sagas and starts its sweeper: only now
// does it know every result the stream holds for them. It runs before the
// intake applies anything more to p (in the intake's goroutine, or before
// the intake starts), so that a saga started by a later event is not
// dispatched twice.
func (e *Engine) caughtUp(p *part) {
	if p.caughtUp.Swap(true) {
		return
	}
	if n, err := p.coord.Resume(p.ctx); err != nil {
		e.log.Warn("resume unfinished logouts", "partition", p.id, "err", err)
	} else if n > 0 && e.cfg.Clustered {
		e.log.Info("partition resumed", "partition", p.id, "logouts", n)
	}
	p.bg.Add(1)
	go func() { defer p.bg.Done(); p.coord.RunSweeper(p.ctx) }()
}

// stopPart stops p; with release, it snapshots and deletes it.
func (e *Engine) stopPart(ctx context.Context, p *part, release bool) error {
	e.mu.Lock()
	delete(e.parts, p.id)
	e.mu.Unlock()
	if p.serve != nil {
		p.serve()
	}
	p.cancel() // ends the relay (after a last drain) and the sweeper
	p.bg.Wait()
	var errs []error
	if release && e.cfg.Clustered {
		if last := e.lastApplied(); last > p.applied {
			if err := p.coord.ApplyBatchAt(ctx, p.id, nil, last); err == nil {
				p.applied = last
			}
		}
		if _, err := e.cfg.Snapshots.Save(ctx, partition.SnapshotName(p.id, e.cfg.Partitions), partition.FromStore(p.st), filepath.Join(e.cfg.DataDir, "partitions")); errors.Is(err, partition.ErrBehind) {
			// Another instance owned it after us: its snapshot stands.
			e.log.Warn("last snapshot of a released partition not uploaded", "partition", p.id, "err", err)
		} else if err != nil {
			errs = append(errs, fmt.Errorf("engine: last snapshot of partition %d: %w", p.id, err))
		}
	}
	if !p.own {
		errs = append(errs, p.st.Close())
		// Released with its last snapshot uploaded: the file is the new
		// owner's to restore, not ours to keep.
		if err := errors.Join(errs...); release && err == nil {
			for _, suffix := range []string{"", "-wal", "-shm"} {
				os.Remove(e.path(p.id) + suffix)
			}
		}
	}
	return errors.Join(errs...)
}

// lastApplied is the stream sequence the intake applied last.
func (e *Engine) lastApplied() uint64 {
	return e.Stats().Applied
}

func (e *Engine) lastSeq(ctx context.Context) (uint64, error) {
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	st, err := e.cfg.Bus.JetStream().Stream(sctx, events.StreamName)
	if err != nil {
		return 0, fmt.Errorf("engine: stream info: %w", err)
	}
	info, err := st.Info(sctx)
	if err != nil {
		return 0, fmt.Errorf("engine: stream info: %w", err)
	}
	return info.State.LastSeq, nil
}

func (e *Engine) stopIntake() {
	e.mu.RLock()
	in := e.intake
	e.mu.RUnlock()
	if in == nil {
		return
	}
	in.Stop()
	s := in.Stats()
	e.mu.Lock()
	e.totals.Batches += s.Batches
	e.totals.Events += s.Events
	e.totals.Applied, e.totals.Pending = s.Applied, s.Pending
	e.intake = nil
	e.mu.Unlock()
}

// restartIntake starts the intake after the lowest position of the route
// index and the owned partitions.
func (e *Engine) restartIntake(ctx context.Context) error {
	start := uint64(0)
	first := true
	if e.index != nil {
		pos, err := e.index.Position(ctx)
		if err != nil {
			return err
		}
		start, first = pos, false
	}
	for _, id := range e.Owned() {
		p := e.part(id)
		if first || p.applied < start {
			start, first = p.applied, false
		}
	}
	in, err := e.cfg.Bus.Ordered(bus.OrderedConfig{
		Name: "coordinator", Subjects: coordinator.IntakeSubjects, Start: start + 1, Now: e.cfg.Now,
		Apply: e.apply, Logger: e.log.With("component", "intake"),
	})
	if err != nil {
		return err
	}
	e.mu.Lock()
	e.intake = in
	e.mu.Unlock()
	return nil
}

// apply is the intake's batch: routed, then applied by each owned
// partition that has events in it (or whose position fell too far
// behind). It runs in the intake's goroutine, which Acquire, Release and
// Lost stop before they change the partitions.
func (e *Engine) apply(ctx context.Context, batch []jetstream.Msg) error {
	lastMD, err := batch[len(batch)-1].Metadata()
	if err != nil {
		return fmt.Errorf("engine: intake message metadata: %w", err)
	}
	last := lastMD.Sequence.Stream
	if !e.cfg.Clustered {
		p := e.parts[0]
		if err := p.coord.ApplyBatch(ctx, 0, batch, e.cfg.Skip); err != nil {
			return err
		}
		p.applied = last
		if e.cfg.Applied != nil {
			e.cfg.Applied(ctx, batch)
		}
		return nil
	}
	parts := make([]int, len(batch))
	seqs := make([]uint64, len(batch))
	err = e.index.Update(ctx, last, func(tx *partition.IndexTx) error {
		for i, m := range batch {
			md, err := m.Metadata()
			if err != nil {
				return fmt.Errorf("engine: intake message metadata: %w", err)
			}
			seqs[i] = md.Sequence.Stream
			if parts[i], err = coordinator.Route(tx, e.cfg.Partitions, m.Subject(), m.Data(), seqs[i]); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	// e.parts is changed only while the intake is stopped (under e.mu,
	// by the goroutine that stops it), so reading it here is safe.
	for id, p := range e.parts {
		if last <= p.applied {
			// A replay for a partition taken since: p has all of it.
			continue
		}
		var mine []jetstream.Msg
		for i, m := range batch {
			if parts[i] == id && seqs[i] > p.applied {
				mine = append(mine, m)
			}
		}
		if len(mine) == 0 && last-p.applied < lazyPosition && (p.caughtUp.Load() || last < p.target) {
			continue
		}
		if !p.caughtUp.Load() && last >= p.target {
			// The replay reaches the stream's end as it was when p
			// was taken: apply up to there, resume what was running
			// then, and only then apply what came after (a saga
			// started after it is dispatched by its start, not
			// resumed as well).
			var before []jetstream.Msg
			for len(mine) > 0 {
				md, err := mine[0].Metadata()
				if err != nil || md.Sequence.Stream > p.target {
					break
				}
				before, mine = append(before, mine[0]), mine[1:]
			}
			upTo := max(p.target, p.applied)
			if err := p.coord.ApplyBatchAt(ctx, id, before, upTo); err != nil {
				return err
			}
			p.applied = upTo
			e.caughtUp(p)
		}
		if err := p.coord.ApplyBatchAt(ctx, id, mine, last); err != nil {
			return err
		}
		p.applied = last
	}
	return nil
}

// snapshotLoop uploads every owned partition that changed since its last
// snapshot, and the route index when this instance owns partition 0.
func (e *Engine) snapshotLoop() {
	defer e.bg.Done()
	t := time.NewTicker(e.cfg.SnapshotInterval)
	defer t.Stop()
	for {
		select {
		case <-e.runCtx.Done():
			return
		case <-t.C:
		}
		e.SnapshotAll(e.runCtx)
	}
}

// SnapshotAll uploads the snapshots due now (also used by tests).
func (e *Engine) SnapshotAll(ctx context.Context) {
	e.mu.RLock()
	due := map[int]*part{}
	for id, p := range e.parts {
		if p.caughtUp.Load() {
			due[id] = p
		}
	}
	_, ownsZero := e.parts[0]
	e.mu.RUnlock()
	dir := filepath.Join(e.cfg.DataDir, "partitions")
	for id, p := range due {
		// The store may be closed by a concurrent Release, which
		// uploads its own last snapshot: an error then is expected.
		at, err := e.cfg.Snapshots.Save(ctx, partition.SnapshotName(id, e.cfg.Partitions), partition.FromStore(p.st), dir)
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, store.ErrClosed) {
				e.log.Warn("partition snapshot", "partition", id, "err", err)
			}
			continue
		}
		p.snapped = at
	}
	if ownsZero && e.index != nil {
		if _, err := e.cfg.Snapshots.Save(ctx, "routes", e.index, e.cfg.DataDir); err != nil && ctx.Err() == nil {
			e.log.Warn("route index snapshot", "err", err)
		}
	}
}
