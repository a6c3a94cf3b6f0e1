package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const ssfYAML = `public_url: https://auth.example.com
ssf:
  transmitters:
    - id: okta
      issuer: https://okta.example.com
      audience: https://auth.example.com
      discovery: true
      auth: {bearer_token_file: okta.token}
      poll:
        endpoint_url: https://okta.example.com/poll
        authorization_header_file: okta.poll
    - id: authentik
      issuer: https://authentik.example.com/application/ssf/signoff/
      audience: https://auth.example.com
      jwks_uri: https://authentik.example.com/application/o/signoff/jwks/
      auth: {bearer_token_file: authentik.token}
      subject_claim: email
`

func writeSSF(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	path := filepath.Join(dir, "signoff.yaml")
	if err := os.WriteFile(path, []byte(ssfYAML), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestSSFDefaultsAndSecrets: the defaults of a transmitter, and its secret
// files read relative to the config file.
func TestSSFDefaultsAndSecrets(t *testing.T) {
	path := writeSSF(t, map[string]string{"okta.token": "okta-token-0123456789\n", "okta.poll": "Bearer poll-abc\n",
		"authentik.token": "authentik-token-0123456789"})
	c, err := Load(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	okta, ak := c.SSF.Transmitters[0], c.SSF.Transmitters[1]
	if okta.SubjectClaim != SSFSubjectSub || ak.SubjectClaim != SSFSubjectEmail ||
		okta.Poll.Interval.Std() != 30*time.Second || okta.Poll.MaxEvents != DefaultSSFPollMaxEvents {
		t.Errorf("defaults: %+v %+v %+v", okta, *okta.Poll, ak)
	}
	s, err := c.SSFSecrets()
	if err != nil {
		t.Fatal(err)
	}
	if s.BearerTokens["okta"] != "okta-token-0123456789" || s.BearerTokens["authentik"] != "authentik-token-0123456789" ||
		s.AuthorizationHeaders["okta"] != "Bearer poll-abc" {
		t.Errorf("secrets %+v", s)
	}
}

// TestSSFSecretProblems: each bad secret file is reported at its key and
// line, without the secret.
func TestSSFSecretProblems(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{"missing files", map[string]string{"authentik.token": "authentik-token-0123456789"}, []string{
			"signoff.yaml:8: ssf.transmitters[0].auth.bearer_token_file: ", "okta.token does not exist",
			"signoff.yaml:11: ssf.transmitters[0].poll.authorization_header_file: "}},
		{"short token", map[string]string{"okta.token": "tiny-tok", "okta.poll": "Bearer x", "authentik.token": "authentik-token-0123456789"}, []string{
			"signoff.yaml:8: ssf.transmitters[0].auth.bearer_token_file: the token is shorter than 16 characters"}},
		{"shared token", map[string]string{"okta.token": "same-token-0123456789", "okta.poll": "Bearer x", "authentik.token": "same-token-0123456789\n"}, []string{
			"signoff.yaml:16: ssf.transmitters[1].auth.bearer_token_file: holds the same token as ssf.transmitters[0]"}},
		{"empty header", map[string]string{"okta.token": "okta-token-0123456789", "okta.poll": "\n", "authentik.token": "authentik-token-0123456789"}, []string{
			"ssf.transmitters[0].poll.authorization_header_file: ", "okta.poll is empty"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(writeSSF(t, tc.files), nil)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.SSFSecrets()
			if err == nil {
				t.Fatal("SSFSecrets succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error\n%v\nlacks %q", err, w)
				}
			}
			for _, secret := range []string{"same-token-0123456789", "tiny-tok"} {
				if strings.Contains(err.Error(), secret) && tc.files["okta.token"] == secret {
					t.Errorf("error reveals the secret: %v", err)
				}
			}
		})
	}
}
