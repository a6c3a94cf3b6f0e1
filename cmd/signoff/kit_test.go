package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/signoff/signoff/coordinator/bus/natstest"
)

// TestExamplesStart: the example configurations do not only pass `signoff
// check` (TestCheckExamples), they start: the built binary serves each one
// until /readyz answers 200, and stops with exit 0 on SIGTERM. local.yaml
// runs against a nats-server as the Procfile starts it (SIGNOFF_NATS_URL);
// signoff.yaml runs from a copy of examples/ whose nats.listen port is
// free (127.0.0.1:4222 may be taken on a shared machine). listen and
// data_dir come from SIGNOFF_LISTEN and SIGNOFF_DATA_DIR, as in a
// container.
func TestExamplesStart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	t.Run("local.yaml", func(t *testing.T) {
		dir := t.TempDir()
		natsPort := natstest.FreePort(t)
		natstest.EmbeddedWith(t, &server.Options{Host: "127.0.0.1", Port: natsPort, JetStream: true, StoreDir: filepath.Join(dir, "nats"), NoSigs: true, NoLog: true})
		httpPort := natstest.FreePort(t)
		p := startServeEnv(t, "examples/local.yaml", fmt.Sprintf("http://127.0.0.1:%d", httpPort), []string{
			fmt.Sprintf("SIGNOFF_NATS_URL=nats://127.0.0.1:%d", natsPort), fmt.Sprintf("SIGNOFF_LISTEN=127.0.0.1:%d", httpPort),
			"SIGNOFF_DATA_DIR=" + filepath.Join(dir, "data")})
		if code := p.stop(time.Minute); code != 0 {
			t.Errorf("exit %d after SIGTERM", code)
		}
	})
	t.Run("signoff.yaml", func(t *testing.T) {
		dir := t.TempDir()
		// Every file beside it (the files it names are relative to it).
		entries, err := os.ReadDir("examples")
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range entries {
			if f.IsDir() {
				continue
			}
			b, err := os.ReadFile(filepath.Join("examples", f.Name()))
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(filepath.Join(dir, f.Name()), b, 0o600)
		}
		b, err := os.ReadFile("examples/signoff.yaml")
		if err != nil {
			t.Fatal(err)
		}
		natsListen := regexp.MustCompile(`(?m)^  listen: 127\.0\.0\.1:4222$`)
		if !natsListen.Match(b) {
			t.Fatal("examples/signoff.yaml: no nats.listen 127.0.0.1:4222 to move to a free port")
		}
		b = natsListen.ReplaceAll(b, []byte(fmt.Sprintf("  listen: 127.0.0.1:%d", natstest.FreePort(t))))
		cfg := filepath.Join(dir, "signoff.yaml")
		os.WriteFile(cfg, b, 0o600)
		httpPort := natstest.FreePort(t)
		p := startServeEnv(t, cfg, fmt.Sprintf("http://127.0.0.1:%d", httpPort), []string{
			fmt.Sprintf("SIGNOFF_LISTEN=127.0.0.1:%d", httpPort), "SIGNOFF_DATA_DIR=" + filepath.Join(dir, "data"), "SIGNOFF_NATS_URL="})
		if code := p.stop(time.Minute); code != 0 {
			t.Errorf("exit %d after SIGTERM", code)
		}
	})
}

// TestLicenseAndImageRecipe: item 11 of issue 15 where the image cannot be
// built (no registry to pull golang:1.26 from, README): the LICENSE is the
// Apache License 2.0, and the Dockerfile is a multi-stage build of a static
// binary whose final stage is empty (scratch), runs as a non-root user,
// keeps /data on a volume and checks itself with `signoff healthcheck`.
func TestLicenseAndImageRecipe(t *testing.T) {
	lic, err := os.ReadFile("../../LICENSE")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{"Apache License", "Version 2.0, January 2004", "TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION"} {
		if !strings.Contains(string(lic), w) {
			t.Errorf("LICENSE lacks %q", w)
		}
	}
	b, err := os.ReadFile("../../Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	df := string(b)
	froms := regexp.MustCompile(`(?m)^FROM (\S+)`).FindAllStringSubmatch(df, -1)
	if len(froms) < 2 || froms[len(froms)-1][1] != "scratch" {
		t.Errorf("stages %v: want a multi-stage build ending FROM scratch", froms)
	}
	final := df[strings.LastIndex(df, "\nFROM "):]
	for _, re := range []string{
		`CGO_ENABLED=0 go build`,
		`(?m)^USER 65532:65532$`,
		`(?m)^VOLUME /data$`,
		`(?m)^HEALTHCHECK .*CMD \["/signoff", "healthcheck"\]$`,
		`(?m)^ENTRYPOINT \["/signoff", "serve"\]$`,
	} {
		src := final
		if strings.HasPrefix(re, "CGO") {
			src = df
		}
		if !regexp.MustCompile(re).MatchString(src) {
			t.Errorf("Dockerfile: no match for %s", re)
		}
	}
}

// TestDemoOnceCLI: `signoff demo --once` (the built binary) prints the
// outcome of its logout once on stdout, keeps log lines off stdout (they
// interleaved with the demo's output), and exits 0.
func TestDemoOnceCLI(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, signoffBinary(t), "demo", "--once", "--data-dir", t.TempDir())
	cmd.Env = append(os.Environ(), "SIGNOFF_LISTEN=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("signoff demo --once: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	out := stdout.String()
	if n := len(regexp.MustCompile(`(?m)^logout [0-9a-f]{8}: partial \(\+[^)]+\)$`).FindAllString(out, -1)); n != 1 {
		t.Errorf("the outcome line appears %d times on stdout, want once:\n%s", n, out)
	}
	if n := strings.Count(out, "did not confirm"); n != 1 {
		t.Errorf("the summary appears %d times on stdout, want once:\n%s", n, out)
	}
	if regexp.MustCompile(`(?m)^time=|level=(DEBUG|INFO|WARN|ERROR)`).MatchString(out) {
		t.Errorf("log lines on stdout:\n%s", out)
	}
}
