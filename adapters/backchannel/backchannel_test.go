package backchannel

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"

	"github.com/signoff/signoff/adapters/keys"
	"github.com/signoff/signoff/events"
	"github.com/signoff/signoff/events/eventstest"
)

// claimsOf decodes a JWT's payload without verifying it.
func claimsOf(t *testing.T, raw string) map[string]json.RawMessage {
	t.Helper()
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts", len(parts))
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("payload: %v", err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(payload, &m); err != nil {
		t.Fatalf("payload JSON: %v", err)
	}
	return m
}

func jtiOf(t *testing.T, raw string) string {
	t.Helper()
	var jti string
	if err := json.Unmarshal(claimsOf(t, raw)["jti"], &jti); err != nil || jti == "" {
		t.Fatalf("no jti: %v", err)
	}
	return jti
}

func TestTokenVerifiesWithGoOIDC(t *testing.T) {
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(testKeys.JWKSJSON())
	}))
	defer jwks.Close()

	cases := []struct{ alg, typ, wantTyp string }{
		{keys.RS256, "", TypLogoutJWT},
		{keys.ES256, "", TypLogoutJWT},
		{keys.EdDSA, "", TypLogoutJWT},
		{keys.RS256, TypJWT, TypJWT},
		{keys.ES256, TypLogoutJWT, TypLogoutJWT},
	}
	for _, c := range cases {
		t.Run(c.alg+"/"+c.wantTyp, func(t *testing.T) {
			rp := newRP(t, statuses(http.StatusOK))
			now := clock()
			a, pub := newAdapter(t, rp.URL+"/oidc/backchannel?tenant=a", func(cfg *Config) {
				cfg.RPs[0].Alg, cfg.RPs[0].Typ = c.alg, c.typ
				cfg.Now = now
			})
			mustHandle(t, a, dispatch(a, "app", 10*time.Second, "sid-1"))
			res := pub.wait(t, 1, 5*time.Second)[0]
			if res.Outcome != events.OutcomeSucceeded || res.Attempts != 1 {
				t.Fatalf("result = %+v", res)
			}
			reqs := rp.requests()
			if len(reqs) != 1 {
				t.Fatalf("RP got %d requests", len(reqs))
			}
			if reqs[0].contentType != "application/x-www-form-urlencoded" || reqs[0].formErr != nil {
				t.Errorf("Content-Type %q, form error %v", reqs[0].contentType, reqs[0].formErr)
			}
			raw := reqs[0].token

			verifier := oidc.NewVerifier(testIssuer, oidc.NewRemoteKeySet(context.Background(), jwks.URL),
				&oidc.Config{ClientID: "app-client", SupportedSigningAlgs: []string{c.alg}, Now: now})
			lt, err := verifier.VerifyLogout(context.Background(), raw)
			if err != nil {
				t.Fatalf("VerifyLogout: %v", err)
			}
			if lt.Subject != "user-42" || lt.SessionID != "sid-1" || lt.Issuer != testIssuer {
				t.Errorf("sub %q sid %q iss %q", lt.Subject, lt.SessionID, lt.Issuer)
			}
			if len(lt.Audience) != 1 || lt.Audience[0] != "app-client" {
				t.Errorf("aud = %v, want [app-client]", lt.Audience)
			}
			if life := lt.Expiry.Sub(lt.IssuedAt); life <= 0 || life > 120*time.Second {
				t.Errorf("exp - iat = %v, want (0, 120s]", life)
			}
			if d := lt.IssuedAt.Sub(now()); d > time.Second || d < -5*time.Second {
				t.Errorf("iat %v is not the injected clock's now %v", lt.IssuedAt, now())
			}

			// A verifier for another alg refuses the token.
			other := keys.ES256
			if c.alg == keys.ES256 {
				other = keys.RS256
			}
			wrong := oidc.NewVerifier(testIssuer, oidc.NewRemoteKeySet(context.Background(), jwks.URL),
				&oidc.Config{ClientID: "app-client", SupportedSigningAlgs: []string{other}, Now: now})
			if _, err := wrong.VerifyLogout(context.Background(), raw); err == nil {
				t.Errorf("token verified with alg %s", other)
			}

			jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.SignatureAlgorithm(c.alg)})
			if err != nil {
				t.Fatal(err)
			}
			h := jws.Signatures[0].Protected
			if h.ExtraHeaders["typ"] != c.wantTyp {
				t.Errorf("typ = %v, want %s", h.ExtraHeaders["typ"], c.wantTyp)
			}
			k, _ := testKeys.Signing(c.alg)
			if h.KeyID == "" || h.KeyID != k.KID {
				t.Errorf("kid = %q, want %q", h.KeyID, k.KID)
			}
			if h.Algorithm != c.alg {
				t.Errorf("alg = %q", h.Algorithm)
			}

			claims := claimsOf(t, raw)
			if _, ok := claims["nonce"]; ok {
				t.Errorf("token has a nonce")
			}
			for _, name := range []string{"iss", "sub", "aud", "iat", "exp", "jti", "sid", "events"} {
				if _, ok := claims[name]; !ok {
					t.Errorf("claim %s missing", name)
				}
			}
			var ev map[string]json.RawMessage
			if err := json.Unmarshal(claims["events"], &ev); err != nil {
				t.Fatal(err)
			}
			if len(ev) != 1 || string(ev[EventBackchannelLogout]) != "{}" {
				t.Errorf("events = %s, want exactly {%q:{}}", claims["events"], EventBackchannelLogout)
			}
		})
	}
}

