package app

// Fault tests of issue 9 ("Done when"). They run signoff as a child
// process (see crash_test.go) and look at it only through its external
// contract: the subjects of stream SIGNOFF, HTTP /readyz and /logout, and
// the logout tokens RPs receive. So they stay valid whatever the consumers
// inside look like. Each one counts what was lost; the answer must be 0.
// They skip under -short; run them with
//
//	go test -race -run 'TestCrashUnderLoad|TestJoinFloodThenLogout|TestDeletedConsumerRecovers|TestClusterNodeKill' -v ./cmd/signoff/internal/app/
//
// (SIGNOFF_TEST_LOG=1 copies the children's logs to stderr). The cluster
// test is in cluster_test.go.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/signoff/signoff/coordinator/saga"
	"github.com/signoff/signoff/events"
	"github.com/signoff/signoff/events/eventstest"
)

// childSetup is the configuration of a signoff child process: its config
// file, data_dir and addresses. Restarts reuse all of them.
type childSetup struct {
	cfgPath  string
	httpAddr string
	natsAddr string // embedded NATS's client address ("" with natsURL)
	rps      []*testRP
}

type childOptions struct {
	deadline time.Duration
	natsURL  string // external NATS (a cluster); "" starts the embedded one
	replicas int
	noFsync  bool   // embedded NATS with sync_always: false
	extra    string // more top-level YAML
}

