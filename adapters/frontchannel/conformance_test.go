package frontchannel

import (
	"testing"
	"time"

	"github.com/signoff/signoff/adapters/conformance"
	"github.com/signoff/signoff/events"
)

// TestConformance runs the browser-step subset of the adapter suite
// (adapters/conformance) against the front-channel adapter.
func TestConformance(t *testing.T) {
	conformance.RunBrowser(t, func(t *testing.T, pub *conformance.Recorder) conformance.Step {
		a, err := New(Config{Issuer: "https://auth.example.com", Secret: []byte("0123456789abcdef0123456789abcdef"),
			Publisher: pub, Now: time.Now, RPs: []RP{{ID: "wiki", Name: "Wiki", URI: "https://wiki.example.com/fc"}}})
		if err != nil {
			t.Fatal(err)
		}
		return conformance.Step{Name: events.AdapterFrontchannel, RPID: "wiki", Ack: a.Ack, OK: AckOK, Error: AckError,
			Token: func(logoutID string) string {
				f, ok := a.Frame(logoutID, "wiki", "")
				if !ok {
					t.Fatalf("no frame for wiki in %s", logoutID)
				}
				return f.Token
			}}
	})
}
