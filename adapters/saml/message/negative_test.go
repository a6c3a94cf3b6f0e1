package message

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"encoding/base64"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
)

func signedSPRequest(t *testing.T) ([]byte, LogoutRequest) {
	t.Helper()
	r := spRequest()
	return must[[]byte](t)(spSigner(t).SignRequest(r)), r
}

// TestRefuseSignatureWrapping: the classic XSW shapes, each refused with
// ErrBadSignature although every one contains a validly signed
// LogoutRequest.
func TestRefuseSignatureWrapping(t *testing.T) {
	signed, _ := signedSPRequest(t)

	// evil builds an unsigned malicious LogoutRequest (for "victim") with
	// the legitimately signed one tucked into samlp:Extensions.
	evil := func(t *testing.T, id string, copySignature bool) []byte {
		legit := parseDoc(t, signed).Root()
		doc := etree.NewDocument()
		root := doc.CreateElement("samlp:LogoutRequest")
		root.CreateAttr("xmlns:samlp", nsProtocol)
		root.CreateAttr("xmlns:saml", nsAssertion)
		root.CreateAttr("ID", id)
		root.CreateAttr("Version", "2.0")
		root.CreateAttr("IssueInstant", formatTime(testNow))
		root.CreateAttr("Destination", sloURL)
		root.CreateElement("saml:Issuer").SetText(spEntityID)
		if copySignature {
			for _, c := range legit.ChildElements() {
				if c.Tag == "Signature" {
					root.AddChild(c.Copy())
				}
			}
		}
		root.CreateElement("samlp:Extensions").AddChild(legit)
		root.CreateElement("saml:NameID").SetText("victim@example.com")
		return docBytes(t, doc)
	}
	legitID := attrValue(parseDoc(t, signed).Root(), "ID")

	cases := map[string][]byte{
		// The signed element moved into Extensions, an unsigned root.
		"wrapped-in-extensions": evil(t, "_evil", false),
		// The same, with a copy of the legitimate Signature on the root:
		// now there are two Signatures.
		"second-signature": evil(t, "_evil", true),
		// The root takes the signed element's ID and carries its
		// Signature: two Signatures, and the root's digest would not match.
		"same-id-second-signature": evil(t, legitID, true),
	}
	// Only one Signature, on a root that reuses the signed ID: the
	// Signature references the root, but the root's content is not what
	// was signed.
	doc := parseDoc(t, signed)
	for _, c := range doc.Root().ChildElements() {
		if c.Tag == "NameID" {
			c.SetText("victim@example.com")
		}
	}
	cases["modified-content"] = docBytes(t, doc)
	// The signed request wrapped in an unsigned envelope element of another
	// namespace: the root is not a LogoutRequest at all.
	cases["foreign-root"] = []byte(`<x:Wrapper xmlns:x="urn:evil">` + string(signed) + `</x:Wrapper>`)

	for name, msg := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ParsePOST(postForm("SAMLRequest", msg, ""), expectSP(t, sloURL))
			target := ErrBadSignature
			if name == "foreign-root" {
				target = ErrMalformed
			}
			wantErr(t, err, target)
			// The same over SOAP.
			_, err = ParseSOAP(SOAPEnvelope(msg), expectSP(t, sloURL))
			wantErr(t, err, target)
		})
	}
}

// TestRefuseAttackerKeyInKeyInfo: signed by a key that is not in the SP's
// metadata, with that key's certificate in KeyInfo (and, in a variant, with
// the genuine certificate in KeyInfo): refused.
func TestRefuseAttackerKeyInKeyInfo(t *testing.T) {
	k := getKeys(t)
	forged := must[[]byte](t)(attackerSigner(t).SignRequest(spRequest()))
	_, err := ParsePOST(postForm("SAMLRequest", forged, ""), expectSP(t, sloURL))
	wantErr(t, err, ErrBadSignature)

	genuineCertInKeyInfo := strings.Replace(string(forged), base64.StdEncoding.EncodeToString(k.attackerCert.Raw), base64.StdEncoding.EncodeToString(k.spCert.Raw), 1)
	_, err = ParsePOST(postForm("SAMLRequest", []byte(genuineCertInKeyInfo), ""), expectSP(t, sloURL))
	wantErr(t, err, ErrBadSignature)

	// Redirect, signed by the attacker's key.
	u := must[string](t)(attackerSigner(t).RedirectURL(sloURL, "SAMLRequest", must[[]byte](t)(MarshalRequest(spRequest())), ""))
	_, err = ParseRedirect(rawQuery(t, u), expectSP(t, sloURL))
	wantErr(t, err, ErrBadSignature)
}

