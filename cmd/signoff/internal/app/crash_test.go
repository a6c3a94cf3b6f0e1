package app

import (
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/signoff/signoff/coordinator/bus/natstest"
	"github.com/signoff/signoff/events"
	"github.com/signoff/signoff/events/eventstest"
)

// TestMain removes the binaries the fault tests built once: nats-server
// and the signoff of the child processes.
func TestMain(m *testing.M) {
	code := m.Run()
	natstest.RemoveServerBinary() // built by the cluster tests
	removeChildBinary()
	os.Exit(code)
}

// freePort is a free loopback host:port.
func freePort(t testing.TB) string { return natstest.FreeAddr(t) }

type child struct {
	cmd  *exec.Cmd
	logs *logBuffer // the child's stderr
}

// logBuffer collects a child's stderr.
type logBuffer = natstest.LogBuffer

// kill ends the child with SIGKILL, if it still runs.
func (c *child) kill() {
	if c.cmd.ProcessState == nil {
		c.cmd.Process.Kill()
		c.cmd.Wait()
	}
}

// stop ends the child with SIGTERM, if it still runs.
func (c *child) stop() {
	if c.cmd.ProcessState == nil {
		c.cmd.Process.Signal(syscall.SIGTERM)
		c.cmd.Wait()
	}
}

// childBin is `signoff`, built once without the race detector for the
// child processes: the fault tests' children run the real `signoff
// serve`, and a race-instrumented signoff per child made the scale-out
// tests 5 times slower. The race detector still covers the same code in
// the in-process tests.
var childBin struct {
	once sync.Once
	dir  string
	path string
	err  error
}

func childBinary(t testing.TB) string {
	t.Helper()
	childBin.once.Do(func() {
		childBin.dir, childBin.err = os.MkdirTemp("", "signoff-child-")
		if childBin.err != nil {
			return
		}
		childBin.path = filepath.Join(childBin.dir, "signoff")
		cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", childBin.path, "github.com/signoff/signoff/cmd/signoff")
		if out, err := cmd.CombinedOutput(); err != nil {
			childBin.err = fmt.Errorf("go build ./cmd/signoff: %w\n%s", err, out)
		}
	})
	if childBin.err != nil {
		t.Fatal(childBin.err)
	}
	return childBin.path
}

// removeChildBinary deletes the binary childBinary built (TestMain).
func removeChildBinary() {
	if childBin.dir != "" {
		os.RemoveAll(childBin.dir)
	}
}

// startChild runs `signoff serve --config cfgPath` (childBinary) and waits
// until /readyz at httpAddr answers 200. The child's stderr is kept in
// child.logs (and copied to the test's stderr with SIGNOFF_TEST_LOG set);
// its tail is logged when the test fails.
func startChild(t testing.TB, cfgPath, httpAddr string) *child {
	t.Helper()
	cmd := exec.Command(childBinary(t), "serve", "--config", cfgPath)
	logs := &logBuffer{}
	cmd.Stderr = logs
	if os.Getenv("SIGNOFF_TEST_LOG") != "" {
		cmd.Stderr = io.MultiWriter(logs, os.Stderr)
	}
	t.Cleanup(func() {
		if t.Failed() {
			s := logs.String()
			if len(s) > 4000 {
				s = "…" + s[len(s)-4000:]
			}
			t.Logf("child %d stderr:\n%s", cmd.Process.Pid, s)
		}
	})
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { io.Copy(io.Discard, out); close(exited) }()
	var gone bool
	err = eventstest.Poll(120*time.Second, 100*time.Millisecond, func() error {
		select {
		case <-exited:
			gone = true
			return nil
		default:
		}
		resp, err := http.Get("http://" + httpAddr + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("readyz %d", resp.StatusCode)
		}
		return nil
	})
	switch {
	case gone:
		t.Fatalf("child exited before it was ready:\n%s", logs.String())
	case err != nil:
		cmd.Process.Kill()
		t.Fatalf("child not ready after 120s: %v", err)
	}
	return &child{cmd: cmd, logs: logs}
}

