package message

import (
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/beevik/etree"
	dsig "github.com/russellhaering/goxmldsig"
)

// Defaults of Limits and Expect.
const (
	// DefaultMaxMessage is the default Limits.MaxMessage: 128 KiB of XML.
	DefaultMaxMessage = 128 << 10
	// DefaultMaxInflateRatio is the default Limits.MaxInflateRatio.
	DefaultMaxInflateRatio = 50
	// DefaultSkew is the default Expect.Skew.
	DefaultSkew = 3 * time.Minute
	// MaxRelayState is the longest RelayState accepted, in bytes.
	// saml-bindings 3.4.3 and 3.5.3 limit senders to 80 bytes; receivers
	// are more lenient because SPs in the wild send URLs.
	MaxRelayState = 1024
)

// Limits bounds the resources an inbound message may use (saml-bindings
// 3.4.4.1 DEFLATE encoding, 3.5.4, 3.2.3). Zero fields take the defaults.
type Limits struct {
	// MaxMessage is the largest SAML message in bytes of XML (after
	// base64-decoding and inflating; for SOAP, the whole envelope).
	// Default DefaultMaxMessage.
	MaxMessage int
	// MaxInflateRatio bounds inflated size / compressed size of an
	// HTTP-Redirect message, against deflate bombs. Default
	// DefaultMaxInflateRatio.
	MaxInflateRatio int
}

func (l Limits) withDefaults() Limits {
	if l.MaxMessage <= 0 {
		l.MaxMessage = DefaultMaxMessage
	}
	if l.MaxInflateRatio <= 0 {
		l.MaxInflateRatio = DefaultMaxInflateRatio
	}
	return l
}

// Inbound is an authenticated inbound message: exactly one of Request and
// Response is set.
type Inbound struct {
	Request  *LogoutRequest
	Response *LogoutResponse
	// RelayState is the opaque RelayState (saml-bindings 3.4.3, 3.5.3), to be
	// echoed unchanged with the answer; empty for SOAP.
	RelayState string
	// Issuer is the entityID of the SP that signed the message.
	Issuer string
	// Binding is BindingRedirect, BindingPOST or BindingSOAP.
	Binding string
}

// ID returns the ID of the Request or Response.
func (in *Inbound) ID() string {
	switch {
	case in.Request != nil:
		return in.Request.ID
	case in.Response != nil:
		return in.Response.ID
	}
	return ""
}

// Expect is what an inbound message is checked against (saml-core 3.2.1,
// 3.7.3.2; saml-bindings 3.4.5.2, 3.5.5.2).
type Expect struct {
	// Destination is the URL the message was received at. For HTTP-Redirect
	// and HTTP-POST the message MUST carry a Destination equal to it
	// (saml-bindings 3.4.5.2, 3.5.5.2); an empty Destination here is a
	// configuration error and refuses every message. For SOAP the binding
	// does not require a Destination (saml-bindings 3.2): when the message
	// has one it must equal Destination; when it has none, or when
	// Destination is empty here (e.g. a LogoutResponse read from the SOAP
	// call signoff itself made), it is not checked.
	Destination string
	// Certs returns the SP's signing certificates (from its metadata) for
	// an Issuer entityID; false means an unknown issuer. These are the only
	// keys a signature is checked against.
	Certs func(issuer string) ([]*x509.Certificate, bool)
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Skew is the allowed clock difference: IssueInstant must be within
	// ±Skew of Now, and a request's NotOnOrAfter must be after Now-Skew.
	// Zero means DefaultSkew.
	Skew time.Duration
	// Replay remembers accepted message IDs per issuer and refuses a repeat
	// until the entry expires. nil disables the check (only sensible for a
	// LogoutResponse whose InResponseTo the caller checks against an
	// outstanding request).
	Replay *ReplayCache
	// Limits bounds sizes.
	Limits Limits
}

func (e Expect) withDefaults() Expect {
	if e.Now == nil {
		e.Now = time.Now
	}
	if e.Skew <= 0 {
		e.Skew = DefaultSkew
	}
	e.Limits = e.Limits.withDefaults()
	return e
}

// message kinds, the root element names.
const (
	kindRequest  = "LogoutRequest"
	kindResponse = "LogoutResponse"
)

