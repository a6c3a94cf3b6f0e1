package app

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/signoff/signoff/cmd/signoff/internal/config"
	"github.com/signoff/signoff/coordinator/store"
	"github.com/signoff/signoff/events"
	"github.com/signoff/signoff/events/eventstest"
)

// procStatusMiB reads a field of /proc/self/status (VmRSS, VmHWM) in MiB;
// 0 where there is no procfs.
func procStatusMiB(field string) float64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || name != field {
			continue
		}
		kib, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
		return kib / 1024
	}
	return 0
}

// resetPeakRSS starts VmHWM afresh from the current RSS (Linux ≥ 4.0).
func resetPeakRSS() { os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// heapInuseAfterGC is the live heap, in MiB, after a full collection.
func heapInuseAfterGC() float64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return float64(ms.HeapInuse) / (1 << 20)
}

// benchRig is the app of the benchmarks with 3 loopback RPs answering 200.
type benchRig struct {
	b    *testing.B
	a    *App
	cfg  *config.Config
	hits atomic.Int64
	js   jetstream.JetStream
	done atomic.Int64 // logout.completed received
	full atomic.Int64 // of which complete
}

func newBenchRig(b *testing.B, alg string) *benchRig {
	r := &benchRig{b: b}
	cfg := benchConfig(b, alg, &r.hits)
	r.cfg = cfg
	r.a = startApp(b, cfg)
	nc, err := r.a.Bus().Connect("bench")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(nc.Close)
	if _, err := nc.Subscribe(events.SubjectLogoutCompleted, func(m *nats.Msg) {
		ev, err := events.Decode[events.Completed](m.Data)
		if err == nil && ev.Outcome == events.StatusComplete {
			r.full.Add(1)
		}
		r.done.Add(1)
	}); err != nil {
		b.Fatal(err)
	}
	r.js, _ = jetstream.New(nc)
	return r
}

