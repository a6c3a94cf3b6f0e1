package receiver_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/signoff/signoff/adapters/backchannel/receiver"
)

// TestBackChannelValidation runs the RP-side back-channel cases of the
// OpenID conformance suite (oidcc-client-test-rp-backchannel-*), plus the
// checks the suite leaves out, against the handler.
func TestBackChannelValidation(t *testing.T) {
	rsa := newKey(t, jose.RS256, "rsa-1")
	ec := newKey(t, jose.ES256, "ec-1")
	ed := newKey(t, jose.EdDSA, "ed-1")
	forged := newKey(t, jose.RS256, "rsa-1-other") // not published...
	forged.kid = "rsa-1"                           // ...but claims to be

	rsaOnly := func(c *receiver.BackChannelConfig) { c.Algorithms = []jose.SignatureAlgorithm{jose.RS256} }
	set := func(k string, v any) func(map[string]any) { return func(c map[string]any) { c[k] = v } }
	del := func(ks ...string) func(map[string]any) {
		return func(c map[string]any) {
			for _, k := range ks {
				delete(c, k)
			}
		}
	}
	now := newClock().Now() // every RP's clock starts here

	tests := []struct {
		name   string
		key    testKey
		typ    string // "" = absent; default logout+jwt via the zero case below
		noTyp  bool
		claims func(map[string]any)
		raw    func(map[string]any) string // replaces signing
		form   url.Values                  // extra form fields
		cfg    func(*receiver.BackChannelConfig)
		want   int
		desc   string // in error_description
	}{
		// Conformance suite, oidcc-client-test-rp-backchannel-rpinitlogout:
		// exp = iat + 120, an extra claim and an extra form field.
		{name: "suite valid token", claims: set("ignored_claim", "x"),
			form: url.Values{"ignored_parameter": {"y"}}, cfg: rsaOnly, want: 200},
		{name: "suite alg none", raw: func(c map[string]any) string { return unsigned(t, c) }, want: 400, desc: `alg "none"`},
		{name: "suite wrong alg", key: ec, cfg: rsaOnly, want: 400, desc: `alg "ES256" is not accepted`},
		{name: "suite wrong aud", claims: set("aud", clientID+"junk"), want: 400, desc: "aud"},
		{name: "suite wrong iss", claims: set("iss", issuer+"junk"), want: 400, desc: "iss"},
		{name: "suite no event", claims: del("events"), want: 400, desc: "missing events"},
		{name: "suite wrong event", claims: set("events", map[string]any{"http://schemas.openid.net/event/foobar": map[string]any{}}),
			want: 400, desc: "events has no member"},
		{name: "suite with nonce", claims: set("nonce", "n-0S6_WzA2Mj"), want: 400, desc: "nonce"},

		{name: "ES256", key: ec, want: 200},
		{name: "EdDSA", key: ed, want: 200},
		{name: "aud array", claims: set("aud", []string{"other", clientID}), want: 200},
		{name: "aud array without client", claims: set("aud", []string{"other"}), want: 400, desc: "aud"},
		{name: "sub only", claims: del("sid"), want: 200},
		{name: "sid only", claims: del("sub"), want: 200},
		{name: "neither sub nor sid", claims: del("sub", "sid"), want: 400, desc: "neither sub nor sid"},
		{name: "other events ignored", claims: set("events", map[string]any{
			bclEvent: map[string]any{}, "https://example.test/other": 1}), want: 200},
		{name: "event not an object", claims: set("events", map[string]any{bclEvent: "yes"}), want: 400, desc: "not a JSON object"},
		{name: "expired", claims: set("exp", now.Add(-61*time.Second).Unix()), want: 400, desc: "logout token expired"},
		{name: "expired within leeway", claims: set("exp", now.Add(-30*time.Second).Unix()), want: 200},
		{name: "missing exp", claims: del("exp"), want: 400, desc: "missing exp"},
		{name: "missing iat", claims: del("iat"), want: 400, desc: "missing iat"},
		{name: "iat in the future", claims: set("iat", now.Add(2*time.Minute).Unix()), want: 400, desc: "future"},
		{name: "iat within leeway", claims: set("iat", now.Add(30*time.Second).Unix()), want: 200},
		{name: "iat too old", claims: func(c map[string]any) {
			c["iat"] = now.Add(-12 * time.Minute).Unix()
			c["exp"] = now.Add(time.Minute).Unix()
		}, want: 400, desc: "too old"},
		{name: "iat a string", claims: set("iat", "yesterday"), want: 400, desc: "iat is not a number"},
		{name: "missing jti", claims: del("jti"), want: 400, desc: "missing jti"},
		{name: "claim names are case sensitive", claims: func(c map[string]any) { c["ISS"] = c["iss"]; delete(c, "iss") },
			want: 400, desc: "missing iss"},
		{name: "bad signature", key: forged, want: 400, desc: "invalid signature"},
		{name: "unsigned garbage", raw: func(map[string]any) string { return "not.a.jws" }, want: 400, desc: "not a compact JWS"},
		{name: "typ JWT", typ: "JWT", want: 200},
		{name: "typ absent", noTyp: true, want: 200},
		{name: "typ application/logout+jwt", typ: "application/logout+jwt", want: 200},
		{name: "typ at+jwt", typ: "at+jwt", want: 400, desc: `typ "at+jwt"`},
		{name: "missing logout_token", raw: func(map[string]any) string { return "" }, want: 400, desc: "logout_token"},
		{name: "two logout_tokens", form: url.Values{"logout_token": {"x"}}, want: 400, desc: "exactly one logout_token"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRP(t, []testKey{rsa, ec, ed}, tc.cfg)
			c := claims(r.clk.Now())
			if tc.claims != nil {
				tc.claims(c)
			}
			key := tc.key
			if key.priv == nil {
				key = rsa
			}
			typ := tc.typ
			if typ == "" && !tc.noTyp {
				typ = "logout+jwt"
			}
			var token string
			if tc.raw != nil {
				token = tc.raw(c)
			} else {
				token = mint(t, key, typ, c)
			}
			form := url.Values{}
			if token != "" {
				form.Add("logout_token", token)
			}
			for k, vs := range tc.form {
				form[k] = append(form[k], vs...)
			}
			resp := r.post(t, form)

			if resp.status != tc.want {
				t.Fatalf("status %d, want %d (body %s)", resp.status, tc.want, resp.body)
			}
			if cc := resp.header.Get("Cache-Control"); cc != "no-store" {
				t.Errorf("Cache-Control %q, want no-store", cc)
			}
			calls := r.calls()
			if tc.want != 200 {
				code, desc := resp.errorBody(t)
				if code != "invalid_request" || !strings.Contains(desc, tc.desc) {
					t.Errorf("error %q %q, want invalid_request containing %q", code, desc, tc.desc)
				}
				if len(calls) != 0 {
					t.Errorf("Logout called for a rejected token: %+v", calls)
				}
				return
			}
			if len(resp.body) != 0 {
				t.Errorf("body %q, want empty", resp.body)
			}
			if len(calls) != 1 {
				t.Fatalf("Logout called %d times, want 1", len(calls))
			}
			want := receiver.Logout{JTI: c["jti"].(string), IssuedAt: time.Unix(c["iat"].(int64), 0)}
			want.Subject, _ = c["sub"].(string)
			want.SessionID, _ = c["sid"].(string)
			if got := calls[0]; got.Subject != want.Subject || got.SessionID != want.SessionID ||
				got.JTI != want.JTI || !got.IssuedAt.Equal(want.IssuedAt) {
				t.Errorf("Logout got %+v, want %+v", got, want)
			}
		})
	}
}

