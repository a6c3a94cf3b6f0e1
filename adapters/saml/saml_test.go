package saml

import (
	"context"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/signoff/signoff/adapters/saml/message"
	"github.com/signoff/signoff/events"
)

const (
	persistent       = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"
	unknownPrincipal = "urn:oasis:names:tc:SAML:2.0:status:UnknownPrincipal"
)

func samlSession(id, nameID, index string) events.DispatchSession {
	return events.DispatchSession{SessionID: id, SAML: &events.SAMLSession{NameID: nameID, Format: persistent,
		NameQualifier: idpEntityID, SPNameQualifier: "https://sp.example", SessionIndex: index}}
}

func dispatch(rpID string, initiator events.Initiator, deadline time.Duration, sessions ...events.DispatchSession) events.Dispatch {
	return events.Dispatch{EventID: uuid.NewString(), LogoutID: uuid.NewString(), RPID: rpID, Adapter: events.AdapterSAML,
		Deadline: time.Now().Add(deadline), OccurredAt: time.Now(), Initiator: initiator, Subject: "alice", Sessions: sessions}
}

// soapEnv is an adapter with one SOAP SP "payroll" behind tsp.
func soapEnv(t *testing.T, script ...soapStep) (*env, *testSP) {
	t.Helper()
	tsp := newTestSP(t, idpEntityID, idpCerts(t), script...)
	sp := loadSP(t, "payroll", "", tsp.entityID, tsp.signer.Certificate(),
		message.Endpoint{Binding: message.BindingRedirect, Location: tsp.srv.URL + "/slo"},
		message.Endpoint{Binding: message.BindingSOAP, Location: tsp.soapURL()})
	if sp.Channel() != ChannelSOAP {
		t.Fatalf("an SP with a SOAP endpoint has channel %q", sp.Channel())
	}
	return newEnv(t, []SP{sp}), tsp
}

// TestSOAPSuccess: the SP verifies signoff's signed LogoutRequest and finds
// the NameID exactly as registered, the SessionIndex, the Reason of the
// initiator, Destination and a 5-minute NotOnOrAfter; its signed Success
// makes the participant succeed with one attempt.
func TestSOAPSuccess(t *testing.T) {
	e, tsp := soapEnv(t)
	for _, tc := range []struct {
		initiator events.Initiator
		reason    string
	}{
		{events.InitiatorUser, message.ReasonUser},
		{events.InitiatorAdmin, message.ReasonAdmin},
		{events.InitiatorExpiry, message.ReasonGlobalTimeout},
	} {
		d := dispatch("payroll", tc.initiator, 5*time.Second, samlSession("s1", "alice-pid", "_idx1"), samlSession("s2", "alice-pid", "_idx2"))
		if err := e.a.Handle(context.Background(), d); err != nil {
			t.Fatal(err)
		}
		res := e.res.next(t, 5*time.Second)
		if res.Outcome != events.OutcomeSucceeded || res.Attempts != 1 || res.Adapter != events.AdapterSAML || res.LogoutID != d.LogoutID || res.RPID != "payroll" {
			t.Fatalf("result %+v", res)
		}
		reqs, errs := tsp.snapshot()
		if len(errs) > 0 {
			t.Fatalf("the SP refused: %v", errs)
		}
		r := reqs[len(reqs)-1]
		want := message.NameID{Value: "alice-pid", Format: persistent, NameQualifier: idpEntityID, SPNameQualifier: "https://sp.example"}
		if r.NameID != want || !slices.Equal(r.SessionIndexes, []string{"_idx1", "_idx2"}) {
			t.Errorf("NameID %+v SessionIndexes %v", r.NameID, r.SessionIndexes)
		}
		if r.Issuer != idpEntityID || r.Destination != tsp.soapURL() || r.Reason != tc.reason || !strings.HasPrefix(r.ID, "_") {
			t.Errorf("request %+v", r)
		}
		if got := r.NotOnOrAfter.Sub(r.IssueInstant); got != RequestLifetime {
			t.Errorf("NotOnOrAfter − IssueInstant = %v", got)
		}
	}
}

