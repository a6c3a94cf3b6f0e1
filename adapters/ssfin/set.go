package ssfin

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"math"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Event type URIs this receiver understands.
const (
	// EventSessionRevoked is CAEP 1.0 section 3.1.
	EventSessionRevoked = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"
	// EventAccountDisabled is RISC 1.0 section 2.3.
	EventAccountDisabled = "https://schemas.openid.net/secevent/risc/event-type/account-disabled"
	// EventAccountPurged is RISC 1.0 section 2.2.
	EventAccountPurged = "https://schemas.openid.net/secevent/risc/event-type/account-purged"
	// EventCredentialCompromise is RISC 1.0 section 2.7.
	EventCredentialCompromise = "https://schemas.openid.net/secevent/risc/event-type/credential-compromise"
	// EventSessionsRevoked is RISC 1.0 section 2.11 (deprecated in favour
	// of CAEP session-revoked, still sent by older RISC transmitters).
	EventSessionsRevoked = "https://schemas.openid.net/secevent/risc/event-type/sessions-revoked"
	// EventVerification is SSF 1.0 section 8.1.4.1.
	EventVerification = "https://schemas.openid.net/secevent/ssf/event-type/verification"
	// EventStreamUpdated is SSF 1.0 section 8.1.5.
	EventStreamUpdated = "https://schemas.openid.net/secevent/ssf/event-type/stream-updated"
)

// eventNames are the short names of the supported event types, for logs
// and logout reasons.
var eventNames = map[string]string{
	EventSessionRevoked:       "CAEP session-revoked",
	EventAccountDisabled:      "RISC account-disabled",
	EventAccountPurged:        "RISC account-purged",
	EventCredentialCompromise: "RISC credential-compromise",
	EventSessionsRevoked:      "RISC sessions-revoked",
	EventVerification:         "SSF verification",
	EventStreamUpdated:        "SSF stream-updated",
}

// algorithms are the JWS algorithms accepted for SETs: asymmetric only,
// never none or HS* (RFC 8417 section 5.1; the CAEP interoperability
// profile requires RS256).
var algorithms = []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.PS256, jose.EdDSA}

// maxJTI bounds the length of a jti.
const maxJTI = 256

// set is a verified SET with its single event.
type set struct {
	JTI       string
	IssuedAt  time.Time
	Txn       string
	EventType string
	Event     json.RawMessage
	SubID     *subjectID
}

// verify checks raw as a SET of transmitter t and returns it: the JWS
// header, the signature against t's keys, then the claims. Errors are
// *Error (refused for good) or *unavailableError (try again later).
func (r *Receiver) verify(ctx context.Context, t *transmitter, raw string) (*set, error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, invalid("the body is not a SET in JWS compact serialization (RFC 8417 section 2)")
	}
	var hdr struct {
		Alg  string   `json:"alg"`
		Typ  string   `json:"typ"`
		Kid  string   `json:"kid"`
		Crit []string `json:"crit"`
		Enc  string   `json:"enc"`
	}
	hb, err := base64.RawURLEncoding.DecodeString(parts[0])
	if err != nil || json.Unmarshal(hb, &hdr) != nil {
		return nil, invalid("the JWS header is not base64url-encoded JSON")
	}
	switch {
	case hdr.Enc != "":
		return nil, invalid("encrypted SETs are not supported")
	case strings.EqualFold(hdr.Alg, "none") || hdr.Alg == "" || parts[2] == "":
		return nil, invalid("the SET is not signed (alg %q): unsigned SETs are refused", hdr.Alg)
	case strings.HasPrefix(strings.ToUpper(hdr.Alg), "HS"):
		return nil, refuse(CodeInvalidKey, "alg %s is a shared-secret MAC; only RS256, ES256, PS256 and EdDSA are accepted", hdr.Alg)
	case !slices.Contains(algorithms, jose.SignatureAlgorithm(hdr.Alg)):
		return nil, invalid("alg %q is not accepted; use RS256, ES256, PS256 or EdDSA", hdr.Alg)
	case !isSETType(hdr.Typ):
		return nil, invalid("the JWS header typ is %q, not secevent+jwt (RFC 8417 section 2.3, SSF 1.0 section 4.1.1)", hdr.Typ)
	case len(hdr.Crit) > 0:
		return nil, invalid("the JWS header has critical parameters %q this receiver does not understand", hdr.Crit)
	}
	jws, err := jose.ParseSigned(raw, algorithms)
	if err != nil || len(jws.Signatures) != 1 {
		return nil, invalid("the SET is not a valid JWS: %v", err)
	}
	keys, err := t.keys.lookup(ctx, hdr.Kid, hdr.Alg)
	if err != nil {
		return nil, err
	}
	var payload []byte
	for _, k := range keys {
		if payload, err = jws.Verify(k.Key); err == nil {
			break
		}
	}
	if payload == nil {
		return nil, refuse(CodeInvalidKey, "the signature does not verify with the keys of transmitter %s", t.ID)
	}
	return r.claims(t, payload)
}

