package app

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/signoff/signoff/cmd/signoff/internal/config"
	"github.com/signoff/signoff/events"
	"github.com/signoff/signoff/events/eventstest"
)

const testIssuer = "https://auth.signoff.test"

// token is one logout token an RP received and verified.
type token struct {
	JTI, Sub, SID, Typ string
	Valid              bool
	Err                string
	At                 time.Time // when the RP received it
}

// testRP is a relying party on loopback that verifies every logout token
// with coreos/go-oidc's VerifyLogout against signoff's /jwks.json.
type testRP struct {
	ID       string
	ClientID string
	Alg      string
	srv      *httptest.Server
	verifier *oidc.IDTokenVerifier
	// script of status codes; the last one repeats. 0 means hang until the
	// request is cancelled.
	script []int
	gate   chan struct{} // optional: limits concurrent requests
	delay  time.Duration // optional: time taken by each request

	mu       sync.Mutex
	requests int
	tokens   []token
}

func newTestRP(t testing.TB, id, alg string, script ...int) *testRP {
	rp := &testRP{ID: id, ClientID: id + "-client", Alg: alg, script: script}
	if len(rp.script) == 0 {
		rp.script = []int{http.StatusOK}
	}
	rp.srv = httptest.NewServer(http.HandlerFunc(rp.serve))
	t.Cleanup(rp.srv.CloseClientConnections)
	t.Cleanup(rp.srv.Close)
	return rp
}

// useJWKS points the verifier at signoff's key set.
func (rp *testRP) useJWKS(jwksURL string) {
	ks := oidc.NewRemoteKeySet(context.Background(), jwksURL)
	rp.verifier = oidc.NewVerifier(testIssuer, ks, &oidc.Config{ClientID: rp.ClientID, SupportedSigningAlgs: []string{rp.Alg}})
}

func (rp *testRP) serve(w http.ResponseWriter, r *http.Request) {
	if rp.gate != nil {
		rp.gate <- struct{}{}
		defer func() { <-rp.gate }()
	}
	if rp.delay > 0 {
		time.Sleep(rp.delay)
	}
	raw := r.PostFormValue("logout_token")
	tok := token{At: time.Now()}
	if lt, err := rp.verifier.VerifyLogout(r.Context(), raw); err != nil {
		tok.Err = err.Error()
	} else {
		tok.Valid, tok.Sub, tok.SID = true, lt.Subject, lt.SessionID
		var claims struct {
			JTI string `json:"jti"`
		}
		if parts := splitJWT(raw); len(parts) == 3 {
			decodeSegment(parts[1], &claims)
			var hdr struct {
				Typ string `json:"typ"`
			}
			decodeSegment(parts[0], &hdr)
			tok.Typ = hdr.Typ
		}
		tok.JTI = claims.JTI
	}
	rp.mu.Lock()
	n := rp.requests
	rp.requests++
	rp.tokens = append(rp.tokens, tok)
	rp.mu.Unlock()
	code := rp.script[min(n, len(rp.script)-1)]
	if code == 0 {
		<-r.Context().Done()
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
}

func (rp *testRP) snapshot() (int, []token) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return rp.requests, append([]token(nil), rp.tokens...)
}

func (rp *testRP) config(sessionRequired bool) config.RelyingParty {
	return config.RelyingParty{ID: rp.ID, Name: "RP " + rp.ID, OIDC: &config.OIDC{
		ClientID: rp.ClientID, BackchannelLogoutURI: rp.srv.URL + "/oidc/backchannel",
		BackchannelLogoutSessionRequired: sessionRequired, LogoutTokenAlg: rp.Alg, LogoutTokenTyp: "logout+jwt",
	}}
}

// testConfig is a valid configuration on loopback with a fresh data dir.
func testConfig(t testing.TB, deadline time.Duration, rps ...*testRP) *config.Config {
	cfg := config.Default()
	cfg.DataDir = t.TempDir()
	cfg.Listen = "127.0.0.1:0"
	cfg.Issuer = testIssuer
	cfg.Logout.Deadline = config.Duration(deadline)
	cfg.Backchannel.AttemptTimeout = config.Duration(500 * time.Millisecond)
	for _, rp := range rps {
		cfg.RelyingParties = append(cfg.RelyingParties, rp.config(true))
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("test config: %v", err)
	}
	return cfg
}

func testLogger(t testing.TB) *slog.Logger {
	if os.Getenv("SIGNOFF_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// startApp starts signoff and points the RPs' verifiers at its JWKS.
func startApp(t testing.TB, cfg *config.Config, rps ...*testRP) *App {
	t.Helper()
	a, err := Start(context.Background(), Options{Config: cfg, Logger: testLogger(t)})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		a.Close(ctx)
	})
	for _, rp := range rps {
		rp.useJWKS("http://" + a.Addr() + "/jwks.json")
	}
	return a
}

// client publishes and reads events on the app's NATS.
type client struct {
	t  testing.TB
	nc *nats.Conn
	js jetstream.JetStream
}

func newClient(t testing.TB, nc *nats.Conn) *client {
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return &client{t: t, nc: nc, js: js}
}

