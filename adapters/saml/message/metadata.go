package message

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/beevik/etree"
)

// maxMetadata bounds the size of SP metadata accepted by ParseSPMetadata.
const maxMetadata = 4 << 20

// Endpoint is an <md:SingleLogoutService> (saml-metadata 2.2.2, 2.4.2): a
// binding, the Location requests go to, and the optional ResponseLocation
// responses go to.
type Endpoint struct {
	Binding          string
	Location         string
	ResponseLocation string
}

// ResponseURL returns where a LogoutResponse to this endpoint goes:
// ResponseLocation when set, else Location (saml-metadata 2.2.2).
func (e Endpoint) ResponseURL() string {
	if e.ResponseLocation != "" {
		return e.ResponseLocation
	}
	return e.Location
}

// SPMetadata is what Single Logout needs from an SP's metadata
// (saml-metadata 2.3.2, 2.4.4): its entityID, its SingleLogoutService
// endpoints in document order, and its signing certificates.
type SPMetadata struct {
	EntityID string
	// SLO lists the SingleLogoutService endpoints with a binding this
	// package speaks (HTTP-Redirect, HTTP-POST, SOAP), in document order.
	SLO []Endpoint
	// SigningCerts are the certificates of KeyDescriptors with use="signing"
	// or without use (saml-metadata 2.4.1.1); RSA only.
	SigningCerts []*x509.Certificate
}

// Endpoint returns the first SingleLogoutService with binding
// (saml-metadata 2.4.2), and whether there is one.
func (m *SPMetadata) Endpoint(binding string) (Endpoint, bool) {
	for _, e := range m.SLO {
		if e.Binding == binding {
			return e, true
		}
	}
	return Endpoint{}, false
}

