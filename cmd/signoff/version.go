package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"strings"
	"time"

	"github.com/signoff/signoff/cmd/signoff/internal/config"
)

var versionCommand = &command{
	name: "version", synopsis: "",
	summary: "print the module version, VCS revision and Go version of this binary",
	flags:   func(*flag.FlagSet) any { return nil },
	run: func(_ context.Context, _ any, stdout, _ io.Writer) int {
		bi, _ := debug.ReadBuildInfo()
		fmt.Fprint(stdout, versionText(bi))
		return exitOK
	},
}

// versionText describes a build: "signoff VERSION", then the revision,
// its time and whether the tree was modified, and the Go version.
func versionText(bi *debug.BuildInfo) string {
	version, goVersion := "(unknown)", runtime.Version()
	var revision, vcsTime, modified string
	if bi != nil {
		if bi.Main.Version != "" {
			version = bi.Main.Version
		}
		if bi.GoVersion != "" {
			goVersion = bi.GoVersion
		}
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				revision = s.Value
			case "vcs.time":
				vcsTime = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					modified = " (modified)"
				}
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "signoff %s\n", version)
	if revision == "" {
		b.WriteString("revision: unknown (built without VCS information)\n")
	} else {
		fmt.Fprintf(&b, "revision: %s%s\n", revision, modified)
		if vcsTime != "" {
			fmt.Fprintf(&b, "committed: %s\n", vcsTime)
		}
	}
	fmt.Fprintf(&b, "go: %s %s/%s\n", goVersion, runtime.GOOS, runtime.GOARCH)
	return b.String()
}

type healthcheckOptions struct {
	url     *string
	timeout *time.Duration
}

var healthcheckCommand = &command{
	name: "healthcheck", synopsis: "[--url URL] [--timeout 5s]",
	summary: "exit 0 if signoff's /healthz answers 200, else 1 (for container HEALTHCHECKs: no curl needed)",
	flags: func(fs *flag.FlagSet) any {
		return healthcheckOptions{
			url:     fs.String("url", "", "`URL` to GET (default: /healthz on the port of $SIGNOFF_LISTEN, else http://127.0.0.1:8080/healthz)"),
			timeout: fs.Duration("timeout", 5*time.Second, "how long to wait for the answer"),
		}
	},
	run: func(ctx context.Context, opts any, stdout, stderr io.Writer) int {
		o := opts.(healthcheckOptions)
		url := *o.url
		if url == "" {
			url = defaultHealthURL(os.Getenv(config.EnvListen))
		}
		ctx, cancel := context.WithTimeout(ctx, *o.timeout)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			fmt.Fprintf(stderr, "signoff healthcheck: %v\n", err)
			return exitUsage
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			fmt.Fprintf(stderr, "signoff healthcheck: %v\n", err)
			return exitError
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
		if resp.StatusCode != http.StatusOK {
			fmt.Fprintf(stderr, "signoff healthcheck: %s answered %s\n", url, resp.Status)
			return exitError
		}
		fmt.Fprintf(stdout, "signoff healthcheck: %s answered %s\n", url, resp.Status)
		return exitOK
	},
}

// defaultHealthURL is /healthz on the loopback address of listen (the
// value of SIGNOFF_LISTEN), or on 127.0.0.1:8080.
func defaultHealthURL(listen string) string {
	host, port, err := net.SplitHostPort(listen)
	if err != nil || port == "" || port == "0" {
		return "http://" + config.DefaultListen + "/healthz"
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/healthz"
}
