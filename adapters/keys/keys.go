// Package keys holds the signing keys of signoff: the keys that sign
// OpenID Connect Back-Channel Logout tokens
// (https://openid.net/specs/openid-connect-backchannel-1_0.html#LogoutToken)
// and, later, SAML messages.
//
// Keys are PEM files in one directory. Every "*.pem" file holds one private
// key (PKCS#8, PKCS#1 RSA or SEC1 EC), optionally followed by its X.509
// certificate chain. Supported are RSA of at least 2048 bits (RS256), ECDSA
// on P-256 (ES256) and Ed25519 (EdDSA). The key ID is the RFC 7638 JWK
// thumbprint (SHA-256, base64url), so it is stable across restarts and
// machines without extra metadata.
//
// Rotation is by file: drop a new key file into the directory and call
// Reload (or run Watch). The newest key of an algorithm (by file
// modification time, then by file name) signs; every key stays published in
// the JWKS until its file is removed, so relying parties that cached an older
// key still verify tokens signed before the rotation.
package keys

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// Signature algorithms (RFC 7518 section 3.1, RFC 8037 section 3.1).
const (
	// RS256 is RSASSA-PKCS1-v1_5 with SHA-256, the default alg of ID Tokens
	// and therefore of logout tokens.
	RS256 = "RS256"
	// ES256 is ECDSA on P-256 with SHA-256.
	ES256 = "ES256"
	// EdDSA is Ed25519.
	EdDSA = "EdDSA"
)

// MinRSABits is the smallest RSA modulus accepted and the size of generated
// RSA keys.
const MinRSABits = 2048

// Sentinel errors, wrapped by the errors of Signing and Open.
var (
	// ErrUnknownAlg is returned for an algorithm other than RS256, ES256 and EdDSA.
	ErrUnknownAlg = errors.New("unsupported signing algorithm")
	// ErrNoKey is returned when no key of the requested algorithm is loaded.
	ErrNoKey = errors.New("no signing key")
	// ErrNoKeys is returned by Open when the directory holds no key and
	// generation was not requested.
	ErrNoKeys = errors.New("no keys in key directory")
)

// Algs lists the supported signature algorithms.
func Algs() []string { return []string{RS256, ES256, EdDSA} }

// Key is one private signing key loaded from a PEM file.
type Key struct {
	// KID is the RFC 7638 JWK thumbprint (SHA-256, base64url, no padding).
	KID string
	// Alg is the JWS algorithm of the key: RS256, ES256 or EdDSA.
	Alg string
	// Signer is the private key (*rsa.PrivateKey, *ecdsa.PrivateKey or
	// ed25519.PrivateKey).
	Signer crypto.Signer
	// File is the path of the PEM file the key was loaded from.
	File string
	// ModTime is the modification time of File; the newest key of an
	// algorithm signs.
	ModTime time.Time
	// Certificates is the X.509 chain that followed the key in its file,
	// leaf first; empty when the file holds only the key.
	Certificates []*x509.Certificate
}

// Public returns the public key.
func (k Key) Public() crypto.PublicKey { return k.Signer.Public() }

// SigningKey returns the key for jose.NewSigner. It carries the key ID, so a
// signer made from it sets the "kid" header.
func (k Key) SigningKey() jose.SigningKey {
	return jose.SigningKey{
		Algorithm: jose.SignatureAlgorithm(k.Alg),
		Key:       jose.JSONWebKey{Key: k.Signer, KeyID: k.KID, Algorithm: k.Alg, Use: "sig"},
	}
}

// PublicJWK returns the public key as a JWK with kid, alg and use "sig".
func (k Key) PublicJWK() jose.JSONWebKey {
	return jose.JSONWebKey{Key: k.Signer.Public(), KeyID: k.KID, Algorithm: k.Alg, Use: "sig"}
}

