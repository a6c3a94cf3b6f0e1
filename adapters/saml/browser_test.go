package saml

import (
	"bytes"
	"compress/flate"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/signoff/signoff/adapters/saml/message"
	"github.com/signoff/signoff/events"
)

// browserSP is a browser SP "hr" (HTTP-Redirect or HTTP-POST only) in mode.
type browserSP struct {
	entityID, slo string
	signer        *message.Signer
}

func newBrowserEnv(t *testing.T, mode, binding string) (*env, browserSP) {
	t.Helper()
	b := browserSP{entityID: "https://hr.example/sp", slo: "https://hr.example/saml/slo", signer: newSigner(t, "https://hr.example/sp", 1)}
	sp := loadSP(t, "hr", mode, b.entityID, b.signer.Certificate(), message.Endpoint{Binding: binding, Location: b.slo})
	if sp.Channel() != ChannelBrowser {
		t.Fatalf("channel %q", sp.Channel())
	}
	return newEnv(t, []SP{sp}), b
}

func (e *env) runningLogout(rpID string, sessions ...events.DispatchSession) string {
	id := uuid.NewString()
	e.sagas.put(Logout{ID: id, Status: events.StatusRunning, Initiator: events.InitiatorUser, Deadline: time.Now().Add(time.Minute),
		Participants: []Participant{{RPID: rpID, Outcome: events.OutcomePending, Sessions: sessions}}})
	return id
}

func (e *env) serve(method, target string, body string) *httptest.ResponseRecorder {
	var r *http.Request
	if body != "" {
		r = httptest.NewRequest(method, target, strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		r = httptest.NewRequest(method, target, nil)
	}
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, r)
	return rec
}

// pathOf is the path and query of an absolute URL of signoff.
func pathOf(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	return u.RequestURI()
}

// spReceives parses a LogoutRequest URL as the SP does.
func (b browserSP) receives(t *testing.T, raw string) *message.Inbound {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if got := u.Scheme + "://" + u.Host + u.Path; got != b.slo {
		t.Fatalf("the frame goes to %s, want the SP's SLO %s", got, b.slo)
	}
	in, err := message.ParseRedirect(u.RawQuery, message.Expect{Destination: b.slo, Certs: func(string) ([]*x509Cert, bool) { return idpCertList(t), true }})
	if err != nil {
		t.Fatalf("the SP refuses signoff's LogoutRequest: %v", err)
	}
	return in
}

