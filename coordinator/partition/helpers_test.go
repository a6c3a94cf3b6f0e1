package partition

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signoff/signoff/coordinator/bus"
	"github.com/signoff/signoff/coordinator/saga"
	"github.com/signoff/signoff/coordinator/store"
	"github.com/signoff/signoff/events"
)

var t0 = time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)

// startJS starts an embedded nats-server with JetStream in a temporary
// directory.
func startJS(t testing.TB) jetstream.JetStream {
	t.Helper()
	b, err := bus.Start(context.Background(), bus.Config{StoreDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b.JetStream()
}

func newSnapshots(t testing.TB, js jetstream.JetStream) *Snapshots {
	t.Helper()
	s, err := NewSnapshots(context.Background(), js, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func openStore(t testing.TB, path string) *store.Store {
	t.Helper()
	s, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// joinedEvent is the i-th session.joined of a realistic mix: OIDC RPs
// with a sid, a SAML RP with a NameID, every fourth session resting on an
// upstream session, every other one with an absolute expiry.
func joinedEvent(i int) events.SessionJoined {
	sub := "user" + strconv.Itoa(i/3) + "@example.org"
	ev := events.SessionJoined{
		SessionID:  fmt.Sprintf("sess-%08d-9f8e7d6c5b4a", i/2),
		Subject:    sub,
		OccurredAt: t0.Add(time.Duration(i) * time.Millisecond),
	}
	switch i % 3 {
	case 0:
		ev.RPID = "wiki"
		ev.OIDC = &events.OIDCSession{SID: "wsid-" + strconv.Itoa(i)}
	case 1:
		ev.RPID = "chat"
		ev.OIDC = &events.OIDCSession{SID: "csid-" + strconv.Itoa(i)}
	default:
		ev.RPID = "payroll"
		ev.SAML = &events.SAMLSession{NameID: sub, Format: "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress", SessionIndex: "_idx" + strconv.Itoa(i)}
	}
	if i%4 == 0 {
		ev.Upstream = &events.Upstream{ID: "corp-idp", SID: "up-" + strconv.Itoa(i/4)}
	}
	if i%2 == 0 {
		exp := t0.Add(8 * time.Hour)
		ev.ExpiresAt = &exp
	}
	return ev
}

func sagaOf(i int) saga.Saga {
	id := fmt.Sprintf("logout-%06d", i)
	return saga.Saga{LogoutID: id, Status: saga.StatusRunning, Initiator: "user", Scope: "global",
		Subject: "user" + strconv.Itoa(i) + "@example.org", RequestedAt: t0, Deadline: t0.Add(30 * time.Second),
		Participants: []saga.Participant{
			{RPID: "wiki", Name: "Wiki", Adapter: "backchannel", State: saga.StatePending,
				Sessions: []events.DispatchSession{{SessionID: "s" + strconv.Itoa(i), OIDC: &events.OIDCSession{SID: "w" + strconv.Itoa(i)}}}},
			{RPID: "chat", Name: "Chat", Adapter: "backchannel", State: events.OutcomeFailed, Detail: "HTTP 400", Attempts: 1, FinishedAt: t0},
		}}
}

// fill applies sessions session.joined events and sagas sagas to s as
// partition part's intake would, in batches of 500, the last one at stream
// sequence applied (applied must exceed the number of batches).
func fill(t testing.TB, s *store.Store, part, sessions, sagas int, applied uint64) {
	t.Helper()
	ctx := context.Background()
	const batch = 500
	total := max(sessions, sagas)
	batches := uint64((total + batch - 1) / batch)
	for from := 0; from < total; from += batch {
		var fns []func(*store.Tx) error
		for i := from; i < from+batch; i++ {
			if i < sessions {
				ev := joinedEvent(i)
				fns = append(fns, func(tx *store.Tx) error { return tx.JoinSession(ev) })
			}
			if i < sagas {
				sg := sagaOf(i)
				fns = append(fns, func(tx *store.Tx) error { return tx.SaveSaga(sg) })
			}
		}
		seq := applied - batches + 1 + uint64(from/batch)
		if err := s.Apply(ctx, part, seq, fns, func(_ *store.Tx, i int, err error) error { return err }); err != nil {
			t.Fatal(err)
		}
	}
}

// dump reads every row of every table of the sqlite file at path, in
// primary key order, as text: two equal dumps are two equal databases.
func dump(t testing.TB, path string) map[string][]string {
	t.Helper()
	db, err := store.OpenReadOnly(path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	tables, err := column(db, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name`)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]string{}
	for _, table := range tables {
		rows, err := db.Query(`SELECT * FROM "` + table + `" ORDER BY 1, 2`)
		if err != nil {
			t.Fatal(err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatal(err)
			}
			out[table] = append(out[table], fmt.Sprintf("%q", vals))
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	return out
}

func column(db *sql.DB, query string) ([]string, error) {
	rows, err := db.Query(query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

func dbPath(t testing.TB, name string) string { return filepath.Join(t.TempDir(), name) }

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
