package message

import (
	"bytes"
	"compress/flate"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/beevik/etree"
)

const (
	idpEntityID = "https://auth.example.com"
	spEntityID  = "https://payroll.example.org/shibboleth"
	sloURL      = "https://auth.example.com/saml/slo"
	sloSOAPURL  = "https://auth.example.com/saml/slo/soap"
	spSLOURL    = "https://payroll.example.org/Shibboleth.sso/SLO/Redirect"
)

// testNow is the fixed clock of the tests.
var testNow = time.Date(2026, 11, 3, 10, 0, 0, 0, time.UTC)

func fixedNow() time.Time { return testNow }

// testKeys are generated once per test binary: signoff (IdP), an SP, and an
// attacker.
type testKeys struct {
	idp, sp, attacker             *rsa.PrivateKey
	idpCert, spCert, attackerCert *x509.Certificate
}

var (
	keysOnce sync.Once
	keys     testKeys
	keysErr  error
)

func getKeys(tb testing.TB) testKeys {
	tb.Helper()
	keysOnce.Do(func() {
		gen := func(cn string) (*rsa.PrivateKey, *x509.Certificate) {
			if keysErr != nil {
				return nil, nil
			}
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				keysErr = err
				return nil, nil
			}
			c, err := SelfSignedCertificate(k, cn, time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
			if err != nil {
				keysErr = err
			}
			return k, c
		}
		keys.idp, keys.idpCert = gen("auth.example.com")
		keys.sp, keys.spCert = gen("payroll.example.org")
		keys.attacker, keys.attackerCert = gen("payroll.example.org")
	})
	if keysErr != nil {
		tb.Fatal(keysErr)
	}
	return keys
}

