package message

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"html/template"
	"net/url"
)

// postFormTemplate is the auto-submitting form of the HTTP-POST binding
// (saml-bindings 3.5.4). html/template escapes every value and replaces a
// non-http(s) action with "#ZgotmplZ".
var postFormTemplate = template.Must(template.New("post").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>Signing out…</title>
</head>
<body>
<form id="saml-post" method="post" action="{{.Location}}">
<input type="hidden" name="{{.Param}}" value="{{.Message}}">
{{- if .RelayState}}
<input type="hidden" name="RelayState" value="{{.RelayState}}">
{{- end}}
<noscript>
<p>JavaScript is off. Press Continue to go on signing out.</p>
<button type="submit">Continue</button>
</noscript>
</form>
<script nonce="{{.Nonce}}">document.getElementById("saml-post").submit();</script>
</body>
</html>
`))

// PostForm returns the HTML page of the HTTP-POST binding (saml-bindings
// 3.5.4): a form posting base64(signedXML) as param ("SAMLRequest" or
// "SAMLResponse") and RelayState (when not empty) to location, submitted by
// an inline script carrying nonce, with a <noscript> Continue button.
//
// The caller serves it with Content-Type text/html; charset=utf-8,
// Cache-Control: no-store, and a Content-Security-Policy that allows the
// script by nonce and the target in form-action, e.g.
// "default-src 'none'; script-src 'nonce-<nonce>'; form-action <origin of location>".
func PostForm(location, param string, signedXML []byte, relayState, nonce string) []byte {
	var buf bytes.Buffer
	err := postFormTemplate.Execute(&buf, struct {
		Location, Param, Message, RelayState, Nonce string
	}{location, param, base64.StdEncoding.EncodeToString(signedXML), relayState, nonce})
	if err != nil {
		// The template is fixed and every value is a string: executing it
		// into a bytes.Buffer cannot fail.
		panic("saml: post form: " + err.Error())
	}
	return buf.Bytes()
}

// ParsePOST authenticates and decodes an HTTP-POST message (saml-bindings
// 3.5.4, 3.5.5.2) from the parsed form: base64 SAMLRequest or SAMLResponse,
// and RelayState. The message must carry an enveloped XML signature
// (saml-core 5.4) that verifies with the issuer's certificates from
// exp.Certs; see the package documentation for the checks. The caller
// should bound the request body (http.MaxBytesReader) before parsing the form.
func ParsePOST(form url.Values, exp Expect) (*Inbound, error) {
	exp = exp.withDefaults()
	limits := exp.Limits
	reqs, resps := form["SAMLRequest"], form["SAMLResponse"]
	var values []string
	var param string
	switch {
	case len(reqs) > 0 && len(resps) > 0:
		return nil, fmt.Errorf("%w: both SAMLRequest and SAMLResponse", ErrMalformed)
	case len(reqs) > 0:
		values, param = reqs, "SAMLRequest"
	case len(resps) > 0:
		values, param = resps, "SAMLResponse"
	default:
		return nil, fmt.Errorf("%w: no SAMLRequest or SAMLResponse parameter", ErrMalformed)
	}
	if len(values) > 1 {
		return nil, fmt.Errorf("%w: parameter %s is repeated", ErrMalformed, param)
	}
	relays := form["RelayState"]
	if len(relays) > 1 {
		return nil, fmt.Errorf("%w: parameter RelayState is repeated", ErrMalformed)
	}
	var relay string
	if len(relays) == 1 {
		relay = relays[0]
	}
	if len(relay) > MaxRelayState {
		return nil, fmt.Errorf("%w: RelayState of %d bytes (limit %d)", ErrTooLarge, len(relay), MaxRelayState)
	}
	// base64 grows data by 4/3; allow for line breaks.
	if len(values[0]) > 2*limits.MaxMessage {
		return nil, fmt.Errorf("%w: %s of %d bytes", ErrTooLarge, param, len(values[0]))
	}
	data, err := decodeBase64(values[0])
	if err != nil {
		return nil, fmt.Errorf("%w: %s is not base64: %v", ErrMalformed, param, err)
	}
	root, err := parseXML(data, limits.MaxMessage)
	if err != nil {
		return nil, err
	}
	in, err := authenticateXML(root, kindForParam(param), BindingPOST, exp)
	if err != nil {
		return nil, err
	}
	in.RelayState = relay
	return in, nil
}
