// Package conformance is the suite every adapter of signoff passes, run by
// each adapter's tests against its real implementation (as dex's
// storage/conformance is run against every storage):
//
//   - Dispatchers (back-channel, SAML SOAP, Shared Signals): one result per
//     dispatch; idempotent on event_id (the same dispatch again while it is
//     delivered starts no second delivery); a logout deadline that passes
//     ends the participant timed_out; details are sanitised (bounded, valid
//     UTF-8, no control characters, no endpoint URL); Close returns, ends
//     Handle, and leaves no goroutine behind.
//   - Browser steps (front-channel): one result per acknowledgement, a
//     forged token refused with nothing published, details sanitised.
//
// The event contract is in the README, "Event contract" (logout.result:
// exactly one per dispatched participant, from its adapter).
package conformance

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/signoff/signoff/events"
)

// MaxDetail bounds a result's detail (the adapters keep at most 200 bytes
// of outside text, behind a sentence of their own).
const MaxDetail = 512

// Dispatcher is an adapter that takes dispatches (the app's port).
type Dispatcher interface {
	Handle(ctx context.Context, d events.Dispatch) error
	Free() int
	Freed() <-chan struct{}
	Close(ctx context.Context) error
}

// Recorder is the ResultPublisher the suite gives the adapter: it keeps
// every result.
type Recorder struct {
	mu      sync.Mutex
	results []events.Result
	changed chan struct{}
}

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder { return &Recorder{changed: make(chan struct{})} }

// PublishResult records r.
func (r *Recorder) PublishResult(_ context.Context, res events.Result) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.results = append(r.results, res)
	close(r.changed)
	r.changed = make(chan struct{})
	return nil
}

// Results are the results recorded so far.
func (r *Recorder) Results() []events.Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]events.Result(nil), r.results...)
}

// Wait returns once n results are recorded, or fails t after timeout.
func (r *Recorder) Wait(t testing.TB, n int, timeout time.Duration) []events.Result {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		got, ch := len(r.results), r.changed
		r.mu.Unlock()
		if got >= n {
			return r.Results()
		}
		select {
		case <-ch:
		case <-deadline.C:
			t.Fatalf("%d results after %v, want %d: %+v", got, timeout, n, r.Results())
		}
	}
}

// Mode is how the relying party's endpoint answers.
type Mode int

const (
	// Answer lets the adapter's own RP answer (a success).
	Answer Mode = iota
	// Hang holds every request until the request ends or Release.
	Hang
	// Refuse answers 400 with a hostile body: 64 KiB of text with control
	// characters, invalid UTF-8 and the words of a stack trace.
	Refuse
)

// Endpoint is the suite's control over a relying party's endpoint: the
// factory wraps its RP's handler with Wrap; the suite counts the
// requests, and makes them hang or fail.
type Endpoint struct {
	mu       sync.Mutex
	mode     Mode
	requests int
	release  chan struct{}
	arrived  chan struct{}
	// URL is set by the factory: the endpoint's address, which no detail
	// may show.
	URL string
}

func newEndpoint() *Endpoint {
	return &Endpoint{release: make(chan struct{}), arrived: make(chan struct{}, 64)}
}

// Wrap is the middleware of the RP endpoint.
func (e *Endpoint) Wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		e.requests++
		mode, release := e.mode, e.release
		e.mu.Unlock()
		select {
		case e.arrived <- struct{}{}:
		default:
		}
		// Read the body first: the server notices a client that gave up
		// only once the body is read; the RP's answer reads it again.
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		r.Body = io.NopCloser(bytes.NewReader(body))
		switch mode {
		case Hang:
			select {
			case <-r.Context().Done():
			case <-release:
			}
			if r.Context().Err() == nil {
				next.ServeHTTP(w, r)
			}
		case Refuse:
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(http.StatusBadRequest)
			body := "panic: runtime error\x00\x1b[31m\r\n\tgoroutine 1 [running]:\xff\xfe " + strings.Repeat("internal detail ", 4096)
			w.Write([]byte(body))
		default:
			next.ServeHTTP(w, r)
		}
	})
}

func (e *Endpoint) set(m Mode) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.mode = m
}

// Release lets the hanging requests through (to the RP's answer).
func (e *Endpoint) Release() {
	e.mu.Lock()
	defer e.mu.Unlock()
	close(e.release)
	e.release = make(chan struct{})
	e.mode = Answer
}

// Requests is the number of requests the endpoint received.
func (e *Endpoint) Requests() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.requests
}

func (e *Endpoint) waitArrival(t testing.TB, timeout time.Duration) {
	t.Helper()
	select {
	case <-e.arrived:
	case <-time.After(timeout):
		t.Fatalf("no request reached the endpoint within %v", timeout)
	}
}

// Subject is a Dispatcher adapter under test.
type Subject struct {
	// Adapter is the adapter, publishing to the suite's Recorder.
	Adapter Dispatcher
	// Name is its adapter name (the adapter field of its results).
	Name events.Adapter
	// Dispatch is a dispatch of the one relying party whose endpoint the
	// suite controls; the suite sets event_id, logout_id and deadline.
	Dispatch events.Dispatch
}

