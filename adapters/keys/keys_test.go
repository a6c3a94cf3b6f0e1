package keys

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/signoff/signoff/events/eventstest"
)

var fixedNow = func() time.Time { return time.Date(2026, 8, 7, 12, 0, 0, 0, time.UTC) }

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func kids(s *Set) []string {
	var out []string
	for _, k := range s.Keys() {
		out = append(out, k.KID)
	}
	slices.Sort(out)
	return out
}

func TestOpenGeneratesKeys(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "keys")
	s, err := Open(dir, true, fixedNow, quietLogger())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	info, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != 0o700 {
		t.Errorf("dir mode = %o, want 700", got)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 {
		t.Fatalf("generated %d files, want 3: %v", len(entries), entries)
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".pem") {
			t.Errorf("leftover non-key file %s", e.Name())
		}
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		if got := fi.Mode().Perm(); got != 0o600 {
			t.Errorf("%s mode = %o, want 600", e.Name(), got)
		}
		data, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		if b, _ := pem.Decode(data); b == nil || b.Type != "PRIVATE KEY" {
			t.Errorf("%s is not a PKCS#8 PEM file", e.Name())
		}
	}
	for _, alg := range Algs() {
		k, err := s.Signing(alg)
		if err != nil {
			t.Fatalf("Signing(%s): %v", alg, err)
		}
		if k.Alg != alg || k.KID == "" {
			t.Errorf("Signing(%s) = alg %q kid %q", alg, k.Alg, k.KID)
		}
		tp, err := Thumbprint(k.Public())
		if err != nil || tp != k.KID {
			t.Errorf("kid %q is not the RFC 7638 thumbprint %q (%v)", k.KID, tp, err)
		}
	}
	if k, _ := s.Signing(RS256); k.Signer.(*rsa.PrivateKey).N.BitLen() != 2048 {
		t.Errorf("generated RSA key is not 2048 bits")
	}

	// Reopening loads the same keys and does not generate again.
	s2, err := Open(dir, true, fixedNow, quietLogger())
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	if a, b := kids(s), kids(s2); !slices.Equal(a, b) {
		t.Errorf("reopen kids = %v, want %v", b, a)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 3 {
		t.Errorf("reopen generated more keys: %d files", len(entries))
	}
}

func TestOpenWithoutGenerate(t *testing.T) {
	_, err := Open(t.TempDir(), false, fixedNow, quietLogger())
	if !errors.Is(err, ErrNoKeys) {
		t.Fatalf("Open(empty, false) = %v, want ErrNoKeys", err)
	}
	_, err = Open(filepath.Join(t.TempDir(), "missing"), false, fixedNow, quietLogger())
	if !errors.Is(err, ErrNoKeys) {
		t.Fatalf("Open(missing, false) = %v, want ErrNoKeys", err)
	}
}

func TestSigningErrors(t *testing.T) {
	dir := t.TempDir()
	writeKey(t, dir, "only-ec.pem", mustGenerate(t, ES256), time.Now())
	s, err := Open(dir, true, fixedNow, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("Open generated keys although the directory had one")
	}
	if _, err := s.Signing("HS256"); !errors.Is(err, ErrUnknownAlg) {
		t.Errorf("Signing(HS256) = %v, want ErrUnknownAlg", err)
	}
	if _, err := s.Signing(RS256); !errors.Is(err, ErrNoKey) {
		t.Errorf("Signing(RS256) without RSA key = %v, want ErrNoKey", err)
	}
}

func TestMalformedPEMNamesFile(t *testing.T) {
	dir := t.TempDir()
	writeKey(t, dir, "good.pem", mustGenerate(t, ES256), time.Now())
	bad := []byte("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n")
	writeKey(t, dir, "broken.pem", bad, time.Now())
	_, err := Open(dir, false, fixedNow, quietLogger())
	if err == nil || !strings.Contains(err.Error(), "broken.pem") {
		t.Fatalf("Open = %v, want an error naming broken.pem", err)
	}

	garbage := t.TempDir()
	writeKey(t, garbage, "junk.pem", []byte("hello"), time.Now())
	if _, err := Open(garbage, true, fixedNow, quietLogger()); err == nil || !strings.Contains(err.Error(), "junk.pem") {
		t.Fatalf("Open(garbage) = %v, want an error naming junk.pem", err)
	}
}

