package config

import (
	"fmt"
	"slices"
	"strings"
)

// Upstream is an OpenID Provider at which signoff is registered as a
// relying party whose backchannel_logout_uri is
// <public_url>/oidc/upstream/<id>/backchannel (OpenID Connect Back-Channel
// Logout 1.0 section 2.2): the OP's logout tokens end the signoff sessions
// resting on its sessions (session.joined upstream {id, sid}).
type Upstream struct {
	// ID names the upstream in its URL and in session.joined upstream.id:
	// 1-64 characters of A-Z a-z 0-9 . _ -, unique.
	ID string `yaml:"id"`
	// Issuer is the OP's issuer; the iss of its logout tokens must equal
	// it exactly.
	Issuer string `yaml:"issuer"`
	// ClientID is signoff's client_id at the OP: the aud of its tokens.
	ClientID string `yaml:"client_id"`
	// JWKSURI is the OP's jwks_uri.
	JWKSURI string `yaml:"jwks_uri"`
	// Algorithms are the accepted JWS algorithms of its logout tokens
	// (default RS256, ES256 and EdDSA).
	Algorithms []string `yaml:"algorithms"`
}

// FanoutAlways is the value of relying_parties[].fanout that makes an RP a
// participant of every logout of a subject.
const FanoutAlways = "always"

// NameIDSubject is the value of relying_parties[].saml.name_id of an SP
// whose NameID is the user's subject.
const NameIDSubject = "subject"

// NameIDPersistent is the persistent NameID format (saml-core 8.3.7), the
// default of saml.name_id_format.
const NameIDPersistent = "urn:oasis:names:tc:SAML:2.0:nameid-format:persistent"

// upstreamAlgorithms are the JWS algorithms an upstream may use.
var upstreamAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// SubjectNameIDFormat is the NameID Format of an SP with name_id: subject
// (name_id_format, default persistent), or "" for any other SP.
func (s *SAML) SubjectNameIDFormat() string {
	if s == nil || s.NameID != NameIDSubject {
		return ""
	}
	if s.NameIDFormat == "" {
		return NameIDPersistent
	}
	return s.NameIDFormat
}

// upstreams checks upstreams, and fanout and name_id of the relying parties.
func (v *validator) upstreams(c *Config) {
	ids := map[string]int{}
	for i, u := range c.Upstreams {
		p := fmt.Sprintf("upstreams[%d]", i)
		v.uniqueID(p+".id", "upstreams", u.ID, i, ids)
		if u.Issuer == "" {
			v.add(p+".issuer", "required: the OP's issuer, exactly as in its logout tokens")
		} else {
			v.check(p+".issuer", checkWebURL(u.Issuer))
		}
		if u.ClientID == "" {
			v.add(p+".client_id", "required: signoff's client_id at the OP (the aud of its logout tokens)")
		}
		if u.JWKSURI == "" {
			v.add(p+".jwks_uri", "required: the OP's jwks_uri")
		} else {
			v.check(p+".jwks_uri", checkWebURL(u.JWKSURI))
		}
		for j, a := range u.Algorithms {
			if !slices.Contains(upstreamAlgorithms, a) {
				v.add(fmt.Sprintf("%s.algorithms[%d]", p, j), "must be one of %s; got %q", strings.Join(upstreamAlgorithms, ", "), a)
			}
		}
	}
	for i, rp := range c.RelyingParties {
		p := fmt.Sprintf("relying_parties[%d]", i)
		if s := rp.SAML; s != nil {
			if s.NameID != "" && s.NameID != NameIDSubject {
				v.add(p+".saml.name_id", "must be subject or absent; got %q", s.NameID)
			}
			if s.NameIDFormat != "" && s.NameID != NameIDSubject {
				v.add(p+".saml.name_id_format", "only with name_id: subject")
			}
		}
		switch rp.Fanout {
		case "":
			continue
		case FanoutAlways:
		default:
			v.add(p+".fanout", "must be always or absent; got %q", rp.Fanout)
			continue
		}
		switch {
		case rp.OIDC != nil && rp.OIDC.BackchannelLogoutURI == "":
			v.add(p+".fanout", "always needs oidc.backchannel_logout_uri: the RP gets a logout token with sub only")
		case rp.OIDC != nil && rp.OIDC.BackchannelLogoutSessionRequired:
			v.add(p+".oidc.backchannel_logout_session_required", "must be false with fanout: always: the RP gets logout tokens with sub and no sid when signoff knows no session there")
		case rp.SAML != nil && rp.SAML.NameID != NameIDSubject:
			v.add(p+".saml.name_id", "must be subject with fanout: always: the SP gets a LogoutRequest whose NameID is the subject")
		case rp.SAML != nil && rp.SAML.SubjectNameIDFormat() != NameIDPersistent:
			v.add(p+".saml.name_id_format", "must be %s (persistent) with fanout: always; got %q", NameIDPersistent, rp.SAML.NameIDFormat)
		}
	}
}