func TestBackChannelOnlyPOST(t *testing.T) {
	r := newRP(t, []testKey{newKey(t, jose.RS256, "k")}, nil)
	req, _ := http.NewRequest(http.MethodGet, r.URL+"?logout_token=x", nil)
	resp := do(t, req)
	if resp.status != http.StatusMethodNotAllowed || resp.header.Get("Allow") != "POST" {
		t.Fatalf("GET: status %d Allow %q, want 405 POST", resp.status, resp.header.Get("Allow"))
	}
	// A token in the query of a POST is not read either.
	req, _ = http.NewRequest(http.MethodPost, r.URL+"?logout_token="+mint(t, newKey(t, jose.RS256, "k"), "JWT", claims(r.clk.Now())), nil)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if resp := do(t, req); resp.status != 400 {
		t.Fatalf("token in the query: status %d, want 400", resp.status)
	}
}

func TestBackChannelReplay(t *testing.T) {
	k := newKey(t, jose.RS256, "k")
	r := newRP(t, []testKey{k}, nil)
	token := mint(t, k, "logout+jwt", claims(r.clk.Now()))
	if resp := r.send(t, token); resp.status != 200 {
		t.Fatalf("first: status %d, want 200 (%s)", resp.status, resp.body)
	}
	r.clk.Advance(90 * time.Second) // still valid
	resp := r.send(t, token)
	if resp.status != 400 {
		t.Fatalf("replay: status %d, want 400", resp.status)
	}
	if _, desc := resp.errorBody(t); !strings.Contains(desc, "replayed") {
		t.Errorf("replay description %q", desc)
	}
	if n := len(r.calls()); n != 1 {
		t.Errorf("Logout called %d times, want 1", n)
	}
}

