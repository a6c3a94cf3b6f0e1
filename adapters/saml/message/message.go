package message

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/beevik/etree"
)

// NameID is a <saml:NameID> (saml-core 2.2.3). A LogoutRequest must carry the
// NameID exactly as it was issued to that SP (saml-core 3.3.4): value,
// Format, NameQualifier and SPNameQualifier.
type NameID struct {
	Value           string
	Format          string
	NameQualifier   string
	SPNameQualifier string
}

// LogoutRequest is a <samlp:LogoutRequest> (saml-core 3.7.1). Version is
// always "2.0". NotOnOrAfter and Destination are optional in the schema but
// signoff always sets them when it is the session authority
// (saml-core 3.7.3.2, saml-bindings 3.4.5.2, 3.5.5.2).
type LogoutRequest struct {
	ID           string
	Destination  string
	Issuer       string
	IssueInstant time.Time
	NotOnOrAfter time.Time
	// Reason is one of ReasonUser, ReasonAdmin, ReasonGlobalTimeout or
	// empty.
	Reason string
	NameID NameID
	// SessionIndexes are the <samlp:SessionIndex> values; none means every
	// session of the principal at that SP.
	SessionIndexes []string
}

// LogoutResponse is a <samlp:LogoutResponse> (saml-core 3.7.2), a
// StatusResponseType (saml-core 3.2.2). SubStatusCode is the first nested
// <samlp:StatusCode>, e.g. StatusPartialLogout under StatusSuccess.
type LogoutResponse struct {
	ID            string
	Destination   string
	Issuer        string
	InResponseTo  string
	IssueInstant  time.Time
	StatusCode    string
	SubStatusCode string
	StatusMessage string
}

// NewID returns a fresh random message ID (saml-core 1.3.4): "_" followed by
// 40 hex digits (160 random bits), an XML NCName that never starts with a
// digit.
func NewID() string {
	var b [20]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("saml: crypto/rand failed: " + err.Error()) // crypto/rand never fails on supported platforms
	}
	return "_" + hex.EncodeToString(b[:])
}

// MarshalRequest returns the unsigned XML of r (saml-core 3.7.1), as the
// HTTP-Redirect binding needs it (saml-bindings 3.4.4.1). ID, Issuer,
// IssueInstant and NameID.Value are required.
func MarshalRequest(r LogoutRequest) ([]byte, error) {
	doc, err := buildRequest(r)
	if err != nil {
		return nil, err
	}
	return doc.WriteToBytes()
}

// MarshalResponse returns the unsigned XML of r (saml-core 3.7.2), as the
// HTTP-Redirect binding needs it (saml-bindings 3.4.4.1). ID, Issuer,
// IssueInstant and StatusCode are required.
func MarshalResponse(r LogoutResponse) ([]byte, error) {
	doc, err := buildResponse(r)
	if err != nil {
		return nil, err
	}
	return doc.WriteToBytes()
}

// timeLayout is xs:dateTime in UTC with at most millisecond precision
// (saml-core 1.3.3); more digits confuse some SAML stacks.
const timeLayout = "2006-01-02T15:04:05.999Z07:00"

func formatTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// parseTime parses an xs:dateTime. SAML requires UTC ("Z"); an explicit
// offset is converted, a missing zone is taken as UTC.
func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	t, err := time.Parse("2006-01-02T15:04:05.999999999", s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%q is not an xs:dateTime", s)
	}
	return t.UTC(), nil
}

