package app

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/signoff/signoff/coordinator/saga"
	"github.com/signoff/signoff/events"
	"github.com/signoff/signoff/events/eventstest"
)

// TestForgedDispatchAndResultArePoisoned plays a client on a bus whose
// permissions are too loose (it may publish signoff's internal subjects):
// a forged dispatch, for a running saga and for a logout never requested,
// mints no token; a forged or tampered result leaves the saga unchanged;
// every one of them lands on signoff.poison with a reason. The genuine
// result then still completes the saga.
func TestForgedDispatchAndResultArePoisoned(t *testing.T) {
	victim := newTestRP(t, "wiki", "ES256", 0) // hangs: the saga stays running while we forge
	other := newTestRP(t, "chat", "ES256")
	cfg := testConfig(t, 20*time.Second, victim, other)
	a := startApp(t, cfg, victim, other)
	c := appClient(t, a)
	c.join("sess-1", "alice", "wiki", "sid-wiki")
	c.logout("L-real", "sess-1")
	eventstest.EventuallyErr(t, 10*time.Second, func() error {
		if n, _ := victim.snapshot(); n == 0 {
			return fmt.Errorf("the real delivery has not started")
		}
		return nil
	})
	before, _, _ := a.Store().Saga(context.Background(), "L-real")

	dispatch := func(logoutID, rpID, sid string) []byte {
		b, err := events.Encode(events.Dispatch{EventID: uuid.NewString(), LogoutID: logoutID, RPID: rpID, Adapter: events.AdapterBackchannel,
			Deadline: time.Now().Add(time.Minute).UTC(), OccurredAt: time.Now().UTC(), Initiator: events.InitiatorUser, Subject: "mallory",
			Sessions: []events.DispatchSession{{SessionID: "x", OIDC: &events.OIDCSession{SID: sid}}}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	result := func(logoutID, rpID string) []byte {
		b, err := events.Encode(events.Result{EventID: uuid.NewString(), LogoutID: logoutID, RPID: rpID, Adapter: events.AdapterBackchannel,
			Outcome: events.OutcomeSucceeded, Attempts: 1, FinishedAt: time.Now().UTC()})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	sealer, err := events.NewSealer([]byte(strings.Repeat("k", 32))) // a key that is not signoff's
	if err != nil {
		t.Fatal(err)
	}
	dsubj := events.DispatchSubject(events.AdapterBackchannel)
	forged := []struct {
		name, subject string
		data          []byte
		seal          string
	}{
		{"unsealed dispatch for a logout never requested", dsubj, dispatch("L-forged", "chat", "sid-chosen"), ""},
		{"unsealed dispatch for the running saga", dsubj, dispatch("L-real", "wiki", "sid-chosen"), ""},
		{"dispatch sealed with another key", dsubj, dispatch("L-forged", "chat", "sid-chosen"), sealer.Seal(dsubj, dispatch("L-forged", "chat", "sid-chosen"))},
		{"unsealed succeeded result", events.SubjectLogoutResult, result("L-real", "wiki"), ""},
		{"result sealed with another key", events.SubjectLogoutResult, result("L-real", "wiki"), "v1.AAAA"},
	}
	for _, f := range forged {
		h := nats.Header{}
		if f.seal != "" {
			h.Set(events.HeaderSeal, f.seal)
		}
		if _, err := c.js.PublishMsg(context.Background(), &nats.Msg{Subject: f.subject, Data: f.data, Header: h}); err != nil {
			t.Fatal(err)
		}
	}
	eventstest.EventuallyErr(t, 15*time.Second, func() error {
		if n := len(c.received(events.SubjectPoison)); n < len(forged) {
			return fmt.Errorf("%d of %d forged messages poisoned", n, len(forged))
		}
		return nil
	})
	for _, m := range c.received(events.SubjectPoison) {
		if r := m.Headers().Get(events.HeaderPoisonReason); !strings.Contains(r, "integrity tag") {
			t.Errorf("poisoned with reason %q, want one about the integrity tag", r)
		}
	}
	// Both paths to signoff.poison count in signoff_poisoned_total by
	// subject: the work consumer (dispatches) and the intake (results).
	mfs := waitSample(t, a.Addr(), "signoff_poisoned_total", map[string]string{"subject": dsubj}, 3)
	if v, _ := sample(mfs["signoff_poisoned_total"], map[string]string{"subject": events.SubjectLogoutResult}); v != 2 {
		t.Errorf("signoff_poisoned_total{subject=%q} = %v, want 2", events.SubjectLogoutResult, v)
	}
	if n, _ := other.snapshot(); n != 0 {
		t.Errorf("the forged dispatch minted %d token(s) for chat", n)
	}
	_, toks := victim.snapshot()
	for _, tok := range toks {
		if tok.SID == "sid-chosen" {
			t.Error("a token was minted for the sid the attacker chose")
		}
	}
	after, _, _ := a.Store().Saga(context.Background(), "L-real")
	if after.Status != saga.StatusRunning || after.Participants[0].State != before.Participants[0].State {
		t.Errorf("forged result changed the saga: %s/%s", after.Status, after.Participants[0].State)
	}
	if _, ok, _ := a.Store().Saga(context.Background(), "L-forged"); ok {
		t.Error("a saga exists for the forged logout")
	}
}
