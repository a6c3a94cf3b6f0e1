package coordinator

import (
	"context"
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signoff/signoff/coordinator/saga"
	"github.com/signoff/signoff/coordinator/store"
	"github.com/signoff/signoff/events"
	"github.com/signoff/signoff/events/summary"
)

var logoutIDRE = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// expirySetup is a coordinator with an expiry policy on an empty store.
func expirySetup(t *testing.T, expiration, inactivity time.Duration) (*Coordinator, *store.Store, *clock) {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := &clock{t: time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)}
	c := New(Config{Store: st, Directory: dir{}, Deadline: 30 * time.Second, Now: clk.Now,
		SessionExpiration: expiration, SessionInactivity: inactivity})
	return c, st, clk
}

// deliver hands msg to h as the router would.
func deliver(t *testing.T, c *Coordinator, subject string, ev events.Event) {
	t.Helper()
	b, err := events.Encode(ev)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Handle(context.Background(), subject, "", b); err != nil {
		t.Fatalf("%s: %v", ev.SchemaName(), err)
	}
}

func joinedAt(session, rp string, at time.Time, expires *time.Time) events.SessionJoined {
	return events.SessionJoined{EventID: "0190f1d2-8a3b-7c4d-9e5f-a0b1c2d3e4f5", OccurredAt: at, SessionID: session, Subject: "user-" + session,
		RPID: rp, OIDC: &events.OIDCSession{SID: rp + "-" + session}, ExpiresAt: expires}
}

func activityAt(session string, at time.Time) events.SessionActivity {
	return events.SessionActivity{EventID: "0190f1d2-8a3b-7c4d-9e5f-a0b1c2d3e4f6", OccurredAt: at, SessionID: session}
}

// requested returns the logout.requested rows of the outbox, decoded and
// validated, by session_id.
func requested(t *testing.T, st *store.Store) map[string]events.LogoutRequested {
	t.Helper()
	rows, err := st.PendingOutbox(context.Background(), 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]events.LogoutRequested{}
	for _, r := range rows {
		if r.Subject != events.SubjectLogoutRequested {
			continue
		}
		req, err := events.Decode[events.LogoutRequested](r.Payload)
		if err != nil {
			t.Fatalf("outbox logout.requested is not a valid event: %v\n%s", err, r.Payload)
		}
		if r.ID != req.EventID {
			t.Errorf("outbox id %s != event_id %s", r.ID, req.EventID)
		}
		if _, dup := out[req.SessionID]; dup {
			t.Errorf("two logout.requested for session %q", req.SessionID)
		}
		out[req.SessionID] = req
	}
	return out
}

// sweepAll sweeps until a pass ends nothing, and fails after 100 passes
// (a sweep that keeps finding the same sessions).
func sweepAll(t *testing.T, c *Coordinator, limit int) int {
	t.Helper()
	total := 0
	for range 100 {
		n, err := c.SweepSessions(context.Background(), limit)
		if err != nil {
			t.Fatal(err)
		}
		if n > limit {
			t.Fatalf("one pass ended %d sessions, limit %d", n, limit)
		}
		if n == 0 {
			return total
		}
		total += n
	}
	t.Fatalf("still sweeping after 100 passes (%d sessions)", total)
	return total
}

