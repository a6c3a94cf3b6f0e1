package app

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signoff/signoff/cmd/signoff/internal/config"
	"github.com/signoff/signoff/coordinator/saga"
	"github.com/signoff/signoff/events"
	"github.com/signoff/signoff/events/eventstest"
)

// TestBackchannelEndToEnd: three session.joined, then logout.requested →
// each RP receives one token that go-oidc's VerifyLogout accepts, the
// completion is complete with three succeeded participants, and the saga
// rows agree.
func TestBackchannelEndToEnd(t *testing.T) {
	rps := []*testRP{newTestRP(t, "wiki", "RS256"), newTestRP(t, "chat", "ES256"), newTestRP(t, "payroll", "EdDSA")}
	cfg := testConfig(t, 10*time.Second, rps...)
	cfg.RelyingParties[1].OIDC.LogoutTokenTyp = "JWT"
	a := startApp(t, cfg, rps...)
	c := appClient(t, a)
	for _, rp := range rps {
		c.join("sess-1", "alice", rp.ID, "sid-"+rp.ID)
	}
	c.join("sess-2", "bob", "wiki", "sid-bob") // another user's session stays
	eventstest.EventuallyErr(t, 10*time.Second, func() error {
		if n, _ := a.Store().SessionCount(context.Background(), "sess-1"); n != 3 {
			return fmt.Errorf("%d of 3 sessions registered", n)
		}
		return nil
	})
	c.logout("logout-1", "sess-1")
	done := c.waitCompleted("logout-1", 15*time.Second)

	if done.Outcome != events.StatusComplete || len(done.Participants) != 3 {
		t.Fatalf("completed: %+v", done)
	}
	for _, p := range done.Participants {
		if p.Outcome != events.OutcomeSucceeded || p.Adapter != events.AdapterBackchannel || p.Name != "RP "+p.RPID {
			t.Errorf("participant %+v", p)
		}
	}
	for i, rp := range rps {
		n, toks := rp.snapshot()
		if n != 1 || len(toks) != 1 {
			t.Fatalf("%s received %d requests, want 1", rp.ID, n)
		}
		tok := toks[0]
		if !tok.Valid {
			t.Fatalf("%s: token rejected by VerifyLogout: %s", rp.ID, tok.Err)
		}
		wantTyp := "logout+jwt"
		if i == 1 {
			wantTyp = "JWT"
		}
		if tok.Sub != "alice" || tok.SID != "sid-"+rp.ID || tok.JTI == "" || tok.Typ != wantTyp {
			t.Errorf("%s: token %+v", rp.ID, tok)
		}
	}
	s, ok, err := a.Store().Saga(context.Background(), "logout-1")
	if err != nil || !ok {
		t.Fatalf("saga row: %v %v", ok, err)
	}
	if s.Status != saga.StatusComplete || len(s.Participants) != 3 || s.Initiator != events.InitiatorUser {
		t.Errorf("saga row %+v", s)
	}
	for _, p := range s.Participants {
		if p.State != events.OutcomeSucceeded || p.Attempts != 1 || p.FinishedAt.IsZero() {
			t.Errorf("participant row %+v", p)
		}
	}
	if n, _ := a.Store().SessionCount(context.Background(), "sess-1"); n != 0 {
		t.Errorf("%d sessions of sess-1 still registered after logout", n)
	}
	if n, _ := a.Store().SessionCount(context.Background(), "sess-2"); n != 1 {
		t.Errorf("bob's session was touched: %d", n)
	}

	// The same logout_id again starts nothing new.
	c.logout("logout-1", "sess-1")
	c.join("sess-9", "zed", "wiki", "sid-z")
	c.logout("logout-9", "sess-9") // a later logout proves the repeat was consumed
	c.waitCompleted("logout-9", 15*time.Second)
	_, counts := c.completed()
	if counts["logout-1"] != 1 {
		t.Errorf("logout-1 completed %d times", counts["logout-1"])
	}
	if n, _ := rps[1].snapshot(); n != 1 {
		t.Errorf("chat received %d requests after the repeated logout, want 1", n)
	}
}

