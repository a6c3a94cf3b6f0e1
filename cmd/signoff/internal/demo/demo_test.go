package demo

import (
	"bytes"
	"context"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDemoOnce runs one round of the demo: Notes verifies its token and
// signs out, Chat (503) does not confirm, and the summary says so.
func TestDemoOnce(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := Run(ctx, &out, Options{Once: true, DataDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"Notes verified a logout token",
		"succeeded  attempts=1",
		"timed_out",
		"HTTP 503",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
	// The outcome and its summary are printed once (they were printed
	// twice: by the live output and by the scripted round).
	if n := len(regexp.MustCompile(`(?m)^logout [0-9a-f]{8}: partial \(\+[^)]+\)$`).FindAllString(out.String(), -1)); n != 1 {
		t.Errorf("the outcome line appears %d times, want once:\n%s", n, out.String())
	}
	if n := strings.Count(out.String(), "You were signed out of Notes; Chat did not confirm — close your browser to be sure."); n != 1 {
		t.Errorf("the summary appears %d times, want once:\n%s", n, out.String())
	}
	if n := strings.Count(out.String(), "started\n"); n != 1 {
		t.Errorf("%d logouts started, want 1:\n%s", n, out.String())
	}
}

// TestDemoOnceSSF: with the Shared Signals receiver, Alerts verifies the
// pushed session-revoked SET with go-jose, prints it, answers 202, and the
// logout reports it signed out.
func TestDemoOnceSSF(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out bytes.Buffer
	if err := Run(ctx, &out, Options{Once: true, SSF: true, DataDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)}); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	for _, want := range []string{
		"Alerts   http://127.0.0.1:",
		"alice signed in to Notes and Chat (and alerts)",
		"Alerts verified a SET: session-revoked of iss_sub=alice (txn ",
		"initiating_entity user: The user signed out)",
		"Alerts                 succeeded  attempts=1 — HTTP 202: SET accepted",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
	if strings.Contains(out.String(), "refused a SET") {
		t.Errorf("the demo receiver refused a SET:\n%s", out.String())
	}
}
