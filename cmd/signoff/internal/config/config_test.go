package config

import (
	"errors"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// envMap returns an env lookup backed by m.
func envMap(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// markedLine returns the 1-based line of the first line of y containing "#<".
func markedLine(t *testing.T, y string) int {
	t.Helper()
	for i, l := range strings.Split(y, "\n") {
		if strings.Contains(l, "#<") {
			return i + 1
		}
	}
	t.Fatalf("no #< marker in:\n%s", y)
	return 0
}

// errorList returns the errors joined in err.
func errorList(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func TestLoadExample(t *testing.T) {
	c, err := Load(filepath.Join("testdata", "signoff.yaml"), nil)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := &Config{
		PublicURL: "https://auth.example.com",
		Issuer:    "https://auth.example.com",
		Listen:    "127.0.0.1:8080",
		DataDir:   "./data",
		NATS: NATS{URL: "", Listen: "127.0.0.1:4222", SyncAlways: true, Replicas: 1, ConnectTimeout: Duration(DefaultNATSConnectTimeout),
			Users: []NATSUser{{Name: "idp", PasswordFile: "nats-idp.password", Role: "idp"}}},
		Keys:      Keys{Dir: ""},
		Session:   Session{CookieName: "signoff_session", CookieDomain: "example.com"},
		Redirects: Redirects{AllowedDomains: []string{"example.com"}},
		Logout:    Logout{Deadline: Duration(30 * time.Second), ChooseScope: "rp_initiated"},
		RelyingParties: []RelyingParty{
			{
				ID:   "wiki",
				Name: "Team Wiki",
				OIDC: &OIDC{
					ClientID:                         "wiki",
					BackchannelLogoutURI:             "https://wiki.example.com/oidc/backchannel",
					BackchannelLogoutSessionRequired: true,
					FrontchannelLogoutURI:            "https://wiki.example.com/oidc/frontchannel",
					PostLogoutRedirectURIs:           []string{"https://wiki.example.com/bye"},
					LogoutTokenAlg:                   "RS256",
					LogoutTokenTyp:                   "logout+jwt",
				},
			},
			{
				ID:   "payroll",
				Name: "Payroll",
				SAML: &SAML{
					MetadataFile:     "payroll-sp.xml",
					MetadataPath:     filepath.Join("testdata", "payroll-sp.xml"),
					FrontchannelMode: "redirect",
				},
			},
		},
		Backchannel: Backchannel{AttemptTimeout: Duration(5 * time.Second), Concurrency: 256},
		Shutdown:    Shutdown{Grace: Duration(8 * time.Second)},
		Log:         Log{Level: "info", Format: "text"},
		Tracing:     Tracing{Protocol: DefaultTracingProtocol, SampleRatio: DefaultTracingSampleRatio, ServiceName: DefaultTracingServiceName},
	}
	c.src = nil
	if !reflect.DeepEqual(c, want) {
		t.Errorf("Load(testdata/signoff.yaml) =\n%+v\nwant\n%+v", c, want)
	}
	if got := c.KeyDir(); got != filepath.Join("data", "keys") {
		t.Errorf("KeyDir() = %q, want data/keys", got)
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join("testdata", "nope.yaml"), nil)
	if err == nil || !strings.Contains(err.Error(), "nope.yaml") {
		t.Fatalf("Load(missing) error = %v, want one naming the file", err)
	}
}

func TestUnknownKey(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{
			name: "typo in oidc",
			yaml: `public_url: https://auth.example.com
relying_parties:
  - id: wiki
    oidc:
      client_id: wiki
      backchanel_logout_uri: https://wiki.example.com/bc #<
`,
			want: `unknown key "backchanel_logout_uri" in relying_parties[0].oidc (did you mean "backchannel_logout_uri"?)`,
		},
		{
			name: "top level",
			yaml: `public_url: https://auth.example.com
listen_addr: 127.0.0.1:9000 #<
`,
			want: `unknown key "listen_addr"`,
		},
		{
			name: "camel case suggests snake case",
			yaml: `public_url: https://auth.example.com
session:
  cookieName: sid #<
`,
			want: `unknown key "cookieName" in session (did you mean "cookie_name"?)`,
		},
		{
			name: "field excluded from yaml",
			yaml: `public_url: https://auth.example.com
relying_parties:
  - id: payroll
    saml:
      metadata_file: sp.xml
      MetadataPath: /etc/passwd #<
`,
			want: `unknown key "MetadataPath" in relying_parties[0].saml`,
		},
		{
			name: "second relying party",
			yaml: `public_url: https://auth.example.com
relying_parties:
  - id: wiki
    oidc: {client_id: wiki, backchannel_logout_uri: "https://wiki.example.com/bc"}
  - id: payroll
    saml: {metadata_file: sp.xml}
    oidc_client: x #<
`,
			want: `unknown key "oidc_client" in relying_parties[1]`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), "signoff.yaml", nil)
			if err == nil {
				t.Fatal("Parse succeeded, want an unknown key error")
			}
			line := markedLine(t, tt.yaml)
			want := "signoff.yaml:" + strconv.Itoa(line) + ": " + tt.want
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error =\n%v\nwant it to contain\n%s", err, want)
			}
			var uk *UnknownKeyError
			if !errors.As(err, &uk) || uk.Line != line {
				t.Errorf("errors.As UnknownKeyError = %+v, want Line %d", uk, line)
			}
		})
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name, yaml, path, msg string
	}{
		{
			name: "integer",
			yaml: "public_url: https://auth.example.com\nbackchannel:\n  concurrency: many #<\n",
			path: "backchannel.concurrency", msg: `must be an integer, got "many"`,
		},
		{
			name: "bool",
			yaml: "public_url: https://auth.example.com\nnats:\n  sync_always: sometimes #<\n",
			path: "nats.sync_always", msg: `must be true or false, got "sometimes"`,
		},
		{
			name: "duration without unit",
			yaml: "public_url: https://auth.example.com\nlogout:\n  deadline: 30 #<\n",
			path: "logout.deadline", msg: `invalid duration "30"`,
		},
		{
			name: "string given a mapping",
			yaml: "public_url: https://auth.example.com\nlisten: #<\n  host: 127.0.0.1\n",
			path: "listen", msg: "must be a string",
		},
		{
			name: "relying_parties not a list",
			yaml: "public_url: https://auth.example.com\nrelying_parties: wiki #<\n",
			path: "relying_parties", msg: "must be a list",
		},
		{
			name: "section not a mapping",
			yaml: "public_url: https://auth.example.com\nnats: nats://x:4222 #<\n",
			path: "nats", msg: "must be a mapping",
		},
		{
			name: "list of strings given a mapping",
			yaml: "public_url: https://auth.example.com\nredirects:\n  allowed_domains: #<\n    example.com: true\n",
			path: "redirects.allowed_domains", msg: "must be a list of strings",
		},
		{
			name: "duplicate key",
			yaml: "public_url: https://auth.example.com\nlisten: 127.0.0.1:8080\nlisten: 127.0.0.1:9090 #<\n",
			path: "listen", msg: "duplicate key (first at line 2)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), "signoff.yaml", nil)
			want := "signoff.yaml:" + strconv.Itoa(markedLine(t, tt.yaml)) + ": " + tt.path + ": " + tt.msg
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("error =\n%v\nwant it to contain\n%s", err, want)
			}
		})
	}
}

