package web

import (
	"net/http"
	"strings"
)

// discovery is GET /.well-known/openid-configuration for deployments where
// signoff serves the OP's logout endpoints
// (https://openid.net/specs/openid-connect-discovery-1_0.html#ProviderMetadata).
func (b *browser) discovery(w http.ResponseWriter, r *http.Request) {
	pub := strings.TrimSuffix(b.PublicURL, "/")
	w.Header().Set("Cache-Control", "public, max-age=300")
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                b.Issuer,
		"jwks_uri":                              pub + "/jwks.json",
		"end_session_endpoint":                  pub + "/oidc/end_session",
		"backchannel_logout_supported":          true,
		"backchannel_logout_session_supported":  true,
		"frontchannel_logout_supported":         true,
		"frontchannel_logout_session_supported": true,
	})
}
