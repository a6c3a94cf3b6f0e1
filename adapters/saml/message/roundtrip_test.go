package message

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"net/url"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
)

// expectIdP trusts signoff's own certificate, so that signoff's messages can
// be read back.
func expectIdP(tb testing.TB, dest string) Expect {
	tb.Helper()
	s := idpSigner(tb)
	exp := expectSP(tb, dest)
	exp.Certs = func(issuer string) ([]*x509.Certificate, bool) {
		if issuer == idpEntityID {
			return []*x509.Certificate{s.Certificate()}, true
		}
		return nil, false
	}
	return exp
}

func sameRequest(t *testing.T, got *LogoutRequest, want LogoutRequest) {
	t.Helper()
	if got == nil {
		t.Fatal("no Request")
	}
	if len(want.SessionIndexes) == 0 {
		want.SessionIndexes = nil
	}
	if !reflect.DeepEqual(*got, want) {
		t.Fatalf("round trip changed the request:\n got %+v\nwant %+v", *got, want)
	}
}

func sameResponse(t *testing.T, got *LogoutResponse, want LogoutResponse) {
	t.Helper()
	if got == nil {
		t.Fatal("no Response")
	}
	if !reflect.DeepEqual(*got, want) {
		t.Fatalf("round trip changed the response:\n got %+v\nwant %+v", *got, want)
	}
}

func TestRoundTripPOST(t *testing.T) {
	s := idpSigner(t)
	for name, r := range requestVariants() {
		t.Run("request/"+name, func(t *testing.T) {
			signed := must[[]byte](t)(s.SignRequest(r))
			in, err := ParsePOST(postForm("SAMLRequest", signed, "rs-"+name), expectIdP(t, spSLOURL))
			if err != nil {
				t.Fatal(err)
			}
			sameRequest(t, in.Request, r)
			if in.Response != nil || in.Issuer != idpEntityID || in.Binding != BindingPOST || in.RelayState != "rs-"+name {
				t.Fatalf("inbound %+v", in)
			}
		})
	}
	for name, r := range responseVariants() {
		t.Run("response/"+name, func(t *testing.T) {
			signed := must[[]byte](t)(s.SignResponse(r))
			in, err := ParsePOST(postForm("SAMLResponse", signed, ""), expectIdP(t, spSLOURL))
			if err != nil {
				t.Fatal(err)
			}
			sameResponse(t, in.Response, r)
			if in.Request != nil || in.RelayState != "" || in.Binding != BindingPOST {
				t.Fatalf("inbound %+v", in)
			}
		})
	}
}

func TestRoundTripSOAP(t *testing.T) {
	s := idpSigner(t)
	for name, r := range requestVariants() {
		t.Run("request/"+name, func(t *testing.T) {
			env := SOAPEnvelope(must[[]byte](t)(s.SignRequest(r)))
			in, err := ParseSOAP(env, expectIdP(t, spSLOURL))
			if err != nil {
				t.Fatal(err)
			}
			sameRequest(t, in.Request, r)
			if in.Binding != BindingSOAP {
				t.Fatalf("binding %q", in.Binding)
			}
		})
	}
	for name, r := range responseVariants() {
		t.Run("response/"+name, func(t *testing.T) {
			// A SOAP response read by the caller of the SOAP request: no
			// expected Destination.
			env := SOAPEnvelope(must[[]byte](t)(s.SignResponse(r)))
			in, err := ParseSOAP(env, expectIdP(t, ""))
			if err != nil {
				t.Fatal(err)
			}
			sameResponse(t, in.Response, r)
		})
	}
}

// TestSOAPEnvelopeNamespaces: an SP may declare the SAML namespaces on the
// SOAP Envelope; the message still verifies because SOAPBody makes the
// inherited declarations explicit (and exclusive c14n does not depend on
// where they were declared).
func TestSOAPEnvelopeNamespaces(t *testing.T) {
	r := spRequest()
	r.Destination = sloSOAPURL
	signed := string(must[[]byte](t)(spSigner(t).SignRequest(r)))
	if !strings.Contains(signed, ` xmlns:samlp="`+nsProtocol+`"`) {
		t.Fatal("unexpected serialization")
	}
	body := strings.Replace(signed, ` xmlns:samlp="`+nsProtocol+`"`, "", 1)
	body = strings.ReplaceAll(body, ` xmlns:saml="`+nsAssertion+`"`, "")
	body = strings.ReplaceAll(body, ` xmlns:ds="`+nsDSig+`"`, "")
	env := `<?xml version="1.0"?>
<soap11:Envelope xmlns:soap11="http://schemas.xmlsoap.org/soap/envelope/" xmlns:samlp="` + nsProtocol + `" xmlns:saml="` + nsAssertion + `" xmlns:ds="` + nsDSig + `">
  <soap11:Header/>
  <soap11:Body>
    ` + body + `
  </soap11:Body>
</soap11:Envelope>`
	in, err := ParseSOAP([]byte(env), expectSP(t, sloSOAPURL))
	if err != nil {
		t.Fatal(err)
	}
	sameRequest(t, in.Request, r)
}

