package message

import (
	"bytes"
	"compress/flate"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"
)

// RedirectURL encodes a message for the HTTP-Redirect binding
// (saml-bindings 3.4.4.1): unsignedXML (from MarshalRequest or
// MarshalResponse; an XML signature is refused, the binding forbids it) is
// raw-DEFLATE compressed and base64-encoded into param ("SAMLRequest" or
// "SAMLResponse"), and the octets
//
//	SAMLRequest=<urlenc>&RelayState=<urlenc>&SigAlg=<urlenc>
//
// (RelayState omitted when empty) are signed with RSA-SHA256. The string is
// built by hand in this order, because url.Values.Encode sorts. The result is
// location + "?" (or "&" when location already has a query) + that string
// + "&Signature=<urlenc>".
func (s *Signer) RedirectURL(location, param string, unsignedXML []byte, relayState string) (string, error) {
	if param != "SAMLRequest" && param != "SAMLResponse" {
		return "", fmt.Errorf("saml: redirect: parameter %q, expected SAMLRequest or SAMLResponse", param)
	}
	if location == "" {
		return "", errors.New("saml: redirect: no location")
	}
	if strings.Contains(location, "#") {
		return "", fmt.Errorf("saml: redirect: location %q has a fragment", location)
	}
	root, err := parseXML(unsignedXML, len(unsignedXML))
	if err != nil {
		return "", fmt.Errorf("saml: redirect: %w", err)
	}
	if _, err := checkRoot(root, kindForParam(param)); err != nil {
		return "", fmt.Errorf("saml: redirect: %w", err)
	}
	if len(findAll(root, nsDSig, "Signature")) > 0 {
		return "", errors.New("saml: redirect: the XML carries a ds:Signature; the HTTP-Redirect binding requires it removed (saml-bindings 3.4.4.1)")
	}

	var buf bytes.Buffer
	w, err := flate.NewWriter(&buf, flate.BestCompression)
	if err != nil {
		return "", err
	}
	if _, err := w.Write(unsignedXML); err != nil {
		return "", err
	}
	if err := w.Close(); err != nil {
		return "", err
	}

	signed := param + "=" + url.QueryEscape(base64.StdEncoding.EncodeToString(buf.Bytes()))
	if relayState != "" {
		signed += "&RelayState=" + url.QueryEscape(relayState)
	}
	signed += "&SigAlg=" + url.QueryEscape(SigAlgRSASHA256)
	sig, err := s.signString(signed)
	if err != nil {
		return "", fmt.Errorf("saml: redirect: signing: %w", err)
	}
	sep := "?"
	if strings.Contains(location, "?") {
		sep = "&"
	}
	return location + sep + signed + "&Signature=" + url.QueryEscape(base64.StdEncoding.EncodeToString(sig)), nil
}

// rawParam is one parameter of a raw query: the exact "key=value" substring
// as received and its decoded value.
type rawParam struct {
	raw   string
	value string
}

// redirectParams are the parameters of the HTTP-Redirect binding.
var redirectParams = map[string]bool{"SAMLRequest": true, "SAMLResponse": true, "RelayState": true, "SigAlg": true, "Signature": true}

// splitQuery extracts the binding's parameters from a raw query, keeping
// each raw substring. Other parameters are ignored; a repeated binding
// parameter is an error.
func splitQuery(rawQuery string) (map[string]rawParam, error) {
	out := make(map[string]rawParam)
	for part := range strings.SplitSeq(rawQuery, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		key, err := url.QueryUnescape(k)
		if err != nil {
			return nil, fmt.Errorf("bad query parameter name: %v", err)
		}
		if !redirectParams[key] {
			continue
		}
		if _, dup := out[key]; dup {
			return nil, fmt.Errorf("parameter %s is repeated", key)
		}
		value, err := url.QueryUnescape(v)
		if err != nil {
			return nil, fmt.Errorf("parameter %s: %v", key, err)
		}
		out[key] = rawParam{raw: part, value: value}
	}
	return out, nil
}

// decodeBase64 decodes standard base64, ignoring whitespace (some senders
// wrap lines).
func decodeBase64(s string) ([]byte, error) {
	s = strings.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\r' || r == '\n' {
			return -1
		}
		return r
	}, s)
	return base64.StdEncoding.DecodeString(s)
}

// inflate decompresses raw DEFLATE data, refusing output larger than
// limits.MaxMessage or MaxInflateRatio times the input.
func inflate(compressed []byte, limits Limits) ([]byte, error) {
	limit := min(limits.MaxMessage, len(compressed)*limits.MaxInflateRatio)
	out, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(compressed)), int64(limit)+1))
	if err != nil {
		return nil, fmt.Errorf("%w: DEFLATE: %v", ErrMalformed, err)
	}
	if len(out) > limit {
		return nil, fmt.Errorf("%w: inflates to more than %d bytes (%d compressed; limits: %d bytes, ratio %d)",
			ErrTooLarge, limit, len(compressed), limits.MaxMessage, limits.MaxInflateRatio)
	}
	return out, nil
}

