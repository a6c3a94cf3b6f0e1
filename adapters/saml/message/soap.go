package message

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/beevik/etree"
	"github.com/russellhaering/goxmldsig/etreeutils"
)

// SOAPEnvelope wraps a signed message in a SOAP 1.1 envelope for the SAML
// SOAP binding (saml-bindings 3.2.3.1): the message is the only child of
// <SOAP-ENV:Body>, copied byte for byte (an XML declaration is dropped), so
// its signature stays valid. POST it with Content-Type text/xml and a
// SOAPAction header of "http://www.oasis-open.org/committees/security".
func SOAPEnvelope(signedXML []byte) []byte {
	body := bytes.TrimSpace(signedXML)
	if bytes.HasPrefix(body, []byte("<?xml")) {
		if end := bytes.Index(body, []byte("?>")); end >= 0 {
			body = bytes.TrimSpace(body[end+2:])
		}
	}
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	b.WriteString(`<SOAP-ENV:Envelope xmlns:SOAP-ENV="` + nsSOAP11 + `"><SOAP-ENV:Body>`)
	b.Write(body)
	b.WriteString(`</SOAP-ENV:Body></SOAP-ENV:Envelope>`)
	return b.Bytes()
}

// SOAPBody extracts the single child element of the <SOAP-ENV:Body> of a
// SOAP 1.1 envelope (saml-bindings 3.2.3) as standalone XML, with the
// namespace declarations it inherited from the envelope made explicit, so
// that its signature can be verified. It refuses, wrapped in ErrTooLarge or
// ErrMalformed: an envelope over limits.MaxMessage, unsafe XML (see
// ParseSOAP), SOAP 1.2, a SOAP fault (its faultcode and faultstring are in
// the error), a header marked mustUnderstand, and a Body without exactly one
// child element.
func SOAPBody(envelope []byte, limits Limits) ([]byte, error) {
	limits = limits.withDefaults()
	root, err := parseXML(envelope, limits.MaxMessage)
	if err != nil {
		return nil, err
	}
	if isElem(root, nsSOAP12, "Envelope") {
		return nil, fmt.Errorf("%w: SOAP 1.2 envelope; the SAML SOAP binding uses SOAP 1.1", ErrMalformed)
	}
	if !isElem(root, nsSOAP11, "Envelope") {
		return nil, fmt.Errorf("%w: root element is %s, expected a SOAP 1.1 Envelope", ErrMalformed, elemName(root))
	}
	var body *etree.Element
	for i, c := range root.ChildElements() {
		switch {
		case isElem(c, nsSOAP11, "Header") && i == 0 && body == nil:
			for _, h := range c.ChildElements() {
				for _, a := range h.Attr {
					if a.Key == "mustUnderstand" && a.NamespaceURI() == nsSOAP11 && (a.Value == "1" || a.Value == "true") {
						return nil, fmt.Errorf("%w: SOAP header %s must be understood and is not", ErrMalformed, elemName(h))
					}
				}
			}
		case isElem(c, nsSOAP11, "Body") && body == nil:
			body = c
		default:
			return nil, fmt.Errorf("%w: unexpected %s in the SOAP Envelope", ErrMalformed, elemName(c))
		}
	}
	if body == nil {
		return nil, fmt.Errorf("%w: SOAP Envelope without Body", ErrMalformed)
	}
	children := body.ChildElements()
	for _, tok := range body.Child {
		if cd, ok := tok.(*etree.CharData); ok && strings.TrimSpace(cd.Data) != "" {
			return nil, fmt.Errorf("%w: text in the SOAP Body", ErrMalformed)
		}
	}
	if len(children) != 1 {
		return nil, fmt.Errorf("%w: SOAP Body has %d child elements, expected exactly one", ErrMalformed, len(children))
	}
	msg := children[0]
	if isElem(msg, nsSOAP11, "Fault") {
		code, str := "", ""
		for _, c := range msg.ChildElements() {
			t, _ := textOf(c)
			switch c.Tag {
			case "faultcode":
				code = strings.TrimSpace(t)
			case "faultstring":
				str = strings.TrimSpace(t)
			}
		}
		return nil, fmt.Errorf("%w: SOAP fault %.100q: %.300q", ErrMalformed, code, str)
	}
	ctx, err := etreeutils.NSBuildParentContext(msg)
	if err != nil {
		return nil, fmt.Errorf("%w: SOAP namespaces: %v", ErrMalformed, err)
	}
	detached, err := etreeutils.NSDetatch(ctx, msg)
	if err != nil {
		return nil, fmt.Errorf("%w: SOAP Body: %v", ErrMalformed, err)
	}
	doc := etree.NewDocument()
	doc.SetRoot(detached)
	return doc.WriteToBytes()
}

// ParseSOAP authenticates and decodes a LogoutRequest or LogoutResponse
// received over the SAML SOAP binding (saml-bindings 3.2): body is the whole
// SOAP 1.1 envelope. The message must carry an enveloped XML signature
// (saml-core 5.4) that verifies with the issuer's certificates; mutual TLS is
// not supported as an alternative. Destination is checked only when the
// message has one and exp.Destination is set (see Expect.Destination).
func ParseSOAP(body []byte, exp Expect) (*Inbound, error) {
	exp = exp.withDefaults()
	msg, err := SOAPBody(body, exp.Limits)
	if err != nil {
		return nil, err
	}
	root, err := parseXML(msg, exp.Limits.MaxMessage)
	if err != nil {
		return nil, err
	}
	return authenticateXML(root, "", BindingSOAP, exp)
}