// answer is the SP's signed Redirect LogoutResponse to signoff's /saml/slo.
func (b browserSP) answer(t *testing.T, in *message.Inbound, status, relayState string) string {
	t.Helper()
	resp := message.LogoutResponse{ID: message.NewID(), Destination: idpEntityID + "/saml/slo", Issuer: b.entityID,
		InResponseTo: in.Request.ID, IssueInstant: time.Now().UTC(), StatusCode: status}
	x, err := message.MarshalResponse(resp)
	if err != nil {
		t.Fatal(err)
	}
	u, err := b.signer.RedirectURL(idpEntityID+"/saml/slo", "SAMLResponse", x, relayState)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// TestRedirectChain: in redirect mode a browser SP's frame is a top-level
// hop to its SLO with a LogoutRequest it verifies and a RelayState of at
// most 80 bytes; its signed Success at /saml/slo settles the participant
// and sends the browser back to /logout/{id}, once. A replay, a tampered
// RelayState and another InResponseTo are refused.
func TestRedirectChain(t *testing.T) {
	e, b := newBrowserEnv(t, "", message.BindingRedirect)
	id := e.runningLogout("hr", samlSession("s1", "bob", "_ix"))
	f, ok := e.a.Frame(id, "hr")
	if !ok || !f.TopLevel || f.RPID != "hr" {
		t.Fatalf("frame %+v %v", f, ok)
	}
	in := b.receives(t, f.URL)
	if in.Request.NameID.Value != "bob" || len(in.Request.SessionIndexes) != 1 || in.Request.SessionIndexes[0] != "_ix" || in.Request.Reason != message.ReasonUser {
		t.Errorf("request %+v", in.Request)
	}
	if len(in.RelayState) > 80 || !strings.HasPrefix(in.RelayState, id+".") {
		t.Errorf("RelayState %q", in.RelayState)
	}

	// Another request's InResponseTo with this RelayState: refused.
	other := *in
	req2 := *in.Request
	req2.ID = message.NewID()
	other.Request = &req2
	if rec := e.serve("GET", pathOf(t, b.answer(t, &other, message.StatusSuccess, in.RelayState)), ""); rec.Code != 400 || !strings.Contains(rec.Body.String(), "RelayState") {
		t.Errorf("mismatched InResponseTo: %d %s", rec.Code, rec.Body)
	}
	// A RelayState for another logout: refused.
	forged := uuid.NewString() + in.RelayState[strings.LastIndexByte(in.RelayState, '.'):]
	if rec := e.serve("GET", pathOf(t, b.answer(t, in, message.StatusSuccess, forged)), ""); rec.Code != 400 {
		t.Errorf("forged RelayState: %d %s", rec.Code, rec.Body)
	}
	e.res.none(t, 20*time.Millisecond)

	answer := pathOf(t, b.answer(t, in, message.StatusSuccess, in.RelayState))
	rec := e.serve("GET", answer, "")
	if rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/logout/"+id {
		t.Fatalf("answer: %d Location %q %s", rec.Code, rec.Header().Get("Location"), rec.Body)
	}
	res := e.res.next(t, time.Second)
	if res.Outcome != events.OutcomeSucceeded || res.LogoutID != id || res.RPID != "hr" || res.Adapter != events.AdapterSAML {
		t.Errorf("result %+v", res)
	}
	if _, ok := e.a.Frame(id, "hr"); ok {
		t.Error("a settled participant still gets a hop")
	}
	if rec := e.serve("GET", answer, ""); rec.Code != 400 || !strings.Contains(rec.Body.String(), "replay") {
		t.Errorf("replayed response: %d %s", rec.Code, rec.Body)
	}
}

