package conformance

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/signoff/signoff/events"
)

// Step is a browser step under test (front-channel): the logout page
// shows a frame for participant RPID with a token, and posts its
// acknowledgement, which publishes the participant's result.
type Step struct {
	// Name is the adapter name (the adapter field of its results).
	Name events.Adapter
	// RPID is the participant the adapter knows.
	RPID string
	// Token is the token of RPID's frame in logout logoutID.
	Token func(logoutID string) string
	// Ack posts an acknowledgement (the page's POST .../ack).
	Ack func(ctx context.Context, logoutID, rpID, token, status, detail string) error
	// OK and Error are the acknowledgement statuses of a page that
	// confirmed and of one that reported an error.
	OK, Error string
}

// BrowserFactory builds a fresh browser step publishing to pub.
type BrowserFactory func(t *testing.T, pub *Recorder) Step

// RunBrowser runs the subset of the suite that applies to browser steps:
// one result per acknowledgement, a forged acknowledgement refused with
// nothing published, a hostile detail sanitised.
func RunBrowser(t *testing.T, factory BrowserFactory) {
	t.Run("OneResultPerAck", func(t *testing.T) {
		pub := NewRecorder()
		s := factory(t, pub)
		for i, logoutID := range []string{"c2000000-0000-4000-8000-000000000001", "c2000000-0000-4000-8000-000000000002"} {
			if err := s.Ack(context.Background(), logoutID, s.RPID, s.Token(logoutID), s.OK, ""); err != nil {
				t.Fatalf("ack: %v", err)
			}
			got := pub.Wait(t, i+1, 5*time.Second)
			if len(got) != i+1 {
				t.Fatalf("%d results after %d acknowledgements", len(got), i+1)
			}
			CheckResult(t, s.Name, got[i], logoutID, s.RPID)
			if got[i].Outcome != events.OutcomeSucceeded {
				t.Errorf("outcome %s (%s), want succeeded", got[i].Outcome, got[i].Detail)
			}
		}
	})
	t.Run("ForgedAckRefused", func(t *testing.T) {
		pub := NewRecorder()
		s := factory(t, pub)
		const logoutID = "c2000000-0000-4000-8000-000000000003"
		other := "c2000000-0000-4000-8000-000000000004"
		for _, tc := range []struct{ name, rpID, token string }{
			{"wrong token", s.RPID, "forged"},
			{"token of another logout", s.RPID, s.Token(other)},
			{"unknown participant", "not-" + s.RPID, s.Token(logoutID)},
		} {
			if err := s.Ack(context.Background(), logoutID, tc.rpID, tc.token, s.OK, ""); err == nil {
				t.Errorf("%s: acknowledgement accepted", tc.name)
			}
		}
		if n := len(pub.Results()); n != 0 {
			t.Errorf("%d results published for forged acknowledgements", n)
		}
	})
	t.Run("DetailSanitised", func(t *testing.T) {
		pub := NewRecorder()
		s := factory(t, pub)
		const logoutID = "c2000000-0000-4000-8000-000000000005"
		hostile := "TypeError\x00\x1b[31m\r\n\t at logout.js:1\xff " + strings.Repeat("x ", 5000)
		if err := s.Ack(context.Background(), logoutID, s.RPID, s.Token(logoutID), s.Error, hostile); err != nil {
			t.Fatalf("ack: %v", err)
		}
		got := pub.Wait(t, 1, 5*time.Second)
		CheckResult(t, s.Name, got[0], logoutID, s.RPID)
		if got[0].Outcome != events.OutcomeFailed || !strings.Contains(got[0].Detail, "TypeError") {
			t.Errorf("result %+v, want failed with the page's error", got[0])
		}
	})
}

// CheckResult asserts that r is a valid logout.result of adapter name for
// participant rpID of logoutID, with a sanitised detail.
func CheckResult(t *testing.T, name events.Adapter, r events.Result, logoutID, rpID string) {
	t.Helper()
	checkResult(t, Subject{Name: name}, r, events.Dispatch{LogoutID: logoutID, RPID: rpID})
}