// TestSOAPOutcomes: each answer of a SOAP SP and the outcome it gives.
func TestSOAPOutcomes(t *testing.T) {
	tests := []struct {
		name     string
		script   []soapStep
		deadline time.Duration
		outcome  events.Outcome
		attempts int
		detail   []string
	}{
		{"responder status", []soapStep{{status: message.StatusResponder, sub: unknownPrincipal}}, 5 * time.Second,
			events.OutcomeFailed, 1, []string{message.StatusResponder, unknownPrincipal}},
		{"503 then success", []soapStep{{httpStatus: 503}, {}}, 5 * time.Second, events.OutcomeSucceeded, 2, []string{"Success"}},
		{"500 then 429 then success", []soapStep{{httpStatus: 500}, {httpStatus: 429}, {}}, 5 * time.Second, events.OutcomeSucceeded, 3, []string{"Success"}},
		{"400 is final", []soapStep{{httpStatus: 400}}, 5 * time.Second, events.OutcomeFailed, 1, []string{"HTTP 400"}},
		{"unsigned", []soapStep{{unsigned: true}}, 5 * time.Second, events.OutcomeFailed, 1, []string{"not signed"}},
		{"forged signature", []soapStep{{forged: true}}, 5 * time.Second, events.OutcomeFailed, 1, []string{"bad signature"}},
		{"wrong InResponseTo", []soapStep{{inResponseTo: "_other"}}, 5 * time.Second, events.OutcomeFailed, 1, []string{"InResponseTo"}},
		{"foreign Destination", []soapStep{{destination: "https://evil.example/slo"}}, 5 * time.Second, events.OutcomeFailed, 1, []string{"Destination"}},
		{"signoff's Destination", []soapStep{{destination: idpEntityID + "/saml/slo/soap"}}, 5 * time.Second, events.OutcomeSucceeded, 1, []string{"Success"}},
		{"down until the deadline", []soapStep{{httpStatus: 503}}, 700 * time.Millisecond, events.OutcomeTimedOut, 0, []string{"no confirmation before the deadline", "HTTP 503"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			e, tsp := soapEnv(t, tt.script...)
			if err := e.a.Handle(context.Background(), dispatch("payroll", events.InitiatorUser, tt.deadline, samlSession("s1", "alice-pid", "_i"))); err != nil {
				t.Fatal(err)
			}
			res := e.res.next(t, 10*time.Second)
			if res.Outcome != tt.outcome || (tt.attempts > 0 && res.Attempts != tt.attempts) {
				t.Errorf("outcome %s after %d attempt(s) (%s), want %s after %d", res.Outcome, res.Attempts, res.Detail, tt.outcome, tt.attempts)
			}
			for _, d := range tt.detail {
				if !strings.Contains(res.Detail, d) {
					t.Errorf("detail %q lacks %q", res.Detail, d)
				}
			}
			reqs, errs := tsp.snapshot()
			if len(errs) > 0 {
				t.Errorf("the SP refused signoff's requests: %v", errs)
			}
			if len(reqs) > 1 && reqs[0].ID == reqs[1].ID {
				t.Errorf("a retry reused the request ID %s", reqs[0].ID)
			}
			e.res.none(t, 50*time.Millisecond) // exactly one result
		})
	}
}