// TestRedirectChainFailure: a signed non-Success answer fails the
// participant with its status codes.
func TestRedirectChainFailure(t *testing.T) {
	e, b := newBrowserEnv(t, ModeRedirect, message.BindingRedirect)
	id := e.runningLogout("hr", samlSession("s1", "bob", ""))
	f, _ := e.a.Frame(id, "hr")
	in := b.receives(t, f.URL)
	if len(in.Request.SessionIndexes) != 0 {
		t.Errorf("no SessionIndex registered, but the request has %v", in.Request.SessionIndexes)
	}
	rec := e.serve("GET", pathOf(t, b.answer(t, in, message.StatusResponder, in.RelayState)), "")
	if rec.Code != http.StatusSeeOther {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if res := e.res.next(t, time.Second); res.Outcome != events.OutcomeFailed || !strings.Contains(res.Detail, message.StatusResponder) {
		t.Errorf("result %+v", res)
	}
}

// TestIframeMode: in iframe mode the frame is an iframe whose
// acknowledgement comes from signoff's own origin: /saml/slo answers a page
// that posts {"type":"signoff:frontchannel-logout","ok":true} to signoff's
// page and may only be framed by it. The page's timeout report settles the
// participant as timed_out; an "ok" report changes nothing (the signed
// response is the proof); a wrong token is refused.
func TestIframeMode(t *testing.T) {
	e, b := newBrowserEnv(t, ModeIframe, message.BindingRedirect)
	id := e.runningLogout("hr", samlSession("s1", "bob", "_ix"))
	f, ok := e.a.Frame(id, "hr")
	if !ok || f.TopLevel || f.Origin != idpEntityID || f.Token == "" {
		t.Fatalf("frame %+v", f)
	}
	if got := e.a.Origins(); strings.Join(got, " ") != idpEntityID+" https://hr.example" {
		t.Errorf("Origins %v", got)
	}
	in := b.receives(t, f.URL)
	rec := e.serve("GET", pathOf(t, b.answer(t, in, message.StatusSuccess, in.RelayState)), "")
	body := rec.Body.String()
	if rec.Code != 200 || !strings.Contains(body, `{"type":"signoff:frontchannel-logout","ok":true}`) || !strings.Contains(body, `"`+idpEntityID+`"`) {
		t.Errorf("ack page %d: %s", rec.Code, body)
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors "+idpEntityID) || !strings.Contains(csp, "script-src 'nonce-") {
		t.Errorf("CSP %q", csp)
	}
	if res := e.res.next(t, time.Second); res.Outcome != events.OutcomeSucceeded {
		t.Errorf("result %+v", res)
	}
	if err := e.a.Ack(context.Background(), id, "hr", f.Token, AckOK, ""); err != nil {
		t.Error(err)
	}
	e.res.none(t, 20*time.Millisecond)

	id2 := e.runningLogout("hr", samlSession("s2", "bob", "_iy"))
	f2, _ := e.a.Frame(id2, "hr")
	if err := e.a.Ack(context.Background(), id2, "hr", f.Token, AckTimeout, ""); err != ErrBadToken {
		t.Errorf("another logout's token: %v", err)
	}
	if err := e.a.Ack(context.Background(), id2, "hr", f2.Token, AckTimeout, ""); err != nil {
		t.Fatal(err)
	}
	if res := e.res.next(t, time.Second); res.Outcome != events.OutcomeTimedOut || res.LogoutID != id2 {
		t.Errorf("timeout result %+v", res)
	}
}

var formField = regexp.MustCompile(`name="(SAMLRequest|RelayState)" value="([^"]*)"`)

// TestPOSTOnlySP: an SP with only HTTP-POST gets a frame to signoff's
// /saml/post, which answers an auto-submitting form with a signed
// LogoutRequest the SP verifies, under a CSP that allows the form's target.
func TestPOSTOnlySP(t *testing.T) {
	e, b := newBrowserEnv(t, "", message.BindingPOST)
	id := e.runningLogout("hr", samlSession("s1", "bob", "_ix"))
	f, ok := e.a.Frame(id, "hr")
	if !ok || !f.TopLevel || !strings.HasPrefix(f.URL, idpEntityID+"/saml/post?t=") {
		t.Fatalf("frame %+v", f)
	}
	rec := e.serve("GET", pathOf(t, f.URL), "")
	if rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "form-action https://hr.example") {
		t.Errorf("CSP %q", csp)
	}
	form := url.Values{}
	for _, m := range formField.FindAllStringSubmatch(rec.Body.String(), -1) {
		form.Set(m[1], html.UnescapeString(m[2]))
	}
	in, err := message.ParsePOST(form, message.Expect{Destination: b.slo, Certs: func(string) ([]*x509Cert, bool) { return idpCertList(t), true }})
	if err != nil {
		t.Fatalf("the SP refuses the posted LogoutRequest: %v\n%s", err, rec.Body)
	}
	if in.Request.NameID.Value != "bob" || !strings.HasPrefix(in.RelayState, id+".") {
		t.Errorf("request %+v RelayState %q", in.Request, in.RelayState)
	}
	// A tampered token is refused.
	if rec := e.serve("GET", pathOf(t, f.URL)+"x", ""); rec.Code != 400 {
		t.Errorf("tampered token: %d", rec.Code)
	}
	// The SP answers by HTTP-POST: a signed Success settles it.
	signed, err := b.signer.SignResponse(message.LogoutResponse{ID: message.NewID(), Destination: idpEntityID + "/saml/slo",
		Issuer: b.entityID, InResponseTo: in.Request.ID, IssueInstant: time.Now().UTC(), StatusCode: message.StatusSuccess})
	if err != nil {
		t.Fatal(err)
	}
	post := url.Values{"SAMLResponse": {base64.StdEncoding.EncodeToString(signed)}, "RelayState": {in.RelayState}}
	if rec := e.serve("POST", "/saml/slo", post.Encode()); rec.Code != http.StatusSeeOther || rec.Header().Get("Location") != "/logout/"+id {
		t.Fatalf("POST answer: %d %q %s", rec.Code, rec.Header().Get("Location"), rec.Body)
	}
	if res := e.res.next(t, time.Second); res.Outcome != events.OutcomeSucceeded || res.RPID != "hr" {
		t.Errorf("result %+v", res)
	}
}

