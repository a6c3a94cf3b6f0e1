package saga

import (
	"errors"
	"testing"
	"time"

	"github.com/signoff/signoff/events"
)

type dir map[string]RP

func (d dir) RP(id string) (RP, bool) { rp, ok := d[id]; return rp, ok }
func (d dir) AdapterEnabled(a events.Adapter) bool {
	return a == events.AdapterBackchannel || a == events.AdapterCookie
}

var (
	t0   = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	rps  = dir{"wiki": {ID: "wiki", Name: "Wiki", Adapter: "backchannel"}, "chat": {ID: "chat", Name: "Chat", Adapter: "backchannel"}, "payroll": {ID: "payroll", Name: "Payroll", Adapter: "saml"}}
	sess = []Session{
		{SessionID: "s1", Subject: "alice", RPID: "wiki", OIDC: &events.OIDCSession{SID: "w1"}},
		{SessionID: "s1", Subject: "alice", RPID: "chat", OIDC: &events.OIDCSession{SID: "c1"}},
		{SessionID: "s2", Subject: "alice", RPID: "wiki", OIDC: &events.OIDCSession{SID: "w2"}},
	}
)

func req(scope events.Scope, initiating string) events.LogoutRequested {
	return events.LogoutRequested{LogoutID: "L1", Subject: "alice", Initiator: events.InitiatorUser, Scope: scope, InitiatingRPID: initiating}
}

func browserReq() events.LogoutRequested {
	r := req(events.ScopeGlobal, "")
	r.Browser = true
	return r
}

func dispatched(cmds []Command) []string {
	var out []string
	for _, c := range cmds {
		if d, ok := c.(Dispatch); ok {
			out = append(out, d.Participant.RPID)
		}
	}
	return out
}

func completion(cmds []Command) *Complete {
	for _, c := range cmds {
		if d, ok := c.(Complete); ok {
			return &d
		}
	}
	return nil
}

func TestStart(t *testing.T) {
	tests := []struct {
		name         string
		req          events.LogoutRequested
		sessions     []Session
		wantDispatch []string
		wantStatus   events.Status
		wantStates   map[string]events.Outcome
		wantSessions map[string]int
	}{
		{"global groups sessions per RP", req(events.ScopeGlobal, ""), sess, []string{"wiki", "chat"}, StatusRunning,
			map[string]events.Outcome{"wiki": StatePending, "chat": StatePending}, map[string]int{"wiki": 2, "chat": 1}},
		{"initiator only keeps the initiating RP", req(events.ScopeInitiatorOnly, "chat"), sess, []string{"chat"}, StatusRunning,
			map[string]events.Outcome{"chat": StatePending}, map[string]int{"chat": 1}},
		{"no sessions completes at once", req(events.ScopeGlobal, ""), nil, nil, StatusComplete, map[string]events.Outcome{}, nil},
		{"disabled adapter is unsupported", req(events.ScopeGlobal, ""), []Session{{SessionID: "s1", RPID: "payroll", SAML: &events.SAMLSession{NameID: "a"}}},
			nil, StatusPartial, map[string]events.Outcome{"payroll": events.OutcomeUnsupported}, map[string]int{"payroll": 1}},
		{"unknown RP fails", req(events.ScopeGlobal, ""), []Session{{SessionID: "s1", RPID: "gone"}},
			nil, StatusPartial, map[string]events.Outcome{"gone": events.OutcomeFailed}, nil},
		{"browser logout adds the local session first", browserReq(), sess[:2], []string{LocalRPID, "wiki", "chat"}, StatusRunning,
			map[string]events.Outcome{LocalRPID: StatePending, "wiki": StatePending, "chat": StatePending}, map[string]int{LocalRPID: 0, "wiki": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, cmds := Start(tt.req, tt.sessions, rps, 30*time.Second, t0)
			if got := dispatched(cmds); !equal(got, tt.wantDispatch) {
				t.Errorf("dispatched %v, want %v", got, tt.wantDispatch)
			}
			if s.Status != tt.wantStatus {
				t.Errorf("status %q, want %q", s.Status, tt.wantStatus)
			}
			if (completion(cmds) != nil) != (tt.wantStatus != StatusRunning) {
				t.Errorf("complete command present = %v for status %q", completion(cmds) != nil, s.Status)
			}
			if len(s.Participants) != len(tt.wantStates) {
				t.Fatalf("%d participants, want %d", len(s.Participants), len(tt.wantStates))
			}
			for _, p := range s.Participants {
				if p.State != tt.wantStates[p.RPID] {
					t.Errorf("%s state %q, want %q", p.RPID, p.State, tt.wantStates[p.RPID])
				}
				if n, ok := tt.wantSessions[p.RPID]; ok && len(p.Sessions) != n {
					t.Errorf("%s has %d sessions, want %d", p.RPID, len(p.Sessions), n)
				}
			}
			if !s.Deadline.Equal(t0.Add(30 * time.Second)) {
				t.Errorf("deadline %v", s.Deadline)
			}
		})
	}
}

