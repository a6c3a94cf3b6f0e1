package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/signoff/signoff/coordinator/bus/natstest"
	"github.com/signoff/signoff/events"
	"github.com/signoff/signoff/events/eventstest"
)

// serveProc is a `signoff serve` child process (the built binary).
type serveProc struct {
	t       *testing.T
	cmd     *exec.Cmd
	out     *natstest.LogBuffer
	exited  chan struct{}
	waitErr error
}

// startServe runs `signoff serve --config cfg` and waits for /readyz.
func startServe(t *testing.T, cfg, base string) *serveProc {
	t.Helper()
	return startServeEnv(t, cfg, base, nil)
}

// startServeEnv is startServe with env added to the environment.
func startServeEnv(t *testing.T, cfg, base string, env []string) *serveProc {
	t.Helper()
	p := &serveProc{t: t, cmd: exec.Command(signoffBinary(t), "serve", "--config", cfg), out: &natstest.LogBuffer{}, exited: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.Env = append(os.Environ(), env...)
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.waitErr = p.cmd.Wait(); close(p.exited) }()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("signoff serve (pid %d) output:\n%s", p.cmd.Process.Pid, p.out.String())
		}
	})
	if err := waitReady(base+"/readyz", 2*time.Minute, p.exited); err != nil {
		t.Fatal(err)
	}
	return p
}

// stop sends SIGTERM and waits up to limit for the exit; it returns the
// exit code (-1 when the process did not exit in time).
func (p *serveProc) stop(limit time.Duration) int {
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(limit):
		return -1
	}
	var ee *exec.ExitError
	if errors.As(p.waitErr, &ee) {
		return ee.ExitCode()
	}
	return 0
}

// jsonLog returns the process's JSON log lines whose msg is msg and whose
// attributes include every one of attrs.
func jsonLog(out, msg string, attrs map[string]any) []map[string]any {
	var found []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line map[string]any
		if json.Unmarshal(sc.Bytes(), &line) != nil || line["msg"] != msg {
			continue
		}
		ok := true
		for k, v := range attrs {
			ok = ok && line[k] == v
		}
		if ok {
			found = append(found, line)
		}
	}
	return found
}

// serveEnv is a configuration for a real `signoff serve` with an exposed,
// anonymous NATS on loopback, JSON logs, an admin token and back-channel
// RPs.
type serveEnv struct {
	t                    *testing.T
	dir, cfg, base, nats string
}

const serveAdminToken = "admin-token-of-the-serve-tests"

// rpConfig is one back-channel RP of a serveEnv.
type rpConfig struct{ id, name, uri string }

func newServeEnv(t *testing.T, extra string, rps ...rpConfig) *serveEnv {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the binary")
	}
	dir := t.TempDir()
	httpPort, natsPort := natstest.FreePort(t), natstest.FreePort(t)
	e := &serveEnv{t: t, dir: dir, cfg: filepath.Join(dir, "signoff.yaml"),
		base: fmt.Sprintf("http://127.0.0.1:%d", httpPort), nats: fmt.Sprintf("nats://127.0.0.1:%d", natsPort)}
	var b strings.Builder
	fmt.Fprintf(&b, "public_url: %s\nlisten: 127.0.0.1:%d\ndata_dir: %s\nlog: {format: json}\nadmin: {token: %s}\n",
		e.base, httpPort, filepath.Join(dir, "data"), serveAdminToken)
	fmt.Fprintf(&b, "nats:\n  listen: 127.0.0.1:%d\n  allow_anonymous: true\n  sync_always: false\n", natsPort)
	b.WriteString(extra)
	b.WriteString("relying_parties:\n")
	for _, rp := range rps {
		fmt.Fprintf(&b, "  - id: %s\n    name: %s\n    oidc: {client_id: %s, backchannel_logout_uri: %q, backchannel_logout_session_required: true, logout_token_alg: ES256, logout_token_typ: logout+jwt}\n",
			rp.id, rp.name, rp.id, rp.uri)
	}
	if err := os.WriteFile(e.cfg, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

// connect connects to the serve's NATS as an IdP would.
func (e *serveEnv) connect() (*nats.Conn, jetstream.JetStream) {
	e.t.Helper()
	nc, err := nats.Connect(e.nats)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		e.t.Fatal(err)
	}
	return nc, js
}

func publish(t *testing.T, js jetstream.JetStream, subject string, ev events.Event) {
	t.Helper()
	b, err := events.Encode(ev)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := js.Publish(ctx, subject, b); err != nil {
		t.Fatal(err)
	}
}

func join(t *testing.T, js jetstream.JetStream, session, subject, rpID string) {
	t.Helper()
	publish(t, js, events.SubjectSessionJoined, events.SessionJoined{EventID: uuid.NewString(), OccurredAt: time.Now().UTC(),
		SessionID: session, Subject: subject, RPID: rpID, OIDC: &events.OIDCSession{SID: "sid-" + rpID + "-" + session}})
}

