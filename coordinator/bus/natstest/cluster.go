package natstest

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signoff/signoff/events/eventstest"
)

// Node is one nats-server process of a test cluster.
type Node struct {
	Name      string     // its server_name, n1 … nN
	ClientURL string     // nats://host:port
	MonURL    string     // http://host:port of its monitoring endpoint
	Logs      *LogBuffer // its stdout and stderr

	bin, confPath string
	cmd           *exec.Cmd
}

var serverBin struct {
	once sync.Once
	path string
	err  error
}

// ServerBinary builds nats-server from the module version in go.mod, once
// per test binary, and returns its path.
func ServerBinary(t testing.TB) string {
	t.Helper()
	serverBin.once.Do(func() {
		dir, err := os.MkdirTemp("", "signoff-nats-server")
		if err != nil {
			serverBin.err = err
			return
		}
		goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
		if _, err := os.Stat(goBin); err != nil {
			goBin = "go"
		}
		path := filepath.Join(dir, "nats-server")
		out, err := exec.Command(goBin, "build", "-o", path, "github.com/nats-io/nats-server/v2").CombinedOutput()
		if err != nil {
			serverBin.err = fmt.Errorf("go build nats-server: %v\n%s", err, out)
			return
		}
		serverBin.path = path
	})
	if serverBin.err != nil {
		t.Fatal(serverBin.err)
	}
	return serverBin.path
}

// StartCluster runs a cluster of n nats-server processes with JetStream,
// each with its own store dir, on loopback, kills them when the test ends,
// and waits until every node reports healthy (WaitHealthy).
func StartCluster(t testing.TB, n int) []*Node {
	t.Helper()
	bin := ServerBinary(t)
	routes := make([]string, n)
	for i := range n {
		routes[i] = FreeAddr(t)
	}
	nodes := make([]*Node, n)
	for i := range n {
		dir := t.TempDir()
		client, mon := FreeAddr(t), FreeAddr(t)
		var others []string
		for j, r := range routes {
			if j != i {
				others = append(others, "nats://"+r)
			}
		}
		conf := fmt.Sprintf(`server_name: n%d
listen: %s
http: %s
jetstream { store_dir: %q }
cluster {
  name: signoff-test
  listen: %s
  routes: [%s]
}
`, i+1, client, mon, filepath.Join(dir, "js"), routes[i], strings.Join(others, ", "))
		confPath := filepath.Join(dir, "nats.conf")
		if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		nd := &Node{Name: fmt.Sprintf("n%d", i+1), ClientURL: "nats://" + client, MonURL: "http://" + mon,
			Logs: &LogBuffer{}, bin: bin, confPath: confPath}
		nd.Start(t)
		t.Cleanup(nd.Kill)
		nodes[i] = nd
	}
	WaitHealthy(t, nodes)
	return nodes
}

// ClientURLs is the nodes' client URLs joined with commas, as nats.Connect
// takes them.
func ClientURLs(nodes []*Node) string {
	urls := make([]string, len(nodes))
	for i, nd := range nodes {
		urls[i] = nd.ClientURL
	}
	return strings.Join(urls, ",")
}

// Start runs the node (again, on the same store dir).
func (nd *Node) Start(t testing.TB) {
	t.Helper()
	nd.cmd = exec.Command(nd.bin, "-c", nd.confPath)
	nd.cmd.Stdout, nd.cmd.Stderr = nd.Logs, nd.Logs
	if err := nd.cmd.Start(); err != nil {
		t.Fatal(err)
	}
}

// Running reports whether the node has been started and not ended since.
func (nd *Node) Running() bool {
	return nd.cmd != nil && nd.cmd.ProcessState == nil
}

// Kill ends the node with SIGKILL, if it still runs.
func (nd *Node) Kill() {
	if nd.Running() {
		nd.cmd.Process.Kill()
		nd.cmd.Wait()
	}
}

// WaitHealthy waits up to 60 s until every node's /healthz answers 200:
// JetStream has a meta leader and the node's streams are current.
func WaitHealthy(t testing.TB, nodes []*Node) {
	t.Helper()
	eventstest.EventuallyErr(t, 60*time.Second, func() error {
		for _, nd := range nodes {
			resp, err := http.Get(nd.MonURL + "/healthz")
			if err != nil {
				return err
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("%s /healthz %d", nd.Name, resp.StatusCode)
			}
		}
		return nil
	})
}

// RemoveServerBinary removes the nats-server that ServerBinary built, if
// it built one; TestMain calls it after m.Run.
func RemoveServerBinary() {
	if serverBin.path != "" {
		os.RemoveAll(filepath.Dir(serverBin.path))
	}
}

// Pid is the process id of the node's last start.
func (nd *Node) Pid() int {
	return nd.cmd.Process.Pid
}
