// Package demo runs signoff on embedded defaults with two in-process demo
// relying parties — Notes, which verifies its logout tokens and answers 200,
// and Chat, which is down (503) — signs a user in to both and out again,
// and prints each participant's outcome as it arrives.
package demo

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/signoff/signoff/cmd/signoff/internal/app"
	"github.com/signoff/signoff/cmd/signoff/internal/client"
	"github.com/signoff/signoff/cmd/signoff/internal/config"
	"github.com/signoff/signoff/events"
)

// Issuer is the iss of the demo's logout tokens.
const Issuer = "https://signoff.demo.example"

// Options configure the demo.
type Options struct {
	// Once runs one sign-in and sign-out and returns.
	Once bool
	// Listen is signoff's HTTP address (default 127.0.0.1:0, a free port).
	Listen string
	// NATSListen also exposes the embedded NATS on TCP (e.g. 127.0.0.1:4222).
	NATSListen string
	// DataDir keeps the demo's state; empty uses a temporary directory.
	DataDir string
	// Every is the pause between rounds when not Once (default 20s).
	Every  time.Duration
	Logger *slog.Logger
}

// rp is a demo relying party.
type rp struct {
	id, name string
	status   int // answered to every logout token
	srv      *http.Server
	url      string
	verifier atomic.Pointer[oidc.IDTokenVerifier]
	out      io.Writer
}

func startRP(id, name string, status int, out io.Writer) (*rp, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &rp{id: id, name: name, status: status, out: out, url: "http://" + l.Addr().String() + "/oidc/backchannel"}
	r.srv = &http.Server{Handler: http.HandlerFunc(r.serve), ReadHeaderTimeout: 5 * time.Second}
	go r.srv.Serve(l)
	return r, nil
}

func (r *rp) serve(w http.ResponseWriter, req *http.Request) {
	if r.status != http.StatusOK {
		http.Error(w, "service unavailable", r.status)
		return
	}
	v := r.verifier.Load()
	if v == nil {
		http.Error(w, "not ready", http.StatusServiceUnavailable)
		return
	}
	lt, err := v.VerifyLogout(req.Context(), req.PostFormValue("logout_token"))
	if err != nil {
		fmt.Fprintf(r.out, "    %s rejected a logout token: %v\n", r.name, err)
		http.Error(w, `{"error":"invalid_request"}`, http.StatusBadRequest)
		return
	}
	fmt.Fprintf(r.out, "    %s verified a logout token (sub=%s sid=%s) and ended that session\n", r.name, lt.Subject, lt.SessionID)
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
}

// Run runs the demo until ctx ends (or after one round with Once).
func Run(ctx context.Context, out io.Writer, o Options) error {
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	if o.Listen == "" {
		o.Listen = "127.0.0.1:0"
	}
	if o.Every <= 0 {
		o.Every = 20 * time.Second
	}
	if o.DataDir == "" {
		dir, err := os.MkdirTemp("", "signoff-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		o.DataDir = dir
	}
	notes, err := startRP("notes", "Notes", http.StatusOK, out)
	if err != nil {
		return err
	}
	defer notes.srv.Close()
	chat, err := startRP("chat", "Chat", http.StatusServiceUnavailable, out)
	if err != nil {
		return err
	}
	defer chat.srv.Close()

	cfg := config.Default()
	cfg.DataDir, cfg.Listen, cfg.Issuer = o.DataDir, o.Listen, Issuer
	cfg.NATS.Listen = o.NATSListen
	cfg.Logout.Deadline = config.Duration(6 * time.Second)
	cfg.Backchannel.AttemptTimeout = config.Duration(time.Second)
	for _, r := range []*rp{notes, chat} {
		cfg.RelyingParties = append(cfg.RelyingParties, config.RelyingParty{ID: r.id, Name: r.name, OIDC: &config.OIDC{
			ClientID: r.id, BackchannelLogoutURI: r.url, BackchannelLogoutSessionRequired: true,
			LogoutTokenAlg: config.AlgES256, LogoutTokenTyp: config.TypLogoutJWT,
		}})
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("demo configuration: %w", err)
	}
	a, err := app.Start(ctx, app.Options{Config: cfg, Logger: o.Logger})
	if err != nil {
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		a.Close(sctx)
	}()
	jwks := "http://" + a.Addr() + "/jwks.json"
	for _, r := range []*rp{notes, chat} {
		ks := oidc.NewRemoteKeySet(context.Background(), jwks)
		r.verifier.Store(oidc.NewVerifier(Issuer, ks, &oidc.Config{ClientID: r.id, SupportedSigningAlgs: []string{"ES256"}}))
	}
	fmt.Fprintf(out, "signoff demo is running\n  HTTP:   http://%s  (try /jwks.json, /healthz, /metrics)\n", a.Addr())
	if u := a.Bus().ClientURL(); u != "" {
		fmt.Fprintf(out, "  NATS:   %s  (publish your own signoff.session.joined / signoff.logout.requested)\n", u)
	}
	fmt.Fprintf(out, "  RPs:    Notes (healthy, verifies tokens) at %s\n          Chat (down, answers 503) at %s\n\n", notes.url, chat.url)

	nc, err := a.Bus().Connect("demo")
	if err != nil {
		return err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	names := map[string]string{"notes": "Notes", "chat": "Chat"}
	for round := 1; ; round++ {
		if err := roundTrip(ctx, out, a, js, nc, names, round); err != nil {
			return err
		}
		if o.Once {
			return nil
		}
		fmt.Fprintf(out, "\nnext sign-in and sign-out in %v (Ctrl-C to stop)\n\n", o.Every)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(o.Every):
		}
	}
}

func roundTrip(ctx context.Context, out io.Writer, a *app.App, js jetstream.JetStream, nc interface{ Flush() error }, names map[string]string, round int) error {
	_ = nc
	subject := fmt.Sprintf("alice-%d", round)
	session := uuid.NewString()
	for _, id := range []string{"notes", "chat"} {
		b, err := events.Encode(events.SessionJoined{
			EventID: uuid.NewString(), OccurredAt: time.Now().UTC(), SessionID: session, Subject: subject, RPID: id,
			OIDC: &events.OIDCSession{SID: id + "-" + session[:8]},
		})
		if err != nil {
			return err
		}
		if _, err := js.Publish(ctx, events.SubjectSessionJoined, b); err != nil {
			return fmt.Errorf("publish session.joined: %w", err)
		}
	}
	for {
		n, err := a.Store().SessionCount(ctx, session)
		if err != nil {
			return err
		}
		if n == 2 {
			break
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(20 * time.Millisecond):
		}
	}
	fmt.Fprintf(out, "%s signed in to Notes and Chat (session %s)\n%s signs out everywhere:\n", subject, session[:8], subject)
	nconn, err := a.Bus().Connect("demo-logout")
	if err != nil {
		return err
	}
	defer nconn.Close()
	start := time.Now()
	lctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	done, err := client.Logout(lctx, nconn, events.LogoutRequested{
		SessionID: session, Initiator: events.InitiatorUser, Scope: events.ScopeGlobal,
	}, func(r events.Result) {
		fmt.Fprintf(out, "  %-6s %-9s attempts=%d %s  (+%v)\n", names[r.RPID], r.Outcome, r.Attempts, detail(r.Detail), time.Since(start).Round(time.Millisecond))
	})
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	fmt.Fprintf(out, "logout %s: %s in %v\n  %s\n", done.LogoutID[:8], done.Outcome, time.Since(start).Round(time.Millisecond), client.Summary(done))
	return nil
}

func detail(d string) string {
	if d == "" {
		return ""
	}
	return "— " + d
}
