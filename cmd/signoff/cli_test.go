package main

import (
	"bytes"
	"flag"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"testing"
)

// TestHelpAndUsageErrors: -h and --help exit 0 with the command's usage on
// stdout, for every command; a usage error exits 2 and prints its error once.
func TestHelpAndUsageErrors(t *testing.T) {
	type tc struct {
		name     string
		args     []string
		wantCode int
		stdout   string // must contain
		stderr   string // must contain exactly once
	}
	tests := []tc{
		{"help", []string{"help"}, 0, "signoff check --config FILE", ""},
		{"--help", []string{"--help"}, 0, "signoff healthcheck", ""},
		{"-h", []string{"-h"}, 0, "signoff version", ""},
		{"help serve", []string{"help", "serve"}, 0, "usage: signoff serve --config FILE", ""},
		{"help unknown", []string{"help", "nope"}, 2, "", `unknown command "nope"`},
		{"--version", []string{"--version"}, 0, "go: go1.", ""},
		{"serve --config without value", []string{"serve", "--config"}, 2, "", "flag needs an argument: -config"},
		{"logout unknown flag", []string{"logout", "--bogus"}, 2, "", "flag provided but not defined: -bogus"},
		{"check extra argument", []string{"check", "--config", "x.yaml", "extra"}, 2, "", `unexpected argument "extra"`},
		{"version extra argument", []string{"version", "now"}, 2, "", `unexpected argument "now"`},
		{"healthcheck bad timeout", []string{"healthcheck", "--timeout", "soon"}, 2, "", `invalid value "soon" for flag -timeout`},
		{"demo bad flag value", []string{"demo", "--once=maybe"}, 2, "", `invalid boolean value "maybe" for -once`},
	}
	for _, c := range commands {
		tests = append(tests,
			tc{c.name + " -h", []string{c.name, "-h"}, 0, "usage: signoff " + c.name, ""},
			tc{c.name + " --help", []string{c.name, "--help"}, 0, "usage: signoff " + c.name, ""})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(tt.args, &out, &errb)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d; stdout %q stderr %q", code, tt.wantCode, out.String(), errb.String())
			}
			if tt.stdout != "" && !strings.Contains(out.String(), tt.stdout) {
				t.Errorf("stdout %q does not contain %q", out.String(), tt.stdout)
			}
			if tt.stderr != "" && strings.Count(errb.String(), tt.stderr) != 1 {
				t.Errorf("stderr %q contains %q %d times, want once", errb.String(), tt.stderr, strings.Count(errb.String(), tt.stderr))
			}
			if tt.wantCode == 0 && errb.Len() > 0 {
				t.Errorf("stderr %q, want nothing", errb.String())
			}
		})
	}
}

// TestUsageListsEveryFlag: the usage text names every flag of every
// command, and the flags a user missed before.
func TestUsageListsEveryFlag(t *testing.T) {
	u := usage()
	for _, c := range commands {
		if !strings.Contains(u, "signoff "+c.name) {
			t.Errorf("usage does not list command %s", c.name)
		}
		flagSet(c).VisitAll(func(f *flag.Flag) {
			if !strings.Contains(u, "--"+f.Name+" ") {
				t.Errorf("usage does not list %s --%s", c.name, f.Name)
			}
			if !strings.Contains(commandUsage(c), "--"+f.Name+" ") {
				t.Errorf("usage of %s does not list --%s", c.name, f.Name)
			}
		})
	}
	for _, f := range []string{"--nats-listen", "--data-dir", "--url", "--token", "--once", "--timeout"} {
		if !strings.Contains(u, f) {
			t.Errorf("usage does not list %s", f)
		}
	}
}

func TestVersionText(t *testing.T) {
	tests := []struct {
		name string
		bi   *debug.BuildInfo
		want []string
	}{
		{"no build info", nil, []string{"signoff (unknown)\n", "revision: unknown", "go: " + runtime.Version()}},
		{"devel without vcs", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/signoff/signoff", Version: "(devel)"}},
			[]string{"signoff (devel)\n", "revision: unknown (built without VCS information)", "go: go1.26.8 " + runtime.GOOS + "/" + runtime.GOARCH}},
		{"release with vcs", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "v1.2.3"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "760ec8a1f0"}, {Key: "vcs.time", Value: "2026-12-02T06:00:00Z"}, {Key: "vcs.modified", Value: "false"}}},
			[]string{"signoff v1.2.3\n", "revision: 760ec8a1f0\n", "committed: 2026-12-02T06:00:00Z", "go: go1.26.8"}},
		{"modified tree", &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
			{Key: "vcs.revision", Value: "abc"}, {Key: "vcs.modified", Value: "true"}}},
			[]string{"revision: abc (modified)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := versionText(tt.bi)
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("versionText =\n%s\nwant it to contain %q", got, w)
				}
			}
		})
	}
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binErr == nil && binPath != "" {
		os.RemoveAll(filepath.Dir(binPath))
	}
	os.Exit(code)
}

