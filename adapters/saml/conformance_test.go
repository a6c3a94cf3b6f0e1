package saml

import (
	"testing"
	"time"

	"github.com/signoff/signoff/adapters/conformance"
	"github.com/signoff/signoff/events"
)

// TestConformance runs the adapter suite (adapters/conformance) against the
// SAML adapter's SOAP channel and an SP on loopback that verifies each
// signed LogoutRequest and answers a signed Success (saml-bindings 3.2,
// saml-core 3.7).
func TestConformance(t *testing.T) {
	conformance.Run(t, func(t *testing.T, ep *conformance.Endpoint, pub *conformance.Recorder) conformance.Subject {
		e, tsp := soapEnv(t)
		tsp.srv.Config.Handler = ep.Wrap(tsp.srv.Config.Handler)
		ep.URL = tsp.srv.URL
		// soapEnv's adapter publishes elsewhere: a second one on the same
		// SP publishes to the suite.
		e2 := newEnv(t, []SP{e.a.sps["payroll"]}, func(c *Config) {
			c.Publisher = pub
			c.AttemptTimeout = 250 * time.Millisecond
		})
		return conformance.Subject{Adapter: e2.a, Name: events.AdapterSAML, Dispatch: events.Dispatch{
			RPID: "payroll", Initiator: events.InitiatorUser, Subject: "alice",
			Sessions: []events.DispatchSession{samlSession("s1", "alice-pid", "_idx1")},
		}}
	})
}