func TestSweepSessions(t *testing.T) {
	c, st, clk := expirySetup(t, 12*time.Hour, 30*time.Minute)
	now := clk.Now()
	at := func(d time.Duration) time.Time { return now.Add(d) }
	ptr := func(t time.Time) *time.Time { return &t }
	for _, ev := range []events.Event{
		// absolute: first join 13h ago (a second RP joined 2h ago), used 5m ago
		joinedAt("abs", "wiki", at(-13*time.Hour), nil), joinedAt("abs", "chat", at(-2*time.Hour), nil), activityAt("abs", at(-5*time.Minute)),
		// inactive: joined an hour ago, never used since
		joinedAt("idle", "wiki", at(-time.Hour), nil),
		// expires_at a minute ago
		joinedAt("exp", "wiki", at(-5*time.Minute), ptr(at(-time.Minute))),
		// expires_at exactly now: a deadline that is not after now has passed
		joinedAt("edge", "wiki", at(-5*time.Minute), ptr(now)),
		// alive: expires in 15 minutes; used: used 10m ago after 40m
		joinedAt("alive", "wiki", at(-5*time.Minute), ptr(at(15*time.Minute))),
		joinedAt("used", "wiki", at(-40*time.Minute), nil), activityAt("used", at(-10*time.Minute)),
	} {
		switch ev := ev.(type) {
		case events.SessionJoined:
			deliver(t, c, events.SubjectSessionJoined, ev)
		case events.SessionActivity:
			deliver(t, c, events.SubjectSessionActivity, ev)
		}
	}

	if n, err := c.SweepSessions(context.Background(), 100); err != nil || n != 4 {
		t.Fatalf("SweepSessions = %d, %v; want 4", n, err)
	}
	reqs := requested(t, st)
	want := map[string]struct {
		deadline time.Time
		reason   string
	}{
		"abs":  {at(-time.Hour), "session expired (absolute lifetime 12h)"},
		"idle": {at(-30 * time.Minute), "session inactive for 30m"},
		"exp":  {at(-time.Minute), "session expired (expires_at 2026-11-21T11:59:00Z reached)"},
		"edge": {now, "session expired (expires_at 2026-11-21T12:00:00Z reached)"},
	}
	if len(reqs) != len(want) {
		t.Errorf("logout.requested for %v, want %d sessions", slices.Sorted(maps.Keys(reqs)), len(want))
	}
	for session, w := range want {
		req, ok := reqs[session]
		if !ok {
			t.Errorf("no logout.requested for %s", session)
			continue
		}
		if req.Initiator != events.InitiatorExpiry || req.Scope != events.ScopeGlobal || req.Subject != "user-"+session ||
			req.Reason != w.reason || !req.OccurredAt.Equal(now) || req.Browser || req.ReturnTo != "" {
			t.Errorf("%s: %+v, want initiator expiry, scope global, reason %q", session, req, w.reason)
		}
		if req.LogoutID != expiryLogoutID(session, w.deadline) || !logoutIDRE.MatchString(req.LogoutID) {
			t.Errorf("%s: logout_id %q, want %q", session, req.LogoutID, expiryLogoutID(session, w.deadline))
		}
	}

	// A second sweep finds nothing: queued sessions are not swept again...
	if n, err := c.SweepSessions(context.Background(), 100); err != nil || n != 0 {
		t.Errorf("second SweepSessions = %d, %v; want 0", n, err)
	}
	if got := requested(t, st); len(got) != len(want) {
		t.Errorf("second sweep queued more: %d", len(got))
	}
	// ...but stay registered until their logout takes them.
	if n, _ := st.SessionCount(context.Background(), "abs"); n != 2 {
		t.Errorf("abs has %d registered RP sessions before its logout, want 2", n)
	}

	// The coordinator's own handler runs the sagas like any other logout.
	for _, req := range reqs {
		deliver(t, c, events.SubjectLogoutRequested, req)
		deliver(t, c, events.SubjectLogoutRequested, req) // redelivered: starts nothing new
	}
	dispatched := map[string][]string{} // logout_id → sids
	rows, _ := st.PendingOutbox(context.Background(), 1000)
	for _, r := range rows {
		if r.Subject == events.DispatchSubject(events.AdapterBackchannel) {
			d, err := events.Decode[events.Dispatch](r.Payload)
			if err != nil {
				t.Fatal(err)
			}
			if d.Initiator != events.InitiatorExpiry || !strings.HasPrefix(d.Reason, "session ") {
				t.Errorf("dispatch %+v", d)
			}
			for _, s := range d.Sessions {
				dispatched[d.LogoutID] = append(dispatched[d.LogoutID], s.OIDC.SID)
			}
		}
	}
	if got := dispatched[reqs["abs"].LogoutID]; !slices.Equal(slices.Sorted(slices.Values(got)), []string{"chat-abs", "wiki-abs"}) {
		t.Errorf("abs dispatched to %v, want both of its RPs", got)
	}
	if len(dispatched) != 4 {
		t.Errorf("%d logouts dispatched, want 4: %v", len(dispatched), dispatched)
	}
	s, ok, _ := st.Saga(context.Background(), reqs["idle"].LogoutID)
	if !ok || s.Initiator != events.InitiatorExpiry || s.Reason != "session inactive for 30m" || s.Status != saga.StatusRunning {
		t.Errorf("saga of idle: %+v", s)
	}
	for session, n := range map[string]int{"abs": 0, "idle": 0, "exp": 0, "edge": 0, "alive": 1, "used": 1} {
		if got, _ := st.SessionCount(context.Background(), session); got != n {
			t.Errorf("%s: %d registered RP sessions, want %d", session, got, n)
		}
	}

	// Time passes: the other two expire in their turn.
	clk.Advance(20 * time.Minute)
	if n, _ := c.SweepSessions(context.Background(), 100); n != 2 {
		t.Errorf("at +20m swept %d, want 2 (used: inactive since +20m; alive: expires_at +15m)", n)
	}
	if got := requested(t, st); got["used"].Reason != "session inactive for 30m" || got["alive"].Reason != "session expired (expires_at 2026-11-21T12:15:00Z reached)" {
		t.Errorf("later sweep: used %q, alive %q", got["used"].Reason, got["alive"].Reason)
	}
}