// kindForParam maps the SAMLRequest / SAMLResponse parameter to the root
// element it must carry.
func kindForParam(param string) string {
	if param == "SAMLRequest" {
		return kindRequest
	}
	return kindResponse
}

// checkRoot checks that root is a samlp:LogoutRequest or LogoutResponse (of
// kind, when kind is not empty) and returns its kind.
func checkRoot(root *etree.Element, kind string) (string, error) {
	var got string
	switch {
	case isElem(root, nsProtocol, kindRequest):
		got = kindRequest
	case isElem(root, nsProtocol, kindResponse):
		got = kindResponse
	default:
		return "", fmt.Errorf("%w: root element is %s, expected samlp:LogoutRequest or samlp:LogoutResponse", ErrMalformed, elemName(root))
	}
	if kind != "" && got != kind {
		return "", fmt.Errorf("%w: a %s was sent where a %s belongs", ErrMalformed, got, kind)
	}
	return got, nil
}

// unverifiedIssuer reads the <saml:Issuer> of root only to choose the keys
// that verify the signature; the verified copy is checked to hold the same.
func unverifiedIssuer(root *etree.Element) (string, error) {
	var issuer *etree.Element
	for _, c := range root.ChildElements() {
		if isElem(c, nsAssertion, "Issuer") {
			if issuer != nil {
				return "", fmt.Errorf("%w: more than one saml:Issuer", ErrMalformed)
			}
			issuer = c
		}
	}
	if issuer == nil {
		return "", fmt.Errorf("%w: no saml:Issuer (saml-profiles 4.4.4.1 requires it)", ErrMalformed)
	}
	v, err := textOf(issuer)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	v = strings.TrimSpace(v)
	if v == "" {
		return "", fmt.Errorf("%w: empty saml:Issuer", ErrMalformed)
	}
	return v, nil
}

// certsFor looks up the issuer's signing certificates.
func certsFor(exp Expect, issuer string) ([]*x509.Certificate, error) {
	if exp.Certs == nil {
		return nil, fmt.Errorf("%w: %q (no certificate lookup configured)", ErrUnknownIssuer, issuer)
	}
	certs, ok := exp.Certs(issuer)
	if !ok {
		return nil, fmt.Errorf("%w: %q is not a known SP", ErrUnknownIssuer, issuer)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("%w: %q has no signing certificate", ErrUnknownIssuer, issuer)
	}
	return certs, nil
}

// Algorithms accepted in inbound signatures. SHA-1 is refused everywhere.
var (
	allowedSigAlgs = map[string]x509.SignatureAlgorithm{
		SigAlgRSASHA256:               x509.SHA256WithRSA,
		dsig.RSASHA384SignatureMethod: x509.SHA384WithRSA,
		dsig.RSASHA512SignatureMethod: x509.SHA512WithRSA,
	}
	allowedDigests = map[string]bool{
		"http://www.w3.org/2001/04/xmlenc#sha256":       true,
		"http://www.w3.org/2001/04/xmldsig-more#sha384": true,
		"http://www.w3.org/2001/04/xmlenc#sha512":       true,
	}
)

// checkSigAlg explains why a signature algorithm is refused.
func checkSigAlg(alg string) (x509.SignatureAlgorithm, error) {
	if a, ok := allowedSigAlgs[alg]; ok {
		return a, nil
	}
	switch {
	case strings.HasSuffix(alg, "sha1"):
		return 0, fmt.Errorf("%w: SHA-1 signatures (%s) are refused; sign with %s", ErrBadSignature, alg, SigAlgRSASHA256)
	case alg == "":
		return 0, fmt.Errorf("%w: no signature algorithm", ErrBadSignature)
	default:
		return 0, fmt.Errorf("%w: signature algorithm %q is not supported; sign with %s", ErrBadSignature, alg, SigAlgRSASHA256)
	}
}

