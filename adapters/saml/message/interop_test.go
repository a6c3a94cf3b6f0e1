package message

import (
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
)

// requestVariants are LogoutRequests as signoff sends them.
func requestVariants() map[string]LogoutRequest {
	base := LogoutRequest{
		ID:           NewID(),
		Destination:  spSLOURL,
		Issuer:       idpEntityID,
		IssueInstant: testNow,
		NotOnOrAfter: testNow.Add(10 * time.Minute),
	}
	full := base
	full.ID = NewID()
	full.Reason = ReasonUser
	full.NameID = NameID{
		Value:           "AAdzZWNyZXQxqZnX1Ks3N3Yg4kwM0xFRYpuV0E6D",
		Format:          "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent",
		NameQualifier:   idpEntityID,
		SPNameQualifier: spEntityID,
	}
	full.SessionIndexes = []string{"_6c3fd1a0e3b7f0c2"}

	minimal := base
	minimal.ID = NewID()
	minimal.NameID = NameID{Value: "alice"}

	several := base
	several.ID = NewID()
	several.Reason = ReasonAdmin
	several.NameID = NameID{Value: `Zoë <o'brien> & "friends"`, Format: "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified"}
	several.SessionIndexes = []string{"_s1", "_s2", "_s3"}

	timeout := base
	timeout.ID = NewID()
	timeout.Reason = ReasonGlobalTimeout
	timeout.IssueInstant = testNow.Add(123 * time.Millisecond)
	timeout.NameID = NameID{Value: "3f7b1c0e", Format: "urn:oasis:names:tc:SAML:2.0:nameid-format:transient", SPNameQualifier: spEntityID}
	timeout.SessionIndexes = []string{"idx-1"}

	return map[string]LogoutRequest{"full": full, "minimal": minimal, "several-session-indexes": several, "global-timeout": timeout}
}

// responseVariants are LogoutResponses as signoff sends them.
func responseVariants() map[string]LogoutResponse {
	base := LogoutResponse{
		ID:           NewID(),
		Destination:  spSLOURL,
		Issuer:       idpEntityID,
		InResponseTo: "_3bd5f2e5a1",
		IssueInstant: testNow,
		StatusCode:   StatusSuccess,
	}
	partial := base
	partial.ID = NewID()
	partial.SubStatusCode = StatusPartialLogout
	partial.StatusMessage = "Team Wiki did not confirm the logout"
	requester := base
	requester.ID = NewID()
	requester.StatusCode = StatusRequester
	requester.StatusMessage = "the LogoutRequest is not signed"
	responder := base
	responder.ID = NewID()
	responder.InResponseTo = ""
	responder.StatusCode = StatusResponder
	responder.SubStatusCode = "urn:oasis:names:tc:SAML:2.0:status:RequestDenied"
	return map[string]LogoutResponse{"success": base, "partial-logout": partial, "requester": requester, "responder": responder}
}

// TestInteropSignedMessages checks every signed message with two independent
// tools: xmlsec1 verifies the signature (trusting only the certificate given
// on the command line) and xmllint validates against the OASIS protocol
// schema from opensaml-schemas.
func TestInteropSignedMessages(t *testing.T) {
	s := idpSigner(t)
	protocol := schemaFile(t, "opensaml-schemas", "saml-schema-protocol-2.0.xsd")
	check := func(t *testing.T, kind string, signed, unsigned []byte) {
		if out, ok := xmlsecVerify(t, s.Certificate(), kind, signed); !ok {
			t.Errorf("xmlsec1 does not verify the signed %s:\n%s\n%s", kind, out, signed)
		}
		if out, ok := xmllintValidate(t, protocol, signed); !ok {
			t.Errorf("xmllint: the signed %s is not schema-valid:\n%s\n%s", kind, out, signed)
		}
		if out, ok := xmllintValidate(t, protocol, unsigned); !ok {
			t.Errorf("xmllint: the unsigned %s is not schema-valid:\n%s\n%s", kind, out, unsigned)
		}
	}
	for name, r := range requestVariants() {
		t.Run("request/"+name, func(t *testing.T) {
			check(t, "LogoutRequest", must[[]byte](t)(s.SignRequest(r)), must[[]byte](t)(MarshalRequest(r)))
		})
	}
	for name, r := range responseVariants() {
		t.Run("response/"+name, func(t *testing.T) {
			check(t, "LogoutResponse", must[[]byte](t)(s.SignResponse(r)), must[[]byte](t)(MarshalResponse(r)))
		})
	}
}

