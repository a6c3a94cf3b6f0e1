package saga

import (
	"testing"

	"github.com/signoff/signoff/events"
)

// fanDir is dir with fan-out RPs.
type fanDir struct {
	dir
	fan []RP
}

func (d fanDir) FanoutRPs() []RP { return d.fan }
func (d fanDir) AdapterEnabled(a events.Adapter) bool {
	return a == events.AdapterSAML || d.dir.AdapterEnabled(a)
}

// TestFanoutStates: a fan-out RP whose adapter is not enabled is
// unsupported at once, a SAML one without a subject NameID format fails at
// once (nothing could name the user), the others are dispatched; an RP
// that is a participant already is not added twice; and a logout whose
// participants are only fan-out ones carries no "no sessions" detail.
func TestFanoutStates(t *testing.T) {
	d := fanDir{dir: rps, fan: []RP{
		{ID: "wiki", Name: "Wiki", Adapter: events.AdapterBackchannel},
		{ID: "crm", Name: "CRM", Adapter: events.AdapterBackchannel},
		{ID: "fc", Name: "Blog", Adapter: events.AdapterFrontchannel},
		{ID: "hr", Name: "HR", Adapter: events.AdapterSAML},
	}}
	s, cmds := Start(req(events.ScopeGlobal, ""), sess, d, 30e9, t0)
	want := map[string]events.Outcome{"wiki": StatePending, "chat": StatePending, "crm": StatePending,
		"fc": events.OutcomeUnsupported, "hr": events.OutcomeFailed}
	if len(s.Participants) != len(want) {
		t.Fatalf("participants %+v", s.Participants)
	}
	for _, p := range s.Participants {
		if p.State != want[p.RPID] {
			t.Errorf("%s: %s (%s), want %s", p.RPID, p.State, p.Detail, want[p.RPID])
		}
		if fan := p.RPID == "crm" || p.RPID == "fc" || p.RPID == "hr"; p.Fanout != fan {
			t.Errorf("%s: Fanout %v", p.RPID, p.Fanout)
		}
	}
	if got := dispatched(cmds); len(got) != 3 || got[2] != "crm" {
		t.Errorf("dispatched %v", got)
	}
	// Only fan-out participants: a real logout, no "no sessions" detail.
	s, _ = Start(req(events.ScopeGlobal, ""), nil, fanDir{dir: rps, fan: d.fan[1:2]}, 30e9, t0)
	if s.NoRPSessions() || len(s.Participants) != 1 || len(s.Participants[0].Sessions) != 0 {
		t.Errorf("fan-out only: %+v", s.Participants)
	}
}