// ParseSPMetadata reads SP metadata (saml-metadata 2.3.2, 2.4.4): an
// <md:EntityDescriptor>, or an <md:EntitiesDescriptor> holding exactly one,
// with an <md:SPSSODescriptor> supporting the SAML 2.0 protocol. It requires
// at least one SingleLogoutService with the HTTP-Redirect, HTTP-POST or SOAP
// binding (endpoints of other bindings are skipped) and at least one RSA
// signing certificate. Every error says what is wrong. The metadata's own
// signature and validUntil are not checked: the file is local configuration.
func ParseSPMetadata(data []byte) (*SPMetadata, error) {
	root, err := parseXML(data, maxMetadata)
	if xe, ok := err.(*xmlError); ok {
		return nil, fmt.Errorf("saml metadata: %s", xe.detail)
	} else if err != nil {
		return nil, fmt.Errorf("saml metadata: %w", err)
	}
	ed, err := entityDescriptor(root)
	if err != nil {
		return nil, fmt.Errorf("saml metadata: %w", err)
	}
	m := &SPMetadata{EntityID: strings.TrimSpace(attrValue(ed, "entityID"))}
	if m.EntityID == "" {
		return nil, errors.New("saml metadata: EntityDescriptor has no entityID")
	}
	fail := func(format string, a ...any) error {
		return fmt.Errorf("saml metadata for %q: %s", m.EntityID, fmt.Sprintf(format, a...))
	}

	var sp *etree.Element
	found := 0
	for _, c := range ed.ChildElements() {
		if isElem(c, nsMetadata, "SPSSODescriptor") {
			found++
			if sp == nil && slices.Contains(strings.Fields(attrValue(c, "protocolSupportEnumeration")), nsProtocol) {
				sp = c
			}
		}
	}
	switch {
	case found == 0:
		return nil, fail("no SPSSODescriptor (is this an SP's metadata?)")
	case sp == nil:
		return nil, fail("no SPSSODescriptor lists %s in protocolSupportEnumeration", nsProtocol)
	}

	var other []string
	kd := 0
	for _, c := range sp.ChildElements() {
		switch {
		case isElem(c, nsMetadata, "SingleLogoutService"):
			e := Endpoint{
				Binding:          strings.TrimSpace(attrValue(c, "Binding")),
				Location:         strings.TrimSpace(attrValue(c, "Location")),
				ResponseLocation: strings.TrimSpace(attrValue(c, "ResponseLocation")),
			}
			if e.Binding == "" {
				return nil, fail("a SingleLogoutService has no Binding")
			}
			switch e.Binding {
			case BindingRedirect, BindingPOST, BindingSOAP:
			default:
				other = append(other, e.Binding)
				continue
			}
			if err := checkEndpointURL(e.Location); err != nil {
				return nil, fail("SingleLogoutService (%s) Location: %v", e.Binding, err)
			}
			if e.ResponseLocation != "" {
				if err := checkEndpointURL(e.ResponseLocation); err != nil {
					return nil, fail("SingleLogoutService (%s) ResponseLocation: %v", e.Binding, err)
				}
			}
			m.SLO = append(m.SLO, e)
		case isElem(c, nsMetadata, "KeyDescriptor"):
			kd++
			use := strings.TrimSpace(attrValue(c, "use"))
			if use != "" && use != "signing" {
				continue
			}
			for _, x := range findAll(c, nsDSig, "X509Certificate") {
				text, err := textOf(x)
				if err != nil {
					return nil, fail("KeyDescriptor %d: %v", kd, err)
				}
				der, err := decodeBase64(text)
				if err != nil {
					return nil, fail("KeyDescriptor %d: X509Certificate is not base64: %v", kd, err)
				}
				cert, err := x509.ParseCertificate(der)
				if err != nil {
					return nil, fail("KeyDescriptor %d: X509Certificate does not parse: %v", kd, err)
				}
				if _, ok := cert.PublicKey.(*rsa.PublicKey); !ok {
					return nil, fail("KeyDescriptor %d: the signing certificate %q has a %s key; only RSA is supported", kd, cert.Subject.CommonName, cert.PublicKeyAlgorithm)
				}
				if !slices.ContainsFunc(m.SigningCerts, cert.Equal) {
					m.SigningCerts = append(m.SigningCerts, cert)
				}
			}
		}
	}
	if len(m.SLO) == 0 {
		if len(other) > 0 {
			return nil, fail("no SingleLogoutService with the HTTP-Redirect, HTTP-POST or SOAP binding (found only %s)", strings.Join(other, ", "))
		}
		return nil, fail("no SingleLogoutService: the SP does not support Single Logout")
	}
	if len(m.SigningCerts) == 0 {
		return nil, fail(`no signing certificate: no KeyDescriptor with use="signing" (or without use) holds a ds:X509Certificate`)
	}
	return m, nil
}

// entityDescriptor returns root when it is an EntityDescriptor, or the only
// EntityDescriptor inside an EntitiesDescriptor (saml-metadata 2.3.1).
func entityDescriptor(root *etree.Element) (*etree.Element, error) {
	if isElem(root, nsMetadata, "EntityDescriptor") {
		return root, nil
	}
	if !isElem(root, nsMetadata, "EntitiesDescriptor") {
		return nil, fmt.Errorf("root element is %s, expected md:EntityDescriptor or md:EntitiesDescriptor", elemName(root))
	}
	var found []*etree.Element
	var walk func(*etree.Element)
	walk = func(e *etree.Element) {
		for _, c := range e.ChildElements() {
			switch {
			case isElem(c, nsMetadata, "EntityDescriptor"):
				found = append(found, c)
			case isElem(c, nsMetadata, "EntitiesDescriptor"):
				walk(c)
			}
		}
	}
	walk(root)
	if len(found) != 1 {
		return nil, fmt.Errorf("EntitiesDescriptor holds %d EntityDescriptors, expected exactly one", len(found))
	}
	return found[0], nil
}

// checkEndpointURL requires an absolute http or https URL without fragment.
func checkEndpointURL(s string) error {
	if s == "" {
		return errors.New("missing")
	}
	u, err := url.Parse(s)
	if err != nil {
		return err
	}
	if (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%q is not an absolute http(s) URL", s)
	}
	if u.Fragment != "" {
		return fmt.Errorf("%q has a fragment", s)
	}
	return nil
}

