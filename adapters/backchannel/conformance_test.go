package backchannel

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/signoff/signoff/adapters/conformance"
	"github.com/signoff/signoff/events"
)

// TestConformance runs the adapter suite (adapters/conformance) against the
// back-channel adapter and an RP on loopback that answers 200 (OpenID
// Connect Back-Channel Logout 1.0 section 2.8).
func TestConformance(t *testing.T) {
	conformance.Run(t, func(t *testing.T, ep *conformance.Endpoint, pub *conformance.Recorder) conformance.Subject {
		srv := httptest.NewServer(ep.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusOK)
		})))
		t.Cleanup(srv.Close)
		ep.URL = srv.URL
		a, err := New(Config{
			Issuer: testIssuer, Keys: testKeys, Publisher: pub, Logger: quietLogger(), Now: time.Now,
			RPs:            []RP{{ID: "app", Name: "App", ClientID: "app-client", LogoutURI: srv.URL + "/logout"}},
			AttemptTimeout: 250 * time.Millisecond, Concurrency: 4,
		})
		if err != nil {
			t.Fatal(err)
		}
		return conformance.Subject{Adapter: a, Name: events.AdapterBackchannel, Dispatch: events.Dispatch{
			RPID: "app", Initiator: events.InitiatorUser, Subject: "user-42",
			Sessions: []events.DispatchSession{{SessionID: "idp-1", OIDC: &events.OIDCSession{SID: "sid-1"}}},
		}}
	})
}
