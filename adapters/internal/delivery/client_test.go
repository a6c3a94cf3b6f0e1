package delivery

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// TestNewHTTPClientFollowsNoRedirect: a delivery URL that redirects gets
// its 302 back, and the redirect target is never called.
func TestNewHTTPClientFollowsNoRedirect(t *testing.T) {
	var followed atomic.Bool
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { followed.Store(true) }))
	defer target.Close()
	rp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, target.URL, http.StatusFound)
	}))
	defer rp.Close()

	resp, err := NewHTTPClient().Post(rp.URL, "application/x-www-form-urlencoded", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Errorf("status %d, want the redirect itself (302)", resp.StatusCode)
	}
	if followed.Load() {
		t.Error("the client followed the redirect")
	}
}

func TestUnconfirmed(t *testing.T) {
	tests := []struct {
		code       int
		retryAfter string
		want       Verdict
		wantAfter  time.Duration
	}{
		{http.StatusTooManyRequests, "7", Retryable, 7 * time.Second},
		{http.StatusServiceUnavailable, "", Retryable, 0},
		{http.StatusRequestTimeout, "7", Retryable, 0},
		{http.StatusBadGateway, "", Retryable, 0},
		{http.StatusBadRequest, "7", Final, 0},
		{http.StatusNotFound, "", Final, 0},
		{http.StatusAccepted, "", Final, 0},
	}
	for _, tt := range tests {
		resp := &http.Response{StatusCode: tt.code, Header: http.Header{}}
		if tt.retryAfter != "" {
			resp.Header.Set("Retry-After", tt.retryAfter)
		}
		got := Unconfirmed(resp, "HTTP x: body")
		if got.Verdict != tt.want || got.RetryAfter != tt.wantAfter || got.Detail != "HTTP x: body" {
			t.Errorf("Unconfirmed(%d) = %+v, want verdict %v, retry after %v, the detail unchanged", tt.code, got, tt.want, tt.wantAfter)
		}
	}
}

// TestClientCopiesAndRefusesRedirects: a given client is copied, not
// changed, and the copy follows no redirect; nil gives NewHTTPClient's.
func TestClientCopiesAndRefusesRedirects(t *testing.T) {
	given := &http.Client{Timeout: 7 * time.Second}
	c := Client(given)
	if c == given || given.CheckRedirect != nil {
		t.Fatal("the given client was changed instead of copied")
	}
	if c.Timeout != 7*time.Second || c.CheckRedirect == nil {
		t.Errorf("copy: timeout %v, CheckRedirect set %v", c.Timeout, c.CheckRedirect != nil)
	}
	if c.CheckRedirect(nil, nil) != http.ErrUseLastResponse {
		t.Error("the copy follows redirects")
	}
	if d := Client(nil); d.Transport == nil || d.CheckRedirect == nil {
		t.Error("Client(nil) is not NewHTTPClient's")
	}
}
