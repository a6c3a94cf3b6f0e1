package ssfin

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// maxDocument bounds a JWKS or transmitter configuration document.
const maxDocument = 1 << 20

// fetchTimeout bounds one request for keys or configuration metadata.
const fetchTimeout = 10 * time.Second

// keySource supplies a transmitter's verification keys: its jwks_uri, or
// the jwks_uri of its transmitter configuration metadata (SSF 1.0 section
// 7.2), fetched on first use and again when a SET names an unknown kid, at
// most once per interval (SSF 1.0 section 4.1.4, "Signature Key
// Resolution").
type keySource struct {
	issuer    string
	jwksURI   string // configured; empty with discovery
	discovery bool
	client    *http.Client
	interval  time.Duration
	now       func() time.Time
	log       *slog.Logger

	mu      sync.Mutex
	keys    []jose.JSONWebKey
	loaded  bool
	lastTry time.Time
}

// lookup returns the keys that may have signed a SET with kid and alg.
func (s *keySource) lookup(ctx context.Context, kid, alg string) ([]jose.JSONWebKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.loaded {
		c, known := match(s.keys, kid, alg)
		if len(c) > 0 {
			return c, nil
		}
		if known {
			return nil, refuse(CodeInvalidKey, "the transmitter's key %q is not a key for %s", kid, alg)
		}
	}
	now := s.now()
	if since := now.Sub(s.lastTry); !s.lastTry.IsZero() && since < s.interval {
		if !s.loaded {
			return nil, &unavailableError{msg: "the transmitter's signing keys could not be fetched; retry later", retryAfter: s.interval - since}
		}
		return nil, refuse(CodeInvalidKey, "the transmitter has no %s key with kid %q (its keys were fetched %s ago)", alg, kid, since.Round(time.Second))
	}
	s.lastTry = now
	ks, err := s.fetch(ctx)
	if err != nil {
		s.log.Warn("fetching the SSF transmitter's keys failed", "issuer", s.issuer, "err", err)
		return nil, &unavailableError{msg: "the transmitter's signing keys could not be fetched; retry later", retryAfter: s.interval, err: err}
	}
	s.keys, s.loaded = ks, true
	c, known := match(ks, kid, alg)
	switch {
	case len(c) > 0:
		return c, nil
	case known:
		return nil, refuse(CodeInvalidKey, "the transmitter's key %q is not a key for %s", kid, alg)
	case kid == "":
		return nil, refuse(CodeInvalidKey, "the SET has no kid and the transmitter has no %s key", alg)
	}
	return nil, refuse(CodeInvalidKey, "the transmitter has no key with kid %q", kid)
}

// fetch resolves the jwks_uri (through discovery when configured) and
// downloads the keys.
func (s *keySource) fetch(ctx context.Context) ([]jose.JSONWebKey, error) {
	uri := s.jwksURI
	if s.discovery {
		var err error
		if uri, err = s.discover(ctx); err != nil {
			return nil, err
		}
	}
	body, err := s.get(ctx, uri, "application/jwk-set+json, application/json")
	if err != nil {
		return nil, fmt.Errorf("jwks_uri %s: %w", uri, err)
	}
	return parseJWKS(body)
}

// ConfigurationURL is the transmitter configuration metadata URL of issuer:
// "/.well-known/ssf-configuration" inserted between the host and the path,
// without a trailing slash of the path (SSF 1.0 section 7.2).
func ConfigurationURL(issuer string) (string, error) {
	u, err := url.Parse(issuer)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("issuer %q is not an absolute URL", issuer)
	}
	u.Path = "/.well-known/ssf-configuration" + strings.TrimSuffix(u.Path, "/")
	u.RawPath = ""
	return u.String(), nil
}

// discover reads the transmitter configuration metadata and returns its
// jwks_uri, after checking that its issuer is the configured one (SSF 1.0
// section 7.2.4).
func (s *keySource) discover(ctx context.Context) (string, error) {
	cfgURL, err := ConfigurationURL(s.issuer)
	if err != nil {
		return "", err
	}
	body, err := s.get(ctx, cfgURL, "application/json")
	if err != nil {
		return "", fmt.Errorf("transmitter configuration %s: %w", cfgURL, err)
	}
	var md struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &md); err != nil {
		return "", fmt.Errorf("transmitter configuration %s is not JSON: %w", cfgURL, err)
	}
	if md.Issuer != s.issuer {
		return "", fmt.Errorf("transmitter configuration %s names issuer %q, not %q", cfgURL, md.Issuer, s.issuer)
	}
	u, err := url.Parse(md.JWKSURI)
	if err != nil || u.Host == "" || (u.Scheme != "https" && !(u.Scheme == "http" && isLoopback(u.Hostname()))) {
		return "", fmt.Errorf("transmitter configuration %s has no usable jwks_uri (https, or http on loopback): %q", cfgURL, md.JWKSURI)
	}
	return md.JWKSURI, nil
}

func isLoopback(host string) bool {
	return host == "127.0.0.1" || host == "::1" || strings.EqualFold(host, "localhost")
}

func (s *keySource) get(ctx context.Context, uri, accept string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, uri, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", accept)
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return io.ReadAll(io.LimitReader(resp.Body, maxDocument))
}

// match returns the keys of ks that fit a SET with kid and alg (every key
// that fits alg when kid is empty); known reports that kid names a key.
func match(ks []jose.JSONWebKey, kid, alg string) (c []jose.JSONWebKey, known bool) {
	for _, k := range ks {
		if kid != "" && k.KeyID != kid {
			continue
		}
		known = kid != ""
		if (k.Algorithm == "" || k.Algorithm == alg) && fits(k.Key, alg) {
			c = append(c, k)
		}
	}
	return c, known
}

// fits reports whether public key k can verify signatures of alg.
func fits(k any, alg string) bool {
	switch k := k.(type) {
	case *rsa.PublicKey:
		return (alg == "RS256" || alg == "PS256") && k.N.BitLen() >= 2048
	case *ecdsa.PublicKey:
		return alg == "ES256" && k.Curve == elliptic.P256()
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}

// parseJWKS returns the public signature keys of a JWKS document; keys
// go-jose cannot parse, private and symmetric keys are skipped.
func parseJWKS(doc []byte) ([]jose.JSONWebKey, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(doc, &set); err != nil {
		return nil, fmt.Errorf("JWKS is not JSON: %w", err)
	}
	var ks []jose.JSONWebKey
	for _, raw := range set.Keys {
		var k jose.JSONWebKey
		if k.UnmarshalJSON(raw) != nil || (k.Use != "" && k.Use != "sig") {
			continue
		}
		if !k.IsPublic() {
			k = k.Public()
		}
		if k.Valid() {
			ks = append(ks, k)
		}
	}
	if len(ks) == 0 {
		return nil, errors.New("JWKS holds no public signature key")
	}
	return ks, nil
}
