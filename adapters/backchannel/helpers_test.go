package backchannel

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signoff/signoff/adapters/keys"
	"github.com/signoff/signoff/events"
	"github.com/signoff/signoff/events/eventstest"
)

const testIssuer = "https://auth.example.test"

// testKeys is one generated key set (RS256, ES256, EdDSA) shared by all tests.
var testKeys *keys.Set

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "backchannel-keys-")
	if err != nil {
		panic(err)
	}
	testKeys, err = keys.Open(dir+"/keys", true, nil, quietLogger())
	if err != nil {
		panic(err)
	}
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// clock is a test clock that starts at a fixed date and advances with real time.
func clock() func() time.Time {
	base := time.Date(2026, 8, 7, 12, 0, 0, 0, time.UTC)
	start := time.Now()
	return func() time.Time { return base.Add(time.Since(start)) }
}

// recorder is a ResultPublisher that records results; the first failFirst
// calls fail.
type recorder struct {
	mu        sync.Mutex
	results   []events.Result
	calls     int
	failFirst int
}

func (r *recorder) PublishResult(_ context.Context, res events.Result) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls++
	if r.calls <= r.failFirst {
		return errors.New("nats: connection closed")
	}
	r.results = append(r.results, res)
	return nil
}

func (r *recorder) snapshot() []events.Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]events.Result(nil), r.results...)
}

// wait polls until n results are published and returns them.
func (r *recorder) wait(t *testing.T, n int, timeout time.Duration) []events.Result {
	t.Helper()
	eventstest.Eventually(t, timeout, func() bool { return len(r.snapshot()) >= n }, "fewer than %d results published", n)
	return r.snapshot()
}

// request is one request an rpServer received.
type request struct {
	at          time.Time
	contentType string
	token       string
	formErr     error
}

// rpServer is a relying party's backchannel_logout_uri. respond is called
// with the 0-based index of each request.
type rpServer struct {
	*httptest.Server
	respond func(w http.ResponseWriter, r *http.Request, n int)

	mu                    sync.Mutex
	reqs                  []request
	inflight, maxInflight atomic.Int64
}

func newRP(t *testing.T, respond func(w http.ResponseWriter, r *http.Request, n int)) *rpServer {
	t.Helper()
	s := &rpServer{respond: respond}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cur := s.inflight.Add(1)
		defer s.inflight.Add(-1)
		for {
			m := s.maxInflight.Load()
			if cur <= m || s.maxInflight.CompareAndSwap(m, cur) {
				break
			}
		}
		err := r.ParseForm()
		s.mu.Lock()
		n := len(s.reqs)
		s.reqs = append(s.reqs, request{
			at: time.Now(), contentType: r.Header.Get("Content-Type"),
			token: r.PostForm.Get("logout_token"), formErr: err,
		})
		s.mu.Unlock()
		if r.Method != http.MethodPost {
			http.Error(w, "method", http.StatusMethodNotAllowed)
			return
		}
		if s.respond == nil {
			w.WriteHeader(http.StatusOK)
			return
		}
		s.respond(w, r, n)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *rpServer) requests() []request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]request(nil), s.reqs...)
}

// statuses answers the n-th request with codes[n] (the last code repeats).
func statuses(codes ...int) func(http.ResponseWriter, *http.Request, int) {
	return func(w http.ResponseWriter, _ *http.Request, n int) {
		w.WriteHeader(codes[min(n, len(codes)-1)])
	}
}

// newAdapter returns an adapter with one RP "app" at uri; mod adjusts the
// config before New. The adapter is closed when the test ends.
func newAdapter(t *testing.T, uri string, mod func(*Config)) (*Adapter, *recorder) {
	t.Helper()
	pub := &recorder{}
	cfg := Config{
		Issuer:    testIssuer,
		Keys:      testKeys,
		RPs:       []RP{{ID: "app", Name: "App", ClientID: "app-client", LogoutURI: uri}},
		Publisher: pub,
		Now:       clock(),
		Logger:    quietLogger(),
	}
	if mod != nil {
		mod(&cfg)
	}
	a, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = a.Close(ctx)
	})
	return a, pub
}

var dispatchSeq atomic.Int64

// dispatch returns a dispatch to rp with the given sids (one session each)
// and a deadline d after the adapter's clock.
func dispatch(a *Adapter, rp string, d time.Duration, sids ...string) events.Dispatch {
	n := dispatchSeq.Add(1)
	disp := events.Dispatch{
		EventID:    fmt.Sprintf("00000000-0000-4000-8000-%012d", n),
		LogoutID:   fmt.Sprintf("10000000-0000-4000-8000-%012d", n),
		RPID:       rp,
		Adapter:    events.AdapterBackchannel,
		Deadline:   a.now().Add(d),
		OccurredAt: a.now(),
		Initiator:  events.InitiatorUser,
		Subject:    "user-42",
	}
	for i, sid := range sids {
		s := events.DispatchSession{SessionID: fmt.Sprintf("idp-session-%d", i)}
		if sid != "" {
			s.OIDC = &events.OIDCSession{SID: sid}
		}
		disp.Sessions = append(disp.Sessions, s)
	}
	return disp
}

func mustHandle(t *testing.T, a *Adapter, d events.Dispatch) {
	t.Helper()
	if err := a.Handle(context.Background(), d); err != nil {
		t.Fatalf("Handle: %v", err)
	}
}