func result(rp string, outcome events.Outcome) events.Result {
	return events.Result{LogoutID: "L1", RPID: rp, Adapter: "backchannel", Outcome: outcome, Attempts: 1, FinishedAt: t0.Add(time.Second)}
}

func TestApplyResultAndExpire(t *testing.T) {
	type step struct {
		result     *events.Result
		expireAt   time.Duration // when result is nil
		wantStatus events.Status
		wantDone   bool // a Complete command is emitted by this step
		wantErr    error
	}
	ok, fail := result("wiki", events.OutcomeSucceeded), result("chat", events.OutcomeFailed)
	chatOK, ghost := result("chat", events.OutcomeSucceeded), result("ghost", events.OutcomeSucceeded)
	tests := []struct {
		name      string
		steps     []step
		wantFinal map[string]events.Outcome
	}{
		{"all succeed → complete", []step{{result: &ok, wantStatus: StatusRunning}, {result: &chatOK, wantStatus: StatusComplete, wantDone: true}},
			map[string]events.Outcome{"wiki": events.OutcomeSucceeded, "chat": events.OutcomeSucceeded}},
		{"one fails → partial", []step{{result: &fail, wantStatus: StatusRunning}, {result: &ok, wantStatus: StatusPartial, wantDone: true}},
			map[string]events.Outcome{"wiki": events.OutcomeSucceeded, "chat": events.OutcomeFailed}},
		{"repeated result changes nothing", []step{{result: &ok, wantStatus: StatusRunning}, {result: &ok, wantStatus: StatusRunning}},
			map[string]events.Outcome{"wiki": events.OutcomeSucceeded, "chat": StatePending}},
		{"late result after completion changes nothing", []step{{result: &ok}, {result: &fail, wantStatus: StatusPartial, wantDone: true}, {result: &chatOK, wantStatus: StatusPartial}},
			map[string]events.Outcome{"wiki": events.OutcomeSucceeded, "chat": events.OutcomeFailed}},
		{"unknown participant is an error", []step{{result: &ghost, wantStatus: StatusRunning, wantErr: ErrUnknownParticipant}},
			map[string]events.Outcome{"wiki": StatePending, "chat": StatePending}},
		{"expiry before the deadline changes nothing", []step{{expireAt: 29 * time.Second, wantStatus: StatusRunning}},
			map[string]events.Outcome{"wiki": StatePending, "chat": StatePending}},
		{"expiry at the deadline times out pending", []step{{result: &ok, wantStatus: StatusRunning}, {expireAt: 30 * time.Second, wantStatus: StatusPartial, wantDone: true}},
			map[string]events.Outcome{"wiki": events.OutcomeSucceeded, "chat": events.OutcomeTimedOut}},
		{"result after expiry changes nothing", []step{{expireAt: 31 * time.Second, wantStatus: StatusPartial, wantDone: true}, {result: &ok, wantStatus: StatusPartial}},
			map[string]events.Outcome{"wiki": events.OutcomeTimedOut, "chat": events.OutcomeTimedOut}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := Start(req(events.ScopeGlobal, ""), sess, rps, 30*time.Second, t0)
			for i, st := range tt.steps {
				var cmds []Command
				var err error
				if st.result != nil {
					s, cmds, _, err = s.ApplyResult(*st.result, t0.Add(time.Second))
				} else {
					s, cmds = s.Expire(t0.Add(st.expireAt))
				}
				if !errors.Is(err, st.wantErr) {
					t.Fatalf("step %d: err %v, want %v", i, err, st.wantErr)
				}
				if st.wantStatus != "" && s.Status != st.wantStatus {
					t.Errorf("step %d: status %q, want %q", i, s.Status, st.wantStatus)
				}
				if (completion(cmds) != nil) != st.wantDone {
					t.Errorf("step %d: complete emitted = %v, want %v", i, completion(cmds) != nil, st.wantDone)
				}
			}
			for _, p := range s.Participants {
				if p.State != tt.wantFinal[p.RPID] {
					t.Errorf("%s: %q, want %q", p.RPID, p.State, tt.wantFinal[p.RPID])
				}
			}
		})
	}
}

