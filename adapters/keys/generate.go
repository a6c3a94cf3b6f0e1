package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Generate creates a new private key for alg (RS256: RSA 2048, ES256: P-256,
// EdDSA: Ed25519) and returns it PEM-encoded as PKCS#8.
func Generate(alg string) ([]byte, error) {
	var (
		key crypto.Signer
		err error
	)
	switch alg {
	case RS256:
		key, err = rsa.GenerateKey(rand.Reader, MinRSABits)
	case ES256:
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case EdDSA:
		_, key, err = ed25519.GenerateKey(rand.Reader)
	default:
		return nil, fmt.Errorf("keys: %w %q", ErrUnknownAlg, alg)
	}
	if err != nil {
		return nil, fmt.Errorf("keys: generating %s key: %w", alg, err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("keys: encoding %s key: %w", alg, err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// generate writes one key per algorithm into s.dir, creating it with mode
// 0700 when missing.
func (s *Set) generate() error {
	if err := os.MkdirAll(s.dir, 0o700); err != nil {
		return fmt.Errorf("keys: creating key directory: %w", err)
	}
	if info, err := os.Stat(s.dir); err == nil && info.Mode().Perm()&0o077 != 0 {
		s.logger.Warn("key directory is accessible by group or others; chmod 0700 it",
			"mode", info.Mode().Perm().String())
	}
	stamp := s.now().UTC().Format("20060102T150405Z")
	for _, alg := range Algs() {
		data, err := Generate(alg)
		if err != nil {
			return err
		}
		name := fmt.Sprintf("%s-%s.pem", stamp, strings.ToLower(alg))
		if err := WriteFile(s.dir, name, data); err != nil {
			return err
		}
		s.logger.Info("generated signing key", "alg", alg, "file", name)
	}
	return nil
}

// WriteFile atomically writes a key file of mode 0600 named name into dir:
// it writes a temporary file, syncs it and renames it into place. It refuses
// to replace an existing file.
func WriteFile(dir, name string, data []byte) (err error) {
	final := filepath.Join(dir, name)
	if _, err := os.Lstat(final); err == nil {
		return fmt.Errorf("keys: %s: %w", final, os.ErrExist)
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("keys: %s: %w", final, err)
	}
	// The temporary name does not end in ".pem", so a crash never leaves a
	// half-written file that the loader would pick up.
	f, err := os.CreateTemp(dir, ".key-*.tmp")
	if err != nil {
		return fmt.Errorf("keys: creating temporary key file: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(tmp)
		}
	}()
	if err = f.Chmod(0o600); err != nil {
		return fmt.Errorf("keys: %s: %w", tmp, err)
	}
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("keys: writing %s: %w", tmp, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("keys: syncing %s: %w", tmp, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("keys: closing %s: %w", tmp, err)
	}
	if err = os.Rename(tmp, final); err != nil {
		return fmt.Errorf("keys: renaming %s to %s: %w", tmp, final, err)
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