func appClient(t testing.TB, a *App) *client {
	nc, err := a.Bus().Connect("test-client")
	if err != nil {
		t.Fatal(err)
	}
	return newClient(t, nc)
}

func (c *client) publishRaw(subject string, data []byte) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.js.Publish(ctx, subject, data); err != nil {
		c.t.Fatalf("publish %s: %v", subject, err)
	}
}

func (c *client) publish(subject string, ev events.Event) {
	c.t.Helper()
	b, err := events.Encode(ev)
	if err != nil {
		c.t.Fatal(err)
	}
	c.publishRaw(subject, b)
}

func (c *client) join(session, subject, rp, sid string) {
	c.publish(events.SubjectSessionJoined, events.SessionJoined{
		EventID: uuid.NewString(), OccurredAt: time.Now().UTC(), SessionID: session, Subject: subject, RPID: rp,
		OIDC: &events.OIDCSession{SID: sid},
	})
}

func (c *client) logout(logoutID, session string) {
	c.publish(events.SubjectLogoutRequested, events.LogoutRequested{
		EventID: uuid.NewString(), LogoutID: logoutID, OccurredAt: time.Now().UTC(), SessionID: session,
		Initiator: events.InitiatorUser, Scope: events.ScopeGlobal,
	})
}

// testReaderPrefix names the test's own (ephemeral) consumers on the
// stream, so that fault tests can tell them from signoff's.
const testReaderPrefix = "test-reader"

// received reads every message on subject from the start of the stream.
// A read that fails (a NATS node lost, a leader election) is tried again
// for up to 30 s.
func (c *client) received(subject string) []jetstream.Msg {
	c.t.Helper()
	var out []jetstream.Msg
	if err := eventstest.Poll(30*time.Second, 250*time.Millisecond, func() (err error) {
		out, err = c.readAll(subject)
		return err
	}); err != nil {
		c.t.Fatalf("read %s: %v", subject, err)
	}
	return out
}

func (c *client) readAll(subject string) ([]jetstream.Msg, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// A fresh name per read: an ordered consumer of the same name left by
	// an earlier read would be updated in place and deliver nothing.
	cons, err := c.js.OrderedConsumer(ctx, events.StreamName, jetstream.OrderedConsumerConfig{FilterSubjects: []string{subject},
		NamePrefix: testReaderPrefix + "-" + uuid.NewString()[:8], InactiveThreshold: 10 * time.Second})
	if err != nil {
		return nil, fmt.Errorf("consumer %s: %w", subject, err)
	}
	info, err := cons.Info(ctx)
	if err != nil {
		return nil, err
	}
	var out []jetstream.Msg
	pending := int(info.NumPending)
	for len(out) < pending {
		batch, err := cons.Fetch(pending-len(out), jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return nil, err
		}
		n := 0
		for m := range batch.Messages() {
			out = append(out, m)
			n++
		}
		if n == 0 {
			return nil, fmt.Errorf("read %d of %d messages on %s", len(out), pending, subject)
		}
	}
	return out, nil
}

// stored reads the payload of every message on subject in the stream, one
// get request each, without a consumer: an ephemeral consumer may be
// placed on a cluster node that was just killed and not yet noticed.
func (c *client) stored(subject string) ([][]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := c.js.Stream(ctx, events.StreamName)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for seq := uint64(1); ; {
		m, err := st.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(subject))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("get %s from %d: %w", subject, seq, err)
		}
		out = append(out, m.Data)
		seq = m.Sequence + 1
	}
}

// completed returns the logout.completed events, by logout_id, and how
// many were published for each.
func (c *client) completed() (map[string]events.Completed, map[string]int) {
	byID, count := map[string]events.Completed{}, map[string]int{}
	var stored [][]byte
	if err := eventstest.Poll(30*time.Second, 250*time.Millisecond, func() (err error) {
		stored, err = c.stored(events.SubjectLogoutCompleted)
		return err
	}); err != nil {
		c.t.Fatalf("read %s: %v", events.SubjectLogoutCompleted, err)
	}
	for _, data := range stored {
		ev, err := events.Decode[events.Completed](data)
		if err != nil {
			c.t.Fatalf("invalid logout.completed on the bus: %v", err)
		}
		byID[ev.LogoutID] = ev
		count[ev.LogoutID]++
	}
	return byID, count
}

func (c *client) waitCompleted(logoutID string, timeout time.Duration) events.Completed {
	c.t.Helper()
	var ev events.Completed
	eventstest.EventuallyErr(c.t, timeout, func() error {
		byID, _ := c.completed()
		var ok bool
		if ev, ok = byID[logoutID]; !ok {
			return fmt.Errorf("no logout.completed for %s yet", logoutID)
		}
		return nil
	})
	return ev
}

func splitJWT(raw string) []string { return strings.Split(raw, ".") }

func decodeSegment(seg string, v any) {
	b, err := base64.RawURLEncoding.DecodeString(seg)
	if err == nil {
		json.Unmarshal(b, v)
	}
}