// verifyEnveloped checks the enveloped signature of root against certs
// (never against KeyInfo) and returns the verified element: goxmldsig's copy
// re-parsed from the canonical bytes that were digested. Nothing else of
// root may be used afterwards.
func verifyEnveloped(root *etree.Element, certs []*x509.Certificate) (*etree.Element, error) {
	id, _ := attr(root, "ID")
	sigs := findAll(root, nsDSig, "Signature")
	switch {
	case len(sigs) == 0:
		return nil, fmt.Errorf("%w: no ds:Signature in the %s", ErrUnsigned, root.Tag)
	case len(sigs) > 1:
		return nil, fmt.Errorf("%w: %d ds:Signature elements; exactly one, on the root, is allowed (signature wrapping?)", ErrBadSignature, len(sigs))
	case sigs[0].Parent() != root:
		return nil, fmt.Errorf("%w: the ds:Signature is not a child of the root %s (signature wrapping?)", ErrBadSignature, root.Tag)
	}
	if err := checkSignatureShape(sigs[0], id); err != nil {
		return nil, err
	}

	// Work on a copy without KeyInfo: whatever key or certificate the
	// sender put there is ignored, and goxmldsig then uses the one root
	// certificate it is given.
	work := root.Copy()
	for _, c := range work.ChildElements() {
		if isElem(c, nsDSig, "Signature") {
			for _, k := range c.ChildElements() {
				if isElem(k, nsDSig, "KeyInfo") {
					c.RemoveChild(k)
				}
			}
		}
	}

	var errs []error
	for i, cert := range certs {
		if _, ok := cert.PublicKey.(*rsa.PublicKey); !ok {
			errs = append(errs, fmt.Errorf("certificate %d: not an RSA key", i+1))
			continue
		}
		ctx := dsig.NewDefaultValidationContext(&dsig.MemoryX509CertificateStore{Roots: []*x509.Certificate{cert}})
		// Certificate validity dates are not enforced (metadata is the
		// trust anchor): run goxmldsig's date check at a moment inside it.
		ctx.Clock = dsig.NewFakeClockAt(cert.NotBefore)
		verified, err := ctx.Validate(work)
		if err != nil {
			errs = append(errs, fmt.Errorf("certificate %d (%s): %v", i+1, cert.Subject.CommonName, err))
			continue
		}
		if vid, _ := attr(verified, "ID"); vid != id || verified.Tag != root.Tag || verified.NamespaceURI() != root.NamespaceURI() {
			return nil, fmt.Errorf("%w: the verified element is not the root element", ErrBadSignature)
		}
		return verified, nil
	}
	return nil, fmt.Errorf("%w: does not verify with the issuer's metadata certificates: %w", ErrBadSignature, errors.Join(errs...))
}

// checkSignatureShape enforces saml-core 5.4.2 - 5.4.4 on the (not yet
// verified) ds:Signature: exclusive c14n, an accepted SignatureMethod, one
// Reference to "#"+id, only the enveloped-signature and exclusive c14n
// transforms, an accepted digest.
func checkSignatureShape(sig *etree.Element, id string) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: %s", ErrBadSignature, fmt.Sprintf(format, a...))
	}
	// children returns the ds: children of el by local name, refusing
	// anything not in allowed and any repeated name.
	children := func(el *etree.Element, allowed ...string) (map[string]*etree.Element, error) {
		out := make(map[string]*etree.Element)
		for _, c := range el.ChildElements() {
			if c.NamespaceURI() != nsDSig || !slices.Contains(allowed, c.Tag) {
				return nil, bad("unexpected %s in ds:%s", elemName(c), el.Tag)
			}
			if out[c.Tag] != nil {
				if c.Tag == "Reference" {
					return nil, bad("more than one ds:Reference; exactly one is allowed (saml-core 5.4.2)")
				}
				return nil, bad("ds:%s is repeated in ds:%s", c.Tag, el.Tag)
			}
			out[c.Tag] = c
		}
		return out, nil
	}
	parts, err := children(sig, "SignedInfo", "SignatureValue", "KeyInfo")
	if err != nil {
		return err
	}
	if parts["SignedInfo"] == nil || parts["SignatureValue"] == nil {
		return bad("ds:Signature lacks ds:SignedInfo or ds:SignatureValue")
	}
	info, err := children(parts["SignedInfo"], "CanonicalizationMethod", "SignatureMethod", "Reference")
	if err != nil {
		return err
	}
	if info["CanonicalizationMethod"] == nil || info["SignatureMethod"] == nil || info["Reference"] == nil {
		return bad("ds:SignedInfo lacks CanonicalizationMethod, SignatureMethod or Reference")
	}
	if c14n := attrValue(info["CanonicalizationMethod"], "Algorithm"); c14n != string(dsig.CanonicalXML10ExclusiveAlgorithmId) {
		return bad("canonicalization %q; only exclusive c14n (%s) is accepted (saml-core 5.4.3)", c14n, dsig.CanonicalXML10ExclusiveAlgorithmId)
	}
	if _, err := checkSigAlg(attrValue(info["SignatureMethod"], "Algorithm")); err != nil {
		return err
	}
	ref := info["Reference"]
	if uri := attrValue(ref, "URI"); id == "" || uri != "#"+id {
		return bad("Reference URI %q does not point at the root's ID %q (saml-core 5.4.2)", uri, id)
	}
	refParts, err := children(ref, "Transforms", "DigestMethod", "DigestValue")
	if err != nil {
		return err
	}
	if tr := refParts["Transforms"]; tr != nil {
		for _, t := range tr.ChildElements() {
			alg := attrValue(t, "Algorithm")
			if !isElem(t, nsDSig, "Transform") || (alg != string(dsig.EnvelopedSignatureAltorithmId) && alg != string(dsig.CanonicalXML10ExclusiveAlgorithmId)) {
				return bad("transform %q is not allowed (saml-core 5.4.4)", alg)
			}
		}
	}
	if refParts["DigestMethod"] == nil || refParts["DigestValue"] == nil {
		return bad("ds:Reference lacks DigestMethod or DigestValue")
	}
	if digest := attrValue(refParts["DigestMethod"], "Algorithm"); !allowedDigests[digest] {
		if strings.HasSuffix(digest, "sha1") {
			return bad("SHA-1 digests are refused")
		}
		return bad("digest algorithm %q is not supported", digest)
	}
	return nil
}