func TestSyntaxError(t *testing.T) {
	y := "public_url: https://auth.example.com\nlisten: [127.0.0.1\n"
	_, err := Parse([]byte(y), "signoff.yaml", nil)
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Line == 0 || !strings.HasPrefix(err.Error(), "signoff.yaml:") {
		t.Fatalf("error = %v, want a FieldError with a line", err)
	}
}

func TestMultipleErrorsSortedByLine(t *testing.T) {
	y := `public_url: http://auth.example.com
listen: nowhere
logout:
  deadline: 1h
relying_parties:
  - id: "wiki wiki"
    oidc:
      backchannel_logout_uri: https://wiki.example.com/bc#frag
`
	_, err := Parse([]byte(y), "signoff.yaml", nil)
	if err == nil {
		t.Fatal("Parse succeeded, want errors")
	}
	wants := []string{
		"signoff.yaml:1: public_url: must use https",
		"signoff.yaml:2: listen: must be host:port",
		"signoff.yaml:4: logout.deadline: must be between 1s and 10m, got 1h0m0s",
		`signoff.yaml:6: relying_parties[0].id: must be 1-64 characters`,
		"signoff.yaml:7: relying_parties[0].oidc.client_id: required",
		"signoff.yaml:8: relying_parties[0].oidc.backchannel_logout_uri: must not have a fragment",
	}
	errs := errorList(err)
	if len(errs) != len(wants) {
		t.Fatalf("got %d errors, want %d:\n%v", len(errs), len(wants), err)
	}
	for i, w := range wants {
		if !strings.HasPrefix(errs[i].Error(), w) {
			t.Errorf("error %d = %q, want prefix %q", i, errs[i], w)
		}
	}
}