func TestSweepSessionsIsBoundedPerPass(t *testing.T) {
	c, st, clk := expirySetup(t, 0, time.Minute)
	for i := range 5 {
		deliver(t, c, events.SubjectSessionJoined, joinedAt(fmt.Sprintf("s%d", i), "wiki", clk.Now().Add(time.Duration(i)*time.Second), nil))
	}
	deliver(t, c, events.SubjectSessionJoined, joinedAt("fresh", "wiki", clk.Now().Add(time.Hour), nil))
	clk.Advance(10 * time.Minute)
	var passes []int
	for range 5 {
		n, err := c.SweepSessions(context.Background(), 2)
		if err != nil {
			t.Fatal(err)
		}
		passes = append(passes, n)
	}
	if !slices.Equal(passes, []int{2, 2, 1, 0, 0}) {
		t.Errorf("passes ended %v sessions, want [2 2 1 0 0]", passes)
	}
	reqs := requested(t, st)
	if len(reqs) != 5 {
		t.Errorf("%d logouts queued, want 5", len(reqs))
	}
	if _, ok := reqs["fresh"]; ok {
		t.Error("the fresh session was logged out")
	}
}

// TestExpiredSessionJoinedAgain: an RP that joins a session after its expiry
// logout ran gets a logout of its own, not the finished one.
func TestExpiredSessionJoinedAgain(t *testing.T) {
	c, st, clk := expirySetup(t, 0, 0)
	exp := clk.Now().Add(-time.Minute)
	deliver(t, c, events.SubjectSessionJoined, joinedAt("s", "wiki", clk.Now().Add(-time.Hour), &exp))
	if n, _ := c.SweepSessions(context.Background(), 10); n != 1 {
		t.Fatalf("swept %d", n)
	}
	first := requested(t, st)["s"]
	deliver(t, c, events.SubjectLogoutRequested, first)
	rows, _ := st.PendingOutbox(context.Background(), 100)
	seqs := make([]int64, 0, len(rows))
	for _, r := range rows {
		seqs = append(seqs, r.Seq)
	}
	st.DeleteOutbox(context.Background(), seqs) // published

	deliver(t, c, events.SubjectSessionJoined, joinedAt("s", "chat", clk.Now(), &exp))
	if n, _ := c.SweepSessions(context.Background(), 10); n != 1 {
		t.Fatalf("swept %d after the late join", n)
	}
	second := requested(t, st)["s"]
	if second.LogoutID != first.LogoutID+".2" || second.EventID == first.EventID {
		t.Errorf("second logout %q (event %s), want %q.2 with a new event", second.LogoutID, second.EventID, first.LogoutID)
	}
	deliver(t, c, events.SubjectLogoutRequested, second)
	s, ok, _ := st.Saga(context.Background(), second.LogoutID)
	if !ok || len(s.Participants) != 1 || s.Participants[0].RPID != "chat" {
		t.Errorf("second saga %+v, want chat alone", s)
	}
}

// TestExpiryPolicyAppliesToRegisteredSessions: sessions registered while no
// expiration was configured are ended once it is.
func TestExpiryPolicyAppliesToRegisteredSessions(t *testing.T) {
	c, st, clk := expirySetup(t, 0, 0)
	deliver(t, c, events.SubjectSessionJoined, joinedAt("old", "wiki", clk.Now().Add(-48*time.Hour), nil))
	deliver(t, c, events.SubjectSessionJoined, joinedAt("new", "wiki", clk.Now().Add(-time.Hour), nil))
	if n, _ := c.SweepSessions(context.Background(), 10); n != 0 {
		t.Fatalf("swept %d without any expiry", n)
	}
	// Restart with session.expiration: 24h.
	c2 := New(Config{Store: st, Directory: dir{}, Now: clk.Now, SessionExpiration: 24 * time.Hour})
	if n, err := c2.SweepSessions(context.Background(), 10); err != nil || n != 1 {
		t.Fatalf("swept %d (%v) after enabling expiration, want 1", n, err)
	}
	if req := requested(t, st)["old"]; req.Reason != "session expired (absolute lifetime 24h)" {
		t.Errorf("old: %+v", req)
	}
}

