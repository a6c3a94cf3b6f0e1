package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSSFReceiverSecrets reads the files of the ssf sections and names the key of
// every problem without printing a secret.
func TestSSFReceiverSecrets(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("crm.hdr", "Bearer push-secret-0123456789\n")
	write("crm.token", "crm-token-0123456789abcdef\n")
	write("vpn.token", "crm-token-0123456789abcdef\n") // the same token as crm
	write("short.token", "short\n")
	write("empty.token", "\n")
	const head = "public_url: https://auth.example.com\nrelying_parties:\n"
	crm := "  - id: crm\n    ssf:\n      delivery: push\n      endpoint_url: https://crm.example.com/ssf\n      authorization_header_file: crm.hdr\n      bearer_token_file: crm.token\n      audience: crm\n"
	tests := []struct {
		name, yaml string
		want       string // "" : no error
	}{
		{"ok", head + crm, ""},
		{"missing file", head + "  - id: crm\n    ssf:\n      delivery: push\n      endpoint_url: https://crm.example.com/ssf\n      authorization_header_file: nope.hdr\n      audience: crm\n",
			"relying_parties[0].ssf.authorization_header_file: " + filepath.Join(dir, "nope.hdr") + " does not exist"},
		{"shared token", head + crm + "  - id: vpn\n    ssf:\n      delivery: poll\n      bearer_token_file: vpn.token\n      audience: vpn\n",
			"relying_parties[1].ssf.bearer_token_file: holds the same token as relying_parties[0].ssf.bearer_token_file"},
		{"short token", head + "  - id: vpn\n    ssf:\n      delivery: poll\n      bearer_token_file: short.token\n      audience: vpn\n",
			"relying_parties[0].ssf.bearer_token_file: the token must have at least 16 characters"},
		{"empty token", head + "  - id: vpn\n    ssf:\n      delivery: poll\n      bearer_token_file: empty.token\n      audience: vpn\n",
			"relying_parties[0].ssf.bearer_token_file: " + filepath.Join(dir, "empty.token") + " is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, "signoff.yaml")
			write("signoff.yaml", tt.yaml)
			cfg, err := Load(path, nil)
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			got, err := cfg.SSFReceiverSecrets()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("SSFReceiverSecrets: %v", err)
				}
				if s := got["crm"]; s.AuthorizationHeader != "Bearer push-secret-0123456789" || s.BearerToken != "crm-token-0123456789abcdef" {
					t.Errorf("secrets of crm = %+v", s)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error = %v, want it to contain %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "crm-token-0123456789abcdef") {
				t.Errorf("the error shows a secret: %v", err)
			}
		})
	}
}