func TestRoundTripRedirect(t *testing.T) {
	s := idpSigner(t)
	for name, r := range requestVariants() {
		t.Run("request/"+name, func(t *testing.T) {
			u := must[string](t)(s.RedirectURL(spSLOURL, "SAMLRequest", must[[]byte](t)(MarshalRequest(r)), "relay/"+name+"?&="))
			in, err := ParseRedirect(rawQuery(t, u), expectIdP(t, spSLOURL))
			if err != nil {
				t.Fatal(err)
			}
			sameRequest(t, in.Request, r)
			if in.RelayState != "relay/"+name+"?&=" || in.Binding != BindingRedirect || in.Issuer != idpEntityID {
				t.Fatalf("inbound %+v", in)
			}
		})
	}
	for name, r := range responseVariants() {
		t.Run("response/"+name, func(t *testing.T) {
			u := must[string](t)(s.RedirectURL(spSLOURL+"?a=1", "SAMLResponse", must[[]byte](t)(MarshalResponse(r)), ""))
			if !strings.HasPrefix(u, spSLOURL+"?a=1&SAMLResponse=") {
				t.Fatalf("URL %q", u)
			}
			in, err := ParseRedirect(rawQuery(t, u), expectIdP(t, spSLOURL))
			if err != nil {
				t.Fatal(err)
			}
			sameResponse(t, in.Response, r)
			if in.RelayState != "" {
				t.Fatalf("RelayState %q", in.RelayState)
			}
		})
	}
}

// lowerPercent lowercases the hex digits of percent-encodings, as ADFS and
// Entra ID do (%2F → %2f).
func lowerPercent(s string) string {
	b := []byte(s)
	for i := 0; i+2 < len(b); i++ {
		if b[i] == '%' {
			b[i+1] = byte(strings.ToLower(string(b[i+1]))[0])
			b[i+2] = byte(strings.ToLower(string(b[i+2]))[0])
		}
	}
	return string(b)
}

// TestRedirectRawQueryLowercase: a sender that percent-encodes with
// lowercase hex signs its own encoding; the signature verifies because the
// raw substrings are used. A verifier that re-encodes the decoded values
// would compute other octets and fail.
func TestRedirectRawQueryLowercase(t *testing.T) {
	k := getKeys(t)
	var encoded, signed string
	for range 20 { // until the base64 has a '/' or '+' to encode
		xml := must[[]byte](t)(MarshalRequest(spRequest()))
		encoded = url.QueryEscape(base64.StdEncoding.EncodeToString(deflate(t, xml)))
		if strings.Contains(encoded, "%2F") || strings.Contains(encoded, "%2B") {
			break
		}
	}
	relay := "https://payroll.example.org/after?x=1"
	signed = "SAMLRequest=" + lowerPercent(encoded) + "&RelayState=" + lowerPercent(url.QueryEscape(relay)) + "&SigAlg=" + lowerPercent(url.QueryEscape(SigAlgRSASHA256))
	if !strings.Contains(signed, "%2f") {
		t.Fatalf("test setup: no lowercase escapes in %q", signed)
	}
	sum := sha256.Sum256([]byte(signed))
	sig := must[[]byte](t)(rsa.SignPKCS1v15(rand.Reader, k.sp, crypto.SHA256, sum[:]))
	query := signed + "&Signature=" + lowerPercent(url.QueryEscape(base64.StdEncoding.EncodeToString(sig)))

	in, err := ParseRedirect(query, expectSP(t, sloURL))
	if err != nil {
		t.Fatalf("lowercase-encoded query refused: %v", err)
	}
	if in.RelayState != relay || in.Request.NameID.Value != "alice@example.com" {
		t.Fatalf("inbound %+v", in)
	}

	// What a re-encoding verifier would check instead:
	vals := must[url.Values](t)(url.ParseQuery(query))
	reencoded := "SAMLRequest=" + url.QueryEscape(vals.Get("SAMLRequest")) + "&RelayState=" + url.QueryEscape(vals.Get("RelayState")) + "&SigAlg=" + url.QueryEscape(vals.Get("SigAlg"))
	sum2 := sha256.Sum256([]byte(reencoded))
	if rsa.VerifyPKCS1v15(&k.sp.PublicKey, crypto.SHA256, sum2[:], sig) == nil {
		t.Fatal("re-encoding gives the same octets; the test proves nothing")
	}
}

