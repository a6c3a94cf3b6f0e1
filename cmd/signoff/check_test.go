package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const validSPMetadata = "examples/payroll-sp.xml"

// TestCheck: `signoff check` validates offline, reads every file the
// config names, reports every problem at once (exit 1) and writes nothing.
func TestCheck(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	sp, err := os.ReadFile(validSPMetadata)
	if err != nil {
		t.Fatal(err)
	}
	write("good-sp.xml", string(sp))
	write("garbage-sp.xml", "<md:EntityDescriptor")
	write("idp.password", "secret\n")
	write("a-file", "x")
	os.Mkdir(filepath.Join(dir, "emptykeys"), 0o700)
	data := filepath.Join(dir, "data")

	tests := []struct {
		name     string
		yaml     string
		wantCode int
		want     []string // in the output
	}{
		{"ssf token file missing", "public_url: https://auth.example.com\ndata_dir: " + data + "\nrelying_parties:\n  - id: vpn\n    ssf:\n      delivery: poll\n      bearer_token_file: vpn.token\n      audience: vpn\n",
			1, []string{"c.yaml:7: relying_parties[0].ssf.bearer_token_file: " + filepath.Join(dir, "vpn.token") + " does not exist"}},
		{"valid", `public_url: https://auth.example.com
data_dir: ` + data + `
nats:
  listen: 127.0.0.1:4222
  users: [{name: idp, password_file: idp.password, role: idp}]
relying_parties:
  - id: payroll
    saml: {metadata_file: good-sp.xml}
`, 0, []string{"is valid: 1 relying party; every file it names was read"}},
		{"keycloak bridge", "public_url: https://auth.example.com\ndata_dir: " + data + "\nrelying_parties:\n  - id: payroll\n    saml: {metadata_file: good-sp.xml}\nbridges:\n  keycloak:\n    subject: signoff.>\n    clients: {web-app: wiki, hr-app: payroll}\n",
			1, []string{"c.yaml:7: bridges.keycloak.realm: required", `c.yaml:8: bridges.keycloak.subject: "signoff.>" overlaps`,
				`c.yaml:9: bridges.keycloak.clients.web-app: "wiki" is not the id of a relying party`, `c.yaml:9: bridges.keycloak.clients.hr-app: relying party "payroll" has no oidc block`}},
		{"every problem at once", `public_url: https://auth.example.com
listen: 127.0.0.1:99999
data_dir: ` + data + `
keys:
  dir: ` + filepath.Join(dir, "nokeys") + `
nats:
  listen: 127.0.0.1:99999
  users:
    - {name: idp, password_file: missing.password, role: idp}
    - {name: obs, password_file: idp.password, role: observer}
relying_parties:
  - id: payroll
    saml: {metadata_file: missing-sp.xml}
  - id: hr
    saml: {metadata_file: garbage-sp.xml}
  - id: chat
    saml:
      entity_id: https://chat.example.com/saml
      certificate_file: missing.pem
      slo_redirect_url: https://chat.example.com/slo
`, 1, []string{
			"7 problem(s)",
			"c.yaml:2: listen: port must be a number from 0 to 65535",
			`c.yaml:5: keys.dir: signing keys:`,
			`c.yaml:7: nats.listen: port must be a number from 0 to 65535; got "99999"`,
			"c.yaml:9: nats.users[0].password_file: " + filepath.Join(dir, "missing.password") + " does not exist",
			"c.yaml:13: relying_parties[0].saml.metadata_file: " + filepath.Join(dir, "missing-sp.xml") + ": no such file or directory",
			"c.yaml:15: relying_parties[1].saml.metadata_file: " + filepath.Join(dir, "garbage-sp.xml") + ":",
			"c.yaml:19: relying_parties[2].saml.certificate_file: " + filepath.Join(dir, "missing.pem") + ": no such file or directory",
		}},
		{"fanout and upstream refusals", `public_url: https://auth.example.com
data_dir: ` + data + `
upstreams:
  - {id: corp, issuer: 'https://idp.example.com', jwks_uri: 'https://idp.example.com/jwks'}
relying_parties:
  - id: crm
    oidc: {client_id: crm, backchannel_logout_uri: 'https://crm.example.com/bc', backchannel_logout_session_required: true}
    fanout: always
  - id: payroll
    saml: {metadata_file: good-sp.xml}
    fanout: always
`, 1, []string{
			"3 problem(s)",
			"c.yaml:4: upstreams[0].client_id: required",
			"c.yaml:7: relying_parties[0].oidc.backchannel_logout_session_required: must be false with fanout: always",
			"c.yaml:10: relying_parties[1].saml.name_id: must be subject with fanout: always",
		}},
		{"ssf transmitter problems", `public_url: https://auth.example.com
data_dir: ` + data + `
ssf:
  transmitters:
    - id: okta
      issuer: https://okta.example.com
      audience: https://auth.example.com
      discovery: true
      auth: {bearer_token_file: missing.token}
    - id: okta
      issuer: https://okta2.example.com
      audience: https://auth.example.com
      discovery: true
`, 1, []string{
			"3 problem(s)",
			"c.yaml:9: ssf.transmitters[0].auth.bearer_token_file: " + filepath.Join(dir, "missing.token") + " does not exist",
			`c.yaml:10: ssf.transmitters[1].id: "okta" is already the id of ssf.transmitters[0]`,
			"c.yaml:10: ssf.transmitters[1]: needs auth (to accept pushes at /ssf/events) or poll",
		}},
		{"keys.dir without keys", "public_url: https://auth.example.com\ndata_dir: " + data + "\nkeys: {dir: " + filepath.Join(dir, "emptykeys") + "}\n",
			1, []string{"c.yaml:3: keys.dir: signing keys:", "no keys"}},
		{"data_dir is a file", "public_url: https://auth.example.com\ndata_dir: " + filepath.Join(dir, "a-file", "sub") + "\n",
			1, []string{"c.yaml:2: data_dir: " + filepath.Join(dir, "a-file") + " is not a directory"}},
		{"metrics.listen", "public_url: https://auth.example.com\ndata_dir: " + data + "\nmetrics:\n  listen: localhost:metrics\n",
			1, []string{`c.yaml:4: metrics.listen: port must be a number from 0 to 65535; got "metrics"`}},
		{"metrics.listen unknown key", "public_url: https://auth.example.com\nmetrics:\n  listn: 127.0.0.1:9090\n", 1, []string{`c.yaml:3: unknown key "listn" in metrics (did you mean "listen"?)`}},
		{"unknown key stops at once", "public_url: https://auth.example.com\nlisen: 127.0.0.1:8080\n", 1, []string{`c.yaml:2: unknown key "lisen" (did you mean "listen"?)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := write("c.yaml", tt.yaml)
			before := listTree(t, dir)
			var out, errb bytes.Buffer
			code := run([]string{"check", "--config", path}, &out, &errb)
			all := out.String() + errb.String()
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d; output:\n%s", code, tt.wantCode, all)
			}
			for _, w := range tt.want {
				if !strings.Contains(all, w) {
					t.Errorf("output\n%s\ndoes not contain %q", all, w)
				}
			}
			if after := listTree(t, dir); !slices.Equal(before, after) {
				t.Errorf("check wrote files: before %v, after %v", before, after)
			}
		})
	}
	var out, errb bytes.Buffer
	if code := run([]string{"check", "--config", filepath.Join(dir, "nope.yaml")}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "nope.yaml") {
		t.Errorf("missing config: exit %d, stderr %q", code, errb.String())
	}
}

// TestServeBrokenConfigWritesNothing: serve reads every file before it
// creates data_dir or generates keys (the example's missing payroll-sp.xml
// used to leave keys behind in ./data).
func TestServeBrokenConfigWritesNothing(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	cfg := filepath.Join(dir, "signoff.yaml")
	os.WriteFile(cfg, []byte("public_url: https://auth.example.com\nlisten: 127.0.0.1:0\ndata_dir: "+data+
		"\nrelying_parties:\n  - id: payroll\n    saml: {metadata_file: payroll-sp.xml}\n"), 0o600)
	var out, errb bytes.Buffer
	code := run([]string{"serve", "--config", cfg}, &out, &errb)
	if code != 1 || !strings.Contains(errb.String(), "signoff.yaml:6: relying_parties[0].saml.metadata_file: ") {
		t.Errorf("exit %d, stderr %q", code, errb.String())
	}
	if _, err := os.Stat(data); !os.IsNotExist(err) {
		t.Errorf("data_dir was created: %v", err)
	}
}

// TestCheckExamples: every signoff configuration under examples/ passes
// `signoff check`, and checking writes nothing (not even ./data).
func TestCheckExamples(t *testing.T) {
	files, err := filepath.Glob("examples/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains("\n"+string(b), "\npublic_url:") {
			continue // not a signoff configuration (compose.yaml)
		}
		n++
		t.Run(filepath.Base(f), func(t *testing.T) {
			for _, k := range []string{"SIGNOFF_LISTEN", "SIGNOFF_DATA_DIR", "SIGNOFF_NATS_URL", "SIGNOFF_NATS_PASSWORD", "SIGNOFF_NATS_TOKEN"} {
				t.Setenv(k, "")
			}
			_, statErr := os.Stat("data")
			var out, errb bytes.Buffer
			if code := run([]string{"check", "--config", f}, &out, &errb); code != 0 {
				t.Errorf("signoff check --config %s: exit %d\n%s%s", f, code, out.String(), errb.String())
			}
			if _, err := os.Stat("data"); os.IsNotExist(statErr) && !os.IsNotExist(err) {
				t.Errorf("signoff check created ./data")
			}
		})
	}
	if n < 2 {
		t.Errorf("found %d example configurations, want at least signoff.yaml and local.yaml", n)
	}
}

// TestComposeExample: the signoff service of examples/compose.yaml runs a
// configuration that `signoff check` accepts with the service's
// environment, mounted where the Dockerfile's CMD reads it, and talks to
// the compose file's NATS service.
func TestComposeExample(t *testing.T) {
	b, err := os.ReadFile("examples/compose.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var compose struct {
		Services map[string]struct {
			Command     []string          `yaml:"command"`
			Environment map[string]string `yaml:"environment"`
			Volumes     []string          `yaml:"volumes"`
		} `yaml:"services"`
	}
	if err := yaml.Unmarshal(b, &compose); err != nil {
		t.Fatal(err)
	}
	s, ok := compose.Services["signoff"]
	if !ok {
		t.Fatal("no signoff service")
	}
	if _, ok := compose.Services["nats"]; !ok {
		t.Fatal("no nats service")
	}
	dockerfile, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	const target = "/etc/signoff/signoff.yaml"
	if !strings.Contains(string(dockerfile), `CMD ["--config", "`+target+`"]`) || !slices.Equal(s.Command, []string{"--config", target}) {
		t.Errorf("the Dockerfile's CMD and the compose command should both read %s; compose: %v", target, s.Command)
	}
	var config string
	for _, v := range s.Volumes {
		if src, dst, ok := strings.Cut(v, ":"); ok && strings.HasPrefix(dst, target) {
			config = filepath.Join("examples", src)
		}
	}
	if config == "" {
		t.Fatalf("no volume mounts a config at %s: %v", target, s.Volumes)
	}
	if got := s.Environment["SIGNOFF_NATS_URL"]; got != "nats://nats:4222" {
		t.Errorf("SIGNOFF_NATS_URL = %q, want the nats service", got)
	}
	env := func(k string) string {
		if k == "SIGNOFF_DATA_DIR" {
			return t.TempDir() // /data in the container
		}
		return s.Environment[k]
	}
	cfg, err := checkConfig(config, env)
	if err != nil {
		t.Fatalf("signoff check %s with the compose environment: %v", config, err)
	}
	if cfg.Listen != "0.0.0.0:8080" || cfg.NATS.URL != "nats://nats:4222" {
		t.Errorf("listen %q, nats.url %q", cfg.Listen, cfg.NATS.URL)
	}
}
