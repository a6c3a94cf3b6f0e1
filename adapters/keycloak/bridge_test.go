package keycloak

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/signoff/signoff/coordinator/bus/natstest"
	"github.com/signoff/signoff/events"
	"github.com/signoff/signoff/events/eventstest"
)

// natsServer runs an embedded nats-server with JetStream on a random
// loopback port.
func natsServer(t *testing.T) string {
	t.Helper()
	return natstest.Embedded(t, true).ClientURL()
}

func connect(t *testing.T, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	return natstest.Connect(t, url)
}

// recorder is a Publisher that stores what it is given once fail has run
// out, and fails (or, with hang, blocks until its context ends) before.
type recorder struct {
	mu    sync.Mutex
	fail  int
	hang  bool
	calls int
	msgs  []*nats.Msg
}

func (r *recorder) PublishAll(ctx context.Context, msgs []*nats.Msg) error {
	r.mu.Lock()
	r.calls++
	hang := r.hang
	if r.fail > 0 {
		r.fail--
		r.mu.Unlock()
		return errors.New("nats: no responders available for request")
	}
	r.mu.Unlock()
	if hang {
		<-ctx.Done()
		return ctx.Err()
	}
	r.mu.Lock()
	r.msgs = append(r.msgs, msgs...)
	r.mu.Unlock()
	return nil
}

func (r *recorder) stored() []*nats.Msg {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*nats.Msg(nil), r.msgs...)
}

// sessionEvents returns a LOGIN and a LOGOUT of session i.
func sessionEvents(i int) (login, logout []byte) {
	sid := fmt.Sprintf("sess-%04d", i)
	login = fmt.Appendf(nil, `{"id":"login-%d","time":1795084013000,"type":"LOGIN","realmId":%q,"clientId":"web-app","userId":"user-%d","sessionId":%q,"details":{}}`, i, realmID, i, sid)
	logout = fmt.Appendf(nil, `{"id":"logout-%d","time":1795084014000,"type":"LOGOUT","realmId":%q,"clientId":"web-app","userId":"user-%d","sessionId":%q,"details":{}}`, i, realmID, i, sid)
	return login, logout
}

func startBridge(t *testing.T, js jetstream.JetStream, pub Publisher) *Bridge {
	t.Helper()
	b, err := Start(context.Background(), Config{JS: js, Subject: "keycloak.event.client.>", Mapping: testMapping,
		Publisher: pub, Batch: 64})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Stop)
	return b
}

// TestBridgeKeepsOrderThroughFailures: 200 sessions' logins and logouts,
// interleaved, published on core NATS while the signoff stream refuses
// the first publishes: every event is stored once, in the order Keycloak
// published them (each logout after its login), and the capture stream is
// empty at the end (everything acknowledged).
func TestBridgeKeepsOrderThroughFailures(t *testing.T) {
	url := natsServer(t)
	nc, js := connect(t, url)
	rec := &recorder{fail: 3}
	b := startBridge(t, js, rec)
	var want []string
	for i := range 200 {
		login, _ := sessionEvents(i)
		nc.Publish("keycloak.event.client.r.success.web-app.login", login)
		want = append(want, EventID(mustParse(t, login)))
		if i >= 1 {
			_, prev := sessionEvents(i - 1)
			nc.Publish("keycloak.event.client.r.success.web-app.logout", prev)
			want = append(want, EventID(mustParse(t, prev)))
		}
	}
	nc.Flush()
	eventstest.EventuallyErr(t, 20*time.Second, func() error {
		if n := len(rec.stored()); n != len(want) {
			return fmt.Errorf("%d events stored, want %d", n, len(want))
		}
		return nil
	})
	for i, m := range rec.stored() {
		if got := m.Header.Get(jetstream.MsgIDHeader); got != want[i] {
			t.Fatalf("event %d: Nats-Msg-Id %s, want %s (order lost)", i, got, want[i])
		}
		wantSubject := events.SubjectSessionJoined
		if i > 0 && i%2 == 0 {
			wantSubject = events.SubjectLogoutRequested
		}
		if m.Subject != wantSubject {
			t.Fatalf("event %d on %s, want %s", i, m.Subject, wantSubject)
		}
	}
	if st := b.Stats(); st.Joins != 200 || st.Logouts != 199 || st.Poisoned != 0 {
		t.Errorf("stats %+v", st)
	}
	if rec.calls <= 3 {
		t.Errorf("%d publish calls: the failures were not retried", rec.calls)
	}
	eventstest.EventuallyErr(t, 10*time.Second, func() error {
		s, err := js.Stream(context.Background(), CaptureStream)
		if err != nil {
			return err
		}
		if n := s.CachedInfo().State.Msgs; n != 0 {
			return fmt.Errorf("%s holds %d events after they were all stored", CaptureStream, n)
		}
		return nil
	})
}

