package saml

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"

	"github.com/signoff/signoff/adapters/saml/message"
)

// Channels through which a service provider is signed out.
const (
	// ChannelSOAP is the back-channel: a signed LogoutRequest over the SOAP
	// binding (saml-bindings 3.2), server to server.
	ChannelSOAP = "soap"
	// ChannelBrowser goes through the user's browser: HTTP-Redirect
	// (saml-bindings 3.4) or HTTP-POST (saml-bindings 3.5), driven by
	// signoff's logout page.
	ChannelBrowser = "browser"
)

// Front-channel modes of a browser SP (config key saml.frontchannel_mode).
const (
	// ModeRedirect navigates the whole page to the SP and back (a
	// top-level redirect chain); the default, because browsers that block
	// third-party cookies break iframes silently.
	ModeRedirect = "redirect"
	// ModeIframe loads the SP's SingleLogoutService in a hidden iframe of
	// the logout page; the SP redirects the iframe back to /saml/slo.
	ModeIframe = "iframe"
)

// SP is one SAML service provider signed out by signoff: its
// SingleLogoutService endpoints and signing certificates, from its metadata
// (saml-metadata 2.4.4, 2.2.2) or from inline configuration.
type SP struct {
	// ID is the rp_id of events.
	ID string
	// Name is the display name.
	Name string
	// EntityID is the SP's entityID: the Issuer of its messages.
	EntityID string
	// SLO are its SingleLogoutService endpoints.
	SLO []message.Endpoint
	// Certs verify its signatures (KeyDescriptor use="signing" or without
	// use).
	Certs []*x509.Certificate
	// Mode is ModeRedirect (default) or ModeIframe, for browser SPs.
	Mode string
	// Source names where the SP was described (a metadata file), for
	// messages.
	Source string
}

// Channel is ChannelSOAP when the SP offers a SOAP SingleLogoutService,
// ChannelBrowser otherwise (DESIGN.md: SOAP first, then HTTP-Redirect, then
// HTTP-POST).
func (sp SP) Channel() string {
	if _, ok := sp.endpoint(message.BindingSOAP); ok {
		return ChannelSOAP
	}
	return ChannelBrowser
}

func (sp SP) mode() string {
	if sp.Mode == "" {
		return ModeRedirect
	}
	return sp.Mode
}

func (sp SP) endpoint(binding string) (message.Endpoint, bool) {
	for _, e := range sp.SLO {
		if e.Binding == binding {
			return e, true
		}
	}
	return message.Endpoint{}, false
}

// browserEndpoint is where the browser carries a LogoutRequest:
// HTTP-Redirect preferred, then HTTP-POST.
func (sp SP) browserEndpoint() (message.Endpoint, bool) {
	if e, ok := sp.endpoint(message.BindingRedirect); ok {
		return e, true
	}
	return sp.endpoint(message.BindingPOST)
}

// responseEndpoint is where a LogoutResponse to the SP's own LogoutRequest
// goes (saml-metadata 2.2.2: ResponseLocation, else Location),
// HTTP-Redirect preferred, then HTTP-POST.
func (sp SP) responseEndpoint() (binding, location string, ok bool) {
	e, ok := sp.browserEndpoint()
	if !ok {
		return "", "", false
	}
	loc := e.ResponseLocation
	if loc == "" {
		loc = e.Location
	}
	return e.Binding, loc, true
}

