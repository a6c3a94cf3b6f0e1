package delivery

import (
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
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
