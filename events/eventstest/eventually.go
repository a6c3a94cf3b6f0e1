// Package eventstest holds the one polling helper of signoff's tests.
//
// Every package's tests wait for asynchronous work (a JetStream consumer,
// an RP on loopback, a key file rotation) with Eventually, EventuallyErr or
// Poll instead of a sleep: the machines that run them are shared and noisy,
// so a test waits for a condition, never for a time. It lives beside events
// because every package may import events; it imports only the standard
// library.
package eventstest

import (
	"fmt"
	"testing"
	"time"
)

// The backoff between two polls: it starts short, so a condition that
// holds at once costs almost nothing, and doubles up to maxInterval, so a
// long wait does not spin.
const (
	minInterval = 2 * time.Millisecond
	maxInterval = 50 * time.Millisecond
)

// Eventually polls cond, with a short backoff, until it returns true, and
// fails the test with the message msgf (formatted with args) once timeout
// has passed.
func Eventually(t testing.TB, timeout time.Duration, cond func() bool, msgf string, args ...any) {
	t.Helper()
	err := poll(timeout, 0, func() error {
		if cond() {
			return nil
		}
		return fmt.Errorf(msgf, args...)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// EventuallyErr polls f, with a short backoff, until it returns nil, and
// fails the test with f's last error once timeout has passed.
func EventuallyErr(t testing.TB, timeout time.Duration, f func() error) {
	t.Helper()
	if err := poll(timeout, 0, f); err != nil {
		t.Fatal(err)
	}
}

// Poll calls f every interval until it returns nil or timeout passes, and
// then returns f's last error, wrapped; it fails nothing. It is for waits
// whose caller decides (a settle step that only logs, a retry that fails
// with its own message) and for conditions that are expensive to check (a
// read of a whole stream), where the interval must stay long.
func Poll(timeout, interval time.Duration, f func() error) error {
	return poll(timeout, interval, f)
}

// poll is the loop: a fixed interval, or the backoff when interval is 0.
func poll(timeout, interval time.Duration, f func() error) error {
	deadline := time.Now().Add(timeout)
	wait := interval
	if wait <= 0 {
		wait = minInterval
	}
	for {
		err := f()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("condition not met after %v: %w", timeout, err)
		}
		time.Sleep(wait)
		if interval <= 0 {
			wait = nextWait(wait)
		}
	}
}

// nextWait is the backoff's next step after wait.
func nextWait(wait time.Duration) time.Duration {
	return min(2*wait, maxInterval)
}