func TestCompleteListsEveryParticipant(t *testing.T) {
	s, _ := Start(req(events.ScopeGlobal, ""), sess, rps, 30*time.Second, t0)
	s, _, _, _ = s.ApplyResult(result("wiki", events.OutcomeSucceeded), t0)
	_, cmds := s.Expire(t0.Add(time.Minute))
	c := completion(cmds)
	if c == nil || c.Outcome != events.StatusPartial || len(c.Participants) != 2 {
		t.Fatalf("completion %+v", c)
	}
	if c.Participants[0].Name != "Wiki" || c.Participants[1].Outcome != events.OutcomeTimedOut {
		t.Errorf("participants %+v", c.Participants)
	}
}

func TestResume(t *testing.T) {
	s, _ := Start(req(events.ScopeGlobal, ""), sess, rps, 30*time.Second, t0)
	s, _, _, _ = s.ApplyResult(result("wiki", events.OutcomeSucceeded), t0)
	if _, cmds := s.Resume(t0.Add(10 * time.Second)); !equal(dispatched(cmds), []string{"chat"}) {
		t.Errorf("resume before deadline dispatched %v, want [chat]", dispatched(cmds))
	}
	s2, cmds := s.Resume(t0.Add(40 * time.Second))
	if s2.Status != StatusPartial || completion(cmds) == nil || len(dispatched(cmds)) != 0 {
		t.Errorf("resume after deadline: status %q cmds %v", s2.Status, cmds)
	}
	if _, cmds := s2.Resume(t0.Add(50 * time.Second)); len(cmds) != 0 {
		t.Errorf("resume of an ended saga emitted %v", cmds)
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestApplyResultSaysWhetherItChanged: the first result of a participant
// changes the saga; the same result again, another for a terminal
// participant, and one for an ended saga change nothing.
func TestApplyResultSaysWhetherItChanged(t *testing.T) {
	s, _ := Start(req(events.ScopeGlobal, ""), sess, rps, 30*time.Second, t0)
	s, _, changed, err := s.ApplyResult(result("wiki", events.OutcomeSucceeded), t0)
	if err != nil || !changed {
		t.Fatalf("first result: changed %t, err %v", changed, err)
	}
	if _, _, changed, _ := s.ApplyResult(result("wiki", events.OutcomeFailed), t0); changed {
		t.Error("a result for a terminal participant changed the saga")
	}
	ended, _ := s.Expire(t0.Add(time.Minute))
	if _, _, changed, _ := ended.ApplyResult(result("chat", events.OutcomeSucceeded), t0); changed {
		t.Error("a result for an ended saga changed it")
	}
}
