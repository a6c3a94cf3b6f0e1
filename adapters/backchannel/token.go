package backchannel

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"
	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/signoff/signoff/adapters/keys"
)

// Logout token constants (OpenID Connect Back-Channel Logout 1.0,
// https://openid.net/specs/openid-connect-backchannel-1_0.html#LogoutToken).
const (
	// EventBackchannelLogout is the only member of the "events" claim; its
	// value is the empty JSON object.
	EventBackchannelLogout = "http://schemas.openid.net/event/backchannel-logout"
	// TypLogoutJWT is the RECOMMENDED "typ" header of a logout token
	// (https://openid.net/specs/openid-connect-backchannel-1_0.html#LogoutToken).
	TypLogoutJWT = "logout+jwt"
	// TypJWT is the "typ" header for relying parties that reject logout+jwt
	// (Nimbus/Spring Security, spring-security#15003).
	TypJWT = "JWT"
	// TokenLifetime is exp - iat of every logout token: the spec's
	// "preferably at most two minutes".
	TokenLifetime = 2 * time.Minute
)

// Errors of Mint, also used as the detail of a participant that cannot be
// sent a token.
var (
	// ErrSessionRequired means the RP registered
	// backchannel_logout_session_required but no sid is known
	// (https://openid.net/specs/openid-connect-backchannel-1_0.html#BCRegistration).
	ErrSessionRequired = errors.New("relying party requires sid (backchannel_logout_session_required) but no sid is known")
	// ErrNoSubject means neither sub nor sid is known; a logout token must
	// carry at least one of them.
	ErrNoSubject = errors.New("logout token needs sub or sid; neither is known")
)

// KeySet supplies signing keys; *keys.Set implements it.
type KeySet interface {
	// Signing returns the key that currently signs with alg
	// ("RS256", "ES256" or "EdDSA").
	Signing(alg string) (keys.Key, error)
}

// Token is one minted logout token.
type Token struct {
	// Raw is the compact JWS sent as the logout_token form field.
	Raw string
	// JTI is the unique jti claim of this token.
	JTI string
	// KID is the key ID in the JWS header.
	KID string
	// IssuedAt and Expiry are the iat and exp claims.
	IssuedAt, Expiry time.Time
}

// Minter builds and signs logout tokens
// (https://openid.net/specs/openid-connect-backchannel-1_0.html#LogoutToken).
// It is safe for concurrent use and caches one jose.Signer per (kid, typ),
// so that minting costs one JSON encoding and one signature.
type Minter struct {
	issuer  string
	keys    KeySet
	now     func() time.Time
	signers sync.Map // signerKey -> jose.Signer
}

type signerKey struct{ kid, typ string }

// NewMinter returns a Minter for issuer that signs with ks. now nil means
// time.Now.
func NewMinter(issuer string, ks KeySet, now func() time.Time) *Minter {
	if now == nil {
		now = time.Now
	}
	return &Minter{issuer: issuer, keys: ks, now: now}
}

// Mint returns a fresh logout token for rp about subject and, when sid is
// not empty, the session sid. Every call has a new random jti (UUID v4),
// iat = now and exp = now + TokenLifetime; aud is rp.ClientID; events is
// exactly {EventBackchannelLogout: {}}; there is no nonce. The JWS header
// carries alg (rp.Alg, default RS256), typ (rp.Typ, default logout+jwt) and
// kid.
func (m *Minter) Mint(rp RP, subject, sid string) (Token, error) {
	if sid == "" && rp.SessionRequired {
		return Token{}, ErrSessionRequired
	}
	if sid == "" && subject == "" {
		return Token{}, ErrNoSubject
	}
	key, err := m.keys.Signing(rp.alg())
	if err != nil {
		return Token{}, fmt.Errorf("signing key: %w", err)
	}
	signer, err := m.signer(key, rp.typ())
	if err != nil {
		return Token{}, err
	}
	now := m.now()
	jti := uuid.NewString()
	claims := oidc.NewLogoutTokenClaims(m.issuer, subject, oidc.Audience{rp.ClientID},
		now.Add(TokenLifetime), jti, sid, 0)
	claims.IssuedAt = oidc.FromTime(now) // NewLogoutTokenClaims reads the wall clock
	payload, err := json.Marshal(claims)
	if err != nil {
		return Token{}, fmt.Errorf("encoding logout token claims: %w", err)
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return Token{}, fmt.Errorf("signing logout token with %s key %s: %w", key.Alg, key.KID, err)
	}
	raw, err := jws.CompactSerialize()
	if err != nil {
		return Token{}, fmt.Errorf("serialising logout token: %w", err)
	}
	return Token{
		Raw:      raw,
		JTI:      jti,
		KID:      key.KID,
		IssuedAt: claims.IssuedAt.AsTime(),
		Expiry:   claims.Expiration.AsTime(),
	}, nil
}

func (m *Minter) signer(key keys.Key, typ string) (jose.Signer, error) {
	sk := signerKey{key.KID, typ}
	if s, ok := m.signers.Load(sk); ok {
		return s.(jose.Signer), nil
	}
	s, err := jose.NewSigner(key.SigningKey(), (&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
	if err != nil {
		return nil, fmt.Errorf("creating %s signer for key %s: %w", key.Alg, key.KID, err)
	}
	actual, _ := m.signers.LoadOrStore(sk, s)
	return actual.(jose.Signer), nil
}
