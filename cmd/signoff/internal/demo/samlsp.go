package demo

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/signoff/signoff/adapters/saml/message"
	"github.com/signoff/signoff/events"
)

// nameIDPersistent is the NameID Format the demo IdP asserts to the SAML SP.
const nameIDPersistent = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"

// samlSP is the demo's SAML service provider, Payroll, on its own origin,
// built on package message: a home page that tells whether the browser is
// signed in there, a login shortcut standing in for the SAML SSO assertion
// consumer, and its HTTP-Redirect SingleLogoutService (/saml/slo), which
// verifies signoff's LogoutRequest with the certificate from signoff's
// /saml/metadata, ends the session and answers a signed LogoutResponse by
// Redirect to signoff's /saml/slo. Its "Sign out" starts an SP-initiated
// logout (a signed LogoutRequest to signoff).
type samlSP struct {
	id, name string
	url      string
	entityID string
	signer   *message.Signer
	srv      *http.Server
	out      io.Writer
	replay   *message.ReplayCache

	signoff string // signoff's public URL, once known
	// soap makes the SP's only SingleLogoutService the SOAP binding
	// (samlsoap.go): signoff signs it out server to server.
	soap bool

	mu       sync.Mutex
	idpCerts []*x509.Certificate
	sessions map[string]samlSession   // session index → session
	pending  map[string]pendingLogout // IDs of our LogoutRequests → what we sent
}

// pendingLogout is what the SP remembers of its own LogoutRequest: when it
// expires and the RelayState it sent, which signoff must echo unchanged.
type pendingLogout struct {
	expires    time.Time
	relayState string
}

// samlAnswer is what the SP shows of signoff's LogoutResponse to its own
// LogoutRequest: the status and sub-status received, and whether the
// RelayState came back as sent.
type samlAnswer struct {
	Status, SubStatus string // full URNs, as received
	RelayState        string // as received
	RelayStateIntact  bool
}

// Summary is the status in short, e.g. "Success (PartialLogout)".
func (a samlAnswer) Summary() string {
	s := shortStatus(a.Status)
	if a.SubStatus != "" {
		s += " (" + shortStatus(a.SubStatus) + ")"
	}
	return s
}

// shortStatus is the last part of a SAML status URN ("Success").
func shortStatus(urn string) string { return urn[strings.LastIndex(urn, ":")+1:] }

// samlSession is what the SP keeps of a SAML sign-in.
type samlSession struct{ subject, nameID, index string }

func (s *samlSP) cookie() string { return "demo_" + s.id + "_session" }

func (s *samlSP) sloURL() string { return s.url + "/saml/slo" }

func startSAMLSP(id, name string, out io.Writer) (*samlSP, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		l.Close()
		return nil, err
	}
	s := &samlSP{id: id, name: name, url: "http://" + l.Addr().String(), out: out,
		replay: message.NewReplayCache(10000, time.Hour, time.Now), sessions: map[string]samlSession{}, pending: map[string]pendingLogout{}}
	s.entityID = s.url + "/saml/metadata"
	cert, err := message.SelfSignedCertificate(key, name, time.Now().Add(-time.Hour))
	if err == nil {
		s.signer, err = message.NewSigner(s.entityID, key, cert)
	}
	if err != nil {
		l.Close()
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", s.home)
	mux.HandleFunc("GET /login", s.login)
	mux.HandleFunc("GET /logout", s.logout)
	mux.HandleFunc("GET /saml/slo", s.slo)
	mux.HandleFunc("GET /saml/metadata", s.metadata)
	mux.HandleFunc("POST /saml/slo/soap", s.sloSOAP)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go s.srv.Serve(l)
	return s, nil
}