func TestMultipleUnknownKeys(t *testing.T) {
	y := "public_url: https://auth.example.com\nlistn: x\nlog:\n  lvl: debug\n"
	_, err := Parse([]byte(y), "signoff.yaml", nil)
	errs := errorList(err)
	if len(errs) != 2 || !strings.Contains(errs[0].Error(), ":2: unknown key \"listn\"") ||
		!strings.Contains(errs[1].Error(), ":4: unknown key \"lvl\" in log") {
		t.Fatalf("error = %v, want both unknown keys in line order", err)
	}
}

func TestEnvOverrides(t *testing.T) {
	y := `public_url: https://auth.example.com
listen: 127.0.0.1:8080
data_dir: /var/lib/signoff
nats:
  url: nats://file:4222
`
	env := envMap(map[string]string{
		"SIGNOFF_LISTEN":   "0.0.0.0:9000",
		"SIGNOFF_DATA_DIR": "/data",
		"SIGNOFF_NATS_URL": "nats://env-1:4222, tls://env-2:4222",
	})
	c, err := Parse([]byte(y), "signoff.yaml", env)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if c.Listen != "0.0.0.0:9000" || c.DataDir != "/data" || c.NATS.URL != "nats://env-1:4222, tls://env-2:4222" {
		t.Errorf("got listen %q data_dir %q nats.url %q, want the environment values", c.Listen, c.DataDir, c.NATS.URL)
	}

	// Without the environment the file values stay.
	c, err = Parse([]byte(y), "signoff.yaml", envMap(nil))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if c.Listen != "127.0.0.1:8080" || c.DataDir != "/var/lib/signoff" || c.NATS.URL != "nats://file:4222" {
		t.Errorf("got listen %q data_dir %q nats.url %q, want the file values", c.Listen, c.DataDir, c.NATS.URL)
	}
}

func TestEnvOverrideErrorNamesVariable(t *testing.T) {
	y := "public_url: https://auth.example.com\nlisten: 127.0.0.1:8080\n"
	_, err := Parse([]byte(y), "signoff.yaml", envMap(map[string]string{
		"SIGNOFF_LISTEN":   "8080",
		"SIGNOFF_NATS_URL": "http://nats:4222",
	}))
	if err == nil {
		t.Fatal("Parse succeeded, want errors")
	}
	for _, want := range []string{
		`listen: must be host:port, such as 127.0.0.1:8080; got "8080" (set by SIGNOFF_LISTEN)`,
		`nats.url: "http://nats:4222" is not a nats:// or tls:// URL, such as nats://127.0.0.1:4222 (set by SIGNOFF_NATS_URL)`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error =\n%v\nwant it to contain\n%s", err, want)
		}
	}
	if strings.Contains(err.Error(), "signoff.yaml:2") {
		t.Errorf("error %v blames line 2 of the file for an environment value", err)
	}
}

func TestDefaults(t *testing.T) {
	y := `public_url: https://auth.example.com
relying_parties:
  - id: wiki
    oidc:
      client_id: wiki
      frontchannel_logout_uri: https://wiki.example.com/fc
`
	c, err := Parse([]byte(y), "signoff.yaml", nil)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"issuer", c.Issuer, "https://auth.example.com"},
		{"listen", c.Listen, "127.0.0.1:8080"},
		{"data_dir", c.DataDir, "./data"},
		{"nats.sync_always", c.NATS.SyncAlways, true},
		{"session.cookie_name", c.Session.CookieName, "signoff_session"},
		{"logout.deadline", c.Logout.Deadline.Std(), 30 * time.Second},
		{"shutdown.grace", c.Shutdown.Grace.Std(), 8 * time.Second},
		{"backchannel.attempt_timeout", c.Backchannel.AttemptTimeout.Std(), 5 * time.Second},
		{"backchannel.concurrency", c.Backchannel.Concurrency, 256},
		{"log.level", c.Log.Level, "info"},
		{"log.format", c.Log.Format, "text"},
		{"relying_parties[0].name", c.RelyingParties[0].Name, "wiki"},
		{"relying_parties[0].oidc.logout_token_alg", c.RelyingParties[0].OIDC.LogoutTokenAlg, "RS256"},
		{"relying_parties[0].oidc.logout_token_typ", c.RelyingParties[0].OIDC.LogoutTokenTyp, "logout+jwt"},
		{"admin.token", c.Admin.Token, ""},
		{"session.expiration", c.Session.Expiration.Std(), DefaultSessionExpiration},
		{"session.inactivity", c.Session.Inactivity.Std(), DefaultSessionInactivity},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s = %v, want %v", ck.name, ck.got, ck.want)
		}
	}
}

