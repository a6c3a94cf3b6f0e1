package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/signoff/signoff/events/eventstest"
)

// syncBuffer collects a child's output for the test log.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitReady polls url until it answers 200 or timeout passes.
func waitReady(url string, timeout time.Duration, exited <-chan struct{}) error {
	exitedErr := fmt.Errorf("the process exited before %s answered 200", url)
	err := eventstest.Poll(timeout, 200*time.Millisecond, func() error {
		select {
		case <-exited:
			return exitedErr
		default:
		}
		resp, err := http.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s answered %d", url, resp.StatusCode)
		}
		return nil
	})
	if errors.Is(err, exitedErr) {
		return exitedErr
	}
	return err
}

// descendants lists the processes below pid (Linux /proc).
func descendants(pid int) []int {
	children := map[int][]int{}
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		p, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so split after ")".
		f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
		if len(f) < 2 {
			continue
		}
		ppid, _ := strconv.Atoi(f[1])
		children[ppid] = append(children[ppid], p)
	}
	var out []int
	var walk func(int)
	walk = func(p int) {
		for _, c := range children[p] {
			out = append(out, c)
			walk(c)
		}
	}
	walk(pid)
	return out
}

// alive reports whether pid is a live process (not gone, not a zombie).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return len(f) > 0 && f[0] != "Z"
}

func listening(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
	}
	return err == nil
}

// TestProcfileWithForeman runs the repository's Procfile with Debian's
// foreman (ruby-foreman) on random ports: signoff becomes ready although
// nats-server is built and started beside it, and after a SIGTERM to
// foreman no process it started survives and nothing listens any more.
func TestProcfileWithForeman(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs nats-server and signoff")
	}
	if runtime.GOOS != "linux" {
		t.Skip("reads /proc to find foreman's children")
	}
	foreman, err := exec.LookPath("foreman")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("foreman is not installed (apt-get install ruby-foreman; .ci/run does)")
		}
		t.Skip("foreman is not installed: apt-get install ruby-foreman")
	}
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	natsPort, httpPort := freePort(t), freePort(t)
	natsAddr, httpAddr := fmt.Sprintf("127.0.0.1:%d", natsPort), fmt.Sprintf("127.0.0.1:%d", httpPort)
	dir := t.TempDir()
	cmd := exec.Command(foreman, "start", "-f", "Procfile", "-d", root)
	cmd.Dir = root
	cmd.Env = append(os.Environ(),
		"NATS_PORT="+strconv.Itoa(natsPort), "NATS_STORE_DIR="+filepath.Join(dir, "nats"),
		"SIGNOFF_LISTEN="+httpAddr, "SIGNOFF_DATA_DIR="+filepath.Join(dir, "signoff"))
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its own group, for the cleanup below
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	var children []int
	defer func() {
		// Whatever happened: end what this test started, by id.
		select {
		case <-exited:
		default:
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		for _, p := range children {
			if alive(p) {
				syscall.Kill(p, syscall.SIGKILL)
			}
		}
		if t.Failed() {
			t.Logf("foreman output:\n%s", out.String())
		}
	}()

	if err := waitReady("http://"+httpAddr+"/readyz", 4*time.Minute, exited); err != nil {
		t.Fatal(err)
	}
	children = descendants(cmd.Process.Pid)
	if len(children) < 2 {
		t.Fatalf("foreman has %d descendants, want nats-server and signoff", len(children))
	}
	for _, p := range children {
		exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", p))
		if base := filepath.Base(exe); base != "signoff" && base != "nats-server" {
			t.Errorf("foreman's child %d runs %s: the Procfile should exec the built binaries", p, exe)
		}
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		t.Fatal("foreman did not exit within 30s of SIGTERM")
	}
	for _, p := range children {
		if eventstest.Poll(5*time.Second, 50*time.Millisecond, func() error {
			if alive(p) {
				return fmt.Errorf("process %d alive", p)
			}
			return nil
		}) != nil {
			t.Errorf("process %d survived foreman's shutdown", p)
		}
	}
	for _, a := range []string{natsAddr, httpAddr} {
		if listening(a) {
			t.Errorf("%s still accepts connections after foreman's shutdown", a)
		}
	}
	for _, w := range []string{"signoff running", "Server is ready"} {
		if !strings.Contains(out.String(), w) {
			t.Errorf("foreman output does not contain %q", w)
		}
	}
}

// TestServeWaitsForNATS: serve with nats.url waits for a NATS that starts
// after it (nats.connect_timeout), then runs; with connect_timeout 0 it
// fails at once.
func TestServeWaitsForNATS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := signoffBinary(t)
	natsPort, httpPort := freePort(t), freePort(t)
	dir := t.TempDir()
	cfg := filepath.Join(dir, "signoff.yaml")
	write := func(timeout string) {
		os.WriteFile(cfg, []byte(fmt.Sprintf("public_url: http://127.0.0.1:%d\nlisten: 127.0.0.1:%d\ndata_dir: %s\nnats:\n  url: nats://127.0.0.1:%d\n  connect_timeout: %s\n",
			httpPort, httpPort, filepath.Join(dir, "data"), natsPort, timeout)), 0o600)
	}

	write("0s")
	start := time.Now()
	b, err := exec.Command(bin, "serve", "--config", cfg).CombinedOutput()
	if err == nil || !strings.Contains(string(b), "no servers available") || time.Since(start) > 10*time.Second {
		t.Errorf("connect_timeout 0 without NATS: %v after %s\n%s", err, time.Since(start), b)
	}

	write("60s")
	cmd := exec.Command(bin, "serve", "--config", cfg)
	var out syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	defer func() {
		select {
		case <-exited:
		default:
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			t.Logf("signoff output:\n%s", out.String())
		}
	}()
	// NATS starts only once signoff has said that it waits for it.
	eventstest.Eventually(t, 30*time.Second, func() bool { return strings.Contains(out.String(), `msg="waiting for NATS"`) },
		"signoff did not log that it waits for NATS:\n%s", &out)
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: natsPort, JetStream: true, StoreDir: filepath.Join(dir, "nats"), NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	defer func() { ns.Shutdown(); ns.WaitForShutdown() }()
	if err := waitReady(fmt.Sprintf("http://127.0.0.1:%d/readyz", httpPort), time.Minute, exited); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), `msg="waiting for NATS"`) {
		t.Errorf("no \"waiting for NATS\" in the log")
	}
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		t.Fatal("signoff did not stop within 30s of SIGTERM")
	}
}
