package saml

import (
	"bytes"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/signoff/signoff/adapters/saml/message"
	"github.com/signoff/signoff/events"
)

// watched reports each Watch of the wrapped Changes, so that a test
// changes the saga only once the endpoint waits for it.
type watched struct {
	Changes
	ch chan string
}

func (w watched) Watch(id string) (<-chan struct{}, func()) {
	c, stop := w.Changes.Watch(id)
	w.ch <- id
	return c, stop
}

// TestSOAPAnswerWakesOnChange: an SP-initiated SOAP logout is answered when
// the store notifies the end of its saga — the safety re-read is an hour,
// so only the notification can wake it — and after a notified change that
// does not end the saga it keeps waiting. No subscription is left after
// the answer.
func TestSOAPAnswerWakesOnChange(t *testing.T) {
	tsp := newTestSP(t, idpEntityID, idpCerts(t))
	sp := loadSP(t, "payroll", "", tsp.entityID, tsp.signer.Certificate(), message.Endpoint{Binding: message.BindingSOAP, Location: tsp.soapURL()})
	w := watched{ch: make(chan string, 1)}
	e := newEnv(t, []SP{sp}, func(c *Config) {
		w.Changes = c.Changes
		c.Changes, c.Recheck, c.LogoutDeadline = w, time.Hour, time.Hour
	})
	e.sessions = fakeSessions{{"payroll", Session{SessionID: "idp-1", Subject: "carol", SAML: events.SAMLSession{NameID: "carol", SessionIndex: "_s"}}}}
	now := time.Now().UTC()
	req := message.LogoutRequest{ID: message.NewID(), Issuer: tsp.entityID, IssueInstant: now, NotOnOrAfter: now.Add(time.Minute),
		NameID: message.NameID{Value: "carol"}, SessionIndexes: []string{"_s"}}
	signed, err := tsp.signer.SignRequest(req)
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	answered := make(chan struct{})
	go func() {
		defer close(answered)
		e.handler.ServeHTTP(rec, httptest.NewRequest("POST", "/saml/slo/soap", bytes.NewReader(message.SOAPEnvelope(signed))))
	}()
	id := <-w.ch
	if lr, ok := e.starter.last(); !ok || lr.LogoutID != id {
		t.Fatalf("the endpoint watches %q, not the logout it started (%+v)", id, lr)
	}
	parts := []Participant{{RPID: "payroll", Outcome: events.OutcomeSucceeded}, {RPID: "chat", Outcome: events.OutcomePending}}
	e.sagas.put(Logout{ID: id, Status: events.StatusRunning, Initiator: events.InitiatorRP, InitiatingRPID: "payroll",
		Deadline: now.Add(time.Hour), Participants: parts})
	// Still running: the endpoint waits on. The saga ends: it answers.
	parts = []Participant{parts[0], {RPID: "chat", Outcome: events.OutcomeSucceeded}}
	e.sagas.put(Logout{ID: id, Status: events.StatusComplete, Initiator: events.InitiatorRP, InitiatingRPID: "payroll",
		Deadline: now.Add(time.Hour), Participants: parts})
	<-answered
	if rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	in, err := message.ParseSOAP(rec.Body.Bytes(), message.Expect{Certs: func(string) ([]*x509Cert, bool) { return idpCertList(t), true }})
	if err != nil {
		t.Fatalf("signoff's SOAP answer: %v", err)
	}
	if in.Response == nil || in.Response.StatusCode != message.StatusSuccess || in.Response.SubStatusCode != "" {
		t.Errorf("response %+v, want Success without PartialLogout", in.Response)
	}
	if n := e.sagas.Len(); n != 0 {
		t.Fatalf("%d subscriptions left after the answer", n)
	}
}
