package app

import (
	"bytes"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/signoff/signoff/adapters/cookie"
	"github.com/signoff/signoff/web"
)

// TestSAMLBrowserBindReportsAFailedBinding: an SP-initiated logout whose
// browser binding fails (here a secret web.Browser refuses) is logged with
// its logout id instead of being dropped, and the IdP session cookie is
// expired all the same; a good binding sets the binding cookie and logs
// nothing.
func TestSAMLBrowserBindReportsAFailedBinding(t *testing.T) {
	tests := []struct {
		name        string
		secret      []byte
		wantLog     string
		wantCookies int // the expired IdP cookie, plus the binding
	}{
		{"short secret", []byte("too short"), "secret shorter than 32 bytes", 1},
		{"good secret", bytes.Repeat([]byte("k"), 32), "", 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs bytes.Buffer
			wb := &web.Browser{PublicURL: "https://auth.signoff.test", Secret: tt.secret}
			b := samlBrowser{
				local: cookie.New(cookie.Config{Name: "idp_session"}),
				bind:  wb.Bind,
				log:   slog.New(slog.NewTextHandler(&logs, nil)),
			}
			w := httptest.NewRecorder()
			b.Bind(w, httptest.NewRequest("GET", "/saml/slo", nil), "logout-1")

			cookies := w.Result().Cookies()
			if len(cookies) != tt.wantCookies || cookies[0].Name != "idp_session" || cookies[0].MaxAge >= 0 {
				t.Errorf("cookies %v: want the IdP cookie expired first, %d in all", cookies, tt.wantCookies)
			}
			got := logs.String()
			if tt.wantLog == "" && got != "" {
				t.Errorf("logged %q for a good binding", got)
			}
			if tt.wantLog != "" && (!strings.Contains(got, tt.wantLog) || !strings.Contains(got, "logout_id=logout-1")) {
				t.Errorf("log %q does not report the failed binding of logout-1 (%q)", got, tt.wantLog)
			}
		})
	}
}