// TestBrowserDispatch: a browser SP's dispatch publishes nothing (the page
// drives it), unless it has no NameID to address.
func TestBrowserDispatch(t *testing.T) {
	e, _ := newBrowserEnv(t, "", message.BindingRedirect)
	if err := e.a.Handle(context.Background(), dispatch("hr", events.InitiatorUser, 5*time.Second, samlSession("s1", "bob", "_i"))); err != nil {
		t.Fatal(err)
	}
	e.res.none(t, 100*time.Millisecond)
	if err := e.a.Handle(context.Background(), dispatch("hr", events.InitiatorUser, 5*time.Second, events.DispatchSession{SessionID: "s1"})); err != nil {
		t.Fatal(err)
	}
	if res := e.res.next(t, time.Second); res.Outcome != events.OutcomeFailed {
		t.Errorf("result %+v", res)
	}
}

// spRequest is a LogoutRequest from the browser SP b.
func (b browserSP) request(nameID string, indexes ...string) message.LogoutRequest {
	now := time.Now().UTC()
	return message.LogoutRequest{ID: message.NewID(), Destination: idpEntityID + "/saml/slo", Issuer: b.entityID,
		IssueInstant: now, NotOnOrAfter: now.Add(5 * time.Minute), Reason: message.ReasonUser,
		NameID: message.NameID{Value: nameID, Format: persistent}, SessionIndexes: indexes}
}

func (b browserSP) redirect(t *testing.T, r message.LogoutRequest, relayState string) string {
	t.Helper()
	x, err := message.MarshalRequest(r)
	if err != nil {
		t.Fatal(err)
	}
	u, err := b.signer.RedirectURL(idpEntityID+"/saml/slo", "SAMLRequest", x, relayState)
	if err != nil {
		t.Fatal(err)
	}
	return pathOf(t, u)
}

// TestSPInitiatedRedirect: a signed LogoutRequest over HTTP-Redirect starts
// a logout of the session its NameID and SessionIndex name (initiator rp,
// the browser bound to it) and sends the browser to /logout/{id}; the
// saga's return_to answers the SP once the saga has ended: a signed
// LogoutResponse to its SLO with InResponseTo and the RelayState echoed,
// Success, plus PartialLogout when another participant did not confirm.
func TestSPInitiatedRedirect(t *testing.T) {
	e, b := newBrowserEnv(t, "", message.BindingRedirect)
	e.sessions = fakeSessions{
		{"hr", Session{SessionID: "idp-1", Subject: "bob", SAML: events.SAMLSession{NameID: "bob", Format: persistent, SessionIndex: "_a"}}},
		{"hr", Session{SessionID: "idp-2", Subject: "bob", SAML: events.SAMLSession{NameID: "bob", Format: persistent, SessionIndex: "_b"}}},
	}
	for _, partial := range []bool{false, true} {
		req := b.request("bob", "_b")
		rec := e.serve("GET", b.redirect(t, req, "rs-123"), "")
		lr, ok := e.starter.last()
		if rec.Code != http.StatusSeeOther || !ok || rec.Header().Get("Location") != "/logout/"+lr.LogoutID {
			t.Fatalf("%d %q %s", rec.Code, rec.Header().Get("Location"), rec.Body)
		}
		if lr.SessionID != "idp-2" || lr.Initiator != events.InitiatorRP || lr.InitiatingRPID != "hr" || lr.Scope != events.ScopeGlobal || !lr.Browser {
			t.Errorf("logout.requested %+v", lr)
		}
		if got := e.binder.bound[len(e.binder.bound)-1]; got != lr.LogoutID {
			t.Errorf("bound %q, want %q", got, lr.LogoutID)
		}
		if !strings.HasPrefix(lr.ReturnTo, idpEntityID+"/saml/return?t=") || len(lr.ReturnTo) > 2048 {
			t.Fatalf("return_to %q", lr.ReturnTo)
		}
		other := events.OutcomeSucceeded
		if partial {
			other = events.OutcomeTimedOut
		}
		e.sagas.put(Logout{ID: lr.LogoutID, Status: events.StatusComplete, Initiator: events.InitiatorRP, InitiatingRPID: "hr",
			Participants: []Participant{{RPID: "hr", Outcome: events.OutcomeSucceeded}, {RPID: "chat", Outcome: other}}})
		rec = e.serve("GET", pathOf(t, lr.ReturnTo), "")
		if rec.Code != http.StatusSeeOther {
			t.Fatalf("return: %d %s", rec.Code, rec.Body)
		}
		loc, _ := url.Parse(rec.Header().Get("Location"))
		if loc.Scheme+"://"+loc.Host+loc.Path != b.slo {
			t.Fatalf("the answer goes to %s", loc)
		}
		in, err := message.ParseRedirect(loc.RawQuery, message.Expect{Destination: b.slo, Certs: func(string) ([]*x509Cert, bool) { return idpCertList(t), true }})
		if err != nil {
			t.Fatalf("the SP refuses signoff's LogoutResponse: %v", err)
		}
		r := in.Response
		wantSub := ""
		if partial {
			wantSub = message.StatusPartialLogout
		}
		if r == nil || r.InResponseTo != req.ID || r.StatusCode != message.StatusSuccess || r.SubStatusCode != wantSub || in.RelayState != "rs-123" || r.Issuer != idpEntityID {
			t.Errorf("partial=%v: response %+v RelayState %q", partial, r, in.RelayState)
		}
	}
}

