package app

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/signoff/signoff/events"
	"github.com/signoff/signoff/events/eventstest"
)

// TestUnknownRPJoinIsLoud: a session.joined for an rp_id that is not
// configured gives a WARN naming it and counts in
// signoff_unknown_rp_joins_total; a logout of that session (which knows no
// relying party session) completes with a detail that says so.
func TestUnknownRPJoinIsLoud(t *testing.T) {
	wiki := newTestRP(t, "wiki", "ES256")
	cfg := testConfig(t, 5*time.Second, wiki)
	logs := &logBuffer{}
	a := startLogged(t, cfg, logs, wiki)
	t.Cleanup(func() { a.Close(context.Background()) })
	c := appClient(t, a)
	c.join("sess-x", "alice", "ghost", "sid-1")
	c.join("sess-x", "alice", "ghost", "sid-2")
	c.logout("L-unknown", "sess-x")
	done := c.waitCompleted("L-unknown", 15*time.Second)
	if done.Outcome != events.StatusComplete || len(done.Participants) != 0 || done.Detail != events.CompletedNoSessions {
		t.Errorf("completed %+v", done)
	}
	if n := a.engine.UnknownRPJoins(); n != 2 {
		t.Errorf("UnknownRPJoins = %d, want 2", n)
	}
	warns := logLines(logs.String(), `"level":"WARN"`, `"msg":"session.joined for an unknown relying party`, `"rp_id":"ghost"`)
	if len(warns) != 2 {
		t.Errorf("%d WARN lines naming the rp_id, want 2:\n%s", len(warns), logs.String())
	}
	if l := logLines(logs.String(), `"level":"WARN"`, `logout found no relying party session`, `"logout_id":"L-unknown"`); len(l) != 1 {
		t.Errorf("%d WARN lines for the empty logout, want 1", len(l))
	}
	eventstest.EventuallyErr(t, 5*time.Second, func() error {
		resp, err := http.Get("http://" + a.Addr() + "/metrics")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if !strings.Contains(string(b), "\nsignoff_unknown_rp_joins_total 2\n") {
			return fmt.Errorf("metrics lack signoff_unknown_rp_joins_total 2:\n%s", b)
		}
		return nil
	})
}
