package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/signoff/signoff/cmd/signoff/internal/client"
	"github.com/signoff/signoff/cmd/signoff/internal/config"
	"github.com/signoff/signoff/cmd/signoff/internal/demo"
	"github.com/signoff/signoff/coordinator/bus"
	"github.com/signoff/signoff/events"
)

type logoutOptions struct {
	config, natsURL, session, subject, reason, remote, token *string
	timeout                                                  *time.Duration
}

var logoutCommand = &command{
	name:     "logout",
	synopsis: "(--session ID | --subject SUB) [--config FILE | --nats URL | --url URL [--token T]] [--reason R] [--timeout 90s]",
	summary:  "sign a session or a user out everywhere and print the outcome (exit 3: partial)",
	flags: func(fs *flag.FlagSet) any {
		return logoutOptions{
			config:  fs.String("config", "", "configuration `file` (for nats.url / nats.listen)"),
			natsURL: fs.String("nats", "", "NATS `URL` of the running signoff (default: nats.url, else nats.listen of the config)"),
			session: fs.String("session", "", "session_id to sign out"),
			subject: fs.String("subject", "", "subject (user) to sign out of every session"),
			reason:  fs.String("reason", "", "reason recorded with the logout"),
			timeout: fs.Duration("timeout", 90*time.Second, "how long to wait for the outcome"),
			remote:  fs.String("url", "", "public `URL` of a remote signoff: use its admin API (token from $SIGNOFF_ADMIN_TOKEN or --token)"),
			token:   fs.String("token", "", "admin bearer `token` for --url (prefer $SIGNOFF_ADMIN_TOKEN: flags are visible to other users)"),
		}
	},
	run: func(ctx context.Context, opts any, stdout, stderr io.Writer) int {
		return logoutCmd(ctx, opts.(logoutOptions), stdout, stderr)
	},
}

// busAuth is signoff's own NATS credentials for nats.url.
func busAuth(na *config.NATSAuth) bus.Auth {
	return bus.Auth{CredsFile: na.CredsFile, NkeySeedFile: na.NkeySeedFile, User: na.User, Password: na.Password, Token: na.Token,
		TLS: bus.TLS{CAFile: na.TLS.CAFile, CertFile: na.TLS.CertFile, KeyFile: na.TLS.KeyFile, ServerName: na.TLS.ServerName}}
}

// waitForNATS waits up to nats.connect_timeout for the NATS at nats.url,
// so that serve may start before its nats-server (a Procfile, compose).
func waitForNATS(ctx context.Context, cfg *config.Config, log *slog.Logger) error {
	na, err := cfg.NATSAuth()
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	return bus.WaitForServer(ctx, cfg.NATS.URL, busAuth(na), cfg.NATS.ConnectTimeout.Std(), log)
}

