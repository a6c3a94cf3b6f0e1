package app

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/signoff/signoff/adapters/keycloak"
	"github.com/signoff/signoff/cmd/signoff/internal/config"
	"github.com/signoff/signoff/coordinator/bus/natstest"
	"github.com/signoff/signoff/events"
	"github.com/signoff/signoff/events/eventstest"
)

// The samples of adapters/keycloak/testdata, in Keycloak's event
// representation, and the users and sessions they name.
const (
	kcRealm  = "3b0e1c7a-5d2f-4e8b-9a61-7c4d2e9f0a13"
	kcAlice  = "f47ac10b-58cc-4372-a567-0e02b2c3d479"
	kcBob    = "0e1d2c3b-4a59-4687-9786-a5b4c3d2e1f0"
	kcSIDA   = "5c1e2d3f-7a8b-4c9d-8e0f-1a2b3c4d5e6f"
	kcSIDB   = "8f9e0d1c-2b3a-4c5d-9e6f-7a8b9c0d1e2f"
	kcPrefix = "keycloak.event.client."
)

func kcSample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "adapters", "keycloak", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// kcSubject is where the keycloak-nats listener publishes a user event:
// keycloak.event.client.<realm>.<success|error>.<clientId>.<type>.
func kcSubject(realm, result, client, typ string) string {
	return kcPrefix + realm + "." + result + "." + client + "." + strings.ToLower(typ)
}

// kcLogoutID is the logout_id the bridge gives the logout of a sample.
func kcLogoutID(t testing.TB, sample string) string {
	ev, err := keycloak.Parse(kcSample(t, sample))
	if err != nil {
		t.Fatal(err)
	}
	return "keycloak-" + keycloak.EventID(ev)
}

