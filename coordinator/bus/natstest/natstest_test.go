package natstest

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
)

// TestEmbedded: the embedded server accepts a client, with JetStream only
// when asked for, and is shut down at the end of the test.
func TestEmbedded(t *testing.T) {
	for _, js := range []bool{false, true} {
		t.Run(fmt.Sprintf("jetstream=%v", js), func(t *testing.T) {
			ns := Embedded(t, js)
			_, jsc := Connect(t, ns.ClientURL())
			_, err := jsc.AccountInfo(context.Background())
			if js != (err == nil) {
				t.Errorf("JetStream account info with jetstream=%v: %v", js, err)
			}
		})
	}
}

// TestFreeAddr: the address is on loopback and can be listened on.
func TestFreeAddr(t *testing.T) {
	addr := FreeAddr(t)
	if !strings.HasPrefix(addr, "127.0.0.1:") {
		t.Fatalf("FreeAddr = %q, want 127.0.0.1:port", addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
}

// TestLogBufferConcurrentWrites: every write of several goroutines is kept
// (run with -race).
func TestLogBufferConcurrentWrites(t *testing.T) {
	var b LogBuffer
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				fmt.Fprint(&b, "x")
				_ = b.String()
			}
		})
	}
	wg.Wait()
	if n := len(b.String()); n != 800 {
		t.Errorf("%d bytes, want 800", n)
	}
}
