package keycloak

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signoff/signoff/coordinator/bus"
	"github.com/signoff/signoff/events"
	"github.com/signoff/signoff/events/eventstest"
)

// BenchmarkBridge measures Keycloak logins published on core NATS until
// their session.joined are stored in the SIGNOFF stream of signoff's
// embedded NATS, with fsync on every write (signoff's default) and without:
//
//	go test -run '^$' -bench Bridge -benchtime 20000x ./adapters/keycloak/
//
// ns/op is per event; "first-ms" is the time one lone login takes.
func BenchmarkBridge(b *testing.B) {
	for _, sync := range []bool{true, false} {
		b.Run(fmt.Sprintf("sync_always=%t", sync), func(b *testing.B) { benchBridge(b, sync) })
	}
}

func benchBridge(b *testing.B, syncAlways bool) {
	ctx := context.Background()
	bs, err := bus.Start(ctx, bus.Config{StoreDir: b.TempDir(), SyncAlways: syncAlways})
	if err != nil {
		b.Fatal(err)
	}
	defer bs.Close()
	nc, err := bs.Connect("bench-keycloak")
	if err != nil {
		b.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		b.Fatal(err)
	}
	br, err := Start(ctx, Config{JS: js, Subject: "keycloak.event.client.>", Mapping: testMapping,
		Publisher: bus.AllPublisher{JS: js}})
	if err != nil {
		b.Fatal(err)
	}
	defer br.Stop()
	pub, err := bs.Connect("bench-listener")
	if err != nil {
		b.Fatal(err)
	}
	st, err := js.Stream(ctx, events.StreamName)
	if err != nil {
		b.Fatal(err)
	}
	stored := func() uint64 {
		info, err := st.Info(ctx)
		if err != nil {
			b.Fatal(err)
		}
		return info.State.Msgs
	}
	waitStored := func(n uint64) {
		// A fixed 2 ms interval, not the backoff: the wait is inside the
		// measured time (first-ms, events/s).
		if err := eventstest.Poll(5*time.Minute, 2*time.Millisecond, func() error {
			if got := stored(); got < n {
				return fmt.Errorf("%d of %d stored", got, n)
			}
			return nil
		}); err != nil {
			b.Fatal(err)
		}
	}
	// One lone login first: the latency of an event on an idle bridge.
	login, _ := sessionEvents(-1)
	t0 := time.Now()
	pub.Publish("keycloak.event.client.r.success.web-app.login", login)
	waitStored(1)
	first := time.Since(t0)

	msgs := make([][]byte, b.N)
	for i := range msgs {
		msgs[i], _ = sessionEvents(i)
	}
	b.ResetTimer()
	for i, m := range msgs {
		if err := pub.Publish(fmt.Sprintf("keycloak.event.client.r.success.web-app.login.%d", i%8), m); err != nil {
			b.Fatal(err)
		}
	}
	pub.Flush()
	waitStored(uint64(b.N) + 1)
	b.StopTimer()
	b.ReportMetric(float64(first.Microseconds())/1000, "first-ms")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}
