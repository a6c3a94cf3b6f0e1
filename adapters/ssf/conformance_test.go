package ssf

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/signoff/signoff/adapters/conformance"
	"github.com/signoff/signoff/adapters/keys"
	"github.com/signoff/signoff/events"
)

// noStreams is a Store where no receiver ever changed its stream (so push
// streams are enabled) and nothing is queued.
type noStreams struct{}

func (noStreams) Stream(context.Context, string) (Stream, bool, error) { return Stream{}, false, nil }
func (noStreams) CreateStream(context.Context, string, Stream) (bool, error) {
	return true, nil
}
func (noStreams) SetStatus(context.Context, string, string, string) error { return nil }
func (noStreams) Enqueue(context.Context, Queued, time.Time) error        { return nil }
func (noStreams) Pending(context.Context, string, time.Time, int) ([]Queued, bool, error) {
	return nil, false, nil
}
func (noStreams) Remove(context.Context, string, []string) ([]Queued, error) { return nil, nil }

// TestConformance runs the adapter suite (adapters/conformance) against the
// Shared Signals adapter with a push receiver on loopback that accepts
// every SET with 202 (RFC 8935 section 2.2).
func TestConformance(t *testing.T) {
	ks, err := keys.Open(t.TempDir(), true, time.Now, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	conformance.Run(t, func(t *testing.T, ep *conformance.Endpoint, pub *conformance.Recorder) conformance.Subject {
		srv := httptest.NewServer(ep.Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusAccepted)
		})))
		t.Cleanup(srv.Close)
		ep.URL = srv.URL
		a, err := New(Config{
			Issuer: "https://idp.example.com", PublicURL: "https://idp.example.com", Keys: ks, Store: noStreams{},
			RPs: []RP{{ID: "crm", Name: "CRM", Delivery: Push, EndpointURL: srv.URL + "/events",
				Audience: "https://crm.example.com"}},
			Publisher: pub, AttemptTimeout: 250 * time.Millisecond, Concurrency: 4,
			Now: time.Now, Logger: slog.New(slog.DiscardHandler),
		})
		if err != nil {
			t.Fatal(err)
		}
		return conformance.Subject{Adapter: a, Name: events.AdapterSSF, Dispatch: events.Dispatch{
			RPID: "crm", Initiator: events.InitiatorUser, Subject: "alice",
			Sessions: []events.DispatchSession{{SessionID: "idp-1"}},
		}}
	})
}
