package app

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/signoff/signoff/cmd/signoff/internal/config"
	"github.com/signoff/signoff/coordinator/bus/natstest"
	"github.com/signoff/signoff/events"
	"github.com/signoff/signoff/events/eventstest"
)

// exampleConf is the nats-server configuration that README.md gives for an
// external cluster.
const exampleConf = "../../examples/nats-server.conf"

// lockedBuffer collects what the loggers write, from several goroutines.
type lockedBuffer = natstest.LogBuffer

// natsLog records what a nats-server logs.
type natsLog struct{ lockedBuffer }

func (l *natsLog) Noticef(f string, v ...any) { l.line(f, v...) }
func (l *natsLog) Warnf(f string, v ...any)   { l.line(f, v...) }
func (l *natsLog) Fatalf(f string, v ...any)  { l.line(f, v...) }
func (l *natsLog) Errorf(f string, v ...any)  { l.line(f, v...) }
func (l *natsLog) Debugf(f string, v ...any)  { l.line(f, v...) }
func (l *natsLog) Tracef(f string, v ...any)  { l.line(f, v...) }
func (l *natsLog) line(f string, v ...any) {
	l.Write([]byte(strings.TrimSpace(fmt.Sprintf(f, v...)) + "\n"))
}

// TestExternalNATSWithExampleConfig runs all of signoff against a real
// nats-server with cmd/signoff/examples/nats-server.conf, logged in as its
// signoff user from nats.user and nats.password_file: an IdP (user idp)
// publishes a sign-in and a logout, the RP receives its logout token, an
// observer reads the completion, and signoff never hits a permission it
// lacks. A start with a wrong password fails; neither start logs a secret.
func TestExternalNATSWithExampleConfig(t *testing.T) {
	pw := map[string]string{"signoff": "pw-" + rand.Text(), "idp": "pw-" + rand.Text(), "observer": "pw-" + rand.Text()}
	t.Setenv("SIGNOFF_NATS_SERVER_PASSWORD", pw["signoff"])
	t.Setenv("IDP_NATS_SERVER_PASSWORD", pw["idp"])
	t.Setenv("OBSERVER_NATS_SERVER_PASSWORD", pw["observer"])
	opts, err := server.ProcessConfigFile(exampleConf)
	if err != nil {
		t.Fatal(err)
	}
	opts.Host, opts.Port, opts.StoreDir, opts.NoSigs = "127.0.0.1", server.RANDOM_PORT, t.TempDir(), true
	ns, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	serverLog := &natsLog{}
	ns.SetLoggerV2(serverLog, true, false, false)
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	url := ns.ClientURL()

	dir := t.TempDir()
	rp := newTestRP(t, "wiki", "RS256")
	load := func(password string) *config.Config {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, "signoff.pw"), []byte(password+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		y := "public_url: http://127.0.0.1:8080\nissuer: " + testIssuer + "\nlisten: 127.0.0.1:0\ndata_dir: " + filepath.Join(dir, "data") +
			"\nnats:\n  url: " + url + "\n  user: signoff\n  password_file: signoff.pw\nlogout:\n  deadline: 10s\n"
		cfg, err := config.Parse([]byte(y), filepath.Join(dir, "signoff.yaml"), nil)
		if err != nil {
			t.Fatal(err)
		}
		cfg.RelyingParties = append(cfg.RelyingParties, rp.config(true))
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	secrets := func(out string) {
		t.Helper()
		wrong := "wrong-" + pw["signoff"]
		for _, s := range []string{pw["signoff"], pw["idp"], pw["observer"], wrong} {
			if strings.Contains(out, s) {
				t.Errorf("a secret is in the log:\n%s", out)
			}
		}
	}

	// A wrong password: start-up fails, naming neither password.
	logs := &lockedBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if a, err := Start(context.Background(), Options{Config: load("wrong-" + pw["signoff"]), Logger: log}); err == nil {
		a.Close(context.Background())
		t.Fatal("started with a wrong password")
	} else {
		log.Error("start failed", "err", err)
	}
	secrets(logs.String() + serverLog.String())
	if !strings.Contains(logs.String(), "Authorization Violation") {
		t.Errorf("the failed start does not say why:\n%s", logs)
	}

	logs = &lockedBuffer{}
	log = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := Start(context.Background(), Options{Config: load(pw["signoff"]), Logger: log})
	if err != nil {
		t.Fatalf("start as the example's signoff user: %v", err)
	}
	defer a.Close(context.Background())
	rp.useJWKS("http://" + a.Addr() + "/jwks.json")

	observer, err := nats.Connect(url, nats.UserInfo("observer", pw["observer"]))
	if err != nil {
		t.Fatal(err)
	}
	defer observer.Close()
	completions, err := observer.SubscribeSync(events.SubjectLogoutCompleted)
	if err != nil {
		t.Fatal(err)
	}
	observer.Flush()
	idpNC, err := nats.Connect(url, nats.UserInfo("idp", pw["idp"]))
	if err != nil {
		t.Fatal(err)
	}
	defer idpNC.Close()
	idp := newClient(t, idpNC)
	idp.join("sess-1", "alice", "wiki", "sid-1")
	eventstest.EventuallyErr(t, 10*time.Second, func() error {
		if n, _ := a.Store().SessionCount(context.Background(), "sess-1"); n != 1 {
			return errors.New("session not registered")
		}
		return nil
	})
	idp.logout("logout-1", "sess-1")
	m, err := completions.NextMsg(20 * time.Second)
	if err != nil {
		t.Fatalf("observer: no logout.completed: %v", err)
	}
	done, err := events.Decode[events.Completed](m.Data)
	if err != nil || done.LogoutID != "logout-1" || done.Outcome != events.StatusComplete {
		t.Fatalf("completed = %+v, %v", done, err)
	}
	if n, toks := rp.snapshot(); n != 1 || len(toks) != 1 || !toks[0].Valid {
		t.Errorf("RP: %d requests, tokens %+v", n, toks)
	}
	for _, line := range strings.Split(serverLog.String(), "\n") {
		if strings.Contains(line, "Permissions Violation") {
			t.Errorf("signoff lacks a permission in the example: %s", line)
		}
	}
	out := logs.String()
	secrets(out + serverLog.String())
	if !strings.Contains(out, "signoff running") || !strings.Contains(out, url) {
		t.Errorf("no start-up line naming the NATS URL:\n%s", out)
	}
}

// TestExternalNATSURLCredentialsRedacted: credentials written into nats.url
// still work, and the start-up line shows the URL without them.
func TestExternalNATSURLCredentialsRedacted(t *testing.T) {
	password := "pw-" + rand.Text()
	ns, err := server.NewServer(&server.Options{
		Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true, StoreDir: t.TempDir(), NoSigs: true,
		Username: "signoff", Password: password,
	})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	hostPort := strings.TrimPrefix(ns.ClientURL(), "nats://")

	cfg := testConfig(t, 10*time.Second)
	cfg.NATS.URL = "nats://signoff:" + password + "@" + hostPort
	logs := &lockedBuffer{}
	a, err := Start(context.Background(), Options{Config: cfg, Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	a.Close(context.Background())
	out := logs.String()
	if strings.Contains(out, password) {
		t.Errorf("the password is in the log:\n%s", out)
	}
	if !strings.Contains(out, "nats://redacted@"+hostPort) {
		t.Errorf("start-up line without the redacted URL:\n%s", out)
	}

	cfg.NATS.URL = "nats://signoff:wrong-" + password + "@" + hostPort
	_, err = Start(context.Background(), Options{Config: cfg})
	if err == nil || strings.Contains(err.Error(), password) || !strings.Contains(err.Error(), "redacted@") {
		t.Errorf("start with a wrong password in the URL: err = %v, want it without the password", err)
	}
}

// TestMissingNATSFileStopsStartUp: a missing creds file stops start-up
// with an error that names the key.
func TestMissingNATSFileStopsStartUp(t *testing.T) {
	dir := t.TempDir()
	y := "public_url: http://127.0.0.1:8080\nlisten: 127.0.0.1:0\ndata_dir: " + filepath.Join(dir, "data") +
		"\nnats:\n  url: nats://127.0.0.1:1\n  creds_file: signoff.creds\n"
	cfg, err := config.Parse([]byte(y), filepath.Join(dir, "signoff.yaml"), nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Start(context.Background(), Options{Config: cfg})
	want := filepath.Join(dir, "signoff.yaml") + ":6: nats.creds_file: " + filepath.Join(dir, "signoff.creds") + " does not exist"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("err = %v, want %s", err, want)
	}
}