// decode reads the verified message element into an Inbound (without
// RelayState and Binding).
func decode(el *etree.Element) (*Inbound, error) {
	kind, err := checkRoot(el, "")
	if err != nil {
		return nil, err
	}
	if kind == kindRequest {
		r, err := decodeRequest(el)
		if err != nil {
			return nil, fmt.Errorf("%w: LogoutRequest: %v", ErrMalformed, err)
		}
		return &Inbound{Request: r, Issuer: r.Issuer}, nil
	}
	r, err := decodeResponse(el)
	if err != nil {
		return nil, fmt.Errorf("%w: LogoutResponse: %v", ErrMalformed, err)
	}
	return &Inbound{Response: r, Issuer: r.Issuer}, nil
}

// decodeCommon reads what RequestAbstractType and StatusResponseType share
// (saml-core 3.2.1, 3.2.2): ID, Version and IssueInstant.
func decodeCommon(el *etree.Element) (id string, instant time.Time, err error) {
	id, _ = attr(el, "ID")
	if id == "" {
		return "", time.Time{}, errors.New("no ID")
	}
	if len(id) > 256 || strings.ContainsAny(id, " \t\r\n") {
		return "", time.Time{}, fmt.Errorf("ID %.40q is not an xs:ID", id)
	}
	if v, ok := attr(el, "Version"); !ok || v != "2.0" {
		return "", time.Time{}, fmt.Errorf("Version %q, expected \"2.0\"", v)
	}
	ii, ok := attr(el, "IssueInstant")
	if !ok {
		return "", time.Time{}, errors.New("no IssueInstant")
	}
	instant, err = parseTime(ii)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("IssueInstant: %v", err)
	}
	return id, instant, nil
}

// childSequence walks the element children of el in schema order. order
// lists {namespace, local name} in sequence; repeatable names may occur
// more than once. It calls fn for every child and refuses unknown,
// repeated or out-of-order elements and non-whitespace text.
func childSequence(el *etree.Element, order [][2]string, repeatable map[string]bool, fn func(name string, c *etree.Element) error) error {
	pos := -1
	for _, tok := range el.Child {
		switch t := tok.(type) {
		case *etree.CharData:
			if strings.TrimSpace(t.Data) != "" {
				return fmt.Errorf("unexpected text %.20q in <%s>", t.Data, el.Tag)
			}
		case *etree.Element:
			ns := t.NamespaceURI()
			i := -1
			for j, o := range order {
				if o[0] == ns && o[1] == t.Tag {
					i = j
					break
				}
			}
			switch {
			case i < 0:
				return fmt.Errorf("unexpected element %s in <%s>", elemName(t), el.Tag)
			case i < pos || (i == pos && !repeatable[t.Tag]):
				return fmt.Errorf("element <%s> is repeated or out of order in <%s>", t.Tag, el.Tag)
			}
			pos = i
			if err := fn(t.Tag, t); err != nil {
				return err
			}
		}
	}
	return nil
}

