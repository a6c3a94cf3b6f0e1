package watch

import "testing"

func TestNotifyWakesOnlyWatchersOfTheID(t *testing.T) {
	var h Hub
	a, stopA := h.Watch("a")
	b, stopB := h.Watch("b")
	defer stopA()
	defer stopB()
	h.Notify("a", "unknown")
	select {
	case <-a:
	default:
		t.Fatal("the watcher of a was not notified")
	}
	select {
	case <-b:
		t.Fatal("the watcher of b was notified of a change of a")
	default:
	}
}

func TestNotificationsCoalesceAndNeverBlock(t *testing.T) {
	var h Hub
	ch, stop := h.Watch("a")
	defer stop()
	for range 100 {
		h.Notify("a") // nobody receives: must not block
	}
	<-ch
	select {
	case <-ch:
		t.Fatal("100 notifications before a receive gave more than one wake-up")
	default:
	}
}

func TestStopRemovesTheSubscription(t *testing.T) {
	var h Hub
	_, stop1 := h.Watch("a")
	ch2, stop2 := h.Watch("a")
	_, stop3 := h.Watch("b")
	if n := h.Len(); n != 3 {
		t.Fatalf("Len = %d, want 3", n)
	}
	stop1()
	stop1() // idempotent
	if n := h.Len(); n != 2 {
		t.Fatalf("Len after one stop (twice) = %d, want 2", n)
	}
	h.Notify("a")
	select {
	case <-ch2:
	default:
		t.Fatal("the remaining watcher of a was not notified")
	}
	stop2()
	stop3()
	if n := h.Len(); n != 0 {
		t.Fatalf("Len after every stop = %d, want 0", n)
	}
	if len(h.subs) != 0 {
		t.Fatalf("%d logout ids left in the hub", len(h.subs))
	}
}
