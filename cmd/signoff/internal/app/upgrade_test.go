package app

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/signoff/signoff/coordinator/bus"
	"github.com/signoff/signoff/coordinator/saga"
	"github.com/signoff/signoff/coordinator/store"
	"github.com/signoff/signoff/events"
	"github.com/signoff/signoff/events/eventstest"
)

// TestUpgradeFromPerSubjectConsumers starts signoff on the data of the
// version before Backbone v2: a stream with join 1, a logout of session 1,
// join 2 and a second logout of session 2. The old consumer of joins had
// applied both joins, the old consumer of logouts only the first logout
// (its saga is in the store and session 1 is gone), the old consumer of
// results nothing (so the intake starts at the very first event). The
// intake must not apply join 1 again (that would bring back a session its
// logout had ended), must apply the second logout, and must remove the
// old consumers once past them.
func TestUpgradeFromPerSubjectConsumers(t *testing.T) {
	rp := newTestRP(t, "wiki", "ES256")
	cfg := testConfig(t, 10*time.Second, rp)
	ctx := context.Background()

	// The earlier version's state.
	b, err := bus.Start(ctx, bus.Config{StoreDir: filepath.Join(cfg.DataDir, "nats")})
	if err != nil {
		t.Fatal(err)
	}
	js := b.JetStream()
	join := func(session, sid string) events.SessionJoined {
		return events.SessionJoined{EventID: uuid.NewString(), OccurredAt: time.Now().UTC(), SessionID: session, Subject: "alice", RPID: "wiki",
			OIDC: &events.OIDCSession{SID: sid}}
	}
	j1, j2 := join("sess-1", "sid-1"), join("sess-2", "sid-2")
	pub := func(subject string, ev events.Event) {
		p, err := events.Encode(ev)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := js.Publish(ctx, subject, p); err != nil {
			t.Fatal(err)
		}
	}
	pub(events.SubjectSessionJoined, j1)
	pub(events.SubjectLogoutRequested, events.LogoutRequested{EventID: uuid.NewString(), LogoutID: "L-old", OccurredAt: time.Now().UTC(),
		SessionID: "sess-1", Initiator: events.InitiatorUser, Scope: events.ScopeGlobal})
	pub(events.SubjectSessionJoined, j2)
	pub(events.SubjectLogoutRequested, events.LogoutRequested{EventID: uuid.NewString(), LogoutID: "L-new", OccurredAt: time.Now().UTC(),
		SessionID: "sess-2", Initiator: events.InitiatorUser, Scope: events.ScopeGlobal})
	legacy := func(name, subject string, ack int) {
		c, err := js.CreateOrUpdateConsumer(ctx, events.StreamName, jetstream.ConsumerConfig{Durable: name, FilterSubject: subject, AckPolicy: jetstream.AckExplicitPolicy})
		if err != nil {
			t.Fatal(err)
		}
		if ack == 0 {
			return
		}
		batch, err := c.Fetch(ack, jetstream.FetchMaxWait(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		for m := range batch.Messages() {
			if err := m.DoubleAck(ctx); err != nil {
				t.Fatal(err)
			}
		}
	}
	legacy("coordinator-session-joined", events.SubjectSessionJoined, 2)
	// (the old logout consumer acknowledged only the first logout)
	legacy("coordinator-logout-requested", events.SubjectLogoutRequested, 1)
	legacy("coordinator-logout-result", events.SubjectLogoutResult, 0)
	b.Close()
	st, err := store.Open(filepath.Join(cfg.DataDir, "signoff.db"))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Update(ctx, func(tx *store.Tx) error {
		// L-old ran to its end: session 1 is gone, session 2 registered.
		now := time.Now().UTC()
		if err := tx.SaveSaga(saga.Saga{LogoutID: "L-old", Status: saga.StatusComplete, Initiator: events.InitiatorUser, Scope: events.ScopeGlobal,
			SessionID: "sess-1", RequestedAt: now, Deadline: now.Add(time.Minute), FinishedAt: now}); err != nil {
			return err
		}
		return tx.JoinSession(j2)
	}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	// The new version.
	a := startApp(t, cfg, rp)
	c := appClient(t, a)
	done := c.waitCompleted("L-new", 15*time.Second)
	if done.Outcome != events.StatusComplete || len(done.Participants) != 1 || done.Participants[0].RPID != "wiki" {
		t.Fatalf("the logout the old version never applied: %+v", done)
	}
	_, toks := rp.snapshot()
	if len(toks) != 1 || toks[0].SID != "sid-2" || !toks[0].Valid {
		t.Fatalf("tokens %+v, want one valid for sid-2", toks)
	}
	if n, _ := a.Store().SessionCount(ctx, "sess-1"); n != 0 {
		t.Errorf("session 1 is registered again after its logout: join 1 was applied twice")
	}
	eventstest.EventuallyErr(t, 10*time.Second, func() error {
		for _, name := range []string{"coordinator-session-joined", "coordinator-logout-requested"} {
			if _, err := a.Bus().JetStream().Consumer(ctx, events.StreamName, name); !errors.Is(err, jetstream.ErrConsumerNotFound) {
				return errors.New(name + " still exists")
			}
		}
		return nil
	})
}
