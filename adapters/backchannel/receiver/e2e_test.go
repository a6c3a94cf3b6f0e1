package receiver_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/signoff/signoff/adapters/backchannel"
	"github.com/signoff/signoff/adapters/backchannel/receiver"
	"github.com/signoff/signoff/adapters/keys"
	"github.com/signoff/signoff/events"
	"github.com/signoff/signoff/events/eventstest"
)

// results is a backchannel.ResultPublisher that records results.
type results struct {
	mu  sync.Mutex
	all []events.Result
}

func (p *results) PublishResult(_ context.Context, r events.Result) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.all = append(p.all, r)
	return nil
}

func (p *results) get() []events.Result {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]events.Result(nil), p.all...)
}

// TestEndToEnd sends signoff's own logout tokens, one per algorithm and
// typ, through signoff's back-channel adapter to an RP running the
// receiver, which fetches signoff's /jwks.json.
func TestEndToEnd(t *testing.T) {
	ks, err := keys.Open(t.TempDir()+"/keys", true, nil, quiet())
	if err != nil {
		t.Fatal(err)
	}
	jwks := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(ks.JWKSJSON())
	}))
	defer jwks.Close()

	for _, tc := range []struct{ alg, typ string }{
		{keys.RS256, backchannel.TypLogoutJWT},
		{keys.ES256, backchannel.TypJWT},
		{keys.EdDSA, backchannel.TypLogoutJWT},
	} {
		t.Run(tc.alg+" "+tc.typ, func(t *testing.T) {
			var (
				mu    sync.Mutex
				calls []receiver.Logout
			)
			h, err := receiver.NewBackChannel(receiver.BackChannelConfig{
				Issuer:     issuer,
				ClientID:   clientID,
				JWKSURL:    jwks.URL,
				Algorithms: nil, // the defaults: RS256, ES256, EdDSA
				Logger:     quiet(),
				Logout: func(_ context.Context, l receiver.Logout) error {
					mu.Lock()
					defer mu.Unlock()
					calls = append(calls, l)
					return nil
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			rpSrv := httptest.NewServer(h)
			defer rpSrv.Close()

			pub := &results{}
			a, err := backchannel.New(backchannel.Config{
				Issuer:    issuer,
				Keys:      ks,
				Publisher: pub,
				Logger:    quiet(),
				RPs: []backchannel.RP{{ID: "notes", Name: "Notes", ClientID: clientID,
					LogoutURI: rpSrv.URL + "/backchannel", Alg: tc.alg, Typ: tc.typ, SessionRequired: true}},
			})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = a.Close(context.Background()) }()
			err = a.Handle(context.Background(), events.Dispatch{
				EventID: "0190f1d2-8a3b-7c4d-9e5f-a0b1c2d3e4f5", LogoutID: "lo-1", RPID: "notes",
				Adapter: events.AdapterBackchannel, Deadline: time.Now().Add(10 * time.Second),
				OccurredAt: time.Now(), Initiator: "user", Subject: "alice",
				Sessions: []events.DispatchSession{{SessionID: "s-1", OIDC: &events.OIDCSession{SID: "sid-1"}}},
			})
			if err != nil {
				t.Fatal(err)
			}
			eventstest.Eventually(t, 10*time.Second, func() bool { return len(pub.get()) > 0 }, "no result published")
			res := pub.get()
			if len(res) != 1 || res[0].Outcome != events.OutcomeSucceeded || res[0].Attempts != 1 {
				t.Fatalf("results %+v, want one succeeded after 1 attempt", res)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(calls) != 1 || calls[0].Subject != "alice" || calls[0].SessionID != "sid-1" || calls[0].JTI == "" {
				t.Fatalf("Logout calls %+v, want one for alice/sid-1", calls)
			}
		})
	}
}
