package app

import (
	"context"
	"crypto"
	"errors"
	"fmt"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/signoff/signoff/adapters/keys"
	"github.com/signoff/signoff/cmd/signoff/internal/config"
	"github.com/signoff/signoff/web"
)

// hintVerifier verifies id_token_hint values of RP-initiated logout: the
// signature against the OP's keys (signoff's own when signoff is the
// issuer, else the configured jwks_uri), the issuer, an allowed asymmetric
// alg; an expired hint is accepted
// (https://openid.net/specs/openid-connect-rpinitiated-1_0.html#RPLogout).
type hintVerifier struct {
	issuer string
	own    *keys.Set          // when the OP is signoff itself
	remote *oidc.RemoteKeySet // when it is another OP
}

var hintAlgs = []string{oidc.RS256, oidc.RS384, oidc.RS512, oidc.ES256, oidc.ES384, oidc.ES512, oidc.PS256, oidc.EdDSA}

// newHintVerifier verifies hints of the configured OP, or of signoff
// itself when oidc_provider is empty.
func newHintVerifier(ctx context.Context, cfg *config.Config, own *keys.Set) hintVerifier {
	if p := cfg.OIDCProvider; p.Issuer != "" {
		return hintVerifier{issuer: p.Issuer, remote: oidc.NewRemoteKeySet(context.WithoutCancel(ctx), p.JWKSURI)}
	}
	return hintVerifier{issuer: cfg.Issuer, own: own}
}

func (h hintVerifier) VerifyHint(ctx context.Context, raw string) (web.Hint, error) {
	var ks oidc.KeySet
	switch {
	case h.remote != nil:
		ks = h.remote
	case h.own != nil:
		var pubs []crypto.PublicKey
		for _, k := range h.own.Keys() {
			pubs = append(pubs, k.Public())
		}
		ks = &oidc.StaticKeySet{PublicKeys: pubs}
	default:
		return web.Hint{}, errors.New("no keys to verify id_token_hint")
	}
	v := oidc.NewVerifier(h.issuer, ks, &oidc.Config{SkipClientIDCheck: true, SkipExpiryCheck: true, SupportedSigningAlgs: hintAlgs})
	tok, err := v.Verify(ctx, raw)
	if err != nil {
		return web.Hint{}, fmt.Errorf("id_token_hint: %w", err)
	}
	var claims struct {
		SID string `json:"sid"`
	}
	tok.Claims(&claims)
	return web.Hint{Subject: tok.Subject, SID: claims.SID, Audience: tok.Audience}, nil
}
