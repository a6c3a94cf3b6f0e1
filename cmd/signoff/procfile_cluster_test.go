package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signoff/signoff/coordinator/bus/natstest"
	"github.com/signoff/signoff/events/eventstest"
)

var clusterInstances = []string{"a", "b", "c"}

// buildClusterInit builds cmd/signoff/examples/clusterinit into dir.
func buildClusterInit(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "clusterinit")
	if out, err := exec.Command("go", "build", "-o", bin, "./examples/clusterinit").CombinedOutput(); err != nil {
		t.Fatalf("go build clusterinit: %v\n%s", err, out)
	}
	return bin
}

// TestClusterInitOnce: clusterinit run by 3 processes at once on one
// directory leaves one key per algorithm and one secret, and a later run
// changes neither.
func TestClusterInitOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("builds clusterinit")
	}
	bin := buildClusterInit(t, t.TempDir())
	dir := filepath.Join(t.TempDir(), "cluster")
	var wg sync.WaitGroup
	outs := make([][]byte, 3)
	errs := make([]error, 3)
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			outs[i], errs[i] = exec.Command(bin, dir).CombinedOutput()
		}()
	}
	wg.Wait()
	for i := range 3 {
		if errs[i] != nil {
			t.Fatalf("run %d: %v\n%s", i, errs[i], outs[i])
		}
	}
	snapshot := func() string {
		var b strings.Builder
		entries, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			fmt.Fprintf(&b, "%s ", e.Name())
		}
		keys, err := os.ReadDir(filepath.Join(dir, "keys"))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range keys {
			data, _ := os.ReadFile(filepath.Join(dir, "keys", e.Name()))
			fmt.Fprintf(&b, "\n%s %x", e.Name(), data)
		}
		secret, _ := os.ReadFile(filepath.Join(dir, "secret.key"))
		fmt.Fprintf(&b, "\nsecret %q", secret)
		return b.String()
	}
	first := snapshot()
	if !strings.HasPrefix(first, "keys secret.key \n") {
		t.Errorf("the directory holds more than keys and secret.key (temporary files left?): %s", strings.SplitN(first, "\n", 2)[0])
	}
	if n := strings.Count(first, ".pem "); n != 3 {
		t.Errorf("%d key files, want 3", n)
	}
	secret, _ := os.ReadFile(filepath.Join(dir, "secret.key"))
	if len(bytes.TrimSpace(secret)) < 32 {
		t.Errorf("secret of %d bytes, want ≥ 32", len(bytes.TrimSpace(secret)))
	}
	if fi, err := os.Stat(filepath.Join(dir, "keys")); err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("keys dir: %v %v, want mode 0700", fi.Mode(), err)
	}
	if out, err := exec.Command(bin, dir).CombinedOutput(); err != nil {
		t.Fatalf("another run: %v\n%s", err, out)
	}
	if snapshot() != first {
		t.Errorf("a later run changed the keys or the secret")
	}
}

