package demo

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"

	"github.com/signoff/signoff/adapters/ssfin"
	"github.com/signoff/signoff/cmd/signoff/internal/config"
)

// demoSSF is the stand-in IdP's Shared Signals transmitter side: a P-256
// key of its own, published at <idp>/ssf/jwks.json, and GET
// <idp>/ssf/set?user=NAME, which answers a freshly signed CAEP
// session-revoked SET (RFC 8417, typ secevent+jwt) for that user, ready to
// push to signoff's /ssf/events with the demo's bearer token.
type demoSSF struct {
	key      *ecdsa.PrivateKey
	issuer   string
	audience string
	token    string
}

// demoTransmitterID is the demo transmitter's ssf.transmitters[].id.
const demoTransmitterID = "demo-idp"

func newDemoSSF(idpURL, signoffURL string) (*demoSSF, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tok := make([]byte, 24)
	if _, err := rand.Read(tok); err != nil {
		return nil, err
	}
	return &demoSSF{key: k, issuer: idpURL, audience: signoffURL + ssfin.PushPath, token: base64.RawURLEncoding.EncodeToString(tok)}, nil
}

// transmitter writes the bearer token into dataDir and returns the
// transmitter's configuration.
func (d *demoSSF) transmitter(dataDir string) (config.SSFTransmitter, error) {
	path := filepath.Join(dataDir, "ssf-demo.token")
	if err := os.WriteFile(path, []byte(d.token+"\n"), 0o600); err != nil {
		return config.SSFTransmitter{}, err
	}
	return config.SSFTransmitter{ID: demoTransmitterID, Issuer: d.issuer, Audience: d.audience,
		JWKSURI: d.issuer + "/ssf/jwks.json", Auth: &config.SSFAuth{BearerTokenFile: path}, SubjectClaim: config.SSFSubjectSub}, nil
}

var userRE = regexp.MustCompile(`^[A-Za-z0-9._@-]{1,64}$`)

func (d *demoSSF) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET /ssf/jwks.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &d.key.PublicKey, KeyID: "demo-ssf", Algorithm: "ES256", Use: "sig"}}})
	})
	mux.HandleFunc("GET /ssf/set", func(w http.ResponseWriter, r *http.Request) {
		user := r.URL.Query().Get("user")
		if !userRE.MatchString(user) {
			http.Error(w, "user: 1-64 characters of A-Z a-z 0-9 . _ @ -", http.StatusBadRequest)
			return
		}
		set, err := d.sign(user)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/secevent+jwt")
		w.Header().Set("Cache-Control", "no-store")
		fmt.Fprint(w, set)
	})
}

// sign returns a CAEP session-revoked SET for user.
func (d *demoSSF) sign(user string) (string, error) {
	claims, err := json.Marshal(map[string]any{
		"iss": d.issuer, "aud": d.audience, "iat": time.Now().Unix(), "jti": uuid.NewString(),
		"sub_id": map[string]any{"format": "iss_sub", "iss": d.issuer, "sub": user},
		"events": map[string]any{ssfin.EventSessionRevoked: map[string]any{
			"initiating_entity": "admin", "reason_admin": map[string]string{"en": "revoked from the demo IdP"}}},
	})
	if err != nil {
		return "", err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: d.key, KeyID: "demo-ssf"}},
		(&jose.SignerOptions{}).WithType("secevent+jwt"))
	if err != nil {
		return "", err
	}
	obj, err := signer.Sign(claims)
	if err != nil {
		return "", err
	}
	return obj.CompactSerialize()
}

// instructions is the demo's printout of how to push a test SET.
func (d *demoSSF) instructions(signoffURL string) string {
	return fmt.Sprintf("  SSF      sign a user out everywhere with a Shared Signals (CAEP session-revoked) push:\n"+
		"           curl -s '%s/ssf/set?user=alice' | curl -si %s%s -H 'Authorization: Bearer %s' \\\n"+
		"             -H 'Content-Type: application/secevent+jwt' --data-binary @-\n",
		d.issuer, signoffURL, ssfin.PushPath, d.token)
}
