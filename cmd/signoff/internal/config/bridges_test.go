package config

import (
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// kcBase is a valid configuration with relying parties for the bridge.
const kcBase = `public_url: https://auth.example.com
relying_parties:
  - id: wiki
    oidc:
      client_id: wiki
      backchannel_logout_uri: https://wiki.example.com/bc
  - id: payroll
    saml: {metadata_file: sp.xml}
`

// TestKeycloakBridgeValidation: every rule of bridges.keycloak names its
// key and line.
func TestKeycloakBridgeValidation(t *testing.T) {
	tests := []struct{ name, yaml, path, msg string }{
		{"realm required", "bridges:\n  keycloak: #<\n    clients: {web-app: wiki}\n", "bridges.keycloak.realm", "required"},
		{"realm whitespace", "bridges:\n  keycloak:\n    realm: 'my realm' #<\n    clients: {web-app: wiki}\n", "bridges.keycloak.realm", "must not contain whitespace"},
		{"clients required", "bridges:\n  keycloak: #<\n    realm: myrealm\n", "bridges.keycloak.clients", "required: map at least one Keycloak clientId"},
		{"client unknown rp", "bridges:\n  keycloak:\n    realm: myrealm\n    clients:\n      web-app: wiki\n      mobile: notes #<\n", "bridges.keycloak.clients.mobile", `"notes" is not the id of a relying party`},
		{"client saml rp", "bridges:\n  keycloak:\n    realm: myrealm\n    clients:\n      payroll-app: payroll #<\n", "bridges.keycloak.clients.payroll-app", `relying party "payroll" has no oidc block`},
		{"client empty rp", "bridges:\n  keycloak:\n    realm: myrealm\n    clients:\n      web-app: '' #<\n", "bridges.keycloak.clients.web-app", "must name a relying party id"},
		{"clients not a map", "bridges:\n  keycloak:\n    realm: myrealm\n    clients: [wiki] #<\n", "bridges.keycloak.clients", "cannot unmarshal"},
		{"subject overlaps signoff", "bridges:\n  keycloak:\n    realm: myrealm\n    subject: signoff.> #<\n    clients: {web-app: wiki}\n", "bridges.keycloak.subject", `"signoff.>" overlaps signoff's own`},
		{"subject full wildcard", "bridges:\n  keycloak:\n    realm: myrealm\n    subject: '>' #<\n    clients: {web-app: wiki}\n", "bridges.keycloak.subject", `">" overlaps signoff's own`},
		{"subject gt not last", "bridges:\n  keycloak:\n    realm: myrealm\n    subject: keycloak.>.login #<\n    clients: {web-app: wiki}\n", "bridges.keycloak.subject", `"keycloak.>.login" is not a NATS subject: > must be the last token`},
		{"subject empty token", "bridges:\n  keycloak:\n    realm: myrealm\n    subject: keycloak..login #<\n    clients: {web-app: wiki}\n", "bridges.keycloak.subject", `"keycloak..login" is not a NATS subject: empty token`},
		{"subject partial wildcard", "bridges:\n  keycloak:\n    realm: myrealm\n    subject: keycloak.event* #<\n    clients: {web-app: wiki}\n", "bridges.keycloak.subject", `"keycloak.event*" is not a NATS subject: a wildcard must be a whole token`},
		{"admin_subject overlaps", "bridges:\n  keycloak:\n    realm: myrealm\n    admin_subject: keycloak.event.> #<\n    clients: {web-app: wiki}\n", "bridges.keycloak.admin_subject", `"keycloak.event.>" overlaps bridges.keycloak.subject "keycloak.event.client.>"`},
		{"admin_subject signoff", "bridges:\n  keycloak:\n    realm: myrealm\n    admin_subject: signoff.x #<\n    clients: {web-app: wiki}\n", "bridges.keycloak.admin_subject", `"signoff.x" overlaps signoff's own`},
		{"stream name", "bridges:\n  keycloak:\n    realm: myrealm\n    stream: keycloak.events #<\n    clients: {web-app: wiki}\n", "bridges.keycloak.stream", "must be a JetStream stream name"},
		{"stream SIGNOFF", "bridges:\n  keycloak:\n    realm: myrealm\n    stream: SIGNOFF #<\n    clients: {web-app: wiki}\n", "bridges.keycloak.stream", "SIGNOFF is signoff's own event stream"},
		{"subject_from", "bridges:\n  keycloak:\n    realm: myrealm\n    subject_from: email #<\n    clients: {web-app: wiki}\n", "bridges.keycloak.subject_from", `must be user_id or username, got "email"`},
		{"upstream_id", "bridges:\n  keycloak:\n    realm: myrealm\n    upstream_id: 'key cloak' #<\n    clients: {web-app: wiki}\n", "bridges.keycloak.upstream_id", "must be 1 to 64 letters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			y := kcBase + tt.yaml
			_, err := Parse([]byte(y), "signoff.yaml", nil)
			if err == nil {
				t.Fatal("Parse succeeded, want an error")
			}
			want := "signoff.yaml:" + strconv.Itoa(markedLine(t, y)) + ": " + tt.path + ": " + tt.msg
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error =\n%v\nwant it to contain\n%s", err, want)
			}
			if n := len(errorList(err)); n != 1 {
				t.Errorf("got %d errors, want exactly 1:\n%v", n, err)
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Path != tt.path {
				t.Errorf("errors.As FieldError = %+v, want Path %q", fe, tt.path)
			}
		})
	}
}

