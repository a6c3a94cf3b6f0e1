package delivery

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestSanitize(t *testing.T) {
	cases := map[string]string{
		"plain":                   "plain",
		"  a\r\n\tb  ":            "a b",
		"x\x00y\x1b[0m":           "x y [0m",
		"bad\xffutf8":             "badutf8",
		"é ok":                    "é ok",
		strings.Repeat("a", 300):  strings.Repeat("a", 200),
		strings.Repeat("é", 150):  strings.Repeat("é", 100),
		"\u202eevil\u200b hidden": "evil hidden",
	}
	for in, want := range cases {
		if got := Sanitize(in); got != want {
			t.Errorf("sanitize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRetryAfter(t *testing.T) {
	tests := map[string]time.Duration{"": 0, "3": 3 * time.Second, "-1": 0, "soon": 0, "999999": 86400 * time.Second}
	for v, want := range tests {
		resp := &http.Response{Header: http.Header{}}
		resp.Header.Set("Retry-After", v)
		if got := RetryAfter(resp); got != want {
			t.Errorf("RetryAfter(%q) = %v, want %v", v, got, want)
		}
	}
}

func TestPoolBoundDuplicatesAndClose(t *testing.T) {
	p := NewPool(2)
	release := make(chan struct{})
	var ran atomic.Int32
	for _, key := range []string{"a", "b"} {
		if ok, err := p.Go(context.Background(), key, func() { ran.Add(1); <-release }); !ok || err != nil {
			t.Fatalf("Go(%s) = %v, %v", key, ok, err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := p.Go(ctx, "c", func() {}); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Go on a full pool: %v, want the context's error (backpressure)", err)
	}
	if p.InFlight() != 2 {
		t.Errorf("InFlight = %d", p.InFlight())
	}
	close(release)
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if ran.Load() != 2 || p.InFlight() != 0 {
		t.Errorf("ran %d, in flight %d after Close", ran.Load(), p.InFlight())
	}
	if _, err := p.Go(context.Background(), "d", func() {}); !errors.Is(err, ErrClosed) {
		t.Errorf("Go after Close: %v", err)
	}
	q := NewPool(2)
	block := make(chan struct{})
	q.Go(context.Background(), "same", func() { <-block })
	if ok, err := q.Go(context.Background(), "same", func() { t.Error("duplicate ran") }); ok || err != nil {
		t.Errorf("duplicate key: %v, %v", ok, err)
	}
	close(block)
	q.Close(context.Background())
}

func TestRetry(t *testing.T) {
	script := func(vs ...Verdict) func() Attempt {
		i := 0
		return func() Attempt {
			v := vs[min(i, len(vs)-1)]
			i++
			return Attempt{Verdict: v, Detail: "try " + strconv.Itoa(i)}
		}
	}
	deadline := func(d time.Duration) context.Context {
		ctx, cancel := context.WithTimeout(context.Background(), d)
		t.Cleanup(cancel)
		return ctx
	}
	bg := context.Background()
	if o := Retry(deadline(10*time.Second), bg, script(Retryable, Retryable, Accepted), nil); o.Outcome != "succeeded" || o.Attempts != 3 {
		t.Errorf("retry then accept: %+v", o)
	}
	if o := Retry(deadline(10*time.Second), bg, script(Final), nil); o.Outcome != "failed" || o.Attempts != 1 || o.Detail != "try 1" {
		t.Errorf("final: %+v", o)
	}
	if o := Retry(deadline(300*time.Millisecond), bg, script(Retryable), nil); o.Outcome != "timed_out" || o.Attempts < 2 || !strings.Contains(o.Detail, "last error: try") {
		t.Errorf("deadline: %+v", o)
	}
	if o := Retry(deadline(time.Second), bg, func() Attempt { return Attempt{Verdict: Final, NotSent: true} }, nil); o.Attempts != 0 {
		t.Errorf("a failure before sending counted as an attempt: %+v", o)
	}
	stop, cancel := context.WithCancel(bg)
	cancel()
	if o := Retry(deadline(time.Second), stop, script(Retryable), nil); !o.Aborted {
		t.Errorf("stopped: %+v", o)
	}
}