// metadataXML is the SP's metadata (saml-metadata 2.4.4): its signing
// certificate and its HTTP-Redirect (or, with soap, SOAP)
// SingleLogoutService.
func (s *samlSP) metadataXML() []byte {
	binding, location := message.BindingRedirect, s.sloURL()
	if s.soap {
		binding, location = message.BindingSOAP, s.soapURL()
	}
	return []byte(fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="%s">
  <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
    <md:KeyDescriptor use="signing">
      <ds:KeyInfo xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:X509Data><ds:X509Certificate>%s</ds:X509Certificate></ds:X509Data></ds:KeyInfo>
    </md:KeyDescriptor>
    <md:SingleLogoutService Binding="%s" Location="%s"/>
    <md:NameIDFormat>%s</md:NameIDFormat>
  </md:SPSSODescriptor>
</md:EntityDescriptor>
`, s.entityID, base64.StdEncoding.EncodeToString(s.signer.Certificate().Raw), binding, location, nameIDPersistent))
}

// writeMetadata writes the metadata for signoff's saml.metadata_file.
func (s *samlSP) writeMetadata(dir string) (string, error) {
	path := filepath.Join(dir, s.id+"-sp.xml")
	return path, os.WriteFile(path, s.metadataXML(), 0o600)
}

func (s *samlSP) metadata(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/samlmetadata+xml")
	w.Write(s.metadataXML())
}

// nameIDFor is the persistent NameID the IdP asserts to this SP.
func (s *samlSP) nameIDFor(subject string) string { return subject + "@" + s.id }

// join registers the IdP session at the SP (session.joined with saml), waits
// until signoff has want sessions of it, and returns the SP's login URL,
// which continues to next.
func (p *idp) joinSAML(ctx context.Context, s *samlSP, session, subject, next string, want int) (string, error) {
	index := "_" + strings.ReplaceAll(uuid.NewString(), "-", "")
	b, err := events.Encode(events.SessionJoined{
		EventID: uuid.NewString(), OccurredAt: time.Now().UTC(), SessionID: session, Subject: subject, RPID: s.id,
		SAML:     &events.SAMLSession{NameID: s.nameIDFor(subject), Format: nameIDPersistent, SessionIndex: index},
		Upstream: p.upstreamOf(session),
	})
	if err != nil {
		return "", err
	}
	if _, err := p.js.Publish(ctx, events.SubjectSessionJoined, b); err != nil {
		return "", fmt.Errorf("publish session.joined: %w", err)
	}
	for {
		n, err := p.registered(ctx, session)
		if err != nil {
			return "", err
		}
		if n >= want {
			break
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return s.url + "/login?" + url.Values{"sub": {subject}, "session_index": {index}, "next": {next}}.Encode(), nil
}

// login stands in for the assertion consumer service: the IdP sends the
// browser here with the SessionIndex it registered.
func (s *samlSP) login(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	sub, index := q.Get("sub"), q.Get("session_index")
	if sub == "" || index == "" {
		http.Error(w, "sub and session_index required", http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	s.sessions[index] = samlSession{subject: sub, nameID: s.nameIDFor(sub), index: index}
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: s.cookie(), Value: index, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	next := q.Get("next")
	if u, err := url.Parse(next); err != nil || u.Hostname() != "127.0.0.1" {
		next = "/"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func (s *samlSP) session(r *http.Request) (samlSession, bool) {
	c, err := r.Cookie(s.cookie())
	if err != nil {
		return samlSession{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ss, ok := s.sessions[c.Value]
	return ss, ok
}

var samlPage = template.Must(template.New("saml").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Name}}</title></head>
<body style="font: 16px/1.5 system-ui, sans-serif; max-width: 32rem; margin: 2rem auto; padding: 0 1rem">
<h1>{{.Name}}</h1>
{{if .Message}}<p id="bye" role="status">{{.Message}}</p>{{end}}
{{with .Answer}}<p id="saml-answer"><small>signoff's LogoutResponse: <span id="saml-status" data-status="{{.Status}}" data-substatus="{{.SubStatus}}">{{.Summary}}</span>; RelayState <span id="saml-relaystate" data-relaystate="{{.RelayState}}">{{if .RelayStateIntact}}came back intact{{else}}did not come back as sent{{end}}</span>.</small></p>{{end}}
<p id="status" role="status">{{if .SignedIn}}You are signed in to {{.Name}} as <strong>{{.Subject}}</strong>.{{else}}You are not signed in to {{.Name}}.{{end}}</p>
{{if and .SignedIn (not .SOAP)}}<p><a id="rp-signout" href="/logout">Sign out</a></p>{{end}}
{{if .SOAP}}<p><small>A SAML service provider: signed out by SAML Single Logout over SOAP (server to server, no browser needed). In this demo only "Sign in with the upstream IdP" signs you in here.</small></p>
{{else}}<p><small>A SAML service provider: signed out by SAML Single Logout over HTTP-Redirect (signoff's logout page takes the browser here and back).</small></p>{{end}}
</body></html>`))

