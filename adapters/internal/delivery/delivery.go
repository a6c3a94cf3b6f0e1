// Package delivery holds what the server-to-server adapters (OIDC
// back-channel, SAML SOAP) share: a bounded pool of deliveries with
// backpressure and duplicate suppression, and the helpers of their retry
// loops (backoff jitter, Retry-After, safe error details). It is not an
// adapter; adapters import it, never each other.
package delivery

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/signoff/signoff/events"
)

// ErrClosed is returned by Pool.Go after Close.
var ErrClosed = errors.New("adapter closed")

// Pool runs deliveries in their own goroutines, at most a fixed number at
// once.
type Pool struct {
	sem     chan struct{}
	mu      sync.Mutex
	closed  bool
	closing chan struct{}
	keys    map[string]struct{} // keys in progress
	wg      sync.WaitGroup
	running atomic.Int64
	freed   chan struct{}
}

// NewPool returns a pool of at most n concurrent deliveries.
func NewPool(n int) *Pool {
	return &Pool{sem: make(chan struct{}, n), closing: make(chan struct{}), keys: map[string]struct{}{}, freed: make(chan struct{}, 1)}
}

// Go runs f in its own goroutine once a slot is free: it blocks while n
// deliveries are in progress (backpressure) and returns ctx.Err() if ctx
// ends first, or ErrClosed after Close. A non-empty key that is already in
// progress is not started again: Go returns false and no error.
func (p *Pool) Go(ctx context.Context, key string, f func()) (bool, error) {
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return false, ctx.Err()
	case <-p.closing:
		return false, ErrClosed
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-p.sem
		return false, ErrClosed
	}
	if key != "" {
		if _, dup := p.keys[key]; dup {
			p.mu.Unlock()
			<-p.sem
			return false, nil
		}
		p.keys[key] = struct{}{}
	}
	p.wg.Add(1)
	p.mu.Unlock()
	p.running.Add(1)
	go func() {
		defer func() {
			p.mu.Lock()
			delete(p.keys, key)
			p.mu.Unlock()
			p.running.Add(-1)
			<-p.sem
			select {
			case p.freed <- struct{}{}:
			default:
			}
			p.wg.Done()
		}()
		f()
	}()
	return true, nil
}