// Validate reports the first problem of the SP's description.
func (sp SP) Validate() error {
	switch {
	case sp.ID == "":
		return errors.New("service provider without id")
	case sp.EntityID == "":
		return errors.New("no entityID")
	case len(sp.Certs) == 0:
		return errors.New(`no signing certificate (a KeyDescriptor with use="signing" or without use)`)
	}
	switch sp.mode() {
	case ModeRedirect, ModeIframe:
	default:
		return fmt.Errorf("frontchannel_mode %q is not %q or %q", sp.Mode, ModeRedirect, ModeIframe)
	}
	usable := 0
	for _, e := range sp.SLO {
		switch e.Binding {
		case message.BindingSOAP, message.BindingRedirect, message.BindingPOST:
		default:
			continue
		}
		if err := checkLocation(e.Location); err != nil {
			return fmt.Errorf("SingleLogoutService %s: %w", e.Binding, err)
		}
		if e.ResponseLocation != "" {
			if err := checkLocation(e.ResponseLocation); err != nil {
				return fmt.Errorf("SingleLogoutService %s ResponseLocation: %w", e.Binding, err)
			}
		}
		usable++
	}
	if usable == 0 {
		return errors.New("no SingleLogoutService with the SOAP, HTTP-Redirect or HTTP-POST binding")
	}
	return nil
}

func checkLocation(loc string) error {
	u, err := url.Parse(loc)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("location %q is not an absolute http(s) URL", loc)
	}
	if u.Fragment != "" || strings.Contains(loc, "#") {
		return fmt.Errorf("location %q has a fragment", loc)
	}
	return nil
}

// LoadMetadataFile reads an SP's metadata (saml-metadata 2.4.4) and
// returns the SP it describes. Every error names the file ("metadata_file
// PATH: …") and the problem:
// a missing file, malformed metadata, no signing certificate, no usable
// SingleLogoutService.
func LoadMetadataFile(id, name, path, mode string) (SP, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return SP{}, fmt.Errorf("metadata_file %s: %w", path, unwrapPath(err))
	}
	md, err := message.ParseSPMetadata(data)
	if err != nil {
		return SP{}, fmt.Errorf("metadata_file %s: %w", path, err)
	}
	sp := SP{ID: id, Name: name, EntityID: md.EntityID, SLO: md.SLO, Certs: md.SigningCerts, Mode: mode, Source: path}
	if err := sp.Validate(); err != nil {
		return SP{}, fmt.Errorf("metadata_file %s: %w", path, err)
	}
	return sp, nil
}

// Inline describes an SP without a metadata file: its entityID, one URL per
// binding it offers (empty: not offered) and a PEM file of its signing
// certificate(s).
type Inline struct {
	EntityID                      string
	SLORedirect, SLOPOST, SLOSOAP string
	CertificateFile               string
}

// LoadInline returns the SP described by in; errors name the certificate
// file when it is the problem.
func LoadInline(id, name string, in Inline, mode string) (SP, error) {
	data, err := os.ReadFile(in.CertificateFile)
	if err != nil {
		return SP{}, fmt.Errorf("certificate_file %s: %w", in.CertificateFile, unwrapPath(err))
	}
	certs, err := parseCertificates(data)
	if err != nil {
		return SP{}, fmt.Errorf("certificate_file %s: %w", in.CertificateFile, err)
	}
	sp := SP{ID: id, Name: name, EntityID: in.EntityID, Certs: certs, Mode: mode, Source: "inline configuration"}
	for _, e := range []message.Endpoint{
		{Binding: message.BindingSOAP, Location: in.SLOSOAP},
		{Binding: message.BindingRedirect, Location: in.SLORedirect},
		{Binding: message.BindingPOST, Location: in.SLOPOST},
	} {
		if e.Location != "" {
			sp.SLO = append(sp.SLO, e)
		}
	}
	if err := sp.Validate(); err != nil {
		return SP{}, fmt.Errorf("saml: %w", err)
	}
	return sp, nil
}

// unwrapPath drops the path of an *fs.PathError, which the caller names.
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// parseCertificates reads every CERTIFICATE block of PEM data.
func parseCertificates(data []byte) ([]*x509.Certificate, error) {
	var out []*x509.Certificate
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			return nil, fmt.Errorf("unexpected PEM block %q (want CERTIFICATE)", b.Type)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(out)+1, err)
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, errors.New("no PEM CERTIFICATE block")
	}
	return out, nil
}