func TestRefuseUnsigned(t *testing.T) {
	unsigned := must[[]byte](t)(MarshalRequest(spRequest()))
	_, err := ParsePOST(postForm("SAMLRequest", unsigned, ""), expectSP(t, sloURL))
	wantErr(t, err, ErrUnsigned)
	_, err = ParseSOAP(SOAPEnvelope(must[[]byte](t)(MarshalResponse(spResponse()))), expectSP(t, sloURL))
	wantErr(t, err, ErrUnsigned)

	u := must[string](t)(spSigner(t).RedirectURL(sloURL, "SAMLRequest", unsigned, "rs"))
	q := rawQuery(t, u)
	noSig := q[:strings.Index(q, "&SigAlg=")]
	_, err = ParseRedirect(noSig, expectSP(t, sloURL))
	wantErr(t, err, ErrUnsigned)
	noSignature := q[:strings.Index(q, "&Signature=")]
	_, err = ParseRedirect(noSignature, expectSP(t, sloURL))
	wantErr(t, err, ErrUnsigned)
}

func TestRefuseWrongDestination(t *testing.T) {
	s := spSigner(t)
	r := spRequest()
	r.Destination = "https://other.example.com/saml/slo"
	_, err := ParsePOST(postForm("SAMLRequest", must[[]byte](t)(s.SignRequest(r)), ""), expectSP(t, sloURL))
	wantErr(t, err, ErrDestination)

	u := must[string](t)(s.RedirectURL(sloURL, "SAMLRequest", must[[]byte](t)(MarshalRequest(r)), ""))
	_, err = ParseRedirect(rawQuery(t, u), expectSP(t, sloURL))
	wantErr(t, err, ErrDestination)

	r = spRequest()
	r.Destination = ""
	_, err = ParsePOST(postForm("SAMLRequest", must[[]byte](t)(s.SignRequest(r)), ""), expectSP(t, sloURL))
	wantErr(t, err, ErrDestination)

	// No expected Destination configured: refused for POST/Redirect.
	_, err = ParsePOST(postForm("SAMLRequest", must[[]byte](t)(s.SignRequest(spRequest())), ""), expectSP(t, ""))
	wantErr(t, err, ErrDestination)
}

func TestRefuseTime(t *testing.T) {
	s := spSigner(t)
	for name, mod := range map[string]func(*LogoutRequest){
		"issued-in-future": func(r *LogoutRequest) { r.IssueInstant = testNow.Add(4 * time.Minute) },
		"issued-too-long-ago": func(r *LogoutRequest) {
			r.IssueInstant = testNow.Add(-4 * time.Minute)
			r.NotOnOrAfter = testNow.Add(time.Hour)
		},
		"not-on-or-after-passed": func(r *LogoutRequest) { r.NotOnOrAfter = testNow.Add(-4 * time.Minute) },
	} {
		t.Run(name, func(t *testing.T) {
			r := spRequest()
			mod(&r)
			_, err := ParsePOST(postForm("SAMLRequest", must[[]byte](t)(s.SignRequest(r)), ""), expectSP(t, sloURL))
			wantErr(t, err, ErrExpired)
			u := must[string](t)(s.RedirectURL(sloURL, "SAMLRequest", must[[]byte](t)(MarshalRequest(r)), ""))
			_, err = ParseRedirect(rawQuery(t, u), expectSP(t, sloURL))
			wantErr(t, err, ErrExpired)
		})
	}
	resp := spResponse()
	resp.IssueInstant = testNow.Add(-time.Hour)
	_, err := ParseSOAP(SOAPEnvelope(must[[]byte](t)(s.SignResponse(resp))), expectSP(t, ""))
	wantErr(t, err, ErrExpired)
}