// TestClusterExampleConfigsCheck: `signoff check` accepts each of
// examples/cluster/{a,b,c}.yaml where cluster/run.sh puts it (in the
// cluster directory, beside the keys and secret of clusterinit), and,
// without them, names keys.dir and secret_file: the instances really
// share those files. The three differ only in instance, listen and
// data_dir.
func TestClusterExampleConfigsCheck(t *testing.T) {
	if testing.Short() {
		t.Skip("builds clusterinit")
	}
	for _, env := range []string{"SIGNOFF_LISTEN", "SIGNOFF_DATA_DIR", "SIGNOFF_NATS_URL"} {
		t.Setenv(env, "")
	}
	src, err := filepath.Abs("examples/cluster")
	if err != nil {
		t.Fatal(err)
	}
	bin := buildClusterInit(t, t.TempDir())
	bare, dir := t.TempDir(), t.TempDir()
	if out, err := exec.Command(bin, dir).CombinedOutput(); err != nil {
		t.Fatalf("clusterinit: %v\n%s", err, out)
	}
	var texts []string
	for _, x := range clusterInstances {
		data, err := os.ReadFile(filepath.Join(src, x+".yaml"))
		if err != nil {
			t.Fatal(err)
		}
		texts = append(texts, string(data))
		for _, d := range []string{bare, dir} {
			if err := os.WriteFile(filepath.Join(d, x+".yaml"), data, 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	t.Chdir(bare)
	for _, x := range clusterInstances {
		var out, errb bytes.Buffer
		code := run([]string{"check", "--config", x + ".yaml"}, &out, &errb)
		if code == 0 || !strings.Contains(errb.String(), "keys.dir") || !strings.Contains(errb.String(), "secret_file") {
			t.Errorf("check %s without the shared files: exit %d, want an error naming keys.dir and secret_file:\n%s%s", x, code, out.String(), errb.String())
		}
	}
	t.Chdir(dir)
	for _, x := range clusterInstances {
		var out, errb bytes.Buffer
		if code := run([]string{"check", "--config", x + ".yaml"}, &out, &errb); code != 0 {
			t.Errorf("check %s: exit %d\n%s%s", x, code, out.String(), errb.String())
		}
	}
	// Apart from comments, the files differ in instance, listen,
	// public_url and data_dir only.
	norm := func(i int) string {
		var keep []string
		for _, l := range strings.Split(texts[i], "\n") {
			if strings.HasPrefix(l, "listen:") || strings.HasPrefix(l, "public_url:") {
				l = strings.ReplaceAll(l, "808"+strconv.Itoa(i+1), "808N")
			}
			l = strings.ReplaceAll(l, ": "+clusterInstances[i], ": X")
			if strings.HasPrefix(strings.TrimSpace(l), "#") {
				continue
			}
			keep = append(keep, l)
		}
		return strings.Join(keep, "\n")
	}
	for i := 1; i < len(texts); i++ {
		if norm(i) != norm(0) {
			t.Errorf("%s.yaml differs from a.yaml beyond instance, ports and data_dir:\n%s\n---\n%s", clusterInstances[i], norm(i), norm(0))
		}
	}
}

// TestClusterProcfileWithForeman runs examples/Procfile.cluster with
// foreman on random ports: the 3 nats-server nodes and the 3 signoff
// instances become ready, publish the same keys, and `signoff status`
// against one of them shows every partition owned by the three; after a
// SIGTERM to foreman no process it started survives and nothing listens.
func TestClusterProcfileWithForeman(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs 3 nats-server and 3 signoff processes")
	}
	env := []string{"SIGNOFF_CLUSTER_DIR=" + t.TempDir()}
	var addrs, httpAddrs []string
	for i := 1; i <= 3; i++ {
		p, r := natstest.FreePort(t), natstest.FreePort(t)
		env = append(env, fmt.Sprintf("NATS_PORT_%d=%d", i, p), fmt.Sprintf("NATS_ROUTE_PORT_%d=%d", i, r))
		addrs = append(addrs, fmt.Sprintf("127.0.0.1:%d", p), fmt.Sprintf("127.0.0.1:%d", r))
	}
	for _, x := range clusterInstances {
		a := fmt.Sprintf("127.0.0.1:%d", natstest.FreePort(t))
		env = append(env, "SIGNOFF_LISTEN_"+strings.ToUpper(x)+"="+a)
		httpAddrs = append(httpAddrs, a)
	}
	addrs = append(addrs, httpAddrs...)
	f := startForeman(t, "cmd/signoff/examples/Procfile.cluster", env)
	var urls []string
	for _, a := range httpAddrs {
		urls = append(urls, "http://"+a+"/readyz")
	}
	f.ready(t, 5*time.Minute, urls...)
	exes := map[string]int{}
	for _, p := range f.children {
		exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", p))
		exes[filepath.Base(exe)]++
	}
	if exes["signoff"] != 3 || exes["nats-server"] != 3 {
		t.Errorf("foreman's descendants run %v, want 3 signoff and 3 nats-server (the script must exec the built binaries)", exes)
	}
	// One key set for the three.
	var jwks []string
	for _, a := range httpAddrs {
		resp, err := http.Get("http://" + a + "/jwks.json")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		jwks = append(jwks, string(b))
	}
	if jwks[0] != jwks[1] || jwks[0] != jwks[2] || !strings.Contains(jwks[0], `"kid"`) {
		t.Errorf("the instances publish different key sets:\n%s", strings.Join(jwks, "\n"))
	}
	// Every partition owned, by all three (the token of the example configs).
	t.Setenv("SIGNOFF_ADMIN_TOKEN", "local-cluster-example-admin-token")
	var status, errb bytes.Buffer
	if err := eventstest.Poll(90*time.Second, 500*time.Millisecond, func() error {
		status.Reset()
		errb.Reset()
		if code := run([]string{"status", "--url", "http://" + httpAddrs[0]}, &status, &errb); code != 0 {
			return fmt.Errorf("signoff status: exit %d: %s%s", code, status.String(), errb.String())
		}
		for _, x := range clusterInstances {
			if !strings.Contains(status.String(), "\n"+x+" ") {
				return fmt.Errorf("instance %s not listed:\n%s", x, status.String())
			}
		}
		return nil
	}); err != nil {
		t.Error(err)
	} else {
		t.Logf("signoff status:\n%s", status.String())
	}

	sort.Strings(addrs)
	f.stop(t, 60*time.Second, 10*time.Second, addrs)
}