// TestInteropToolsDetectFailures proves the tool checks above can fail:
// xmlsec1 rejects a tampered message and one signed by a key other than the
// certificate it trusts (even with that key's certificate in KeyInfo), and
// xmllint rejects goxmldsig's SignEnveloped placement (Signature last).
func TestInteropToolsDetectFailures(t *testing.T) {
	s := idpSigner(t)
	r := requestVariants()["full"]
	signed := must[[]byte](t)(s.SignRequest(r))

	tampered := []byte(strings.Replace(string(signed), "_6c3fd1a0e3b7f0c2", "_6c3fd1a0e3b7f0c3", 1))
	if string(tampered) == string(signed) {
		t.Fatal("tampering changed nothing")
	}
	if out, ok := xmlsecVerify(t, s.Certificate(), "LogoutRequest", tampered); ok {
		t.Errorf("xmlsec1 accepted a tampered message:\n%s", out)
	}
	r.Issuer = spEntityID
	other := must[[]byte](t)(attackerSigner(t).SignRequest(r))
	if out, ok := xmlsecVerify(t, s.Certificate(), "LogoutRequest", other); ok {
		t.Errorf("xmlsec1 accepted a message signed by another key:\n%s", out)
	}

	// The same message signed with SignEnveloped: the signature verifies,
	// but the Signature is the last child, which the schema forbids.
	k := getKeys(t)
	ctx := must[*dsig.SigningContext](t)(dsig.NewSigningContext(k.idp, [][]byte{k.idpCert.Raw}))
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	if err := ctx.SetSignatureMethod(dsig.RSASHA256SignatureMethod); err != nil {
		t.Fatal(err)
	}
	r = requestVariants()["full"]
	doc := must[*etree.Document](t)(buildRequest(r))
	last, err := ctx.SignEnveloped(doc.Root())
	if err != nil {
		t.Fatal(err)
	}
	doc.SetRoot(last)
	signedLast := docBytes(t, doc)
	if out, ok := xmlsecVerify(t, s.Certificate(), "LogoutRequest", signedLast); !ok {
		t.Fatalf("xmlsec1 should verify the SignEnveloped message:\n%s", out)
	}
	protocol := schemaFile(t, "opensaml-schemas", "saml-schema-protocol-2.0.xsd")
	out, ok := xmllintValidate(t, protocol, signedLast)
	if ok {
		t.Fatalf("xmllint accepted a Signature placed last:\n%s", signedLast)
	}
	if !strings.Contains(out, "Signature") {
		t.Errorf("xmllint failed for another reason than the Signature placement:\n%s", out)
	}
	t.Logf("xmllint on SignEnveloped output: %s", strings.TrimSpace(out))
}

// TestInteropRedirectSignatures verifies every Redirect signature signoff
// makes with openssl dgst, over the exact signed octets of saml-bindings
// 3.4.4.1, and checks that openssl rejects a tampered one.
func TestInteropRedirectSignatures(t *testing.T) {
	s := idpSigner(t)
	type msg struct {
		param string
		xml   []byte
	}
	var msgs []msg
	for _, r := range requestVariants() {
		msgs = append(msgs, msg{"SAMLRequest", must[[]byte](t)(MarshalRequest(r))})
	}
	for _, r := range responseVariants() {
		msgs = append(msgs, msg{"SAMLResponse", must[[]byte](t)(MarshalResponse(r))})
	}
	for i, m := range msgs {
		for _, relay := range []string{"", "s=1&t=/a b+c", "RS_7f3a"} {
			loc := spSLOURL
			if i%2 == 1 {
				loc += "?tenant=a%2Fb"
			}
			u := must[string](t)(s.RedirectURL(loc, m.param, m.xml, relay))
			if !strings.HasPrefix(u, loc+map[bool]string{true: "&", false: "?"}[strings.Contains(loc, "?")]+m.param+"=") {
				t.Fatalf("URL %q does not start with the location and %s", u, m.param)
			}
			q := u[strings.Index(u, m.param+"="):]
			signed, sigPart, ok := strings.Cut(q, "&Signature=")
			if !ok {
				t.Fatalf("no Signature in %q", u)
			}
			wantPrefix := m.param + "="
			if relay != "" && !strings.Contains(signed, "&RelayState="+url.QueryEscape(relay)+"&SigAlg=") {
				t.Fatalf("RelayState missing or out of order in %q", signed)
			}
			if relay == "" && strings.Contains(signed, "RelayState") {
				t.Fatalf("empty RelayState was sent: %q", signed)
			}
			if !strings.HasPrefix(signed, wantPrefix) || !strings.HasSuffix(signed, "&SigAlg="+url.QueryEscape(SigAlgRSASHA256)) {
				t.Fatalf("signed string not in spec order: %q", signed)
			}
			sigB64 := must[string](t)(url.QueryUnescape(sigPart))
			sig := must[[]byte](t)(base64.StdEncoding.DecodeString(sigB64))
			if out, ok := opensslVerify(t, s.Certificate(), signed, sig); !ok {
				t.Errorf("openssl does not verify %q:\n%s", signed, out)
			}
			if i == 0 && relay == "" {
				if out, ok := opensslVerify(t, s.Certificate(), signed+"x", sig); ok {
					t.Errorf("openssl verified a tampered string:\n%s", out)
				}
			}
		}
	}
}
