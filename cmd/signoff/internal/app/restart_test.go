package app

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/signoff/signoff/cmd/signoff/internal/config"
	"github.com/signoff/signoff/events"
	"github.com/signoff/signoff/events/eventstest"
)

// startLogged starts signoff with a JSON logger writing into logs.
func startLogged(t *testing.T, cfg *config.Config, logs *logBuffer, rps ...*testRP) *App {
	t.Helper()
	a, err := Start(context.Background(), Options{Config: cfg,
		Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	for _, rp := range rps {
		rp.useJWKS("http://" + a.Addr() + "/jwks.json")
	}
	return a
}

// logLines returns the lines of logs that contain every one of parts.
func logLines(logs string, parts ...string) []string {
	var out []string
	for _, line := range strings.Split(logs, "\n") {
		ok := line != ""
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			out = append(out, line)
		}
	}
	return out
}

// TestRestartDoesNotReplayCompletedLogouts is issue 15 item 2 with a real
// restart on the same data_dir: one RP answers 200, one refuses
// connections. Logout A ends partial; logout B is stopped half-way by a
// graceful Close; after the restart A is never resumed, dispatched or
// reported again, and B finishes exactly once, in the events, the log and
// the back-channel counters.
func TestRestartDoesNotReplayCompletedLogouts(t *testing.T) {
	for _, tc := range []struct {
		name string
		// pause between Close and the restart
		pause func(deadlineB time.Time)
		// grace given to Close
		grace time.Duration
	}{
		{"before B's deadline", func(time.Time) {}, 500 * time.Millisecond},
		{"after B's deadline", func(d time.Time) { time.Sleep(time.Until(d) + 500*time.Millisecond) }, 500 * time.Millisecond},
		{"grace past B's deadline", func(time.Time) {}, 10 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) { restartCase(t, tc.pause, tc.grace) })
	}
}

func restartCase(t *testing.T, pause func(time.Time), grace time.Duration) {
	ok := newTestRP(t, "ok", "ES256")
	down := newTestRP(t, "down", "ES256")
	down.srv.Close() // connection refused from now on
	const deadline = 3 * time.Second
	cfg := testConfig(t, deadline, ok, down)
	run1, run2 := &logBuffer{}, &logBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("run 1:\n%s\nrun 2:\n%s", run1.String(), run2.String())
		}
	})

	a := startLogged(t, cfg, run1, ok)
	closed := false
	t.Cleanup(func() {
		if !closed {
			a.Close(context.Background())
		}
	})
	c := appClient(t, a)
	for _, s := range []struct{ session, subject string }{{"sess-A", "alice"}, {"sess-B", "bob"}} {
		c.join(s.session, s.subject, "ok", "sid-ok-"+s.subject)
		c.join(s.session, s.subject, "down", "sid-down-"+s.subject)
	}
	eventstest.EventuallyErr(t, 10*time.Second, func() error {
		for _, s := range []string{"sess-A", "sess-B"} {
			if n, _ := a.Store().SessionCount(context.Background(), s); n != 2 {
				return fmt.Errorf("%s: %d of 2 sessions registered", s, n)
			}
		}
		return nil
	})
	c.logout("A", "sess-A")
	doneA := c.waitCompleted("A", 15*time.Second)
	if doneA.Outcome != events.StatusPartial {
		t.Fatalf("A: %+v", doneA)
	}
	if st := adapterAs[backchannelAdapter](t, a).Stats(); st.TimedOut != 1 || st.Succeeded != 1 {
		t.Fatalf("run 1 after A: back-channel stats %+v, want 1 succeeded and 1 timed out", st)
	}

	// B: the 200 RP answers, the refusing RP is still being retried when
	// signoff shuts down gracefully (the delivery is aborted, no result).
	c.logout("B", "sess-B")
	eventstest.EventuallyErr(t, 10*time.Second, func() error {
		s, found, err := a.Store().Saga(context.Background(), "B")
		if err != nil || !found {
			return fmt.Errorf("saga B: %v %v", found, err)
		}
		for _, p := range s.Participants {
			if p.RPID == "ok" && p.State == events.OutcomeSucceeded {
				return nil
			}
		}
		return fmt.Errorf("B: ok not yet signed out: %+v", s.Participants)
	})
	sB, _, _ := a.Store().Saga(context.Background(), "B")
	if !sB.Running() {
		t.Fatalf("B ended before the restart: %+v", sB)
	}
	c.nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), grace)
	a.Close(ctx)
	cancel()
	closed = true

	pause(sB.Deadline)

	a2 := startLogged(t, cfg, run2, ok)
	t.Cleanup(func() { a2.Close(context.Background()) })
	c2 := appClient(t, a2)
	doneB := c2.waitCompleted("B", 15*time.Second)
	if doneB.Outcome != events.StatusPartial {
		t.Fatalf("B: %+v", doneB)
	}
	for _, p := range doneB.Participants {
		want := map[string]events.Outcome{"ok": events.OutcomeSucceeded, "down": events.OutcomeTimedOut}[p.RPID]
		if p.Outcome != want {
			t.Errorf("B participant %s: %s, want %s", p.RPID, p.Outcome, want)
		}
	}
	// A later logout proves that everything before it was consumed.
	c2.join("sess-C", "carol", "ok", "sid-ok-carol")
	c2.logout("C", "sess-C")
	eventstest.EventuallyErr(t, 15*time.Second, func() error {
		byID, _ := c2.completed()
		if _, ok := byID["C"]; !ok {
			return fmt.Errorf("C not completed")
		}
		return nil
	})
	// A replayed dispatch of A would have been taken by now: every
	// consumer (intake and adapter-*) has nothing pending or unacknowledged,
	// and the taker logs a dropped dispatch before it acknowledges it.
	c2.settle(15 * time.Second)

	_, counts := c2.completed()
	if counts["A"] != 1 || counts["B"] != 1 {
		t.Errorf("logout.completed: A %d, B %d; want 1 each", counts["A"], counts["B"])
	}
	logs := run1.String() + run2.String()
	// After the restart A is neither resumed nor delivered nor completed
	// again. (A dispatch of A seen again and dropped because A has ended
	// would be harmless: that debug line is allowed.)
	for _, l := range logLines(run2.String(), `"logout_id":"A"`) {
		if !strings.Contains(l, "no longer pending; not delivered") {
			t.Errorf("A shows up after the restart: %s", l)
		}
	}
	if l := logLines(logs, `"msg":"logout completed"`, `"logout_id":"B"`); len(l) != 1 {
		t.Errorf("B logged as completed %d times:\n%s", len(l), strings.Join(l, "\n"))
	}
	if l := logLines(logs, "deadline passed before the first attempt"); len(l) > 0 {
		t.Errorf("a dispatch delivered after its deadline:\n%s", strings.Join(l, "\n"))
	}
	// Run 2 delivers to the refusing RP for B only (at most one timeout;
	// none when B had expired before the restart) and to ok for C.
	st := adapterAs[backchannelAdapter](t, a2).Stats()
	if st.TimedOut > 1 || st.Succeeded != 1 || st.Failed != 0 {
		t.Errorf("run 2: back-channel stats %+v, want at most 1 timed out (B's) and 1 succeeded (C's)", st)
	}
	if n, _ := ok.snapshot(); n != 3 {
		t.Errorf("the 200 RP received %d requests, want 3 (A, B, C)", n)
	}
}