func TestRefusesWeakOrUnsupportedKeys(t *testing.T) {
	small, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p384der, _ := x509.MarshalECPrivateKey(p384)
	cases := map[string]struct {
		data []byte
		want string
	}{
		"small-rsa.pem": {pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(small)}), "1024 bits"},
		"p384.pem":      {pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: p384der}), "P-384"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			writeKey(t, dir, name, c.data, time.Now())
			_, err := Open(dir, true, fixedNow, quietLogger())
			if err == nil || !strings.Contains(err.Error(), name) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Open = %v, want an error naming %s and %q", err, name, c.want)
			}
		})
	}
}

func TestLoadsPKCS1AndSEC1(t *testing.T) {
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	ek, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ekDER, _ := x509.MarshalECPrivateKey(ek)
	dir := t.TempDir()
	writeKey(t, dir, "rsa.pem", pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rk)}), time.Now())
	// openssl ecparam -genkey writes an EC PARAMETERS block first.
	ecPEM := append(pem.EncodeToMemory(&pem.Block{Type: "EC PARAMETERS", Bytes: []byte{6, 8, 42, 134, 72, 206, 61, 3, 1, 7}}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: ekDER})...)
	writeKey(t, dir, "ec.pem", ecPEM, time.Now())
	s, err := Open(dir, false, fixedNow, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	if k, err := s.Signing(RS256); err != nil || !k.Signer.(*rsa.PrivateKey).Equal(rk) {
		t.Errorf("PKCS#1 RSA key not loaded: %v", err)
	}
	if k, err := s.Signing(ES256); err != nil || !k.Signer.(*ecdsa.PrivateKey).Equal(ek) {
		t.Errorf("SEC1 EC key not loaded: %v", err)
	}
}

