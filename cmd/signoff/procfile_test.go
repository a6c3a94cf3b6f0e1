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
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/signoff/signoff/coordinator/bus/natstest"
	"github.com/signoff/signoff/events/eventstest"
)

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

// foremanRun is foreman running a Procfile of the repository in its own
// process group.
type foremanRun struct {
	cmd      *exec.Cmd
	out      natstest.LogBuffer
	exited   chan struct{}
	children []int // its descendants, set by ready
}

// startForeman runs `foreman start -f procfile` in the repository root with
// env added to the environment; it skips the test where foreman or /proc
// is missing (and fails it on CI without foreman). At cleanup it ends what
// it started, by id, and logs the end of foreman's output if the test
// failed.
func startForeman(t *testing.T, procfile string, env []string) *foremanRun {
	t.Helper()
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
	f := &foremanRun{exited: make(chan struct{})}
	f.cmd = exec.Command(foreman, "start", "-f", procfile, "-d", root)
	f.cmd.Dir = root
	f.cmd.Env = append(os.Environ(), env...)
	f.cmd.Stdout, f.cmd.Stderr = &f.out, &f.out
	f.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // its own group, for the cleanup below
	f.cmd.WaitDelay = 10 * time.Second                      // a grandchild holding the output pipe does not hold the test
	if err := f.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { f.cmd.Wait(); close(f.exited) }()
	t.Cleanup(func() {
		// Whatever happened: end what this test started, by id.
		select {
		case <-f.exited:
		default:
			syscall.Kill(-f.cmd.Process.Pid, syscall.SIGKILL)
			<-f.exited
		}
		for _, p := range f.children {
			if alive(p) {
				syscall.Kill(p, syscall.SIGKILL)
			}
		}
		if t.Failed() {
			s := f.out.String()
			if len(s) > 20000 {
				s = "…" + s[len(s)-20000:]
			}
			t.Logf("foreman output:\n%s", s)
		}
	})
	return f
}

// ready waits until every url answers 200 and then records foreman's
// descendants.
func (f *foremanRun) ready(t *testing.T, timeout time.Duration, urls ...string) {
	t.Helper()
	for _, u := range urls {
		if err := waitReady(u, timeout, f.exited); err != nil {
			t.Fatal(err)
		}
	}
	f.children = descendants(f.cmd.Process.Pid)
}

// stop sends SIGTERM to foreman and checks that it exits within exitWait,
// that none of its descendants is alive goneWait later, that nothing
// accepts connections on addrs any more, and that its output holds
// signoff's and nats-server's ready lines.
func (f *foremanRun) stop(t *testing.T, exitWait, goneWait time.Duration, addrs []string) {
	t.Helper()
	if err := f.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-f.exited:
	case <-time.After(exitWait):
		t.Fatalf("foreman did not exit within %v of SIGTERM", exitWait)
	}
	for _, p := range f.children {
		if eventstest.Poll(goneWait, 50*time.Millisecond, func() error {
			if alive(p) {
				return fmt.Errorf("process %d alive", p)
			}
			return nil
		}) != nil {
			t.Errorf("process %d survived foreman's shutdown", p)
		}
	}
	for _, a := range addrs {
		if listening(a) {
			t.Errorf("%s still accepts connections after foreman's shutdown", a)
		}
	}
	for _, w := range []string{"signoff running", "Server is ready"} {
		if !strings.Contains(f.out.String(), w) {
			t.Errorf("foreman output does not contain %q", w)
		}
	}
}

// TestProcfileWithForeman runs the repository's Procfile with Debian's
// foreman (ruby-foreman) on random ports: signoff becomes ready although
// nats-server is built and started beside it, and after a SIGTERM to
// foreman no process it started survives and nothing listens any more.
func TestProcfileWithForeman(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs nats-server and signoff")
	}
	natsPort, httpPort := natstest.FreePort(t), natstest.FreePort(t)
	natsAddr, httpAddr := fmt.Sprintf("127.0.0.1:%d", natsPort), fmt.Sprintf("127.0.0.1:%d", httpPort)
	dir := t.TempDir()
	f := startForeman(t, "Procfile", []string{
		"NATS_PORT=" + strconv.Itoa(natsPort), "NATS_STORE_DIR=" + filepath.Join(dir, "nats"),
		"SIGNOFF_LISTEN=" + httpAddr, "SIGNOFF_DATA_DIR=" + filepath.Join(dir, "signoff")})
	f.ready(t, 4*time.Minute, "http://"+httpAddr+"/readyz")
	if len(f.children) < 2 {
		t.Fatalf("foreman has %d descendants, want nats-server and signoff", len(f.children))
	}
	for _, p := range f.children {
		exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", p))
		if base := filepath.Base(exe); base != "signoff" && base != "nats-server" {
			t.Errorf("foreman's child %d runs %s: the Procfile should exec the built binaries", p, exe)
		}
	}
	f.stop(t, 30*time.Second, 5*time.Second, []string{natsAddr, httpAddr})
}

// TestServeWaitsForNATS: serve with nats.url waits for a NATS that starts
// after it (nats.connect_timeout), then runs; with connect_timeout 0 it
// fails at once.
func TestServeWaitsForNATS(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	bin := signoffBinary(t)
	natsPort, httpPort := natstest.FreePort(t), natstest.FreePort(t)
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
	var out natstest.LogBuffer
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
	natstest.EmbeddedWith(t, &server.Options{Host: "127.0.0.1", Port: natsPort, JetStream: true, StoreDir: filepath.Join(dir, "nats"), NoSigs: true, NoLog: true})
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