func TestRefuseReplay(t *testing.T) {
	s := spSigner(t)
	exp := expectSP(t, sloURL)
	form := postForm("SAMLRequest", must[[]byte](t)(s.SignRequest(spRequest())), "")
	if _, err := ParsePOST(form, exp); err != nil {
		t.Fatal(err)
	}
	_, err := ParsePOST(form, exp)
	wantErr(t, err, ErrReplay)

	u := must[string](t)(s.RedirectURL(sloURL, "SAMLRequest", must[[]byte](t)(MarshalRequest(spRequest())), ""))
	if _, err := ParseRedirect(rawQuery(t, u), exp); err != nil {
		t.Fatal(err)
	}
	_, err = ParseRedirect(rawQuery(t, u), exp)
	wantErr(t, err, ErrReplay)

	// A refused message does not enter the cache.
	r := spRequest()
	r.Destination = "https://elsewhere.example/"
	bad := postForm("SAMLRequest", must[[]byte](t)(s.SignRequest(r)), "")
	n := exp.Replay.Len()
	_, err = ParsePOST(bad, exp)
	wantErr(t, err, ErrDestination)
	if exp.Replay.Len() != n {
		t.Fatal("a refused message was recorded")
	}
}

func TestReplayCache(t *testing.T) {
	now := testNow
	c := NewReplayCache(3, time.Minute, func() time.Time { return now })
	for _, k := range []string{"a", "b", "c"} {
		if err := c.Check(k); err != nil {
			t.Fatal(err)
		}
	}
	wantErr(t, c.Check("b"), ErrReplay)
	if err := c.Check("d"); err != nil { // evicts "a"
		t.Fatal(err)
	}
	if c.Len() != 3 {
		t.Fatalf("Len %d", c.Len())
	}
	if err := c.Check("a"); err != nil {
		t.Fatalf("evicted key: %v", err)
	}
	now = now.Add(time.Minute)
	if err := c.Check("d"); err != nil {
		t.Fatalf("expired key: %v", err)
	}
	if c.Len() != 1 {
		t.Fatalf("expired entries kept: %d", c.Len())
	}
}

// bombQuery is a Redirect query whose SAMLRequest inflates to n bytes, with
// a syntactically valid (not verifying) signature.
func bombQuery(t testing.TB, n int) (string, int) {
	xml := `<samlp:LogoutRequest xmlns:samlp="` + nsProtocol + `" ID="_b" Version="2.0" IssueInstant="2026-11-03T10:00:00Z">` +
		strings.Repeat(" ", n) + `</samlp:LogoutRequest>`
	c := deflate(t, []byte(xml))
	return "SAMLRequest=" + url.QueryEscape(base64.StdEncoding.EncodeToString(c)) +
		"&SigAlg=" + url.QueryEscape(SigAlgRSASHA256) + "&Signature=" + url.QueryEscape(base64.StdEncoding.EncodeToString(make([]byte, 256))), len(c)
}

func TestRefuseDeflateBomb(t *testing.T) {
	// 16 MiB of spaces: about 16 KB compressed, refused after reading at
	// most MaxMessage+1 bytes.
	q, c := bombQuery(t, 16<<20)
	start := time.Now()
	_, err := ParseRedirect(q, expectSP(t, sloURL))
	wantErr(t, err, ErrTooLarge)
	t.Logf("%d compressed bytes refused in %v", c, time.Since(start))
	// 100 KB of spaces, under MaxMessage but compressing more than 50:1.
	q, c = bombQuery(t, 100<<10)
	_, err = ParseRedirect(q, expectSP(t, sloURL))
	wantErr(t, err, ErrTooLarge)
	if !strings.Contains(err.Error(), "ratio") {
		t.Errorf("expected the ratio limit to trigger: %v", err)
	}
	t.Logf("ratio case: %d compressed bytes", c)
}

