package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunUsageAndConfigErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("public_url: https://auth.example.com\nrelying_parties:\n  - id: wiki\n    oidc:\n      client_id: wiki\n      backchanel_logout_uri: https://wiki.example.com/x\n"), 0o600)
	invalid := filepath.Join(dir, "invalid.yaml")
	os.WriteFile(invalid, []byte("public_url: ftp://auth.example.com\nlogout:\n  deadline: 20m\n"), 0o600)
	tests := []struct {
		name     string
		args     []string
		wantCode int
		wantErr  []string
	}{
		{"no command", nil, 2, []string{"usage:"}},
		{"unknown command", []string{"frobnicate"}, 2, []string{`unknown command "frobnicate"`}},
		{"missing config file", []string{"serve", "--config", filepath.Join(dir, "nope.yaml")}, 1, []string{"nope.yaml"}},
		{"unknown key names key and line", []string{"serve", "--config", bad}, 1, []string{"bad.yaml:6:", `"backchanel_logout_uri"`, `did you mean "backchannel_logout_uri"`}},
		{"invalid values name each key", []string{"serve", "--config", invalid}, 1, []string{"invalid.yaml:1: public_url", "invalid.yaml:3: logout.deadline"}},
		{"logout needs a target", []string{"logout", "--nats", "nats://127.0.0.1:1"}, 2, []string{"exactly one of --session or --subject"}},
		{"logout needs a NATS", []string{"logout", "--session", "s1"}, 2, []string{"no NATS to talk to"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("SIGNOFF_NATS_URL", "")
			var out, errb bytes.Buffer
			code := run(tt.args, &out, &errb)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d; stderr %s", code, tt.wantCode, errb.String())
			}
			for _, w := range tt.wantErr {
				if !strings.Contains(errb.String(), w) {
					t.Errorf("stderr %q does not contain %q", errb.String(), w)
				}
			}
		})
	}
}
