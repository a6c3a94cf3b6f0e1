package app

import (
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/signoff/signoff/events"
)

// BenchmarkBrowserPath measures the browser path as a load generator
// drives it: 16 closed-loop workers, each GET /logout with the IdP session
// cookie, following the 303 to the progress page (which also confirms the
// local session cookie), then the next user; the timer stops when every
// saga has completed. 3 loopback back-channel RPs answer 200.
//
//	go test -run '^$' -bench 'BrowserPath' -benchtime 3000x ./cmd/signoff/internal/app/
func BenchmarkBrowserPath(b *testing.B) {
	for _, alg := range []string{"ES256", "RS256"} {
		b.Run(alg, func(b *testing.B) { benchBrowserPath(b, alg) })
	}
}

func benchBrowserPath(b *testing.B, alg string) {
	a, hits := benchApp(b, alg)
	nc, err := a.Bus().Connect("bench")
	if err != nil {
		b.Fatal(err)
	}
	var completed, complete atomic.Int64
	allDone := make(chan struct{})
	if _, err := nc.Subscribe(events.SubjectLogoutCompleted, func(m *nats.Msg) {
		ev, err := events.Decode[events.Completed](m.Data)
		if err == nil && ev.Outcome == events.StatusComplete {
			complete.Add(1)
		}
		if completed.Add(1) == int64(b.N) {
			close(allDone)
		}
	}); err != nil {
		b.Fatal(err)
	}
	base := "http://" + a.Addr()
	u, _ := url.Parse(base)
	transport := &http.Transport{MaxIdleConnsPerHost: 64}
	b.Cleanup(transport.CloseIdleConnections)
	next := atomic.Int64{}
	var failures atomic.Int64
	var firstErr atomic.Value
	runtime.GC()
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				jar, _ := cookiejar.New(nil)
				jar.SetCookies(u, []*http.Cookie{{Name: "signoff_session", Value: fmt.Sprintf("s%d", i), Path: "/"}})
				c := &http.Client{Jar: jar, Transport: transport, Timeout: time.Minute}
				resp, err := c.Get(base + "/logout")
				if err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Request.URL.Path, "/logout/") {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("%d at %s", resp.StatusCode, resp.Request.URL.Path))
					continue
				}
				// The page's explicit step that confirms the local session
				// (its script posts it; reading the page confirms nothing).
				resp, err = c.Post(base+resp.Request.URL.Path+"/confirm", "", nil)
				if err != nil {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusNoContent {
					failures.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("confirm: %d", resp.StatusCode))
				}
			}
		})
	}
	wg.Wait()
	if n := failures.Load(); n > 0 {
		b.Fatalf("%d requests failed, first: %v", n, firstErr.Load())
	}
	select {
	case <-allDone:
	case <-time.After(5 * time.Minute):
		b.Fatalf("%d of %d logouts completed", completed.Load(), b.N)
	}
	elapsed, cpu := time.Since(start), cpuTime()-cpu0
	b.StopTimer()
	if hits.Load() < int64(3*b.N) {
		b.Fatalf("%d tokens accepted; want %d", hits.Load(), 3*b.N)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "logouts/s")
	b.ReportMetric(float64(complete.Load())/float64(b.N), "complete-ratio")
	b.ReportMetric(cpu.Seconds()/elapsed.Seconds(), "cores-busy")
	b.ReportMetric(float64(cpu.Microseconds())/1000/float64(b.N), "cpu-ms/logout")
}