// register joins IdP sessions s<lo>…s<hi-1> at rps of the RPs each,
// directly in the store, 2,000 sessions per transaction.
func (r *benchRig) register(lo, hi, rps int) {
	const chunk = 2000
	for c := lo; c < hi; c += chunk {
		err := r.a.Store().Update(context.Background(), func(tx *store.Tx) error {
			for i := c; i < min(c+chunk, hi); i++ {
				for k := range rps {
					rp := r.cfg.RelyingParties[(i+k)%len(r.cfg.RelyingParties)]
					if err := tx.JoinSession(events.SessionJoined{SessionID: fmt.Sprintf("s%d", i), Subject: fmt.Sprintf("u%d", i),
						RPID: rp.ID, OccurredAt: time.Now(), OIDC: &events.OIDCSession{SID: fmt.Sprintf("%s-%d", rp.ID, i)}}); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			r.b.Fatal(err)
		}
	}
}

// logout signs sessions s<lo>…s<hi-1> out and waits until all completed.
func (r *benchRig) logout(lo, hi int) {
	want := r.done.Load() + int64(hi-lo)
	for i := lo; i < hi; i++ {
		p, _ := events.Encode(events.LogoutRequested{EventID: uuid.NewString(), LogoutID: fmt.Sprintf("L%d", i),
			OccurredAt: time.Now().UTC(), SessionID: fmt.Sprintf("s%d", i), Initiator: events.InitiatorUser, Scope: events.ScopeGlobal})
		if _, err := r.js.PublishMsgAsync(&nats.Msg{Subject: events.SubjectLogoutRequested, Data: p}); err != nil {
			r.b.Fatal(err)
		}
	}
	select {
	case <-r.js.PublishAsyncComplete():
	case <-time.After(time.Minute):
		r.b.Fatal("publishing did not complete")
	}
	// A fixed 10 ms interval, not the backoff: the wait is inside the
	// measured time.
	if err := eventstest.Poll(5*time.Minute, 10*time.Millisecond, func() error {
		if n := r.done.Load(); n < want {
			return fmt.Errorf("%d of %d logouts completed", n, want)
		}
		return nil
	}); err != nil {
		r.b.Fatal(err)
	}
}

// BenchmarkLogoutMemory runs b.N logouts (3 RPs answering 200, ES256)
// through the in-process app in rounds of 10,000, registering each round's
// sessions just before it, and samples the live heap after a full GC and
// the RSS after each round. Memory that grows with logouts shows as
// heap-end above heap-start; the per-round samples are logged (-v).
//
//	SIGNOFF_BENCH_SYNC_ALWAYS=false go test -run '^$' -bench LogoutMemory -benchtime 100000x -v ./cmd/signoff/internal/app/
func BenchmarkLogoutMemory(b *testing.B) {
	r := newBenchRig(b, "ES256")
	const round = 10000
	// A first round warms every pool, cache and buffer up.
	warm := min(round, b.N)
	r.register(0, warm, 3)
	r.logout(0, warm)
	heap0, rss0 := heapInuseAfterGC(), procStatusMiB("VmRSS")
	resetPeakRSS()
	b.Logf("after %7d warm-up logouts: heap in use %.1f MiB, RSS %.1f MiB", warm, heap0, rss0)
	b.ResetTimer()
	start := time.Now()
	for lo := warm; lo < warm+b.N; lo += round {
		hi := min(lo+round, warm+b.N)
		b.StopTimer()
		r.register(lo, hi, 3)
		b.StartTimer()
		r.logout(lo, hi)
		b.StopTimer()
		b.Logf("after %7d logouts: heap in use %.1f MiB, RSS %.1f MiB", hi-warm, heapInuseAfterGC(), procStatusMiB("VmRSS"))
		b.StartTimer()
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if r.full.Load() != int64(b.N+warm) {
		b.Fatalf("%d complete logouts, want %d", r.full.Load(), b.N+warm)
	}
	if path := os.Getenv("SIGNOFF_BENCH_HEAPPROFILE"); path != "" {
		// The live heap with the app still running (-memprofile is
		// written after it stopped).
		runtime.GC()
		if f, err := os.Create(path); err == nil {
			pprof.WriteHeapProfile(f)
			f.Close()
		}
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "logouts/s")
	b.ReportMetric(heap0, "heap-start-MiB")
	b.ReportMetric(heapInuseAfterGC(), "heap-end-MiB")
	b.ReportMetric(rss0, "rss-start-MiB")
	b.ReportMetric(procStatusMiB("VmRSS"), "rss-end-MiB")
	b.ReportMetric(procStatusMiB("VmHWM"), "rss-peak-MiB")
}

// BenchmarkSessions registers SIGNOFF_BENCH_SESSIONS RP sessions (default
// 1,000,000: one IdP session at one of the 3 RPs each) in the running
// app's store, as 1,000,000 session.joined would, and reports the RSS and
// the live heap with all of them registered. b.N is ignored (-benchtime 1x).
//
//	go test -run '^$' -bench Sessions -benchtime 1x ./cmd/signoff/internal/app/
func BenchmarkSessions(b *testing.B) {
	n := 1_000_000
	if v, err := strconv.Atoi(os.Getenv("SIGNOFF_BENCH_SESSIONS")); err == nil && v > 0 {
		n = v
	}
	r := newBenchRig(b, "ES256")
	heap0, rss0 := heapInuseAfterGC(), procStatusMiB("VmRSS")
	resetPeakRSS()
	b.ResetTimer()
	start := time.Now()
	r.register(0, n, 1)
	elapsed := time.Since(start)
	b.StopTimer()
	if got, err := r.a.Store().SessionCount(context.Background(), ""); err != nil || got != n {
		b.Fatalf("%d sessions registered (%v), want %d", got, err, n)
	}
	// One logout with all of them registered: the app still works.
	r.register(n, n+1, 3)
	r.logout(n, n+1)
	b.ReportMetric(float64(n), "sessions")
	b.ReportMetric(float64(n)/elapsed.Seconds(), "sessions/s")
	b.ReportMetric(heap0, "heap-start-MiB")
	b.ReportMetric(heapInuseAfterGC(), "heap-end-MiB")
	b.ReportMetric(rss0, "rss-start-MiB")
	b.ReportMetric(procStatusMiB("VmRSS"), "rss-end-MiB")
	b.ReportMetric(procStatusMiB("VmHWM"), "rss-peak-MiB")
}