// TestSPInitiatedUnknownNameID: nothing registered for the NameID: Success
// at once, no logout started.
func TestSPInitiatedUnknownNameID(t *testing.T) {
	e, b := newBrowserEnv(t, "", message.BindingRedirect)
	req := b.request("nobody", "_z")
	rec := e.serve("GET", b.redirect(t, req, ""), "")
	if rec.Code != http.StatusSeeOther || !strings.HasPrefix(rec.Header().Get("Location"), b.slo+"?SAMLResponse=") {
		t.Fatalf("%d %q", rec.Code, rec.Header().Get("Location"))
	}
	if _, ok := e.starter.last(); ok {
		t.Error("a logout was started for an unknown NameID")
	}
}

// TestInboundRefusals: each defence refuses with a 4xx and a reason, and no
// logout starts.
func TestInboundRefusals(t *testing.T) {
	e, b := newBrowserEnv(t, "", message.BindingRedirect)
	e.sessions = fakeSessions{{"hr", Session{SessionID: "idp-1", Subject: "bob", SAML: events.SAMLSession{NameID: "bob"}}}}
	attacker := browserSP{entityID: b.entityID, slo: b.slo, signer: newSigner(t, b.entityID, 3)}
	stranger := browserSP{entityID: "https://stranger.example/sp", slo: b.slo, signer: newSigner(t, "https://stranger.example/sp", 3)}
	replayed := b.redirect(t, b.request("bob"), "")
	if rec := e.serve("GET", replayed, ""); rec.Code != http.StatusSeeOther {
		t.Fatalf("first use: %d %s", rec.Code, rec.Body)
	}
	e.starter.reqs = nil

	wrongDest := b.request("bob")
	wrongDest.Destination = "https://other.example/saml/slo"
	old := b.request("bob")
	old.IssueInstant = time.Now().Add(-10 * time.Minute)
	unsigned, _ := message.MarshalRequest(b.request("bob"))
	unsignedQ := "SAMLRequest=" + url.QueryEscape(deflate(t, unsigned))
	// A deflate bomb signed by the SP itself: the signature is checked over
	// the raw query first, then inflating stops at the limits.
	bombQ := "SAMLRequest=" + url.QueryEscape(deflate(t, append([]byte("<samlp:LogoutRequest "), bytes.Repeat([]byte(" "), 8<<20)...))) +
		"&SigAlg=" + url.QueryEscape(message.SigAlgRSASHA256)
	digest := sha256.Sum256([]byte(bombQ))
	sig, err := rsa.SignPKCS1v15(rand.Reader, testKey(t, 1), crypto.SHA256, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	bomb := bombQ + "&Signature=" + url.QueryEscape(base64.StdEncoding.EncodeToString(sig))
	tests := []struct {
		name, query string
		status      int
		reason      string
	}{
		{"unsigned", "/saml/slo?" + unsignedQ, 400, "not signed"},
		{"attacker's key", attacker.redirect(t, b.request("bob"), ""), 400, "bad signature"},
		{"unknown issuer", stranger.redirect(t, stranger.request("bob"), ""), 400, "unknown issuer"},
		{"wrong Destination", b.redirect(t, wrongDest, ""), 400, "destination"},
		{"out of skew", b.redirect(t, old, ""), 400, "expired"},
		{"replayed ID", replayed, 400, "replay"},
		{"deflate bomb", "/saml/slo?" + bomb, 413, "too large"},
	}
	for _, tt := range tests {
		rec := e.serve("GET", tt.query, "")
		if rec.Code != tt.status || !strings.Contains(rec.Body.String(), tt.reason) {
			t.Errorf("%s: %d %q, want %d with %q", tt.name, rec.Code, rec.Body, tt.status, tt.reason)
		}
	}
	if _, ok := e.starter.last(); ok {
		t.Error("a refused message started a logout")
	}
	if st := e.a.Stats(); st.Refused != uint64(len(tests)) {
		t.Errorf("Refused = %d, want %d", st.Refused, len(tests))
	}
}

func deflate(t *testing.T, b []byte) string {
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	w.Write(b)
	w.Close()
	return base64.StdEncoding.EncodeToString(buf.Bytes())
}

// TestSPInitiatedSOAP: a SOAP LogoutRequest waits for the end of the saga
// and is answered in the SOAP envelope: Success + PartialLogout when
// another participant did not confirm.
func TestSPInitiatedSOAP(t *testing.T) {
	tsp := newTestSP(t, idpEntityID, idpCerts(t))
	sp := loadSP(t, "payroll", "", tsp.entityID, tsp.signer.Certificate(), message.Endpoint{Binding: message.BindingSOAP, Location: tsp.soapURL()})
	e := newEnv(t, []SP{sp})
	e.sessions = fakeSessions{{"payroll", Session{SessionID: "idp-1", Subject: "carol", SAML: events.SAMLSession{NameID: "carol", SessionIndex: "_s"}}}}
	now := time.Now().UTC()
	req := message.LogoutRequest{ID: message.NewID(), Issuer: tsp.entityID, IssueInstant: now, NotOnOrAfter: now.Add(time.Minute),
		NameID: message.NameID{Value: "carol"}, SessionIndexes: []string{"_s"}}
	signed, err := tsp.signer.SignRequest(req)
	if err != nil {
		t.Fatal(err)
	}
	// The saga ends (partial) as soon as the logout has started.
	e.starter.started = func(lr events.LogoutRequested) {
		e.sagas.put(Logout{ID: lr.LogoutID, Status: events.StatusPartial, Initiator: events.InitiatorRP, InitiatingRPID: "payroll",
			Participants: []Participant{{RPID: "payroll", Outcome: events.OutcomeSucceeded}, {RPID: "chat", Outcome: events.OutcomeTimedOut}}})
	}
	r := httptest.NewRequest("POST", "/saml/slo/soap", bytes.NewReader(message.SOAPEnvelope(signed)))
	rec := httptest.NewRecorder()
	e.handler.ServeHTTP(rec, r)
	if rec.Code != 200 {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
	lr, _ := e.starter.last()
	if lr.Browser || lr.ReturnTo != "" || lr.SessionID != "idp-1" || lr.InitiatingRPID != "payroll" {
		t.Errorf("logout.requested %+v", lr)
	}
	in, err := message.ParseSOAP(rec.Body.Bytes(), message.Expect{Certs: func(string) ([]*x509Cert, bool) { return idpCertList(t), true }})
	if err != nil {
		t.Fatalf("signoff's SOAP answer: %v", err)
	}
	if in.Response == nil || in.Response.InResponseTo != req.ID || in.Response.StatusCode != message.StatusSuccess || in.Response.SubStatusCode != message.StatusPartialLogout {
		t.Errorf("response %+v", in.Response)
	}
}
