package store

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/signoff/signoff/events"
)

// TestSessionsByNameID: SP-initiated SAML logout finds the sessions of an
// SP by NameID value (newest first), not those of other SPs, other NameIDs
// or OIDC RPs, and the query uses the NameID index.
func TestSessionsByNameID(t *testing.T) {
	s, _ := open(t)
	ctx := context.Background()
	samlJoin := func(session, rp, sub, nameID, index string, at time.Time) events.SessionJoined {
		return events.SessionJoined{SessionID: session, RPID: rp, Subject: sub, OccurredAt: at,
			SAML: &events.SAMLSession{NameID: nameID, Format: "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent", SessionIndex: index}}
	}
	err := s.Update(ctx, func(tx *Tx) error {
		for _, j := range []events.SessionJoined{
			samlJoin("s1", "payroll", "alice", "alice-pid", "_1", t0),
			samlJoin("s2", "payroll", "alice", "alice-pid", "_2", t0.Add(time.Minute)),
			samlJoin("s3", "hr", "alice", "alice-pid", "_3", t0),
			samlJoin("s4", "payroll", "bob", "bob-pid", "_4", t0),
			joined("s1", "wiki", "alice", "alice-pid"),
		} {
			if err := tx.JoinSession(j); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.SessionsByNameID(ctx, "payroll", "alice-pid")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].SessionID != "s2" || got[1].SessionID != "s1" || got[0].SAML.SessionIndex != "_2" || got[0].Subject != "alice" {
		t.Errorf("SessionsByNameID(payroll, alice-pid) = %+v", got)
	}
	if got, _ := s.SessionsByNameID(ctx, "wiki", "alice-pid"); len(got) != 0 {
		t.Errorf("an OIDC sid matched a NameID: %+v", got)
	}
	if got, _ := s.SessionsByNameID(ctx, "payroll", "nobody"); len(got) != 0 {
		t.Errorf("unknown NameID: %+v", got)
	}
	plan := queryPlan(t, s, sessionsByNameIDQuery, "payroll", "x")
	if !strings.Contains(plan, "sessions_saml_name_id") {
		t.Errorf("the NameID lookup does not use its index:\n%s", plan)
	}
}