func TestRetriesServiceUnavailableWithFreshTokens(t *testing.T) {
	rp := newRP(t, statuses(503, 503, 200))
	a, pub := newAdapter(t, rp.URL, nil)
	mustHandle(t, a, dispatch(a, "app", 10*time.Second, "sid-1"))
	res := pub.wait(t, 1, 5*time.Second)[0]
	if res.Outcome != events.OutcomeSucceeded || res.Attempts != 3 {
		t.Fatalf("result = %+v, want succeeded after 3 attempts", res)
	}
	reqs := rp.requests()
	if len(reqs) != 3 {
		t.Fatalf("RP got %d requests, want 3", len(reqs))
	}
	seen := map[string]bool{}
	for _, r := range reqs {
		seen[jtiOf(t, r.token)] = true
	}
	if len(seen) != 3 {
		t.Errorf("%d distinct jti in 3 attempts", len(seen))
	}
	if st := a.Stats(); st.Attempts != 3 || st.Succeeded != 1 || st.Accepted != 1 {
		t.Errorf("stats = %+v", st)
	}
	if res.EventID == "" || res.LogoutID == "" || res.RPID != "app" || res.Adapter != events.AdapterBackchannel || res.FinishedAt.IsZero() {
		t.Errorf("result fields = %+v", res)
	}
}

func TestBadRequestIsFinal(t *testing.T) {
	body := `{"error":"invalid_request",` + "\x00\x1b[31m\n\t" + `"error_description":"` + strings.Repeat("x", 400) + `"}`
	rp := newRP(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(body))
	})
	a, pub := newAdapter(t, rp.URL, nil)
	mustHandle(t, a, dispatch(a, "app", 10*time.Second, "sid-1"))
	res := pub.wait(t, 1, 5*time.Second)[0]
	if res.Outcome != events.OutcomeFailed || res.Attempts != 1 {
		t.Fatalf("result = %+v, want failed after 1 attempt", res)
	}
	if !strings.HasPrefix(res.Detail, `HTTP 400: {"error":"invalid_request",`) {
		t.Errorf("detail = %q", res.Detail)
	}
	if len(res.Detail) > len("HTTP 400: ")+200 || strings.ContainsAny(res.Detail, "\x00\x1b\n\t") {
		t.Errorf("detail not sanitised: %q", res.Detail)
	}
	// No late retry: once the delivery's goroutine has ended (Pool.Go
	// counts it in InFlight before Handle returns), nothing can send again.
	eventstest.Eventually(t, 5*time.Second, func() bool { return a.Stats().InFlight == 0 }, "the delivery did not end")
	if n := len(rp.requests()); n != 1 {
		t.Errorf("RP got %d requests, want 1", n)
	}
}

