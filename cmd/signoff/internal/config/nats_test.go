package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/nats-io/nkeys"
)

const (
	pub  = "public_url: https://auth.example.com\n"
	ext  = pub + "nats:\n  url: nats://n1:4222\n"
	embd = pub + "nats:\n  listen: 127.0.0.1:4222\n"
)

func userNkey(t *testing.T) (pubKey, seed string) {
	t.Helper()
	kp, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	p, _ := kp.PublicKey()
	s, _ := kp.Seed()
	return p, string(s)
}

// TestNATSAuthValidation: every bad combination of the authentication keys
// of nats stops loading with one error naming the key and its line.
func TestNATSAuthValidation(t *testing.T) {
	nk, seed := userNkey(t)
	tests := []struct {
		name string
		yaml string // the line of the error carries a "#<" marker
		env  map[string]string
		path string
		msg  string
	}{
		// The embedded server exposed with nats.listen.
		{"listen without users", pub + "nats:\n  listen: 127.0.0.1:4222 #<\n", nil, "nats.listen", "requires nats.users (name, password_file or nkey, role)"},
		{"listen, allow_anonymous false", pub + "nats:\n  listen: 127.0.0.1:4222 #<\n  allow_anonymous: false\n", nil, "nats.listen", "requires nats.users"},
		{"password_file and nkey", embd + "  users:\n    - name: idp #<\n      password_file: idp.pw\n      nkey: " + nk + "\n      role: idp\n", nil, "nats.users[0]", "has password_file and nkey: use one"},
		{"neither password_file nor nkey", embd + "  users:\n    - name: idp #<\n      role: idp\n", nil, "nats.users[0]", "needs password_file or nkey"},
		{"unknown role", embd + "  users:\n    - name: idp\n      password_file: idp.pw\n      role: admin #<\n", nil, "nats.users[0].role", `must be idp or observer, got "admin"`},
		{"missing role", embd + "  users:\n    - name: idp #<\n      password_file: idp.pw\n", nil, "nats.users[0].role", "required: idp or observer"},
		{"internal user name", embd + "  users:\n    - name: signoff-internal #<\n      password_file: x.pw\n      role: idp\n", nil, "nats.users[0].name", `names starting with "signoff" are reserved for signoff's own connections`},
		{"internal user name, other case", embd + "  users:\n    - name: SignOff #<\n      password_file: x.pw\n      role: observer\n", nil, "nats.users[0].name", `names starting with "signoff" are reserved`},
		{"duplicate user", embd + "  users:\n    - {name: idp, password_file: a.pw, role: idp}\n    - {name: idp, password_file: b.pw, role: observer} #<\n", nil, "nats.users[1].name", `"idp" is already the name of nats.users[0]`},
		{"user name", embd + "  users:\n    - {name: 'i d p', password_file: a.pw, role: idp} #<\n", nil, "nats.users[0].name", "must be 1-64 characters"},
		{"nkey is a seed", embd + "  users:\n    - name: idp\n      nkey: " + seed + " #<\n      role: idp\n", nil, "nats.users[0].nkey", "must be a public user nkey"},
		{"users without listen", pub + "nats:\n  users: #<\n    - {name: idp, password_file: a.pw, role: idp}\n", nil, "nats.users", "needs nats.listen"},
		{"allow_anonymous without listen", pub + "nats:\n  allow_anonymous: true #<\n", nil, "nats.allow_anonymous", "needs nats.listen"},
		{"client auth with the embedded server", embd + "  allow_anonymous: true\n  creds_file: signoff.creds #<\n", nil, "nats.creds_file", "is for an external NATS (nats.url)"},
		{"client tls with the embedded server", embd + "  allow_anonymous: true\n  tls: {ca_file: ca.pem} #<\n", nil, "nats.tls", "is for an external NATS"},
		{"token env with the embedded server", embd + "  allow_anonymous: true\n", map[string]string{EnvNATSToken: "t0k"}, "nats.token_file", "is for an external NATS"},

		// An external NATS with nats.url.
		{"user without password", ext + "  user: signoff #<\n", nil, "nats.user", "needs nats.password_file (or SIGNOFF_NATS_PASSWORD)"},
		{"password_file without user", ext + "  password_file: signoff.pw #<\n", nil, "nats.password_file", "needs nats.user"},
		{"password env without user", ext, map[string]string{EnvNATSPassword: "pw"}, "nats.password_file", "needs nats.user (set by SIGNOFF_NATS_PASSWORD)"},
		{"two methods", ext + "  creds_file: signoff.creds\n  token_file: token #<\n", nil, "nats.token_file", "cannot be combined with nats.creds_file"},
		{"nkey and user", ext + "  nkey_seed_file: signoff.nk\n  user: signoff #<\n  password_file: pw\n", nil, "nats.user", "cannot be combined with nats.nkey_seed_file"},
		{"credentials in URL and keys", pub + "nats:\n  url: nats://u:p@n1:4222 #<\n  token_file: t\n", nil, "nats.url", "has credentials in it besides nats.token_file"},
		{"users with url", ext + "  users: #<\n    - {name: idp, password_file: a.pw, role: idp}\n", nil, "nats.users", "configures the embedded server, which does not run when nats.url is set"},
		{"allow_anonymous with url", ext + "  allow_anonymous: true #<\n", nil, "nats.allow_anonymous", "configures the embedded server"},
		{"cert without key", ext + "  tls: #<\n    cert_file: c.pem\n", nil, "nats.tls.key_file", "required with nats.tls.cert_file"},
		{"key without cert", ext + "  tls: #<\n    key_file: k.pem\n", nil, "nats.tls.cert_file", "required with nats.tls.key_file"},
		{"unknown key", ext + "  tls:\n    ca: c.pem #<\n", nil, "", `unknown key "ca" in nats.tls`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var env func(string) string
			if tt.env != nil {
				env = func(k string) string { return tt.env[k] }
			}
			_, err := Parse([]byte(tt.yaml), "signoff.yaml", env)
			if err == nil {
				t.Fatal("Parse succeeded, want an error")
			}
			want := "signoff.yaml: " + tt.path + ": " + tt.msg
			switch {
			case strings.Contains(tt.yaml, "#<") && tt.path == "":
				want = "signoff.yaml:" + strconv.Itoa(markedLine(t, tt.yaml)) + ": " + tt.msg
			case strings.Contains(tt.yaml, "#<"):
				want = "signoff.yaml:" + strconv.Itoa(markedLine(t, tt.yaml)) + ": " + tt.path + ": " + tt.msg
			case tt.env != nil:
				want = tt.path + ": " + tt.msg
			}
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error =\n%v\nwant it to contain\n%s", err, want)
			}
			if n := len(errorList(err)); n != 1 {
				t.Errorf("got %d errors, want exactly 1:\n%v", n, err)
			}
			for _, v := range tt.env {
				if strings.Contains(err.Error(), v) {
					t.Errorf("the secret %q is in the error %v", v, err)
				}
			}
		})
	}
}