func (s *samlSP) render(w http.ResponseWriter, r *http.Request, status int, message string, answer *samlAnswer) {
	ss, ok := s.session(r)
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	samlPage.Execute(w, map[string]any{"Name": s.name, "SignedIn": ok, "Subject": ss.subject, "Message": message, "Answer": answer, "SOAP": s.soap})
}

func (s *samlSP) home(w http.ResponseWriter, r *http.Request) { s.render(w, r, http.StatusOK, "", nil) }

var x509CertificateName = xml.Name{Space: "http://www.w3.org/2000/09/xmldsig#", Local: "X509Certificate"}

// certs returns signoff's signing certificates from its /saml/metadata
// (fetched once; fetched again when a signature does not verify).
func (s *samlSP) certs(issuer string) ([]*x509.Certificate, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.idpCerts == nil {
		certs, err := fetchIdPCerts(s.signoff + "/saml/metadata")
		if err != nil {
			fmt.Fprintf(s.out, "    %s could not read signoff's SAML metadata: %v\n", s.name, err)
			return nil, false
		}
		s.idpCerts = certs
	}
	return s.idpCerts, true
}

// fetchIdPCerts reads every ds:X509Certificate of IdP metadata.
func fetchIdPCerts(metadataURL string) ([]*x509.Certificate, error) {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get(metadataURL)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", metadataURL, resp.Status)
	}
	dec := xml.NewDecoder(io.LimitReader(resp.Body, 1<<20))
	var out []*x509.Certificate
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name == x509CertificateName {
			var b64 string
			if err := dec.DecodeElement(&b64, &se); err != nil {
				return nil, err
			}
			der, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(b64), ""))
			if err != nil {
				return nil, err
			}
			cert, err := x509.ParseCertificate(der)
			if err != nil {
				return nil, err
			}
			out = append(out, cert)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no signing certificate in signoff's metadata")
	}
	return out, nil
}

