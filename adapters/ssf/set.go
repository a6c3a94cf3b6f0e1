package ssf

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/mail"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"

	"github.com/signoff/signoff/adapters/keys"
	"github.com/signoff/signoff/events"
)

// Security Event Token constants (RFC 8417; SSF 1.0; CAEP 1.0).
const (
	// TypSecEventJWT is the JWS "typ" header of every SET (SSF 1.0
	// section 4.1.1, RFC 8417 section 2.3).
	TypSecEventJWT = "secevent+jwt"
	// EventSessionRevoked is the CAEP session-revoked event type (CAEP 1.0
	// section 3.1).
	EventSessionRevoked = "https://schemas.openid.net/secevent/caep/event-type/session-revoked"
	// EventVerification is the SSF verification event type (SSF 1.0
	// section 8.1.4.1).
	EventVerification = "https://schemas.openid.net/secevent/ssf/event-type/verification"
	// Alg is the JWS algorithm of SETs: the CAEP interoperability profile
	// requires RS256 with keys of at least 2048 bits ("Event Signatures").
	Alg = keys.RS256
)

// Subject identifier formats of sub_id (RFC 9493 section 3), as
// configured per RP (ssf.subject_format).
const (
	FormatIssSub = "iss_sub" // {"format":"iss_sub","iss":issuer,"sub":subject}, the default
	FormatEmail  = "email"   // {"format":"email","email":subject}; the subject must be an e-mail address
	FormatOpaque = "opaque"  // {"format":"opaque","id":subject}
)

// initiating_entity values of CAEP 1.0 section 2 ("Event Attributes").
const (
	EntityUser   = "user"
	EntityAdmin  = "admin"
	EntityPolicy = "policy"
)

// KeySet supplies signing keys; *keys.Set implements it.
type KeySet interface {
	// Signing returns the key that currently signs with alg.
	Signing(alg string) (keys.Key, error)
}

// SET is one signed Security Event Token.
type SET struct {
	// Raw is the compact JWS.
	Raw string
	// JTI is its unique jti claim.
	JTI string
}

// Minter builds and signs SETs (RFC 8417 section 2) with the logout-token
// keys. Every SET carries a fresh jti, iat, iss and aud, exactly one event,
// a sub_id and no sub or exp claim (SSF 1.0 sections 4.1.2 and 4.1.7). It is
// safe for concurrent use.
type Minter struct {
	issuer  string
	keys    KeySet
	now     func() time.Time
	signers sync.Map // kid -> jose.Signer
}

// NewMinter returns a Minter for issuer signing with ks (RS256); now nil
// means time.Now.
func NewMinter(issuer string, ks KeySet, now func() time.Time) *Minter {
	if now == nil {
		now = time.Now
	}
	return &Minter{issuer: issuer, keys: ks, now: now}
}

// ErrNotEmail is returned for the email subject format when the logout's
// subject is not an e-mail address.
var ErrNotEmail = errors.New("the subject is not an e-mail address (ssf.subject_format: email)")

// SubjectID returns the sub_id claim of subject in format (RFC 9493
// section 3.2: iss_sub, email, opaque).
func (m *Minter) SubjectID(format, subject string) (map[string]string, error) {
	if subject == "" {
		return nil, errors.New("no subject is known for this logout: a SET needs a sub_id")
	}
	switch format {
	case "", FormatIssSub:
		return map[string]string{"format": FormatIssSub, "iss": m.issuer, "sub": subject}, nil
	case FormatEmail:
		a, err := mail.ParseAddress(subject)
		if err != nil || a.Address != subject || a.Name != "" {
			return nil, ErrNotEmail
		}
		return map[string]string{"format": FormatEmail, "email": subject}, nil
	case FormatOpaque:
		return map[string]string{"format": FormatOpaque, "id": subject}, nil
	}
	return nil, fmt.Errorf("unknown subject format %q", format)
}