func buildRequest(r LogoutRequest) (*etree.Document, error) {
	if err := checkID(r.ID); err != nil {
		return nil, fmt.Errorf("saml: LogoutRequest: %w", err)
	}
	if r.Issuer == "" {
		return nil, fmt.Errorf("saml: LogoutRequest: Issuer is required")
	}
	if r.IssueInstant.IsZero() {
		return nil, fmt.Errorf("saml: LogoutRequest: IssueInstant is required")
	}
	if r.NameID.Value == "" {
		return nil, fmt.Errorf("saml: LogoutRequest: NameID.Value is required")
	}
	fields := map[string]string{
		"Destination": r.Destination, "Issuer": r.Issuer, "Reason": r.Reason,
		"NameID.Value": r.NameID.Value, "NameID.Format": r.NameID.Format,
		"NameID.NameQualifier": r.NameID.NameQualifier, "NameID.SPNameQualifier": r.NameID.SPNameQualifier,
	}
	for i, si := range r.SessionIndexes {
		if si == "" {
			return nil, fmt.Errorf("saml: LogoutRequest: SessionIndexes[%d] is empty", i)
		}
		fields[fmt.Sprintf("SessionIndexes[%d]", i)] = si
	}
	if err := checkFields(fields); err != nil {
		return nil, fmt.Errorf("saml: LogoutRequest: %w", err)
	}

	doc := etree.NewDocument()
	root := doc.CreateElement("samlp:LogoutRequest")
	root.CreateAttr("xmlns:samlp", nsProtocol)
	root.CreateAttr("xmlns:saml", nsAssertion)
	root.CreateAttr("ID", r.ID)
	root.CreateAttr("Version", "2.0")
	root.CreateAttr("IssueInstant", formatTime(r.IssueInstant))
	if r.Destination != "" {
		root.CreateAttr("Destination", r.Destination)
	}
	if !r.NotOnOrAfter.IsZero() {
		root.CreateAttr("NotOnOrAfter", formatTime(r.NotOnOrAfter))
	}
	if r.Reason != "" {
		root.CreateAttr("Reason", r.Reason)
	}
	root.CreateElement("saml:Issuer").SetText(r.Issuer)
	nid := root.CreateElement("saml:NameID")
	if r.NameID.NameQualifier != "" {
		nid.CreateAttr("NameQualifier", r.NameID.NameQualifier)
	}
	if r.NameID.SPNameQualifier != "" {
		nid.CreateAttr("SPNameQualifier", r.NameID.SPNameQualifier)
	}
	if r.NameID.Format != "" {
		nid.CreateAttr("Format", r.NameID.Format)
	}
	nid.SetText(r.NameID.Value)
	for _, si := range r.SessionIndexes {
		root.CreateElement("samlp:SessionIndex").SetText(si)
	}
	return doc, nil
}

func buildResponse(r LogoutResponse) (*etree.Document, error) {
	if err := checkID(r.ID); err != nil {
		return nil, fmt.Errorf("saml: LogoutResponse: %w", err)
	}
	if r.Issuer == "" {
		return nil, fmt.Errorf("saml: LogoutResponse: Issuer is required")
	}
	if r.IssueInstant.IsZero() {
		return nil, fmt.Errorf("saml: LogoutResponse: IssueInstant is required")
	}
	if r.StatusCode == "" {
		return nil, fmt.Errorf("saml: LogoutResponse: StatusCode is required")
	}
	if err := checkFields(map[string]string{
		"Destination": r.Destination, "Issuer": r.Issuer, "InResponseTo": r.InResponseTo,
		"StatusCode": r.StatusCode, "SubStatusCode": r.SubStatusCode, "StatusMessage": r.StatusMessage,
	}); err != nil {
		return nil, fmt.Errorf("saml: LogoutResponse: %w", err)
	}

	doc := etree.NewDocument()
	root := doc.CreateElement("samlp:LogoutResponse")
	root.CreateAttr("xmlns:samlp", nsProtocol)
	root.CreateAttr("xmlns:saml", nsAssertion)
	root.CreateAttr("ID", r.ID)
	root.CreateAttr("Version", "2.0")
	root.CreateAttr("IssueInstant", formatTime(r.IssueInstant))
	if r.Destination != "" {
		root.CreateAttr("Destination", r.Destination)
	}
	if r.InResponseTo != "" {
		root.CreateAttr("InResponseTo", r.InResponseTo)
	}
	root.CreateElement("saml:Issuer").SetText(r.Issuer)
	status := root.CreateElement("samlp:Status")
	code := status.CreateElement("samlp:StatusCode")
	code.CreateAttr("Value", r.StatusCode)
	if r.SubStatusCode != "" {
		code.CreateElement("samlp:StatusCode").CreateAttr("Value", r.SubStatusCode)
	}
	if r.StatusMessage != "" {
		status.CreateElement("samlp:StatusMessage").SetText(r.StatusMessage)
	}
	return doc, nil
}

// checkID reports whether id is an ASCII NCName that does not start with a
// digit (xs:ID, saml-core 1.3.4).
func checkID(id string) error {
	if id == "" {
		return fmt.Errorf("ID is required")
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		ok := c == '_' || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z') ||
			(i > 0 && (c == '-' || c == '.' || ('0' <= c && c <= '9')))
		if !ok {
			return fmt.Errorf("ID %q is not an XML NCName starting with a letter or '_'", id)
		}
	}
	return nil
}

// checkFields refuses values that could not be serialized and read back
// unchanged: invalid UTF-8 and control characters (XML normalizes tabs and
// newlines in attributes and forbids most other C0 characters).
func checkFields(fields map[string]string) error {
	for name, v := range fields {
		if !utf8.ValidString(v) {
			return fmt.Errorf("%s is not valid UTF-8", name)
		}
		for _, r := range v {
			if r < 0x20 || r == 0x7f || r == 0xfffe || r == 0xffff {
				return fmt.Errorf("%s contains the control character %U", name, r)
			}
		}
	}
	return nil
}
