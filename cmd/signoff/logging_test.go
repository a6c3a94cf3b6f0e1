package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/signoff/signoff/cmd/signoff/internal/config"
)

// graceValuer is a LogValuer that resolves to a duration.
type graceValuer struct{}

func (graceValuer) LogValue() slog.Value { return slog.DurationValue(8 * time.Second) }

// TestJSONLogDurations: log.format json renders every time.Duration as a Go
// duration string — at the top level, in groups, from a LogValuer and via
// slog.Any — and leaves other numbers alone; the text format is unchanged.
func TestJSONLogDurations(t *testing.T) {
	cfg := config.Default()
	cfg.Log.Format = "json"
	var buf bytes.Buffer
	log := newLogger(&buf, cfg).With("component", "test")
	log.WithGroup("delivery").Info("sent",
		"latency", 1500*time.Millisecond,
		slog.Any("backoff", 250*time.Millisecond),
		slog.Group("retry", "after", 2*time.Minute+3*time.Second),
		"grace", graceValuer{},
		"attempts", 3)
	var line struct {
		Delivery struct {
			Latency  any                 `json:"latency"`
			Backoff  any                 `json:"backoff"`
			Retry    struct{ After any } `json:"retry"`
			Grace    any                 `json:"grace"`
			Attempts any                 `json:"attempts"`
		} `json:"delivery"`
	}
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("not one JSON line: %v\n%s", err, buf.String())
	}
	d := line.Delivery
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"latency", d.Latency, "1.5s"},
		{"backoff (slog.Any)", d.Backoff, "250ms"},
		{"retry.after (group)", d.Retry.After, "2m3s"},
		{"grace (LogValuer)", d.Grace, "8s"},
		{"attempts (not a duration)", d.Attempts, float64(3)},
	} {
		if c.got != c.want {
			t.Errorf("%s = %#v, want %#v in %s", c.name, c.got, c.want, buf.String())
		}
	}

	cfg.Log.Format = "text"
	buf.Reset()
	newLogger(&buf, cfg).Info("shutting down", "grace", 8*time.Second)
	if !strings.Contains(buf.String(), "grace=8s") {
		t.Errorf("text log %q lacks grace=8s", buf.String())
	}
}