// TestRedirectParameterOrder: the parameters may arrive in any order (and
// with unrelated parameters between them); the signed string is rebuilt in
// spec order from the raw substrings.
func TestRedirectParameterOrder(t *testing.T) {
	s := spSigner(t)
	u := must[string](t)(s.RedirectURL(sloURL, "SAMLRequest", must[[]byte](t)(MarshalRequest(spRequest())), "state-42"))
	parts := strings.Split(rawQuery(t, u), "&")
	if len(parts) != 4 {
		t.Fatalf("parts %q", parts)
	}
	slices.Reverse(parts)
	parts = slices.Insert(parts, 2, "utm_source=mail")
	query := strings.Join(parts, "&")
	if !strings.HasPrefix(query, "Signature=") {
		t.Fatalf("not reordered: %q", query)
	}
	in, err := ParseRedirect(query, expectSP(t, sloURL))
	if err != nil {
		t.Fatal(err)
	}
	if in.RelayState != "state-42" {
		t.Fatalf("RelayState %q", in.RelayState)
	}
}

// TestRedirectCommentInNameID: a comment inside the NameID does not truncate
// the value (CVE-2017-11427): the whole text is the NameID.
func TestRedirectCommentInNameID(t *testing.T) {
	xml := string(must[[]byte](t)(MarshalRequest(spRequest())))
	xml = strings.Replace(xml, "alice@example.com<", "alice@example.com<!-- -->.evil.example<", 1)
	u := must[string](t)(spSigner(t).RedirectURL(sloURL, "SAMLRequest", []byte(xml), ""))
	in, err := ParseRedirect(rawQuery(t, u), expectSP(t, sloURL))
	if err != nil {
		t.Fatal(err)
	}
	if got := in.Request.NameID.Value; got != "alice@example.com.evil.example" {
		t.Fatalf("NameID %q", got)
	}
}

// TestKeyInfoIgnored: a correctly signed message still verifies when its
// KeyInfo is replaced by someone else's certificate — KeyInfo plays no role.
func TestKeyInfoIgnored(t *testing.T) {
	k := getKeys(t)
	signed := string(must[[]byte](t)(spSigner(t).SignRequest(spRequest())))
	own := base64.StdEncoding.EncodeToString(k.spCert.Raw)
	swapped := strings.Replace(signed, own, base64.StdEncoding.EncodeToString(k.attackerCert.Raw), 1)
	if swapped == signed {
		t.Fatal("KeyInfo certificate not found")
	}
	if _, err := ParsePOST(postForm("SAMLRequest", []byte(swapped), ""), expectSP(t, sloURL)); err != nil {
		t.Fatal(err)
	}
}

// TestMultipleMetadataCerts: with two certificates in the metadata (key
// rollover), a message signed with either verifies.
func TestMultipleMetadataCerts(t *testing.T) {
	k := getKeys(t)
	exp := expectSP(t, sloURL)
	exp.Certs = func(string) ([]*x509.Certificate, bool) {
		return []*x509.Certificate{k.attackerCert, k.spCert}, true
	}
	for _, s := range []*Signer{spSigner(t), attackerSigner(t)} {
		if _, err := ParsePOST(postForm("SAMLRequest", must[[]byte](t)(s.SignRequest(spRequest())), ""), exp); err != nil {
			t.Fatal(err)
		}
	}
}

// TestSOAPDestination: over SOAP a message without Destination is accepted;
// one with a Destination must match.
func TestSOAPDestination(t *testing.T) {
	s := spSigner(t)
	r := spRequest()
	r.Destination = ""
	if _, err := ParseSOAP(SOAPEnvelope(must[[]byte](t)(s.SignRequest(r))), expectSP(t, sloSOAPURL)); err != nil {
		t.Fatal(err)
	}
	r = spRequest()
	r.Destination = sloSOAPURL
	if _, err := ParseSOAP(SOAPEnvelope(must[[]byte](t)(s.SignRequest(r))), expectSP(t, sloSOAPURL)); err != nil {
		t.Fatal(err)
	}
	r.ID = NewID()
	r.Destination = sloURL
	_, err := ParseSOAP(SOAPEnvelope(must[[]byte](t)(s.SignRequest(r))), expectSP(t, sloSOAPURL))
	wantErr(t, err, ErrDestination)
}

