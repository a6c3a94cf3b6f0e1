package ssfin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/signoff/signoff/events/eventstest"
)

// pollServer is the poll side of an RFC 8936 transmitter, in the test: it
// hands out queued SETs, up to maxEvents at a time, until they are
// acknowledged or reported in setErrs.
type pollServer struct {
	mu       sync.Mutex
	queue    []queued // in order
	acks     []string
	errs     map[string]setErr
	requests []pollRequest
	auth     []string
	failNext int // answer this many polls with 503 first
	// originals are the SETs as first queued, for re-delivery.
	originals []queued
}

type queued struct{ jti, raw string }

func (p *pollServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.auth = append(p.auth, r.Header.Get("Authorization"))
	if p.failNext > 0 {
		p.failNext--
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	var req pollRequest
	if r.Header.Get("Content-Type") != "application/json" || json.NewDecoder(r.Body).Decode(&req) != nil {
		http.Error(w, `{"err":"invalid_request"}`, http.StatusBadRequest)
		return
	}
	p.requests = append(p.requests, req)
	done := map[string]bool{}
	for _, a := range req.Ack {
		p.acks = append(p.acks, a)
		done[a] = true
	}
	for jti, e := range req.SetErrs {
		if p.errs == nil {
			p.errs = map[string]setErr{}
		}
		p.errs[jti] = e
		done[jti] = true
	}
	p.queue = slices.DeleteFunc(p.queue, func(q queued) bool { return done[q.jti] })
	sets := map[string]string{}
	for _, q := range p.queue[:min(req.MaxEvents, len(p.queue))] {
		sets[q.jti] = q.raw
	}
	json.NewEncoder(w).Encode(map[string]any{"sets": sets, "moreAvailable": len(p.queue) > len(sets)})
}

func (p *pollServer) snapshot() (queue int, acks []string, errs map[string]setErr, reqs []pollRequest) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.queue), append([]string(nil), p.acks...), maps(p.errs), append([]pollRequest(nil), p.requests...)
}

func maps(m map[string]setErr) map[string]setErr {
	out := map[string]setErr{}
	for k, v := range m {
		out[k] = v
	}
	return out
}