// A token whose callback failed gets 503 (signoff retries 5xx), its jti is
// not remembered, and the retry succeeds.
func TestBackChannelRetryAfterFailedCallback(t *testing.T) {
	k := newKey(t, jose.RS256, "k")
	r := newRP(t, []testKey{k}, nil)
	r.failNext = 1
	token := mint(t, k, "logout+jwt", claims(r.clk.Now()))
	resp := r.send(t, token)
	if resp.status != http.StatusServiceUnavailable {
		t.Fatalf("failed callback: status %d, want 503", resp.status)
	}
	if code, _ := resp.errorBody(t); code != "temporarily_unavailable" {
		t.Errorf("error %q, want temporarily_unavailable", code)
	}
	if resp := r.send(t, token); resp.status != 200 {
		t.Fatalf("retry: status %d, want 200 (%s)", resp.status, resp.body)
	}
	if n := len(r.calls()); n != 2 {
		t.Errorf("Logout called %d times, want 2 (one failure, one success)", n)
	}
}

// An unknown kid refetches the JWKS, at most once per refresh interval.
func TestBackChannelKeyRotation(t *testing.T) {
	old := newKey(t, jose.ES256, "old")
	rotated := newKey(t, jose.ES256, "new")
	never := newKey(t, jose.ES256, "never")
	r := newRP(t, []testKey{old}, nil)

	send := func(k testKey) response { return r.send(t, mint(t, k, "logout+jwt", claims(r.clk.Now()))) }
	check := func(step string, resp response, status int, fetches int32) {
		t.Helper()
		if resp.status != status {
			t.Fatalf("%s: status %d, want %d (%s)", step, resp.status, status, resp.body)
		}
		if n := r.jwks.fetches.Load(); n != fetches {
			t.Fatalf("%s: %d JWKS fetches, want %d", step, n, fetches)
		}
	}
	check("first token fetches the keys", send(old), 200, 1)
	check("known kid", send(old), 200, 1)

	r.jwks.set(old, rotated)
	resp := send(rotated)
	check("rotated kid right after a fetch", resp, 503, 1)
	if ra := resp.header.Get("Retry-After"); ra != "10" {
		t.Errorf("Retry-After %q, want 10", ra)
	}
	r.clk.Advance(10 * time.Second)
	check("rotated kid refetches", send(rotated), 200, 2)
	check("rotated kid again", send(rotated), 200, 2)

	// Concurrent tokens with a new kid share one fetch.
	newest := newKey(t, jose.ES256, "newest")
	r.jwks.set(old, rotated, newest)
	r.clk.Advance(10 * time.Second)
	var wg sync.WaitGroup
	statuses := make([]int, 16)
	for i := range statuses {
		token := mint(t, newest, "logout+jwt", claims(r.clk.Now()))
		wg.Go(func() { // no t.Fatal off the test goroutine
			resp, err := http.PostForm(r.URL, url.Values{"logout_token": {token}})
			if err == nil {
				statuses[i] = resp.StatusCode
				_ = resp.Body.Close()
			}
		})
	}
	wg.Wait()
	for i, s := range statuses {
		if s != 200 {
			t.Fatalf("concurrent token %d: status %d, want 200", i, s)
		}
	}
	check("after concurrent tokens", send(newest), 200, 3)

	check("flood of unknown kids: no fetch", send(never), 503, 3)
	check("flood of unknown kids: still no fetch", send(never), 503, 3)
	r.clk.Advance(10 * time.Second)
	check("unknown after a refetch", send(never), 400, 4)
}

