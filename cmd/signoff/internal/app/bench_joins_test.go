package app

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/signoff/signoff/cmd/signoff/internal/config"
	"github.com/signoff/signoff/coordinator/bus"
	"github.com/signoff/signoff/events"
	"github.com/signoff/signoff/events/eventstest"
)

// BenchmarkJoinsDuringLogouts measures how fast session.joined events are
// registered while logouts run: b.N joins published by an IdP-like client
// (asynchronously, one message each, with Nats-Msg-Id), interleaved with
// one logout.requested of an earlier user for every 20 joins, through the
// ordered intake into sqlite. It reports joins registered per second
// (until the last join is in the store) and the logouts completed meanwhile.
//
//	go test -run '^$' -bench JoinsDuringLogouts -benchtime 50000x ./cmd/signoff/internal/app/
//	SIGNOFF_BENCH_PUBLISH=batch go test -run '^$' -bench JoinsDuringLogouts -benchtime 50000x ./cmd/signoff/internal/app/
//	SIGNOFF_BENCH_SYNC_ALWAYS=false go test -run '^$' -bench JoinsDuringLogouts -benchtime 50000x ./cmd/signoff/internal/app/
func BenchmarkJoinsDuringLogouts(b *testing.B) {
	cfg := config.Default()
	cfg.DataDir = b.TempDir()
	cfg.Listen = "127.0.0.1:0"
	cfg.Issuer = testIssuer
	cfg.Logout.Deadline = config.Duration(5 * time.Minute)
	cfg.NATS.SyncAlways = os.Getenv("SIGNOFF_BENCH_SYNC_ALWAYS") != "false"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) }))
	b.Cleanup(srv.Close)
	cfg.RelyingParties = append(cfg.RelyingParties, config.RelyingParty{ID: "rp", Name: "RP",
		OIDC: &config.OIDC{ClientID: "rp", BackchannelLogoutURI: srv.URL, BackchannelLogoutSessionRequired: true,
			LogoutTokenAlg: "ES256", LogoutTokenTyp: "logout+jwt"}})
	if err := cfg.Validate(); err != nil {
		b.Fatal(err)
	}
	a := startApp(b, cfg)
	nc, err := a.Bus().Connect("bench")
	if err != nil {
		b.Fatal(err)
	}
	var completed atomic.Int64
	if _, err := nc.Subscribe(events.SubjectLogoutCompleted, func(*nats.Msg) { completed.Add(1) }); err != nil {
		b.Fatal(err)
	}
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncMaxPending(4096))
	if err != nil {
		b.Fatal(err)
	}
	// Messages are made chunk by chunk while publishing, so that a million
	// of them do not sit in this process's memory (RSS is measured).
	chunkOf := func(lo, hi int) []*nats.Msg {
		msgs := make([]*nats.Msg, 0, hi-lo+(hi-lo)/20+1)
		for i := lo; i < hi; i++ {
			id := uuid.NewString()
			p, _ := events.Encode(events.SessionJoined{EventID: id, OccurredAt: time.Now().UTC(), SessionID: fmt.Sprintf("s%d", i),
				Subject: fmt.Sprintf("u%d", i), RPID: "rp", OIDC: &events.OIDCSession{SID: fmt.Sprintf("sid%d", i)}})
			msgs = append(msgs, &nats.Msg{Subject: events.SubjectSessionJoined, Data: p, Header: nats.Header{jetstream.MsgIDHeader: {id}}})
			if i%20 == 19 {
				id := uuid.NewString()
				p, _ := events.Encode(events.LogoutRequested{EventID: id, LogoutID: fmt.Sprintf("L%d", i), OccurredAt: time.Now().UTC(),
					SessionID: fmt.Sprintf("s%d", i-10), Initiator: events.InitiatorIdP, Scope: events.ScopeGlobal})
				msgs = append(msgs, &nats.Msg{Subject: events.SubjectLogoutRequested, Data: p, Header: nats.Header{jetstream.MsgIDHeader: {id}}})
			}
		}
		return msgs
	}
	runtime.GC()
	resetPeakRSS()
	b.ResetTimer()
	start := time.Now()
	batched := os.Getenv("SIGNOFF_BENCH_PUBLISH") == "batch"
	for lo := 0; lo < b.N; lo += 2000 {
		msgs := chunkOf(lo, min(lo+2000, b.N))
		if batched { // an IdP that commits its events in atomic batches
			if err := bus.PublishAll(context.Background(), js, msgs); err != nil {
				b.Fatal(err)
			}
			continue
		}
		for _, m := range msgs {
			if _, err := js.PublishMsgAsync(m); err != nil {
				b.Fatal(err)
			}
		}
		select {
		case <-js.PublishAsyncComplete():
		case <-time.After(time.Minute):
			b.Fatal("publishing stalled")
		}
	}
	published := time.Since(start)
	last := fmt.Sprintf("s%d", b.N-1)
	eventstest.EventuallyErr(b, 5*time.Minute, func() error {
		if n, _ := a.Store().SessionCount(context.Background(), last); n == 0 {
			return fmt.Errorf("last join not registered (intake %+v)", a.engine.Stats())
		}
		return nil
	})
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "joins/s")
	b.ReportMetric(float64(b.N)/published.Seconds(), "joins-acked/s")
	b.ReportMetric(float64(completed.Load()), "logouts-completed")
	st := a.engine.Stats()
	b.ReportMetric(float64(st.Events)/float64(max(st.Batches, 1)), "events/batch")
	b.ReportMetric(procStatusMiB("VmHWM"), "rss-peak-MiB")
	runtime.GC()
	b.ReportMetric(procStatusMiB("VmRSS"), "rss-end-MiB")
	bs := bus.BatchCounters()
	b.Logf("atomic batches: %+v", bs)
}