func TestExplicitValuesKeptOverDefaults(t *testing.T) {
	y := `public_url: https://auth.example.com
issuer: https://idp.example.com/realms/main
nats:
  sync_always: false
log: {level: debug, format: json}
`
	c, err := Parse([]byte(y), "signoff.yaml", nil)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if c.NATS.SyncAlways {
		t.Error("nats.sync_always: false was replaced by the default true")
	}
	if c.Issuer != "https://idp.example.com/realms/main" {
		t.Errorf("issuer = %q, want the explicit value", c.Issuer)
	}
	if c.Log.SlogLevel().String() != "DEBUG" || c.Log.Format != "json" {
		t.Errorf("log = %+v, want debug/json", c.Log)
	}

	// An explicit zero is kept and rejected, not silently defaulted.
	y = "public_url: https://auth.example.com\nbackchannel:\n  concurrency: 0 #<\n"
	_, err = Parse([]byte(y), "signoff.yaml", nil)
	want := "signoff.yaml:3: backchannel.concurrency: must be between 1 and 10000, got 0"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error = %v, want %s", err, want)
	}
}

func TestDefault(t *testing.T) {
	c := Default()
	if err := c.Validate(); err != nil {
		t.Fatalf("Default().Validate() = %v", err)
	}
	if c.PublicURL != "http://127.0.0.1:8080" || c.Issuer != c.PublicURL || c.Listen != DefaultListen ||
		!c.NATS.SyncAlways || c.Logout.Deadline.Std() != 30*time.Second || len(c.RelyingParties) != 0 {
		t.Errorf("Default() = %+v", c)
	}

	// A change made in code is validated without file positions.
	c.Logout.Deadline = 0
	err := c.Validate()
	if err == nil || err.Error() != "logout.deadline: must be between 1s and 10m, got 0s" {
		t.Errorf("Validate() = %v", err)
	}

	// ApplyEnv works on a Default() too and names the variable.
	c = Default()
	c.ApplyEnv(envMap(map[string]string{"SIGNOFF_DATA_DIR": "/tmp/demo", "SIGNOFF_LISTEN": "bad"}))
	if c.DataDir != "/tmp/demo" {
		t.Errorf("DataDir = %q after SIGNOFF_DATA_DIR", c.DataDir)
	}
	if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), "listen: ") || !strings.HasSuffix(err.Error(), "(set by SIGNOFF_LISTEN)") {
		t.Errorf("Validate() = %v, want a listen error set by SIGNOFF_LISTEN", err)
	}
}

func TestDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr bool
	}{
		{"30s", 30 * time.Second, false},
		{"1m30s", 90 * time.Second, false},
		{"500ms", 500 * time.Millisecond, false},
		{"30", 0, true},
		{"soon", 0, true},
		{"[1s]", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var v struct {
				D Duration `yaml:"d"`
			}
			err := yaml.Unmarshal([]byte("d: "+tt.in), &v)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Unmarshal(%q) = %v, want an error", tt.in, v.D)
				}
				return
			}
			if err != nil || v.D.Std() != tt.want {
				t.Fatalf("Unmarshal(%q) = %v, %v; want %v", tt.in, v.D, err, tt.want)
			}
			out, err := yaml.Marshal(v)
			if err != nil || strings.TrimSpace(string(out)) != "d: "+tt.want.String() {
				t.Errorf("Marshal = %q, %v", out, err)
			}
		})
	}
}

