package coordinator

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/signoff/signoff/coordinator/bus"
	"github.com/signoff/signoff/coordinator/saga"
	"github.com/signoff/signoff/coordinator/store"
	"github.com/signoff/signoff/events"
)

// fanoutDir is dir with fan-out RPs: "crm" (OIDC back-channel) and
// "payroll" (SAML, NameID = subject).
type fanoutDir struct{ dir }

func (fanoutDir) RP(id string) (saga.RP, bool) {
	switch id {
	case "crm":
		return saga.RP{ID: id, Name: "CRM", Adapter: events.AdapterBackchannel}, true
	case "payroll":
		return saga.RP{ID: id, Name: "Payroll", Adapter: events.AdapterSAML, SubjectNameIDFormat: persistent}, true
	}
	return dir{}.RP(id)
}
func (fanoutDir) AdapterEnabled(a events.Adapter) bool {
	return a == events.AdapterBackchannel || a == events.AdapterSAML
}
func (d fanoutDir) FanoutRPs() []saga.RP {
	crm, _ := d.RP("crm")
	payroll, _ := d.RP("payroll")
	return []saga.RP{crm, payroll}
}

const persistent = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"

// setupUpstream registers sessions resting on upstream sessions:
//
//	s1 alice wiki (corp/A), chat (no upstream in its join)
//	s2 alice wiki (corp/A)    s3 alice chat (corp/B)
//	s4 alice wiki (other/A)   s5 alice wiki (none)
//	s6 bob   wiki (corp/C)
func setupUpstream(t *testing.T, d saga.Directory) (*Coordinator, *store.Store) {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), "c.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	clk := &clock{t: time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)}
	c := New(Config{Store: st, Directory: d, Deadline: 30 * time.Second, Now: clk.Now})
	up := func(id, sid string) *events.Upstream { return &events.Upstream{ID: id, SID: sid} }
	joins := []events.SessionJoined{
		{SessionID: "s1", Subject: "alice", RPID: "wiki", Upstream: up("corp", "A")},
		{SessionID: "s1", Subject: "alice", RPID: "chat"},
		{SessionID: "s2", Subject: "alice", RPID: "wiki", Upstream: up("corp", "A")},
		{SessionID: "s3", Subject: "alice", RPID: "chat", Upstream: up("corp", "B")},
		{SessionID: "s4", Subject: "alice", RPID: "wiki", Upstream: up("other", "A")},
		{SessionID: "s5", Subject: "alice", RPID: "wiki"},
		{SessionID: "s6", Subject: "bob", RPID: "wiki", Upstream: up("corp", "C")},
	}
	err = st.Update(context.Background(), func(tx *store.Tx) error {
		for i, j := range joins {
			j.OccurredAt = clk.Now().Add(time.Duration(i) * time.Second)
			j.OIDC = &events.OIDCSession{SID: j.SessionID + "-" + j.RPID}
			if err := tx.JoinSession(j); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return c, st
}

// registered lists the "session/rp" pairs still in the registry.
func registered(t *testing.T, st *store.Store) []string {
	t.Helper()
	var out []string
	err := st.Update(context.Background(), func(tx *store.Tx) error {
		for _, sub := range []string{"alice", "bob"} {
			ss, err := tx.Sessions("", sub)
			if err != nil {
				return err
			}
			for _, s := range ss {
				out = append(out, s.SessionID+"/"+s.RPID)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(out)
	return out
}

// started loads a saga and lists its "session/rp" pairs.
func started(t *testing.T, st *store.Store, id string) (saga.Saga, []string) {
	t.Helper()
	var s saga.Saga
	err := st.Update(context.Background(), func(tx *store.Tx) error {
		var ok bool
		var err error
		s, ok, err = tx.Saga(id)
		if err == nil && !ok {
			err = errors.New("no saga " + id)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	var pairs []string
	for _, p := range s.Participants {
		for _, ds := range p.Sessions {
			pairs = append(pairs, ds.SessionID+"/"+p.RPID)
		}
	}
	sort.Strings(pairs)
	return s, pairs
}

func completedOf(t *testing.T, st *store.Store, id string) (events.Completed, bool) {
	t.Helper()
	rows, err := st.PendingOutbox(context.Background(), 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if r.Subject != events.SubjectLogoutCompleted {
			continue
		}
		if ev, err := events.Decode[events.Completed](r.Payload); err == nil && ev.LogoutID == id {
			return ev, true
		}
	}
	return events.Completed{}, false
}

// TestUpstreamLogoutResolution: a logout.requested with upstream ends
// exactly the signoff sessions resting on that upstream session (by sid:
// every session that joined with it, whole; by subject without sid: every
// session of the user on that upstream), leaves the others registered, and
// completes with a detail naming the upstream when none is known.
func TestUpstreamLogoutResolution(t *testing.T) {
	all := []string{"s1/chat", "s1/wiki", "s2/wiki", "s3/chat", "s4/wiki", "s5/wiki", "s6/wiki"}
	for _, tc := range []struct {
		name    string
		req     events.LogoutRequested
		ended   []string
		subject string // the saga's subject
		detail  string // of logout.completed when nothing matched
	}{
		{name: "sid ends every session that joined with it, whole",
			req:   events.LogoutRequested{Upstream: &events.Upstream{ID: "corp", SID: "A"}},
			ended: []string{"s1/chat", "s1/wiki", "s2/wiki"}, subject: "alice"},
		{name: "sid with sub: the sid decides",
			req:   events.LogoutRequested{Subject: "alice", Upstream: &events.Upstream{ID: "corp", SID: "B"}},
			ended: []string{"s3/chat"}, subject: "alice"},
		{name: "sid with the upstream's own sub: the registry's subject names the user",
			req:   events.LogoutRequested{Subject: "alice@corp", Upstream: &events.Upstream{ID: "corp", SID: "B"}},
			ended: []string{"s3/chat"}, subject: "alice"},
		{name: "unknown sid with sub: the sub is kept (fan-out)",
			req:    events.LogoutRequested{Subject: "carol", Upstream: &events.Upstream{ID: "corp", SID: "Z"}},
			detail: NoUpstreamSessionsDetail(events.Upstream{ID: "corp", SID: "Z"}), subject: "carol"},
		{name: "same sid at another upstream",
			req:   events.LogoutRequested{Upstream: &events.Upstream{ID: "other", SID: "A"}},
			ended: []string{"s4/wiki"}, subject: "alice"},
		{name: "sub only: the user's sessions on that upstream",
			req:   events.LogoutRequested{Subject: "alice", Upstream: &events.Upstream{ID: "corp"}},
			ended: []string{"s1/chat", "s1/wiki", "s2/wiki", "s3/chat"}, subject: "alice"},
		{name: "unknown sid",
			req:    events.LogoutRequested{Upstream: &events.Upstream{ID: "corp", SID: "Z"}},
			detail: NoUpstreamSessionsDetail(events.Upstream{ID: "corp", SID: "Z"})},
		{name: "sub with no session on that upstream",
			req:    events.LogoutRequested{Subject: "bob", Upstream: &events.Upstream{ID: "other"}},
			detail: NoUpstreamSessionsDetail(events.Upstream{ID: "other"}), subject: "bob"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, st := setupUpstream(t, dir{})
			req := tc.req
			req.EventID, req.LogoutID, req.OccurredAt = "9c1f1d8e-6f0b-4b9a-8b1e-2f7d0c0b9a01", "L-up", time.Now()
			req.Initiator, req.Scope = events.InitiatorIdP, events.ScopeGlobal
			b, err := events.Encode(req)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Handle(context.Background(), events.SubjectLogoutRequested, "", b); err != nil {
				t.Fatal(err)
			}
			s, pairs := started(t, st, "L-up")
			if !slices.Equal(pairs, tc.ended) {
				t.Errorf("participants' sessions = %v, want %v", pairs, tc.ended)
			}
			if s.Subject != tc.subject {
				t.Errorf("saga subject %q, want %q", s.Subject, tc.subject)
			}
			var left []string
			for _, p := range all {
				if !slices.Contains(tc.ended, p) {
					left = append(left, p)
				}
			}
			if got := registered(t, st); !slices.Equal(got, left) {
				t.Errorf("registry after the logout = %v, want %v", got, left)
			}
			ev, done := completedOf(t, st, "L-up")
			if tc.detail != "" {
				if !done || ev.Detail != tc.detail || len(ev.Participants) != 0 {
					t.Errorf("completed %v %+v, want detail %q", done, ev, tc.detail)
				}
			} else if done {
				t.Errorf("completed at once with participants pending: %+v", ev)
			}
			// The same logout again starts nothing new.
			if err := c.Handle(context.Background(), events.SubjectLogoutRequested, "", b); err != nil {
				t.Fatal(err)
			}
			if _, again := started(t, st, "L-up"); !slices.Equal(again, pairs) {
				t.Errorf("a repeated request changed the saga: %v", again)
			}
		})
	}
}

// TestUpstreamWithoutSIDOrSubjectPoisoned: an upstream without sid and
// without subject names no session; it is refused (poison) with a reason.
func TestUpstreamWithoutSIDOrSubjectPoisoned(t *testing.T) {
	c, st := setupUpstream(t, dir{})
	b, _ := events.Encode(events.LogoutRequested{EventID: "9c1f1d8e-6f0b-4b9a-8b1e-2f7d0c0b9a02", LogoutID: "L-bad",
		OccurredAt: time.Now(), SessionID: "s1", Initiator: events.InitiatorIdP, Scope: events.ScopeGlobal, Upstream: &events.Upstream{ID: "corp"}})
	_, err := c.Prepare(events.SubjectLogoutRequested, "", b)
	if !errors.Is(err, bus.ErrPermanent) || !strings.Contains(err.Error(), "needs subject") {
		t.Fatalf("Prepare = %v, want a permanent error", err)
	}
	if got := registered(t, st); len(got) != 7 {
		t.Errorf("registry changed: %v", got)
	}
}

// TestFanoutParticipants: RPs configured fanout: always take part in every
// global logout whose subject is known — with no session (OIDC: a sub-only
// token), or NameID = subject (SAML) — unless they are participants
// already; an initiator_only logout, or one whose subject is unknown, has
// none. The subject of a logout by session_id comes from its sessions.
func TestFanoutParticipants(t *testing.T) {
	for _, tc := range []struct {
		name string
		req  events.LogoutRequested
		want []string // participants "rp:adapter:sessions"
	}{
		{name: "by session_id: subject resolved from its sessions",
			req:  events.LogoutRequested{SessionID: "s5", Scope: events.ScopeGlobal},
			want: []string{"wiki:backchannel:s5", "crm:backchannel:", "payroll:saml:signoff:fanout=alice"}},
		{name: "by subject with no session at all",
			req:  events.LogoutRequested{Subject: "carol", Scope: events.ScopeGlobal},
			want: []string{"crm:backchannel:", "payroll:saml:signoff:fanout=carol"}},
		{name: "upstream sid: subject from the sessions found",
			req:  events.LogoutRequested{Upstream: &events.Upstream{ID: "corp", SID: "C"}, Scope: events.ScopeGlobal},
			want: []string{"wiki:backchannel:s6", "crm:backchannel:", "payroll:saml:signoff:fanout=bob"}},
		{name: "unknown session, no subject: no fan-out",
			req: events.LogoutRequested{SessionID: "nope", Scope: events.ScopeGlobal}},
		{name: "initiator_only: no fan-out",
			req:  events.LogoutRequested{SessionID: "s5", Scope: events.ScopeInitiatorOnly, InitiatingRPID: "wiki", Initiator: events.InitiatorRP},
			want: []string{"wiki:backchannel:s5"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, st := setupUpstream(t, fanoutDir{})
			req := tc.req
			req.EventID, req.LogoutID, req.OccurredAt = "9c1f1d8e-6f0b-4b9a-8b1e-2f7d0c0b9a03", "L-fan", time.Now()
			if req.Initiator == "" {
				req.Initiator = events.InitiatorAdmin
			}
			b, err := events.Encode(req)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Handle(context.Background(), events.SubjectLogoutRequested, "", b); err != nil {
				t.Fatal(err)
			}
			s, _ := started(t, st, "L-fan")
			var got []string
			for _, p := range s.Participants {
				var ss []string
				for _, ds := range p.Sessions {
					v := ds.SessionID
					if ds.SAML != nil {
						v += "=" + ds.SAML.NameID
						if ds.SAML.Format != persistent || ds.SAML.SessionIndex != "" {
							t.Errorf("fan-out SAML session %+v", ds.SAML)
						}
					}
					ss = append(ss, v)
				}
				got = append(got, p.RPID+":"+string(p.Adapter)+":"+strings.Join(ss, ","))
				if p.State != saga.StatePending {
					t.Errorf("participant %s is %s (%s)", p.RPID, p.State, p.Detail)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("participants = %q, want %q", got, tc.want)
			}
			// Fan-out participants take no registry session: only the
			// real ones are gone.
			if n := len(registered(t, st)); n != 7-countReal(tc.want) {
				t.Errorf("registry has %d sessions left", n)
			}
			// The dispatch outbox has one row per participant.
			if n := outbox(t, st)[events.DispatchSubject(events.AdapterBackchannel)] + outbox(t, st)[events.DispatchSubject(events.AdapterSAML)]; n != len(tc.want) {
				t.Errorf("%d dispatches, want %d", n, len(tc.want))
			}
		})
	}
}

func countReal(parts []string) int {
	n := 0
	for _, p := range parts {
		if strings.HasSuffix(p, ":s5") || strings.HasSuffix(p, ":s6") {
			n++
		}
	}
	return n
}