// TestSkewWithin: messages within the skew are accepted in both directions.
func TestSkewWithin(t *testing.T) {
	s := spSigner(t)
	for _, d := range []time.Duration{-170 * time.Second, 170 * time.Second} {
		r := spRequest()
		r.IssueInstant = testNow.Add(d)
		if _, err := ParsePOST(postForm("SAMLRequest", must[[]byte](t)(s.SignRequest(r)), ""), expectSP(t, sloURL)); err != nil {
			t.Fatalf("IssueInstant %v off: %v", d, err)
		}
	}
}

// TestConcurrentUse signs and parses from many goroutines with one Signer
// and one ReplayCache (run with -race).
func TestConcurrentUse(t *testing.T) {
	s := spSigner(t)
	exp := expectSP(t, sloURL)
	errs := make(chan error, 16)
	for range 16 {
		go func() {
			signed, err := s.SignRequest(spRequest())
			if err == nil {
				_, err = ParsePOST(postForm("SAMLRequest", signed, ""), exp)
			}
			var xml []byte
			if err == nil {
				xml, err = MarshalRequest(spRequest())
			}
			if err == nil {
				var u string
				u, err = s.RedirectURL(sloURL, "SAMLRequest", xml, "")
				if err == nil {
					_, err = ParseRedirect(u[strings.Index(u, "?")+1:], exp)
				}
			}
			errs <- err
		}()
	}
	for range 16 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if exp.Replay.Len() != 32 {
		t.Errorf("replay cache holds %d IDs, want 32", exp.Replay.Len())
	}
}

// TestOtherSerializations: messages from other SAML stacks use other
// prefixes, default namespaces and indentation; they verify and decode the
// same.
func TestOtherSerializations(t *testing.T) {
	k := getKeys(t)
	id := NewID()
	head := `ID="` + id + `" Version="2.0" IssueInstant="2026-11-03T09:59:58.123Z" Destination="` + sloURL + `" NotOnOrAfter="2026-11-03T10:04:58Z"`
	docs := map[string]string{
		"opensaml-prefixes": `<saml2p:LogoutRequest xmlns:saml2p="` + nsProtocol + `" ` + head + `>
    <saml2:Issuer xmlns:saml2="` + nsAssertion + `">` + spEntityID + `</saml2:Issuer>
    <saml2:NameID xmlns:saml2="` + nsAssertion + `" Format="urn:oasis:names:tc:SAML:2.0:nameid-format:transient">_abc</saml2:NameID>
    <saml2p:SessionIndex>_s1</saml2p:SessionIndex>
</saml2p:LogoutRequest>`,
		"default-namespaces": `<LogoutRequest xmlns="` + nsProtocol + `" ` + head + `><Issuer xmlns="` + nsAssertion + `">` + spEntityID + `</Issuer><NameID xmlns="` + nsAssertion + `" Format="urn:oasis:names:tc:SAML:2.0:nameid-format:transient">_abc</NameID><SessionIndex>_s1</SessionIndex></LogoutRequest>`,
	}
	for name, x := range docs {
		t.Run(name, func(t *testing.T) {
			doc := parseDoc(t, []byte(`<?xml version="1.0" encoding="UTF-8"?>`+"\n"+x))
			ctx := must[*dsig.SigningContext](t)(dsig.NewSigningContext(k.sp, [][]byte{k.spCert.Raw}))
			ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
			sig := must[*etree.Element](t)(ctx.ConstructSignature(doc.Root(), true))
			doc.Root().InsertChildAt(doc.Root().ChildElements()[0].Index()+1, sig)
			signed := docBytes(t, doc)
			in, err := ParsePOST(postForm("SAMLRequest", signed, ""), expectSP(t, sloURL))
			if err != nil {
				t.Fatalf("%v\n%s", err, signed)
			}
			want := LogoutRequest{
				ID: id, Destination: sloURL, Issuer: spEntityID,
				IssueInstant: time.Date(2026, 11, 3, 9, 59, 58, 123e6, time.UTC), NotOnOrAfter: time.Date(2026, 11, 3, 10, 4, 58, 0, time.UTC),
				NameID:         NameID{Value: "_abc", Format: "urn:oasis:names:tc:SAML:2.0:nameid-format:transient"},
				SessionIndexes: []string{"_s1"},
			}
			sameRequest(t, in.Request, want)
			if out, ok := xmlsecVerify(t, k.spCert, "LogoutRequest", signed); !ok {
				t.Errorf("xmlsec1 disagrees:\n%s", out)
			}
		})
	}
}