func TestMetadataFileResolution(t *testing.T) {
	abs := filepath.Join(string(filepath.Separator)+"srv", "sp.xml")
	tests := []struct {
		name, config, file, want string
	}{
		{"relative to an absolute config", filepath.Join("/etc", "signoff", "signoff.yaml"), "payroll-sp.xml", filepath.Join("/etc", "signoff", "payroll-sp.xml")},
		{"subdirectory", filepath.Join("/etc", "signoff", "signoff.yaml"), "sp/payroll.xml", filepath.Join("/etc", "signoff", "sp", "payroll.xml")},
		{"relative config", filepath.Join("deploy", "signoff.yaml"), "payroll-sp.xml", filepath.Join("deploy", "payroll-sp.xml")},
		{"config in working directory", "signoff.yaml", "payroll-sp.xml", "payroll-sp.xml"},
		{"absolute stays", filepath.Join("/etc", "signoff", "signoff.yaml"), abs, abs},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y := "public_url: https://auth.example.com\nrelying_parties:\n  - id: payroll\n    saml:\n      metadata_file: " + tt.file + "\n"
			c, err := Parse([]byte(y), tt.config, nil)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			s := c.RelyingParties[0].SAML
			if s.MetadataPath != tt.want || s.MetadataFile != tt.file {
				t.Errorf("MetadataPath = %q (file %q), want %q", s.MetadataPath, s.MetadataFile, tt.want)
			}
		})
	}
}

func TestAnchorsAndMerge(t *testing.T) {
	y := `public_url: https://auth.example.com
x-oidc: &oidc
  logout_token_alg: ES256
relying_parties:
  - id: a
    oidc:
      <<: *oidc
      client_id: a
      backchannel_logout_uri: https://a.example.com/bc
`
	// x-oidc is not a key of the configuration.
	if _, err := Parse([]byte(y), "signoff.yaml", nil); err == nil || !strings.Contains(err.Error(), `signoff.yaml:2: unknown key "x-oidc"`) {
		t.Fatalf("error = %v, want unknown key x-oidc", err)
	}
	y = `public_url: https://auth.example.com
relying_parties:
  - id: a
    oidc: &oidc
      client_id: a
      backchannel_logout_uri: https://a.example.com/bc
      logout_token_alg: ES256
  - id: b
    oidc:
      <<: *oidc
      client_id: b
`
	c, err := Parse([]byte(y), "signoff.yaml", nil)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if b := c.RelyingParties[1].OIDC; b.ClientID != "b" || b.LogoutTokenAlg != "ES256" || b.BackchannelLogoutURI != "https://a.example.com/bc" {
		t.Errorf("merged oidc = %+v", b)
	}
}

func TestSecondDocumentRejected(t *testing.T) {
	y := "public_url: https://auth.example.com\n---\nlisten: 127.0.0.1:9000\n"
	_, err := Parse([]byte(y), "signoff.yaml", nil)
	if err == nil || !strings.Contains(err.Error(), "second YAML document") || !strings.HasPrefix(err.Error(), "signoff.yaml:") {
		t.Fatalf("error = %v, want the second document rejected", err)
	}
}

func TestEmptyFile(t *testing.T) {
	_, err := Parse(nil, "signoff.yaml", nil)
	want := "signoff.yaml: public_url: required"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("error = %v, want prefix %s", err, want)
	}
}

func TestSlogLevel(t *testing.T) {
	for level, want := range map[string]string{"debug": "DEBUG", "info": "INFO", "warn": "WARN", "error": "ERROR"} {
		if got := (Log{Level: level}).SlogLevel().String(); got != want {
			t.Errorf("SlogLevel(%q) = %s, want %s", level, got, want)
		}
	}
}

func TestKeyDir(t *testing.T) {
	c := Default()
	c.DataDir = "/var/lib/signoff"
	if got := c.KeyDir(); got != filepath.Join("/var/lib/signoff", "keys") {
		t.Errorf("KeyDir() = %q with empty keys.dir", got)
	}
	c.Keys.Dir = "/etc/signoff/keys"
	if got := c.KeyDir(); got != "/etc/signoff/keys" {
		t.Errorf("KeyDir() = %q, want keys.dir", got)
	}
}

func TestMergeList(t *testing.T) {
	y := `public_url: https://auth.example.com
relying_parties:
  - id: a
    oidc: &a {client_id: a, backchannel_logout_uri: 'https://a.example.com/bc', logout_token_typ: JWT}
  - id: b
    oidc: &b {client_id: b, frontchannel_logout_uri: 'https://b.example.com/fc', logout_token_alg: ES256}
  - id: c
    oidc:
      <<: [*a, *b]
      client_id: c
`
	c, err := Parse([]byte(y), "signoff.yaml", nil)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	want := OIDC{
		ClientID:              "c",
		BackchannelLogoutURI:  "https://a.example.com/bc",
		FrontchannelLogoutURI: "https://b.example.com/fc",
		LogoutTokenAlg:        "ES256",
		LogoutTokenTyp:        "JWT",
	}
	if got := *c.RelyingParties[2].OIDC; !reflect.DeepEqual(got, want) {
		t.Errorf("merged oidc = %+v, want %+v", got, want)
	}

	_, err = Parse([]byte(y+"      typo: 1\n"), "signoff.yaml", nil)
	if err == nil || !strings.Contains(err.Error(), `signoff.yaml:11: unknown key "typo" in relying_parties[2].oidc`) {
		t.Fatalf("error = %v, want the unknown key next to a merge", err)
	}
}