func TestExpiryLogoutIDAndReason(t *testing.T) {
	t0 := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	for _, id := range []string{"s-7Kq2pXw9", "ä session/with spaces?&=", strings.Repeat("x", 1024), "a"} {
		got := expiryLogoutID(id, t0)
		if !logoutIDRE.MatchString(got) || !strings.HasSuffix(got, "-1795262400") || got != expiryLogoutID(id, t0) {
			t.Errorf("expiryLogoutID(%.20q) = %q", id, got)
		}
		if len(id) > 3 && strings.Contains(got, id) {
			t.Errorf("expiryLogoutID(%q) = %q contains the session id", id, got)
		}
	}
	if expiryLogoutID("a", t0) == expiryLogoutID("b", t0) || expiryLogoutID("a", t0) == expiryLogoutID("a", t0.Add(time.Second)) {
		t.Error("expiryLogoutID collides")
	}

	p := store.ExpiryPolicy{Expiration: 90 * 24 * time.Hour, Inactivity: 90 * time.Minute}
	tests := []struct {
		name string
		s    store.ExpiringSession
		want string
	}{
		{"expires_at", store.ExpiringSession{ExpiresAt: t0, JoinedAt: t0.Add(-time.Hour), LastActive: t0.Add(-time.Hour), ExpiryAt: t0},
			"session expired (expires_at 2026-11-21T12:00:00Z reached)"},
		{"absolute", store.ExpiringSession{ExpiresAt: t0.Add(time.Hour), JoinedAt: t0.Add(-p.Expiration), LastActive: t0, ExpiryAt: t0},
			"session expired (absolute lifetime 2160h)"},
		{"inactivity", store.ExpiringSession{JoinedAt: t0.Add(-3 * time.Hour), LastActive: t0.Add(-p.Inactivity), ExpiryAt: t0},
			"session inactive for 1h30m"},
		{"tie prefers expires_at", store.ExpiringSession{ExpiresAt: t0, JoinedAt: t0.Add(-p.Expiration), LastActive: t0.Add(-p.Inactivity), ExpiryAt: t0},
			"session expired (expires_at 2026-11-21T12:00:00Z reached)"},
		{"policy changed since", store.ExpiringSession{JoinedAt: t0.Add(-time.Hour), LastActive: t0.Add(-time.Hour), ExpiryAt: t0},
			"session expired"},
	}
	for _, tt := range tests {
		if got := expiryReason(tt.s, p); got != tt.want {
			t.Errorf("%s: expiryReason = %q, want %q", tt.name, got, tt.want)
		}
	}
	for d, want := range map[time.Duration]string{12 * time.Hour: "12h", 30 * time.Minute: "30m", 90 * time.Second: "1m30s", 25*time.Hour + time.Minute: "25h1m"} {
		if got := summary.Duration(d); got != want {
			t.Errorf("summary.Duration(%v) = %q, want %q", d, got, want)
		}
	}
}