func TestRefuseOversized(t *testing.T) {
	s := spSigner(t)
	r := spRequest()
	r.SessionIndexes = []string{strings.Repeat("x", 130<<10)}
	big := must[[]byte](t)(s.SignRequest(r))
	_, err := ParsePOST(postForm("SAMLRequest", big, ""), expectSP(t, sloURL))
	wantErr(t, err, ErrTooLarge)
	_, err = ParseSOAP(SOAPEnvelope(big), expectSP(t, sloURL))
	wantErr(t, err, ErrTooLarge)
	u := must[string](t)(s.RedirectURL(sloURL, "SAMLRequest", must[[]byte](t)(MarshalRequest(r)), ""))
	_, err = ParseRedirect(rawQuery(t, u), expectSP(t, sloURL))
	wantErr(t, err, ErrTooLarge)
	// A smaller limit applies too.
	exp := expectSP(t, sloURL)
	exp.Limits.MaxMessage = 1024
	_, err = ParsePOST(postForm("SAMLRequest", must[[]byte](t)(s.SignRequest(spRequest())), ""), exp)
	wantErr(t, err, ErrTooLarge)
	// RelayState.
	_, err = ParsePOST(postForm("SAMLRequest", must[[]byte](t)(s.SignRequest(spRequest())), strings.Repeat("r", MaxRelayState+1)), expectSP(t, sloURL))
	wantErr(t, err, ErrTooLarge)
}

// TestRefuseUnsafeXML: DTDs, entities and XML that encoding/xml would not
// read back the same are refused before any signature work.
func TestRefuseUnsafeXML(t *testing.T) {
	signed, _ := signedSPRequest(t)
	cases := map[string]string{
		"doctype":        `<!DOCTYPE samlp:LogoutRequest>` + string(signed),
		"entity":         `<?xml version="1.0"?><!DOCTYPE r [<!ENTITY who "victim@example.com">]>` + strings.Replace(string(signed), "alice@example.com", "&who;", 1),
		"billion-laughs": `<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]><lolz>&lol2;</lolz>`,
		"external":       `<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>`,
		// An undeclared prefix on an attribute: encoding/xml invents a
		// declaration when writing it back, so it does not round-trip.
		"no-roundtrip":    strings.Replace(string(signed), `Version="2.0"`, `Version="2.0" xmlns:a="urn:a" a:x="1" evil:ID="_x"`, 1),
		"undeclared":      `<samlp:LogoutRequest/>`,
		"empty-prefix":    strings.Replace(string(signed), `Version="2.0"`, `Version="2.0" :ID="_x"`, 1),
		"duplicate-attr":  strings.Replace(string(signed), `Version="2.0"`, `Version="2.0" Version="2.0"`, 1),
		"latin1":          `<?xml version="1.0" encoding="ISO-8859-1"?>` + string(signed),
		"procinst":        `<?xml-stylesheet href="x"?>` + string(signed),
		"two-roots":       string(signed) + string(signed),
		"trailing-text":   string(signed) + "garbage",
		"deep":            strings.Repeat("<a>", 100) + strings.Repeat("</a>", 100),
		"not-xml":         "hello",
		"empty":           "",
		"wrong-root-kind": string(must[[]byte](t)(spSigner(t).SignResponse(spResponse()))),
	}
	for name, x := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := ParsePOST(postForm("SAMLRequest", []byte(x), ""), expectSP(t, sloURL))
			wantErr(t, err, ErrMalformed)
			if name == "no-roundtrip" && !strings.Contains(err.Error(), "round-trip") {
				t.Errorf("not refused by the round-trip check: %v", err)
			}
			if strings.Contains(x, "DOCTYPE") && !strings.Contains(err.Error(), "DTD") {
				t.Errorf("not refused as a DTD: %v", err)
			}
		})
	}
}