// snapshot is one immutable loaded state of the directory.
type snapshot struct {
	keys     []Key          // newest first
	signing  map[string]Key // alg -> newest key
	jwks     jose.JSONWebKeySet
	jwksJSON []byte
	state    string // fingerprint of the directory listing
}

// Set is the set of keys loaded from one directory. It is safe for
// concurrent use; Reload swaps the whole set atomically.
type Set struct {
	dir    string
	now    func() time.Time
	logger *slog.Logger

	reload sync.Mutex // serialises Reload
	cur    atomic.Pointer[snapshot]
}

// Open loads every "*.pem" private key in dir. When dir holds no key and
// generate is true, Open creates dir (mode 0700) and generates one key per
// algorithm: RSA 2048 (RS256), P-256 (ES256) and Ed25519 (EdDSA), each a
// PKCS#8 PEM file of mode 0600. When dir holds keys, Open never generates.
//
// A file that is not a supported private key is an error that names the
// file. A key file readable by group or others is loaded with a warning.
// now names generated files; nil means time.Now. logger nil means
// slog.Default().
func Open(dir string, generate bool, now func() time.Time, logger *slog.Logger) (*Set, error) {
	if dir == "" {
		return nil, errors.New("keys: no key directory configured")
	}
	if now == nil {
		now = time.Now
	}
	if logger == nil {
		logger = slog.Default()
	}
	s := &Set{dir: dir, now: now, logger: logger.With("component", "keys", "dir", dir)}

	snap, err := s.load()
	if errors.Is(err, ErrNoKeys) && generate {
		if err := s.generate(); err != nil {
			return nil, err
		}
		snap, err = s.load()
	}
	if err != nil {
		return nil, err
	}
	s.cur.Store(snap)
	for _, k := range snap.keys {
		s.logger.Info("signing key loaded", "kid", k.KID, "alg", k.Alg, "file", filepath.Base(k.File))
	}
	return s, nil
}

// Dir returns the key directory.
func (s *Set) Dir() string { return s.dir }

// Signing returns the key that signs with alg ("RS256", "ES256" or "EdDSA"):
// the newest key of that algorithm, by file modification time and then by
// file name. The errors wrap ErrUnknownAlg and ErrNoKey.
func (s *Set) Signing(alg string) (Key, error) {
	switch alg {
	case RS256, ES256, EdDSA:
	default:
		return Key{}, fmt.Errorf("keys: %w %q (want RS256, ES256 or EdDSA)", ErrUnknownAlg, alg)
	}
	k, ok := s.cur.Load().signing[alg]
	if !ok {
		return Key{}, fmt.Errorf("keys: %w for %s in %s", ErrNoKey, alg, s.dir)
	}
	return k, nil
}

// Keys returns every loaded key, newest first.
func (s *Set) Keys() []Key { return slices.Clone(s.cur.Load().keys) }

// JWKS returns the public keys as a JSON Web Key Set (RFC 7517 section 5),
// each with kid, alg and use "sig". Every loaded key is published, not only
// the signing ones, so tokens signed before a rotation still verify.
func (s *Set) JWKS() jose.JSONWebKeySet {
	j := s.cur.Load().jwks
	return jose.JSONWebKeySet{Keys: slices.Clone(j.Keys)}
}

// JWKSJSON returns JWKS encoded as JSON, as served at /jwks.json. The
// encoding is built once per load; the returned slice is a copy.
func (s *Set) JWKSJSON() []byte { return bytes.Clone(s.cur.Load().jwksJSON) }

// Reload re-reads the directory. On success the new keys take effect at
// once; on error the previous set stays in use and the error is returned.
// Reload never generates keys.
func (s *Set) Reload() error {
	s.reload.Lock()
	defer s.reload.Unlock()
	snap, err := s.load()
	if err != nil {
		return err
	}
	old := s.cur.Swap(snap)
	s.logChanges(old, snap)
	return nil
}

