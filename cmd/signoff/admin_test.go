package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/signoff/signoff/cmd/signoff/internal/app"
	"github.com/signoff/signoff/cmd/signoff/internal/config"
	"github.com/signoff/signoff/events"
	"github.com/signoff/signoff/events/eventstest"
)

// TestLogoutThroughAdminAPI: `signoff logout --url` talks to a remote
// signoff's admin API and prints the outcome.
func TestLogoutThroughAdminAPI(t *testing.T) {
	var hits atomic.Int32
	rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.PostFormValue("logout_token") != "" {
			hits.Add(1)
		}
	}))
	defer rp.Close()
	cfg := config.Default()
	cfg.DataDir, cfg.Listen, cfg.Issuer = t.TempDir(), "127.0.0.1:0", "https://auth.signoff.test"
	cfg.Admin.Token = "admin-token-for-the-cli-test"
	cfg.RelyingParties = []config.RelyingParty{{ID: "wiki", Name: "Wiki", OIDC: &config.OIDC{ClientID: "wiki",
		BackchannelLogoutURI: rp.URL, LogoutTokenAlg: "ES256", LogoutTokenTyp: "logout+jwt"}}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := app.Start(context.Background(), app.Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(context.Background())
	nc, _ := a.Bus().Connect("test")
	js, _ := jetstream.New(nc)
	b, _ := events.Encode(events.SessionJoined{EventID: uuid.NewString(), OccurredAt: time.Now().UTC(), SessionID: "s1", Subject: "zoe", RPID: "wiki", OIDC: &events.OIDCSession{SID: "x"}})
	js.Publish(context.Background(), events.SubjectSessionJoined, b)
	eventstest.Eventually(t, 5*time.Second, func() bool {
		n, _ := a.Store().SessionCount(context.Background(), "s1")
		return n == 1
	}, "session not registered")
	base := "http://" + a.Addr()
	t.Setenv("SIGNOFF_ADMIN_TOKEN", "wrong")
	var out, errb bytes.Buffer
	if code := run([]string{"logout", "--url", base, "--session", "s1"}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "401") {
		t.Errorf("wrong token: exit %d, stderr %q", code, errb.String())
	}
	t.Setenv("SIGNOFF_ADMIN_TOKEN", cfg.Admin.Token)
	out.Reset()
	errb.Reset()
	code := run([]string{"logout", "--url", base, "--session", "s1", "--timeout", "30s"}, &out, &errb)
	if code != 0 || !strings.Contains(out.String(), ": complete") || !strings.Contains(out.String(), "You were signed out of Wiki.") {
		t.Errorf("exit %d\nstdout %s\nstderr %s", code, out.String(), errb.String())
	}
	if hits.Load() != 1 {
		t.Errorf("RP received %d tokens", hits.Load())
	}
}