// IdPMetadata returns signoff's IdP metadata for GET /saml/metadata
// (saml-metadata 2.3.2, 2.4.3): an <md:EntityDescriptor entityID> with an
// <md:IDPSSODescriptor> for the SAML 2.0 protocol, the signing certificate in
// a KeyDescriptor use="signing", and a SingleLogoutService for each of
// HTTP-Redirect, HTTP-POST and SOAP whose location is not empty. The
// metadata is unsigned.
//
// The schema requires at least one SingleSignOnService in an
// IDPSSODescriptor, yet signoff does no single sign-on: IdPMetadata lists
// the HTTP-Redirect SLO location (or the first one given) as a placeholder,
// marked by an XML comment. Operators usually merge signoff's
// SingleLogoutService elements and certificate into their IdP's real
// metadata; IdPMetadataWithSSO publishes real SSO endpoints instead.
func IdPMetadata(entityID string, cert *x509.Certificate, sloRedirect, sloPOST, sloSOAP string) ([]byte, error) {
	return IdPMetadataWithSSO(entityID, cert, sloRedirect, sloPOST, sloSOAP, nil)
}

// IdPMetadataWithSSO is IdPMetadata with the IdP's SingleSignOnService
// endpoints (saml-metadata 2.4.3); with none, it behaves as IdPMetadata.
func IdPMetadataWithSSO(entityID string, cert *x509.Certificate, sloRedirect, sloPOST, sloSOAP string, sso []Endpoint) ([]byte, error) {
	if entityID == "" {
		return nil, errors.New("saml: IdP metadata: entityID is required")
	}
	if cert == nil {
		return nil, errors.New("saml: IdP metadata: certificate is required")
	}
	if err := checkFields(map[string]string{"entityID": entityID}); err != nil {
		return nil, fmt.Errorf("saml: IdP metadata: %w", err)
	}
	var slo []Endpoint
	for _, e := range []Endpoint{{BindingRedirect, sloRedirect, ""}, {BindingPOST, sloPOST, ""}, {BindingSOAP, sloSOAP, ""}} {
		if e.Location != "" {
			slo = append(slo, e)
		}
	}
	if len(slo) == 0 {
		return nil, errors.New("saml: IdP metadata: at least one SingleLogoutService location is required")
	}
	placeholder := len(sso) == 0
	if placeholder {
		sso = []Endpoint{{Binding: BindingRedirect, Location: slo[0].Location}}
	}
	for _, e := range append(slices.Clone(slo), sso...) {
		if err := checkEndpointURL(e.Location); err != nil {
			return nil, fmt.Errorf("saml: IdP metadata: %s location: %v", e.Binding, err)
		}
		if err := checkFields(map[string]string{"Binding": e.Binding, "Location": e.Location, "ResponseLocation": e.ResponseLocation}); err != nil {
			return nil, fmt.Errorf("saml: IdP metadata: %w", err)
		}
	}

	doc := etree.NewDocument()
	doc.CreateProcInst("xml", `version="1.0" encoding="UTF-8"`)
	ed := doc.CreateElement("md:EntityDescriptor")
	ed.CreateAttr("xmlns:md", nsMetadata)
	ed.CreateAttr("xmlns:ds", nsDSig)
	ed.CreateAttr("entityID", entityID)
	idp := ed.CreateElement("md:IDPSSODescriptor")
	idp.CreateAttr("protocolSupportEnumeration", nsProtocol)
	kd := idp.CreateElement("md:KeyDescriptor")
	kd.CreateAttr("use", "signing")
	kd.CreateElement("ds:KeyInfo").CreateElement("ds:X509Data").CreateElement("ds:X509Certificate").
		SetText(base64.StdEncoding.EncodeToString(cert.Raw))
	for _, e := range slo {
		el := idp.CreateElement("md:SingleLogoutService")
		el.CreateAttr("Binding", e.Binding)
		el.CreateAttr("Location", e.Location)
	}
	if placeholder {
		idp.CreateComment(" signoff performs no single sign-on: this SingleSignOnService only satisfies the schema ")
	}
	for _, e := range sso {
		el := idp.CreateElement("md:SingleSignOnService")
		el.CreateAttr("Binding", e.Binding)
		el.CreateAttr("Location", e.Location)
	}
	doc.Indent(2)
	return doc.WriteToBytes()
}
