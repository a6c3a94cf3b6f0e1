package demo

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"
)

// TestDemoNATSAnonymousOnLoopback: the demo's exposed NATS keeps anonymous
// access, says so in its output and its log, and refuses a non-loopback
// address.
func TestDemoNATSAnonymousOnLoopback(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out bytes.Buffer
	logs := &lockedBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := Run(ctx, &out, Options{Once: true, NATSListen: "127.0.0.1:0", DataDir: t.TempDir(), Logger: log}); err != nil {
		t.Fatalf("demo: %v\n%s", err, out.String())
	}
	if !strings.Contains(out.String(), "anonymous access with every permission, on loopback only") {
		t.Errorf("demo output does not say its NATS is anonymous:\n%s", out.String())
	}
	if !strings.Contains(logs.String(), "level=WARN msg=\"embedded NATS allows anonymous clients") {
		t.Errorf("no warning in the log:\n%s", logs)
	}

	err := Run(ctx, &out, Options{Once: true, NATSListen: "0.0.0.0:0", DataDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err == nil || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("demo on 0.0.0.0: err = %v, want it refused", err)
	}
}
