// Package message builds, signs, encodes, decodes and verifies the SAML 2.0
// messages of Single Logout: <samlp:LogoutRequest> and <samlp:LogoutResponse>
// (saml-core 3.7), over the HTTP-Redirect (saml-bindings 3.4), HTTP-POST
// (saml-bindings 3.5) and SOAP (saml-bindings 3.2) bindings, plus the SP and
// IdP metadata SLO needs (saml-metadata 2.4).
//
// The package is pure: no I/O, no clocks or randomness beyond what callers
// pass in (NewID and the signatures use crypto/rand).
//
// # Outbound
//
// Signer signs as signoff (the session authority). MarshalRequest and
// MarshalResponse produce the unsigned XML the HTTP-Redirect binding needs
// (it must not carry an XML signature, saml-bindings 3.4.4.1); SignRequest and
// SignResponse produce enveloped-signed XML for HTTP-POST and SOAP, with the
// <ds:Signature> right after <saml:Issuer> so the message stays
// schema-valid, exclusive canonicalization, RSA-SHA256 and a SHA-256 digest.
// The signed bytes must be sent exactly as returned.
//
// # Inbound
//
// ParseRedirect, ParsePOST and ParseSOAP authenticate a message before any of
// its content is acted on:
//
//   - size limits apply before and after inflating (Limits);
//   - the XML must be UTF-8, have exactly one root element, no DTD, no
//     entity declarations, no processing instructions other than the XML
//     declaration, no duplicate attributes, at most 64 levels of nesting, and
//     must survive a round trip through encoding/xml
//     (github.com/mattermost/xml-roundtrip-validator);
//   - the signature is checked only against the certificates the caller
//     supplies for the message's Issuer (the SP's metadata); keys or
//     certificates in <ds:KeyInfo> are ignored. Validity dates of those
//     certificates are not checked: metadata is the trust anchor, as in the
//     SAML V2.0 Metadata Interoperability Profile;
//   - only RSA with SHA-256, SHA-384 or SHA-512 is accepted. SHA-1
//     (rsa-sha1, and the sha1 digest) is refused: it is deprecated for
//     signatures, Go's crypto/x509 no longer verifies it, and every SP
//     that matters can sign with SHA-256;
//   - an XML signature must be the only <ds:Signature> in the message, a
//     direct child of the root, with exactly one Reference whose URI is
//     "#" + the root's ID, only the enveloped-signature and exclusive c14n
//     transforms (saml-core 5.4), and only the element that goxmldsig
//     returns from validation is parsed afterwards (signature wrapping);
//   - Destination, IssueInstant (±Expect.Skew), NotOnOrAfter and the ID
//     (Expect.Replay) are checked last. InResponseTo of a LogoutResponse is
//     left to the caller, who knows the outstanding requests.
//
// Only <saml:NameID> is supported as identifier; <saml:BaseID> and
// <saml:EncryptedID> are refused (ErrMalformed).
//
// Every refusal wraps one of ErrUnsigned, ErrBadSignature, ErrUnknownIssuer,
// ErrDestination, ErrExpired, ErrReplay, ErrTooLarge or ErrMalformed, so a
// handler can answer with a 4xx and log the message.
//
// Specifications: OASIS SAML 2.0 saml-core-2.0-os, saml-bindings-2.0-os,
// saml-profiles-2.0-os and saml-metadata-2.0-os.
package message

import "errors"

// Bindings (saml-bindings 3.2, 3.4, 3.5).
const (
	// BindingRedirect is the HTTP-Redirect binding (saml-bindings 3.4).
	BindingRedirect = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect"
	// BindingPOST is the HTTP-POST binding (saml-bindings 3.5).
	BindingPOST = "urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
	// BindingSOAP is the SAML SOAP binding (saml-bindings 3.2).
	BindingSOAP = "urn:oasis:names:tc:SAML:2.0:bindings:SOAP"
)