// ParseRedirect authenticates and decodes an HTTP-Redirect message
// (saml-bindings 3.4.4.1, 3.4.5.2) from the raw query string as received
// (r.URL.RawQuery).
//
// The signature is verified over the raw substrings of the query, never
// re-encoded: "SAMLRequest=…" (or "SAMLResponse=…"), "RelayState=…" when
// present, and "SigAlg=…", joined by "&" in that order whatever their order
// in the query — senders such as ADFS percent-encode differently (%2f) and
// re-encoding would break their signatures. SigAlg must be RSA with SHA-256,
// SHA-384 or SHA-512; rsa-sha1 is refused (ErrBadSignature). A query without
// Signature or SigAlg is refused (ErrUnsigned): saml-profiles 4.4.3.1
// requires signed logout messages.
//
// The message is inflated (bounded by exp.Limits) and parsed before the
// signature is checked, because the Issuer inside it selects the
// certificates; the same checks as for signed XML apply to it. Then
// Destination, IssueInstant, NotOnOrAfter and the replay cache are checked.
func ParseRedirect(rawQuery string, exp Expect) (*Inbound, error) {
	exp = exp.withDefaults()
	limits := exp.Limits
	if maxQuery := 4*limits.MaxMessage + 8*MaxRelayState; len(rawQuery) > maxQuery {
		return nil, fmt.Errorf("%w: query of %d bytes", ErrTooLarge, len(rawQuery))
	}
	params, err := splitQuery(rawQuery)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	req, hasReq := params["SAMLRequest"]
	resp, hasResp := params["SAMLResponse"]
	var msg rawParam
	var param string
	switch {
	case hasReq && hasResp:
		return nil, fmt.Errorf("%w: both SAMLRequest and SAMLResponse", ErrMalformed)
	case hasReq:
		msg, param = req, "SAMLRequest"
	case hasResp:
		msg, param = resp, "SAMLResponse"
	default:
		return nil, fmt.Errorf("%w: no SAMLRequest or SAMLResponse parameter", ErrMalformed)
	}
	sigAlg, hasSigAlg := params["SigAlg"]
	sigParam, hasSig := params["Signature"]
	if !hasSig || !hasSigAlg {
		return nil, fmt.Errorf("%w: the HTTP-Redirect query has no Signature and SigAlg (saml-bindings 3.4.4.1)", ErrUnsigned)
	}
	algo, err := checkSigAlg(sigAlg.value)
	if err != nil {
		return nil, err
	}
	relay, hasRelay := params["RelayState"]
	if len(relay.value) > MaxRelayState {
		return nil, fmt.Errorf("%w: RelayState of %d bytes (limit %d)", ErrTooLarge, len(relay.value), MaxRelayState)
	}
	signature, err := decodeBase64(sigParam.value)
	if err != nil {
		return nil, fmt.Errorf("%w: Signature is not base64: %v", ErrMalformed, err)
	}

	compressed, err := decodeBase64(msg.value)
	if err != nil {
		return nil, fmt.Errorf("%w: %s is not base64: %v", ErrMalformed, param, err)
	}
	if len(compressed) > limits.MaxMessage {
		return nil, fmt.Errorf("%w: %s of %d compressed bytes", ErrTooLarge, param, len(compressed))
	}
	data, err := inflate(compressed, limits)
	if err != nil {
		return nil, err
	}
	root, err := parseXML(data, limits.MaxMessage)
	if err != nil {
		return nil, err
	}
	if _, err := checkRoot(root, kindForParam(param)); err != nil {
		return nil, err
	}
	issuer, err := unverifiedIssuer(root)
	if err != nil {
		return nil, err
	}
	certs, err := certsFor(exp, issuer)
	if err != nil {
		return nil, err
	}

	signed := msg.raw
	if hasRelay {
		signed += "&" + relay.raw
	}
	signed += "&" + sigAlg.raw
	if err := verifyString(certs, algo, signed, signature); err != nil {
		return nil, err
	}

	in, err := decode(root)
	if err != nil {
		return nil, err
	}
	in.Binding = BindingRedirect
	in.RelayState = relay.value
	if err := checkMessage(in, exp); err != nil {
		return nil, err
	}
	return in, nil
}

// verifyString checks a detached signature over signed with any of certs.
func verifyString(certs []*x509.Certificate, algo x509.SignatureAlgorithm, signed string, signature []byte) error {
	var errs []error
	for i, cert := range certs {
		err := cert.CheckSignature(algo, []byte(signed), signature)
		if err == nil {
			return nil
		}
		errs = append(errs, fmt.Errorf("certificate %d (%s): %v", i+1, cert.Subject.CommonName, err))
	}
	return fmt.Errorf("%w: the query signature does not verify with the issuer's metadata certificates: %w", ErrBadSignature, errors.Join(errs...))
}
