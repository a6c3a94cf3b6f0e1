package saml

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"
)

// MaxRelayState is the longest RelayState of the HTTP-Redirect binding
// (saml-bindings 3.4.3): 80 bytes.
const MaxRelayState = 80

// relayMACLen is the length of the truncated HMAC in a RelayState token
// (12 bytes, 16 base64url characters: 96 bits).
const relayMACLen = 12

var errBadToken = errors.New("token is not valid")

func (a *Adapter) mac(parts ...string) []byte {
	m := hmac.New(sha256.New, a.cfg.Secret)
	for i, p := range parts {
		if i > 0 {
			m.Write([]byte{0})
		}
		m.Write([]byte(p))
	}
	return m.Sum(nil)
}

// relayState is the RelayState of a LogoutRequest signoff sends through
// the browser: "<logout_id>.<mac>" where mac is the base64url HMAC-SHA256
// (truncated to 96 bits) of logout_id, rp_id and the request's ID. It
// binds the LogoutResponse that comes back to /saml/slo to its logout,
// its participant (the verified Issuer names the SP) and its request
// (InResponseTo), without server state. ok is false when it would be longer
// than MaxRelayState (a logout_id of more than 63 characters).
func (a *Adapter) relayState(logoutID, rpID, requestID string) (string, bool) {
	mac := base64.RawURLEncoding.EncodeToString(a.mac("saml-relay", logoutID, rpID, requestID)[:relayMACLen])
	rs := logoutID + "." + mac
	return rs, len(rs) <= MaxRelayState
}

// checkRelayState returns the logout_id of a RelayState made by relayState
// for rpID and requestID.
func (a *Adapter) checkRelayState(rs, rpID, requestID string) (string, bool) {
	i := strings.LastIndexByte(rs, '.')
	if i <= 0 || len(rs) > MaxRelayState {
		return "", false
	}
	logoutID, got := rs[:i], rs[i+1:]
	mac, err := base64.RawURLEncoding.DecodeString(got)
	if err != nil || !hmac.Equal(mac, a.mac("saml-relay", logoutID, rpID, requestID)[:relayMACLen]) {
		return "", false
	}
	return logoutID, true
}

// seal returns a URL-safe token "<base64url JSON>.<base64url HMAC>" of v for
// purpose, valid until exp (v must have an "exp" Unix time field set by the
// caller).
func (a *Adapter) seal(purpose string, v any) string {
	b, _ := json.Marshal(v)
	p := base64.RawURLEncoding.EncodeToString(b)
	return p + "." + base64.RawURLEncoding.EncodeToString(a.mac("saml-token", purpose, p))
}

// open verifies a token of seal for purpose and decodes it into v; expiry
// is checked by the caller.
func (a *Adapter) open(purpose, tok string, v any) error {
	p, m, ok := strings.Cut(tok, ".")
	if !ok || len(tok) > 4096 {
		return errBadToken
	}
	mac, err := base64.RawURLEncoding.DecodeString(m)
	if err != nil || !hmac.Equal(mac, a.mac("saml-token", purpose, p)) {
		return errBadToken
	}
	b, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return errBadToken
	}
	if err := json.Unmarshal(b, v); err != nil {
		return errBadToken
	}
	return nil
}

// postToken is the token of /saml/post: which participant's LogoutRequest
// to carry by HTTP-POST.
type postToken struct {
	LogoutID string `json:"l"`
	RPID     string `json:"r"`
	Exp      int64  `json:"e"`
}

// returnToken is the token of /saml/return: whom to answer once an
// SP-initiated logout has ended.
type returnToken struct {
	LogoutID     string `json:"l"`
	RPID         string `json:"r"`
	InResponseTo string `json:"i"`
	RelayState   string `json:"s,omitempty"`
	Exp          int64  `json:"e"`
}

// ackToken authenticates the acknowledgement of an iframe frame.
func (a *Adapter) ackToken(logoutID, rpID string) string {
	return base64.RawURLEncoding.EncodeToString(a.mac("saml-ack", logoutID, rpID))
}

func expired(exp int64, now time.Time) bool { return now.Unix() > exp }
