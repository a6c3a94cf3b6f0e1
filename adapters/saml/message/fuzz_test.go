package message

import (
	"errors"
	"net/url"
	"slices"
	"strings"
	"testing"
)

var sentinels = []error{ErrUnsigned, ErrBadSignature, ErrUnknownIssuer, ErrDestination, ErrExpired, ErrReplay, ErrTooLarge, ErrMalformed}

// checkInbound asserts the contract of the Parse functions: an error wraps a
// sentinel and comes without a result; success has exactly one of Request
// and Response, and an Issuer.
func checkInbound(t *testing.T, in *Inbound, err error) {
	t.Helper()
	if err != nil {
		if !slices.ContainsFunc(sentinels, func(s error) bool { return errors.Is(err, s) }) {
			t.Fatalf("error wraps no sentinel: %v", err)
		}
		if in != nil {
			t.Fatalf("error %v with a result", err)
		}
		return
	}
	if in == nil || (in.Request == nil) == (in.Response == nil) {
		t.Fatalf("nil error with inbound %+v", in)
	}
	if in.Issuer == "" || in.ID() == "" || in.Binding == "" {
		t.Fatalf("incomplete inbound %+v", in)
	}
}

// fuzzExpect trusts the SP, on the fixed clock, without replay cache (so a
// valid seed keeps passing).
func fuzzExpect(tb testing.TB) Expect {
	exp := expectSP(tb, sloURL)
	exp.Replay = nil
	return exp
}

func FuzzParseRedirect(f *testing.F) {
	s := spSigner(f)
	for _, relay := range []string{"", "rs"} {
		u := must[string](f)(s.RedirectURL(sloURL, "SAMLRequest", must[[]byte](f)(MarshalRequest(spRequest())), relay))
		f.Add(rawQuery(f, u))
		u = must[string](f)(s.RedirectURL(sloURL, "SAMLResponse", must[[]byte](f)(MarshalResponse(spResponse())), relay))
		f.Add(rawQuery(f, u))
	}
	q, _ := bombQuery(f, 1000)
	f.Add(q)
	f.Add("SAMLRequest=&SigAlg=&Signature=")
	f.Add("")
	exp := fuzzExpect(f)
	f.Fuzz(func(t *testing.T, rawQuery string) {
		in, err := ParseRedirect(rawQuery, exp)
		checkInbound(t, in, err)
		if err == nil && in.Binding != BindingRedirect {
			t.Fatal("binding")
		}
	})
}

func FuzzParsePOST(f *testing.F) {
	s := spSigner(f)
	f.Add("SAMLRequest", b64(must[[]byte](f)(s.SignRequest(spRequest()))), "rs")
	f.Add("SAMLResponse", b64(must[[]byte](f)(s.SignResponse(spResponse()))), "")
	f.Add("SAMLRequest", b64(must[[]byte](f)(MarshalRequest(spRequest()))), "")
	f.Add("SAMLRequest", "PHg+", "")
	exp := fuzzExpect(f)
	f.Fuzz(func(t *testing.T, param, value, relay string) {
		form := url.Values{param: {value}}
		if relay != "" {
			form.Set("RelayState", relay)
		}
		in, err := ParsePOST(form, exp)
		checkInbound(t, in, err)
		if err == nil && (in.RelayState != relay || in.Binding != BindingPOST) {
			t.Fatalf("inbound %+v", in)
		}
	})
}

func FuzzParseSOAP(f *testing.F) {
	s := spSigner(f)
	f.Add(SOAPEnvelope(must[[]byte](f)(s.SignRequest(spRequest()))))
	f.Add(SOAPEnvelope(must[[]byte](f)(s.SignResponse(spResponse()))))
	f.Add([]byte(`<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><s:Fault><faultcode>s:Server</faultcode><faultstring>x</faultstring></s:Fault></s:Body></s:Envelope>`))
	exp := fuzzExpect(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		in, err := ParseSOAP(body, exp)
		checkInbound(t, in, err)
	})
}

// FuzzDecodeMessage fuzzes what runs on a verified element (fuzzing through
// the Parse functions rarely gets past the signature): the XML checks and
// the LogoutRequest/LogoutResponse decoder.
func FuzzDecodeMessage(f *testing.F) {
	f.Add(must[[]byte](f)(MarshalRequest(spRequest())))
	f.Add(must[[]byte](f)(MarshalResponse(responseVariants()["partial-logout"])))
	f.Add(must[[]byte](f)(spSigner(f).SignRequest(spRequest())))
	f.Fuzz(func(t *testing.T, data []byte) {
		root, err := parseXML(data, DefaultMaxMessage)
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		in, err := decode(root)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("unexpected error %v", err)
			}
			return
		}
		if (in.Request == nil) == (in.Response == nil) || in.Issuer == "" || in.ID() == "" {
			t.Fatalf("decoded %+v", in)
		}
	})
}

func FuzzParseSPMetadata(f *testing.F) {
	for _, name := range []string{"sp-soap-redirect.xml", "sp-redirect-only.xml", "sp-two-certs.xml"} {
		f.Add(must[[]byte](f)(readFixtureTB(f, name)))
	}
	f.Add([]byte(spMetadata("", redirectSLO)))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ParseSPMetadata(data)
		if err != nil {
			if m != nil {
				t.Fatal("error with a result")
			}
			if !strings.HasPrefix(err.Error(), "saml metadata") {
				t.Fatalf("error without context: %v", err)
			}
			return
		}
		if m.EntityID == "" || len(m.SLO) == 0 || len(m.SigningCerts) == 0 {
			t.Fatalf("incomplete metadata %+v", m)
		}
		for _, e := range m.SLO {
			if e.Binding != BindingRedirect && e.Binding != BindingPOST && e.Binding != BindingSOAP {
				t.Fatalf("unsupported binding %q", e.Binding)
			}
			if checkEndpointURL(e.Location) != nil {
				t.Fatalf("bad location %q", e.Location)
			}
		}
	})
}