// completions returns every logout.completed of logoutID kept in the stream.
func completions(t *testing.T, js jetstream.JetStream, logoutID string) []events.Completed {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := js.Stream(ctx, events.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	var out []events.Completed
	for seq := uint64(1); ; {
		m, err := st.GetMsg(ctx, seq, jetstream.WithGetMsgSubject(events.SubjectLogoutCompleted))
		if errors.Is(err, jetstream.ErrMsgNotFound) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if ev, err := events.Decode[events.Completed](m.Data); err == nil && ev.LogoutID == logoutID {
			out = append(out, ev)
		}
		seq = m.Sequence + 1
	}
}

// TestLogoutCommandPrintsDetailAndParticipants: `signoff logout` against a
// real `signoff serve` prints the logout.completed detail when nothing was
// known to sign out (a bare "complete" looked like success), over NATS and
// over the admin API, and each participant's outcome with its detail.
func TestLogoutCommandPrintsDetailAndParticipants(t *testing.T) {
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer ok.Close()
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "maintenance", http.StatusServiceUnavailable)
	}))
	defer down.Close()
	e := newServeEnv(t, "logout: {deadline: 3s}\nbackchannel: {attempt_timeout: 1s}\n",
		rpConfig{"notes", "Notes", ok.URL}, rpConfig{"chat", "Chat", down.URL})
	startServe(t, e.cfg, e.base)
	_, js := e.connect()
	join(t, js, "s-alice", "alice", "notes")
	join(t, js, "s-alice", "alice", "chat")

	t.Setenv("SIGNOFF_ADMIN_TOKEN", serveAdminToken)
	t.Setenv("SIGNOFF_NATS_URL", "")
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     []string
	}{
		{"nobody over NATS", []string{"logout", "--nats", e.nats, "--subject", "nobody"}, 0,
			[]string{": complete\n  " + events.CompletedNoSessions + "\n", "You were already signed out"}},
		{"nobody over the admin API", []string{"logout", "--url", e.base, "--subject", "nobody"}, 0,
			[]string{": complete\n  " + events.CompletedNoSessions + "\n"}},
		{"alice over NATS", []string{"logout", "--config", e.cfg, "--subject", "alice"}, 3,
			[]string{": partial\n", "  Notes                succeeded   HTTP 200", "  Chat                 timed_out   ", "HTTP 503",
				"You were signed out of Notes; Chat did not confirm"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := run(append(tt.args, "--timeout", "60s"), &out, &errb)
			if code != tt.wantCode {
				t.Errorf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.wantCode, out.String(), errb.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("stdout lacks %q:\n%s", w, out.String())
				}
			}
			if tt.wantCode == 3 && strings.Contains(out.String(), events.CompletedNoSessions) {
				t.Errorf("a logout with participants printed the no-session detail:\n%s", out.String())
			}
		})
	}
}

// blockingRP is a back-channel RP whose first request hangs until the
// client gives up, and which answers 200 afterwards; it keeps every
// logout token it received.
type blockingRP struct {
	srv    *httptest.Server
	mu     sync.Mutex
	tokens []string
	// hanging is closed when the first request arrives.
	hanging chan struct{}
	once    sync.Once
}

func newBlockingRP(t *testing.T) *blockingRP {
	rp := &blockingRP{hanging: make(chan struct{})}
	rp.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tok := r.PostFormValue("logout_token")
		rp.mu.Lock()
		rp.tokens = append(rp.tokens, tok)
		first := len(rp.tokens) == 1
		rp.mu.Unlock()
		if first {
			rp.once.Do(func() { close(rp.hanging) })
			<-r.Context().Done() // hangs until signoff aborts the attempt
			return
		}
		w.Header().Set("Cache-Control", "no-store")
	}))
	t.Cleanup(rp.srv.Close)
	return rp
}

func (rp *blockingRP) received() []string {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	return append([]string(nil), rp.tokens...)
}

// verifyLogoutToken checks raw with go-jose against signoff's /jwks.json:
// ES256 signature, typ logout+jwt, the back-channel logout event and the
// expected sid (OpenID Connect Back-Channel Logout 1.0, section 2.4).
func verifyLogoutToken(t *testing.T, base, raw, wantSID string) {
	t.Helper()
	resp, err := http.Get(base + "/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
		t.Fatal(err)
	}
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		t.Fatalf("logout token: %v", err)
	}
	hdr := jws.Signatures[0].Header
	keys := set.Key(hdr.KeyID)
	if len(keys) != 1 {
		t.Fatalf("kid %q: %d keys in /jwks.json", hdr.KeyID, len(keys))
	}
	payload, err := jws.Verify(keys[0])
	if err != nil {
		t.Fatalf("logout token signature: %v", err)
	}
	if typ, _ := hdr.ExtraHeaders["typ"].(string); typ != "logout+jwt" {
		t.Errorf("typ %q", typ)
	}
	var claims struct {
		SID    string         `json:"sid"`
		Events map[string]any `json:"events"`
	}
	json.Unmarshal(payload, &claims)
	if _, ok := claims.Events["http://schemas.openid.net/event/backchannel-logout"]; !ok || claims.SID != wantSID {
		t.Errorf("logout token claims %s, want sid %s and the back-channel logout event", payload, wantSID)
	}
}

