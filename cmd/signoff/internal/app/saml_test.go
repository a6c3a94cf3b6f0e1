package app

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/signoff/signoff/adapters/saml/message"
	"github.com/signoff/signoff/cmd/signoff/internal/config"
	"github.com/signoff/signoff/events"
	"github.com/signoff/signoff/events/eventstest"
)

// The SPs' keys (and a forger's) are generated once per test binary.
var (
	spKeyOnce       sync.Once
	spKey, forgeKey *rsa.PrivateKey
)

// samlSP is a SAML service provider on loopback built on package message.
// Its SOAP endpoint (/soap) and its HTTP-Redirect SingleLogoutService
// (/slo) verify signoff's messages with the certificate of signoff's
// /saml/metadata, as a real SP would.
type samlSP struct {
	t        testing.TB
	id       string
	entityID string
	signer   *message.Signer
	forger   *message.Signer
	srv      *httptest.Server
	soap     bool
	// script of SOAP answers: an HTTP status, or 200 with a SAML status
	// (empty: Success); "forged" signs with a key not in the metadata. The
	// last one repeats.
	script []string

	signoff  string // base URL, set once signoff runs
	replay   *message.ReplayCache
	mu       sync.Mutex
	idpCerts []*x509.Certificate
	requests []*message.LogoutRequest
	answers  []*message.Inbound // LogoutResponses received at /slo
	errs     []error
}