// TestKeycloakBridgeUnknownKey: a misspelt key of bridges.keycloak is an
// error with a suggestion.
func TestKeycloakBridgeUnknownKey(t *testing.T) {
	y := kcBase + "bridges:\n  keycloak:\n    realm: myrealm\n    client: {web-app: wiki}\n"
	_, err := Parse([]byte(y), "signoff.yaml", nil)
	if err == nil || !strings.Contains(err.Error(), `signoff.yaml:12: unknown key "client" in bridges.keycloak (did you mean "clients"?)`) {
		t.Errorf("error = %v", err)
	}
}

// TestKeycloakBridgeDefaults: absent keys take their defaults; no
// bridges section leaves the bridge off.
func TestKeycloakBridgeDefaults(t *testing.T) {
	c, err := Parse([]byte(kcBase+"bridges:\n  keycloak:\n    realm: myrealm\n    clients: {web-app: wiki}\n"), "signoff.yaml", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := &KeycloakBridge{Realm: "myrealm", Subject: DefaultKeycloakSubject, SubjectFrom: KeycloakSubjectUserID,
		UpstreamID: DefaultKeycloakUpstreamID, Clients: map[string]string{"web-app": "wiki"}}
	if !reflect.DeepEqual(c.Bridges.Keycloak, want) {
		t.Errorf("bridge %+v, want %+v", c.Bridges.Keycloak, want)
	}
	c, err = Parse([]byte(kcBase+"bridges:\n  keycloak:\n    realm: 3b0e1c7a-5d2f-4e8b-9a61-7c4d2e9f0a13\n    subject: keycloak.events.*.user.>\n    stream: KEYCLOAK_EVENTS\n    subject_from: username\n    upstream_id: kc-main\n    clients: {web-app: wiki}\n"), "signoff.yaml", nil)
	if err != nil {
		t.Fatalf("explicit values: %v", err)
	}
	if k := c.Bridges.Keycloak; k.Subject != "keycloak.events.*.user.>" || k.Stream != "KEYCLOAK_EVENTS" || k.SubjectFrom != "username" || k.UpstreamID != "kc-main" {
		t.Errorf("explicit values not kept: %+v", k)
	}
	c, err = Parse([]byte(kcBase), "signoff.yaml", nil)
	if err != nil || c.Bridges.Keycloak != nil {
		t.Errorf("no bridges: %v, %+v", err, c.Bridges.Keycloak)
	}
}

func TestSubjectsOverlap(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"keycloak.event.client.>", "keycloak.event.admin.>", false},
		{"keycloak.event.client.>", "keycloak.event.*.x", true},
		{"keycloak.event.client.>", "keycloak.event.client", false},
		{"keycloak.event.client", "keycloak.event.client", true},
		{"a.*.c", "a.b.*", true},
		{"a.*", "a.b.c", false},
		{"keycloak.events.*.user.>", "keycloak.events.*.admin.>", false},
	} {
		if got := subjectsOverlap(tc.a, tc.b); got != tc.want {
			t.Errorf("subjectsOverlap(%q, %q) = %t, want %t", tc.a, tc.b, got, tc.want)
		}
	}
}