func TestHangingRPTimesOut(t *testing.T) {
	release := make(chan struct{})
	rp := newRP(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	a, pub := newAdapter(t, rp.URL, func(c *Config) { c.AttemptTimeout = 300 * time.Millisecond })
	start := time.Now()
	mustHandle(t, a, dispatch(a, "app", 1500*time.Millisecond, "sid-1"))
	res := pub.wait(t, 1, 5*time.Second)[0]
	elapsed := time.Since(start)
	if res.Outcome != events.OutcomeTimedOut || res.Attempts < 2 {
		t.Fatalf("result = %+v, want timed_out after >= 2 attempts", res)
	}
	if !strings.Contains(res.Detail, "no response within 300ms") {
		t.Errorf("detail = %q, want the last error", res.Detail)
	}
	if elapsed > 2500*time.Millisecond {
		t.Errorf("timed out after %v, deadline was 1.5s", elapsed)
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	rp := newRP(t, func(w http.ResponseWriter, _ *http.Request, n int) {
		if n == 0 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	a, pub := newAdapter(t, rp.URL, nil)
	mustHandle(t, a, dispatch(a, "app", 10*time.Second, "sid-1"))
	res := pub.wait(t, 1, 5*time.Second)[0]
	if res.Outcome != events.OutcomeSucceeded || res.Attempts != 2 {
		t.Fatalf("result = %+v", res)
	}
	reqs := rp.requests()
	if gap := reqs[1].at.Sub(reqs[0].at); gap < time.Second {
		t.Errorf("retried %v after 429 Retry-After: 1", gap)
	}
}

func TestRetryAfterBeyondDeadlineIgnored(t *testing.T) {
	rp := newRP(t, func(w http.ResponseWriter, _ *http.Request, n int) {
		if n == 0 {
			w.Header().Set("Retry-After", "3600")
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	a, pub := newAdapter(t, rp.URL, nil)
	mustHandle(t, a, dispatch(a, "app", 5*time.Second, "sid-1"))
	res := pub.wait(t, 1, 5*time.Second)[0]
	if res.Outcome != events.OutcomeSucceeded || res.Attempts != 2 {
		t.Fatalf("result = %+v", res)
	}
}

func TestRedirectIsFailure(t *testing.T) {
	var followed atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { followed.Add(1) }))
	defer target.Close()
	rp := newRP(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		http.Redirect(w, r, target.URL, http.StatusFound)
	})
	a, pub := newAdapter(t, rp.URL, func(c *Config) {
		c.Client = &http.Client{} // a caller's client that would follow redirects
	})
	mustHandle(t, a, dispatch(a, "app", 10*time.Second, "sid-1"))
	res := pub.wait(t, 1, 5*time.Second)[0]
	if res.Outcome != events.OutcomeFailed || res.Attempts != 1 || res.Detail != "HTTP 302: redirect not followed" {
		t.Fatalf("result = %+v", res)
	}
	if followed.Load() != 0 {
		t.Errorf("redirect was followed")
	}
}

func TestStatusClassification(t *testing.T) {
	cases := []struct {
		name     string
		codes    []int
		outcome  events.Outcome
		attempts int
	}{
		{"200", []int{200}, events.OutcomeSucceeded, 1},
		{"204", []int{204}, events.OutcomeSucceeded, 1},
		{"202 is no proof", []int{202}, events.OutcomeFailed, 1},
		{"401", []int{401}, events.OutcomeFailed, 1},
		{"404", []int{404}, events.OutcomeFailed, 1},
		{"408 retried", []int{408, 200}, events.OutcomeSucceeded, 2},
		{"500 retried", []int{500, 502, 504, 200}, events.OutcomeSucceeded, 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rp := newRP(t, statuses(c.codes...))
			a, pub := newAdapter(t, rp.URL, nil)
			mustHandle(t, a, dispatch(a, "app", 10*time.Second, "sid-1"))
			res := pub.wait(t, 1, 5*time.Second)[0]
			if res.Outcome != c.outcome || res.Attempts != c.attempts {
				t.Fatalf("result = %+v, want %s after %d", res, c.outcome, c.attempts)
			}
		})
	}
}

func TestSessionRequiredWithoutSIDSendsNothing(t *testing.T) {
	rp := newRP(t, nil)
	a, pub := newAdapter(t, rp.URL, func(c *Config) { c.RPs[0].SessionRequired = true })
	mustHandle(t, a, dispatch(a, "app", 10*time.Second, ""))
	mustHandle(t, a, dispatch(a, "app", 10*time.Second))
	results := pub.wait(t, 2, 5*time.Second)
	for _, res := range results {
		if res.Outcome != events.OutcomeFailed || res.Attempts != 0 || !strings.Contains(res.Detail, "sid") {
			t.Errorf("result = %+v, want failed without attempts, detail about sid", res)
		}
	}
	if n := len(rp.requests()); n != 0 {
		t.Errorf("RP got %d requests", n)
	}
}

func TestSeveralSessions(t *testing.T) {
	rp := newRP(t, nil)
	a, pub := newAdapter(t, rp.URL, nil)
	// sid a twice, sid b, and a session without sid: tokens for a, b and
	// one with sub only.
	mustHandle(t, a, dispatch(a, "app", 10*time.Second, "a", "a", "b", ""))
	res := pub.wait(t, 1, 5*time.Second)[0]
	if res.Outcome != events.OutcomeSucceeded || res.Attempts != 3 {
		t.Fatalf("result = %+v", res)
	}
	var sids []string
	for _, r := range rp.requests() {
		var sid string
		_ = json.Unmarshal(claimsOf(t, r.token)["sid"], &sid)
		sids = append(sids, sid)
	}
	if strings.Join(sids, ",") != "a,b," {
		t.Errorf("sids sent = %q, want a,b,<none>", sids)
	}

	// One token refused: the participant fails.
	rp2 := newRP(t, statuses(200, 400, 200))
	a2, pub2 := newAdapter(t, rp2.URL, nil)
	mustHandle(t, a2, dispatch(a2, "app", 10*time.Second, "x", "y", "z"))
	res = pub2.wait(t, 1, 5*time.Second)[0]
	if res.Outcome != events.OutcomeFailed || res.Attempts != 3 || !strings.HasPrefix(res.Detail, "token 2 of 3: HTTP 400") {
		t.Fatalf("result = %+v", res)
	}

	// RP requires sid: the sessions with sid are signed out, the one
	// without makes the participant fail.
	rp3 := newRP(t, nil)
	a3, pub3 := newAdapter(t, rp3.URL, func(c *Config) { c.RPs[0].SessionRequired = true })
	mustHandle(t, a3, dispatch(a3, "app", 10*time.Second, "x", ""))
	res = pub3.wait(t, 1, 5*time.Second)[0]
	if res.Outcome != events.OutcomeFailed || res.Attempts != 1 || len(rp3.requests()) != 1 {
		t.Fatalf("result = %+v", res)
	}
}

func TestUnknownRP(t *testing.T) {
	a, pub := newAdapter(t, "https://rp.example.test/bcl", nil)
	mustHandle(t, a, dispatch(a, "nope", 10*time.Second, "sid"))
	res := pub.wait(t, 1, 5*time.Second)[0]
	if res.Outcome != events.OutcomeFailed || res.Detail != "unknown relying party" || res.RPID != "nope" {
		t.Fatalf("result = %+v", res)
	}
}

func TestDeadlineAlreadyPassed(t *testing.T) {
	rp := newRP(t, nil)
	a, pub := newAdapter(t, rp.URL, nil)
	mustHandle(t, a, dispatch(a, "app", -time.Second, "sid"))
	res := pub.wait(t, 1, 5*time.Second)[0]
	if res.Outcome != events.OutcomeTimedOut || res.Attempts != 0 || len(rp.requests()) != 0 {
		t.Fatalf("result = %+v", res)
	}
	// Nothing was sent: not counted as a delivery that timed out (issue 15:
	// the counter read 4 for 1 real timeout after a restart).
	if st := a.Stats(); st.TimedOut != 0 || st.Late != 1 {
		t.Errorf("stats %+v, want TimedOut 0 and Late 1", st)
	}
}

func TestNetworkErrorRetried(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	uri := "http://" + ln.Addr().String() + "/bcl?secret=hunter2"
	_ = ln.Close() // connection refused from now on
	a, pub := newAdapter(t, uri, nil)
	mustHandle(t, a, dispatch(a, "app", 700*time.Millisecond, "sid"))
	res := pub.wait(t, 1, 5*time.Second)[0]
	if res.Outcome != events.OutcomeTimedOut || res.Attempts < 2 {
		t.Fatalf("result = %+v", res)
	}
	if !strings.Contains(res.Detail, "refused") || strings.Contains(res.Detail, "hunter2") {
		t.Errorf("detail = %q", res.Detail)
	}
}

func TestConcurrencyBound(t *testing.T) {
	rp := newRP(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
		time.Sleep(150 * time.Millisecond)
		w.WriteHeader(http.StatusOK)
	})
	a, pub := newAdapter(t, rp.URL, func(c *Config) { c.Concurrency = 2 })
	for range 5 {
		mustHandle(t, a, dispatch(a, "app", 10*time.Second, "sid"))
	}
	results := pub.wait(t, 5, 10*time.Second)
	for _, r := range results {
		if r.Outcome != events.OutcomeSucceeded {
			t.Errorf("result = %+v", r)
		}
	}
	if m := rp.maxInflight.Load(); m > 2 || m < 1 {
		t.Errorf("RP saw %d requests in flight, bound is 2", m)
	}
	if len(rp.requests()) != 5 {
		t.Errorf("RP got %d requests", len(rp.requests()))
	}
}

func TestHandleBlocksWhenFull(t *testing.T) {
	release := make(chan struct{})
	rp := newRP(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	a, pub := newAdapter(t, rp.URL, func(c *Config) { c.Concurrency = 1 })
	mustHandle(t, a, dispatch(a, "app", 10*time.Second, "sid"))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := a.Handle(ctx, dispatch(a, "app", 10*time.Second, "sid")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Handle on a full pool = %v, want context.DeadlineExceeded", err)
	}
	if st := a.Stats(); st.InFlight != 1 || st.Accepted != 1 {
		t.Errorf("stats = %+v", st)
	}
	close(release)
	pub.wait(t, 1, 5*time.Second)
	mustHandle(t, a, dispatch(a, "app", 10*time.Second, "sid")) // a slot is free again
	pub.wait(t, 2, 5*time.Second)
}

func TestDuplicateDispatchDeliveredOnce(t *testing.T) {
	release := make(chan struct{})
	rp := newRP(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	a, pub := newAdapter(t, rp.URL, nil)
	d := dispatch(a, "app", 10*time.Second, "sid")
	mustHandle(t, a, d)
	eventstest.Eventually(t, 5*time.Second, func() bool { return len(rp.requests()) == 1 }, "the RP did not get exactly one request")
	mustHandle(t, a, d) // JetStream redelivery while the first is in progress
	close(release)
	pub.wait(t, 1, 5*time.Second)
	// Both Handle calls have returned, so a second delivery, had one
	// started, is counted in InFlight until it has published.
	eventstest.Eventually(t, 5*time.Second, func() bool { return a.Stats().InFlight == 0 }, "a delivery did not end")
	if n := len(pub.snapshot()); n != 1 {
		t.Errorf("%d results for one dispatch", n)
	}
}

func TestPublishRetried(t *testing.T) {
	rp := newRP(t, nil)
	a, pub := newAdapter(t, rp.URL, nil)
	pub.failFirst = 2
	mustHandle(t, a, dispatch(a, "app", 10*time.Second, "sid"))
	res := pub.wait(t, 1, 5*time.Second)
	if len(res) != 1 || res[0].Outcome != events.OutcomeSucceeded {
		t.Fatalf("results = %+v", res)
	}
	if st := a.Stats(); st.PublishErrors != 2 {
		t.Errorf("PublishErrors = %d, want 2", st.PublishErrors)
	}
	if len(rp.requests()) != 1 {
		t.Errorf("a publish failure re-sent the token")
	}
}

func TestClose(t *testing.T) {
	rp := newRP(t, func(w http.ResponseWriter, _ *http.Request, _ int) {
		time.Sleep(200 * time.Millisecond)
	})
	a, pub := newAdapter(t, rp.URL, nil)
	mustHandle(t, a, dispatch(a, "app", 10*time.Second, "sid"))
	eventstest.Eventually(t, 5*time.Second, func() bool { return len(rp.requests()) == 1 }, "the RP did not get exactly one request")
	if err := a.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if len(pub.snapshot()) != 1 {
		t.Errorf("Close returned before the in-flight delivery published")
	}
	if err := a.Handle(context.Background(), dispatch(a, "app", 10*time.Second, "sid")); !errors.Is(err, ErrClosed) {
		t.Errorf("Handle after Close = %v", err)
	}

	// Close with an ended context aborts a hanging delivery.
	release := make(chan struct{})
	defer close(release)
	hang := newRP(t, func(w http.ResponseWriter, r *http.Request, _ int) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	b, _ := newAdapter(t, hang.URL, nil)
	mustHandle(t, b, dispatch(b, "app", 10*time.Second, "sid"))
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := b.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("Close = %v, want DeadlineExceeded", err)
	}
	eventstest.Eventually(t, 5*time.Second, func() bool { return b.Stats().InFlight == 0 }, "deliveries still in flight")
}

func TestNewValidates(t *testing.T) {
	onlyEC := fakeKeys{keys.ES256: true}
	good := RP{ID: "a", ClientID: "c", LogoutURI: "https://rp.example.test/bcl?x=1"}
	cases := map[string]func(*Config){
		"no issuer":      func(c *Config) { c.Issuer = "" },
		"no keys":        func(c *Config) { c.Keys = nil },
		"no publisher":   func(c *Config) { c.Publisher = nil },
		"relative uri":   func(c *Config) { c.RPs[0].LogoutURI = "/bcl" },
		"fragment":       func(c *Config) { c.RPs[0].LogoutURI = "https://rp.example.test/bcl#x" },
		"ftp":            func(c *Config) { c.RPs[0].LogoutURI = "ftp://rp.example.test/bcl" },
		"no client id":   func(c *Config) { c.RPs[0].ClientID = "" },
		"bad alg":        func(c *Config) { c.RPs[0].Alg = "HS256" },
		"bad typ":        func(c *Config) { c.RPs[0].Typ = "at+jwt" },
		"duplicate":      func(c *Config) { c.RPs = append(c.RPs, c.RPs[0]) },
		"no key for alg": func(c *Config) { c.Keys = onlyEC },
	}
	for name, mod := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := Config{Issuer: testIssuer, Keys: testKeys, Publisher: &recorder{}, RPs: []RP{good}, Logger: quietLogger()}
			mod(&cfg)
			if _, err := New(cfg); err == nil {
				t.Errorf("New accepted %s", name)
			}
		})
	}
	cfg := Config{Issuer: testIssuer, Keys: onlyEC, Publisher: &recorder{}, RPs: []RP{{ID: "a", ClientID: "c", LogoutURI: "http://localhost/x", Alg: keys.ES256, Typ: TypJWT}}}
	if _, err := New(cfg); err != nil {
		t.Errorf("New(valid) = %v", err)
	}
}

type fakeKeys map[string]bool

func (f fakeKeys) Signing(alg string) (keys.Key, error) {
	if !f[alg] {
		return keys.Key{}, keys.ErrNoKey
	}
	return keys.Key{KID: "k", Alg: alg}, nil
}

func TestMintRules(t *testing.T) {
	m := NewMinter(testIssuer, testKeys, clock())
	rp := RP{ID: "a", ClientID: "c", LogoutURI: "https://x", SessionRequired: true}
	if _, err := m.Mint(rp, "sub", ""); !errors.Is(err, ErrSessionRequired) {
		t.Errorf("Mint without sid for a session-required RP = %v", err)
	}
	rp.SessionRequired = false
	if _, err := m.Mint(rp, "", ""); !errors.Is(err, ErrNoSubject) {
		t.Errorf("Mint without sub and sid = %v", err)
	}
	t1, err := m.Mint(rp, "sub", "")
	if err != nil {
		t.Fatal(err)
	}
	t2, _ := m.Mint(rp, "sub", "")
	if t1.JTI == t2.JTI || t1.Raw == t2.Raw {
		t.Errorf("two mints share a jti")
	}
	if t1.Expiry.Sub(t1.IssuedAt) != TokenLifetime {
		t.Errorf("lifetime = %v", t1.Expiry.Sub(t1.IssuedAt))
	}
	if _, ok := claimsOf(t, t1.Raw)["sid"]; ok {
		t.Errorf("empty sid was sent")
	}
	rp.Alg = "none"
	if _, err := m.Mint(rp, "sub", "s"); err == nil {
		t.Errorf("minted with alg none")
	}
}