func idpSigner(tb testing.TB) *Signer {
	tb.Helper()
	k := getKeys(tb)
	s, err := NewSigner(idpEntityID, k.idp, k.idpCert)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// spSigner signs as the SP, to produce inbound messages.
func spSigner(tb testing.TB) *Signer {
	tb.Helper()
	k := getKeys(tb)
	s, err := NewSigner(spEntityID, k.sp, k.spCert)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// attackerSigner signs as the SP's entityID with a key that is not in the
// SP's metadata.
func attackerSigner(tb testing.TB) *Signer {
	tb.Helper()
	k := getKeys(tb)
	s, err := NewSigner(spEntityID, k.attacker, k.attackerCert)
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// expectSP trusts the SP's metadata certificate, at destination dest.
func expectSP(tb testing.TB, dest string) Expect {
	tb.Helper()
	k := getKeys(tb)
	return Expect{
		Destination: dest,
		Certs: func(issuer string) ([]*x509.Certificate, bool) {
			if issuer == spEntityID {
				return []*x509.Certificate{k.spCert}, true
			}
			return nil, false
		},
		Now:    fixedNow,
		Replay: NewReplayCache(100, 10*time.Minute, fixedNow),
	}
}

// spRequest is a LogoutRequest from the SP to signoff.
func spRequest() LogoutRequest {
	return LogoutRequest{
		ID:             NewID(),
		Destination:    sloURL,
		Issuer:         spEntityID,
		IssueInstant:   testNow.Add(-5 * time.Second),
		NotOnOrAfter:   testNow.Add(5 * time.Minute),
		Reason:         ReasonUser,
		NameID:         NameID{Value: "alice@example.com", Format: "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress"},
		SessionIndexes: []string{"_sess-1"},
	}
}

// spResponse is a LogoutResponse from the SP to signoff.
func spResponse() LogoutResponse {
	return LogoutResponse{
		ID:           NewID(),
		Destination:  sloURL,
		Issuer:       spEntityID,
		InResponseTo: "_abc",
		IssueInstant: testNow.Add(-5 * time.Second),
		StatusCode:   StatusSuccess,
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

func postForm(param string, xml []byte, relay string) url.Values {
	v := url.Values{param: {b64(xml)}}
	if relay != "" {
		v.Set("RelayState", relay)
	}
	return v
}

func rawQuery(tb testing.TB, u string) string {
	tb.Helper()
	p, err := url.Parse(u)
	if err != nil {
		tb.Fatal(err)
	}
	return p.RawQuery
}

func deflate(tb testing.TB, data []byte) []byte {
	tb.Helper()
	var buf bytes.Buffer
	w, _ := flate.NewWriter(&buf, flate.BestCompression)
	w.Write(data)
	if err := w.Close(); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func must[T any](tb testing.TB) func(T, error) T {
	return func(v T, err error) T {
		tb.Helper()
		if err != nil {
			tb.Fatal(err)
		}
		return v
	}
}

// wantErr fails unless err wraps target.
func wantErr(tb testing.TB, err, target error) {
	tb.Helper()
	if err == nil {
		tb.Fatalf("got no error, want %v", target)
	}
	if !errors.Is(err, target) {
		tb.Fatalf("got %v, want an error wrapping %v", err, target)
	}
	tb.Logf("refused as expected: %v", err)
}

// parseDoc parses XML in a test, for tampering.
func parseDoc(tb testing.TB, data []byte) *etree.Document {
	tb.Helper()
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(data); err != nil {
		tb.Fatal(err)
	}
	return doc
}

func docBytes(tb testing.TB, doc *etree.Document) []byte {
	tb.Helper()
	b, err := doc.WriteToBytes()
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// --- external tools ---

// needTool returns the path of an external program, or skips the test when
// it is missing (fails when CI=true).
func needTool(tb testing.TB, name string) string {
	tb.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		missing(tb, name+" is not installed")
	}
	return p
}

func missing(tb testing.TB, why string) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatalf("%s (CI=true, so this fails instead of skipping; .ci/run installs xmlsec1, libxml2-utils, opensaml-schemas, xmltooling-schemas)", why)
	}
	tb.Skipf("%s; install xmlsec1 libxml2-utils opensaml-schemas xmltooling-schemas", why)
}

// schemaFile finds an XSD shipped by a Debian package: dpkg -L first, then
// a glob under /usr/share/xml.
func schemaFile(tb testing.TB, pkg, name string) string {
	tb.Helper()
	if out, err := exec.Command("dpkg", "-L", pkg).Output(); err == nil {
		for line := range strings.SplitSeq(string(out), "\n") {
			if filepath.Base(line) == name {
				return line
			}
		}
	}
	if m, _ := filepath.Glob(filepath.Join("/usr/share/xml", "*", name)); len(m) > 0 {
		return m[0]
	}
	missing(tb, "schema "+name+" (package "+pkg+") not found")
	return ""
}

// xmlCatalog writes an XML catalog that maps the W3C schemaLocations the
// SAML schemas import to xmltooling-schemas' local copies.
func xmlCatalog(tb testing.TB) string {
	tb.Helper()
	dsig := schemaFile(tb, "xmltooling-schemas", "xmldsig-core-schema.xsd")
	xenc := schemaFile(tb, "xmltooling-schemas", "xenc-schema.xsd")
	xmlxsd := schemaFile(tb, "xmltooling-schemas", "xml.xsd")
	cat := `<?xml version="1.0"?>
<catalog xmlns="urn:oasis:names:tc:entity:xmlns:xml:catalog">
  <uri name="http://www.w3.org/TR/2002/REC-xmldsig-core-20020212/xmldsig-core-schema.xsd" uri="file://` + dsig + `"/>
  <uri name="http://www.w3.org/TR/2002/REC-xmlenc-core-20021210/xenc-schema.xsd" uri="file://` + xenc + `"/>
  <uri name="http://www.w3.org/2001/xml.xsd" uri="file://` + xmlxsd + `"/>
</catalog>
`
	path := filepath.Join(tb.TempDir(), "saml-catalog.xml")
	if err := os.WriteFile(path, []byte(cat), 0o644); err != nil {
		tb.Fatal(err)
	}
	return path
}

// xmllintValidate validates doc against schema with xmllint --nonet; it
// returns xmllint's output and whether it validated.
func xmllintValidate(tb testing.TB, schema string, doc []byte) (string, bool) {
	tb.Helper()
	xmllint := needTool(tb, "xmllint")
	catalog := xmlCatalog(tb)
	file := filepath.Join(tb.TempDir(), "msg.xml")
	if err := os.WriteFile(file, doc, 0o644); err != nil {
		tb.Fatal(err)
	}
	cmd := exec.Command(xmllint, "--nonet", "--noout", "--schema", schema, file)
	cmd.Env = append(os.Environ(), "XML_CATALOG_FILES="+catalog)
	out, err := cmd.CombinedOutput()
	return string(out), err == nil && strings.Contains(string(out), "validates")
}

// xmlsecVerify verifies an enveloped signature with xmlsec1, trusting only
// cert (key-name lookup only, so keys in KeyInfo are not used).
func xmlsecVerify(tb testing.TB, cert *x509.Certificate, kind string, doc []byte) (string, bool) {
	tb.Helper()
	xmlsec := needTool(tb, "xmlsec1")
	dir := tb.TempDir()
	certFile := filepath.Join(dir, "cert.pem")
	msgFile := filepath.Join(dir, "msg.xml")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o644)
	os.WriteFile(msgFile, doc, 0o644)
	cmd := exec.Command(xmlsec, "--verify", "--enabled-key-data", "key-name", "--pubkey-cert-pem", certFile,
		"--id-attr:ID", "urn:oasis:names:tc:SAML:2.0:protocol:"+kind, msgFile)
	out, err := cmd.CombinedOutput()
	return string(out), err == nil && strings.Contains(string(out), "OK")
}

// opensslVerify verifies an RSA-SHA256 signature over signed with openssl.
func opensslVerify(tb testing.TB, cert *x509.Certificate, signed string, sig []byte) (string, bool) {
	tb.Helper()
	openssl := needTool(tb, "openssl")
	dir := tb.TempDir()
	spki, err := x509.MarshalPKIXPublicKey(cert.PublicKey)
	if err != nil {
		tb.Fatal(err)
	}
	pub := filepath.Join(dir, "pub.pem")
	sigFile := filepath.Join(dir, "sig.bin")
	text := filepath.Join(dir, "signed.txt")
	os.WriteFile(pub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki}), 0o644)
	os.WriteFile(sigFile, sig, 0o644)
	os.WriteFile(text, []byte(signed), 0o644)
	out, err := exec.Command(openssl, "dgst", "-sha256", "-verify", pub, "-signature", sigFile, text).CombinedOutput()
	return string(out), err == nil && strings.Contains(string(out), "Verified OK")
}