// decodeIssuer reads a <saml:Issuer> (saml-core 2.2.5); its Format must be
// absent or entity (saml-profiles 4.4.4.1).
func decodeIssuer(c *etree.Element) (string, error) {
	if f, ok := attr(c, "Format"); ok && f != nameIDFormatEntity {
		return "", fmt.Errorf("Issuer Format %q, expected none or %s", f, nameIDFormatEntity)
	}
	v, err := textOf(c)
	if err != nil {
		return "", err
	}
	v = strings.TrimSpace(v)
	if v == "" {
		return "", errors.New("empty Issuer")
	}
	return v, nil
}

func decodeRequest(el *etree.Element) (*LogoutRequest, error) {
	id, instant, err := decodeCommon(el)
	if err != nil {
		return nil, err
	}
	r := &LogoutRequest{ID: id, IssueInstant: instant, Destination: attrValue(el, "Destination"), Reason: attrValue(el, "Reason")}
	if v, ok := attr(el, "NotOnOrAfter"); ok {
		if r.NotOnOrAfter, err = parseTime(v); err != nil {
			return nil, fmt.Errorf("NotOnOrAfter: %v", err)
		}
	}
	hasNameID := false
	order := [][2]string{
		{nsAssertion, "Issuer"}, {nsDSig, "Signature"}, {nsProtocol, "Extensions"},
		{nsAssertion, "BaseID"}, {nsAssertion, "NameID"}, {nsAssertion, "EncryptedID"},
		{nsProtocol, "SessionIndex"},
	}
	err = childSequence(el, order, map[string]bool{"SessionIndex": true}, func(name string, c *etree.Element) error {
		switch name {
		case "Issuer":
			r.Issuer, err = decodeIssuer(c)
			return err
		case "BaseID", "EncryptedID":
			return fmt.Errorf("<saml:%s> is not supported, only <saml:NameID>", name)
		case "NameID":
			if hasNameID {
				return errors.New("more than one NameID")
			}
			hasNameID = true
			v, err := textOf(c)
			if err != nil {
				return err
			}
			r.NameID = NameID{Value: v, Format: attrValue(c, "Format"), NameQualifier: attrValue(c, "NameQualifier"), SPNameQualifier: attrValue(c, "SPNameQualifier")}
		case "SessionIndex":
			v, err := textOf(c)
			if err != nil {
				return err
			}
			r.SessionIndexes = append(r.SessionIndexes, v)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if r.Issuer == "" {
		return nil, errors.New("no Issuer")
	}
	if !hasNameID || r.NameID.Value == "" {
		return nil, errors.New("no NameID")
	}
	return r, nil
}

func decodeResponse(el *etree.Element) (*LogoutResponse, error) {
	id, instant, err := decodeCommon(el)
	if err != nil {
		return nil, err
	}
	r := &LogoutResponse{ID: id, IssueInstant: instant, Destination: attrValue(el, "Destination"), InResponseTo: attrValue(el, "InResponseTo")}
	hasStatus := false
	order := [][2]string{{nsAssertion, "Issuer"}, {nsDSig, "Signature"}, {nsProtocol, "Extensions"}, {nsProtocol, "Status"}}
	err = childSequence(el, order, nil, func(name string, c *etree.Element) error {
		switch name {
		case "Issuer":
			r.Issuer, err = decodeIssuer(c)
			return err
		case "Status":
			hasStatus = true
			return decodeStatus(c, r)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if r.Issuer == "" {
		return nil, errors.New("no Issuer")
	}
	if !hasStatus {
		return nil, errors.New("no Status")
	}
	return r, nil
}

// decodeStatus reads <samlp:Status> (saml-core 3.2.2.1): the top-level
// StatusCode, its first nested StatusCode and the StatusMessage.
func decodeStatus(el *etree.Element, r *LogoutResponse) error {
	order := [][2]string{{nsProtocol, "StatusCode"}, {nsProtocol, "StatusMessage"}, {nsProtocol, "StatusDetail"}}
	err := childSequence(el, order, nil, func(name string, c *etree.Element) error {
		switch name {
		case "StatusCode":
			r.StatusCode = strings.TrimSpace(attrValue(c, "Value"))
			for _, sub := range c.ChildElements() {
				if !isElem(sub, nsProtocol, "StatusCode") {
					return fmt.Errorf("unexpected element %s in StatusCode", elemName(sub))
				}
				if r.SubStatusCode != "" {
					return errors.New("more than one nested StatusCode")
				}
				r.SubStatusCode = strings.TrimSpace(attrValue(sub, "Value"))
				if r.SubStatusCode == "" {
					return errors.New("nested StatusCode without Value")
				}
			}
		case "StatusMessage":
			v, err := textOf(c)
			if err != nil {
				return err
			}
			r.StatusMessage = v
		}
		return nil
	})
	if err != nil {
		return err
	}
	if r.StatusCode == "" {
		return errors.New("no StatusCode Value")
	}
	return nil
}

// checkMessage applies the checks that follow authentication: Destination,
// IssueInstant, NotOnOrAfter and replay. It records the ID only when
// everything else passed.
func checkMessage(in *Inbound, exp Expect) error {
	var dest string
	var instant time.Time
	var notOnOrAfter time.Time
	if in.Request != nil {
		dest, instant, notOnOrAfter = in.Request.Destination, in.Request.IssueInstant, in.Request.NotOnOrAfter
	} else {
		dest, instant = in.Response.Destination, in.Response.IssueInstant
	}

	if in.Binding == BindingSOAP {
		if exp.Destination != "" && dest != "" && dest != exp.Destination {
			return fmt.Errorf("%w: Destination %q, this endpoint is %q", ErrDestination, dest, exp.Destination)
		}
	} else {
		switch {
		case exp.Destination == "":
			return fmt.Errorf("%w: no expected Destination configured for %s", ErrDestination, in.Binding)
		case dest == "":
			return fmt.Errorf("%w: signed messages over HTTP-Redirect and HTTP-POST must carry a Destination (saml-bindings 3.4.5.2, 3.5.5.2)", ErrDestination)
		case dest != exp.Destination:
			return fmt.Errorf("%w: Destination %q, this endpoint is %q", ErrDestination, dest, exp.Destination)
		}
	}

	now := exp.Now()
	if d := instant.Sub(now); d > exp.Skew {
		return fmt.Errorf("%w: IssueInstant %s is %s in the future (allowed skew %s)", ErrExpired, formatTime(instant), d.Round(time.Second), exp.Skew)
	} else if -d > exp.Skew {
		return fmt.Errorf("%w: IssueInstant %s is %s old (allowed skew %s)", ErrExpired, formatTime(instant), (-d).Round(time.Second), exp.Skew)
	}
	if !notOnOrAfter.IsZero() && !now.Before(notOnOrAfter.Add(exp.Skew)) {
		return fmt.Errorf("%w: NotOnOrAfter %s has passed", ErrExpired, formatTime(notOnOrAfter))
	}

	if exp.Replay != nil {
		if err := exp.Replay.Check(in.Issuer + "\x00" + in.ID()); err != nil {
			return fmt.Errorf("%w: ID %q from %q was already accepted", ErrReplay, in.ID(), in.Issuer)
		}
	}
	return nil
}

// authenticateXML runs the POST/SOAP pipeline on a parsed message: issuer
// lookup, enveloped signature, decoding of the verified element, checks.
func authenticateXML(root *etree.Element, kind, binding string, exp Expect) (*Inbound, error) {
	if _, err := checkRoot(root, kind); err != nil {
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
	verified, err := verifyEnveloped(root, certs)
	if err != nil {
		return nil, err
	}
	in, err := decode(verified)
	if err != nil {
		return nil, err
	}
	if in.Issuer != issuer {
		return nil, fmt.Errorf("%w: the verified Issuer %q differs from %q", ErrBadSignature, in.Issuer, issuer)
	}
	in.Binding = binding
	if err := checkMessage(in, exp); err != nil {
		return nil, err
	}
	return in, nil
}