// TestExpiry10000Sessions is the must-show of issue "Session lifecycle":
// 10,000 sessions, half of them past their deadline (by expires_at, by the
// absolute lifetime, by inactivity; one in five at two RPs) → exactly those
// get logouts, and their participants are dispatched with exactly their
// sids; the other half is untouched: still registered, no saga. Real sqlite,
// a fake clock, the coordinator's own handlers.
func TestExpiry10000Sessions(t *testing.T) {
	const n = 10000
	c, st, clk := expirySetup(t, 12*time.Hour, 30*time.Minute)
	ctx := context.Background()
	now := clk.Now()
	type sess struct {
		id      string
		expired bool
		sids    []string
	}
	all := make([]sess, n)
	start := time.Now()
	err := st.Update(ctx, func(tx *store.Tx) error {
		if _, err := tx.SetExpiryPolicy(store.ExpiryPolicy{Expiration: 12 * time.Hour, Inactivity: 30 * time.Minute}); err != nil {
			return err
		}
		for i := range n {
			s := sess{id: fmt.Sprintf("sess %05d/ü", i), expired: i%2 == 0}
			// Each kind sits one second on either side of its deadline.
			off := time.Second
			if s.expired {
				off = -time.Second
			}
			joined, active := now.Add(-time.Minute), now.Add(-time.Minute)
			var expires *time.Time
			switch i / 2 % 3 {
			case 0: // expires_at
				e := now.Add(off)
				expires = &e
			case 1: // absolute lifetime 12h, recently active
				joined = now.Add(-12 * time.Hour).Add(off)
			case 2: // inactivity 30m
				joined, active = now.Add(-30*time.Minute).Add(off), time.Time{}
			}
			rps := []string{"wiki"}
			if i%5 == 0 {
				rps = append(rps, "chat")
			}
			for _, rp := range rps {
				sid := fmt.Sprintf("%s-%d", rp, i)
				s.sids = append(s.sids, sid)
				if err := tx.JoinSession(events.SessionJoined{SessionID: s.id, Subject: fmt.Sprintf("u%d", i), RPID: rp,
					OccurredAt: joined, OIDC: &events.OIDCSession{SID: sid}, ExpiresAt: expires}); err != nil {
					return err
				}
			}
			if active.After(joined) {
				if err := tx.TouchSession(s.id, active); err != nil {
					return err
				}
			}
			all[i] = s
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("setup: %v", time.Since(start))

	start = time.Now()
	if got := sweepAll(t, c, SessionSweepBatch); got != n/2 {
		t.Fatalf("swept %d sessions, want %d", got, n/2)
	}
	t.Logf("sweep: %v", time.Since(start))
	reqs := requested(t, st)
	if len(reqs) != n/2 {
		t.Fatalf("%d logout.requested queued, want %d", len(reqs), n/2)
	}
	for _, s := range all {
		req, ok := reqs[s.id]
		if ok != s.expired {
			t.Fatalf("session %q (expired %v): logout queued %v", s.id, s.expired, ok)
		}
		if ok && (req.Initiator != events.InitiatorExpiry || req.Scope != events.ScopeGlobal) {
			t.Fatalf("request %+v", req)
		}
	}
	// A repeated sweep adds nothing.
	if got := sweepAll(t, c, SessionSweepBatch); got != 0 {
		t.Fatalf("second sweep: %d", got)
	}

	// Feed the queued events to the coordinator's own handler, as the
	// router would after the relay published them (64 at a time: the
	// store group-commits them).
	start = time.Now()
	work := make(chan events.LogoutRequested)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for range 64 {
		wg.Go(func() {
			for req := range work {
				b, _ := events.Encode(req)
				if err := c.Handle(context.Background(), events.SubjectLogoutRequested, "", b); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for _, req := range reqs {
		work <- req
	}
	close(work)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	t.Logf("start %d sagas: %v", len(reqs), time.Since(start))

	// Dispatched: exactly the sids of the expired sessions, once each.
	rows, err := st.PendingOutbox(ctx, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	logouts := map[string]bool{}
	for _, r := range rows {
		if r.Subject != events.DispatchSubject(events.AdapterBackchannel) {
			continue
		}
		d, err := events.Decode[events.Dispatch](r.Payload)
		if err != nil {
			t.Fatal(err)
		}
		logouts[d.LogoutID] = true
		for _, s := range d.Sessions {
			got[s.OIDC.SID]++
		}
	}
	want := map[string]int{}
	for _, s := range all {
		if s.expired {
			for _, sid := range s.sids {
				want[sid] = 1
			}
		}
	}
	if len(got) != len(want) || len(logouts) != n/2 {
		t.Errorf("dispatched %d sids in %d logouts, want %d sids in %d", len(got), len(logouts), len(want), n/2)
	}
	for sid, k := range got {
		if want[sid] != k {
			t.Fatalf("sid %s dispatched %d times, want %d", sid, k, want[sid])
		}
	}
	running, err := st.RunningSagas(ctx)
	if err != nil || len(running) != n/2 {
		t.Errorf("%d sagas (%v), want %d", len(running), err, n/2)
	}

	// The other half: still registered, exactly as joined.
	err = st.Update(ctx, func(tx *store.Tx) error {
		for _, s := range all {
			reg, err := tx.Sessions(s.id, "")
			if err != nil {
				return err
			}
			if s.expired && len(reg) != 0 || !s.expired && len(reg) != len(s.sids) {
				return fmt.Errorf("session %q (expired %v): %d registered RP sessions", s.id, s.expired, len(reg))
			}
		}
		return nil
	})
	if err != nil {
		t.Error(err)
	}
}