// TestShutdownGraceLeavesDeliveryToResume is shutdown.grace end to end with
// the built binary: an RP hangs on its logout token; SIGTERM; signoff
// logs "shutting down" with the grace as a duration string, aborts the
// delivery when the grace ends ("delivery aborted by shutdown"), exits 0 in
// time; the next start delivers the token again, and the logout completes
// exactly once (one logout.completed in the stream, one "logout completed"
// log line over both runs).
func TestShutdownGraceLeavesDeliveryToResume(t *testing.T) {
	rp := newBlockingRP(t)
	const grace = 2 * time.Second
	e := newServeEnv(t, "shutdown: {grace: 2s}\nlogout: {deadline: 3m}\nbackchannel: {attempt_timeout: 60s}\n",
		rpConfig{"slow", "Slow", rp.srv.URL})
	run1 := startServe(t, e.cfg, e.base)
	nc, js := e.connect()
	join(t, js, "s-hang", "harry", "slow")
	const logoutID = "lo-shutdown-grace"
	publish(t, js, events.SubjectLogoutRequested, events.LogoutRequested{EventID: uuid.NewString(), LogoutID: logoutID,
		OccurredAt: time.Now().UTC(), SessionID: "s-hang", Initiator: events.InitiatorAdmin, Scope: events.ScopeGlobal})
	select {
	case <-rp.hanging:
	case <-time.After(time.Minute):
		t.Fatal("the RP received no logout token")
	}
	nc.Close()

	// A generous bound: grace plus the rest of the ordered shutdown.
	// Without shutdown.grace the stop would wait for the 60 s attempt.
	start := time.Now()
	code := run1.stop(grace + 25*time.Second)
	took := time.Since(start)
	if code != 0 {
		t.Fatalf("exit code %d after SIGTERM (-1: still running after %s), want 0", code, grace+25*time.Second)
	}
	out1 := run1.out.String()
	if l := jsonLog(out1, "shutting down", map[string]any{"grace": "2s"}); len(l) != 1 {
		t.Errorf("%d \"shutting down\" lines with grace \"2s\", want 1", len(l))
	}
	if l := jsonLog(out1, "delivery aborted by shutdown; no result published", map[string]any{"logout_id": logoutID, "rp_id": "slow"}); len(l) != 1 {
		t.Errorf("%d \"delivery aborted\" lines for the hanging RP, want 1", len(l))
	}
	if l := jsonLog(out1, "logout completed", map[string]any{"logout_id": logoutID}); len(l) != 0 {
		t.Fatalf("the logout completed before the restart: %v", l)
	}
	t.Logf("SIGTERM to exit: %s (grace %s)", took.Round(time.Millisecond), grace)
	for _, w := range []string{"watermill", "subscriber_poisoned"} {
		if strings.Contains(strings.ToLower(out1), w) {
			t.Errorf("the log uses watermill's vocabulary (%q)", w)
		}
	}

	run2 := startServe(t, e.cfg, e.base)
	_, js = e.connect()
	eventstest.EventuallyErr(t, 2*time.Minute, func() error {
		if n := len(completions(t, js, logoutID)); n == 0 {
			return fmt.Errorf("no logout.completed for %s after the restart", logoutID)
		}
		return nil
	})
	// A later logout is a barrier: once it completed, a second completion
	// of the first one would be in the stream already.
	join(t, js, "s-hang", "harry", "slow")
	publish(t, js, events.SubjectLogoutRequested, events.LogoutRequested{EventID: uuid.NewString(), LogoutID: "lo-barrier",
		OccurredAt: time.Now().UTC(), SessionID: "s-hang", Initiator: events.InitiatorAdmin, Scope: events.ScopeGlobal})
	eventstest.EventuallyErr(t, time.Minute, func() error {
		if len(completions(t, js, "lo-barrier")) == 0 {
			return errors.New("barrier logout not completed")
		}
		return nil
	})
	got := completions(t, js, logoutID)
	if len(got) != 1 || got[0].Outcome != events.StatusComplete || len(got[0].Participants) != 1 ||
		got[0].Participants[0].Outcome != events.OutcomeSucceeded {
		t.Errorf("logout.completed of %s: %+v, want one, complete, slow succeeded", logoutID, got)
	}
	logs := out1 + run2.out.String()
	if l := jsonLog(logs, "logout completed", map[string]any{"logout_id": logoutID}); len(l) != 1 {
		t.Errorf("%s logged as completed %d times over both runs, want once", logoutID, len(l))
	}
	// The RP saw the hung token, the resumed one, and the barrier's.
	toks := rp.received()
	if len(toks) != 3 {
		t.Fatalf("the RP received %d logout tokens, want 3 (hung, resumed, barrier)", len(toks))
	}
	verifyLogoutToken(t, e.base, toks[1], "sid-slow-s-hang")
	run2.stop(30 * time.Second)
}
