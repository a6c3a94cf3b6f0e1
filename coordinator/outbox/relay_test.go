package outbox

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/signoff/signoff/coordinator/bus"
	"github.com/signoff/signoff/coordinator/store"
	"github.com/signoff/signoff/events/eventstest"
)

func setup(t *testing.T) (*store.Store, *bus.Bus) {
	t.Helper()
	dir := t.TempDir()
	st, err := store.Open(filepath.Join(dir, "s.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	b, err := bus.Start(context.Background(), bus.Config{StoreDir: filepath.Join(dir, "nats")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return st, b
}

func add(t *testing.T, st *store.Store, ids ...string) {
	t.Helper()
	err := st.Update(context.Background(), func(tx *store.Tx) error {
		for _, id := range ids {
			if err := tx.AddOutbox(id, "signoff.test."+id, []byte(`{"id":"`+id+`"}`), time.Now()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func streamMsgs(t *testing.T, js jetstream.JetStream) uint64 {
	info, err := js.Stream(context.Background(), "SIGNOFF")
	if err != nil {
		t.Fatal(err)
	}
	return info.CachedInfo().State.Msgs
}

func TestRelayPublishesInOrderWithMsgIDAndDeletes(t *testing.T) {
	st, b := setup(t)
	r := New(st, bus.AllPublisher{JS: b.JetStream()}, slog.New(slog.DiscardHandler), time.Hour)
	st.OnOutbox = r.Wake
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	ids := make([]string, 600) // more than one batch
	for i := range ids {
		ids[i] = fmt.Sprintf("e%04d", i)
	}
	add(t, st, ids...)
	eventstest.EventuallyErr(t, 10*time.Second, func() error {
		rows, err := st.PendingOutbox(context.Background(), 10)
		if err != nil || len(rows) != 0 {
			return fmt.Errorf("%d rows left (%v)", len(rows), err)
		}
		return nil
	})
	js := b.JetStream()
	if n := streamMsgs(t, js); n != uint64(len(ids)) {
		t.Fatalf("%d messages in the stream, want %d", n, len(ids))
	}
	for _, seq := range []uint64{1, 300, 600} {
		m, err := jsGet(js, seq)
		if err != nil {
			t.Fatal(err)
		}
		want := ids[seq-1]
		if m.Subject != "signoff.test."+want || m.Header.Get(nats.MsgIdHdr) != want {
			t.Errorf("seq %d: subject %s msg-id %q, want %s in order", seq, m.Subject, m.Header.Get(nats.MsgIdHdr), want)
		}
	}
	// A row republished after a crash (same id) is dropped by the stream.
	add(t, st, ids[0])
	eventstest.EventuallyErr(t, 10*time.Second, func() error {
		if rows, _ := st.PendingOutbox(context.Background(), 10); len(rows) != 0 {
			return errors.New("row not relayed")
		}
		return nil
	})
	if n := streamMsgs(t, js); n != uint64(len(ids)) {
		t.Errorf("duplicate published: %d messages", n)
	}
}

func jsGet(js jetstream.JetStream, seq uint64) (*jetstream.RawStreamMsg, error) {
	s, err := js.Stream(context.Background(), "SIGNOFF")
	if err != nil {
		return nil, err
	}
	return s.GetMsg(context.Background(), seq)
}

type failing struct{}

func (failing) PublishAll(context.Context, []*nats.Msg) error {
	return errors.New("nats down")
}

func TestRelayKeepsRowsWhenPublishingFails(t *testing.T) {
	st, _ := setup(t)
	add(t, st, "a", "b")
	r := New(st, failing{}, slog.New(slog.DiscardHandler), time.Hour)
	if err := r.drain(context.Background()); err == nil {
		t.Fatal("drain reported success although nothing could be published")
	}
	rows, err := st.PendingOutbox(context.Background(), 10)
	if err != nil || len(rows) != 2 {
		t.Fatalf("rows after a failed publish: %d (%v), want 2", len(rows), err)
	}
}