// slo is the SP's HTTP-Redirect SingleLogoutService (saml-profiles
// 4.4.4): a LogoutRequest from signoff ends the sessions it names and is
// answered with a signed LogoutResponse by Redirect to signoff, RelayState
// echoed; a LogoutResponse answers the SP's own "Sign out", and the page
// shows its status and whether its RelayState came back as sent.
func (s *samlSP) slo(w http.ResponseWriter, r *http.Request) {
	exp := message.Expect{Destination: s.sloURL(), Certs: s.certs, Replay: s.replay}
	in, err := message.ParseRedirect(r.URL.RawQuery, exp)
	if err != nil && (errors.Is(err, message.ErrBadSignature) || errors.Is(err, message.ErrUnknownIssuer)) {
		s.mu.Lock()
		s.idpCerts = nil // signoff's key may have rotated
		s.mu.Unlock()
		in, err = message.ParseRedirect(r.URL.RawQuery, exp)
	}
	if err != nil {
		fmt.Fprintf(s.out, "    %s refused a SAML message: %v\n", s.name, err)
		http.Error(w, "SAML message refused: "+err.Error(), http.StatusBadRequest)
		return
	}
	if in.Response != nil {
		s.mu.Lock()
		p, ours := s.pending[in.Response.InResponseTo]
		delete(s.pending, in.Response.InResponseTo)
		s.mu.Unlock()
		answer := &samlAnswer{Status: in.Response.StatusCode, SubStatus: in.Response.SubStatusCode,
			RelayState: in.RelayState, RelayStateIntact: in.RelayState == p.relayState}
		switch {
		case !ours:
			s.render(w, r, http.StatusBadRequest, "This LogoutResponse answers no sign-out of "+s.name+"; it is ignored.", nil)
		case in.Response.StatusCode != message.StatusSuccess:
			s.render(w, r, http.StatusOK, "You left "+s.name+", but the sign-in service reports: "+in.Response.StatusCode, answer)
		case in.Response.SubStatusCode == message.StatusPartialLogout:
			s.render(w, r, http.StatusOK, "You left "+s.name+". Some applications did not confirm the sign-out: close your browser to be sure.", answer)
		default:
			s.render(w, r, http.StatusOK, "You left "+s.name+" and were signed out everywhere.", answer)
		}
		return
	}
	req := in.Request
	ended := s.end(req.NameID.Value, req.SessionIndexes)
	http.SetCookie(w, &http.Cookie{Name: s.cookie(), Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	fmt.Fprintf(s.out, "    %s verified a SAML LogoutRequest (NameID=%s SessionIndex=%s) and ended %d session(s)\n",
		s.name, req.NameID.Value, strings.Join(req.SessionIndexes, ","), ended)
	resp := message.LogoutResponse{ID: message.NewID(), Destination: s.signoff + "/saml/slo", Issuer: s.entityID,
		InResponseTo: req.ID, IssueInstant: time.Now().UTC(), StatusCode: message.StatusSuccess}
	x, err := message.MarshalResponse(resp)
	var u string
	if err == nil {
		u, err = s.signer.RedirectURL(s.signoff+"/saml/slo", "SAMLResponse", x, in.RelayState)
	}
	if err != nil {
		http.Error(w, "could not answer: "+err.Error(), http.StatusInternalServerError)
		return
	}
	http.Redirect(w, r, u, http.StatusSeeOther)
}

// end removes the sessions of nameID (those of indexes, or all of them when
// none is given) and returns how many it removed.
func (s *samlSP) end(nameID string, indexes []string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for idx, ss := range s.sessions {
		if ss.nameID != nameID {
			continue
		}
		if len(indexes) > 0 && !containsString(indexes, idx) {
			continue
		}
		delete(s.sessions, idx)
		n++
	}
	return n
}

func containsString(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

// logout is the SP's "Sign out": it ends its own session first, then
// sends a signed LogoutRequest to signoff (SP-initiated logout,
// saml-profiles 4.4.3.1), which signs the user out everywhere and answers
// with a LogoutResponse to /saml/slo.
func (s *samlSP) logout(w http.ResponseWriter, r *http.Request) {
	ss, ok := s.session(r)
	if !ok {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	now := time.Now().UTC()
	req := message.LogoutRequest{ID: message.NewID(), Destination: s.signoff + "/saml/slo", Issuer: s.entityID,
		IssueInstant: now, NotOnOrAfter: now.Add(5 * time.Minute), Reason: message.ReasonUser,
		NameID: message.NameID{Value: ss.nameID, Format: nameIDPersistent}, SessionIndexes: []string{ss.index}}
	// A fresh RelayState per request, which the answer must bring back.
	relayState := "payroll-" + rand.Text()
	x, err := message.MarshalRequest(req)
	var u string
	if err == nil {
		u, err = s.signer.RedirectURL(s.signoff+"/saml/slo", "SAMLRequest", x, relayState)
	}
	if err != nil {
		http.Error(w, "could not sign out: "+err.Error(), http.StatusInternalServerError)
		return
	}
	s.mu.Lock()
	delete(s.sessions, ss.index)
	for id, p := range s.pending {
		if now.After(p.expires) {
			delete(s.pending, id)
		}
	}
	s.pending[req.ID] = pendingLogout{expires: now.Add(time.Hour), relayState: relayState}
	s.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: s.cookie(), Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, u, http.StatusSeeOther)
}