func TestReloadRotates(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Now().Add(-time.Hour)
	writeKey(t, dir, "a-es256.pem", mustGenerate(t, ES256), t0)
	writeKey(t, dir, "a-rs256.pem", mustGenerate(t, RS256), t0)
	s, err := Open(dir, false, fixedNow, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	old, _ := s.Signing(ES256)
	oldRSA, _ := s.Signing(RS256)
	oldJSON := s.JWKSJSON()

	writeKey(t, dir, "b-es256.pem", mustGenerate(t, ES256), t0.Add(time.Minute))
	if err := s.Reload(); err != nil {
		t.Fatalf("Reload: %v", err)
	}
	cur, err := s.Signing(ES256)
	if err != nil {
		t.Fatal(err)
	}
	if cur.KID == old.KID || filepath.Base(cur.File) != "b-es256.pem" {
		t.Errorf("after Reload ES256 signer = %s (%s), want the new key", cur.KID, cur.File)
	}
	if r, _ := s.Signing(RS256); r.KID != oldRSA.KID {
		t.Errorf("RS256 signer changed on an ES256 rotation")
	}
	jwks := s.JWKS()
	if len(jwks.Key(old.KID)) != 1 || len(jwks.Key(cur.KID)) != 1 || len(jwks.Keys) != 3 {
		t.Errorf("JWKS after rotation has %d keys; old present %v, new present %v",
			len(jwks.Keys), len(jwks.Key(old.KID)) == 1, len(jwks.Key(cur.KID)) == 1)
	}
	for _, k := range jwks.Keys {
		if !k.IsPublic() || k.Use != "sig" || k.Algorithm == "" || k.KeyID == "" {
			t.Errorf("JWKS key %s: public %v use %q alg %q", k.KeyID, k.IsPublic(), k.Use, k.Algorithm)
		}
	}
	newJSON := s.JWKSJSON()
	if bytes.Equal(oldJSON, newJSON) {
		t.Errorf("JWKSJSON not rebuilt on reload")
	}
	var parsed jose.JSONWebKeySet
	if err := json.Unmarshal(newJSON, &parsed); err != nil || len(parsed.Keys) != 3 {
		t.Errorf("JWKSJSON does not decode into 3 keys: %v", err)
	}
	if strings.Contains(string(newJSON), `"d"`) {
		t.Errorf("JWKSJSON leaks private key material")
	}

	// Same mtime: the later file name wins.
	writeKey(t, dir, "c-es256.pem", mustGenerate(t, ES256), t0.Add(time.Minute))
	if err := s.Reload(); err != nil {
		t.Fatal(err)
	}
	if k, _ := s.Signing(ES256); filepath.Base(k.File) != "c-es256.pem" {
		t.Errorf("tie on mtime: signer %s, want c-es256.pem", k.File)
	}

	// A broken file makes Reload fail and keeps the previous set.
	before, _ := s.Signing(ES256)
	writeKey(t, dir, "d-broken.pem", []byte("-----BEGIN PRIVATE KEY-----\n-----END PRIVATE KEY-----\n"), t0.Add(2*time.Minute))
	if err := s.Reload(); err == nil || !strings.Contains(err.Error(), "d-broken.pem") {
		t.Fatalf("Reload with broken file = %v, want an error naming it", err)
	}
	if k, _ := s.Signing(ES256); k.KID != before.KID || len(s.JWKS().Keys) != 4 {
		t.Errorf("failed Reload changed the set")
	}
}

func TestWatchReloads(t *testing.T) {
	dir := t.TempDir()
	writeKey(t, dir, "a.pem", mustGenerate(t, EdDSA), time.Now().Add(-time.Hour))
	s, err := Open(dir, false, fixedNow, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Watch(ctx, 10*time.Millisecond); close(done) }()
	defer func() { cancel(); <-done }()

	writeKey(t, dir, "b.pem", mustGenerate(t, EdDSA), time.Now())
	eventstest.Eventually(t, 5*time.Second, func() bool { return len(s.JWKS().Keys) == 2 }, "the JWKS does not hold 2 keys")
	if k, _ := s.Signing(EdDSA); filepath.Base(k.File) != "b.pem" {
		t.Errorf("Watch: signer %s, want b.pem", k.File)
	}
}

func TestKeyFileWithCertificate(t *testing.T) {
	dir := t.TempDir()
	data := mustGenerate(t, ES256)
	k, err := ParsePEM(data)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: bigOne(), NotBefore: time.Now(), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k.Signer)
	if err != nil {
		t.Fatal(err)
	}
	writeKey(t, dir, "with-cert.pem", append(data, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...), time.Now())
	s, err := Open(dir, false, fixedNow, quietLogger())
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Signing(ES256); len(got.Certificates) != 1 {
		t.Errorf("certificate not loaded")
	}
	// A certificate of another key is refused.
	other := mustGenerate(t, ES256)
	writeKey(t, dir, "mismatch.pem", append(other, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...), time.Now())
	if err := s.Reload(); err == nil || !strings.Contains(err.Error(), "mismatch.pem") {
		t.Errorf("Reload with mismatched certificate = %v", err)
	}
}

func mustGenerate(t testing.TB, alg string) []byte {
	t.Helper()
	data, err := Generate(alg)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func writeKey(t testing.TB, dir, name string, data []byte, mtime time.Time) {
	t.Helper()
	if err := WriteFile(dir, name, data); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(filepath.Join(dir, name), mtime, mtime); err != nil {
		t.Fatal(err)
	}
}

func bigOne() *big.Int { return big.NewInt(1) }

func TestWarnsOnReadableKeyFile(t *testing.T) {
	dir := t.TempDir()
	writeKey(t, dir, "k.pem", mustGenerate(t, EdDSA), time.Now())
	if err := os.Chmod(filepath.Join(dir, "k.pem"), 0o644); err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := Open(dir, false, fixedNow, slog.New(slog.NewTextHandler(&buf, nil))); err != nil {
		t.Fatalf("a group-readable key must still load: %v", err)
	}
	if !strings.Contains(buf.String(), "level=WARN") || !strings.Contains(buf.String(), "k.pem") {
		t.Errorf("no warning about the readable key file; log:\n%s", buf.String())
	}
}
