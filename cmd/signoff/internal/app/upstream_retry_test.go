package app

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signoff/signoff/cmd/signoff/internal/config"
	"github.com/signoff/signoff/events"
)

// TestUpstreamPublishFailureRetried: when the logout.requested cannot be
// published (NATS unreachable), the OP gets 503 temporarily_unavailable
// and the jti is not remembered, so its retransmission of the same token
// is accepted (section 2.8); both attempts carry the same event_id and
// logout_id, so a publish that did land before the failure starts nothing
// twice. Once accepted, the token is a replay (400).
func TestUpstreamPublishFailureRetried(t *testing.T) {
	op := newUpstreamOP(t)
	var mu sync.Mutex
	var got []events.LogoutRequested
	fail := true
	request := func(_ context.Context, req events.LogoutRequested) error {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, req)
		if fail {
			fail = false
			return errors.New("nats: no responders")
		}
		return nil
	}
	u := config.Upstream{ID: "corp", Issuer: op.issuer, ClientID: upstreamClientID, JWKSURI: op.srv.URL + "/jwks"}
	bc, err := newUpstream(u, request, Options{Now: time.Now, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(bc)
	t.Cleanup(srv.Close)
	raw := op.sign(t, op.claims("alice", "up-A"), nil)
	post := func() (int, string) {
		resp, err := http.PostForm(srv.URL, url.Values{"logout_token": {raw}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b strings.Builder
		buf := make([]byte, 512)
		n, _ := resp.Body.Read(buf)
		b.Write(buf[:n])
		return resp.StatusCode, b.String()
	}
	for i, want := range []int{http.StatusServiceUnavailable, http.StatusOK, http.StatusBadRequest} {
		if status, body := post(); status != want {
			t.Fatalf("attempt %d: %d %s, want %d", i+1, status, body, want)
		}
	}
	if len(got) != 2 {
		t.Fatalf("%d publish attempts, want 2", len(got))
	}
	eventID, logoutID := UpstreamLogoutIDs("corp", jtiOf(raw))
	for _, r := range got {
		if r.EventID != eventID || r.LogoutID != logoutID || r.Subject != "alice" || r.Upstream == nil ||
			*r.Upstream != (events.Upstream{ID: "corp", SID: "up-A"}) || r.Initiator != events.InitiatorIdP || r.Scope != events.ScopeGlobal {
			t.Errorf("published %+v", r)
		}
		b, err := events.Encode(r)
		if err == nil {
			_, err = events.Decode[events.LogoutRequested](b) // valid against its schema
		}
		if err != nil {
			t.Error(err)
		}
	}
	// Another upstream's token with the same jti is another logout.
	if _, other := UpstreamLogoutIDs("other", jtiOf(raw)); other == logoutID {
		t.Error("logout_id does not depend on the upstream id")
	}
}
