// Command clusterinit prepares the directory that the instances of
// Procfile.cluster share: the signing keys (DIR/keys, one RSA-2048, one
// P-256 and one Ed25519 key, PKCS#8 PEM, as signoff generates them) and
// the secret (DIR/secret.key, 48 random bytes, base64). Every instance of
// a cluster must sign with the same keys and seal with the same secret
// (README "Scaling out onto a NATS cluster"), so neither can be left to
// each instance's first start.
//
//	go run ./cmd/signoff/examples/clusterinit DIR
//
// It never replaces what exists and is safe to run from several processes
// at once: the keys are written into a temporary directory renamed into
// place, the secret into a temporary file hard-linked into place; the
// first run wins.
package main

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/signoff/signoff/adapters/keys"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: clusterinit DIR")
		os.Exit(2)
	}
	if err := initDir(os.Args[1]); err != nil {
		fmt.Fprintf(os.Stderr, "clusterinit: %v\n", err)
		os.Exit(1)
	}
}

// initDir creates dir/keys and dir/secret.key unless they exist.
func initDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := initKeys(filepath.Join(dir, "keys")); err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	if err := initSecret(filepath.Join(dir, "secret.key")); err != nil {
		return fmt.Errorf("secret: %w", err)
	}
	return nil
}

func initKeys(final string) error {
	if _, err := os.Stat(final); err == nil {
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	tmp, err := os.MkdirTemp(filepath.Dir(final), ".keys-*") // mode 0700
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp) // after a successful rename there is nothing left to remove
	for _, alg := range keys.Algs() {
		data, err := keys.Generate(alg)
		if err != nil {
			return err
		}
		if err := keys.WriteFile(tmp, "cluster-"+strings.ToLower(alg)+".pem", data); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, final); err != nil {
		if _, serr := os.Stat(final); serr == nil {
			return nil // another run got there first
		}
		return err
	}
	return nil
}

func initSecret(final string) error {
	if _, err := os.Stat(final); err == nil {
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	b := make([]byte, 48)
	if _, err := rand.Read(b); err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(final), ".secret-*") // mode 0600
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString(base64.RawURLEncoding.EncodeToString(b) + "\n"); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := os.Link(f.Name(), final); err != nil && !errors.Is(err, os.ErrExist) {
		return err
	}
	return nil
}
