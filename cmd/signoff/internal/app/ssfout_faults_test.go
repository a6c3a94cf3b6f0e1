package app

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/signoff/signoff/cmd/signoff/internal/config"
	"github.com/signoff/signoff/events"
	"github.com/signoff/signoff/events/eventstest"
)

// TestSSFOutForgedDispatch: a dispatch on signoff.logout.dispatch.ssf that no
// signoff coordinator sealed is poisoned with the reason and mints no SET,
// neither pushed nor queued for polling.
func TestSSFOutForgedDispatch(t *testing.T) {
	const pollToken = "forged-poll-token-012345"
	push := newTxReceiver(t, "", 202)
	a, base := startTxApp(t, 20*time.Second,
		txRP("pusher", config.SSFReceiver{Delivery: config.SSFDeliveryPush, EndpointURL: push.srv.URL + "/events", Audience: "urn:rp:pusher"}),
		txRP("poller", config.SSFReceiver{Delivery: config.SSFDeliveryPoll, Audience: "urn:rp:poller", BearerTokenFile: txSecretFile(t, "p.token", pollToken)}),
	)
	c := appClient(t, a)
	subject := events.DispatchSubject(events.AdapterSSF)
	for _, rp := range []string{"pusher", "poller"} {
		b, err := events.Encode(events.Dispatch{EventID: uuid.NewString(), LogoutID: "L-forged-" + rp, RPID: rp, Adapter: events.AdapterSSF,
			Deadline: time.Now().Add(time.Minute).UTC(), OccurredAt: time.Now().UTC(), Initiator: events.InitiatorUser, Subject: "mallory"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.js.PublishMsg(context.Background(), &nats.Msg{Subject: subject, Data: b, Header: nats.Header{}}); err != nil {
			t.Fatal(err)
		}
	}
	eventstest.EventuallyErr(t, 15*time.Second, func() error {
		if n := len(c.received(events.SubjectPoison)); n < 2 {
			return fmt.Errorf("%d of 2 forged dispatches poisoned", n)
		}
		return nil
	})
	for _, m := range c.received(events.SubjectPoison) {
		if r := m.Headers().Get(events.HeaderPoisonReason); !strings.Contains(r, "integrity tag") || m.Headers().Get(events.HeaderPoisonSubject) != subject {
			t.Errorf("poisoned with reason %q from %q", r, m.Headers().Get(events.HeaderPoisonSubject))
		}
	}
	if n, _ := push.snapshot(); n != 0 {
		t.Errorf("a forged dispatch pushed %d SET(s)", n)
	}
	var ans txPollAnswer
	txCall(t, http.DefaultClient, http.MethodPost, base+"/ssf/poll", pollToken, map[string]any{"returnImmediately": true}, &ans)
	if len(ans.Sets) != 0 {
		t.Errorf("a forged dispatch queued %d SET(s)", len(ans.Sets))
	}
}

// TestSSFOutPollSurvivesRestart: a queued SET lives in sqlite: after a restart
// on the same data_dir the receiver polls the same SET (same jti) and its
// acknowledgement signs the RP out. Another receiver's token can neither
// see nor acknowledge it.
func TestSSFOutPollSurvivesRestart(t *testing.T) {
	const tok, other = "restart-poll-token-0123", "other-poll-token-012345"
	cfg := testConfig(t, 60*time.Second)
	cfg.RelyingParties = append(cfg.RelyingParties,
		txRP("poller", config.SSFReceiver{Delivery: config.SSFDeliveryPoll, Audience: "urn:rp:poller", BearerTokenFile: txSecretFile(t, "p.token", tok)}),
		txRP("nosy", config.SSFReceiver{Delivery: config.SSFDeliveryPoll, Audience: "urn:rp:nosy", BearerTokenFile: txSecretFile(t, "n.token", other)}))
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := Start(context.Background(), Options{Config: cfg, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	c := appClient(t, a)
	c.join("s1", "alice", "poller", "")
	c.txLogout("L1", "s1", events.InitiatorUser)
	base := "http://" + a.Addr()
	hc := &http.Client{Timeout: 15 * time.Second}
	var jti string
	eventstest.EventuallyErr(t, 20*time.Second, func() error {
		var ans txPollAnswer
		txCall(t, hc, http.MethodPost, base+"/ssf/poll", tok, map[string]any{"returnImmediately": true}, &ans)
		for k := range ans.Sets {
			jti = k
			return nil
		}
		return errTxNoSET
	})
	c.nc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}

	a2 := startApp(t, cfg)
	base = "http://" + a2.Addr()
	var ans txPollAnswer
	txCall(t, hc, http.MethodPost, base+"/ssf/poll", other, map[string]any{"returnImmediately": true, "ack": []string{jti}}, &ans)
	if len(ans.Sets) != 0 {
		t.Errorf("another receiver sees %d SET(s)", len(ans.Sets))
	}
	ans = txPollAnswer{}
	txCall(t, hc, http.MethodPost, base+"/ssf/poll", tok, map[string]any{"returnImmediately": true}, &ans)
	if _, ok := ans.Sets[jti]; !ok || len(ans.Sets) != 1 {
		t.Fatalf("after the restart the receiver polls %d SET(s), want the same SET %s", len(ans.Sets), jti)
	}
	txCall(t, hc, http.MethodPost, base+"/ssf/poll", tok, map[string]any{"maxEvents": 0, "ack": []string{jti}}, nil)
	if ev := appClient(t, a2).waitCompleted("L1", 20*time.Second); ev.Participants[0].Outcome != events.OutcomeSucceeded {
		t.Errorf("after the ack: %+v", ev.Participants)
	}
}

// TestSSFOutLongPollDoesNotHoldShutdown: a receiver's long poll in progress
// when signoff stops is answered (empty) and does not hold the HTTP
// server's graceful shutdown, whose grace (10 s here) is shorter than the
// long-poll bound (20 s).
func TestSSFOutLongPollDoesNotHoldShutdown(t *testing.T) {
	const tok = "shutdown-poll-token-0123"
	cfg := testConfig(t, 30*time.Second)
	cfg.RelyingParties = append(cfg.RelyingParties,
		txRP("poller", config.SSFReceiver{Delivery: config.SSFDeliveryPoll, Audience: "urn:rp:poller", BearerTokenFile: txSecretFile(t, "p.token", tok)}))
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := Start(context.Background(), Options{Config: cfg, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + a.Addr()
	type answer struct {
		code int
		ans  txPollAnswer
	}
	got := make(chan answer, 1)
	go func() {
		var r answer
		r.code = txCall(t, &http.Client{Timeout: 60 * time.Second}, http.MethodPost, base+"/ssf/poll", tok, map[string]any{}, &r.ans)
		got <- r
	}()
	// The poll is waiting once the adapter counted it.
	eventstest.EventuallyErr(t, 10*time.Second, func() error {
		if adapterAs[ssfAdapter](t, a).Stats().Polls == 0 {
			return fmt.Errorf("the poll has not arrived")
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Close(ctx); err != nil {
		t.Errorf("close with a long poll in progress: %v", err)
	}
	if r := <-got; r.code != http.StatusOK || len(r.ans.Sets) != 0 {
		t.Errorf("the long poll was answered %d %+v, want 200 and no SET", r.code, r.ans)
	}
}