// isSETType reports whether typ is secevent+jwt, case-insensitively and
// with or without the application/ prefix (RFC 7515 section 4.1.9).
func isSETType(typ string) bool {
	typ = strings.ToLower(typ)
	return typ == "secevent+jwt" || typ == "application/secevent+jwt"
}

// claims checks the claims of a verified SET of t.
func (r *Receiver) claims(t *transmitter, payload []byte) (*set, error) {
	var c map[string]json.RawMessage
	dec := json.NewDecoder(bytes.NewReader(payload))
	if err := dec.Decode(&c); err != nil || c == nil {
		return nil, invalid("the SET payload is not a JSON object")
	}
	var iss string
	if json.Unmarshal(c["iss"], &iss) != nil || iss == "" {
		return nil, refuse(CodeInvalidIssuer, "the SET has no iss")
	}
	if iss != t.Issuer {
		return nil, refuse(CodeInvalidIssuer, "iss %q is not the issuer of transmitter %s", iss, t.ID)
	}
	var aud []string
	var one string
	switch {
	case json.Unmarshal(c["aud"], &one) == nil && one != "":
		aud = []string{one}
	case json.Unmarshal(c["aud"], &aud) == nil && len(aud) > 0:
	default:
		return nil, refuse(CodeInvalidAudience, "the SET has no aud")
	}
	if !slices.Contains(aud, t.Audience) {
		return nil, refuse(CodeInvalidAudience, "aud %q does not name this receiver (%q)", aud, t.Audience)
	}
	if _, ok := c["sub"]; ok {
		return nil, invalid("the SET has a sub claim, which SSF 1.0 section 4.1.2 forbids: the subject belongs in sub_id")
	}
	if _, ok := c["exp"]; ok {
		return nil, invalid("the SET has an exp claim, which SSF 1.0 section 4.1.7 forbids")
	}
	var iat float64
	if json.Unmarshal(c["iat"], &iat) != nil || iat <= 0 || math.IsInf(iat, 0) || iat > 1e11 {
		return nil, invalid("the SET has no valid iat (RFC 8417 section 2.2)")
	}
	s := &set{IssuedAt: time.Unix(int64(iat), 0).UTC()}
	now := r.now()
	if s.IssuedAt.After(now.Add(r.skew)) {
		return nil, invalid("iat %s is in the future", s.IssuedAt.Format(time.RFC3339))
	}
	if s.IssuedAt.Before(now.Add(-r.retention)) {
		return nil, invalid("iat %s is older than the %s this receiver remembers jtis for", s.IssuedAt.Format(time.RFC3339), r.retention)
	}
	if json.Unmarshal(c["jti"], &s.JTI) != nil || s.JTI == "" || len(s.JTI) > maxJTI {
		return nil, invalid("the SET has no jti of 1 to %d characters", maxJTI)
	}
	if raw, ok := c["txn"]; ok && json.Unmarshal(raw, &s.Txn) != nil {
		return nil, invalid("txn is not a string")
	}
	var evs map[string]json.RawMessage
	if json.Unmarshal(c["events"], &evs) != nil || len(evs) == 0 {
		return nil, invalid("the SET has no events object (RFC 8417 section 2.2)")
	}
	if len(evs) != 1 {
		return nil, invalid("the SET holds %d events; SSF 1.0 section 4.2.1 allows one per SET", len(evs))
	}
	for typ, ev := range evs {
		s.EventType, s.Event = typ, ev
	}
	if _, ok := eventNames[s.EventType]; !ok {
		return nil, invalid("event type %q is not supported by this receiver; supported: CAEP session-revoked, RISC account-disabled, account-purged, credential-compromise, sessions-revoked, SSF verification and stream-updated", s.EventType)
	}
	var obj map[string]json.RawMessage
	if json.Unmarshal(s.Event, &obj) != nil {
		return nil, invalid("the %s event is not a JSON object", eventNames[s.EventType])
	}
	if raw, ok := c["sub_id"]; ok {
		s.SubID = new(subjectID)
		if err := json.Unmarshal(raw, s.SubID); err != nil || s.SubID.Format == "" {
			return nil, invalid("sub_id is not a subject identifier with a format (RFC 9493)")
		}
	} else if raw, ok := obj["subject"]; ok {
		// Older CAEP and RISC transmitters put the subject in the event
		// (SSF 1.0 section 3.1.1).
		s.SubID = new(subjectID)
		if err := json.Unmarshal(raw, s.SubID); err != nil || s.SubID.Format == "" {
			return nil, invalid("the event's subject is not a subject identifier with a format (RFC 9493)")
		}
	}
	if s.SubID == nil && s.EventType != EventVerification && s.EventType != EventStreamUpdated {
		return nil, invalid("the SET has no sub_id (SSF 1.0 section 3.1)")
	}
	return s, nil
}