// Close stops accepting deliveries and waits for those in progress until
// ctx ends (then it returns ctx.Err()).
func (p *Pool) Close(ctx context.Context) error {
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		close(p.closing)
	}
	p.mu.Unlock()
	done := make(chan struct{})
	go func() { p.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Free is the number of deliveries Go can start now without waiting.
func (p *Pool) Free() int { return cap(p.sem) - len(p.sem) }

// Freed is signalled (at most one pending signal) when a delivery ends.
func (p *Pool) Freed() <-chan struct{} { return p.freed }

// InFlight is the number of deliveries in progress.
func (p *Pool) InFlight() int64 { return p.running.Load() }

// MaxDetail bounds the outside text (a response body, an error) kept in a
// result's detail.
const MaxDetail = 200

// MaxDrain is the most bytes read from a response body so that its
// connection can be reused.
const MaxDrain = 64 << 10

// NetworkDetail describes a failed round trip without the URL, which may
// carry credentials in its query: ctx is the delivery's (its deadline),
// actx the attempt's.
func NetworkDetail(ctx, actx context.Context, err error, attemptTimeout time.Duration) string {
	switch {
	case ctx.Err() != nil:
		return "no response before the logout deadline"
	case actx.Err() != nil:
		return "no response within " + attemptTimeout.String()
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return Sanitize(err.Error())
}

// RetryAfter parses a Retry-After header (delay-seconds or HTTP-date,
// RFC 9110 section 10.2.3); 0 when absent or invalid.
func RetryAfter(resp *http.Response) time.Duration {
	v := strings.TrimSpace(resp.Header.Get("Retry-After"))
	if v == "" {
		return 0
	}
	if secs, err := strconv.Atoi(v); err == nil {
		if secs <= 0 {
			return 0
		}
		return time.Duration(min(secs, 86400)) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

// Sanitize makes outside text safe for a detail: valid UTF-8, no control
// characters, runs of white space collapsed, at most MaxDetail bytes.
func Sanitize(s string) string {
	if len(s) > MaxDetail {
		s = s[:MaxDetail]
	}
	s = strings.ToValidUTF8(s, "")
	var b strings.Builder
	space := false
	for _, r := range s {
		if unicode.IsSpace(r) || unicode.IsControl(r) || r == utf8.RuneError || !unicode.IsPrint(r) {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	return b.String()
}

// Jitter returns a random duration in [d/2, d).
func Jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2)
}

// Sleep waits d or until ctx ends; it reports whether d elapsed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Backoff between attempts: a random wait in [b/2, b), with b starting at
// BackoffInitial and multiplied by BackoffFactor after every retry up to
// BackoffMax. A Retry-After that is longer and ends before the deadline is
// honoured instead.
const (
	BackoffInitial = 100 * time.Millisecond
	BackoffFactor  = 2
	BackoffMax     = 2 * time.Second
)

// Verdict classifies one attempt.
type Verdict int

// Verdicts of an attempt.
const (
	Accepted  Verdict = iota // confirmed: the participant is signed out
	Final                    // fails for good, not retried
	Retryable                // network error, timeout, 408, 429, 5xx
)

// Attempt is the outcome of one attempt.
type Attempt struct {
	Verdict Verdict
	Detail  string
	// RetryAfter is the server's Retry-After, 0 when absent.
	RetryAfter time.Duration
	// NotSent marks a failure before anything was sent (it is not
	// counted as an attempt).
	NotSent bool
}

// Outcome is the end of a Retry loop.
// DetailLate is the detail of a timed_out result for a dispatch that
// reached its adapter after the logout deadline: nothing was sent. It is
// not a delivery that timed out (the coordinator's deadline sweep times the
// participant out in any case), so adapters count it apart and log it at
// INFO, not as a failed delivery.
const DetailLate = "deadline passed before the first attempt"

type Outcome struct {
	// Outcome is events.OutcomeSucceeded, OutcomeFailed or OutcomeTimedOut.
	Outcome  events.Outcome
	Detail   string
	Attempts int
	// Aborted is true when stop ended first: there is no outcome.
	Aborted bool
}

// Retry calls attempt until it is accepted or fails for good, retrying the
// retryable ones with backoff until ctx's deadline (then timed_out, with
// the last error), or until stop ends (aborted: the adapter shuts down and
// the coordinator resumes the participant later). retrying, when not nil,
// hears of every retry.
func Retry(ctx, stop context.Context, attempt func() Attempt, retrying func(n int, detail string, wait time.Duration)) Outcome {
	var (
		out     Outcome
		lastErr string
		b       = BackoffInitial
	)
	timedOut := func() Outcome {
		out.Outcome = events.OutcomeTimedOut
		out.Detail = fmt.Sprintf("no confirmation before the deadline after %d attempt(s); last error: %s", out.Attempts, lastErr)
		return out
	}
	for {
		r := attempt()
		if !r.NotSent {
			out.Attempts++
		}
		switch r.Verdict {
		case Accepted:
			out.Outcome, out.Detail = events.OutcomeSucceeded, r.Detail
			return out
		case Final:
			out.Outcome, out.Detail = events.OutcomeFailed, r.Detail
			return out
		}
		if stop.Err() != nil {
			out.Aborted = true
			return out
		}
		if ctx.Err() == nil || lastErr == "" {
			// An attempt cut short by the logout deadline says less than
			// the one before it.
			lastErr = r.Detail
		}
		wait := Jitter(b)
		b = min(b*BackoffFactor, BackoffMax)
		dl, _ := ctx.Deadline()
		left := time.Until(dl)
		if r.RetryAfter > wait && r.RetryAfter < left {
			wait = r.RetryAfter
		}
		if ctx.Err() != nil || wait >= left {
			return timedOut()
		}
		if retrying != nil {
			retrying(out.Attempts, r.Detail, wait)
		}
		if !Sleep(ctx, wait) {
			if stop.Err() != nil {
				out.Aborted = true
				return out
			}
			return timedOut()
		}
	}
}

// Publish calls publish (each call bounded by 10 s) until it succeeds or
// stop ends, with backoff from BackoffInitial doubling up to 5 s; failed
// hears of every failure and whether publishing will be tried again. It
// reports whether publish succeeded.
func Publish(stop context.Context, publish func(ctx context.Context) error, failed func(attempt int, err error, retrying bool)) bool {
	b := BackoffInitial
	for attempt := 1; ; attempt++ {
		ctx, cancel := context.WithTimeout(stop, 10*time.Second)
		err := publish(ctx)
		cancel()
		if err == nil {
			return true
		}
		retrying := stop.Err() == nil
		failed(attempt, err, retrying)
		if !retrying || !Sleep(stop, Jitter(b)) {
			return false
		}
		b = min(b*2, 5*time.Second)
	}
}

// Combine folds the outcomes of one participant's messages (one per
// session) into its outcome: succeeded only when every one was confirmed;
// failed when one failed for good, or when some session could not be
// addressed at all (unaddressable is then its detail); timed_out
// otherwise. noun names a message in details ("token 2 of 3: …"); allOK is
// the detail when several were all confirmed.
func Combine(outs []Outcome, noun, unaddressable, allOK string) (outcome events.Outcome, detail string) {
	n := len(outs)
	label := func(i int, s string) string {
		if n == 1 {
			return s
		}
		return fmt.Sprintf("%s %d of %d: %s", noun, i+1, n, s)
	}
	for i, o := range outs {
		if o.Outcome == events.OutcomeFailed {
			return events.OutcomeFailed, label(i, o.Detail)
		}
	}
	if unaddressable != "" {
		return events.OutcomeFailed, unaddressable
	}
	for i, o := range outs {
		if o.Outcome == events.OutcomeTimedOut {
			return events.OutcomeTimedOut, label(i, o.Detail)
		}
	}
	if n == 1 {
		return events.OutcomeSucceeded, outs[0].Detail
	}
	return events.OutcomeSucceeded, allOK
}