func newChildSetup(t testing.TB, rps []*testRP, o childOptions) *childSetup {
	t.Helper()
	dir := t.TempDir()
	s := &childSetup{cfgPath: filepath.Join(dir, "signoff.yaml"), httpAddr: freePort(t), rps: rps}
	natsYAML := ""
	if o.natsURL != "" {
		natsYAML = fmt.Sprintf("nats: {url: %q, replicas: %d}\n", o.natsURL, max(o.replicas, 1))
	} else {
		s.natsAddr = freePort(t)
		natsYAML = fmt.Sprintf("nats: {listen: %q, allow_anonymous: true, sync_always: %t}\n", s.natsAddr, !o.noFsync)
	}
	var y strings.Builder
	fmt.Fprintf(&y, "public_url: http://%s\nissuer: %s\nlisten: %s\ndata_dir: %s\n%slogout: {deadline: %s}\nlog: {level: info}\n%s",
		s.httpAddr, testIssuer, s.httpAddr, filepath.Join(dir, "data"), natsYAML, o.deadline, o.extra)
	y.WriteString("relying_parties:\n")
	for _, rp := range rps {
		fmt.Fprintf(&y, "  - id: %s\n    name: %s\n    oidc:\n      client_id: %s\n      backchannel_logout_uri: %s/bc\n      backchannel_logout_session_required: true\n      logout_token_alg: %s\n",
			rp.ID, rp.ID, rp.ClientID, rp.srv.URL, rp.Alg)
	}
	if err := os.WriteFile(s.cfgPath, []byte(y.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return s
}

// start runs signoff and points the RPs' verifiers at its /jwks.json. The
// child is killed when the test ends, if it still runs.
func (s *childSetup) start(t testing.TB) *child {
	t.Helper()
	ch := startChild(t, s.cfgPath, s.httpAddr)
	t.Cleanup(ch.kill)
	for _, rp := range s.rps {
		if rp.verifier == nil {
			rp.useJWKS("http://" + s.httpAddr + "/jwks.json")
		}
	}
	return ch
}

// connect opens a test client connection that reconnects forever.
func connect(t testing.TB, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

// faultClient publishes many events asynchronously and reads the stream.
func faultClient(t testing.TB, nc *nats.Conn) *client {
	js, err := jetstream.New(nc, jetstream.WithPublishAsyncTimeout(10*time.Second), jetstream.WithPublishAsyncMaxPending(2000))
	if err != nil {
		t.Fatal(err)
	}
	return &client{t: t, nc: nc, js: js}
}

type outMsg struct {
	subject string
	ev      events.Event
	id      string // Nats-Msg-Id: a retried publish is not stored twice
}

func joinMsg(session, subject, rp, sid string) outMsg {
	id := uuid.NewString()
	return outMsg{events.SubjectSessionJoined, events.SessionJoined{
		EventID: id, OccurredAt: time.Now().UTC(), SessionID: session, Subject: subject, RPID: rp,
		OIDC: &events.OIDCSession{SID: sid},
	}, id}
}

func logoutBySubjectMsg(logoutID, subject string) outMsg {
	id := uuid.NewString()
	return outMsg{events.SubjectLogoutRequested, events.LogoutRequested{
		EventID: id, LogoutID: logoutID, OccurredAt: time.Now().UTC(), Subject: subject,
		Initiator: events.InitiatorUser, Scope: events.ScopeGlobal,
	}, id}
}

// publishAll publishes msgs in order, asynchronously in windows, and
// returns once JetStream acknowledged every one of them. A publish that
// fails (a NATS node lost, a leader election) is retried with the same
// Nats-Msg-Id until timeout.
func (c *client) publishAll(msgs []outMsg, timeout time.Duration) error {
	end := time.Now().Add(timeout)
	const window = 1000
	todo := msgs
	for len(todo) > 0 {
		if time.Now().After(end) {
			return fmt.Errorf("%d of %d events not acknowledged after %v", len(todo), len(msgs), timeout)
		}
		var failed []outMsg
		var lastErr error
		for start := 0; start < len(todo); start += window {
			batch := todo[start:min(start+window, len(todo))]
			futures := make([]jetstream.PubAckFuture, len(batch))
			for i, m := range batch {
				data, err := events.Encode(m.ev)
				if err != nil {
					return err
				}
				msg := nats.NewMsg(m.subject)
				msg.Data = data
				msg.Header.Set(jetstream.MsgIDHeader, m.id)
				if futures[i], err = c.js.PublishMsgAsync(msg); err != nil {
					lastErr = err
				}
			}
			for i, f := range futures {
				if f == nil {
					failed = append(failed, batch[i])
					continue
				}
				select {
				case <-f.Ok():
				case err := <-f.Err():
					lastErr = err
					failed = append(failed, batch[i])
				case <-time.After(30 * time.Second):
					lastErr = errors.New("no ack after 30s")
					failed = append(failed, batch[i])
				}
			}
		}
		if len(failed) > 0 {
			c.t.Logf("publish: %d of %d not acknowledged (%v); retrying", len(failed), len(todo), lastErr)
			time.Sleep(200 * time.Millisecond)
		}
		todo = failed
	}
	return nil
}

// backlog describes what signoff's consumers on stream SIGNOFF have not
// yet processed (pending and unacknowledged), for the log.
func (c *client) backlog() string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	st, err := c.js.Stream(ctx, events.StreamName)
	if err != nil {
		return err.Error()
	}
	var parts []string
	l := st.ListConsumers(ctx)
	for ci := range l.Info() {
		if !strings.HasPrefix(ci.Name, testReaderPrefix) {
			parts = append(parts, fmt.Sprintf("%s %d+%d", ci.Name, ci.NumPending, ci.NumAckPending))
		}
	}
	if err := l.Err(); err != nil {
		return err.Error()
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

// settle waits, at most timeout, until every consumer on stream SIGNOFF
// has nothing pending or unacknowledged, and logs how long that took. It
// asserts nothing: a logout must see every join acknowledged before it
// anyway (issue 9); settling only keeps the crash and cluster tests about
// crashes.
func (c *client) settle(timeout time.Duration) {
	start := time.Now()
	err := eventstest.Poll(timeout, 250*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		st, err := c.js.Stream(ctx, events.StreamName)
		if err != nil {
			return err
		}
		lister := st.ListConsumers(ctx)
		var busy []string
		n := 0
		for ci := range lister.Info() {
			if strings.HasPrefix(ci.Name, testReaderPrefix) {
				continue
			}
			// The ordered intake consumers (ephemeral, ack-less, one per
			// instance, recreated when partitions move) report a pending
			// count that says nothing once replaced; the intake's own lag
			// is in /metrics. Only durable consumers are waited for.
			if ci.Config.Durable == "" {
				continue
			}
			n++
			if ci.NumPending+uint64(ci.NumAckPending) > 0 {
				busy = append(busy, fmt.Sprintf("%s: %d pending, %d unacked", ci.Name, ci.NumPending, ci.NumAckPending))
			}
		}
		if err := lister.Err(); err != nil {
			return err
		}
		if n == 0 {
			return errors.New("no consumers")
		}
		if len(busy) > 0 {
			return errors.New(strings.Join(busy, "; "))
		}
		return nil
	})
	if err != nil {
		c.t.Logf("settle: consumers still busy, going on: %v", err)
		return
	}
	c.t.Logf("settle: consumers caught up in %v", time.Since(start).Round(time.Millisecond))
}

// completedCounter counts logout.completed live (core NATS) by logout_id:
// cheap enough to poll, but it misses what is published while the test's
// connection reconnects. Assertions read the stream.
type completedCounter struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

func countCompleted(t testing.TB, nc *nats.Conn) *completedCounter {
	cc := &completedCounter{seen: map[string]time.Time{}}
	sub, err := nc.Subscribe(events.SubjectLogoutCompleted, func(m *nats.Msg) {
		ev, err := events.Decode[events.Completed](m.Data)
		if err != nil {
			return
		}
		cc.mu.Lock()
		if _, ok := cc.seen[ev.LogoutID]; !ok {
			cc.seen[ev.LogoutID] = time.Now()
		}
		cc.mu.Unlock()
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sub.Unsubscribe() })
	return cc
}

func (cc *completedCounter) count() int {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	return len(cc.seen)
}

// firstAfter is the earliest completion seen after t0 among ids (nil:
// any), and whether there was one.
func (cc *completedCounter) firstAfter(t0 time.Time, ids map[string]bool) (time.Time, bool) {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	var first time.Time
	for id, at := range cc.seen {
		if at.Before(t0) || (ids != nil && !ids[id]) {
			continue
		}
		if first.IsZero() || at.Before(first) {
			first = at
		}
	}
	return first, !first.IsZero()
}

// validTokens counts the distinct sids for which the RPs received a valid
// logout token (earliest receipt per (rp, sid)) and the invalid tokens.
func validTokens(rps []*testRP) (bySID map[string]map[string]time.Time, invalid []string, requests int) {
	bySID = map[string]map[string]time.Time{}
	for _, rp := range rps {
		n, toks := rp.snapshot()
		requests += n
		m := map[string]time.Time{}
		for _, tok := range toks {
			if !tok.Valid {
				invalid = append(invalid, rp.ID+": "+tok.Err)
				continue
			}
			if at, ok := m[tok.SID]; !ok || tok.At.Before(at) {
				m[tok.SID] = tok.At
			}
		}
		bySID[rp.ID] = m
	}
	return bySID, invalid, requests
}

func totalValid(rps []*testRP) int {
	bySID, _, _ := validTokens(rps)
	n := 0
	for _, m := range bySID {
		n += len(m)
	}
	return n
}

// checkDelivered asserts that every RP session sid(rp, i), i < users,
// received a valid logout token no later than cutoff(i), and returns how
// many did not.
func checkDelivered(t *testing.T, rps []*testRP, users int, sid func(rp string, i int) string, cutoff func(i int) time.Time) (missing, late int) {
	t.Helper()
	bySID, invalid, requests := validTokens(rps)
	var examples []string
	for _, rp := range rps {
		for i := range users {
			at, ok := bySID[rp.ID][sid(rp.ID, i)]
			switch {
			case !ok:
				missing++
				if len(examples) < 5 {
					examples = append(examples, rp.ID+"/"+sid(rp.ID, i))
				}
			case at.After(cutoff(i)):
				late++
			}
		}
	}
	total := users * len(rps)
	t.Logf("RPs: %d requests, %d of %d RP sessions got a valid token, %d never did, %d only after the deadline, %d invalid tokens",
		requests, total-missing, total, missing, late, len(invalid))
	if missing > 0 {
		t.Errorf("%d of %d RP sessions never received a valid logout token (e.g. %v)", missing, total, examples)
	}
	if late > 0 {
		t.Errorf("%d of %d RP sessions received their token only after the logout deadline", late, total)
	}
	if len(invalid) > 0 {
		t.Errorf("%d logout tokens failed verification, first: %s", len(invalid), invalid[0])
	}
	return missing, late
}

// checkCompletedOnce asserts that every logout id has exactly one
// logout.completed in the stream, with outcome complete and every
// participant succeeded, and returns the completions by id.
func checkCompletedOnce(t *testing.T, c *client, ids []string) map[string]events.Completed {
	t.Helper()
	byID, counts := c.completed()
	var notDone, twice, notComplete int
	outcomes := map[events.Status]int{}
	var examples []string
	for _, id := range ids {
		switch n := counts[id]; {
		case n == 0:
			notDone++
			continue
		case n > 1:
			twice++
		}
		ev := byID[id]
		outcomes[ev.Outcome]++
		ok := ev.Outcome == events.StatusComplete
		for _, p := range ev.Participants {
			ok = ok && p.Outcome == events.OutcomeSucceeded
		}
		if !ok {
			notComplete++
			if len(examples) < 3 {
				examples = append(examples, fmt.Sprintf("%+v", ev))
			}
		}
	}
	t.Logf("logout.completed: %d of %d logouts completed (outcomes %v), %d never, %d more than once", len(ids)-notDone, len(ids), outcomes, notDone, twice)
	if notDone > 0 {
		t.Errorf("%d of %d logouts have no logout.completed", notDone, len(ids))
	}
	if twice > 0 {
		t.Errorf("%d logouts completed more than once", twice)
	}
	if notComplete > 0 {
		t.Errorf("%d of %d logouts did not complete with every participant succeeded, e.g. %v", notComplete, len(ids), examples)
	}
	return byID
}

// waitAllCompleted polls the stream, every 2 s, until every id has a
// logout.completed or timeout passes; it reports, the checks decide.
func waitAllCompleted(t *testing.T, c *client, ids []string, timeout time.Duration) {
	t.Helper()
	start := time.Now()
	err := eventstest.Poll(timeout, 2*time.Second, func() error {
		byID, _ := c.completed()
		n := 0
		for _, id := range ids {
			if _, ok := byID[id]; ok {
				n++
			}
		}
		if n < len(ids) {
			return fmt.Errorf("%d of %d logouts completed", n, len(ids))
		}
		return nil
	})
	if err != nil {
		t.Logf("waiting for completions: %v", err)
		return
	}
	t.Logf("all %d logouts completed %v after the wait began", len(ids), time.Since(start).Round(time.Millisecond))
}

var resumedLine = regexp.MustCompile(`(?i)[^\n]*resum[^\n]*`)

// TestCrashUnderLoad: 1,000 users × 3 back-channel RPs that answer after
// 1 s, more work than any internal window (MaxAckPending was 128).
// signoff is SIGKILLed twice while it delivers and restarted on the same
// data_dir each time. Every one of the 3,000 RP sessions gets a valid
// token before the deadline, every logout completes exactly once and
// complete, and each restart logs what it resumed.
func TestCrashUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("1,000 logouts through a child process killed twice")
	}
	const (
		users    = 1000
		deadline = 90 * time.Second
	)
	rps := []*testRP{newTestRP(t, "wiki", "ES256"), newTestRP(t, "chat", "ES256"), newTestRP(t, "payroll", "RS256")}
	for _, rp := range rps {
		rp.delay = time.Second
	}
	sid := func(rp string, i int) string { return fmt.Sprintf("sid-%s-%d", rp, i) }
	setup := newChildSetup(t, rps, childOptions{deadline: deadline})
	ch := setup.start(t)
	nc := connect(t, "nats://"+setup.natsAddr)
	c := faultClient(t, nc)
	live := countCompleted(t, nc)

	joins := make([]outMsg, 0, users*len(rps))
	for i := range users {
		for _, rp := range rps {
			joins = append(joins, joinMsg(fmt.Sprintf("s%d", i), fmt.Sprintf("u%d", i), rp.ID, sid(rp.ID, i)))
		}
	}
	if err := c.publishAll(joins, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	c.settle(60 * time.Second)
	ids := make([]string, users)
	logouts := make([]outMsg, users)
	for i := range users {
		ids[i] = fmt.Sprintf("L%d", i)
		logouts[i] = logoutBySubjectMsg(ids[i], fmt.Sprintf("u%d", i))
	}
	start := time.Now()
	if err := c.publishAll(logouts, time.Minute); err != nil {
		t.Fatal(err)
	}
	// Each token must arrive within the deadline of its logout; the
	// requests were all published by now.
	cutoff := time.Now().Add(deadline)
	t.Logf("published %d joins and %d logouts; the logouts took %v to publish", len(joins), users, time.Since(start).Round(time.Millisecond))

	// Kill 1: in the middle of the deliveries.
	eventstest.EventuallyErr(t, 90*time.Second, func() error {
		if n := totalValid(rps); n < users*len(rps)/5 {
			return fmt.Errorf("%d tokens delivered", n)
		}
		return nil
	})
	ch.kill()
	t.Logf("kill 1 at +%v: %d of %d RP sessions had a token, %d logouts seen completed", time.Since(start).Round(time.Millisecond), totalValid(rps), users*len(rps), live.count())
	if live.count() >= users {
		t.Fatal("every logout had completed before the first kill; the test proves nothing")
	}

	restarts := 0
	restart := func() *child {
		restarts++
		ch := setup.start(t)
		var line string
		if err := eventstest.Poll(30*time.Second, 100*time.Millisecond, func() error {
			if line = resumedLine.FindString(ch.logs.String()); line == "" {
				return errors.New("no log line about what was resumed")
			}
			return nil
		}); err != nil {
			t.Errorf("restart %d: %v", restarts, err)
		} else {
			t.Logf("restart %d logged: %s", restarts, line)
		}
		return ch
	}

	// Kill 2: shortly after the restart, once it delivers again (or after
	// 10 s if it does not).
	ch = restart()
	before := totalValid(rps)
	restarted := time.Now()
	eventstest.Poll(10*time.Second, 50*time.Millisecond, func() error {
		if n := totalValid(rps) - before; n < 300 {
			return fmt.Errorf("%d tokens since the restart", n)
		}
		return nil
	})
	ch.kill()
	t.Logf("kill 2, %v after restart 1: %d RP sessions got a token in between; %d of %d in all",
		time.Since(restarted).Round(time.Millisecond), totalValid(rps)-before, totalValid(rps), users*len(rps))

	ch = restart()
	defer ch.stop()
	restarted = time.Now()
	waitAllCompleted(t, c, ids, time.Until(cutoff)+60*time.Second)
	t.Logf("after restart 2: %d tokens in %v", totalValid(rps), time.Since(restarted).Round(time.Millisecond))
	checkDelivered(t, rps, users, sid, func(int) time.Time { return cutoff })
	checkCompletedOnce(t, c, ids)
}

// floodSize is how many session.joined the flood tests publish: 100,000,
// or 20,000 under the race detector, which slows the child's intake
// several times (the full flood runs in `go test ./...` without -race).
func floodSize(t testing.TB) int {
	t.Helper()
	if raceEnabled {
		t.Logf("race detector on: flooding %d joins instead of 100,000", 20_000)
		return 20_000
	}
	return 100_000
}

// TestJoinFloodThenLogout: another publisher floods 100,000 session.joined,
// then alice joins 3 RPs (JetStream acknowledged them) and signs out in
// the browser at once. Every RP gets a valid token for her session and
// the logout never says "complete" with fewer participants.
func TestJoinFloodThenLogout(t *testing.T) {
	if testing.Short() {
		t.Skip("publishes 100,000 events to a child process")
	}
	flood := floodSize(t)
	rps := []*testRP{newTestRP(t, "wiki", "ES256"), newTestRP(t, "chat", "ES256"), newTestRP(t, "payroll", "RS256")}
	// Without fsync the flood is published in seconds rather than minutes;
	// the logout overtook the joins with fsync on and off alike
	// (faults-2026-12.md).
	setup := newChildSetup(t, rps, childOptions{deadline: 60 * time.Second, noFsync: true})
	ch := setup.start(t)
	defer ch.stop()

	// The flood: other users at the same RPs, from another connection.
	floodClient := faultClient(t, connect(t, "nats://"+setup.natsAddr))
	msgs := make([]outMsg, flood)
	for i := range flood {
		rp := rps[i%len(rps)].ID
		msgs[i] = joinMsg(fmt.Sprintf("flood-%d", i/3), fmt.Sprintf("flood-user-%d", i/3), rp, fmt.Sprintf("flood-sid-%d", i))
	}
	start := time.Now()
	if err := floodClient.publishAll(msgs, 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	t.Logf("flood: %d session.joined acknowledged in %v", flood, time.Since(start).Round(time.Millisecond))

	// alice signs in at the 3 RPs; each join is acknowledged.
	c := newClient(t, connect(t, "nats://"+setup.natsAddr))
	for _, rp := range rps {
		c.join("alice-session", "alice", rp.ID, "alice-sid-"+rp.ID)
	}
	t.Logf("backlog when alice signs out (consumer pending+unacked): %s", c.backlog())
	// ... and signs out in the browser at once.
	base := "http://" + setup.httpAddr
	jar, _ := cookiejar.New(nil)
	u, _ := url.Parse(base)
	jar.SetCookies(u, []*http.Cookie{{Name: "signoff_session", Value: "alice-session", Path: "/"}})
	browser := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	resp, err := browser.Get(base + "/logout")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Request.URL.Path, "/logout/") {
		t.Fatalf("after /logout: %d at %s", resp.StatusCode, resp.Request.URL)
	}
	id := strings.TrimPrefix(resp.Request.URL.Path, "/logout/")
	requested := time.Now()

	var status struct {
		Status       events.Status `json:"status"`
		Participants []struct {
			RPID    string         `json:"rp_id"`
			Outcome events.Outcome `json:"outcome"`
		} `json:"participants"`
	}
	// The flood is ahead of alice's joins; signoff registers ≥ 10,000
	// joins/s by issue 9 (generous here for -race and a shared machine).
	eventstest.EventuallyErr(t, 2*time.Minute, func() error {
		resp, err := browser.Get(base + "/api/logouts/" + id)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("status API %d", resp.StatusCode)
		}
		status.Participants = nil
		if err := json.NewDecoder(resp.Body).Decode(&status); err != nil {
			return err
		}
		// Once the local session is listed, the page's script takes the
		// explicit step that confirms it (reading confirms nothing).
		for _, p := range status.Participants {
			if p.RPID == saga.LocalRPID && p.Outcome == saga.StatePending {
				if resp, err := browser.Post(base+"/logout/"+id+"/confirm", "", nil); err == nil {
					resp.Body.Close()
				}
			}
		}
		if status.Status == events.StatusRunning {
			return fmt.Errorf("still running: %+v", status)
		}
		return nil
	})
	t.Logf("alice's logout %s ended %v after it was requested: %+v", id, time.Since(requested).Round(time.Millisecond), status)

	done := c.waitCompleted(id, 10*time.Second)
	succeeded := map[string]bool{}
	for _, p := range done.Participants {
		if p.Outcome == events.OutcomeSucceeded {
			succeeded[p.RPID] = true
		}
	}
	var lost []string
	for _, rp := range rps {
		if !succeeded[rp.ID] {
			lost = append(lost, rp.ID)
		}
	}
	if len(lost) > 0 || done.Outcome != events.StatusComplete {
		t.Errorf("logout.completed %q with %d participants; %d of %d RPs not succeeded %v: %+v",
			done.Outcome, len(done.Participants), len(lost), len(rps), lost, done.Participants)
	}
	got := 0
	for _, rp := range rps {
		_, toks := rp.snapshot()
		ok := false
		for _, tok := range toks {
			if !tok.Valid {
				t.Errorf("%s: invalid token: %s", rp.ID, tok.Err)
			}
			if tok.Valid && tok.SID == "alice-sid-"+rp.ID && tok.Sub == "alice" {
				ok = true
			}
		}
		if ok {
			got++
		} else {
			t.Errorf("%s received no valid token for alice's session (%d requests in all)", rp.ID, len(toks))
		}
	}
	t.Logf("%d of %d RPs received a valid token for alice", got, len(rps))

	// The page tells the truth: "signed out" names every app.
	resp, err = browser.Get(base + "/logout/" + id)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if page := string(body); strings.Contains(page, "signed out") {
		for _, rp := range rps {
			if !strings.Contains(page, rp.ID) {
				t.Errorf("the page says signed out but does not name %s", rp.ID)
			}
		}
	}
}

// TestDeletedConsumerRecovers: every consumer on stream SIGNOFF is deleted
// under a running signoff. /readyz answers 503 with a reason until they
// are back, the logout published while they were missing completes, and
// so does one published afterwards.
func TestDeletedConsumerRecovers(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a child process")
	}
	rp := newTestRP(t, "wiki", "ES256")
	setup := newChildSetup(t, []*testRP{rp}, childOptions{deadline: 20 * time.Second})
	ch := setup.start(t)
	defer ch.stop()
	c := faultClient(t, connect(t, "nats://"+setup.natsAddr))
	logout := func(n int) string {
		s := fmt.Sprintf("s%d", n)
		c.join(s, fmt.Sprintf("u%d", n), rp.ID, fmt.Sprintf("sid-%d", n))
		c.logout(fmt.Sprintf("L%d", n), s)
		return fmt.Sprintf("L%d", n)
	}
	wantComplete := func(id string, timeout time.Duration) bool {
		t.Helper()
		var ev events.Completed
		err := eventstest.Poll(timeout, 250*time.Millisecond, func() error {
			byID, _ := c.completed()
			var ok bool
			if ev, ok = byID[id]; !ok {
				return fmt.Errorf("no logout.completed for %s", id)
			}
			return nil
		})
		if err != nil {
			t.Errorf("%s: %v", id, err)
			return false
		}
		if ev.Outcome != events.StatusComplete || len(ev.Participants) != 1 || ev.Participants[0].Outcome != events.OutcomeSucceeded {
			t.Errorf("%s: %+v", id, ev)
			return false
		}
		return true
	}
	if !wantComplete(logout(0), 30*time.Second) {
		t.Fatal("signoff does not work before the fault")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	stream, err := c.js.Stream(ctx, events.StreamName)
	cancel()
	if err != nil {
		t.Fatal(err)
	}
	// signoff's consumers, not the test's own readers.
	consumerNames := func() []string {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		var names []string
		l := stream.ListConsumers(ctx)
		for ci := range l.Info() {
			if !strings.HasPrefix(ci.Name, testReaderPrefix) {
				names = append(names, ci.Name)
			}
		}
		if err := l.Err(); err != nil {
			t.Fatal(err)
		}
		sort.Strings(names)
		return names
	}
	names := consumerNames()
	if len(names) == 0 {
		t.Fatal("no consumers on stream SIGNOFF before the fault")
	}

	// Probe /readyz as fast as possible from before the deletion on.
	var probes, notReady atomic.Int64
	var reason atomic.Value
	stop := make(chan struct{})
	probed := make(chan struct{})
	go func() {
		defer close(probed)
		hc := &http.Client{Timeout: 2 * time.Second}
		for {
			select {
			case <-stop:
				return
			default:
			}
			resp, err := hc.Get("http://" + setup.httpAddr + "/readyz")
			if err != nil {
				continue
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			probes.Add(1)
			if resp.StatusCode == http.StatusServiceUnavailable {
				if notReady.Add(1) == 1 {
					reason.Store(strings.TrimSpace(string(body)))
				}
			}
			time.Sleep(2 * time.Millisecond)
		}
	}()
	for _, name := range names {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := stream.DeleteConsumer(ctx, name)
		cancel()
		if err != nil {
			t.Fatalf("delete consumer %s: %v", name, err)
		}
	}
	deleted := time.Now()
	t.Logf("deleted %d consumers: %v", len(names), names)

	// A logout while the consumers are missing must not be lost.
	during := logout(1)
	recovered := wantComplete(during, 45*time.Second)
	readyErr := eventstest.Poll(30*time.Second, 50*time.Millisecond, func() error {
		resp, err := http.Get("http://" + setup.httpAddr + "/readyz")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return fmt.Errorf("readyz %d", resp.StatusCode)
		}
		return nil
	})
	close(stop)
	<-probed
	why, _ := reason.Load().(string)
	t.Logf("/readyz after the deletion: %d probes in %v, %d answered 503 (first reason %q)",
		probes.Load(), time.Since(deleted).Round(time.Millisecond), notReady.Load(), why)
	if notReady.Load() == 0 {
		t.Errorf("/readyz never answered 503 in %d probes while the consumers were missing", probes.Load())
	} else if why == "" {
		t.Error("/readyz answered 503 without a reason in the body")
	}
	if readyErr != nil {
		t.Errorf("/readyz not ready again: %v", readyErr)
	}
	after := consumerNames()
	t.Logf("consumers after recovery: %v", after)
	if len(after) == 0 {
		t.Error("no consumer was recreated on stream SIGNOFF")
	}
	if !recovered {
		t.Fatal("the logout published while the consumers were missing never completed")
	}
	wantComplete(logout(2), 30*time.Second)
	if n, _ := rp.snapshot(); n < 3 {
		t.Errorf("the RP received %d requests, want one per logout (3)", n)
	}
}
