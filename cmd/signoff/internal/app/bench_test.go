package app

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"runtime/pprof"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/signoff/signoff/adapters/backchannel"
	"github.com/signoff/signoff/adapters/keys"
	"github.com/signoff/signoff/cmd/signoff/internal/config"
	"github.com/signoff/signoff/coordinator/store"
	"github.com/signoff/signoff/events"
)

// BenchmarkLogoutPath measures the whole path: logout.requested published
// on JetStream → coordinator saga in sqlite → outbox relay → back-channel
// adapter → 3 loopback RPs (answering 200) → logout.result → coordinator →
// logout.completed. It reports complete logouts per second. Sessions are
// registered before the timer starts.
//
//	go test -run '^$' -bench 'LogoutPath|Sign' -benchtime 4000x ./cmd/signoff/internal/app/
func BenchmarkLogoutPath(b *testing.B) {
	for _, alg := range []string{"ES256", "RS256"} {
		b.Run(alg, func(b *testing.B) { benchLogoutPath(b, alg) })
	}
}

// benchConfig is the configuration of the whole-path benchmarks: 3
// loopback back-channel RPs answering 200 to a token (counted in hits),
// a 5-minute deadline, sync_always unless SIGNOFF_BENCH_SYNC_ALWAYS=false.
func benchConfig(b *testing.B, alg string, hits *atomic.Int64) *config.Config {
	cfg := config.Default()
	cfg.DataDir = b.TempDir()
	cfg.Listen = "127.0.0.1:0"
	cfg.Issuer = testIssuer
	cfg.Logout.Deadline = config.Duration(5 * time.Minute)
	cfg.NATS.SyncAlways = os.Getenv("SIGNOFF_BENCH_SYNC_ALWAYS") != "false"
	for i := range 3 {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.PostFormValue("logout_token") == "" {
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			hits.Add(1)
			w.WriteHeader(http.StatusOK)
		}))
		b.Cleanup(srv.Close)
		cfg.RelyingParties = append(cfg.RelyingParties, config.RelyingParty{ID: fmt.Sprintf("rp%d", i), Name: fmt.Sprintf("RP %d", i),
			OIDC: &config.OIDC{ClientID: fmt.Sprintf("rp%d", i), BackchannelLogoutURI: srv.URL, BackchannelLogoutSessionRequired: true,
				LogoutTokenAlg: alg, LogoutTokenTyp: "logout+jwt"}})
	}
	benchTracing(b, cfg)
	if err := cfg.Validate(); err != nil {
		b.Fatal(err)
	}
	return cfg
}

// benchApp starts signoff with 3 loopback back-channel RPs answering 200
// (hits counts accepted tokens) and b.N sessions registered at all three
// directly in the store (s<i> of user u<i>).
func benchApp(b *testing.B, alg string) (*App, *atomic.Int64) {
	hits := new(atomic.Int64)
	cfg := benchConfig(b, alg, hits)
	a := startApp(b, cfg)
	// Register b.N sessions at the 3 RPs directly in the store.
	ctx := context.Background()
	const chunk = 2000
	for lo := 0; lo < b.N; lo += chunk {
		err := a.Store().Update(ctx, func(tx *store.Tx) error {
			for i := lo; i < min(lo+chunk, b.N); i++ {
				for _, rp := range cfg.RelyingParties {
					if err := tx.JoinSession(events.SessionJoined{SessionID: fmt.Sprintf("s%d", i), Subject: fmt.Sprintf("u%d", i),
						RPID: rp.ID, OccurredAt: time.Now(), OIDC: &events.OIDCSession{SID: fmt.Sprintf("%s-%d", rp.ID, i)}}); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	return a, hits
}

func benchLogoutPath(b *testing.B, alg string) {
	a, hits := benchApp(b, alg)
	payloads := make([][]byte, b.N)
	for i := range payloads {
		payloads[i], _ = events.Encode(events.LogoutRequested{EventID: uuid.NewString(), LogoutID: fmt.Sprintf("L%d", i),
			OccurredAt: time.Now().UTC(), SessionID: fmt.Sprintf("s%d", i), Initiator: events.InitiatorUser, Scope: events.ScopeGlobal})
	}
	nc, err := a.Bus().Connect("bench")
	if err != nil {
		b.Fatal(err)
	}
	var completed, complete atomic.Int64
	allDone := make(chan struct{})
	_, err = nc.Subscribe(events.SubjectLogoutCompleted, func(m *nats.Msg) {
		ev, err := events.Decode[events.Completed](m.Data)
		if err == nil && ev.Outcome == events.StatusComplete {
			complete.Add(1)
		}
		if completed.Add(1) == int64(b.N) {
			close(allDone)
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	js, _ := jetstream.New(nc)
	runtime.GC()
	resetPeakRSS()
	b.ResetTimer()
	if path := os.Getenv("SIGNOFF_BENCH_PROFILE"); path != "" {
		f, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		pprof.StartCPUProfile(f)
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	start, cpu0 := time.Now(), cpuTime()
	for _, p := range payloads {
		if _, err := js.PublishMsgAsync(&nats.Msg{Subject: events.SubjectLogoutRequested, Data: p}); err != nil {
			b.Fatal(err)
		}
	}
	select {
	case <-js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		b.Fatal("publishing did not complete")
	}
	select {
	case <-allDone:
	case <-time.After(5 * time.Minute):
		b.Fatalf("%d of %d logouts completed", completed.Load(), b.N)
	}
	elapsed, cpu := time.Since(start), cpuTime()-cpu0
	b.StopTimer()
	if complete.Load() != int64(b.N) || hits.Load() < int64(3*b.N) {
		b.Fatalf("%d complete logouts, %d tokens accepted; want %d and %d", complete.Load(), hits.Load(), b.N, 3*b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "logouts/s")
	b.ReportMetric(float64(3*b.N)/elapsed.Seconds(), "tokens/s")
	b.ReportMetric(float64(runtime.NumCPU()), "cores")
	b.ReportMetric(cpu.Seconds()/elapsed.Seconds(), "cores-busy")
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/logout")
	// Peak RSS of the process (signoff, RPs, load generator) while the
	// logouts ran (VmHWM, reset when the timer started).
	b.ReportMetric(procStatusMiB("VmHWM"), "rss-peak-MiB")
}

// cpuTime is the CPU time (user + system) this process has used: signoff,
// the RPs and the benchmark's publisher together.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSign is the pure signing rate of logout tokens on every core, in
// the same run as BenchmarkLogoutPath, as the yardstick of its token rate.
func BenchmarkSign(b *testing.B) {
	ks, err := keys.Open(b.TempDir(), true, time.Now, nil)
	if err != nil {
		b.Fatal(err)
	}
	for _, alg := range []string{"ES256", "RS256", "EdDSA"} {
		b.Run(alg, func(b *testing.B) {
			m := backchannel.NewMinter(testIssuer, ks, time.Now)
			rp := backchannel.RP{ID: "rp", ClientID: "rp", LogoutURI: "https://rp.example/bc", Alg: alg}
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := m.Mint(rp, "alice", "sid-1"); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "tokens/s")
		})
	}
}
