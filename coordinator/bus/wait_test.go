package bus

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// TestWaitForServer: a NATS that starts late is waited for; none at all
// fails after the timeout; timeout 0 tries once.
func TestWaitForServer(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	url := "nats://" + l.Addr().String()

	start := time.Now()
	err = WaitForServer(context.Background(), url, Auth{}, 0, nil)
	if err == nil || !strings.Contains(err.Error(), "no servers available") || time.Since(start) > 3*time.Second {
		t.Fatalf("timeout 0 without a server: %v after %s", err, time.Since(start))
	}

	started := make(chan *server.Server, 1)
	go func() {
		time.Sleep(time.Second)
		ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, NoSigs: true, NoLog: true})
		if err != nil {
			t.Error(err)
			started <- nil
			return
		}
		go ns.Start()
		started <- ns
	}()
	if err := WaitForServer(context.Background(), url, Auth{}, 20*time.Second, nil); err != nil {
		t.Fatalf("late server: %v", err)
	}
	if ns := <-started; ns != nil {
		ns.Shutdown()
		ns.WaitForShutdown()
	}

	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := WaitForServer(ctx, url, Auth{}, time.Minute, nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancelled wait: %v", err)
	}
}
