package cookie

import (
	"context"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/signoff/signoff/adapters/conformance"
	"github.com/signoff/signoff/events"
)

// TestConformance is the subset of the adapter suite (adapters/conformance)
// that applies to the local session: one valid result per confirmation,
// succeeded once the browser no longer sends the cookie, failed with a
// sanitised detail while it does.
func TestConformance(t *testing.T) {
	tests := []struct {
		name, cookie string
		want         events.Outcome
	}{
		{"cleared", "", events.OutcomeSucceeded},
		{"still sent", "idp-session-1", events.OutcomeFailed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pub := conformance.NewRecorder()
			a := New(Config{Name: "idp_session", RPID: "signoff", Publisher: pub, Now: time.Now})
			r := httptest.NewRequest("GET", "https://auth.example.com/logout/x", nil)
			if tt.cookie != "" {
				r.Header.Set("Cookie", "idp_session="+tt.cookie)
			}
			const logoutID = "c3000000-0000-4000-8000-000000000001"
			if err := a.Confirm(context.Background(), logoutID, r); err != nil {
				t.Fatal(err)
			}
			got := pub.Wait(t, 1, 5*time.Second)
			if len(got) != 1 {
				t.Fatalf("%d results for one confirmation", len(got))
			}
			conformance.CheckResult(t, events.AdapterCookie, got[0], logoutID, "signoff")
			if got[0].Outcome != tt.want || (tt.cookie != "" && strings.Contains(got[0].Detail, tt.cookie)) {
				t.Errorf("result %+v, want %s without the cookie's value", got[0], tt.want)
			}
		})
	}
}