// TestBridgeStoppedMidPublishHandsEventsBack: a bridge whose publish hangs
// is stopped; the next one receives the unacknowledged events after the
// AckWait (10 s), in their order.
func TestBridgeStoppedMidPublishHandsEventsBack(t *testing.T) {
	url := natsServer(t)
	nc, js := connect(t, url)
	hung := &recorder{hang: true}
	first := startBridge(t, js, hung)
	login, logout := sessionEvents(1)
	nc.Publish("keycloak.event.client.r.success.web-app.login", login)
	nc.Publish("keycloak.event.client.r.success.web-app.logout", logout)
	nc.Flush()
	eventstest.EventuallyErr(t, 10*time.Second, func() error {
		hung.mu.Lock()
		defer hung.mu.Unlock()
		if hung.calls == 0 {
			return errors.New("the first bridge has not tried to publish yet")
		}
		return nil
	})
	first.Stop()
	rec := &recorder{}
	startBridge(t, js, rec)
	eventstest.EventuallyErr(t, 30*time.Second, func() error {
		if n := len(rec.stored()); n != 2 {
			return fmt.Errorf("%d events stored by the second bridge, want 2", n)
		}
		return nil
	})
	if m := rec.stored(); m[0].Subject != events.SubjectSessionJoined || m[1].Subject != events.SubjectLogoutRequested {
		t.Errorf("order: %s, %s", m[0].Subject, m[1].Subject)
	}
}

// TestBridgeNamedStreamMustExist: bridges.keycloak.stream names a stream
// that is not there: Start fails naming it.
func TestBridgeNamedStreamMustExist(t *testing.T) {
	_, js := connect(t, natsServer(t))
	_, err := Start(context.Background(), Config{JS: js, Subject: "keycloak.event.client.>", Stream: "KC_EVENTS",
		Mapping: testMapping, Publisher: &recorder{}})
	if err == nil || !errors.Is(err, jetstream.ErrStreamNotFound) {
		t.Fatalf("err = %v, want stream not found", err)
	}
	if want := "bridges.keycloak.stream KC_EVENTS"; !strings.Contains(err.Error(), want) {
		t.Errorf("err = %v, want it to name %q", err, want)
	}
}

func mustParse(t *testing.T, b []byte) Event {
	t.Helper()
	ev, err := Parse(b)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

// TestBridgeWarnsOncePerOtherRealm: events of another realm are ignored
// and counted, and each such realm is named in one WARN, so that a realm
// configured by name where events carry its id is noticed.
func TestBridgeWarnsOncePerOtherRealm(t *testing.T) {
	nc, js := connect(t, natsServer(t))
	logs := &natstest.LogBuffer{}
	b, err := Start(context.Background(), Config{JS: js, Subject: "keycloak.event.client.>", Mapping: testMapping,
		Publisher: &recorder{}, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Stop)
	for _, realm := range []string{"master", "master", "other", "master"} {
		nc.Publish("keycloak.event.client.x.success.web-app.login",
			fmt.Appendf(nil, `{"id":"%s","type":"LOGIN","realmId":%q,"clientId":"web-app","userId":"u","sessionId":"s"}`, realm, realm))
	}
	nc.Flush()
	eventstest.EventuallyErr(t, 10*time.Second, func() error {
		if st := b.Stats(); st.IgnoredRealm != 4 {
			return fmt.Errorf("stats %+v", st)
		}
		return nil
	})
	var warns []string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "level=WARN") && strings.Contains(l, "another realm") {
			warns = append(warns, l)
		}
	}
	if len(warns) != 2 || !strings.Contains(warns[0], "realmId=master") || !strings.Contains(warns[1], "realmId=other") ||
		!strings.Contains(warns[0], "configured_realm="+realmID) {
		t.Errorf("WARN lines:\n%s", strings.Join(warns, "\n"))
	}
}

// TestBridgeSubjectChanged: a restart with another subject moves the
// capture stream and the durable consumer to it.
func TestBridgeSubjectChanged(t *testing.T) {
	nc, js := connect(t, natsServer(t))
	first := startBridge(t, js, &recorder{})
	first.Stop()
	rec := &recorder{}
	b, err := Start(context.Background(), Config{JS: js, Subject: "kc.user.>", Mapping: testMapping, Publisher: rec})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Stop)
	login, _ := sessionEvents(7)
	nc.Publish("kc.user.login", login)
	nc.Flush()
	eventstest.EventuallyErr(t, 10*time.Second, func() error {
		if n := len(rec.stored()); n != 1 {
			return fmt.Errorf("%d events stored from the new subject", n)
		}
		return nil
	})
	info, err := js.Consumer(context.Background(), CaptureStream, Consumer)
	if err != nil {
		t.Fatal(err)
	}
	if f := info.CachedInfo().Config.FilterSubject; f != "kc.user.>" {
		t.Errorf("consumer filter %q", f)
	}
}