// Watch polls the directory every interval and reloads when its list of
// "*.pem" files, their sizes or modification times change. A failed reload
// is logged and the previous keys stay in use. Watch returns when ctx ends.
func (s *Set) Watch(ctx context.Context, interval time.Duration) {
	if interval <= 0 {
		interval = 10 * time.Second
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	lastFailed := ""
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		state, err := dirState(s.dir)
		if err != nil {
			s.logger.Warn("watching key directory", "err", err)
			continue
		}
		if state == s.cur.Load().state || state == lastFailed {
			continue
		}
		if err := s.Reload(); err != nil {
			lastFailed = state
			s.logger.Error("reloading keys failed; keeping the previous keys", "err", err)
			continue
		}
		lastFailed = ""
	}
}

func (s *Set) logChanges(old, cur *snapshot) {
	was := map[string]bool{}
	if old != nil {
		for _, k := range old.keys {
			was[k.KID] = true
		}
	}
	for _, k := range cur.keys {
		if !was[k.KID] {
			s.logger.Info("signing key added", "kid", k.KID, "alg", k.Alg, "file", filepath.Base(k.File))
		}
		delete(was, k.KID)
	}
	for kid := range was {
		s.logger.Info("signing key removed", "kid", kid)
	}
}

// pemFiles lists the "*.pem" regular files of dir, sorted by name.
func pemFiles(dir string) ([]fs.DirEntry, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("keys: reading key directory: %w", err)
	}
	var out []fs.DirEntry
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".pem") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		out = append(out, e)
	}
	return out, nil
}

// dirState fingerprints the "*.pem" files of dir: names, sizes, mtimes.
func dirState(dir string) (string, error) {
	files, err := pemFiles(dir)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, e := range files {
		info, err := os.Stat(filepath.Join(dir, e.Name()))
		if err != nil {
			return "", fmt.Errorf("keys: %s: %w", e.Name(), err)
		}
		fmt.Fprintf(&b, "%s\x00%d\x00%d\n", e.Name(), info.Size(), info.ModTime().UnixNano())
	}
	return b.String(), nil
}

func (s *Set) load() (*snapshot, error) {
	files, err := pemFiles(s.dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("keys: %s: %w", s.dir, ErrNoKeys)
		}
		return nil, err
	}
	var (
		keys  []Key
		state strings.Builder
		seen  = map[string]string{}
	)
	for _, e := range files {
		path := filepath.Join(s.dir, e.Name())
		info, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("keys: %s: %w", path, err)
		}
		if !info.Mode().IsRegular() {
			return nil, fmt.Errorf("keys: %s: not a regular file", path)
		}
		fmt.Fprintf(&state, "%s\x00%d\x00%d\n", e.Name(), info.Size(), info.ModTime().UnixNano())
		if info.Mode().Perm()&0o077 != 0 {
			s.logger.Warn("key file is accessible by group or others; chmod 0600 it",
				"file", path, "mode", info.Mode().Perm().String())
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("keys: %s: %w", path, err)
		}
		k, err := ParsePEM(data)
		if err != nil {
			return nil, fmt.Errorf("keys: %s: %w", path, err)
		}
		if prev, dup := seen[k.KID]; dup {
			return nil, fmt.Errorf("keys: %s: same key as %s (kid %s)", path, prev, k.KID)
		}
		seen[k.KID] = path
		k.File = path
		k.ModTime = info.ModTime()
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("keys: %s: %w", s.dir, ErrNoKeys)
	}
	// Newest first: by modification time, then by name (later name wins).
	slices.SortStableFunc(keys, func(a, b Key) int {
		if c := b.ModTime.Compare(a.ModTime); c != 0 {
			return c
		}
		return strings.Compare(filepath.Base(b.File), filepath.Base(a.File))
	})
	snap := &snapshot{keys: keys, signing: map[string]Key{}, state: state.String()}
	for _, k := range keys {
		if _, ok := snap.signing[k.Alg]; !ok {
			snap.signing[k.Alg] = k
		}
		snap.jwks.Keys = append(snap.jwks.Keys, k.PublicJWK())
	}
	snap.jwksJSON, err = json.Marshal(snap.jwks)
	if err != nil {
		return nil, fmt.Errorf("keys: encoding JWKS: %w", err)
	}
	return snap, nil
}

