package app

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/signoff/signoff/cmd/signoff/internal/config"
	"github.com/signoff/signoff/events"
	"github.com/signoff/signoff/events/eventstest"
)

// txLogout publishes a logout.requested of session with initiator.
func (c *client) txLogout(logoutID, session string, initiator events.Initiator) {
	c.publish(events.SubjectLogoutRequested, events.LogoutRequested{
		EventID: uuid.NewString(), LogoutID: logoutID, OccurredAt: time.Now().UTC(), SessionID: session,
		Initiator: initiator, Scope: events.ScopeGlobal,
	})
}

// TestSSFOutPush: one CAEP session-revoked SET per participant, pushed per
// RFC 8935 and checked by the test's own receiver. 202 signs the RP out; 503
// is retried with a fresh jti until 202; 400 with an error code fails at
// once; an endpoint that is down times out at the deadline; a subject that
// is not an e-mail address fails for subject_format email without a
// request. logout.completed names each participant with adapter ssf.
func TestSSFOutPush(t *testing.T) {
	const auth = "Bearer push-secret-for-the-receiver"
	type row struct {
		name, subject, format string
		initiator             events.Initiator
		script                []int
		errBody               string
		down                  bool

		outcome        events.Outcome
		entity, detail string
		requests       int // exact; -1: at least 2
	}
	rows := []row{
		{name: "accepted", subject: "alice", format: "iss_sub", initiator: events.InitiatorUser, script: []int{202},
			outcome: events.OutcomeSucceeded, entity: "user", requests: 1},
		{name: "retried", subject: "bob@example.com", format: "email", initiator: events.InitiatorAdmin, script: []int{503, 503, 202},
			outcome: events.OutcomeSucceeded, entity: "admin", requests: 3},
		{name: "refused", subject: "carol", format: "opaque", initiator: events.InitiatorExpiry, script: []int{400},
			errBody: `{"err":"invalid_request","description":"no such user here"}`,
			outcome: events.OutcomeFailed, entity: "policy", detail: "HTTP 400: invalid_request: no such user here", requests: 1},
		{name: "down", subject: "dave", format: "iss_sub", initiator: events.InitiatorIdP, script: []int{202}, down: true,
			outcome: events.OutcomeTimedOut, detail: "no confirmation before", requests: 0},
		{name: "hangs", subject: "frank", format: "iss_sub", initiator: events.InitiatorUser, script: []int{0},
			outcome: events.OutcomeTimedOut, entity: "user", detail: "no confirmation before", requests: -1},
		{name: "noemail", subject: "erin", format: "email", initiator: events.InitiatorRP, script: []int{202},
			outcome: events.OutcomeFailed, detail: "not an e-mail address", requests: 0},
	}
	cfg := testConfig(t, 3*time.Second)
	recv := map[string]*txReceiver{}
	for _, r := range rows {
		p := newTxReceiver(t, auth, r.script...)
		p.errBody = r.errBody
		p.checker = txChecker{issuer: testIssuer, audience: "urn:rp:" + r.name, format: r.format}
		endpoint := p.srv.URL + "/ssf/events"
		if r.down {
			p.srv.Close()
		}
		recv[r.name] = p
		cfg.RelyingParties = append(cfg.RelyingParties, txRP(r.name, config.SSFReceiver{
			Delivery: config.SSFDeliveryPush, EndpointURL: endpoint, Audience: "urn:rp:" + r.name, SubjectFormat: r.format,
			AuthorizationHeaderFile: txSecretFile(t, r.name+".hdr", auth),
		}))
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a := startApp(t, cfg)
	for _, p := range recv {
		p.checker.jwksURL = "http://" + a.Addr() + "/jwks.json"
	}
	c := appClient(t, a)
	for _, r := range rows {
		c.join("s-"+r.name, r.subject, r.name, "")
		c.txLogout("lo-"+r.name, "s-"+r.name, r.initiator)
	}
	for _, r := range rows {
		t.Run(r.name, func(t *testing.T) {
			ev := c.waitCompleted("lo-"+r.name, 30*time.Second)
			if len(ev.Participants) != 1 {
				t.Fatalf("participants = %+v", ev.Participants)
			}
			p := ev.Participants[0]
			if p.RPID != r.name || p.Name != "SSF "+r.name || p.Adapter != events.AdapterSSF || p.Outcome != r.outcome {
				t.Errorf("participant = %+v, want %s %s by adapter ssf", p, r.name, r.outcome)
			}
			if !strings.Contains(p.Detail, r.detail) {
				t.Errorf("detail = %q, want it to contain %q", p.Detail, r.detail)
			}
			n, sets := recv[r.name].snapshot()
			if (r.requests >= 0 && n != r.requests) || (r.requests < 0 && n < 2) {
				t.Errorf("receiver got %d requests, want %d (-1: retried)", n, r.requests)
			}
			jtis := map[string]bool{}
			for _, s := range sets {
				if s.Err != "" {
					t.Errorf("invalid SET: %s", s.Err)
					continue
				}
				if s.Event != txSessionRevoked || s.Txn != "lo-"+r.name {
					t.Errorf("SET event %q txn %q, want session-revoked with txn lo-%s", s.Event, s.Txn, r.name)
				}
				if s.Body["initiating_entity"] != r.entity {
					t.Errorf("initiating_entity = %v, want %s", s.Body["initiating_entity"], r.entity)
				}
				if want := map[string]string{"iss_sub": "sub", "email": "email", "opaque": "id"}[r.format]; s.SubID[want] != r.subject {
					t.Errorf("sub_id = %v, want %s = %s", s.SubID, want, r.subject)
				}
				if jtis[s.JTI] {
					t.Errorf("jti %s sent twice: every attempt needs a fresh one", s.JTI)
				}
				jtis[s.JTI] = true
			}
		})
	}
}

// startTxApp starts signoff with the given SSF relying parties.
func startTxApp(t *testing.T, deadline time.Duration, rps ...config.RelyingParty) (*App, string) {
	t.Helper()
	cfg := testConfig(t, deadline)
	cfg.RelyingParties = append(cfg.RelyingParties, rps...)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a := startApp(t, cfg)
	return a, "http://" + a.Addr()
}

// TestSSFOutPoll: SETs of a poll stream wait in the store until the receiver
// polls (RFC 8936). A long poll (no returnImmediately) is woken by the SET
// of a logout that starts while it waits; an acknowledged SET signs the RP
// out; a SET reported in setErrs fails it; one never acknowledged times
// out at the deadline; maxEvents bounds a response and moreAvailable says
// what is left; returnImmediately answers at once when nothing waits.
func TestSSFOutPoll(t *testing.T) {
	tokens := map[string]string{"acker": "acker-token-0123456789", "silent": "silent-token-0123456789", "refuser": "refuser-token-0123456789"}
	var rps []config.RelyingParty
	for _, id := range []string{"acker", "silent", "refuser"} {
		rps = append(rps, txRP(id, config.SSFReceiver{Delivery: config.SSFDeliveryPoll, Audience: "urn:rp:" + id,
			BearerTokenFile: txSecretFile(t, id+".token", tokens[id])}))
	}
	a, base := startTxApp(t, 12*time.Second, rps...)
	c := appClient(t, a)
	hc := &http.Client{Timeout: 15 * time.Second}
	poll := base + "/ssf/poll"
	check := func(aud string) txChecker {
		return txChecker{jwksURL: base + "/jwks.json", issuer: testIssuer, audience: aud, format: "iss_sub"}
	}

	// Authentication (RFC 6750 section 2.1; section 3.1 error).
	if code := txCall(t, hc, http.MethodPost, poll, "", map[string]any{"returnImmediately": true}, nil); code != http.StatusUnauthorized {
		t.Errorf("poll without a token: %d, want 401", code)
	}
	if code := txCall(t, hc, http.MethodPost, poll, "not-a-token-of-anyone", map[string]any{"returnImmediately": true}, nil); code != http.StatusUnauthorized {
		t.Errorf("poll with a wrong token: %d, want 401", code)
	}

	// returnImmediately with nothing queued answers at once, empty (the
	// client gives up well before the 20 s long-poll bound).
	quick := &http.Client{Timeout: 10 * time.Second}
	var ans txPollAnswer
	if code := txCall(t, quick, http.MethodPost, poll, tokens["acker"], map[string]any{"returnImmediately": true}, &ans); code != http.StatusOK || len(ans.Sets) != 0 || ans.MoreAvailable {
		t.Fatalf("returnImmediately on an empty queue: %d %+v", code, ans)
	}

	// A long poll started before the logout gets its SET.
	got := make(chan txPollAnswer, 1)
	go func() {
		var ans txPollAnswer
		txCall(t, hc, http.MethodPost, poll, tokens["acker"], map[string]any{}, &ans)
		got <- ans
	}()
	c.join("s-a1", "alice", "acker", "")
	c.txLogout("lo-a1", "s-a1", events.InitiatorUser)
	ans = <-got
	if len(ans.Sets) != 1 {
		t.Fatalf("long poll returned %+v, want the SET of lo-a1", ans)
	}
	var first string
	for jti, raw := range ans.Sets {
		s := check("urn:rp:acker").check(raw)
		if s.Err != "" || s.JTI != jti || s.Txn != "lo-a1" || s.Event != txSessionRevoked {
			t.Fatalf("polled SET: %+v (jti key %s)", s, jti)
		}
		first = jti
	}

	// Two more logouts: maxEvents 1 returns one, and says there is more.
	c.join("s-a2", "alice", "acker", "")
	c.join("s-a3", "bob", "acker", "")
	c.txLogout("lo-a2", "s-a2", events.InitiatorUser)
	c.txLogout("lo-a3", "s-a3", events.InitiatorAdmin)
	eventstest.EventuallyErr(t, 20*time.Second, func() error {
		ans = txPollAnswer{}
		txCall(t, hc, http.MethodPost, poll, tokens["acker"], map[string]any{"returnImmediately": true, "maxEvents": 10}, &ans)
		if len(ans.Sets) < 3 {
			return fmt.Errorf("%d SETs waiting, want 3", len(ans.Sets))
		}
		return nil
	})
	ans = txPollAnswer{}
	txCall(t, hc, http.MethodPost, poll, tokens["acker"], map[string]any{"returnImmediately": true, "maxEvents": 1, "ack": []string{first}}, &ans)
	if len(ans.Sets) != 1 || !ans.MoreAvailable {
		t.Fatalf("maxEvents 1 after acking the first: %d SETs, moreAvailable %v; want 1 and true", len(ans.Sets), ans.MoreAvailable)
	}
	if _, again := ans.Sets[first]; again {
		t.Fatalf("an acknowledged SET was returned again")
	}
	if ev := c.waitCompleted("lo-a1", 20*time.Second); ev.Participants[0].Outcome != events.OutcomeSucceeded || ev.Participants[0].Adapter != events.AdapterSSF {
		t.Errorf("lo-a1 after its ack: %+v", ev.Participants)
	}
	// Ack the rest (an ack-only request: maxEvents 0).
	ans = txPollAnswer{}
	txCall(t, hc, http.MethodPost, poll, tokens["acker"], map[string]any{"returnImmediately": true, "maxEvents": 10}, &ans)
	var rest []string
	for jti, raw := range ans.Sets {
		if s := check("urn:rp:acker").check(raw); s.Err != "" {
			t.Errorf("polled SET: %s", s.Err)
		}
		rest = append(rest, jti)
	}
	txCall(t, hc, http.MethodPost, poll, tokens["acker"], map[string]any{"maxEvents": 0, "ack": rest}, &ans)
	for _, id := range []string{"lo-a2", "lo-a3"} {
		if ev := c.waitCompleted(id, 20*time.Second); ev.Participants[0].Outcome != events.OutcomeSucceeded {
			t.Errorf("%s after its ack: %+v", id, ev.Participants)
		}
	}

	// A receiver that reports an error for the SET: failed, with its words.
	c.join("s-r", "carol", "refuser", "")
	c.txLogout("lo-r", "s-r", events.InitiatorUser)
	var jti string
	eventstest.EventuallyErr(t, 20*time.Second, func() error {
		ans = txPollAnswer{}
		txCall(t, hc, http.MethodPost, poll, tokens["refuser"], map[string]any{"returnImmediately": true}, &ans)
		for k := range ans.Sets {
			jti = k
			return nil
		}
		return errTxNoSET
	})
	txCall(t, hc, http.MethodPost, poll, tokens["refuser"], map[string]any{"returnImmediately": true,
		"setErrs": map[string]any{jti: map[string]string{"err": "invalid_key", "description": "unknown signing key"}}}, &ans)
	if ev := c.waitCompleted("lo-r", 20*time.Second); ev.Participants[0].Outcome != events.OutcomeFailed ||
		!strings.Contains(ev.Participants[0].Detail, "invalid_key: unknown signing key") {
		t.Errorf("lo-r after setErrs: %+v", ev.Participants)
	}

	// A receiver that polls but never acknowledges: timed out.
	c.join("s-q", "dave", "silent", "")
	c.txLogout("lo-q", "s-q", events.InitiatorUser)
	eventstest.EventuallyErr(t, 20*time.Second, func() error {
		ans = txPollAnswer{}
		txCall(t, hc, http.MethodPost, poll, tokens["silent"], map[string]any{"returnImmediately": true}, &ans)
		if len(ans.Sets) == 0 {
			return errTxNoSET
		}
		return nil
	})
	if ev := c.waitCompleted("lo-q", 30*time.Second); ev.Participants[0].Outcome != events.OutcomeTimedOut {
		t.Errorf("lo-q never acknowledged: %+v, want timed_out", ev.Participants)
	}
	// Its SET is no longer served once its logout is over.
	ans = txPollAnswer{}
	txCall(t, hc, http.MethodPost, poll, tokens["silent"], map[string]any{"returnImmediately": true}, &ans)
	if len(ans.Sets) != 0 {
		t.Errorf("a SET of a finished logout is still served: %d", len(ans.Sets))
	}
}
