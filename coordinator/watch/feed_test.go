package watch

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/signoff/signoff/coordinator/bus/natstest"
	"github.com/signoff/signoff/events/eventstest"
)

// startNATS runs a real nats-server on a random loopback port.
func startNATS(t *testing.T) string {
	t.Helper()
	return natstest.Embedded(t, false).ClientURL()
}

// instance is one signoff instance's side of the feed: its connection,
// the hub its pages watch, and its feed.
type instance struct {
	nc   *nats.Conn
	hub  *Hub
	feed *Feed
}

func newInstance(t *testing.T, url string) *instance {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	in := &instance{nc: nc, hub: &Hub{}}
	if in.feed, err = NewFeed(nc, in.hub, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = in.feed.Close() })
	return in
}

func wake(t *testing.T, ctx context.Context, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-ctx.Done():
		t.Fatalf("%s was not woken", what)
	}
}

// TestFeedWakesOtherInstance: a commit on A (its store's hub forwards to
// A's feed) wakes a watcher on B's hub and one on A's; A ignores its own
// message, so nothing loops.
func TestFeedWakesOtherInstance(t *testing.T) {
	url := startNATS(t)
	a, b := newInstance(t, url), newInstance(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	var storeHub Hub // a partition store's hub on A
	storeHub.OnNotify(a.feed.Changed)

	onB, stopB := b.hub.Watch("L1")
	defer stopB()
	onA, stopA := a.hub.Watch("L1")
	defer stopA()
	other, stopOther := b.hub.Watch("L2")
	defer stopOther()

	storeHub.Notify("L1")
	wake(t, ctx, onB, "the watcher on B")
	wake(t, ctx, onA, "the watcher on A")
	eventstest.Eventually(t, 10*time.Second, func() bool { return a.feed.ignored.Load() == 1 }, "waiting for A ignoring its own message")
	if a.feed.received.Load() != 0 || b.feed.received.Load() != 1 {
		t.Errorf("received: A %d (want 0), B %d (want 1)", a.feed.received.Load(), b.feed.received.Load())
	}
	select {
	case <-other:
		t.Error("the watcher of L2 was woken by a change of L1")
	default:
	}
}

// TestFeedSplitsLargeBatches: a batch above 64 KB goes out as several
// messages, every id arrives, and each message stays under the limit.
func TestFeedSplitsLargeBatches(t *testing.T) {
	url := startNATS(t)
	a, b := newInstance(t, url), newInstance(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	raw, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	spy, err := raw.SubscribeSync(FeedSubject)
	if err != nil {
		t.Fatal(err)
	}
	defer spy.Unsubscribe()
	if err := raw.Flush(); err != nil {
		t.Fatal(err)
	}

	ids := make([]string, 5000) // 5000 uuids ≈ 195 KB
	for i := range ids {
		ids[i] = fmt.Sprintf("00000000-0000-4000-8000-%012d", i)
	}
	first, stop1 := b.hub.Watch(ids[0])
	defer stop1()
	last, stop2 := b.hub.Watch(ids[len(ids)-1])
	defer stop2()
	a.feed.Changed(ids)
	wake(t, ctx, first, "the first id's watcher")
	wake(t, ctx, last, "the last id's watcher")
	eventstest.Eventually(t, 10*time.Second, func() bool { return b.feed.received.Load() >= 3 }, "waiting for B receiving every part")
	for range b.feed.received.Load() {
		m, err := spy.NextMsgWithContext(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Data) > maxFeedMessage {
			t.Errorf("a message of %d bytes", len(m.Data))
		}
	}
}

// TestFeedDropsGarbage: a message that is not a JSON array of ids wakes
// nobody and does not stop the feed.
func TestFeedDropsGarbage(t *testing.T) {
	url := startNATS(t)
	a, b := newInstance(t, url), newInstance(t, url)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	onB, stop := b.hub.Watch("L1")
	defer stop()
	if err := a.nc.Publish(FeedSubject, []byte(`{"not":"ids"}`)); err != nil {
		t.Fatal(err)
	}
	a.feed.Changed([]string{"L1"})
	wake(t, ctx, onB, "the watcher after a garbage message")
	if got := b.feed.received.Load(); got != 1 {
		t.Errorf("B received %d messages, want 1 (the garbage dropped)", got)
	}
}