// ParsePEM parses one private key, optionally followed by its certificate
// chain, from PEM data. Accepted blocks are "PRIVATE KEY" (PKCS#8),
// "RSA PRIVATE KEY" (PKCS#1), "EC PRIVATE KEY" (SEC1), "EC PARAMETERS"
// (ignored) and "CERTIFICATE". The returned Key has KID, Alg, Signer and
// Certificates set.
func ParsePEM(data []byte) (Key, error) {
	var (
		k     Key
		found bool
		rest  = data
		n     int
	)
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		n++
		if _, enc := block.Headers["Proc-Type"]; enc {
			return Key{}, errors.New("encrypted PEM keys are not supported")
		}
		switch block.Type {
		case "EC PARAMETERS":
			continue
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return Key{}, fmt.Errorf("certificate %d: %w", len(k.Certificates)+1, err)
			}
			k.Certificates = append(k.Certificates, c)
			continue
		case "PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY":
		case "ENCRYPTED PRIVATE KEY":
			return Key{}, errors.New("encrypted PEM keys are not supported")
		default:
			return Key{}, fmt.Errorf("unexpected PEM block %q", block.Type)
		}
		if found {
			return Key{}, errors.New("more than one private key in the file")
		}
		signer, err := parsePrivateKey(block)
		if err != nil {
			return Key{}, err
		}
		alg, err := checkKey(signer)
		if err != nil {
			return Key{}, err
		}
		k.Signer, k.Alg, found = signer, alg, true
	}
	if n == 0 {
		return Key{}, errors.New("no PEM data")
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return Key{}, errors.New("malformed PEM: trailing data after the last block")
	}
	if !found {
		return Key{}, errors.New("no private key in the file")
	}
	if len(k.Certificates) > 0 && !publicEqual(k.Certificates[0].PublicKey, k.Signer.Public()) {
		return Key{}, errors.New("the first certificate does not match the private key")
	}
	kid, err := Thumbprint(k.Signer.Public())
	if err != nil {
		return Key{}, err
	}
	k.KID = kid
	return k, nil
}

func parsePrivateKey(block *pem.Block) (crypto.Signer, error) {
	var (
		key any
		err error
	)
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", block.Type, err)
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("unsupported key type %T", key)
	}
	return signer, nil
}

// checkKey returns the JWS algorithm of a supported key, or why it is refused.
func checkKey(signer crypto.Signer) (string, error) {
	switch k := signer.(type) {
	case *rsa.PrivateKey:
		if bits := k.N.BitLen(); bits < MinRSABits {
			return "", fmt.Errorf("RSA key of %d bits is too small (minimum %d)", bits, MinRSABits)
		}
		if err := k.Validate(); err != nil {
			return "", fmt.Errorf("invalid RSA key: %w", err)
		}
		return RS256, nil
	case *ecdsa.PrivateKey:
		if k.Curve != elliptic.P256() {
			return "", fmt.Errorf("EC key on curve %s is not supported (only P-256)", k.Curve.Params().Name)
		}
		return ES256, nil
	case ed25519.PrivateKey:
		return EdDSA, nil
	default:
		return "", fmt.Errorf("unsupported key type %T (want RSA, EC P-256 or Ed25519)", signer)
	}
}

func publicEqual(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := a.(equaler)
	return ok && e.Equal(b)
}

// Thumbprint returns the RFC 7638 JWK thumbprint of a public key: the
// base64url (unpadded) SHA-256 of its canonical JWK.
func Thumbprint(pub crypto.PublicKey) (string, error) {
	tp, err := (&jose.JSONWebKey{Key: pub}).Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("computing JWK thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}