// TestInitiatingSPSucceeds: the SP that asked for the logout gets no
// LogoutRequest; its signed request is its proof.
func TestInitiatingSPSucceeds(t *testing.T) {
	e, tsp := soapEnv(t)
	d := dispatch("payroll", events.InitiatorRP, 5*time.Second, samlSession("s1", "alice-pid", "_i"))
	e.sagas.put(Logout{ID: d.LogoutID, Status: events.StatusRunning, Initiator: events.InitiatorRP, InitiatingRPID: "payroll"})
	if err := e.a.Handle(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	if res := e.res.next(t, 5*time.Second); res.Outcome != events.OutcomeSucceeded || !strings.Contains(res.Detail, "asked for this logout") {
		t.Errorf("result %+v", res)
	}
	if reqs, _ := tsp.snapshot(); len(reqs) != 0 {
		t.Errorf("the initiating SP got %d LogoutRequest(s)", len(reqs))
	}
}

// TestSOAPNoNameID: a session without a NameID cannot be addressed.
func TestSOAPNoNameID(t *testing.T) {
	e, tsp := soapEnv(t)
	d := dispatch("payroll", events.InitiatorUser, 5*time.Second, events.DispatchSession{SessionID: "s1"})
	if err := e.a.Handle(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	if res := e.res.next(t, 5*time.Second); res.Outcome != events.OutcomeFailed || !strings.Contains(res.Detail, "NameID") {
		t.Errorf("result %+v", res)
	}
	if reqs, _ := tsp.snapshot(); len(reqs) != 0 {
		t.Errorf("%d requests sent", len(reqs))
	}
}

// TestSOAPDispatchAfterDeadline: a dispatch that arrives after its logout
// deadline sends nothing and is not counted as a delivery that timed out.
func TestSOAPDispatchAfterDeadline(t *testing.T) {
	e, tsp := soapEnv(t)
	d := dispatch("payroll", events.InitiatorUser, -time.Second, samlSession("s1", "alice-pid", "_idx1"))
	if err := e.a.Handle(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	if res := e.res.next(t, 5*time.Second); res.Outcome != events.OutcomeTimedOut || res.Attempts != 0 {
		t.Errorf("result %+v", res)
	}
	if reqs, _ := tsp.snapshot(); len(reqs) != 0 {
		t.Errorf("%d requests sent", len(reqs))
	}
	if st := e.a.Stats(); st.TimedOut != 0 || st.Late != 1 {
		t.Errorf("stats %+v, want TimedOut 0 and Late 1", st)
	}
}

// TestClose: Handle refuses after Close.
func TestClose(t *testing.T) {
	e, _ := soapEnv(t)
	if err := e.a.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := e.a.Handle(context.Background(), dispatch("payroll", events.InitiatorUser, time.Second)); err != ErrClosed {
		t.Errorf("Handle after Close = %v", err)
	}
}

// TestLoadMetadataErrors: every start-up problem names the file.
func TestLoadMetadataErrors(t *testing.T) {
	cert := newSigner(t, "https://sp.example", 1).Certificate()
	slo := message.Endpoint{Binding: message.BindingRedirect, Location: "https://sp.example/slo"}
	dir := t.TempDir()
	tests := []struct {
		name, path, want string
	}{
		{"missing", dir + "/nope.xml", "no such file or directory"},
		{"malformed", writeFile(t, "<md:EntityDescriptor"), "saml metadata"},
		{"no certificate", writeMetadata(t, "https://sp.example", nil, slo), "certificate"},
		{"no SingleLogoutService", writeMetadata(t, "https://sp.example", cert), "SingleLogoutService"},
	}
	for _, tt := range tests {
		_, err := LoadMetadataFile("payroll", "Payroll", tt.path, "")
		if err == nil || !strings.Contains(err.Error(), tt.path) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one naming %s and %q", tt.name, err, tt.path, tt.want)
		}
	}
	sp, err := LoadMetadataFile("payroll", "Payroll", writeMetadata(t, "https://sp.example", cert, slo), "")
	if err != nil || sp.Channel() != ChannelBrowser || sp.mode() != ModeRedirect {
		t.Errorf("valid metadata: %+v, %v", sp, err)
	}
	if _, err := LoadMetadataFile("payroll", "Payroll", writeMetadata(t, "https://sp.example", cert, slo), "popup"); err == nil {
		t.Error("frontchannel_mode popup accepted")
	}
}

func writeFile(t *testing.T, content string) string {
	t.Helper()
	p := t.TempDir() + "/f"
	if err := writeAll(p, content); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestMetadataEndpoint: GET /saml/metadata publishes the entityID, the SLO
// locations and the signing certificate.
func TestMetadataEndpoint(t *testing.T) {
	e := newEnv(t, nil)
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/saml/metadata", nil))
	body := rec.Body.String()
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/samlmetadata+xml" {
		t.Fatalf("%d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	for _, want := range []string{`entityID="` + idpEntityID + `"`, idpEntityID + "/saml/slo", idpEntityID + "/saml/slo/soap", message.BindingSOAP, message.BindingRedirect, message.BindingPOST} {
		if !strings.Contains(body, want) {
			t.Errorf("metadata lacks %q:\n%s", want, body)
		}
	}
}

// TestLoadInline: an SP described inline (entity_id, certificate_file, one
// URL per binding) instead of metadata.
func TestLoadInline(t *testing.T) {
	cert := newSigner(t, "https://sp.example", 1).Certificate()
	path := writeFile(t, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})))
	sp, err := LoadInline("payroll", "Payroll", Inline{EntityID: "https://sp.example", SLOSOAP: "https://sp.example/soap",
		SLORedirect: "https://sp.example/slo", CertificateFile: path}, ModeIframe)
	if err != nil || sp.Channel() != ChannelSOAP || len(sp.Certs) != 1 || sp.EntityID != "https://sp.example" {
		t.Fatalf("%+v %v", sp, err)
	}
	if _, err := LoadInline("payroll", "Payroll", Inline{EntityID: "https://sp.example", SLORedirect: "https://sp.example/slo",
		CertificateFile: path + ".missing"}, ""); err == nil || !strings.Contains(err.Error(), path+".missing") {
		t.Errorf("missing certificate file: %v", err)
	}
	if _, err := LoadInline("payroll", "Payroll", Inline{EntityID: "https://sp.example", CertificateFile: path}, ""); err == nil {
		t.Error("an SP without SingleLogoutService was accepted")
	}
}