// TestRetryFailureAndTimeout: 503, 503, 200 → succeeded after 3 attempts
// with three distinct jti; 400 → failed, not retried; a hanging RP →
// timed_out at the deadline; the saga is partial.
func TestRetryFailureAndTimeout(t *testing.T) {
	flaky := newTestRP(t, "flaky", "ES256", 503, 503, 200)
	bad := newTestRP(t, "bad", "ES256", 400)
	hang := newTestRP(t, "hang", "ES256", 0)
	// Generous per-attempt timeout: on a loaded machine a 200 must not be
	// mistaken for a hang (an extra attempt would break the exact count).
	cfg := testConfig(t, 5*time.Second, flaky, bad, hang)
	cfg.Backchannel.AttemptTimeout = config.Duration(1500 * time.Millisecond)
	a := startApp(t, cfg, flaky, bad, hang)
	c := appClient(t, a)
	for _, rp := range []*testRP{flaky, bad, hang} {
		c.join("s1", "carol", rp.ID, "sid-"+rp.ID)
	}
	eventstest.EventuallyErr(t, 10*time.Second, func() error {
		if n, _ := a.Store().SessionCount(context.Background(), "s1"); n != 3 {
			return fmt.Errorf("%d of 3 sessions registered", n)
		}
		return nil
	})
	c.logout("L-mixed", "s1")
	done := c.waitCompleted("L-mixed", 20*time.Second)
	if done.Outcome != events.StatusPartial {
		t.Errorf("outcome %q, want partial", done.Outcome)
	}
	got := map[string]events.ParticipantOutcome{}
	for _, p := range done.Participants {
		got[p.RPID] = p
	}
	if got["flaky"].Outcome != events.OutcomeSucceeded || got["bad"].Outcome != events.OutcomeFailed || got["hang"].Outcome != events.OutcomeTimedOut {
		t.Fatalf("participants %+v", done.Participants)
	}
	if !strings.Contains(got["bad"].Detail, "400") {
		t.Errorf("bad detail %q does not name the status", got["bad"].Detail)
	}
	n, toks := flaky.snapshot()
	jtis := map[string]bool{}
	for _, tok := range toks {
		if !tok.Valid {
			t.Errorf("flaky: invalid token: %s", tok.Err)
		}
		jtis[tok.JTI] = true
	}
	if n != 3 || len(jtis) != 3 {
		t.Errorf("flaky: %d requests with %d distinct jti, want 3 and 3", n, len(jtis))
	}
	if n, _ := bad.snapshot(); n != 1 {
		t.Errorf("bad RP received %d requests, want exactly 1 (400 is final)", n)
	}
	if n, _ := hang.snapshot(); n < 2 {
		t.Errorf("hanging RP received %d requests, want retries after per-attempt timeouts", n)
	}
	s, _, _ := a.Store().Saga(context.Background(), "L-mixed")
	rows := map[string]saga.Participant{}
	for _, p := range s.Participants {
		rows[p.RPID] = p
	}
	if s.Status != saga.StatusPartial || rows["flaky"].Attempts != 3 || rows["bad"].Attempts != 1 || rows["hang"].State != events.OutcomeTimedOut {
		t.Errorf("saga rows: %+v", s)
	}
}

// TestMalformedEventsArePoisoned: not JSON, a required field missing and
// an unknown initiator each land on signoff.poison with a reason and the
// original bytes; the valid message after them is processed.
func TestMalformedEventsArePoisoned(t *testing.T) {
	rp := newTestRP(t, "wiki", "ES256")
	a := startApp(t, testConfig(t, 5*time.Second, rp), rp)
	c := appClient(t, a)
	bad := []struct{ body, reason string }{
		{`this is not json`, "not JSON"},
		{`{"event_id":"8a0e8f4c-3c1b-4c53-9a4e-1f3f1d2b7c11","occurred_at":"2026-11-21T12:00:00Z","session_id":"s1","initiator":"user","scope":"global"}`, "logout_id"},
		{`{"event_id":"8a0e8f4c-3c1b-4c53-9a4e-1f3f1d2b7c12","logout_id":"L-x","occurred_at":"2026-11-21T12:00:00Z","session_id":"s1","initiator":"martian","scope":"global"}`, "initiator"},
	}
	for _, b := range bad {
		c.publishRaw(events.SubjectLogoutRequested, []byte(b.body))
	}
	c.join("s1", "dave", "wiki", "sid-1")
	c.publishRaw(events.SubjectSessionJoined, []byte(`{"event_id":"8a0e8f4c-3c1b-4c53-9a4e-1f3f1d2b7c13","occurred_at":"2026-11-21T12:00:00Z","session_id":"s1","subject":"dave","rp_id":"nobody"}`))
	eventstest.EventuallyErr(t, 10*time.Second, func() error {
		if n, _ := a.Store().SessionCount(context.Background(), "s1"); n != 1 {
			return fmt.Errorf("%d sessions", n)
		}
		return nil
	})
	c.logout("L-valid", "s1")
	if done := c.waitCompleted("L-valid", 15*time.Second); done.Outcome != events.StatusComplete {
		t.Errorf("valid logout after the malformed ones: %+v", done)
	}
	var poisoned []jetstream.Msg
	eventstest.EventuallyErr(t, 10*time.Second, func() error {
		poisoned = c.received(events.SubjectPoison)
		if len(poisoned) < len(bad)+1 {
			return fmt.Errorf("%d poisoned messages", len(poisoned))
		}
		return nil
	})
	if len(poisoned) != len(bad)+1 {
		t.Fatalf("%d poisoned messages, want %d", len(poisoned), len(bad)+1)
	}
	// Match poisoned messages by their bytes.
	byBody := map[string]jetstream.Msg{}
	for _, m := range poisoned {
		byBody[string(m.Data())] = m
	}
	for i, b := range bad {
		m, ok := byBody[b.body]
		if !ok {
			t.Errorf("poison %d: the original bytes %q are not on %s", i, b.body, events.SubjectPoison)
			continue
		}
		reason := m.Headers().Get(events.HeaderPoisonReason)
		if !strings.Contains(reason, b.reason) {
			t.Errorf("poison %d: reason %q does not mention %q", i, reason, b.reason)
		}
		if m.Headers().Get(events.HeaderPoisonSubject) != events.SubjectLogoutRequested {
			t.Errorf("poison %d: topic header %q", i, m.Headers().Get(events.HeaderPoisonSubject))
		}
	}
	unknownRP := false
	for _, m := range poisoned {
		if strings.Contains(m.Headers().Get(events.HeaderPoisonReason), `unknown rp_id "nobody"`) {
			unknownRP = true
		}
	}
	if !unknownRP {
		t.Error("the session.joined for an unknown RP was not poisoned with a reason naming it")
	}
	if _, ok, _ := a.Store().Saga(context.Background(), "L-x"); ok {
		t.Error("the logout with an unknown initiator started a saga")
	}
}
