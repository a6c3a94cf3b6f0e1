package message

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"html"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestSelfSignedCertificateDeterministic(t *testing.T) {
	k := getKeys(t)
	nb := time.Date(2026, 1, 2, 3, 4, 5, 678, time.FixedZone("CET", 3600))
	a := must[*x509.Certificate](t)(SelfSignedCertificate(k.idp, "auth.example.com", nb))
	b := must[*x509.Certificate](t)(SelfSignedCertificate(k.idp, "auth.example.com", nb))
	if !bytes.Equal(a.Raw, b.Raw) {
		t.Fatal("same key, name and notBefore gave different certificates")
	}
	if !a.NotBefore.Equal(nb.Truncate(time.Second)) || !a.NotAfter.Equal(a.NotBefore.AddDate(20, 0, 0)) {
		t.Errorf("validity %v .. %v", a.NotBefore, a.NotAfter)
	}
	if a.SerialNumber.Sign() <= 0 || a.SignatureAlgorithm != x509.SHA256WithRSA || a.Subject.CommonName != "auth.example.com" {
		t.Errorf("serial %v, alg %v, subject %v", a.SerialNumber, a.SignatureAlgorithm, a.Subject)
	}
	if err := a.CheckSignature(a.SignatureAlgorithm, a.RawTBSCertificate, a.Signature); err != nil {
		t.Errorf("not self-signed: %v", err)
	}
	// Anything else changes the bytes; the serial follows the key.
	c := must[*x509.Certificate](t)(SelfSignedCertificate(k.idp, "auth.example.com", nb.Add(time.Second)))
	d := must[*x509.Certificate](t)(SelfSignedCertificate(k.idp, "other", nb))
	e := must[*x509.Certificate](t)(SelfSignedCertificate(k.sp, "auth.example.com", nb))
	if bytes.Equal(a.Raw, c.Raw) || bytes.Equal(a.Raw, d.Raw) || bytes.Equal(a.Raw, e.Raw) {
		t.Error("different inputs gave the same certificate")
	}
	if a.SerialNumber.Cmp(d.SerialNumber) != 0 || a.SerialNumber.Cmp(e.SerialNumber) == 0 {
		t.Error("the serial number is not derived from the public key")
	}

	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if _, err := SelfSignedCertificate(ec, "x", nb); err == nil {
		t.Error("ECDSA key accepted")
	}
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	if _, err := SelfSignedCertificate(small, "x", nb); err == nil {
		t.Error("1024-bit key accepted")
	}
}

func TestNewSigner(t *testing.T) {
	k := getKeys(t)
	s, err := NewSigner(idpEntityID, k.idp, k.idpCert)
	if err != nil {
		t.Fatal(err)
	}
	if s.EntityID() != idpEntityID || s.Certificate() != k.idpCert {
		t.Error("accessors")
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for name, f := range map[string]func() (*Signer, error){
		"cert-of-other-key": func() (*Signer, error) { return NewSigner(idpEntityID, k.idp, k.spCert) },
		"ecdsa":             func() (*Signer, error) { return NewSigner(idpEntityID, ec, k.idpCert) },
		"no-entity":         func() (*Signer, error) { return NewSigner("", k.idp, k.idpCert) },
		"no-cert":           func() (*Signer, error) { return NewSigner(idpEntityID, k.idp, nil) },
	} {
		if _, err := f(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// The Issuer must be the signer's.
	r := spRequest()
	if _, err := s.SignRequest(r); err == nil {
		t.Error("signed a request with another Issuer")
	}
	r.Issuer = ""
	signed := must[[]byte](t)(s.SignRequest(r))
	if !bytes.Contains(signed, []byte(">"+idpEntityID+"</saml:Issuer>")) {
		t.Errorf("Issuer not filled in: %s", signed)
	}
}

func TestNewID(t *testing.T) {
	re := regexp.MustCompile(`^_[0-9a-f]{40}$`)
	seen := map[string]bool{}
	for range 1000 {
		id := NewID()
		if !re.MatchString(id) || checkID(id) != nil || seen[id] {
			t.Fatalf("bad or repeated ID %q", id)
		}
		seen[id] = true
	}
}

func TestMarshalValidation(t *testing.T) {
	for name, mod := range map[string]func(*LogoutRequest){
		"no-id":         func(r *LogoutRequest) { r.ID = "" },
		"digit-id":      func(r *LogoutRequest) { r.ID = "1abc" },
		"space-id":      func(r *LogoutRequest) { r.ID = "_a b" },
		"no-issuer":     func(r *LogoutRequest) { r.Issuer = "" },
		"no-instant":    func(r *LogoutRequest) { r.IssueInstant = time.Time{} },
		"no-nameid":     func(r *LogoutRequest) { r.NameID.Value = "" },
		"newline":       func(r *LogoutRequest) { r.NameID.NameQualifier = "a\nb" },
		"bad-utf8":      func(r *LogoutRequest) { r.NameID.Value = "\xff" },
		"empty-session": func(r *LogoutRequest) { r.SessionIndexes = []string{""} },
	} {
		r := spRequest()
		mod(&r)
		if _, err := MarshalRequest(r); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	resp := spResponse()
	resp.StatusCode = ""
	if _, err := MarshalResponse(resp); err == nil {
		t.Error("response without StatusCode accepted")
	}
}

func TestPostForm(t *testing.T) {
	signed := must[[]byte](t)(idpSigner(t).SignResponse(responseVariants()["partial-logout"]))
	page := html.UnescapeString(string(PostForm(spSLOURL+"?a=1&b=2", "SAMLResponse", signed, `"><script>alert(1)</script>`, "n0nce+/=")))
	for _, want := range []string{
		`action="https://payroll.example.org/Shibboleth.sso/SLO/Redirect?a=1&b=2"`,
		`name="SAMLResponse" value="` + base64.StdEncoding.EncodeToString(signed) + `"`,
		`<script nonce="n0nce+/=">`,
		`<noscript>`, `<button type="submit">`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %s:\n%s", want, page)
		}
	}
	raw := string(PostForm(spSLOURL, "SAMLResponse", signed, `"><script>alert(1)</script>`, "n"))
	if strings.Count(raw, "<script") != 1 || !strings.Contains(raw, `value="&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;"`) {
		t.Errorf("RelayState not escaped:\n%s", raw)
	}
	page = string(PostForm("javascript:alert(1)", "SAMLRequest", signed, "", "n"))
	if strings.Contains(page, "javascript:") || strings.Contains(page, `name="RelayState"`) {
		t.Errorf("unsafe action or empty RelayState:\n%s", page)
	}
}