// logoutCmd publishes a logout.requested (initiator admin) and prints the
// outcome. Exit status: 0 complete, 3 partial, 1 error, 2 usage.
func logoutCmd(ctx context.Context, o logoutOptions, stdout, stderr io.Writer) int {
	path, natsURL, session, subject, reason, timeout, remote, token := o.config, o.natsURL, o.session, o.subject, o.reason, o.timeout, o.remote, o.token
	if (*session == "") == (*subject == "") {
		fmt.Fprintln(stderr, "signoff logout: give exactly one of --session or --subject")
		return 2
	}
	if *remote != "" {
		tok := *token
		if tok == "" {
			tok = os.Getenv("SIGNOFF_ADMIN_TOKEN")
		}
		if tok == "" {
			fmt.Fprintln(stderr, "signoff logout: --url needs the admin token in $SIGNOFF_ADMIN_TOKEN or --token")
			return 2
		}
		ctx, cancel := context.WithTimeout(ctx, *timeout)
		defer cancel()
		return adminLogout(ctx, *remote, tok, *session, *subject, *reason, stdout, stderr)
	}
	url := *natsURL
	var auth bus.Auth
	if url == "" && *path != "" {
		cfg, err := config.Load(*path, os.Getenv)
		if err != nil {
			fmt.Fprintf(stderr, "signoff logout: configuration:\n%v\n", err)
			return 1
		}
		url = cfg.NATS.URL
		if url == "" && cfg.NATS.Listen != "" {
			// An exposed embedded server accepts this only with
			// nats.allow_anonymous; otherwise use --url (the admin API).
			url = "nats://" + cfg.NATS.Listen
		}
		if cfg.NATS.URL != "" {
			// signoff's own credentials for nats.url.
			na, err := cfg.NATSAuth()
			if err != nil {
				fmt.Fprintf(stderr, "signoff logout: configuration:\n%v\n", err)
				return 1
			}
			auth = busAuth(na)
		}
	}
	if url == "" {
		url = os.Getenv(config.EnvNATSURL)
	}
	if url == "" {
		fmt.Fprintln(stderr, "signoff logout: no NATS to talk to: pass --nats URL, or --config with nats.url or nats.listen set")
		return 2
	}
	authOpts, err := auth.Options()
	if err != nil {
		fmt.Fprintf(stderr, "signoff logout: %v\n", err)
		return 1
	}
	nc, err := nats.Connect(url, append([]nats.Option{nats.Name("signoff-logout"), nats.Timeout(5 * time.Second)}, authOpts...)...)
	if err != nil {
		fmt.Fprintf(stderr, "signoff logout: connect %s: %v\n", bus.RedactURL(url), bus.RedactError(err, url, auth))
		return 1
	}
	defer nc.Close()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	req := events.LogoutRequested{SessionID: *session, Subject: *subject, Initiator: events.InitiatorAdmin, Scope: events.ScopeGlobal, Reason: *reason}
	done, err := client.Logout(ctx, nc, req, func(r events.Result) {
		fmt.Fprintf(stdout, "  %-20s %-11s attempts=%d %s\n", r.RPID, r.Outcome, r.Attempts, r.Detail)
	})
	if err != nil {
		fmt.Fprintf(stderr, "signoff logout: %v\n", err)
		if errors.Is(err, context.DeadlineExceeded) {
			fmt.Fprintln(stderr, "  (is signoff running and consuming from this NATS?)")
		}
		return 1
	}
	printOutcome(stdout, done)
	if done.Outcome != events.StatusComplete {
		return 3
	}
	return 0
}

type demoFlags struct {
	once                        *bool
	listen, natsListen, dataDir *string
}

var demoCommand = &command{
	name: "demo", synopsis: "[--once] [--listen ADDR] [--nats-listen ADDR] [--data-dir DIR]",
	summary: "everything in one process with demo relying parties",
	flags: func(fs *flag.FlagSet) any {
		return demoFlags{
			once:       fs.Bool("once", false, "sign in and out once, then exit"),
			listen:     fs.String("listen", "", "HTTP `address` (default: $SIGNOFF_LISTEN, else a free port on 127.0.0.1)"),
			natsListen: fs.String("nats-listen", "", "also expose the embedded NATS on this TCP `address` (loopback only), e.g. 127.0.0.1:4222"),
			dataDir:    fs.String("data-dir", "", "keep state in this `directory` (default: a temporary directory)"),
		}
	},
	run: func(ctx context.Context, opts any, stdout, stderr io.Writer) int {
		f := opts.(demoFlags)
		listen := *f.listen
		if listen == "" {
			listen = os.Getenv(config.EnvListen)
		}
		if err := demoRun(ctx, stdout, demoOptions(*f.once, listen, *f.natsListen, *f.dataDir)); err != nil {
			fmt.Fprintf(stderr, "signoff: %v\n", err)
			return exitError
		}
		return exitOK
	},
}

func demoOptions(once bool, listen, natsListen, dataDir string) demo.Options {
	return demo.Options{Once: once, Listen: listen, NATSListen: natsListen, DataDir: dataDir, SAML: true, SSF: true}
}

var demoRun = demo.Run