// Factory builds a fresh adapter with one relying party whose endpoint
// handler is wrapped with ep.Wrap (and sets ep.URL), publishing to pub,
// with the clock time.Now and an attempt timeout of at most 250 ms. The
// factory stops its servers with t.Cleanup.
type Factory func(t *testing.T, ep *Endpoint, pub *Recorder) Subject

// Run runs the Dispatcher suite against the adapters factory builds.
func Run(t *testing.T, factory Factory) {
	t.Run("OneResultPerDispatch", func(t *testing.T) { oneResultPerDispatch(t, factory) })
	t.Run("IdempotentOnEventID", func(t *testing.T) { idempotent(t, factory) })
	t.Run("DeadlineTimedOut", func(t *testing.T) { deadlineTimedOut(t, factory) })
	t.Run("LateDispatchSendsNothing", func(t *testing.T) { late(t, factory) })
	t.Run("DetailSanitised", func(t *testing.T) { sanitised(t, factory) })
	t.Run("CloseAbortsAndReturns", func(t *testing.T) { closeAborts(t, factory) })
	t.Run("NoGoroutineLeft", func(t *testing.T) { noGoroutineLeft(t, factory) })
}

var seq struct {
	mu sync.Mutex
	n  int
}

// dispatch is s's dispatch with fresh ids and a deadline in d.
func dispatch(s Subject, d time.Duration) events.Dispatch {
	seq.mu.Lock()
	seq.n++
	n := seq.n
	seq.mu.Unlock()
	disp := s.Dispatch
	disp.EventID = fmt.Sprintf("c0000000-0000-4000-8000-%012d", n)
	disp.LogoutID = fmt.Sprintf("c1000000-0000-4000-8000-%012d", n)
	disp.OccurredAt = time.Now().UTC()
	disp.Deadline = time.Now().Add(d).UTC()
	disp.Adapter = s.Name
	return disp
}

func build(t *testing.T, factory Factory) (Subject, *Endpoint, *Recorder) {
	t.Helper()
	ep, pub := newEndpoint(), NewRecorder()
	s := factory(t, ep, pub)
	t.Cleanup(ep.Release) // before the factory's servers close
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Adapter.Close(ctx)
	})
	return s, ep, pub
}

func handle(t *testing.T, s Subject, d events.Dispatch) {
	t.Helper()
	if err := s.Adapter.Handle(context.Background(), d); err != nil {
		t.Fatalf("Handle: %v", err)
	}
}

func closeNow(t *testing.T, s Subject) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Adapter.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// checkResult asserts what every result says of its dispatch.
func checkResult(t *testing.T, s Subject, r events.Result, d events.Dispatch) {
	t.Helper()
	if r.LogoutID != d.LogoutID || r.RPID != d.RPID || r.Adapter != s.Name || r.EventID == "" || r.FinishedAt.IsZero() {
		t.Errorf("result %+v does not answer dispatch %+v", r, d)
	}
	if _, err := events.Encode(r); err != nil {
		t.Errorf("result %+v is not a valid logout.result: %v", r, err)
	}
	checkDetail(t, r.Detail, "")
}

// checkDetail asserts that detail is sanitised and does not show url.
func checkDetail(t *testing.T, detail, url string) {
	t.Helper()
	if len(detail) > MaxDetail {
		t.Errorf("detail of %d bytes, want at most %d: %q", len(detail), MaxDetail, detail)
	}
	if !utf8.ValidString(detail) {
		t.Errorf("detail is not valid UTF-8: %q", detail)
	}
	for _, r := range detail {
		if unicode.IsControl(r) {
			t.Errorf("detail has control character %U: %q", r, detail)
			break
		}
	}
	if url != "" && strings.Contains(detail, strings.TrimPrefix(url, "http://")) {
		t.Errorf("detail shows the endpoint's address %s: %q", url, detail)
	}
}

// oneResultPerDispatch: three participants, three results, one delivery
// each; nothing more once Close returned.
func oneResultPerDispatch(t *testing.T, factory Factory) {
	s, ep, pub := build(t, factory)
	var ds []events.Dispatch
	for range 3 {
		d := dispatch(s, 30*time.Second)
		ds = append(ds, d)
		handle(t, s, d)
	}
	got := pub.Wait(t, 3, 20*time.Second)
	closeNow(t, s)
	if n := len(pub.Results()); n != 3 {
		t.Fatalf("%d results after Close, want 3", n)
	}
	byLogout := map[string]events.Result{}
	for _, r := range got {
		if _, dup := byLogout[r.LogoutID]; dup {
			t.Errorf("two results for logout %s", r.LogoutID)
		}
		byLogout[r.LogoutID] = r
	}
	for _, d := range ds {
		r, ok := byLogout[d.LogoutID]
		if !ok {
			t.Errorf("no result for %s", d.LogoutID)
			continue
		}
		checkResult(t, s, r, d)
		if r.Outcome != events.OutcomeSucceeded {
			t.Errorf("outcome %s (%s), want succeeded", r.Outcome, r.Detail)
		}
	}
	if n := ep.Requests(); n != 3 {
		t.Errorf("the endpoint got %d requests, want 3", n)
	}
}