// InitiatingEntity maps a logout's initiator to CAEP's initiating_entity:
// the user or an RP acting for them → user, an administrator → admin, the
// expiry of the session or the IdP's own decision → policy.
func InitiatingEntity(initiator events.Initiator) string {
	switch initiator {
	case events.InitiatorAdmin:
		return EntityAdmin
	case events.InitiatorExpiry, events.InitiatorIdP:
		return EntityPolicy
	}
	return EntityUser
}

// ReasonAdmin is the English reason_admin of a logout: the logout's reason
// when it has one, else a sentence about its initiator.
func ReasonAdmin(initiator events.Initiator, reason string) string {
	if reason != "" {
		return reason
	}
	switch initiator {
	case events.InitiatorRP:
		return "The user signed out at an application; signoff ends every session of the sign-in"
	case events.InitiatorAdmin:
		return "An administrator ended the user's sessions"
	case events.InitiatorExpiry:
		return "The sign-in session expired"
	case events.InitiatorIdP:
		return "The identity provider ended the sign-in session"
	}
	return "The user signed out"
}

// SessionRevoked mints a CAEP session-revoked SET (CAEP 1.0 section 3.1)
// for rp about the logout of d: txn is the logout_id, event_timestamp the
// time the coordinator dispatched it, initiating_entity and reason_admin
// come from the logout's initiator and reason.
func (m *Minter) SessionRevoked(rp RP, d events.Dispatch) (SET, error) {
	sub, err := m.SubjectID(rp.SubjectFormat, d.Subject)
	if err != nil {
		return SET{}, err
	}
	at := d.OccurredAt
	if at.IsZero() {
		at = m.now()
	}
	event := map[string]any{
		"event_timestamp":   at.Unix(),
		"initiating_entity": InitiatingEntity(d.Initiator),
		"reason_admin":      map[string]string{"en": ReasonAdmin(d.Initiator, d.Reason)},
	}
	return m.mint(rp.Audience, d.LogoutID, sub, EventSessionRevoked, event)
}

// Verification mints a verification SET for the stream of rp (SSF 1.0
// section 8.1.4.1): sub_id is opaque with the stream_id, and state is
// echoed when the receiver gave one.
func (m *Minter) Verification(rp RP, state string) (SET, error) {
	event := map[string]any{}
	if state != "" {
		event["state"] = state
	}
	return m.mint(rp.Audience, "", map[string]string{"format": FormatOpaque, "id": rp.StreamID()}, EventVerification, event)
}

func (m *Minter) mint(aud, txn string, sub map[string]string, eventType string, event map[string]any) (SET, error) {
	key, err := m.keys.Signing(Alg)
	if err != nil {
		return SET{}, fmt.Errorf("signing key: %w", err)
	}
	signer, err := m.signer(key)
	if err != nil {
		return SET{}, err
	}
	jti := uuid.NewString()
	claims := map[string]any{
		"iss":    m.issuer,
		"aud":    aud,
		"iat":    m.now().Unix(),
		"jti":    jti,
		"sub_id": sub,
		"events": map[string]any{eventType: event},
	}
	if txn != "" {
		claims["txn"] = txn
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return SET{}, fmt.Errorf("encoding SET claims: %w", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return SET{}, fmt.Errorf("signing SET with %s key %s: %w", key.Alg, key.KID, err)
	}
	raw, err := jws.CompactSerialize()
	if err != nil {
		return SET{}, fmt.Errorf("serialising SET: %w", err)
	}
	return SET{Raw: raw, JTI: jti}, nil
}

func (m *Minter) signer(key keys.Key) (jose.Signer, error) {
	if s, ok := m.signers.Load(key.KID); ok {
		return s.(jose.Signer), nil
	}
	s, err := jose.NewSigner(key.SigningKey(), (&jose.SignerOptions{}).WithType(TypSecEventJWT))
	if err != nil {
		return nil, fmt.Errorf("creating %s signer for key %s: %w", key.Alg, key.KID, err)
	}
	actual, _ := m.signers.LoadOrStore(key.KID, s)
	return actual.(jose.Signer), nil
}
