package saga

import (
	"time"

	"github.com/signoff/signoff/events"
)

// FanoutSessionID is the session_id of the session a fan-out participant
// is dispatched with when its protocol needs one to name the user (SAML:
// NameID = subject). No registry session has it taken.
const FanoutSessionID = "signoff:fanout"

// FanoutDirectory is a Directory that also lists the relying parties
// configured with fanout: always (DESIGN.md "Registry-less fan-out"):
// they take part in every global logout of a subject, even when signoff
// knows no session of the user there. A Directory without this method has
// none.
type FanoutDirectory interface {
	FanoutRPs() []RP
}

// addFanout adds a participant for every fan-out RP that is not one
// already, when the logout is global and its subject is known (from the
// request, or from the sessions found). The participant has no registry
// session: an OIDC back-channel RP gets a logout token with sub only
// (OpenID Connect Back-Channel Logout 1.0 section 2.4: sid is optional),
// a SAML SP a LogoutRequest whose NameID is the subject (saml-core 3.7.1,
// without SessionIndex: every session of the principal).
func (s *Saga) addFanout(dir Directory, now time.Time) {
	fd, ok := dir.(FanoutDirectory)
	if !ok || s.Scope == events.ScopeInitiatorOnly || s.Subject == "" {
		return
	}
	for _, rp := range fd.FanoutRPs() {
		if s.find(rp.ID) >= 0 {
			continue
		}
		p := Participant{RPID: rp.ID, Name: rp.Name, Adapter: rp.Adapter, State: StatePending, Fanout: true}
		switch {
		case rp.Adapter == "" || !dir.AdapterEnabled(rp.Adapter):
			p.State, p.Detail, p.FinishedAt = events.OutcomeUnsupported, unsupportedDetail(rp.Adapter), now
		case rp.Adapter == events.AdapterSAML && rp.SubjectNameIDFormat != "":
			p.Sessions = []events.DispatchSession{{SessionID: FanoutSessionID,
				SAML: &events.SAMLSession{NameID: s.Subject, Format: rp.SubjectNameIDFormat}}}
		case rp.Adapter == events.AdapterSAML:
			p.State, p.Detail, p.FinishedAt = events.OutcomeFailed, "fanout: always needs name_id: subject on a SAML relying party", now
		}
		s.Participants = append(s.Participants, p)
	}
}