func TestRefuseUnknownIssuer(t *testing.T) {
	other, err := NewSigner("https://unknown.example.net/sp", getKeys(t).sp, getKeys(t).spCert)
	if err != nil {
		t.Fatal(err)
	}
	r := spRequest()
	r.Issuer = other.EntityID()
	_, err = ParsePOST(postForm("SAMLRequest", must[[]byte](t)(other.SignRequest(r)), ""), expectSP(t, sloURL))
	wantErr(t, err, ErrUnknownIssuer)
	u := must[string](t)(other.RedirectURL(sloURL, "SAMLRequest", must[[]byte](t)(MarshalRequest(r)), ""))
	_, err = ParseRedirect(rawQuery(t, u), expectSP(t, sloURL))
	wantErr(t, err, ErrUnknownIssuer)
	// No Certs function at all.
	exp := expectSP(t, sloURL)
	exp.Certs = nil
	_, err = ParsePOST(postForm("SAMLRequest", must[[]byte](t)(spSigner(t).SignRequest(spRequest())), ""), exp)
	wantErr(t, err, ErrUnknownIssuer)
}

func TestRefuseBadEncoding(t *testing.T) {
	_, err := ParsePOST(url.Values{"SAMLRequest": {"not base64!"}}, expectSP(t, sloURL))
	wantErr(t, err, ErrMalformed)
	_, err = ParsePOST(url.Values{}, expectSP(t, sloURL))
	wantErr(t, err, ErrMalformed)
	_, err = ParsePOST(url.Values{"SAMLRequest": {"a", "b"}}, expectSP(t, sloURL))
	wantErr(t, err, ErrMalformed)
	_, err = ParsePOST(url.Values{"SAMLRequest": {"PHg+"}, "SAMLResponse": {"PHg+"}}, expectSP(t, sloURL))
	wantErr(t, err, ErrMalformed)

	u := must[string](t)(spSigner(t).RedirectURL(sloURL, "SAMLRequest", must[[]byte](t)(MarshalRequest(spRequest())), ""))
	q := rawQuery(t, u)
	_, err = ParseRedirect("SAMLRequest=%%%"+q[strings.Index(q, "&"):], expectSP(t, sloURL))
	wantErr(t, err, ErrMalformed)
	_, err = ParseRedirect("SAMLRequest=!!!!"+q[strings.Index(q, "&"):], expectSP(t, sloURL))
	wantErr(t, err, ErrMalformed)
	// Valid base64 of data that is not DEFLATE.
	_, err = ParseRedirect("SAMLRequest="+url.QueryEscape(base64.StdEncoding.EncodeToString([]byte("<x/>\xff\xff\xff")))+q[strings.Index(q, "&"):], expectSP(t, sloURL))
	wantErr(t, err, ErrMalformed)
	_, err = ParseRedirect(q+"&SAMLRequest=x", expectSP(t, sloURL))
	wantErr(t, err, ErrMalformed)
	_, err = ParseRedirect(strings.Replace(q, "&Signature=", "&Signature=%21", 1), expectSP(t, sloURL))
	wantErr(t, err, ErrMalformed)

	_, err = ParseSOAP([]byte("<Envelope/>"), expectSP(t, sloURL))
	wantErr(t, err, ErrMalformed)
}

