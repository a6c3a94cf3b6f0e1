// Command signoff is the Single Logout coordinator: `signoff serve` runs the
// service, `signoff check` validates a configuration offline, `signoff
// logout` asks a running signoff to sign a session or a user out and prints
// the outcome, and `signoff demo` runs everything in one process with demo
// relying parties. See README.md.
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
	"strings"
	"syscall"

	"github.com/signoff/signoff/cmd/signoff/internal/app"
	"github.com/signoff/signoff/cmd/signoff/internal/config"
)

// Exit statuses shared by every command; `logout` adds 3 (partial).
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// command is one subcommand: its flags (for parsing and for the usage
// text, which therefore lists every flag) and what it does.
type command struct {
	name, synopsis, summary string
	// flags registers the command's flags on fs and returns what run uses.
	flags func(fs *flag.FlagSet) any
	run   func(ctx context.Context, opts any, stdout, stderr io.Writer) int
}

// commands in the order of the usage text.
var commands = []*command{serveCommand, checkCommand, logoutCommand, statusCommand, demoCommand, healthcheckCommand, versionCommand}

const usageHead = `signoff — event-driven Single Logout coordinator

usage: signoff COMMAND [FLAGS]    (signoff COMMAND -h describes one command)

`

const usageTail = `exit status: 0 success, 1 error, 2 usage error; logout: 3 when the logout ended partial;
             status: 3 when a partition has no owner

environment: SIGNOFF_LISTEN, SIGNOFF_DATA_DIR, SIGNOFF_NATS_URL override listen, data_dir, nats.url;
             SIGNOFF_NATS_PASSWORD, SIGNOFF_NATS_TOKEN override nats.password_file, nats.token_file;
             SIGNOFF_ADMIN_TOKEN is logout --url's and status's admin token
`

// usage is the full usage text: every command with every flag.
func usage() string {
	var b strings.Builder
	b.WriteString(usageHead)
	for _, c := range commands {
		fmt.Fprintf(&b, "  %s\n      %s\n", strings.TrimSpace("signoff "+c.name+" "+c.synopsis), c.summary)
		writeFlags(&b, c, "        ")
		b.WriteString("\n")
	}
	b.WriteString(usageTail)
	return b.String()
}

// commandUsage is the usage text of one command.
func commandUsage(c *command) string {
	var b strings.Builder
	fmt.Fprintf(&b, "usage: %s\n\n%s\n", strings.TrimSpace("signoff "+c.name+" "+c.synopsis), c.summary)
	if hasFlags(c) {
		b.WriteString("\nflags:\n")
		writeFlags(&b, c, "  ")
	}
	return b.String()
}

// flagSet is a fresh flag set of c, for the usage text.
func flagSet(c *command) *flag.FlagSet {
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	c.flags(fs)
	return fs
}

func hasFlags(c *command) bool {
	n := 0
	flagSet(c).VisitAll(func(*flag.Flag) { n++ })
	return n > 0
}

func writeFlags(b *strings.Builder, c *command, indent string) {
	flagSet(c).VisitAll(func(f *flag.Flag) {
		arg, text := flag.UnquoteUsage(f)
		name := "--" + f.Name
		if arg != "" {
			name += " " + arg
		}
		switch f.DefValue {
		case "", "false", "0", "0s":
		default:
			text += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintf(b, "%s%-22s %s\n", indent, name, text)
	})
}

func main() {
	// The Go defaults (GOGC=100, no memory limit) unless GOGC or
	// GOMEMLIMIT say otherwise: GOGC=400 raised the peak RSS of the
	// whole-path bench by about 80% for no throughput that rose above the
	// noise (README, Performance).
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage())
		return exitUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			if c := lookup(args[1]); c != nil {
				fmt.Fprint(stdout, commandUsage(c))
				return exitOK
			}
			fmt.Fprintf(stderr, "signoff help: unknown command %q\n\n%s", args[1], usage())
			return exitUsage
		}
		fmt.Fprint(stdout, usage())
		return exitOK
	case "-version", "--version":
		args = []string{"version"}
	}
	c := lookup(args[0])
	if c == nil {
		fmt.Fprintf(stderr, "signoff: unknown command %q\n\n%s", args[0], usage())
		return exitUsage
	}
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard) // errors are printed once, below
	fs.Usage = func() {}
	opts := c.flags(fs)
	switch err := fs.Parse(args[1:]); {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, commandUsage(c))
		return exitOK
	case err != nil:
		fmt.Fprintf(stderr, "signoff %s: %v\n\n%s", c.name, err, commandUsage(c))
		return exitUsage
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "signoff %s: unexpected argument %q (flags start with --)\n\n%s", c.name, fs.Arg(0), commandUsage(c))
		return exitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return c.run(ctx, opts, stdout, stderr)
}

func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

func newLogger(w io.Writer, c *config.Config) *slog.Logger {
	opts := &slog.HandlerOptions{Level: c.Log.SlogLevel()}
	if c.Log.Format == "json" {
		opts.ReplaceAttr = durationsAsStrings
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

type serveOptions struct{ config *string }

var serveCommand = &command{
	name: "serve", synopsis: "--config FILE",
	summary: "run the service",
	flags: func(fs *flag.FlagSet) any {
		return serveOptions{config: fs.String("config", "signoff.yaml", "configuration `file`")}
	},
	run: func(ctx context.Context, opts any, stdout, stderr io.Writer) int {
		if err := serve(ctx, *opts.(serveOptions).config, stderr); err != nil {
			fmt.Fprintf(stderr, "signoff: %v\n", err)
			return exitError
		}
		return exitOK
	},
}

func serve(ctx context.Context, path string, stderr io.Writer) error {
	cfg, err := config.Load(path, os.Getenv)
	if err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	// Every file the configuration names is read before anything is
	// written (data_dir, generated keys), so a broken config leaves no trace.
	if err := checkFiles(cfg); err != nil {
		return fmt.Errorf("configuration:\n%w", err)
	}
	log := newLogger(stderr, cfg)
	if cfg.NATS.URL != "" {
		if err := waitForNATS(ctx, cfg, log); err != nil {
			return err
		}
	}
	a, err := app.Start(ctx, app.Options{Config: cfg, Logger: log})
	if err != nil {
		return err
	}
	<-ctx.Done()
	log.Info("shutting down", "grace", cfg.Shutdown.Grace.Std())
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Shutdown.Grace.Std())
	defer cancel()
	if err := a.Close(sctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