// TestCrashResume: a real signoff child process is killed with SIGKILL in
// the middle of a batch of sagas and started again on the same data_dir.
// Every saga completes exactly once, nothing is lost.
func TestCrashResume(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	const sagas = 150
	rps := []*testRP{newTestRP(t, "wiki", "ES256"), newTestRP(t, "chat", "ES256"), newTestRP(t, "payroll", "RS256")}
	for _, rp := range rps {
		rp.gate = make(chan struct{}, 4)
		rp.delay = 25 * time.Millisecond
	}
	dir := t.TempDir()
	httpAddr, natsAddr := freePort(t), freePort(t)
	var rpYAML strings.Builder
	for _, rp := range rps {
		fmt.Fprintf(&rpYAML, "  - id: %s\n    name: %s\n    oidc:\n      client_id: %s\n      backchannel_logout_uri: %s/bc\n      backchannel_logout_session_required: true\n      logout_token_alg: %s\n",
			rp.ID, rp.ID, rp.ClientID, rp.srv.URL, rp.Alg)
	}
	cfgPath := filepath.Join(dir, "signoff.yaml")
	yaml := fmt.Sprintf("public_url: http://%s\nissuer: %s\nlisten: %s\ndata_dir: %s\nnats: {listen: %q, allow_anonymous: true}\nlogout: {deadline: 60s}\nlog: {level: warn}\nrelying_parties:\n%s",
		httpAddr, testIssuer, httpAddr, filepath.Join(dir, "data"), natsAddr, rpYAML.String())
	if err := os.WriteFile(cfgPath, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	ch := startChild(t, cfgPath, httpAddr)
	defer func() {
		if ch.cmd.ProcessState == nil {
			ch.cmd.Process.Kill()
			ch.cmd.Wait()
		}
	}()
	for _, rp := range rps {
		rp.useJWKS("http://" + httpAddr + "/jwks.json")
	}
	nc, err := nats.Connect("nats://"+natsAddr, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	c := newClient(t, nc)
	for i := range sagas {
		for _, rp := range rps {
			c.join(fmt.Sprintf("s%d", i), fmt.Sprintf("u%d", i), rp.ID, fmt.Sprintf("sid-%s-%d", rp.ID, i))
		}
	}
	db, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "data", "signoff.db")+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	count := func(q string) int {
		var n int
		if err := db.QueryRow(q).Scan(&n); err != nil {
			return -1
		}
		return n
	}
	eventstest.EventuallyErr(t, 30*time.Second, func() error {
		if n := count(`SELECT COUNT(*) FROM sessions`); n != sagas*len(rps) {
			return fmt.Errorf("%d sessions registered", n)
		}
		return nil
	})
	for i := range sagas {
		c.logout(fmt.Sprintf("L%d", i), fmt.Sprintf("s%d", i))
	}
	total := func() int {
		n := 0
		for _, rp := range rps {
			k, _ := rp.snapshot()
			n += k
		}
		return n
	}
	eventstest.EventuallyErr(t, 30*time.Second, func() error {
		if n := total(); n < sagas*len(rps)/5 {
			return fmt.Errorf("%d tokens delivered", n)
		}
		return nil
	})
	if err := ch.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	ch.cmd.Wait()
	atKill := total()
	doneAtKill := count(`SELECT COUNT(*) FROM sagas WHERE status != 'running'`)
	t.Logf("killed with %d of %d tokens delivered and %d of %d sagas ended", atKill, sagas*len(rps), doneAtKill, sagas)
	if doneAtKill >= sagas {
		t.Fatalf("every saga had ended before the kill; the test proves nothing")
	}

	ch = startChild(t, cfgPath, httpAddr)
	defer func() {
		ch.cmd.Process.Signal(syscall.SIGTERM)
		ch.cmd.Wait()
	}()
	nc2, err := nats.Connect("nats://" + natsAddr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc2.Close()
	c2 := newClient(t, nc2)
	var byID map[string]events.Completed
	var counts map[string]int
	eventstest.EventuallyErr(t, 90*time.Second, func() error {
		byID, counts = c2.completed()
		if len(byID) < sagas {
			return fmt.Errorf("%d of %d logouts completed", len(byID), sagas)
		}
		return nil
	})
	for i := range sagas {
		id := fmt.Sprintf("L%d", i)
		if counts[id] != 1 {
			t.Errorf("%s completed %d times, want exactly once", id, counts[id])
		}
		if byID[id].Outcome != events.StatusComplete {
			t.Errorf("%s: %+v", id, byID[id])
		}
	}
	if len(counts) != sagas {
		t.Errorf("%d distinct logouts completed, want %d", len(counts), sagas)
	}
	// Every session at every RP received a valid token.
	for _, rp := range rps {
		_, toks := rp.snapshot()
		seen := map[string]bool{}
		for _, tok := range toks {
			if !tok.Valid {
				t.Errorf("%s: invalid token: %s", rp.ID, tok.Err)
			}
			seen[tok.SID] = true
		}
		if len(seen) != sagas {
			t.Errorf("%s: tokens for %d distinct sessions, want %d", rp.ID, len(seen), sagas)
		}
	}
	eventstest.EventuallyErr(t, 10*time.Second, func() error {
		if n := count(`SELECT COUNT(*) FROM sagas WHERE status = 'complete'`); n != sagas {
			return fmt.Errorf("%d saga rows complete", n)
		}
		if n := count(`SELECT COUNT(*) FROM outbox`); n != 0 {
			return fmt.Errorf("%d outbox rows left", n)
		}
		return nil
	})
	t.Logf("after restart: %d tokens delivered in all (%d redelivered after the crash)", total(), total()-sagas*len(rps))
}