// TestRefuseSHA1 decides rsa-sha1: refused, with a message that says so,
// on Redirect and in XML signatures, even when the signature itself is
// valid.
func TestRefuseSHA1(t *testing.T) {
	k := getKeys(t)
	xml := must[[]byte](t)(MarshalRequest(spRequest()))
	signed := "SAMLRequest=" + url.QueryEscape(base64.StdEncoding.EncodeToString(deflate(t, xml))) +
		"&SigAlg=" + url.QueryEscape(dsig.RSASHA1SignatureMethod)
	sum := sha1.Sum([]byte(signed))
	sig := must[[]byte](t)(rsa.SignPKCS1v15(rand.Reader, k.sp, crypto.SHA1, sum[:]))
	_, err := ParseRedirect(signed+"&Signature="+url.QueryEscape(base64.StdEncoding.EncodeToString(sig)), expectSP(t, sloURL))
	wantErr(t, err, ErrBadSignature)
	if !strings.Contains(err.Error(), "SHA-1") {
		t.Errorf("message does not name SHA-1: %v", err)
	}

	ctx := must[*dsig.SigningContext](t)(dsig.NewSigningContext(k.sp, [][]byte{k.spCert.Raw}))
	ctx.Canonicalizer = dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList("")
	if err := ctx.SetSignatureMethod(dsig.RSASHA1SignatureMethod); err != nil {
		t.Fatal(err)
	}
	doc := must[*etree.Document](t)(buildRequest(spRequest()))
	sigEl := must[*etree.Element](t)(ctx.ConstructSignature(doc.Root(), true))
	doc.Root().InsertChildAt(1, sigEl)
	_, err = ParsePOST(postForm("SAMLRequest", docBytes(t, doc), ""), expectSP(t, sloURL))
	wantErr(t, err, ErrBadSignature)
	if !strings.Contains(err.Error(), "SHA-1") {
		t.Errorf("message does not name SHA-1: %v", err)
	}
}

// TestRefuseOtherSignatureShapes: C14N 1.1, a Reference to "" and an extra
// transform are refused even though goxmldsig would accept them.
func TestRefuseOtherSignatureShapes(t *testing.T) {
	k := getKeys(t)
	sign := func(t *testing.T, c14n dsig.Canonicalizer, id bool) []byte {
		ctx := must[*dsig.SigningContext](t)(dsig.NewSigningContext(k.sp, [][]byte{k.spCert.Raw}))
		ctx.Canonicalizer = c14n
		r := spRequest()
		doc := must[*etree.Document](t)(buildRequest(r))
		if !id {
			ctx.IdAttribute = "NoSuchAttribute"
		}
		sigEl := must[*etree.Element](t)(ctx.ConstructSignature(doc.Root(), true))
		doc.Root().InsertChildAt(1, sigEl)
		return docBytes(t, doc)
	}
	for name, msg := range map[string][]byte{
		"c14n11":    sign(t, dsig.MakeC14N11Canonicalizer(), true),
		"empty-uri": sign(t, dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList(""), false),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := ParsePOST(postForm("SAMLRequest", msg, ""), expectSP(t, sloURL))
			wantErr(t, err, ErrBadSignature)
		})
	}
	// Control: exclusive c14n with the ID reference is accepted.
	if _, err := ParsePOST(postForm("SAMLRequest", sign(t, dsig.MakeC14N10ExclusiveCanonicalizerWithPrefixList(""), true), ""), expectSP(t, sloURL)); err != nil {
		t.Fatal(err)
	}
}

func TestRefuseTamperedRelayState(t *testing.T) {
	u := must[string](t)(spSigner(t).RedirectURL(sloURL, "SAMLRequest", must[[]byte](t)(MarshalRequest(spRequest())), "https://payroll.example.org/home"))
	q := rawQuery(t, u)
	tampered := strings.Replace(q, "RelayState="+url.QueryEscape("https://payroll.example.org/home"), "RelayState="+url.QueryEscape("https://evil.example/"), 1)
	if tampered == q {
		t.Fatal("RelayState not found")
	}
	_, err := ParseRedirect(tampered, expectSP(t, sloURL))
	wantErr(t, err, ErrBadSignature)
	// Dropping the RelayState changes the signed octets too.
	dropped := strings.Replace(q, "&RelayState="+url.QueryEscape("https://payroll.example.org/home"), "", 1)
	_, err = ParseRedirect(dropped, expectSP(t, sloURL))
	wantErr(t, err, ErrBadSignature)
	// Adding one where there was none as well.
	u = must[string](t)(spSigner(t).RedirectURL(sloURL, "SAMLRequest", must[[]byte](t)(MarshalRequest(spRequest())), ""))
	_, err = ParseRedirect(rawQuery(t, u)+"&RelayState=x", expectSP(t, sloURL))
	wantErr(t, err, ErrBadSignature)
}