// idempotent: the same dispatch (same event_id) handed again while its
// delivery runs starts no second delivery and publishes no second result.
// (A dispatch redelivered after its result is dropped before the adapter,
// by the app: its participant is no longer pending.)
func idempotent(t *testing.T, factory Factory) {
	s, ep, pub := build(t, factory)
	ep.set(Hang)
	d := dispatch(s, 30*time.Second)
	handle(t, s, d)
	ep.waitArrival(t, 10*time.Second)
	handle(t, s, d)
	handle(t, s, d)
	ep.Release()
	got := pub.Wait(t, 1, 20*time.Second)
	closeNow(t, s)
	if n := len(pub.Results()); n != 1 {
		t.Fatalf("%d results for one dispatch handed three times, want 1: %+v", n, pub.Results())
	}
	checkResult(t, s, got[0], d)
	if got[0].Outcome != events.OutcomeSucceeded {
		t.Errorf("outcome %s (%s), want succeeded", got[0].Outcome, got[0].Detail)
	}
	if n := ep.Requests(); n != 1 {
		t.Errorf("the endpoint got %d requests, want 1", n)
	}
}

// deadlineTimedOut: an RP that never answers ends timed_out once the
// logout deadline passes.
func deadlineTimedOut(t *testing.T, factory Factory) {
	s, ep, pub := build(t, factory)
	ep.set(Hang)
	d := dispatch(s, 1500*time.Millisecond)
	handle(t, s, d)
	got := pub.Wait(t, 1, 20*time.Second)
	closeNow(t, s)
	checkResult(t, s, got[0], d)
	if got[0].Outcome != events.OutcomeTimedOut {
		t.Errorf("outcome %s (%s), want timed_out", got[0].Outcome, got[0].Detail)
	}
	if ep.Requests() == 0 {
		t.Error("nothing was sent before the deadline")
	}
	checkDetail(t, got[0].Detail, ep.URL)
}

// late: a dispatch whose deadline has passed is timed_out at once and
// sends nothing.
func late(t *testing.T, factory Factory) {
	s, ep, pub := build(t, factory)
	d := dispatch(s, -time.Second)
	handle(t, s, d)
	got := pub.Wait(t, 1, 10*time.Second)
	closeNow(t, s)
	checkResult(t, s, got[0], d)
	if got[0].Outcome != events.OutcomeTimedOut {
		t.Errorf("outcome %s (%s), want timed_out", got[0].Outcome, got[0].Detail)
	}
	if n := ep.Requests(); n != 0 {
		t.Errorf("the endpoint got %d requests for a late dispatch, want 0", n)
	}
}

// sanitised: a hostile answer is not copied into the detail as is.
func sanitised(t *testing.T, factory Factory) {
	s, ep, pub := build(t, factory)
	ep.set(Refuse)
	d := dispatch(s, 3*time.Second)
	handle(t, s, d)
	got := pub.Wait(t, 1, 20*time.Second)
	closeNow(t, s)
	checkResult(t, s, got[0], d)
	if got[0].Outcome == events.OutcomeSucceeded {
		t.Errorf("a 400 answer succeeded: %+v", got[0])
	}
	if got[0].Detail == "" {
		t.Error("a failure without a detail")
	}
	checkDetail(t, got[0].Detail, ep.URL)
}

// closeAborts: Close with a delivery hanging returns once its context
// ends, publishes nothing for the aborted delivery (the coordinator
// resumes it), and Handle is refused afterwards.
func closeAborts(t *testing.T, factory Factory) {
	s, ep, pub := build(t, factory)
	ep.set(Hang)
	handle(t, s, dispatch(s, 30*time.Second))
	ep.waitArrival(t, 10*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Adapter.Close(ctx) }()
	select {
	case err := <-done:
		if err == nil {
			t.Error("Close with a delivery hanging returned nil, want its context's error")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return after its context ended")
	}
	if err := s.Adapter.Handle(context.Background(), dispatch(s, 30*time.Second)); err == nil {
		t.Error("Handle after Close accepted a dispatch")
	}
	if n := len(pub.Results()); n != 0 {
		t.Errorf("%d results for an aborted delivery, want none: %+v", n, pub.Results())
	}
	ep.Release()
}

// noGoroutineLeft: once Close returned and the RP's server stopped, the
// goroutines of the adapter (deliveries, pools, publishers, idle
// connections) are gone.
func noGoroutineLeft(t *testing.T, factory Factory) {
	before := runtime.NumGoroutine()
	t.Run("deliver", func(t *testing.T) {
		s, _, pub := build(t, factory)
		handle(t, s, dispatch(s, 30*time.Second))
		pub.Wait(t, 1, 20*time.Second)
		closeNow(t, s)
	})
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines after Close, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}
