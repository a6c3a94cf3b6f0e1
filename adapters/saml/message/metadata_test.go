package message

import (
	"crypto/x509"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	return must[[]byte](t)(readFixtureTB(t, name))
}

func readFixtureTB(_ testing.TB, name string) ([]byte, error) {
	return os.ReadFile(filepath.Join("testdata", name))
}

func TestParseSPMetadataFixtures(t *testing.T) {
	t.Run("soap-and-redirect", func(t *testing.T) {
		m, err := ParseSPMetadata(readFixture(t, "sp-soap-redirect.xml"))
		if err != nil {
			t.Fatal(err)
		}
		if m.EntityID != "https://payroll.example.org/shibboleth" {
			t.Errorf("EntityID %q", m.EntityID)
		}
		want := []Endpoint{
			{Binding: BindingSOAP, Location: "https://payroll.example.org/Shibboleth.sso/SLO/SOAP"},
			{Binding: BindingRedirect, Location: "https://payroll.example.org/Shibboleth.sso/SLO/Redirect"},
		}
		if len(m.SLO) != len(want) || m.SLO[0] != want[0] || m.SLO[1] != want[1] {
			t.Errorf("SLO %+v (the Artifact endpoint must be skipped)", m.SLO)
		}
		if e, ok := m.Endpoint(BindingSOAP); !ok || e.Location != want[0].Location {
			t.Errorf("Endpoint(SOAP) = %+v, %v", e, ok)
		}
		if _, ok := m.Endpoint(BindingPOST); ok {
			t.Error("Endpoint(POST) found")
		}
		if len(m.SigningCerts) != 1 || m.SigningCerts[0].Subject.CommonName != "shib.sp.example.org" {
			t.Errorf("certs %v", m.SigningCerts)
		}
	})
	t.Run("redirect-only", func(t *testing.T) {
		m, err := ParseSPMetadata(readFixture(t, "sp-redirect-only.xml"))
		if err != nil {
			t.Fatal(err)
		}
		e, ok := m.Endpoint(BindingRedirect)
		if !ok || len(m.SLO) != 1 || !strings.HasSuffix(e.ResponseURL(), "?response=1") || strings.HasSuffix(e.Location, "?response=1") {
			t.Errorf("SLO %+v", m.SLO)
		}
		if _, ok := m.Endpoint(BindingSOAP); ok {
			t.Error("Endpoint(SOAP) found")
		}
		if len(m.SigningCerts) != 1 || m.SigningCerts[0].Subject.CommonName != "ssp.sp.example.org" {
			t.Errorf("certs %v", m.SigningCerts)
		}
	})
	t.Run("two-certs-in-entities-descriptor", func(t *testing.T) {
		m, err := ParseSPMetadata(readFixture(t, "sp-two-certs.xml"))
		if err != nil {
			t.Fatal(err)
		}
		if m.EntityID != "https://crm.example.org/saml/metadata" {
			t.Errorf("EntityID %q", m.EntityID)
		}
		var cns []string
		for _, c := range m.SigningCerts {
			cns = append(cns, c.Subject.CommonName)
		}
		if strings.Join(cns, ",") != "roll1.sp.example.org,roll2.sp.example.org" {
			t.Errorf("signing certs %v (the encryption certificate must not be one)", cns)
		}
		if len(m.SLO) != 2 || m.SLO[0].Binding != BindingPOST || m.SLO[1].ResponseURL() != "https://crm.example.org/saml/slo/response" {
			t.Errorf("SLO %+v", m.SLO)
		}
	})
}

// TestFixturesSchemaValid: the fixtures are realistic, i.e. schema-valid.
func TestFixturesSchemaValid(t *testing.T) {
	schema := schemaFile(t, "opensaml-schemas", "saml-schema-metadata-2.0.xsd")
	for _, f := range []string{"sp-soap-redirect.xml", "sp-redirect-only.xml", "sp-two-certs.xml"} {
		if out, ok := xmllintValidate(t, schema, readFixture(t, f)); !ok {
			t.Errorf("%s:\n%s", f, out)
		}
	}
}

