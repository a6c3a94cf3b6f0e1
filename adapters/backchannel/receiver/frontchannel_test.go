package receiver_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/signoff/signoff/adapters/backchannel/receiver"
)

var (
	scriptRe = regexp.MustCompile(`<script nonce="([^"]+)">window\.parent\.postMessage\((.*), "([^"]*)"\);</script>`)
	nonceRe  = regexp.MustCompile(`script-src 'nonce-([^']+)'`)
)

func TestFrontChannel(t *testing.T) {
	evil := "</script><script>alert(1)"
	tests := []struct {
		name     string
		query    url.Values
		fail     error
		want     int
		called   bool
		wantSID  string
		wantJSON string // the message posted to the parent
	}{
		{name: "iss and sid", query: url.Values{"iss": {issuer}, "sid": {"sid-1"}}, want: 200, called: true,
			wantSID: "sid-1", wantJSON: `{"type":"signoff:frontchannel-logout","ok":true,"sid":"sid-1"}`},
		{name: "no parameters", want: 200, called: true,
			wantJSON: `{"type":"signoff:frontchannel-logout","ok":true,"sid":""}`},
		{name: "iss without sid", query: url.Values{"iss": {issuer}}, want: 400,
			wantJSON: `{"type":"signoff:frontchannel-logout","ok":false,"error":"iss and sid must both be present or both absent"}`},
		{name: "sid without iss", query: url.Values{"sid": {"sid-1"}}, want: 400},
		{name: "wrong iss", query: url.Values{"iss": {issuer + "junk"}, "sid": {"sid-1"}}, want: 400,
			wantJSON: `{"type":"signoff:frontchannel-logout","ok":false,"error":"iss is not the expected issuer"}`},
		{name: "callback error", query: url.Values{"iss": {issuer}, "sid": {"sid-1"}}, fail: errors.New("session store down"),
			want: 500, called: true, wantSID: "sid-1",
			wantJSON: `{"type":"signoff:frontchannel-logout","ok":false,"error":"session store down"}`},
		{name: "script in sid", query: url.Values{"iss": {issuer}, "sid": {evil}}, want: 200, called: true, wantSID: evil,
			wantJSON: `{"type":"signoff:frontchannel-logout","ok":true,"sid":"\u003c/script\u003e\u003cscript\u003ealert(1)"}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var (
				mu    sync.Mutex
				calls []receiver.FrontLogout
			)
			h, err := receiver.NewFrontChannel(receiver.FrontChannelConfig{
				Issuer: issuer,
				Logger: quiet(),
				Logout: func(w http.ResponseWriter, r *http.Request, l receiver.FrontLogout) error {
					mu.Lock()
					calls = append(calls, l)
					mu.Unlock()
					http.SetCookie(w, &http.Cookie{Name: "rp_session", Path: "/", MaxAge: -1})
					return tc.fail
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(h)
			defer srv.Close()
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/frontchannel?"+tc.query.Encode(), nil)
			resp := do(t, req)

			if resp.status != tc.want {
				t.Fatalf("status %d, want %d (%s)", resp.status, tc.want, resp.body)
			}
			if (len(calls) == 1) != tc.called || len(calls) > 1 {
				t.Fatalf("Logout called %d times, want called=%v", len(calls), tc.called)
			}
			if tc.called {
				want := receiver.FrontLogout{SessionID: tc.wantSID}
				if tc.wantSID != "" {
					want.Issuer = issuer
				}
				if calls[0] != want {
					t.Errorf("Logout got %+v, want %+v", calls[0], want)
				}
				if c := resp.header.Get("Set-Cookie"); !strings.HasPrefix(c, "rp_session=;") || !strings.Contains(c, "Max-Age=0") {
					t.Errorf("Set-Cookie %q does not clear rp_session", c)
				}
			}
			if cc := resp.header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q", cc)
			}
			if ct := resp.header.Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("Content-Type %q", ct)
			}

			body := string(resp.body)
			m := scriptRe.FindStringSubmatch(body)
			if m == nil {
				t.Fatalf("no postMessage script in %s", body)
			}
			if tc.wantJSON != "" && m[2] != tc.wantJSON {
				t.Errorf("message %s, want %s", m[2], tc.wantJSON)
			}
			if m[3] != "https://op.example.test" {
				t.Errorf("targetOrigin %q", m[3])
			}
			if strings.Contains(body, "<script>alert") || strings.Count(body, "<script") != 1 {
				t.Errorf("the page has an injected script: %s", body)
			}
			csp := resp.header.Get("Content-Security-Policy")
			n := nonceRe.FindStringSubmatch(csp)
			if n == nil || n[1] != m[1] || len(n[1]) < 22 {
				t.Errorf("CSP %q does not allow the script's nonce %q", csp, m[1])
			}
			if !strings.HasPrefix(csp, "default-src 'none';") || !strings.HasSuffix(csp, "; frame-ancestors https://op.example.test") {
				t.Errorf("CSP %q", csp)
			}
		})
	}
}

func TestFrontChannelNonceIsFresh(t *testing.T) {
	h, err := receiver.NewFrontChannel(receiver.FrontChannelConfig{Issuer: issuer,
		Logout: func(http.ResponseWriter, *http.Request, receiver.FrontLogout) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	nonce := func() string {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
		return nonceRe.FindStringSubmatch(w.Header().Get("Content-Security-Policy"))[1]
	}
	if a, b := nonce(), nonce(); a == b {
		t.Errorf("the same nonce twice: %q", a)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/", nil))
	if w.Code != http.StatusMethodNotAllowed {
		t.Errorf("POST: status %d, want 405", w.Code)
	}
}

func TestFrontChannelParentOrigin(t *testing.T) {
	for _, tc := range []struct{ issuer, parent, want string }{
		{"https://OP.example.test:443/realms/x", "", "https://op.example.test"},
		{"https://op.example.test/realms/x", "https://auth.example.test:8443/logout", "https://auth.example.test:8443"},
		{"http://127.0.0.1:8080", "", "http://127.0.0.1:8080"},
		{"http://[::1]:80/", "", "http://[::1]"},
	} {
		h, err := receiver.NewFrontChannel(receiver.FrontChannelConfig{Issuer: tc.issuer, ParentOrigin: tc.parent,
			Logout: func(http.ResponseWriter, *http.Request, receiver.FrontLogout) error { return nil }})
		if err != nil {
			t.Fatal(err)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/", nil))
		if m := scriptRe.FindStringSubmatch(w.Body.String()); m == nil || m[3] != tc.want {
			t.Errorf("issuer %q parent %q: page %s, want targetOrigin %q", tc.issuer, tc.parent, w.Body, tc.want)
		}
	}
	if _, err := receiver.NewFrontChannel(receiver.FrontChannelConfig{Issuer: "op.example.test",
		Logout: func(http.ResponseWriter, *http.Request, receiver.FrontLogout) error { return nil }}); err == nil {
		t.Error("an issuer that is not an absolute URL was accepted")
	}
}
