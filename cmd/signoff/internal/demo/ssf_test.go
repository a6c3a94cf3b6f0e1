package demo

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestDemoPrintsSSFPush: the demo prints a command that pushes a Shared
// Signals SET; doing what it says gets 202 from signoff, and pushing the
// same SET again gets invalid_request (a replayed jti).
func TestDemoPrintsSSFPush(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	out := &lockedBuffer{}
	ready := make(chan URLs, 1)
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, out, Options{DataDir: t.TempDir(), Logger: slog.New(slog.DiscardHandler), Ready: func(u URLs) { ready <- u }})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("demo: %v", err)
		}
	})
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("demo stopped: %v\n%s", err, out.String())
	case <-time.After(60 * time.Second):
		t.Fatal("demo not ready")
	}
	m := regexp.MustCompile(`curl -s '(\S+)' \| curl -si (\S+) -H 'Authorization: Bearer (\S+)'`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no SSF push command in the output:\n%s", out.String())
	}
	resp, err := http.Get(m[1])
	if err != nil {
		t.Fatal(err)
	}
	set, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	push := func() (int, string) {
		req, _ := http.NewRequest(http.MethodPost, m[2], strings.NewReader(string(set)))
		req.Header.Set("Authorization", "Bearer "+m[3])
		req.Header.Set("Content-Type", "application/secevent+jwt")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := push(); code != http.StatusAccepted {
		t.Fatalf("push: %d %s", code, body)
	}
	if code, body := push(); code != http.StatusBadRequest || !strings.Contains(body, `"err":"invalid_request"`) {
		t.Fatalf("second push: %d %s", code, body)
	}
}