func spMetadata(keyDescriptors, slo string) string {
	return `<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" xmlns:ds="http://www.w3.org/2000/09/xmldsig#" entityID="https://sp.example.org">
  <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">` + keyDescriptors + slo + `
  </md:SPSSODescriptor>
</md:EntityDescriptor>`
}

func keyDescriptor(use, certB64 string) string {
	u := ""
	if use != "" {
		u = ` use="` + use + `"`
	}
	return `<md:KeyDescriptor` + u + `><ds:KeyInfo><ds:X509Data><ds:X509Certificate>` + certB64 + `</ds:X509Certificate></ds:X509Data></ds:KeyInfo></md:KeyDescriptor>`
}

const redirectSLO = `<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect" Location="https://sp.example.org/slo"/>`

func TestParseSPMetadataErrors(t *testing.T) {
	cert := base64.StdEncoding.EncodeToString(getKeys(t).spCert.Raw)
	for name, c := range map[string]struct{ doc, want string }{
		"malformed":         {`<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="x"><md:SPSSODescriptor>`, "XML"},
		"not-metadata":      {`<html/>`, "expected md:EntityDescriptor"},
		"no-entity-id":      {strings.Replace(spMetadata(keyDescriptor("signing", cert), redirectSLO), `entityID="https://sp.example.org"`, "", 1), "no entityID"},
		"no-sp-descriptor":  {`<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://idp.example.org"><md:IDPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol"/></md:EntityDescriptor>`, "no SPSSODescriptor"},
		"saml1-only":        {strings.Replace(spMetadata(keyDescriptor("", cert), redirectSLO), "urn:oasis:names:tc:SAML:2.0:protocol", "urn:oasis:names:tc:SAML:1.1:protocol", 1), "protocolSupportEnumeration"},
		"no-slo":            {spMetadata(keyDescriptor("signing", cert), ""), "no SingleLogoutService"},
		"artifact-slo-only": {spMetadata(keyDescriptor("signing", cert), `<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Artifact" Location="https://sp.example.org/slo"/>`), "HTTP-Artifact"},
		"slo-no-location":   {spMetadata(keyDescriptor("signing", cert), `<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:SOAP"/>`), "Location: missing"},
		"slo-bad-location":  {spMetadata(keyDescriptor("signing", cert), `<md:SingleLogoutService Binding="urn:oasis:names:tc:SAML:2.0:bindings:SOAP" Location="javascript:alert(1)"/>`), "not an absolute http(s) URL"},
		"encryption-only":   {spMetadata(keyDescriptor("encryption", cert), redirectSLO), "no signing certificate"},
		"no-keys":           {spMetadata("", redirectSLO), "no signing certificate"},
		"cert-not-base64":   {spMetadata(keyDescriptor("signing", "!!!"), redirectSLO), "not base64"},
		"cert-not-cert":     {spMetadata(keyDescriptor("signing", base64.StdEncoding.EncodeToString([]byte("hello"))), redirectSLO), "does not parse"},
		"two-entities":      {`<md:EntitiesDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata">` + strings.Repeat(`<md:EntityDescriptor entityID="a"/>`, 2) + `</md:EntitiesDescriptor>`, "holds 2 EntityDescriptors"},
		"doctype":           {`<!DOCTYPE x [<!ENTITY e "e">]>` + spMetadata(keyDescriptor("signing", cert), redirectSLO), "DTD"},
		"empty":             {``, "no XML root element"},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParseSPMetadata([]byte(c.doc))
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not say %q", err, c.want)
			}
			t.Logf("%v", err)
		})
	}
}