func kcConfig(t testing.TB, rps ...*testRP) *config.Config {
	cfg := testConfig(t, 10*time.Second, rps...)
	cfg.Bridges.Keycloak = &config.KeycloakBridge{Realm: kcRealm, Subject: config.DefaultKeycloakSubject,
		SubjectFrom: config.KeycloakSubjectUserID, UpstreamID: "keycloak", Clients: map[string]string{"web-app": rps[0].ID}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// tokensFor returns the valid logout tokens rp received for sid.
func tokensFor(rp *testRP, sid string) []token {
	_, toks := rp.snapshot()
	var out []token
	for _, tk := range toks {
		if tk.Valid && tk.SID == sid {
			out = append(out, tk)
		}
	}
	return out
}

// TestKeycloakBridge publishes the samples on core NATS, as the
// keycloak-nats listener does, into a real signoff: the logins become
// joins (a redelivered one is stored once), the LOGOUT signs alice out of
// the RP with a logout token for her Keycloak session, the expired
// session's USER_SESSION_DELETED signs bob out with initiator expiry, and
// the other events are counted as ignored or poisoned with a reason.
func TestKeycloakBridge(t *testing.T) {
	notes := newTestRP(t, "notes", "ES256")
	a := startApp(t, kcConfig(t, notes), notes)
	if a.keycloak.user.Stream() != keycloak.CaptureStream {
		t.Fatalf("bridge consumes %s, want its capture stream %s", a.keycloak.user.Stream(), keycloak.CaptureStream)
	}
	c := appClient(t, a)
	steps := []struct{ sample, subject string }{
		{"login.json", kcSubject(kcRealm, "success", "web-app", "LOGIN")},
		{"code_to_token.json", kcSubject(kcRealm, "success", "web-app", "CODE_TO_TOKEN")},
		{"login.json", kcSubject(kcRealm, "success", "web-app", "LOGIN")}, // redelivered by the listener
		{"login_bob.json", kcSubject(kcRealm, "success", "web-app", "LOGIN")},
		{"other_realm_login.json", kcSubject("master", "success", "web-app", "LOGIN")},
		{"update_password.json", kcSubject(kcRealm, "success", "account-console", "UPDATE_PASSWORD")},
		{"admin_user_update.json", "keycloak.event.client.x"}, // an admin event where user events are expected
		{"login_error.json", kcSubject(kcRealm, "error", "web-app", "LOGIN_ERROR")},
		{"malformed.json", kcSubject(kcRealm, "success", "web-app", "LOGIN")},
		{"logout.json", kcSubject(kcRealm, "success", "web-app", "LOGOUT")},
		{"session_expired.json", kcSubject(kcRealm, "success", "null", "USER_SESSION_DELETED")},
	}
	for _, s := range steps {
		if err := c.nc.Publish(s.subject, kcSample(t, s.sample)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.nc.Flush(); err != nil {
		t.Fatal(err)
	}

	alice := c.waitCompleted(kcLogoutID(t, "logout.json"), 20*time.Second)
	bob := c.waitCompleted(kcLogoutID(t, "session_expired.json"), 20*time.Second)
	for _, done := range []events.Completed{alice, bob} {
		if done.Outcome != events.StatusComplete || len(done.Participants) != 1 || done.Participants[0].RPID != "notes" ||
			done.Participants[0].Outcome != events.OutcomeSucceeded {
			t.Errorf("completed %+v", done)
		}
	}
	if toks := tokensFor(notes, kcSIDA); len(toks) != 1 || toks[0].Sub != kcAlice {
		t.Errorf("tokens for alice's Keycloak session: %+v", toks)
	}
	if toks := tokensFor(notes, kcSIDB); len(toks) != 1 || toks[0].Sub != kcBob {
		t.Errorf("tokens for bob's Keycloak session: %+v", toks)
	}

	var joins []events.SessionJoined
	for _, m := range c.received(events.SubjectSessionJoined) {
		j, err := events.Decode[events.SessionJoined](m.Data())
		if err != nil {
			t.Fatal(err)
		}
		joins = append(joins, j)
	}
	if len(joins) != 3 {
		t.Errorf("%d session.joined stored, want 3 (login, code_to_token, bob's login; the repeated login deduplicated): %+v", len(joins), joins)
	}
	initiators := map[string]events.Initiator{}
	for _, m := range c.received(events.SubjectLogoutRequested) {
		r, err := events.Decode[events.LogoutRequested](m.Data())
		if err != nil {
			t.Fatal(err)
		}
		initiators[r.SessionID] = r.Initiator
	}
	if initiators[keycloak.SessionID(kcRealm, kcSIDA)] != events.InitiatorIdP || initiators[keycloak.SessionID(kcRealm, kcSIDB)] != events.InitiatorExpiry || len(initiators) != 2 {
		t.Errorf("logout.requested initiators by session: %v", initiators)
	}

	poison := c.received(events.SubjectPoison)
	if len(poison) != 1 {
		t.Fatalf("%d poison messages, want 1", len(poison))
	}
	p := poison[0]
	if string(p.Data()) != string(kcSample(t, "malformed.json")) ||
		!strings.Contains(p.Headers().Get(events.HeaderPoisonReason), "malformed Keycloak event") ||
		p.Headers().Get(events.HeaderPoisonSubject) != kcSubject(kcRealm, "success", "web-app", "LOGIN") {
		t.Errorf("poison %q headers %v", p.Data(), p.Headers())
	}

	eventstest.EventuallyErr(t, 10*time.Second, func() error {
		want := keycloak.Stats{Received: 11, Joins: 4, Logouts: 2, IgnoredRealm: 1, IgnoredError: 1, IgnoredType: 2, Poisoned: 1}
		if st := a.keycloak.user.Stats(); st != want {
			return fmt.Errorf("stats %+v, want %+v", st, want)
		}
		return nil
	})
	resp, err := http.Get("http://" + a.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, line := range []string{"\nsignoff_keycloak_ignored_type_total 2\n", "\nsignoff_keycloak_poisoned_total 1\n", "\nsignoff_keycloak_logouts_total 2\n"} {
		if !strings.Contains(string(b), line) {
			t.Errorf("metrics lack %q", strings.TrimSpace(line))
		}
	}
}

// startNATS runs a nats-server with JetStream on a random loopback port,
// standing for the NATS that Keycloak and signoff share.
func startNATS(t testing.TB) string {
	t.Helper()
	return natstest.EmbeddedWith(t, &server.Options{Host: "127.0.0.1", Port: server.RANDOM_PORT, JetStream: true,
		StoreDir: t.TempDir(), NoSigs: true, SyncAlways: true}).ClientURL()
}

// TestKeycloakBridgeRestartLosesNothing: Keycloak publishes on core NATS
// while signoff is stopped; signoff's capture stream keeps the events and
// the restarted bridge turns them into logouts.
func TestKeycloakBridgeRestartLosesNothing(t *testing.T) {
	url := startNATS(t)
	notes := newTestRP(t, "notes", "ES256")
	cfg := kcConfig(t, notes)
	cfg.NATS.URL = url
	kc := connect(t, url) // Keycloak's listener
	c := newClient(t, connect(t, url))

	a := startApp(t, cfg, notes)
	for _, s := range []string{"login.json", "login_bob.json"} {
		if err := kc.Publish(kcSubject(kcRealm, "success", "web-app", "LOGIN"), kcSample(t, s)); err != nil {
			t.Fatal(err)
		}
	}
	eventstest.EventuallyErr(t, 20*time.Second, func() error {
		if n := len(c.received(events.SubjectSessionJoined)); n != 2 {
			return fmt.Errorf("%d joins", n)
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Close(ctx); err != nil {
		t.Fatal(err)
	}

	// signoff is down: Keycloak logs alice out and bob's session expires.
	if err := kc.Publish(kcSubject(kcRealm, "success", "web-app", "LOGOUT"), kcSample(t, "logout.json")); err != nil {
		t.Fatal(err)
	}
	if err := kc.Publish(kcSubject(kcRealm, "success", "null", "USER_SESSION_DELETED"), kcSample(t, "session_expired.json")); err != nil {
		t.Fatal(err)
	}
	if err := kc.Flush(); err != nil {
		t.Fatal(err)
	}
	js, _ := jetstream.New(kc)
	eventstest.EventuallyErr(t, 10*time.Second, func() error {
		st, err := js.Stream(ctx, keycloak.CaptureStream)
		if err != nil {
			return err
		}
		if n := st.CachedInfo().State.Msgs; n != 2 {
			return fmt.Errorf("%s holds %d events, want the 2 published while signoff was down", keycloak.CaptureStream, n)
		}
		return nil
	})
	if _, toks := notes.snapshot(); len(toks) != 0 {
		t.Fatalf("tokens before the restart: %+v", toks)
	}

	startApp(t, cfg, notes)
	c.waitCompleted(kcLogoutID(t, "logout.json"), 20*time.Second)
	c.waitCompleted(kcLogoutID(t, "session_expired.json"), 20*time.Second)
	if len(tokensFor(notes, kcSIDA)) != 1 || len(tokensFor(notes, kcSIDB)) != 1 {
		_, toks := notes.snapshot()
		t.Errorf("tokens after the restart: %+v", toks)
	}
	// The capture stream is a work queue: acknowledged events are gone.
	eventstest.EventuallyErr(t, 10*time.Second, func() error {
		st, err := js.Stream(ctx, keycloak.CaptureStream)
		if err != nil {
			return err
		}
		if n := st.CachedInfo().State.Msgs; n != 0 {
			return fmt.Errorf("%s still holds %d events", keycloak.CaptureStream, n)
		}
		return nil
	})
}

// TestKeycloakBridgeListenerStream: with the listener in JetStream mode
// (KEYCLOAK_NATS_JETSTREAM=true), its own stream already captures the
// subject; the bridge consumes that stream instead of creating one, from
// the events published after its first start.
func TestKeycloakBridgeListenerStream(t *testing.T) {
	url := startNATS(t)
	kc := connect(t, url)
	js, err := jetstream.New(kc)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	const listenerStream = "keycloak-client-event-stream" // the name keycloak-nats gives it
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: listenerStream, Subjects: []string{"keycloak.event.client.>"}}); err != nil {
		t.Fatal(err)
	}
	// History from before signoff was configured: not replayed.
	if _, err := js.Publish(ctx, kcSubject(kcRealm, "success", "web-app", "LOGIN"), kcSample(t, "login_bob.json")); err != nil {
		t.Fatal(err)
	}
	notes := newTestRP(t, "notes", "ES256")
	cfg := kcConfig(t, notes)
	cfg.NATS.URL = url
	a := startApp(t, cfg, notes)
	if a.keycloak.user.Stream() != listenerStream {
		t.Fatalf("bridge consumes %q, want the listener's stream", a.keycloak.user.Stream())
	}
	for _, s := range []struct{ sample, typ string }{{"login.json", "LOGIN"}, {"logout.json", "LOGOUT"}} {
		m := &nats.Msg{Subject: kcSubject(kcRealm, "success", "web-app", s.typ), Data: kcSample(t, s.sample)}
		if _, err := js.PublishMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	c := newClient(t, connect(t, url))
	c.waitCompleted(kcLogoutID(t, "logout.json"), 20*time.Second)
	if toks := tokensFor(notes, kcSIDA); len(toks) != 1 {
		t.Errorf("tokens for alice: %+v", toks)
	}
	if n := len(c.received(events.SubjectSessionJoined)); n != 1 {
		t.Errorf("%d joins, want 1 (bob's login predates the bridge)", n)
	}
}

// TestKeycloakListenerAsIdPUser: on the embedded server exposed with
// nats.listen, the listener logs in as a user with role idp, which may
// publish on bridges.keycloak.subject besides signoff's IdP subjects; an
// observer may not.
func TestKeycloakListenerAsIdPUser(t *testing.T) {
	notes := newTestRP(t, "notes", "ES256")
	cfg := kcConfig(t, notes)
	dir := t.TempDir()
	for _, u := range []string{"keycloak", "watcher"} {
		if err := os.WriteFile(filepath.Join(dir, u+".pw"), []byte(u+"-secret\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg.NATS.Listen = "127.0.0.1:0"
	cfg.NATS.Users = []config.NATSUser{{Name: "keycloak", PasswordFile: filepath.Join(dir, "keycloak.pw"), Role: "idp"},
		{Name: "watcher", PasswordFile: filepath.Join(dir, "watcher.pw"), Role: "observer"}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a := startApp(t, cfg, notes)
	url := a.Bus().ClientURL()
	login := func(user string) *nats.Conn {
		errs := make(chan error, 1)
		nc, err := nats.Connect(url, nats.UserInfo(user, user+"-secret"),
			nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
				select {
				case errs <- err:
				default:
				}
			}))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(nc.Close)
		return nc
	}
	watcher := login("watcher")
	if err := watcher.Publish(kcSubject(kcRealm, "success", "web-app", "LOGIN"), kcSample(t, "login_bob.json")); err != nil {
		t.Fatal(err)
	}
	watcher.Flush()
	kc := login("keycloak")
	for _, s := range []struct{ sample, typ string }{{"login.json", "LOGIN"}, {"logout.json", "LOGOUT"}} {
		if err := kc.Publish(kcSubject(kcRealm, "success", "web-app", s.typ), kcSample(t, s.sample)); err != nil {
			t.Fatal(err)
		}
	}
	if err := kc.Flush(); err != nil {
		t.Fatal(err)
	}
	c := appClient(t, a)
	c.waitCompleted(kcLogoutID(t, "logout.json"), 20*time.Second)
	if toks := tokensFor(notes, kcSIDA); len(toks) != 1 {
		t.Errorf("tokens for alice: %+v", toks)
	}
	if n := len(c.received(events.SubjectSessionJoined)); n != 1 {
		t.Errorf("%d joins, want 1: the observer's publish must be refused", n)
	}
}

// TestKeycloakBridgeSurvivesSIGKILL: Keycloak keeps publishing logins on
// core NATS while signoff (a child process on an external NATS) is killed
// with SIGKILL mid-stream and started again. Every login becomes exactly
// one session.joined: nothing lost (captured while signoff was dead,
// redelivered once unacknowledged) and nothing stored twice (Nats-Msg-Id).
func TestKeycloakBridgeSurvivesSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("fault test")
	}
	url := startNATS(t)
	notes := newTestRP(t, "notes", "ES256")
	s := newChildSetup(t, []*testRP{notes}, childOptions{deadline: 10 * time.Second, natsURL: url,
		extra: "bridges:\n  keycloak:\n    realm: " + kcRealm + "\n    clients: {web-app: notes}\n"})
	ch := s.start(t)
	kc := connect(t, url)
	c := newClient(t, connect(t, url))
	const n = 1500
	publish := func(from, to int) {
		for i := from; i < to; i++ {
			sid := fmt.Sprintf("sess-%05d", i)
			ev := fmt.Appendf(nil, `{"id":"kill-%d","time":1795084013000,"type":"LOGIN","realmId":%q,"clientId":"web-app","userId":"user-%d","sessionId":%q,"details":{"username":"u%d"}}`,
				i, kcRealm, i, sid, i)
			if err := kc.Publish(kcSubject(kcRealm, "success", "web-app", "LOGIN"), ev); err != nil {
				t.Fatal(err)
			}
		}
		if err := kc.Flush(); err != nil {
			t.Fatal(err)
		}
	}
	joins := func() (total int, distinct int) {
		stored, err := c.stored(events.SubjectSessionJoined)
		if err != nil {
			t.Fatal(err)
		}
		ids := map[string]bool{}
		for _, b := range stored {
			j, err := events.Decode[events.SessionJoined](b)
			if err != nil {
				t.Fatal(err)
			}
			ids[j.SessionID] = true
		}
		return len(stored), len(ids)
	}
	publish(0, n/2)
	// Kill it while it is translating.
	eventstest.EventuallyErr(t, 30*time.Second, func() error {
		if total, _ := joins(); total < 50 {
			return fmt.Errorf("%d joins so far", total)
		}
		return nil
	})
	ch.kill()
	killedAt, _ := joins()
	publish(n/2, n) // while signoff is dead
	s.start(t)
	eventstest.EventuallyErr(t, 90*time.Second, func() error {
		if total, distinct := joins(); distinct != n {
			return fmt.Errorf("%d distinct sessions joined of %d (%d stored)", distinct, n, total)
		}
		return nil
	})
	if total, _ := joins(); total != n {
		t.Errorf("%d session.joined stored for %d logins: duplicates", total, n)
	}
	t.Logf("killed after %d of %d joins were stored", killedAt, n)
}

// TestKeycloakAdminEvents: with bridges.keycloak.admin_subject, an admin's
// deletion of alice's session ends that session, and an admin's "Sign out"
// of bob ends all of bob's sessions, both with initiator admin.
func TestKeycloakAdminEvents(t *testing.T) {
	notes := newTestRP(t, "notes", "ES256")
	cfg := kcConfig(t, notes)
	cfg.Bridges.Keycloak.AdminSubject = "keycloak.event.admin.>"
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a := startApp(t, cfg, notes)
	if a.keycloak.admin == nil || a.keycloak.admin.Stream() != keycloak.AdminCaptureStream {
		t.Fatalf("admin bridge %+v", a.keycloak.admin)
	}
	c := appClient(t, a)
	for _, s := range []string{"login.json", "login_bob.json"} {
		if err := c.nc.Publish(kcSubject(kcRealm, "success", "web-app", "LOGIN"), kcSample(t, s)); err != nil {
			t.Fatal(err)
		}
	}
	c.nc.Flush()
	eventstest.EventuallyErr(t, 20*time.Second, func() error {
		if n := len(c.received(events.SubjectSessionJoined)); n != 2 {
			return fmt.Errorf("%d joins", n)
		}
		return nil
	})
	// keycloak-nats: keycloak.event.admin.<realm>.<result>.<resourceType>.<operation>
	for _, s := range []struct{ sample, subject string }{
		{"admin_session_delete.json", "keycloak.event.admin." + kcRealm + ".success.user_session.delete"},
		{"admin_user_logout.json", "keycloak.event.admin." + kcRealm + ".success.user.action"},
		{"admin_user_update.json", "keycloak.event.admin." + kcRealm + ".success.user.update"},
	} {
		if err := c.nc.Publish(s.subject, kcSample(t, s.sample)); err != nil {
			t.Fatal(err)
		}
	}
	c.nc.Flush()
	for _, s := range []string{"admin_session_delete.json", "admin_user_logout.json"} {
		done := c.waitCompleted(kcLogoutID(t, s), 20*time.Second)
		if done.Outcome != events.StatusComplete || len(done.Participants) != 1 || done.Participants[0].Outcome != events.OutcomeSucceeded {
			t.Errorf("%s: completed %+v", s, done)
		}
	}
	if len(tokensFor(notes, kcSIDA)) != 1 || len(tokensFor(notes, kcSIDB)) != 1 {
		_, toks := notes.snapshot()
		t.Errorf("tokens: %+v", toks)
	}
	for _, m := range c.received(events.SubjectLogoutRequested) {
		r, err := events.Decode[events.LogoutRequested](m.Data())
		if err != nil {
			t.Fatal(err)
		}
		if r.Initiator != events.InitiatorAdmin {
			t.Errorf("logout.requested %+v, want initiator admin", r)
		}
	}
	eventstest.EventuallyErr(t, 10*time.Second, func() error {
		if st := a.keycloak.admin.Stats(); st.Logouts != 2 || st.IgnoredType != 1 {
			return fmt.Errorf("admin bridge stats %+v", st)
		}
		return nil
	})
}