// signoffBinary builds ./cmd/signoff once per test run, with VCS stamping.
func signoffBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "signoff-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "signoff")
		cmd := exec.Command("go", "build", "-buildvcs=auto", "-o", binPath, ".")
		cmd.Env = append(os.Environ(), "GOFLAGS=")
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = err
			binPath = string(out)
		}
	})
	if binErr != nil {
		t.Fatalf("go build: %v\n%s", binErr, binPath)
	}
	return binPath
}

// TestVersionBinary: `signoff version` of a built binary prints what the
// Go tool reads from the same binary (module version, VCS revision when
// the build could stamp one, Go version).
func TestVersionBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := signoffBinary(t)
	out, err := exec.Command(bin, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	m, err := exec.Command("go", "version", "-m", bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	fields := map[string]string{}
	for _, line := range strings.Split(string(m), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) >= 3 && f[0] == "mod":
			fields["version"] = f[2]
		case len(f) == 2 && f[0] == "build" && strings.HasPrefix(f[1], "vcs.revision="):
			fields["revision"] = strings.TrimPrefix(f[1], "vcs.revision=")
		}
		if strings.HasPrefix(line, bin+": ") {
			fields["go"] = strings.TrimPrefix(line, bin+": ")
		}
	}
	want := []string{"signoff " + fields["version"] + "\n", "go: " + fields["go"] + " "}
	if r := fields["revision"]; r != "" {
		want = append(want, "revision: "+r)
	} else {
		want = append(want, "revision: unknown")
	}
	for _, w := range want {
		if !strings.Contains(string(out), w) {
			t.Errorf("signoff version =\n%s\nwant it to contain %q (go version -m:\n%s)", out, w, m)
		}
	}
}

func TestHealthcheck(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer ok.Close()
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "stopping", http.StatusServiceUnavailable)
	}))
	defer down.Close()
	gone := httptest.NewServer(nil)
	gone.Close()
	tests := []struct {
		name string
		args []string
		want int
		msg  string
	}{
		{"200", []string{"healthcheck", "--url", ok.URL + "/healthz"}, 0, "answered 200 OK"},
		{"503", []string{"healthcheck", "--url", down.URL + "/healthz"}, 1, "answered 503"},
		{"refused", []string{"healthcheck", "--url", gone.URL + "/healthz", "--timeout", "2s"}, 1, "connection refused"},
		{"bad url", []string{"healthcheck", "--url", "://x"}, 2, "missing protocol scheme"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			if code := run(tt.args, &out, &errb); code != tt.want || !strings.Contains(out.String()+errb.String(), tt.msg) {
				t.Errorf("exit %d (want %d), output %q, want %q", code, tt.want, out.String()+errb.String(), tt.msg)
			}
		})
	}
	for listen, want := range map[string]string{
		"":               "http://127.0.0.1:8080/healthz",
		"0.0.0.0:9090":   "http://127.0.0.1:9090/healthz",
		":9090":          "http://127.0.0.1:9090/healthz",
		"[::]:9090":      "http://[::1]:9090/healthz",
		"10.0.0.5:8081":  "http://10.0.0.5:8081/healthz",
		"127.0.0.1:0":    "http://127.0.0.1:8080/healthz",
		"not an address": "http://127.0.0.1:8080/healthz",
	} {
		if got := defaultHealthURL(listen); got != want {
			t.Errorf("defaultHealthURL(%q) = %q, want %q", listen, got, want)
		}
	}
}

// listTree lists every path under dir, to show that a command wrote nothing.
func listTree(t *testing.T, dir string) []string {
	t.Helper()
	var paths []string
	filepath.WalkDir(dir, func(p string, _ os.DirEntry, err error) error {
		paths = append(paths, p)
		return nil
	})
	slices.Sort(paths)
	return paths
}