func TestBackChannelJWKSUnavailable(t *testing.T) {
	k := newKey(t, jose.EdDSA, "k")
	r := newRP(t, []testKey{k}, nil)
	r.jwks.down.Store(true)
	if resp := r.send(t, mint(t, k, "JWT", claims(r.clk.Now()))); resp.status != 503 {
		t.Fatalf("JWKS down: status %d, want 503", resp.status)
	}
	r.jwks.down.Store(false)
	r.clk.Advance(10 * time.Second)
	if resp := r.send(t, mint(t, k, "JWT", claims(r.clk.Now()))); resp.status != 200 {
		t.Fatalf("JWKS back: status %d, want 200 (%s)", resp.status, resp.body)
	}
}

func TestBackChannelStaticKeys(t *testing.T) {
	k := newKey(t, jose.ES256, "k")
	clk := newClock()
	var got []receiver.Logout
	h, err := receiver.NewBackChannel(receiver.BackChannelConfig{
		Issuer: issuer, ClientID: clientID, Now: clk.Now, Logger: quiet(),
		Keys: &jose.JSONWebKeySet{Keys: []jose.JSONWebKey{k.public()}},
		Logout: func(_ context.Context, l receiver.Logout) error {
			got = append(got, l)
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	l, err := h.Verify(context.Background(), mint(t, k, "logout+jwt", claims(clk.Now())))
	if err != nil || l.Subject != "alice" || l.SessionID != "sid-1" {
		t.Fatalf("Verify: %+v, %v", l, err)
	}
	_, err = h.Verify(context.Background(), mint(t, newKey(t, jose.ES256, "other"), "logout+jwt", claims(clk.Now())))
	if !errors.Is(err, receiver.ErrInvalidToken) {
		t.Fatalf("unknown kid with static keys: %v, want ErrInvalidToken", err)
	}
	if len(got) != 0 {
		t.Errorf("Verify called Logout")
	}
}

func TestNewBackChannelRejectsBadConfig(t *testing.T) {
	ok := receiver.BackChannelConfig{Issuer: issuer, ClientID: clientID, JWKSURL: "https://op.example.test/jwks",
		Logout: func(context.Context, receiver.Logout) error { return nil }}
	for name, mutate := range map[string]func(*receiver.BackChannelConfig){
		"no issuer":     func(c *receiver.BackChannelConfig) { c.Issuer = "" },
		"no client":     func(c *receiver.BackChannelConfig) { c.ClientID = "" },
		"no callback":   func(c *receiver.BackChannelConfig) { c.Logout = nil },
		"no keys":       func(c *receiver.BackChannelConfig) { c.JWKSURL = "" },
		"both key sets": func(c *receiver.BackChannelConfig) { c.Keys = &jose.JSONWebKeySet{} },
		"alg none":      func(c *receiver.BackChannelConfig) { c.Algorithms = []jose.SignatureAlgorithm{"none"} },
		"HS256":         func(c *receiver.BackChannelConfig) { c.Algorithms = []jose.SignatureAlgorithm{jose.HS256} },
	} {
		c := ok
		mutate(&c)
		if _, err := receiver.NewBackChannel(c); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := receiver.NewBackChannel(ok); err != nil {
		t.Errorf("valid config: %v", err)
	}
}

func TestMemoryJTIStore(t *testing.T) {
	ctx := context.Background()
	clk := newClock()
	s := receiver.NewMemoryJTIStore(2, clk.Now)
	_ = s.Remember(ctx, "a", clk.Now().Add(time.Minute))
	_ = s.Remember(ctx, "b", clk.Now().Add(3*time.Minute))
	if seen, _ := s.Seen(ctx, "a"); !seen {
		t.Fatal("a not seen")
	}
	_ = s.Remember(ctx, "c", clk.Now().Add(2*time.Minute)) // full: evicts a, the soonest to expire
	if seen, _ := s.Seen(ctx, "a"); seen || s.Len() != 2 {
		t.Fatalf("a still seen or %d entries, want evicted and 2", s.Len())
	}
	clk.Advance(2 * time.Minute)
	if seen, _ := s.Seen(ctx, "c"); seen {
		t.Error("c seen after it expired")
	}
	if seen, _ := s.Seen(ctx, "b"); !seen {
		t.Error("b not seen before it expired")
	}
}
