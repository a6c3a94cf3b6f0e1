package app

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/signoff/signoff/coordinator/saga"
	"github.com/signoff/signoff/events"
	"github.com/signoff/signoff/events/eventstest"
)

// TestExpiryEndToEnd: four sessions join with expires_at, two already in
// the past and two a day ahead. The sweeper logs the two expired ones out
// on its own: their RPs receive a logout token that go-oidc accepts, and a
// logout.completed appears for each, from a saga with initiator expiry. The
// RPs of the other two receive nothing and their sessions stay registered.
func TestExpiryEndToEnd(t *testing.T) {
	rps := []*testRP{newTestRP(t, "gone1", "RS256"), newTestRP(t, "gone2", "ES256"), newTestRP(t, "live1", "RS256"), newTestRP(t, "live2", "EdDSA")}
	cfg := testConfig(t, 10*time.Second, rps...)
	a := startApp(t, cfg, rps...)
	c := appClient(t, a)
	now := time.Now().UTC()
	expires := map[string]time.Time{
		"gone1": now.Add(-time.Hour), "gone2": now.Add(-time.Second),
		"live1": now.Add(24 * time.Hour), "live2": now.Add(24 * time.Hour),
	}
	for _, rp := range rps {
		at := expires[rp.ID]
		c.publish(events.SubjectSessionJoined, events.SessionJoined{
			EventID: uuid.NewString(), OccurredAt: now.Add(-2 * time.Hour), SessionID: "sess-" + rp.ID, Subject: "user-" + rp.ID,
			RPID: rp.ID, OIDC: &events.OIDCSession{SID: "sid-" + rp.ID}, ExpiresAt: &at,
		})
	}

	// Two logouts complete, both started by the sweeper.
	var done map[string]events.Completed
	eventstest.EventuallyErr(t, 20*time.Second, func() error {
		done, _ = c.completed()
		if len(done) < 2 {
			return fmt.Errorf("%d of 2 logouts completed", len(done))
		}
		return nil
	})
	sessions := map[string]bool{}
	for id, ev := range done {
		if !strings.HasPrefix(id, "expiry-") || ev.Outcome != events.StatusComplete || len(ev.Participants) != 1 {
			t.Errorf("completed %s: %+v", id, ev)
			continue
		}
		p := ev.Participants[0]
		if p.Outcome != events.OutcomeSucceeded || p.Adapter != events.AdapterBackchannel || !strings.HasPrefix(p.RPID, "gone") {
			t.Errorf("completed %s: participant %+v", id, p)
		}
		s, ok, err := a.Store().Saga(context.Background(), id)
		if err != nil || !ok {
			t.Fatalf("saga %s: %v %v", id, ok, err)
		}
		if s.Initiator != events.InitiatorExpiry || s.Scope != events.ScopeGlobal || s.Status != saga.StatusComplete ||
			s.SessionID != "sess-"+p.RPID || !strings.Contains(s.Reason, "expires_at") {
			t.Errorf("saga %s: %+v", id, s)
		}
		sessions[s.SessionID] = true
	}
	if !sessions["sess-gone1"] || !sessions["sess-gone2"] {
		t.Errorf("expired sessions logged out: %v, want sess-gone1 and sess-gone2", sessions)
	}

	for _, rp := range rps[:2] {
		n, toks := rp.snapshot()
		if n != 1 || len(toks) != 1 || !toks[0].Valid {
			t.Fatalf("%s: %d requests, tokens %+v; want one valid token", rp.ID, n, toks)
		}
		if tok := toks[0]; tok.Sub != "user-"+rp.ID || tok.SID != "sid-"+rp.ID {
			t.Errorf("%s: token %+v", rp.ID, tok)
		}
		if n, _ := a.Store().SessionCount(context.Background(), "sess-"+rp.ID); n != 0 {
			t.Errorf("%s: session still registered after its expiry logout", rp.ID)
		}
	}

	// The sessions that expire tomorrow are untouched: live2 is still
	// registered and its RP got nothing; live1 too, as a user logout shows,
	// whose token is the only one its RP receives.
	c.logout("user-logout", "sess-live1")
	c.waitCompleted("user-logout", 15*time.Second)
	if n, _ := rps[2].snapshot(); n != 1 {
		t.Errorf("live1 received %d requests, want only the user logout's", n)
	}
	if n, _ := rps[3].snapshot(); n != 0 {
		t.Errorf("live2 received %d requests, want none", n)
	}
	if n, _ := a.Store().SessionCount(context.Background(), "sess-live2"); n != 1 {
		t.Errorf("live2: %d registered sessions, want 1", n)
	}
	if byID, _ := c.completed(); len(byID) != 3 {
		t.Errorf("%d logouts completed, want the 2 expiries and the user logout", len(byID))
	}
}
