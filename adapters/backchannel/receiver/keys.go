package receiver

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
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// maxJWKS is the largest JWKS document read.
const maxJWKS = 1 << 20

// fetchTimeout bounds one JWKS request.
const fetchTimeout = 10 * time.Second

// unavailableError is a temporary failure: the token could not be verified
// now, and the OP may retry after retryAfter (503).
type unavailableError struct {
	desc       string
	retryAfter time.Duration
}

func (e *unavailableError) Error() string { return e.desc }

// keySource supplies verification keys: a static set, or the OP's JWKS,
// fetched on first use and again when a token names an unknown kid, at most
// once per interval.
type keySource struct {
	url      string
	client   *http.Client
	interval time.Duration
	now      func() time.Time
	log      *slog.Logger

	keys atomic.Pointer[[]jose.JSONWebKey] // nil before the first fetch
	gen  atomic.Uint64                     // incremented by every fetch

	mu        sync.Mutex // serialises fetches
	lastFetch time.Time  // guarded by mu; zero before the first attempt
}

// lookup returns the keys that may have signed a token with kid and alg.
// A kid that names no key refetches the JWKS, unless it was fetched less
// than interval ago.
func (s *keySource) lookup(ctx context.Context, kid, alg string) ([]jose.JSONWebKey, error) {
	gen := s.gen.Load()
	if ks := s.keys.Load(); ks != nil {
		if c, known := match(*ks, kid, alg); len(c) > 0 || known || s.url == "" {
			return c, noKey(c, known, kid, alg)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gen.Load() != gen { // another request fetched meanwhile
		c, known := match(*s.keys.Load(), kid, alg)
		return c, noKey(c, known, kid, alg)
	}
	now := s.now()
	if since := now.Sub(s.lastFetch); !s.lastFetch.IsZero() && since < s.interval {
		wait := s.interval - since
		if s.keys.Load() == nil {
			return nil, &unavailableError{"the OP's signing keys could not be fetched; retry later", wait}
		}
		return nil, &unavailableError{fmt.Sprintf("no key with kid %q; the OP's keys were fetched %s ago, retry later", kid, since.Round(time.Second)), wait}
	}
	s.lastFetch = now
	ks, err := s.fetch(ctx)
	if err != nil {
		s.log.Warn("fetching the OP's JWKS failed", "url", s.url, "err", err)
		return nil, &unavailableError{"the OP's signing keys could not be fetched; retry later", s.interval}
	}
	s.keys.Store(&ks)
	s.gen.Add(1)
	c, known := match(ks, kid, alg)
	return c, noKey(c, known, kid, alg)
}

// noKey is the error of a lookup that found the candidates c.
func noKey(c []jose.JSONWebKey, known bool, kid, alg string) error {
	switch {
	case len(c) > 0:
		return nil
	case known:
		return invalid("key %q is not a key for %s", kid, alg)
	case kid == "":
		return invalid("logout token has no kid and the OP has no %s key", alg)
	default:
		return invalid("the OP has no key with kid %q", kid)
	}
}

// match returns the keys of ks that fit a token with kid and alg (every key
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
		switch alg {
		case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
			return true
		}
	case *ecdsa.PublicKey:
		switch alg {
		case "ES256":
			return k.Curve == elliptic.P256()
		case "ES384":
			return k.Curve == elliptic.P384()
		case "ES512":
			return k.Curve == elliptic.P521()
		}
	case ed25519.PublicKey:
		return alg == "EdDSA"
	}
	return false
}

// fetch downloads and parses the JWKS.
func (s *keySource) fetch(ctx context.Context) ([]jose.JSONWebKey, error) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKS))
	if err != nil {
		return nil, err
	}
	return parseJWKS(body)
}

// parseJWKS returns the public signature keys of a JWKS document. A key
// that go-jose cannot parse (an unknown kty or curve) is skipped rather
// than failing the whole set.
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
		if k.UnmarshalJSON(raw) != nil {
			continue
		}
		ks = append(ks, k)
	}
	ks = publicSigningKeys(ks)
	if len(ks) == 0 {
		return nil, errors.New("JWKS holds no public signature key")
	}
	return ks, nil
}

// publicSigningKeys returns the public half of every asymmetric key of ks
// whose use is "sig" or unset.
func publicSigningKeys(ks []jose.JSONWebKey) []jose.JSONWebKey {
	var out []jose.JSONWebKey
	for _, k := range ks {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		if !k.IsPublic() {
			k = k.Public() // a symmetric key becomes invalid and is dropped
		}
		if k.Valid() {
			out = append(out, k)
		}
	}
	return out
}
