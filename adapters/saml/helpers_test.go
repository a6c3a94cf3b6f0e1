package saml

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signoff/signoff/adapters/saml/message"
	"github.com/signoff/signoff/coordinator/watch"
	"github.com/signoff/signoff/events"
)

// Test keys are RSA 2048 and generated once per test binary.
var (
	keysOnce sync.Once
	testKeys [4]*rsa.PrivateKey
)

func testKey(t testing.TB, i int) *rsa.PrivateKey {
	t.Helper()
	keysOnce.Do(func() {
		var wg sync.WaitGroup
		for i := range testKeys {
			wg.Add(1)
			go func() {
				defer wg.Done()
				k, err := rsa.GenerateKey(rand.Reader, 2048)
				if err != nil {
					panic(err)
				}
				testKeys[i] = k
			}()
		}
		wg.Wait()
	})
	return testKeys[i]
}

// newSigner is a signer of entityID with test key i and a self-signed
// certificate.
func newSigner(t testing.TB, entityID string, i int) *message.Signer {
	t.Helper()
	k := testKey(t, i)
	cert, err := message.SelfSignedCertificate(k, "test", time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	s, err := message.NewSigner(entityID, k, cert)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// spMetadata is SP metadata (saml-metadata 2.4.4) with the certificate and
// the endpoints (binding → location).
func spMetadata(entityID string, cert *x509.Certificate, endpoints ...message.Endpoint) []byte {
	var b strings.Builder
	fmt.Fprintf(&b, `<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="%s">
  <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
`, entityID)
	if cert != nil {
		fmt.Fprintf(&b, `    <md:KeyDescriptor use="signing"><ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>%s</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>
`, base64.StdEncoding.EncodeToString(cert.Raw))
	}
	for _, e := range endpoints {
		fmt.Fprintf(&b, `    <md:SingleLogoutService Binding="%s" Location="%s"`, e.Binding, e.Location)
		if e.ResponseLocation != "" {
			fmt.Fprintf(&b, ` ResponseLocation="%s"`, e.ResponseLocation)
		}
		b.WriteString("/>\n")
	}
	b.WriteString("  </md:SPSSODescriptor>\n</md:EntityDescriptor>\n")
	return []byte(b.String())
}

// soapStep scripts one answer of a testSP's SOAP endpoint.
type soapStep struct {
	httpStatus   int    // non-200: answer this status without a body
	status, sub  string // SAML status (default Success)
	unsigned     bool   // answer an unsigned LogoutResponse
	forged       bool   // sign with a key that is not in the SP's metadata
	inResponseTo string // override InResponseTo
	destination  string // set Destination
}

// testSP is a SAML service provider on loopback built on package message:
// its SOAP endpoint verifies signoff's LogoutRequest (signature with
// signoff's certificate, Destination, skew, replay) and answers as
// scripted.
type testSP struct {
	t        testing.TB
	entityID string
	signer   *message.Signer
	forger   *message.Signer
	srv      *httptest.Server
	idpID    string
	idpCerts func() []*x509.Certificate
	replay   *message.ReplayCache
	script   []soapStep

	mu       sync.Mutex
	requests []*message.LogoutRequest
	errs     []error
}

func newTestSP(t testing.TB, idpID string, idpCerts func() []*x509.Certificate, script ...soapStep) *testSP {
	sp := &testSP{t: t, idpID: idpID, idpCerts: idpCerts, script: script,
		replay: message.NewReplayCache(1000, time.Hour, time.Now)}
	if len(sp.script) == 0 {
		sp.script = []soapStep{{}}
	}
	sp.srv = httptest.NewServer(http.HandlerFunc(sp.serveSOAP))
	t.Cleanup(sp.srv.Close)
	sp.entityID = sp.srv.URL + "/sp"
	sp.signer = newSigner(t, sp.entityID, 1)
	sp.forger = newSigner(t, sp.entityID, 2)
	return sp
}

func (sp *testSP) soapURL() string { return sp.srv.URL + "/saml/soap" }

func (sp *testSP) certs(issuer string) ([]*x509.Certificate, bool) {
	if issuer != sp.idpID {
		return nil, false
	}
	return sp.idpCerts(), true
}

func (sp *testSP) serveSOAP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	sp.mu.Lock()
	n := len(sp.requests) + len(sp.errs)
	sp.mu.Unlock()
	step := sp.script[min(n, len(sp.script)-1)]
	var err error
	switch {
	case r.Header.Get("Content-Type") != "text/xml; charset=utf-8":
		err = fmt.Errorf("Content-Type %q", r.Header.Get("Content-Type"))
	case r.Header.Get("SOAPAction") != `"http://www.oasis-open.org/committees/security"`:
		err = fmt.Errorf("SOAPAction %q", r.Header.Get("SOAPAction"))
	}
	in, perr := message.ParseSOAP(body, message.Expect{Destination: sp.soapURL(), Certs: sp.certs, Replay: sp.replay})
	if err == nil {
		err = perr
	}
	if err == nil && in.Request == nil {
		err = fmt.Errorf("not a LogoutRequest")
	}
	sp.mu.Lock()
	if err != nil {
		sp.errs = append(sp.errs, err)
	} else {
		sp.requests = append(sp.requests, in.Request)
	}
	sp.mu.Unlock()
	if err != nil {
		http.Error(w, "bad request: "+err.Error(), http.StatusBadRequest)
		return
	}
	if step.httpStatus != 0 && step.httpStatus != http.StatusOK {
		w.WriteHeader(step.httpStatus)
		return
	}
	resp := message.LogoutResponse{ID: message.NewID(), Issuer: sp.entityID, InResponseTo: in.Request.ID,
		IssueInstant: time.Now().UTC(), StatusCode: message.StatusSuccess, Destination: step.destination}
	if step.status != "" {
		resp.StatusCode, resp.SubStatusCode = step.status, step.sub
	}
	if step.inResponseTo != "" {
		resp.InResponseTo = step.inResponseTo
	}
	var out []byte
	switch {
	case step.unsigned:
		out, err = message.MarshalResponse(resp)
	case step.forged:
		out, err = sp.forger.SignResponse(resp)
	default:
		out, err = sp.signer.SignResponse(resp)
	}
	if err != nil {
		sp.t.Errorf("SP: building the response: %v", err)
		http.Error(w, err.Error(), 500)
		return
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.Write(message.SOAPEnvelope(out))
}

func (sp *testSP) snapshot() ([]*message.LogoutRequest, []error) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return append([]*message.LogoutRequest(nil), sp.requests...), append([]error(nil), sp.errs...)
}

// writeMetadata writes sp's metadata with the endpoints to a temporary file.
func writeMetadata(t testing.TB, entityID string, cert *x509.Certificate, endpoints ...message.Endpoint) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sp.xml")
	if err := os.WriteFile(path, spMetadata(entityID, cert, endpoints...), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// results collects published results and applies them to sagas, as the
// coordinator would.
type results struct {
	mu    sync.Mutex
	all   []events.Result
	ch    chan events.Result
	sagas *fakeSagas
}

func newResults() *results { return &results{ch: make(chan events.Result, 100)} }

func (r *results) PublishResult(_ context.Context, res events.Result) error {
	r.mu.Lock()
	r.all = append(r.all, res)
	r.mu.Unlock()
	if r.sagas != nil {
		r.sagas.apply(res)
	}
	r.ch <- res
	return nil
}

func (r *results) next(t testing.TB, timeout time.Duration) events.Result {
	t.Helper()
	select {
	case res := <-r.ch:
		return res
	case <-time.After(timeout):
		t.Fatalf("no result within %v", timeout)
		return events.Result{}
	}
}

func (r *results) none(t testing.TB, wait time.Duration) {
	t.Helper()
	select {
	case res := <-r.ch:
		t.Fatalf("unexpected result %+v", res)
	case <-time.After(wait):
	}
}

// fakeSagas is an in-memory Sagas that notifies its Changes on each
// change, as the store does after a commit.
type fakeSagas struct {
	watch.Hub
	mu sync.Mutex
	m  map[string]Logout
}

func (f *fakeSagas) Logout(_ context.Context, id string) (Logout, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, ok := f.m[id]
	return l, ok, nil
}

// apply records a result's outcome for a pending participant.
func (f *fakeSagas) apply(r events.Result) {
	f.mu.Lock()
	defer f.mu.Unlock()
	l, ok := f.m[r.LogoutID]
	if !ok {
		return
	}
	ps := append([]Participant(nil), l.Participants...)
	for i := range ps {
		if ps[i].RPID == r.RPID && ps[i].Outcome == events.OutcomePending {
			ps[i].Outcome, ps[i].Detail = r.Outcome, r.Detail
		}
	}
	l.Participants = ps
	f.m[r.LogoutID] = l
	f.Notify(r.LogoutID)
}

func (f *fakeSagas) put(l Logout) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.m == nil {
		f.m = map[string]Logout{}
	}
	f.m[l.ID] = l
	f.Notify(l.ID)
}

// fakeSessions is an in-memory Sessions.
type fakeSessions []struct {
	rpID string
	s    Session
}

func (f fakeSessions) SessionsByNameID(_ context.Context, rpID, nameID string) ([]Session, error) {
	var out []Session
	for _, e := range f {
		if e.rpID == rpID && e.s.SAML.NameID == nameID {
			out = append(out, e.s)
		}
	}
	return out, nil
}

// starter records logout.requested.
type starter struct {
	mu   sync.Mutex
	reqs []events.LogoutRequested
	// started, when set before the request, is called with each
	// logout.requested once it is recorded: the test's positive signal
	// that a logout started.
	started func(events.LogoutRequested)
}

func (s *starter) RequestLogout(_ context.Context, r events.LogoutRequested) error {
	s.mu.Lock()
	s.reqs = append(s.reqs, r)
	started := s.started
	s.mu.Unlock()
	if started != nil {
		started(r)
	}
	return nil
}

func (s *starter) last() (events.LogoutRequested, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.reqs) == 0 {
		return events.LogoutRequested{}, false
	}
	return s.reqs[len(s.reqs)-1], true
}