func TestSOAPBodyRefusals(t *testing.T) {
	signed, _ := signedSPRequest(t)
	env := func(body string) []byte {
		return []byte(`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>` + body + `</s:Body></s:Envelope>`)
	}
	for name, e := range map[string][]byte{
		"fault":           env(`<s:Fault><faultcode>s:Server</faultcode><faultstring>SP broke</faultstring></s:Fault>`),
		"two-children":    env(string(signed) + string(signed)),
		"no-children":     env(""),
		"text":            env("hello" + string(signed)),
		"soap12":          []byte(`<e:Envelope xmlns:e="http://www.w3.org/2003/05/soap-envelope"><e:Body>` + string(signed) + `</e:Body></e:Envelope>`),
		"must-understand": []byte(`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header><x:H xmlns:x="urn:x" s:mustUnderstand="1"/></s:Header><s:Body>` + string(signed) + `</s:Body></s:Envelope>`),
		"no-body":         []byte(`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"></s:Envelope>`),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := SOAPBody(e, Limits{})
			wantErr(t, err, ErrMalformed)
			if name == "fault" && !strings.Contains(err.Error(), "SP broke") {
				t.Errorf("fault string missing: %v", err)
			}
		})
	}
	body, err := SOAPBody(SOAPEnvelope(signed), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(body, []byte("<samlp:LogoutRequest")) {
		t.Fatalf("body %.60s", body)
	}
}

// TestRedirectURLRefusesSignedXML: the Redirect binding must not carry an
// XML signature, and the parameter must match the message.
func TestRedirectURLRefusesSignedXML(t *testing.T) {
	signed, _ := signedSPRequest(t)
	if _, err := spSigner(t).RedirectURL(sloURL, "SAMLRequest", signed, ""); err == nil {
		t.Fatal("RedirectURL accepted XML with a ds:Signature")
	}
	if _, err := spSigner(t).RedirectURL(sloURL, "SAMLResponse", must[[]byte](t)(MarshalRequest(spRequest())), ""); err == nil {
		t.Fatal("RedirectURL accepted a LogoutRequest as SAMLResponse")
	}
	if _, err := spSigner(t).RedirectURL(sloURL, "SAMLart", must[[]byte](t)(MarshalRequest(spRequest())), ""); err == nil {
		t.Fatal("RedirectURL accepted parameter SAMLart")
	}
}

// TestRefuseSignatureExtras: a second Reference, a ds:Object and a foreign
// element in SignedInfo are refused before goxmldsig sees them.
func TestRefuseSignatureExtras(t *testing.T) {
	signed, _ := signedSPRequest(t)
	for name, mod := range map[string]func(sig *etree.Element){
		"second-reference": func(sig *etree.Element) {
			si := sig.SelectElement("SignedInfo")
			si.AddChild(si.SelectElement("Reference").Copy())
		},
		"object": func(sig *etree.Element) { sig.CreateElement("ds:Object").SetText("x") },
		"foreign-in-signedinfo": func(sig *etree.Element) {
			sig.SelectElement("SignedInfo").CreateElement("x:Extra").CreateAttr("xmlns:x", "urn:x")
		},
		"second-signature-method": func(sig *etree.Element) {
			si := sig.SelectElement("SignedInfo")
			si.InsertChildAt(1, si.SelectElement("SignatureMethod").Copy())
		},
	} {
		t.Run(name, func(t *testing.T) {
			doc := parseDoc(t, signed)
			mod(doc.Root().SelectElement("Signature"))
			_, err := ParsePOST(postForm("SAMLRequest", docBytes(t, doc), ""), expectSP(t, sloURL))
			wantErr(t, err, ErrBadSignature)
		})
	}
}
