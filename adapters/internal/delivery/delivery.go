// Package delivery holds what the server-to-server adapters (OIDC
// back-channel, SAML SOAP) share: a bounded pool of deliveries with
// backpressure and duplicate suppression, and the helpers of their retry
// loops (backoff jitter, Retry-After, safe error details). It is not an
// adapter; adapters import it, never each other.
package delivery

import (
	"context"
	"errors"
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
}

// NewPool returns a pool of at most n concurrent deliveries.
func NewPool(n int) *Pool {
	return &Pool{sem: make(chan struct{}, n), closing: make(chan struct{}), keys: map[string]struct{}{}}
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

// InFlight is the number of deliveries in progress.
func (p *Pool) InFlight() int64 { return p.running.Load() }

// MaxDetail bounds the outside text (a response body, an error) kept in a
// result's detail.
const MaxDetail = 200

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