// TestPollDrainsTransmitter: the poll loop drains a transmitter in pages of
// maxEvents after a failed first poll, acknowledges every SET it processed
// (a verification and a re-delivered, already processed SET included),
// reports the bad SET in setErrs with its error code, sends the configured
// Authorization header, and stops when its context ends.
func TestPollDrainsTransmitter(t *testing.T) {
	tt := newTestTransmitter(t)
	ps := &pollServer{failNext: 1}
	psrv := httptest.NewServer(ps)
	t.Cleanup(psrv.Close)
	jtis, logouts := &memJTIs{}, &recLogouts{}
	r, err := New(Config{Transmitters: []Transmitter{{ID: "okta", Issuer: tt.issuer, Audience: testAudience, JWKSURI: tt.srv.URL + "/jwks.json",
		Poll: &Poll{EndpointURL: psrv.URL, Interval: 20 * time.Millisecond, AuthorizationHeader: "Bearer poll-secret", MaxEvents: 3}}},
		JTIs: jtis, Logouts: logouts, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	var valid []string
	for i := range 7 {
		c := tt.claims(EventSessionRevoked, map[string]any{}, issSub("https://idp.test", fmt.Sprintf("user-%d", i)))
		ps.queue = append(ps.queue, queued{c["jti"].(string), sign(t, c)})
		valid = append(valid, c["jti"].(string))
	}
	bad := tt.claims(EventSessionRevoked, map[string]any{}, issSub("https://idp.test", "mallory"))
	bad["aud"] = "https://someone-else.test"
	ps.queue = append(ps.queue, queued{bad["jti"].(string), sign(t, bad)})
	ver := tt.claims(EventVerification, map[string]any{"state": "s1"}, map[string]any{"format": "opaque", "id": "stream"})
	ps.queue = append(ps.queue, queued{ver["jti"].(string), sign(t, ver)})
	valid = append(valid, ver["jti"].(string))

	ps.originals = slices.Clone(ps.queue)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { r.Run(ctx); close(stopped) }()
	t.Cleanup(func() { cancel(); <-stopped })

	eventstest.EventuallyErr(t, 15*time.Second, func() error {
		if n, acks, errs, _ := ps.snapshot(); n != 0 || len(acks)+len(errs) != 9 {
			return fmt.Errorf("%d SETs queued, %d acks, %d setErrs", n, len(acks), len(errs))
		}
		return nil
	})
	// A SET the transmitter sends again after it was processed is acked
	// and starts nothing new.
	again := ps.original(t, valid[0])
	ps.mu.Lock()
	ps.queue = append(ps.queue, again)
	ps.mu.Unlock()
	eventstest.EventuallyErr(t, 15*time.Second, func() error {
		if n, acks, _, _ := ps.snapshot(); n != 0 || len(acks) != 9 {
			return fmt.Errorf("%d SETs queued, %d acks", n, len(acks))
		}
		return nil
	})
	cancel()
	select {
	case <-stopped:
	case <-time.After(10 * time.Second):
		t.Fatal("the poll loop did not stop with its context")
	}

	_, acks, errs, reqs := ps.snapshot()
	slices.Sort(acks)
	want := append(slices.Clone(valid), valid[0])
	slices.Sort(want)
	if !slices.Equal(acks, want) {
		t.Errorf("acks %v, want %v", acks, want)
	}
	if e, ok := errs[bad["jti"].(string)]; len(errs) != 1 || !ok || e.Err != CodeInvalidAudience {
		t.Errorf("setErrs %+v, want the bad SET with invalid_audience", errs)
	}
	if n := len(logouts.all()); n != 7 {
		t.Errorf("%d logouts, want 7", n)
	}
	for _, req := range reqs {
		if req.MaxEvents != 3 || req.ReturnImmediately {
			t.Errorf("poll request %+v", req)
		}
	}
	ps.mu.Lock()
	for _, a := range ps.auth {
		if a != "Bearer poll-secret" {
			t.Errorf("Authorization %q", a)
		}
	}
	ps.mu.Unlock()
}

// original returns the SET with jti as the transmitter first sent it, for
// a re-delivery.
func (p *pollServer) original(t *testing.T, jti string) queued {
	t.Helper()
	for _, q := range p.originals {
		if q.jti == jti {
			return q
		}
	}
	t.Fatalf("no SET %s", jti)
	return queued{}
}

// TestPollTemporaryFailure: a SET whose logout cannot be published is
// neither acknowledged nor reported, and is acknowledged once a later poll
// processes it.
func TestPollTemporaryFailure(t *testing.T) {
	tt := newTestTransmitter(t)
	ps := &pollServer{}
	psrv := httptest.NewServer(ps)
	t.Cleanup(psrv.Close)
	jtis, logouts := &memJTIs{}, &recLogouts{fail: errors.New("bus down")}
	r, err := New(Config{Transmitters: []Transmitter{{ID: "okta", Issuer: tt.issuer, Audience: testAudience, JWKSURI: tt.srv.URL + "/jwks.json",
		Poll: &Poll{EndpointURL: psrv.URL, Interval: 20 * time.Millisecond}}}, JTIs: jtis, Logouts: logouts})
	if err != nil {
		t.Fatal(err)
	}
	c := tt.claims(EventAccountDisabled, map[string]any{}, issSub("https://idp.test", "alice"))
	ps.queue = []queued{{c["jti"].(string), sign(t, c)}}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { r.Run(ctx); close(stopped) }()
	t.Cleanup(func() { cancel(); <-stopped })
	eventstest.EventuallyErr(t, 10*time.Second, func() error {
		if _, _, _, reqs := ps.snapshot(); len(reqs) < 2 {
			return fmt.Errorf("%d polls", len(reqs))
		}
		return nil
	})
	if _, acks, errs, _ := ps.snapshot(); len(acks) != 0 || len(errs) != 0 {
		t.Fatalf("a SET that failed temporarily was acked (%v) or reported (%v)", acks, errs)
	}
	logouts.mu.Lock()
	logouts.fail = nil
	logouts.mu.Unlock()
	eventstest.EventuallyErr(t, 10*time.Second, func() error {
		if _, acks, _, _ := ps.snapshot(); len(acks) != 1 {
			return fmt.Errorf("%d acks", len(acks))
		}
		return nil
	})
	if n := len(logouts.all()); n != 1 {
		t.Fatalf("%d logouts, want 1", n)
	}
}