type binder struct{ bound []string }

func (b *binder) Bind(w http.ResponseWriter, _ *http.Request, id string) {
	b.bound = append(b.bound, id)
	http.SetCookie(w, &http.Cookie{Name: "bound", Value: id})
}

const idpEntityID = "https://auth.signoff.test"

// env is an Adapter with fakes around it.
type env struct {
	a        *Adapter
	idp      *message.Signer
	res      *results
	sagas    *fakeSagas
	starter  *starter
	binder   *binder
	handler  http.Handler
	sessions fakeSessions
}

func newEnv(t testing.TB, sps []SP, mutate ...func(*Config)) *env {
	t.Helper()
	e := &env{idp: newSigner(t, idpEntityID, 0), res: newResults(), sagas: &fakeSagas{}, starter: &starter{}, binder: &binder{}}
	e.res.sagas = e.sagas
	cfg := Config{
		EntityID: idpEntityID, PublicURL: idpEntityID, Signer: func() (*message.Signer, error) { return e.idp, nil },
		SPs: sps, Publisher: e.res, Sagas: e.sagas, Changes: e.sagas, Logouts: e.starter, Browser: e.binder,
		Sessions: sessionsFunc(func() fakeSessions { return e.sessions }),
		Secret:   []byte("0123456789abcdef0123456789abcdef"), AttemptTimeout: time.Second, LogoutDeadline: 2 * time.Second,
	}
	for _, m := range mutate {
		m(&cfg)
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close(context.Background()) })
	e.a = a
	mux := http.NewServeMux()
	for p, h := range a.Handlers() {
		mux.Handle(p, h)
	}
	e.handler = mux
	return e
}

type sessionsFunc func() fakeSessions

func (f sessionsFunc) SessionsByNameID(ctx context.Context, rpID, nameID string) ([]Session, error) {
	return f().SessionsByNameID(ctx, rpID, nameID)
}

// idpCerts returns signoff's certificate in the tests (key 0, fixed
// notBefore: the same for every call).
func idpCerts(t testing.TB) func() []*x509.Certificate {
	c := newSigner(t, idpEntityID, 0).Certificate()
	return func() []*x509.Certificate { return []*x509.Certificate{c} }
}

// loadSP writes metadata and loads it as SP id.
func loadSP(t testing.TB, id string, mode string, entityID string, cert *x509.Certificate, endpoints ...message.Endpoint) SP {
	t.Helper()
	sp, err := LoadMetadataFile(id, "SP "+id, writeMetadata(t, entityID, cert, endpoints...), mode)
	if err != nil {
		t.Fatal(err)
	}
	return sp
}

func writeAll(path, content string) error { return os.WriteFile(path, []byte(content), 0o600) }

type x509Cert = x509.Certificate

func testLogger() *slog.Logger {
	if os.Getenv("SIGNOFF_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

func idpCertList(t testing.TB) []*x509.Certificate { return idpCerts(t)() }