// Logout reasons of a LogoutRequest (saml-core 3.7.3).
const (
	// ReasonUser means the principal asked to end the session.
	ReasonUser = "urn:oasis:names:tc:SAML:2.0:logout:user"
	// ReasonAdmin means an administrator ended the session.
	ReasonAdmin = "urn:oasis:names:tc:SAML:2.0:logout:admin"
	// ReasonGlobalTimeout means the session authority's session timed out
	// (sent only by the session authority).
	ReasonGlobalTimeout = "urn:oasis:names:tc:SAML:2.0:logout:global-timeout"
)

// Status codes of a LogoutResponse (saml-core 3.2.2.2).
const (
	// StatusSuccess is the top-level status of a successful logout.
	StatusSuccess = "urn:oasis:names:tc:SAML:2.0:status:Success"
	// StatusPartialLogout is the second-level status nested in Success when
	// another session participant could not be logged out (saml-core 3.7.3.2).
	StatusPartialLogout = "urn:oasis:names:tc:SAML:2.0:status:PartialLogout"
	// StatusRequester is the top-level status for an error on the requester's
	// side (a bad, unsigned, expired or unknown-issuer request).
	StatusRequester = "urn:oasis:names:tc:SAML:2.0:status:Requester"
	// StatusResponder is the top-level status for an error on the responder's
	// side.
	StatusResponder = "urn:oasis:names:tc:SAML:2.0:status:Responder"
	// StatusVersionMismatch is the top-level status for a wrong SAML version.
	StatusVersionMismatch = "urn:oasis:names:tc:SAML:2.0:status:VersionMismatch"
)

// SigAlgRSASHA256 is the signature algorithm signoff signs with, for the
// SigAlg parameter of the HTTP-Redirect binding (saml-bindings 3.4.4.1) and
// the SignatureMethod of XML signatures (saml-core 5.4).
const SigAlgRSASHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"

// Errors wrapped by every refusal of an inbound message. Use errors.Is.
var (
	// ErrUnsigned means the message carries no signature, or the
	// HTTP-Redirect query lacks SigAlg or Signature (saml-profiles 4.4.3.1
	// requires signed logout messages).
	ErrUnsigned = errors.New("saml: message is not signed")
	// ErrBadSignature means the signature does not verify with the issuer's
	// metadata certificates, uses a refused algorithm (SHA-1, non-RSA) or
	// has a shape that allows signature wrapping (saml-core 5.4).
	ErrBadSignature = errors.New("saml: bad signature")
	// ErrUnknownIssuer means the Issuer (saml-core 2.2.5) is not a known SP,
	// or has no signing certificate.
	ErrUnknownIssuer = errors.New("saml: unknown issuer")
	// ErrDestination means the Destination is missing or is not the URL the
	// message was received at (saml-bindings 3.4.5.2, 3.5.5.2).
	ErrDestination = errors.New("saml: wrong destination")
	// ErrExpired means IssueInstant is outside the allowed clock skew, or
	// the request's NotOnOrAfter has passed (saml-core 3.2.1, 3.7.1).
	ErrExpired = errors.New("saml: message expired or not yet valid")
	// ErrReplay means a message with this ID from this issuer was already
	// accepted (saml-core 1.3.4: IDs are unique).
	ErrReplay = errors.New("saml: replayed message")
	// ErrTooLarge means a size limit (Limits) was exceeded, before or after
	// inflating (saml-bindings 3.4.4.1).
	ErrTooLarge = errors.New("saml: message too large")
	// ErrMalformed means the encoding, the XML or the SAML structure
	// (saml-core 3.7) is not acceptable.
	ErrMalformed = errors.New("saml: malformed message")
)

// XML namespaces.
const (
	nsProtocol  = "urn:oasis:names:tc:SAML:2.0:protocol"
	nsAssertion = "urn:oasis:names:tc:SAML:2.0:assertion"
	nsMetadata  = "urn:oasis:names:tc:SAML:2.0:metadata"
	nsDSig      = "http://www.w3.org/2000/09/xmldsig#"
	nsSOAP11    = "http://schemas.xmlsoap.org/soap/envelope/"
	nsSOAP12    = "http://www.w3.org/2003/05/soap-envelope"

	nameIDFormatEntity = "urn:oasis:names:tc:SAML:2.0:nameid-format:entity"
)
