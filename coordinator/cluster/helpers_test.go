package cluster

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/signoff/signoff/coordinator/bus/natstest"
	"github.com/signoff/signoff/events/eventstest"
)

// wait is the bound of every Eventually here: the machines are shared.
const wait = 60 * time.Second

// runNATS runs an embedded nats-server with JetStream on a random port.
func runNATS(t *testing.T) string {
	t.Helper()
	return natstest.Embedded(t, true).ClientURL()
}

// connect opens a connection that reconnects for ever, and its JetStream.
func connect(t *testing.T, urls string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	return natstest.Connect(t, urls, nats.Name("signoff-cluster-test"), nats.MaxReconnects(-1),
		nats.ReconnectWait(50*time.Millisecond), nats.DontRandomize())
}

// recorder is a Handoff shared by the members of a test: it keeps who
// applies which partition and fails the test as soon as two members would
// apply one partition at once, or a member releases what it does not own.
type recorder struct {
	t     *testing.T
	kv    jetstream.KeyValue // an independent handle on the bucket, for checks
	mu    sync.Mutex
	owner map[int]string
	lost  map[string][]int // member → partitions it was told it lost
	// releaseHeld counts the Release calls that found their leases still
	// held by the releasing member (the leases are deleted after Release).
	releaseHeld int
	acquireErr  error // returned by the next Acquire, then cleared
	// gate, when set, holds the Acquire calls of member gated until it is
	// closed (a slow restore).
	gate         chan struct{}
	gated        string
	acquireCalls int
	releaseErr   error // returned by the next Release, then cleared
	releaseCalls int
}

func newRecorder(t *testing.T) *recorder {
	return &recorder{t: t, owner: map[int]string{}, lost: map[string][]int{}}
}

// member is the Handoff of one member.
func (r *recorder) member(id string) Handoff { return &recorded{r: r, id: id} }

// dead forgets what id applied: a killed process applies nothing.
func (r *recorder) dead(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for p, o := range r.owner {
		if o == id {
			delete(r.owner, p)
		}
	}
}

// applying returns the partitions id applies, sorted.
func (r *recorder) applying(id string) []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []int
	for p, o := range r.owner {
		if o == id {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

func (r *recorder) lostBy(id string) []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.lost[id])
}

type recorded struct {
	r  *recorder
	id string
}

func (h *recorded) Acquire(ctx context.Context, parts []int) error {
	r := h.r
	r.mu.Lock()
	gate := r.gate
	if h.id != r.gated {
		gate = nil
	}
	r.mu.Unlock()
	if gate != nil {
		<-gate
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.acquireCalls++
	if err := r.acquireErr; err != nil {
		r.acquireErr = nil
		return err
	}
	for _, p := range parts {
		if o, ok := r.owner[p]; ok {
			r.t.Errorf("%s acquires partition %d, which %s still applies", h.id, p, o)
		}
		r.owner[p] = h.id
	}
	return nil
}

func (h *recorded) Release(ctx context.Context, parts []int) error {
	r := h.r
	held := true
	r.mu.Lock()
	kv := r.kv
	r.mu.Unlock()
	if kv != nil {
		for _, p := range parts {
			e, err := kv.Get(ctx, keyLease(p))
			if err != nil || string(e.Value()) != h.id {
				held = false
				r.t.Errorf("%s releases partition %d but its lease is not held by it any more (%v)", h.id, p, err)
			}
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.releaseCalls++
	if err := r.releaseErr; err != nil {
		r.releaseErr = nil
		return err
	}
	if held {
		r.releaseHeld++
	}
	for _, p := range parts {
		if o := r.owner[p]; o != h.id {
			r.t.Errorf("%s releases partition %d, applied by %q", h.id, p, o)
		}
		delete(r.owner, p)
	}
	return nil
}

func (h *recorded) Lost(parts []int) {
	r := h.r
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, p := range parts {
		if o := r.owner[p]; o != h.id {
			r.t.Errorf("%s lost partition %d, applied by %q", h.id, p, o)
		}
		delete(r.owner, p)
	}
	r.lost[h.id] = append(r.lost[h.id], parts...)
}

// lab is one test's embedded JetStream and the recorder its members
// share.
type lab struct {
	t   *testing.T
	url string
	rec *recorder
}

func newLab(t *testing.T) *lab {
	t.Helper()
	return &lab{t: t, url: runNATS(t), rec: newRecorder(t)}
}

// join connects a new client and starts member id on it with partitions
// and the tests' ttl.
func (l *lab) join(id string, partitions int) *Member {
	l.t.Helper()
	m, _, _ := l.joinConn(id, partitions)
	return m
}

// joinConn is join, and the member's connection and JetStream.
func (l *lab) joinConn(id string, partitions int) (*Member, *nats.Conn, jetstream.JetStream) {
	l.t.Helper()
	nc, js := connect(l.t, l.url)
	return start(l.t, js, l.rec, id, partitions, ttl), nc, js
}

// start starts member id on js with the recorder's Handoff, and stops it
// at cleanup.
func start(t *testing.T, js jetstream.JetStream, rec *recorder, id string, partitions int, ttl time.Duration) *Member {
	t.Helper()
	return startConfig(t, rec, Config{JS: js, Instance: id, Partitions: partitions, TTL: ttl,
		Info: func() map[string]string { return map[string]string{"url": "http://" + id} }})
}

// startConfig starts a member with cfg and the recorder's Handoff for
// cfg.Instance, and stops it at cleanup.
func startConfig(t *testing.T, rec *recorder, cfg Config) *Member {
	t.Helper()
	cfg.Handoff = rec.member(cfg.Instance)
	m, err := Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if rec.kv == nil {
		kv, err := cfg.JS.KeyValue(context.Background(), Bucket)
		if err != nil {
			t.Fatal(err)
		}
		rec.mu.Lock()
		rec.kv = kv
		rec.mu.Unlock()
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		m.Stop(ctx)
	})
	return m
}

// owners waits until the members own the given numbers of partitions,
// all Ready, and the recorder agrees with their Owned.
func owners(t *testing.T, rec *recorder, want map[*Member]int) {
	t.Helper()
	eventstest.EventuallyErr(t, wait, func() error {
		for m, n := range want {
			got := m.Owned()
			if len(got) != n {
				return fmt.Errorf("%s owns %v, want %d partitions", m.cfg.Instance, got, n)
			}
			if err := m.Ready(); err != nil {
				return err
			}
			if a := rec.applying(m.cfg.Instance); !slices.Equal(a, got) {
				return fmt.Errorf("%s owns %v but applies %v", m.cfg.Instance, got, a)
			}
		}
		return nil
	})
}
