package eventstest

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeT records a failure instead of ending the test, so the helper's
// failing path can be asserted.
type fakeT struct {
	testing.TB
	failed string
}

func (f *fakeT) Helper() {}

func (f *fakeT) Fatal(args ...any) {
	for _, a := range args {
		f.failed += a.(error).Error()
	}
}

func TestEventually(t *testing.T) {
	tests := []struct {
		name     string
		holdsAt  int64 // the call from which cond holds; 0: never
		wantFail string
	}{
		{"holds at once", 1, ""},
		{"holds on the fifth poll", 5, ""},
		{"never holds", 0, "condition not met after 30ms: rp-7 got no token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int64
			ft := &fakeT{}
			Eventually(ft, 30*time.Millisecond, func() bool {
				n := calls.Add(1)
				return tt.holdsAt != 0 && n >= tt.holdsAt
			}, "%s got no token", "rp-7")
			if ft.failed != tt.wantFail {
				t.Errorf("failure = %q, want %q", ft.failed, tt.wantFail)
			}
			if tt.holdsAt != 0 && calls.Load() != tt.holdsAt {
				t.Errorf("cond called %d times, want %d (no poll after it holds)", calls.Load(), tt.holdsAt)
			}
		})
	}
}

func TestEventuallyErrFailsWithTheLastError(t *testing.T) {
	var calls atomic.Int64
	ft := &fakeT{}
	EventuallyErr(ft, 20*time.Millisecond, func() error {
		return errors.New("attempt " + strings.Repeat("i", int(calls.Add(1))))
	})
	want := "attempt " + strings.Repeat("i", int(calls.Load()))
	if !strings.HasSuffix(ft.failed, want) {
		t.Errorf("failure = %q, want it to end with the last error %q", ft.failed, want)
	}
}

func TestPollReturnsWrappedError(t *testing.T) {
	sentinel := errors.New("stream not settled")
	err := Poll(10*time.Millisecond, time.Millisecond, func() error { return sentinel })
	if !errors.Is(err, sentinel) {
		t.Fatalf("Poll = %v, want it to wrap %v", err, sentinel)
	}
	if err := Poll(time.Second, time.Millisecond, func() error { return nil }); err != nil {
		t.Fatalf("Poll of a holding condition = %v", err)
	}
}

func TestBackoffDoublesUpToTheCap(t *testing.T) {
	tests := []struct{ wait, want time.Duration }{
		{minInterval, 2 * minInterval},
		{16 * time.Millisecond, 32 * time.Millisecond},
		{32 * time.Millisecond, maxInterval},
		{maxInterval, maxInterval},
	}
	for _, tt := range tests {
		if got := nextWait(tt.wait); got != tt.want {
			t.Errorf("nextWait(%v) = %v, want %v", tt.wait, got, tt.want)
		}
	}
}
