package demo

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/signoff/signoff/adapters/saml/message"
)

// startSOAPSP starts Expenses, the demo's SAML SP signed out over SOAP,
// which only sign-ins through the upstream IdP join: it shows an upstream
// logout ending a SAML session with no browser.
func startSOAPSP(out io.Writer) (*samlSP, error) {
	s, err := startSAMLSP("expenses", "Expenses", out)
	if err != nil {
		return nil, err
	}
	s.soap = true
	return s, nil
}

func (s *samlSP) soapURL() string { return s.url + "/saml/slo/soap" }

// sloSOAP is the SOAP SingleLogoutService of an SP with soap
// (saml-bindings 3.2, saml-profiles 4.4.3.4-5): signoff's signed
// LogoutRequest, verified with the certificate of signoff's
// /saml/metadata, ends the sessions it names, and the answer is a signed
// LogoutResponse (Success) in a SOAP envelope, so that signoff counts the
// SP as signed out without a browser.
func (s *samlSP) sloSOAP(w http.ResponseWriter, r *http.Request) {
	if !s.soap {
		http.NotFound(w, r)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 256<<10))
	if err != nil {
		http.Error(w, "reading the SOAP request: "+err.Error(), http.StatusBadRequest)
		return
	}
	exp := message.Expect{Destination: s.soapURL(), Certs: s.certs, Replay: s.replay}
	in, err := message.ParseSOAP(body, exp)
	if err != nil && (errors.Is(err, message.ErrBadSignature) || errors.Is(err, message.ErrUnknownIssuer)) {
		s.mu.Lock()
		s.idpCerts = nil // signoff's key may have rotated
		s.mu.Unlock()
		in, err = message.ParseSOAP(body, exp)
	}
	if err == nil && in.Request == nil {
		err = fmt.Errorf("not a LogoutRequest")
	}
	if err != nil {
		fmt.Fprintf(s.out, "    %s refused a SAML message over SOAP: %v\n", s.name, err)
		http.Error(w, "SAML message refused: "+err.Error(), http.StatusBadRequest)
		return
	}
	req := in.Request
	ended := s.end(req.NameID.Value, req.SessionIndexes)
	fmt.Fprintf(s.out, "    %s verified a SAML LogoutRequest over SOAP (NameID=%s SessionIndex=%s) and ended %d session(s)\n",
		s.name, req.NameID.Value, strings.Join(req.SessionIndexes, ","), ended)
	signed, err := s.signer.SignResponse(message.LogoutResponse{ID: message.NewID(), Issuer: s.entityID,
		InResponseTo: req.ID, IssueInstant: time.Now().UTC(), StatusCode: message.StatusSuccess})
	if err != nil {
		http.Error(w, "could not answer: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write(message.SOAPEnvelope(signed))
}
