package store

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/signoff/signoff/coordinator/saga"
	"github.com/signoff/signoff/events"
)

// TestSessionApps: the applications of one IdP session with the state the
// registry and the session's logouts leave them in; the newest logout
// decides, a join after a logout wins, an RP signed out with proof
// disappears, and other sessions, subject logouts and the sign-in service
// itself are not listed. The logout query uses the sagas_session index.
func TestSessionApps(t *testing.T) {
	s, _ := open(t)
	ctx := context.Background()
	// part is a participant that ended a session of s1 (and of s2).
	part := func(rp string, state events.Outcome) saga.Participant {
		p := saga.Participant{RPID: rp, Name: rp, Adapter: events.AdapterBackchannel, State: state,
			Sessions: []events.DispatchSession{{SessionID: "s2"}, {SessionID: "s1", OIDC: &events.OIDCSession{SID: rp + "-sid"}}}}
		if state != saga.StatePending {
			p.FinishedAt = t0
		}
		return p
	}
	sg := func(id string, status events.Status, session, subject string, at time.Time, ps ...saga.Participant) saga.Saga {
		return saga.Saga{LogoutID: id, Status: status, Initiator: events.InitiatorRP, Scope: events.ScopeInitiatorOnly,
			SessionID: session, Subject: subject, RequestedAt: at, Deadline: at.Add(time.Minute), Participants: ps}
	}
	err := s.Update(ctx, func(tx *Tx) error {
		j2 := joined("s1", "chat", "alice", "c1")
		j2.OccurredAt = t0.Add(3 * time.Minute) // joined again after L1
		for _, j := range []events.SessionJoined{joined("s1", "wiki", "alice", "w1"), j2, joined("s2", "hr", "alice", "h2")} {
			if err := tx.JoinSession(j); err != nil {
				return err
			}
		}
		for _, x := range []saga.Saga{
			// Oldest: chat and notes did not confirm, mail did.
			sg("L1", saga.StatusPartial, "s1", "alice", t0.Add(time.Minute),
				part("chat", events.OutcomeTimedOut), part("notes", events.OutcomeFailed), part("mail", events.OutcomeSucceeded)),
			// Newer: notes signed out with proof after all; payroll still pending.
			sg("L2", saga.StatusRunning, "s1", "alice", t0.Add(2*time.Minute),
				part("notes", events.OutcomeSucceeded), part("payroll", saga.StatePending), part(saga.LocalRPID, saga.StatePending)),
			// Unsupported counts as not confirmed; an RP the logout reached
			// without a session of s1 (fan-out) is not s1's.
			sg("L3", saga.StatusPartial, "s1", "alice", t0.Add(30*time.Second), part("fax", events.OutcomeUnsupported),
				saga.Participant{RPID: "crm", Name: "crm", Adapter: events.AdapterBackchannel, State: events.OutcomeTimedOut, FinishedAt: t0,
					Sessions: []events.DispatchSession{{SessionID: "signoff:fanout"}}}),
			// Another session, and a subject logout: not this session's.
			sg("L4", saga.StatusPartial, "s2", "alice", t0, part("tv", events.OutcomeFailed)),
			sg("L5", saga.StatusPartial, "", "alice", t0, part("radio", events.OutcomeFailed)),
		} {
			if err := tx.SaveSaga(x); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.SessionApps(ctx, "s1")
	if err != nil {
		t.Fatal(err)
	}
	want := []SessionApp{
		{"wiki", AppSignedIn, t0},
		{"chat", AppSignedIn, t0.Add(3 * time.Minute)},
		{"payroll", AppSigningOut, t0.Add(2 * time.Minute)},
		{"fax", AppNotConfirmed, t0.Add(30 * time.Second)},
	}
	if len(got) != len(want) {
		t.Fatalf("SessionApps(s1) = %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].RPID != want[i].RPID || got[i].State != want[i].State || !got[i].Since.Equal(want[i].Since) {
			t.Errorf("SessionApps(s1)[%d] = %+v, want %+v", i, got[i], want[i])
		}
	}
	if got, _ := s.SessionApps(ctx, "nope"); len(got) != 0 {
		t.Errorf("unknown session: %+v", got)
	}
	plan := queryPlan(t, s, sessionAppsLogoutsQuery, "s1", saga.LocalRPID)
	if !strings.Contains(plan, "sagas_session") {
		t.Errorf("the logouts of a session are not found by the sagas_session index:\n%s", plan)
	}
}
