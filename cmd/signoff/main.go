// Command signoff is the Single Logout coordinator: `signoff serve` runs the
// service, `signoff logout` asks a running signoff to sign a session or a
// user out and prints the outcome, and `signoff demo` runs everything in one
// process with demo relying parties. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/signoff/signoff/cmd/signoff/internal/app"
	"github.com/signoff/signoff/cmd/signoff/internal/config"
)

const usage = `signoff — event-driven Single Logout coordinator

usage:
  signoff serve  --config FILE                      run the service
  signoff logout --config FILE (--session ID | --subject SUB) [--nats URL] [--timeout 90s]
                                                    sign a session or a user out everywhere and print the outcome
  signoff demo   [--once] [--listen ADDR]           everything in one process with demo relying parties

environment: SIGNOFF_LISTEN, SIGNOFF_DATA_DIR, SIGNOFF_NATS_URL override listen, data_dir, nats.url;
             SIGNOFF_NATS_PASSWORD, SIGNOFF_NATS_TOKEN override nats.password_file, nats.token_file
`

func main() {
	// The Go defaults (GOGC=100, no memory limit) unless GOGC or
	// GOMEMLIMIT say otherwise: GOGC=400 raised the peak RSS of the
	// whole-path bench by about 80% for no throughput that rose above the
	// noise (README, Performance).
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch args[0] {
	case "serve":
		err = serve(ctx, args[1:], stderr)
	case "logout":
		return logoutCmd(ctx, args[1:], stdout, stderr)
	case "demo":
		err = demoCmd(ctx, args[1:], stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "signoff: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "signoff: %v\n", err)
		return 1
	}
	return 0
}

func newLogger(w io.Writer, c *config.Config) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.Log.SlogLevel()}
	if c.Log.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

func serve(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "signoff.yaml", "configuration file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg, err := config.Load(*path, os.Getenv)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	log := newLogger(stderr, cfg)
	a, err := app.Start(ctx, app.Options{Config: cfg, Logger: log})
	if err != nil {
		return err
	}
	<-ctx.Done()
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := a.Close(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