func newSAMLSP(t testing.TB, id string, soap bool, script ...string) *samlSP {
	t.Helper()
	spKeyOnce.Do(func() {
		var err error
		if spKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
		if forgeKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	sp := &samlSP{t: t, id: id, soap: soap, script: script, replay: message.NewReplayCache(1000, time.Hour, time.Now)}
	if len(sp.script) == 0 {
		sp.script = []string{""}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /soap", sp.serveSOAP)
	mux.HandleFunc("GET /slo", sp.serveSLO)
	sp.srv = httptest.NewServer(mux)
	t.Cleanup(sp.srv.Close)
	sp.entityID = sp.srv.URL + "/sp"
	cert, err := message.SelfSignedCertificate(spKey, id, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if sp.signer, err = message.NewSigner(sp.entityID, spKey, cert); err != nil {
		t.Fatal(err)
	}
	ocert, _ := message.SelfSignedCertificate(forgeKey, id, time.Now().Add(-time.Hour))
	sp.forger, _ = message.NewSigner(sp.entityID, forgeKey, ocert)
	return sp
}

// metadataFile writes the SP's metadata into dir.
func (sp *samlSP) metadataFile(t testing.TB, dir string) string {
	var slo string
	if sp.soap {
		slo += fmt.Sprintf(`<md:SingleLogoutService Binding="%s" Location="%s/soap"/>`, message.BindingSOAP, sp.srv.URL)
	}
	slo += fmt.Sprintf(`<md:SingleLogoutService Binding="%s" Location="%s/slo"/>`, message.BindingRedirect, sp.srv.URL)
	md := fmt.Sprintf(`<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="%s">
<md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
<md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>%s</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
%s
</md:SPSSODescriptor></md:EntityDescriptor>`, sp.entityID, base64.StdEncoding.EncodeToString(sp.signer.Certificate().Raw), slo)
	path := filepath.Join(dir, sp.id+"-sp.xml")
	if err := os.WriteFile(path, []byte(md), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func (sp *samlSP) config(t testing.TB, dir, mode string) config.RelyingParty {
	return config.RelyingParty{ID: sp.id, Name: "SP " + sp.id, SAML: &config.SAML{
		MetadataFile: sp.metadataFile(t, dir), MetadataPath: filepath.Join(dir, sp.id+"-sp.xml"), FrontchannelMode: mode}}
}

var x509Data = regexp.MustCompile(`<(?:ds:)?X509Certificate>([^<]+)<`)

// certs returns signoff's signing certificate from its /saml/metadata.
func (sp *samlSP) certs(issuer string) ([]*x509.Certificate, bool) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if issuer != testIssuer {
		return nil, false
	}
	if sp.idpCerts == nil {
		resp, err := http.Get(sp.signoff + "/saml/metadata")
		if err != nil {
			return nil, false
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		m := x509Data.FindSubmatch(body)
		if m == nil {
			return nil, false
		}
		der, _ := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(string(m[1])), ""))
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, false
		}
		sp.idpCerts = []*x509.Certificate{c}
	}
	return sp.idpCerts, true
}

func (sp *samlSP) record(req *message.LogoutRequest, in *message.Inbound, err error) int {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	switch {
	case err != nil:
		sp.errs = append(sp.errs, err)
	case req != nil:
		sp.requests = append(sp.requests, req)
	case in != nil:
		sp.answers = append(sp.answers, in)
	}
	return len(sp.requests)
}

func (sp *samlSP) serveSOAP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	in, err := message.ParseSOAP(body, message.Expect{Destination: sp.srv.URL + "/soap", Certs: sp.certs, Replay: sp.replay})
	if err == nil && in.Request == nil {
		err = errors.New("not a LogoutRequest")
	}
	if err != nil {
		sp.record(nil, nil, err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	n := sp.record(in.Request, nil, nil)
	step := sp.script[min(n-1, len(sp.script)-1)]
	resp := message.LogoutResponse{ID: message.NewID(), Issuer: sp.entityID, InResponseTo: in.Request.ID,
		IssueInstant: time.Now().UTC(), StatusCode: message.StatusSuccess}
	signer := sp.signer
	switch {
	case step == "forged":
		signer = sp.forger
	case strings.HasPrefix(step, "urn:"):
		resp.StatusCode = step
	case step != "":
		var code int
		fmt.Sscan(step, &code)
		w.WriteHeader(code)
		return
	}
	out, err := signer.SignResponse(resp)
	if err != nil {
		sp.t.Errorf("SP %s: %v", sp.id, err)
		return
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.Write(message.SOAPEnvelope(out))
}

// serveSLO is the HTTP-Redirect SingleLogoutService: a LogoutRequest is
// verified and answered with a signed Success by Redirect to signoff's
// /saml/slo, RelayState echoed; a LogoutResponse (to the SP's own request)
// is verified and recorded.
func (sp *samlSP) serveSLO(w http.ResponseWriter, r *http.Request) {
	in, err := message.ParseRedirect(r.URL.RawQuery, message.Expect{Destination: sp.srv.URL + "/slo", Certs: sp.certs, Replay: sp.replay})
	if err != nil {
		sp.record(nil, nil, err)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if in.Response != nil {
		sp.record(nil, in, nil)
		io.WriteString(w, "signed out of "+sp.id)
		return
	}
	sp.record(in.Request, nil, nil)
	resp := message.LogoutResponse{ID: message.NewID(), Destination: sp.signoff + "/saml/slo", Issuer: sp.entityID,
		InResponseTo: in.Request.ID, IssueInstant: time.Now().UTC(), StatusCode: message.StatusSuccess}
	x, _ := message.MarshalResponse(resp)
	u, err := sp.signer.RedirectURL(sp.signoff+"/saml/slo", "SAMLResponse", x, in.RelayState)
	if err != nil {
		sp.t.Errorf("SP %s: %v", sp.id, err)
		return
	}
	http.Redirect(w, r, u, http.StatusSeeOther)
}

// logoutRequest is a LogoutRequest from the SP for nameID/index.
func (sp *samlSP) logoutRequest(dest, nameID, index string) message.LogoutRequest {
	now := time.Now().UTC()
	return message.LogoutRequest{ID: message.NewID(), Destination: dest, Issuer: sp.entityID, IssueInstant: now,
		NotOnOrAfter: now.Add(5 * time.Minute), Reason: message.ReasonUser,
		NameID: message.NameID{Value: nameID, Format: "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"}, SessionIndexes: []string{index}}
}

func (sp *samlSP) snapshot() ([]*message.LogoutRequest, []*message.Inbound, []error) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return append([]*message.LogoutRequest(nil), sp.requests...), append([]*message.Inbound(nil), sp.answers...), append([]error(nil), sp.errs...)
}

func (c *client) joinSAML(session, subject, rp, nameID, index string) {
	c.publish(events.SubjectSessionJoined, events.SessionJoined{
		EventID: uuid.NewString(), OccurredAt: time.Now().UTC(), SessionID: session, Subject: subject, RPID: rp,
		SAML: &events.SAMLSession{NameID: nameID, Format: "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
			NameQualifier: testIssuer, SPNameQualifier: "sp-" + rp, SessionIndex: index},
	})
}

func waitSessions(t testing.TB, a *App, session string, n int) {
	t.Helper()
	eventstest.EventuallyErr(t, 10*time.Second, func() error {
		if got, _ := a.Store().SessionCount(context.Background(), session); got != n {
			return fmt.Errorf("%d sessions of %s, want %d", got, session, n)
		}
		return nil
	})
}

// startSAML starts signoff with the OIDC RPs and SAML SPs and tells the SPs
// where it runs.
func startSAML(t testing.TB, deadline time.Duration, mode string, rps []*testRP, sps ...*samlSP) *App {
	t.Helper()
	cfg := testConfig(t, deadline, rps...)
	dir := t.TempDir()
	for _, sp := range sps {
		cfg.RelyingParties = append(cfg.RelyingParties, sp.config(t, dir, mode))
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	// SAML Destinations are public_url + /saml/slo: signoff must run where
	// its public URL says.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen = l.Addr().String()
	l.Close()
	cfg.PublicURL = "http://" + cfg.Listen
	a := startApp(t, cfg, rps...)
	for _, sp := range sps {
		sp.signoff = cfg.PublicURL
	}
	return a
}

func participant(ev events.Completed, rpID string) events.ParticipantOutcome {
	for _, p := range ev.Participants {
		if p.RPID == rpID {
			return p
		}
	}
	return events.ParticipantOutcome{}
}

// TestSAMLSOAPEndToEnd: over embedded JetStream, each SOAP SP gets a signed
// LogoutRequest it verifies with signoff's metadata certificate, carrying
// the NameID and SessionIndex of session.joined: a signed Success
// succeeds, a Responder status fails with its code, 503 then Success is
// retried, a response signed with a key outside the SP's metadata fails.
func TestSAMLSOAPEndToEnd(t *testing.T) {
	ok := newSAMLSP(t, "payroll", true)
	responder := newSAMLSP(t, "hr", true, message.StatusResponder)
	flaky := newSAMLSP(t, "travel", true, "503", "")
	forged := newSAMLSP(t, "crm", true, "forged")
	a := startSAML(t, 8*time.Second, "", nil, ok, responder, flaky, forged)
	c := appClient(t, a)
	sps := []*samlSP{ok, responder, flaky, forged}
	for _, sp := range sps {
		c.joinSAML("sess-"+sp.id, "dora", sp.id, "dora-at-"+sp.id, "_idx-"+sp.id)
	}
	for _, sp := range sps {
		waitSessions(t, a, "sess-"+sp.id, 1)
		c.logout("lo-"+sp.id, "sess-"+sp.id)
	}
	want := map[string]struct {
		outcome  events.Outcome
		detail   string
		requests int
	}{
		"payroll": {events.OutcomeSucceeded, "signed LogoutResponse: Success", 1},
		"hr":      {events.OutcomeFailed, message.StatusResponder, 1},
		"travel":  {events.OutcomeSucceeded, "Success", 2},
		"crm":     {events.OutcomeFailed, "bad signature", 1},
	}
	for _, sp := range sps {
		ev := c.waitCompleted("lo-"+sp.id, 15*time.Second)
		p := participant(ev, sp.id)
		w := want[sp.id]
		if p.Outcome != w.outcome || p.Adapter != events.AdapterSAML || !strings.Contains(p.Detail, w.detail) {
			t.Errorf("%s: %+v, want %s with %q", sp.id, p, w.outcome, w.detail)
		}
		reqs, _, errs := sp.snapshot()
		if len(errs) > 0 || len(reqs) != w.requests {
			t.Errorf("%s: %d request(s), errors %v", sp.id, len(reqs), errs)
			continue
		}
		r := reqs[0]
		if r.NameID.Value != "dora-at-"+sp.id || r.NameID.SPNameQualifier != "sp-"+sp.id || r.NameID.NameQualifier != testIssuer ||
			len(r.SessionIndexes) != 1 || r.SessionIndexes[0] != "_idx-"+sp.id || r.Issuer != testIssuer {
			t.Errorf("%s: request %+v", sp.id, r)
		}
	}
	if m := scrape(t, a.Addr()); !strings.Contains(m, "\nsignoff_saml_succeeded_total 2\n") {
		t.Errorf("metrics:\n%s", m)
	}
}

// soapLogout sends the SP's LogoutRequest to /saml/slo/soap and returns
// signoff's verified answer.
func soapLogout(t *testing.T, sp *samlSP, nameID, index string) *message.LogoutResponse {
	t.Helper()
	req := sp.logoutRequest(sp.signoff+"/saml/slo/soap", nameID, index)
	signed, err := sp.signer.SignRequest(req)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(sp.signoff+"/saml/slo/soap", "text/xml; charset=utf-8", bytes.NewReader(message.SOAPEnvelope(signed)))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("SOAP logout: %d %s", resp.StatusCode, body)
	}
	in, err := message.ParseSOAP(body, message.Expect{Certs: sp.certs})
	if err != nil || in.Response == nil {
		t.Fatalf("signoff's SOAP answer: %v\n%s", err, body)
	}
	if in.Response.InResponseTo != req.ID || in.Response.Issuer != testIssuer {
		t.Errorf("answer %+v to request %s", in.Response, req.ID)
	}
	return in.Response
}

// TestSAMLSPInitiatedSOAP: an SP's LogoutRequest over SOAP logs the IdP
// session out everywhere and is answered once the saga has ended: Success
// with a nested PartialLogout while another participant (an OIDC
// back-channel RP answering 503) did not confirm, plain Success when every
// one did. The initiating SP itself receives no LogoutRequest.
func TestSAMLSPInitiatedSOAP(t *testing.T) {
	sp := newSAMLSP(t, "payroll", true)
	down := newTestRP(t, "chat", "ES256", http.StatusServiceUnavailable)
	up := newTestRP(t, "notes", "ES256", http.StatusOK)
	a := startSAML(t, 2*time.Second, "", []*testRP{down, up}, sp)
	c := appClient(t, a)
	c.joinSAML("sess-1", "erin", "payroll", "erin-pid", "_one")
	c.join("sess-1", "erin", "chat", "sid-c")
	c.joinSAML("sess-2", "frank", "payroll", "frank-pid", "_two")
	c.join("sess-2", "frank", "notes", "sid-n")
	waitSessions(t, a, "sess-1", 2)
	waitSessions(t, a, "sess-2", 2)

	if r := soapLogout(t, sp, "erin-pid", "_one"); r.StatusCode != message.StatusSuccess || r.SubStatusCode != message.StatusPartialLogout {
		t.Errorf("with chat down: %s / %s, want Success / PartialLogout", r.StatusCode, r.SubStatusCode)
	}
	if n, _ := down.snapshot(); n < 2 {
		t.Errorf("chat got %d attempts; the answer came before its retries", n)
	}
	if r := soapLogout(t, sp, "frank-pid", "_two"); r.StatusCode != message.StatusSuccess || r.SubStatusCode != "" {
		t.Errorf("all confirmed: %s / %q, want plain Success", r.StatusCode, r.SubStatusCode)
	}
	if n, toks := up.snapshot(); n != 1 || !toks[0].Valid || toks[0].SID != "sid-n" {
		t.Errorf("notes got %d requests %+v", n, toks)
	}
	if reqs, _, errs := sp.snapshot(); len(reqs) != 0 || len(errs) != 0 {
		t.Errorf("the initiating SP got %d LogoutRequest(s), errors %v", len(reqs), errs)
	}
	for _, s := range []string{"sess-1", "sess-2"} {
		if n, _ := a.Store().SessionCount(context.Background(), s); n != 0 {
			t.Errorf("%s still has %d RP sessions", s, n)
		}
	}
	// A NameID without a session: Success at once.
	if r := soapLogout(t, sp, "nobody", "_x"); r.StatusCode != message.StatusSuccess || r.SubStatusCode != "" {
		t.Errorf("unknown NameID: %s / %q", r.StatusCode, r.SubStatusCode)
	}
}

var continueHref = regexp.MustCompile(`<a class="button" href="([^"]+)">Continue</a>`)
var hopHref = regexp.MustCompile(`id="hop"[^>]*data-href="([^"]+)"`)

// browserClient is a cookie-keeping HTTP client that stops at the first
// redirect to another host than signoff.
func browserClient(t *testing.T, signoff, session string) *http.Client {
	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse(signoff)
	if session != "" {
		jar.SetCookies(u, []*http.Cookie{{Name: "signoff_session", Value: session, Path: "/"}})
	}
	return &http.Client{Jar: jar, Timeout: 20 * time.Second}
}

func get(t *testing.T, c *http.Client, raw string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(raw)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

// waitEnded polls the status API until the logout has ended.
func waitEnded(t *testing.T, c *http.Client, signoff, id string) (status events.Status, outcomes map[string]events.Outcome) {
	t.Helper()
	eventstest.EventuallyErr(t, 15*time.Second, func() error {
		_, body := get(t, c, signoff+"/api/logouts/"+id)
		var v struct {
			Status       events.Status `json:"status"`
			Participants []struct {
				RPID    string         `json:"rp_id"`
				Outcome events.Outcome `json:"outcome"`
			} `json:"participants"`
		}
		if err := json.Unmarshal([]byte(body), &v); err != nil {
			return fmt.Errorf("status %q: %v", body, err)
		}
		if v.Status == events.StatusRunning || v.Status == "" {
			return fmt.Errorf("still %q", v.Status)
		}
		status, outcomes = v.Status, map[string]events.Outcome{}
		for _, p := range v.Participants {
			outcomes[p.RPID] = p.Outcome
		}
		return nil
	})
	return status, outcomes
}

// TestSAMLSPInitiatedRedirect follows an SP-initiated logout over
// HTTP-Redirect with an HTTP client as the browser: the SP's signed
// LogoutRequest at /saml/slo starts the saga and leads to /logout/{id};
// once it has ended, Continue leads through /saml/return to the SP's SLO
// with a signed LogoutResponse: Success, InResponseTo = the SP's request
// ID, RelayState echoed.
func TestSAMLSPInitiatedRedirect(t *testing.T) {
	sp := newSAMLSP(t, "hr", false)
	notes := newTestRP(t, "notes", "ES256")
	a := startSAML(t, 8*time.Second, "", []*testRP{notes}, sp)
	c := appClient(t, a)
	c.joinSAML("sess-r", "gina", "hr", "gina-pid", "_r")
	c.join("sess-r", "gina", "notes", "sid-r")
	waitSessions(t, a, "sess-r", 2)
	base := sp.signoff
	browser := browserClient(t, base, "sess-r")

	req := sp.logoutRequest(base+"/saml/slo", "gina-pid", "_r")
	x, _ := message.MarshalRequest(req)
	u, err := sp.signer.RedirectURL(base+"/saml/slo", "SAMLRequest", x, "back-to-/inbox")
	if err != nil {
		t.Fatal(err)
	}
	resp, _ := get(t, browser, u)
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Request.URL.Path, "/logout/") {
		t.Fatalf("after /saml/slo: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	id := strings.TrimPrefix(resp.Request.URL.Path, "/logout/")
	confirmLocal(t, browser, base, id)
	status, outcomes := waitEnded(t, browser, base, id)
	if status != events.StatusComplete || outcomes["hr"] != events.OutcomeSucceeded || outcomes["notes"] != events.OutcomeSucceeded || outcomes["signoff"] != events.OutcomeSucceeded {
		t.Fatalf("logout %s: %s %v", id, status, outcomes)
	}
	_, page := get(t, browser, base+"/logout/"+id)
	m := continueHref.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no Continue on the confirmation page:\n%s", page)
	}
	cont := html.UnescapeString(m[1])
	if !strings.HasPrefix(cont, base+"/saml/return?t=") {
		t.Fatalf("Continue goes to %q", cont)
	}
	resp, body := get(t, browser, cont)
	if resp.StatusCode != 200 || resp.Request.URL.Host != strings.TrimPrefix(sp.srv.URL, "http://") || body != "signed out of hr" {
		t.Fatalf("Continue ended at %s: %d %s", resp.Request.URL, resp.StatusCode, body)
	}
	_, answers, errs := sp.snapshot()
	if len(errs) > 0 || len(answers) != 1 {
		t.Fatalf("SP: %d answers, errors %v", len(answers), errs)
	}
	ans := answers[0]
	if r := ans.Response; r.InResponseTo != req.ID || r.StatusCode != message.StatusSuccess || r.SubStatusCode != "" || ans.RelayState != "back-to-/inbox" {
		t.Errorf("the SP got %+v with RelayState %q", r, ans.RelayState)
	}
	if n, toks := notes.snapshot(); n != 1 || toks[0].SID != "sid-r" {
		t.Errorf("notes got %d tokens %+v", n, toks)
	}
}

// TestSAMLRedirectChainOverHTTP: a user's /logout with a browser SP in
// redirect mode: the logout page sends the browser (a hop) to the SP with
// a LogoutRequest it verifies; its signed Success at /saml/slo settles the
// participant and brings the browser back to the page; the logout
// completes.
func TestSAMLRedirectChainOverHTTP(t *testing.T) {
	sp := newSAMLSP(t, "hr", false)
	a := startSAML(t, 8*time.Second, config.SAMLModeRedirect, nil, sp)
	c := appClient(t, a)
	c.joinSAML("sess-h", "hank", "hr", "hank-pid", "_h")
	waitSessions(t, a, "sess-h", 1)
	base := sp.signoff
	browser := browserClient(t, base, "sess-h")
	resp, page := get(t, browser, base+"/logout")
	if !strings.HasPrefix(resp.Request.URL.Path, "/logout/") {
		t.Fatalf("/logout ended at %s", resp.Request.URL)
	}
	id := strings.TrimPrefix(resp.Request.URL.Path, "/logout/")
	confirmLocal(t, browser, base, id)
	m := hopHref.FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no hop to the SP on the page:\n%s", page)
	}
	hop := html.UnescapeString(m[1])
	if !strings.HasPrefix(hop, sp.srv.URL+"/slo?SAMLRequest=") {
		t.Fatalf("the hop goes to %q", hop)
	}
	resp, _ = get(t, browser, hop) // SP → /saml/slo → /logout/{id}
	if resp.Request.URL.Path != "/logout/"+id {
		t.Fatalf("the chain ended at %s", resp.Request.URL)
	}
	status, outcomes := waitEnded(t, browser, base, id)
	if status != events.StatusComplete || outcomes["hr"] != events.OutcomeSucceeded {
		t.Errorf("logout: %s %v", status, outcomes)
	}
	reqs, _, errs := sp.snapshot()
	if len(errs) > 0 || len(reqs) != 1 || reqs[0].NameID.Value != "hank-pid" || reqs[0].SessionIndexes[0] != "_h" {
		t.Errorf("SP: requests %+v errors %v", reqs, errs)
	}
}

// TestSAMLMetadataStartupErrors: a SAML RP whose metadata is missing,
// malformed, without a signing certificate or without a
// SingleLogoutService stops start-up with an error naming the RP and the
// file.
func TestSAMLMetadataStartupErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(content), 0o600)
		return p
	}
	noCert := `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://sp.example"><md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"><md:SingleLogoutService Binding="` + message.BindingRedirect + `" Location="https://sp.example/slo"/></md:SPSSODescriptor></md:EntityDescriptor>`
	sp := newSAMLSP(t, "x", false)
	noSLO := strings.Replace(string(must(os.ReadFile(sp.metadataFile(t, dir)))), `<md:SingleLogoutService Binding="`+message.BindingRedirect+`" Location="`+sp.srv.URL+`/slo"/>`, "", 1)
	tests := []struct{ name, path, want string }{
		{"missing", filepath.Join(dir, "nope.xml"), "no such file"},
		{"malformed", write("bad.xml", "<md:EntityDescriptor"), "metadata"},
		{"no certificate", write("nocert.xml", noCert), "certificate"},
		{"no SingleLogoutService", write("noslo.xml", noSLO), "SingleLogoutService"},
	}
	for _, tt := range tests {
		cfg := testConfig(t, 5*time.Second)
		cfg.RelyingParties = append(cfg.RelyingParties, config.RelyingParty{ID: "payroll", Name: "Payroll",
			SAML: &config.SAML{MetadataFile: tt.path, MetadataPath: tt.path, FrontchannelMode: "redirect"}})
		a, err := Start(context.Background(), Options{Config: cfg, Logger: testLogger(t)})
		if err == nil {
			a.Close(context.Background())
			t.Errorf("%s: start succeeded", tt.name)
			continue
		}
		if msg := err.Error(); !strings.Contains(msg, `relying party "payroll"`) || !strings.Contains(msg, tt.path) || !strings.Contains(msg, tt.want) {
			t.Errorf("%s: %v, want the rp id, %s and %q", tt.name, err, tt.path, tt.want)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