func TestNATSAuthValid(t *testing.T) {
	nk, _ := userNkey(t)
	for name, y := range map[string]string{
		"users":             embd + "  users:\n    - {name: idp, password_file: idp.pw, role: idp}\n    - {name: dashboard, nkey: " + nk + ", role: observer}\n",
		"anonymous":         embd + "  allow_anonymous: true\n",
		"in-process":        pub + "nats: {}\n",
		"creds":             ext + "  creds_file: signoff.creds\n",
		"nkey":              ext + "  nkey_seed_file: signoff.nk\n",
		"user":              ext + "  user: signoff\n  password_file: pw\n",
		"token":             ext + "  token_file: tok\n",
		"tls":               ext + "  tls: {ca_file: ca.pem, cert_file: c.pem, key_file: k.pem, server_name: nats.internal}\n  user: signoff\n  password_file: pw\n",
		"url with userinfo": pub + "nats:\n  url: nats://u:p@n1:4222\n",
	} {
		if _, err := Parse([]byte(y), "signoff.yaml", nil); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	env := map[string]string{EnvNATSPassword: "from-env"}
	c, err := Parse([]byte(ext+"  user: signoff\n"), "signoff.yaml", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	a, err := c.NATSAuth()
	if err != nil || a.User != "signoff" || a.Password != "from-env" {
		t.Fatalf("NATSAuth = %+v, %v; want the password of SIGNOFF_NATS_PASSWORD", a, err)
	}
	if s := fmt.Sprintf("%+v %#v", c, c.NATS); strings.Contains(s, "from-env") {
		t.Errorf("the password is in the printed Config: %s", s)
	}
}

// TestNATSAuthFiles: NATSAuth reads the secrets from files relative to the
// config file, and a missing file stops start-up naming its key and line.
func TestNATSAuthFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("signoff.pw", "s3cret\n")
	write("idp.pw", "idp-s3cret\r\n")
	write("empty.pw", "\n")
	write("ca.pem", "x")
	name := filepath.Join(dir, "signoff.yaml")

	load := func(y string) (*NATSAuth, error) {
		t.Helper()
		c, err := Parse([]byte(y), name, nil)
		if err != nil {
			t.Fatalf("Parse: %v", err)
		}
		return c.NATSAuth()
	}
	a, err := load(ext + "  user: signoff\n  password_file: signoff.pw\n  tls: {ca_file: ca.pem}\n")
	if err != nil {
		t.Fatal(err)
	}
	if a.Password != "s3cret" || a.TLS.CAFile != filepath.Join(dir, "ca.pem") {
		t.Errorf("NATSAuth = %+v", a)
	}
	a, err = load(embd + "  users:\n    - {name: idp, password_file: idp.pw, role: idp}\n")
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Users) != 1 || a.Users[0].Password != "idp-s3cret" || a.Users[0].Role != RoleIDP {
		t.Errorf("Users = %+v", a.Users)
	}

	for _, tt := range []struct{ yaml, path, msg string }{
		{ext + "  creds_file: missing.creds #<\n", "nats.creds_file", filepath.Join(dir, "missing.creds") + " does not exist"},
		{ext + "  nkey_seed_file: missing.nk #<\n", "nats.nkey_seed_file", "does not exist"},
		{ext + "  user: signoff\n  password_file: missing.pw #<\n", "nats.password_file", "does not exist"},
		{ext + "  token_file: missing.tok #<\n", "nats.token_file", "does not exist"},
		{ext + "  token_file: empty.pw #<\n", "nats.token_file", "empty.pw is empty"},
		{ext + "  tls:\n    ca_file: missing.pem #<\n", "nats.tls.ca_file", "does not exist"},
		{ext + "  tls:\n    cert_file: c.pem #<\n    key_file: k.pem\n", "nats.tls.cert_file", "does not exist"},
		{embd + "  users:\n    - name: idp\n      password_file: missing.pw #<\n      role: idp\n", "nats.users[0].password_file", "does not exist"},
	} {
		_, err := load(tt.yaml)
		want := name + ":" + strconv.Itoa(markedLine(t, tt.yaml)) + ": " + tt.path + ": "
		var fe *FieldError
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), tt.msg) || !errors.As(err, &fe) {
			t.Errorf("NATSAuth error = %v, want %s... %s", err, want, tt.msg)
		}
	}
}