func TestReservedIDAndDefaultURL(t *testing.T) {
	tests := []struct {
		yaml, want string
	}{
		{"public_url: https://auth.example.com\nrelying_parties:\n  - id: signoff\n    oidc: {client_id: x, backchannel_logout_uri: https://x.example.com/bc}\n",
			`t.yaml:3: relying_parties[0].id: "signoff" is reserved`},
		{"public_url: https://auth.example.com\nredirects:\n  default_url: http://example.com/\n", "t.yaml:3: redirects.default_url: must use https"},
		{"public_url: https://auth.example.com\nnats:\n  replicas: 7\n", "t.yaml:3: nats.replicas: must be between 1 and 5"},
	}
	for _, tt := range tests {
		_, err := Parse([]byte(tt.yaml), "t.yaml", nil)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", tt.yaml, err, tt.want)
		}
	}
	c, err := Parse([]byte("public_url: https://auth.example.com\nredirects:\n  default_url: https://example.com/home\n"), "t.yaml", nil)
	if err != nil || c.Redirects.DefaultURL != "https://example.com/home" || c.NATS.Replicas != 1 {
		t.Errorf("valid default_url: %+v, %v", c, err)
	}
}

func TestSessionLifetimes(t *testing.T) {
	y := "public_url: https://auth.example.com\nsession:\n  expiration: 12h\n  inactivity: 1h30m\n"
	c, err := Parse([]byte(y), "signoff.yaml", nil)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if c.Session.Expiration.Std() != 12*time.Hour || c.Session.Inactivity.Std() != 90*time.Minute {
		t.Errorf("session = %+v, want expiration 12h, inactivity 1h30m", c.Session)
	}
	if c.Session.CookieName != DefaultCookieName {
		t.Errorf("cookie_name = %q, want the default beside the lifetimes", c.Session.CookieName)
	}

	// Both wrong: both reported, each at its line.
	y = "public_url: https://auth.example.com\nsession:\n  expiration: 10s\n  inactivity: 2400h\n"
	_, err = Parse([]byte(y), "signoff.yaml", nil)
	errs := errorList(err)
	if len(errs) != 2 || !strings.HasPrefix(errs[0].Error(), "signoff.yaml:3: session.expiration: must be 0 (none) or between 1m and 2160h") ||
		!strings.HasPrefix(errs[1].Error(), "signoff.yaml:4: session.inactivity: must be 0 (none) or between 1m and 2160h") {
		t.Errorf("errors = %v", err)
	}

	// Set in code: validated without file positions.
	c = Default()
	c.Session.Inactivity = Duration(30 * time.Second)
	if err := c.Validate(); err == nil || err.Error() != "session.inactivity: must be 0 (none) or between 1m and 2160h (90 days), got 30s" {
		t.Errorf("Validate() = %v", err)
	}
}

// TestSAMLInline: the inline alternative to metadata_file resolves its
// certificate_file like metadata_file, and frontchannel_mode defaults to
// redirect.
func TestSAMLInline(t *testing.T) {
	y := `public_url: https://auth.example.com
relying_parties:
  - id: payroll
    saml:
      entity_id: https://payroll.example.com/sp
      certificate_file: certs/payroll.pem
      slo_redirect_url: https://payroll.example.com/saml/slo
  - id: hr
    saml:
      metadata_file: hr.xml
      frontchannel_mode: iframe
`
	c, err := Parse([]byte(y), filepath.Join("/etc", "signoff", "signoff.yaml"), nil)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	s := c.RelyingParties[0].SAML
	if want := filepath.Join("/etc", "signoff", "certs", "payroll.pem"); s.CertificatePath != want {
		t.Errorf("CertificatePath = %q, want %q", s.CertificatePath, want)
	}
	if !s.Inline() || s.FrontchannelMode != SAMLModeRedirect || s.SLORedirectURL != "https://payroll.example.com/saml/slo" {
		t.Errorf("inline SP = %+v", s)
	}
	if h := c.RelyingParties[1].SAML; h.Inline() || h.FrontchannelMode != SAMLModeIframe {
		t.Errorf("metadata SP = %+v", h)
	}
}