// TestParseSPMetadataUsedForVerification: the certificates from metadata
// verify that SP's messages.
func TestParseSPMetadataUsedForVerification(t *testing.T) {
	k := getKeys(t)
	doc := spMetadata(keyDescriptor("signing", base64.StdEncoding.EncodeToString(k.attackerCert.Raw))+keyDescriptor("", base64.StdEncoding.EncodeToString(k.spCert.Raw)), redirectSLO)
	doc = strings.Replace(doc, "https://sp.example.org", spEntityID, 1)
	m, err := ParseSPMetadata([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	exp := expectSP(t, sloURL)
	exp.Certs = func(issuer string) ([]*x509.Certificate, bool) {
		if issuer == m.EntityID {
			return m.SigningCerts, true
		}
		return nil, false
	}
	if _, err := ParsePOST(postForm("SAMLRequest", must[[]byte](t)(spSigner(t).SignRequest(spRequest())), ""), exp); err != nil {
		t.Fatal(err)
	}
}

func TestIdPMetadata(t *testing.T) {
	s := idpSigner(t)
	md, err := IdPMetadata(idpEntityID, s.Certificate(), sloURL, sloURL, sloSOAPURL)
	if err != nil {
		t.Fatal(err)
	}
	validate := func(t *testing.T, md []byte) {
		t.Run("xmllint", func(t *testing.T) {
			schema := schemaFile(t, "opensaml-schemas", "saml-schema-metadata-2.0.xsd")
			if out, ok := xmllintValidate(t, schema, md); !ok {
				t.Fatalf("IdP metadata is not schema-valid:\n%s\n%s", out, md)
			}
		})
	}
	validate(t, md)
	root, err := parseXML(md, maxMetadata)
	if err != nil {
		t.Fatal(err)
	}
	if attrValue(root, "entityID") != idpEntityID {
		t.Error("entityID")
	}
	idp := root.ChildElements()[0]
	if !isElem(idp, nsMetadata, "IDPSSODescriptor") || attrValue(idp, "protocolSupportEnumeration") != nsProtocol {
		t.Fatalf("IDPSSODescriptor %s", md)
	}
	var bindings []string
	var certOK bool
	for _, c := range idp.ChildElements() {
		switch {
		case isElem(c, nsMetadata, "SingleLogoutService"):
			bindings = append(bindings, attrValue(c, "Binding")+" "+attrValue(c, "Location"))
		case isElem(c, nsMetadata, "KeyDescriptor"):
			x := findAll(c, nsDSig, "X509Certificate")
			certOK = attrValue(c, "use") == "signing" && len(x) == 1 && x[0].Text() == base64.StdEncoding.EncodeToString(s.Certificate().Raw)
		}
	}
	if !certOK {
		t.Errorf("no signing KeyDescriptor with the certificate: %s", md)
	}
	want := []string{BindingRedirect + " " + sloURL, BindingPOST + " " + sloURL, BindingSOAP + " " + sloSOAPURL}
	if strings.Join(bindings, "\n") != strings.Join(want, "\n") {
		t.Errorf("SingleLogoutService:\n%s", strings.Join(bindings, "\n"))
	}
	// It is not SP metadata.
	if _, err := ParseSPMetadata(md); err == nil || !strings.Contains(err.Error(), "no SPSSODescriptor") {
		t.Errorf("ParseSPMetadata(IdP metadata) = %v", err)
	}

	// With real SSO endpoints and without POST.
	md, err = IdPMetadataWithSSO(idpEntityID, s.Certificate(), sloURL, "", sloSOAPURL, []Endpoint{{Binding: BindingRedirect, Location: "https://auth.example.com/sso"}})
	if err != nil {
		t.Fatal(err)
	}
	validate(t, md)
	if strings.Contains(string(md), BindingPOST) || !strings.Contains(string(md), `<md:SingleSignOnService Binding="`+BindingRedirect+`" Location="https://auth.example.com/sso"/>`) {
		t.Errorf("%s", md)
	}

	for name, f := range map[string]func() ([]byte, error){
		"no-entity":   func() ([]byte, error) { return IdPMetadata("", s.Certificate(), sloURL, "", "") },
		"no-cert":     func() ([]byte, error) { return IdPMetadata(idpEntityID, nil, sloURL, "", "") },
		"no-slo":      func() ([]byte, error) { return IdPMetadata(idpEntityID, s.Certificate(), "", "", "") },
		"bad-url":     func() ([]byte, error) { return IdPMetadata(idpEntityID, s.Certificate(), "/saml/slo", "", "") },
		"control-chr": func() ([]byte, error) { return IdPMetadata("a\nb", s.Certificate(), sloURL, "", "") },
	} {
		if _, err := f(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
