package store

import (
	"context"
	"database/sql"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/signoff/signoff/events"
)

// expiryOf returns expiry_at of every row of session, by rp_id (zero for
// NULL).
func expiryOf(t *testing.T, s *Store, session string) map[string]time.Time {
	t.Helper()
	rows, err := s.r.Query(`SELECT rp_id, expiry_at FROM sessions WHERE session_id = ?`, session)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]time.Time{}
	for rows.Next() {
		var rp string
		var at sql.NullInt64
		if err := rows.Scan(&rp, &at); err != nil {
			t.Fatal(err)
		}
		out[rp] = fromNull(at)
	}
	return out
}

func join(session, rp string, at time.Time, expires ...time.Time) events.SessionJoined {
	ev := events.SessionJoined{SessionID: session, RPID: rp, Subject: "alice", OccurredAt: at, OIDC: &events.OIDCSession{SID: rp + "-sid"}}
	if len(expires) > 0 {
		ev.ExpiresAt = &expires[0]
	}
	return ev
}

func TestExpiryAt(t *testing.T) {
	never := time.Time{}
	tests := []struct {
		name   string
		policy ExpiryPolicy
		steps  func(tx *Tx) error
		want   map[string]time.Time // by rp_id
	}{
		{"nothing applies", ExpiryPolicy{},
			func(tx *Tx) error { return tx.JoinSession(join("s", "wiki", t0)) },
			map[string]time.Time{"wiki": never}},
		{"expires_at only", ExpiryPolicy{},
			func(tx *Tx) error { return tx.JoinSession(join("s", "wiki", t0, t0.Add(time.Hour))) },
			map[string]time.Time{"wiki": t0.Add(time.Hour)}},
		{"expiration only", ExpiryPolicy{Expiration: 12 * time.Hour},
			func(tx *Tx) error { return tx.JoinSession(join("s", "wiki", t0)) },
			map[string]time.Time{"wiki": t0.Add(12 * time.Hour)}},
		{"inactivity only", ExpiryPolicy{Inactivity: 30 * time.Minute},
			func(tx *Tx) error { return tx.JoinSession(join("s", "wiki", t0)) },
			map[string]time.Time{"wiki": t0.Add(30 * time.Minute)}},
		{"all three, expires_at earliest", ExpiryPolicy{Expiration: 12 * time.Hour, Inactivity: 30 * time.Minute},
			func(tx *Tx) error { return tx.JoinSession(join("s", "wiki", t0, t0.Add(10*time.Minute))) },
			map[string]time.Time{"wiki": t0.Add(10 * time.Minute)}},
		{"all three, inactivity earliest", ExpiryPolicy{Expiration: 12 * time.Hour, Inactivity: 30 * time.Minute},
			func(tx *Tx) error { return tx.JoinSession(join("s", "wiki", t0, t0.Add(2*time.Hour))) },
			map[string]time.Time{"wiki": t0.Add(30 * time.Minute)}},
		{"all three, expiration earliest", ExpiryPolicy{Expiration: time.Hour, Inactivity: 2 * time.Hour},
			func(tx *Tx) error { return tx.JoinSession(join("s", "wiki", t0, t0.Add(3*time.Hour))) },
			map[string]time.Time{"wiki": t0.Add(time.Hour)}},
		{"activity pushes the inactivity deadline", ExpiryPolicy{Inactivity: 30 * time.Minute},
			func(tx *Tx) error {
				return run(tx.JoinSession(join("s", "wiki", t0)), tx.TouchSession("s", t0.Add(20*time.Minute)))
			},
			map[string]time.Time{"wiki": t0.Add(50 * time.Minute)}},
		{"late activity event does not pull it back", ExpiryPolicy{Inactivity: 30 * time.Minute},
			func(tx *Tx) error {
				return run(tx.JoinSession(join("s", "wiki", t0)), tx.TouchSession("s", t0.Add(20*time.Minute)), tx.TouchSession("s", t0.Add(5*time.Minute)))
			},
			map[string]time.Time{"wiki": t0.Add(50 * time.Minute)}},
		{"activity does not push the absolute lifetime", ExpiryPolicy{Expiration: time.Hour, Inactivity: 30 * time.Minute},
			func(tx *Tx) error {
				return run(tx.JoinSession(join("s", "wiki", t0)), tx.TouchSession("s", t0.Add(45*time.Minute)))
			},
			map[string]time.Time{"wiki": t0.Add(time.Hour)}},
		{"activity does not push expires_at", ExpiryPolicy{Inactivity: 30 * time.Minute},
			func(tx *Tx) error {
				return run(tx.JoinSession(join("s", "wiki", t0, t0.Add(40*time.Minute))), tx.TouchSession("s", t0.Add(20*time.Minute)))
			},
			map[string]time.Time{"wiki": t0.Add(40 * time.Minute)}},
		{"activity touches every RP of the session", ExpiryPolicy{Inactivity: 30 * time.Minute},
			func(tx *Tx) error {
				return run(tx.JoinSession(join("s", "wiki", t0)), tx.JoinSession(join("s", "chat", t0)), tx.TouchSession("s", t0.Add(time.Hour)))
			},
			map[string]time.Time{"wiki": t0.Add(90 * time.Minute), "chat": t0.Add(90 * time.Minute)}},
		{"the lifetime counts from the first join of the session", ExpiryPolicy{Expiration: time.Hour},
			func(tx *Tx) error {
				return run(tx.JoinSession(join("s", "wiki", t0)), tx.JoinSession(join("s", "chat", t0.Add(30*time.Minute))))
			},
			map[string]time.Time{"wiki": t0.Add(time.Hour), "chat": t0.Add(time.Hour)}},
		{"a join to another RP is activity of the session", ExpiryPolicy{Inactivity: 30 * time.Minute},
			func(tx *Tx) error {
				return run(tx.JoinSession(join("s", "wiki", t0)), tx.JoinSession(join("s", "chat", t0.Add(20*time.Minute))))
			},
			map[string]time.Time{"wiki": t0.Add(50 * time.Minute), "chat": t0.Add(50 * time.Minute)}},
		{"the earliest expires_at of the session counts", ExpiryPolicy{},
			func(tx *Tx) error {
				return run(tx.JoinSession(join("s", "wiki", t0, t0.Add(2*time.Hour))), tx.JoinSession(join("s", "chat", t0, t0.Add(time.Hour))))
			},
			map[string]time.Time{"wiki": t0.Add(time.Hour), "chat": t0.Add(time.Hour)}},
		{"a re-join updates expires_at but not the first join", ExpiryPolicy{Expiration: 2 * time.Hour},
			func(tx *Tx) error {
				return run(tx.JoinSession(join("s", "wiki", t0, t0.Add(time.Hour))), tx.JoinSession(join("s", "wiki", t0.Add(90*time.Minute), t0.Add(3*time.Hour))))
			},
			map[string]time.Time{"wiki": t0.Add(2 * time.Hour)}},
		{"expires_at beyond 2262 means never", ExpiryPolicy{},
			func(tx *Tx) error {
				return tx.JoinSession(join("s", "wiki", t0, time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC)))
			},
			map[string]time.Time{"wiki": never}},
		{"other sessions are not touched", ExpiryPolicy{Inactivity: 30 * time.Minute},
			func(tx *Tx) error {
				return run(tx.JoinSession(join("s", "wiki", t0)), tx.JoinSession(join("other", "wiki", t0)), tx.TouchSession("other", t0.Add(time.Hour)))
			},
			map[string]time.Time{"wiki": t0.Add(30 * time.Minute)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := open(t)
			err := s.Update(context.Background(), func(tx *Tx) error {
				if _, err := tx.SetExpiryPolicy(tt.policy); err != nil {
					return err
				}
				return tt.steps(tx)
			})
			if err != nil {
				t.Fatal(err)
			}
			if got := expiryOf(t, s, "s"); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("expiry_at = %v, want %v", got, tt.want)
			}
		})
	}
}

// run returns the first error of steps already run in order.
func run(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func TestSetExpiryPolicyRecomputesOnlyOnChange(t *testing.T) {
	s, _ := open(t)
	ctx := context.Background()
	set := func(p ExpiryPolicy) bool {
		t.Helper()
		var changed bool
		if err := s.Update(ctx, func(tx *Tx) (err error) { changed, err = tx.SetExpiryPolicy(p); return }); err != nil {
			t.Fatal(err)
		}
		return changed
	}
	if !set(ExpiryPolicy{}) {
		t.Error("first policy on a new database: changed = false")
	}
	if set(ExpiryPolicy{}) {
		t.Error("same policy again: changed = true")
	}
	must(t, s.Update(ctx, func(tx *Tx) error {
		return run(tx.JoinSession(join("s", "wiki", t0)), tx.JoinSession(join("q", "wiki", t0)), tx.QueueExpiry("q", "L-q"))
	}))
	if got := expiryOf(t, s, "s")["wiki"]; !got.IsZero() {
		t.Fatalf("expiry_at without policy = %v", got)
	}
	if !set(ExpiryPolicy{Expiration: time.Hour}) {
		t.Error("new expiration: changed = false")
	}
	if got := expiryOf(t, s, "s")["wiki"]; !got.Equal(t0.Add(time.Hour)) {
		t.Errorf("expiry_at after enabling expiration = %v, want %v", got, t0.Add(time.Hour))
	}
	if got := expiryOf(t, s, "q")["wiki"]; !got.IsZero() {
		t.Errorf("queued session got expiry_at %v back", got)
	}
	if !set(ExpiryPolicy{Expiration: time.Hour, Inactivity: 10 * time.Minute}) {
		t.Error("new inactivity: changed = false")
	}
	if got := expiryOf(t, s, "s")["wiki"]; !got.Equal(t0.Add(10 * time.Minute)) {
		t.Errorf("expiry_at after enabling inactivity = %v, want %v", got, t0.Add(10*time.Minute))
	}
	if !set(ExpiryPolicy{}) || !expiryOf(t, s, "s")["wiki"].IsZero() {
		t.Error("disabling both did not clear expiry_at")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestQueueExpiry(t *testing.T) {
	s, _ := open(t)
	ctx := context.Background()
	must(t, s.Update(ctx, func(tx *Tx) error {
		if _, err := tx.SetExpiryPolicy(ExpiryPolicy{Inactivity: 30 * time.Minute}); err != nil {
			return err
		}
		return run(tx.JoinSession(join("s", "wiki", t0)), tx.JoinSession(join("s", "chat", t0)))
	}))
	var es ExpiringSession
	must(t, s.Update(ctx, func(tx *Tx) (err error) {
		var ok bool
		if es, ok, err = tx.ExpiringSession("s"); err == nil && !ok {
			t.Error("ExpiringSession: not found")
		}
		return err
	}))
	want := ExpiringSession{SessionID: "s", Subject: "alice", JoinedAt: t0, LastActive: t0, ExpiryAt: t0.Add(30 * time.Minute)}
	if es != want {
		t.Errorf("ExpiringSession = %+v, want %+v", es, want)
	}
	must(t, s.Update(ctx, func(tx *Tx) error { return tx.QueueExpiry("s", "L1") }))
	if ids, _ := s.ExpiredSessions(ctx, t0.Add(time.Hour), 10); len(ids) != 0 {
		t.Errorf("queued session still listed: %v", ids)
	}
	// Activity does not bring a queued session back; it stays registered.
	must(t, s.Update(ctx, func(tx *Tx) error { return tx.TouchSession("s", t0.Add(time.Minute)) }))
	if got := expiryOf(t, s, "s"); !got["wiki"].IsZero() || !got["chat"].IsZero() || len(got) != 2 {
		t.Errorf("after activity: %v, want two rows without expiry_at", got)
	}
	must(t, s.Update(ctx, func(tx *Tx) (err error) {
		es, _, err = tx.ExpiringSession("s")
		return err
	}))
	if !es.ExpiryAt.IsZero() {
		t.Errorf("ExpiringSession of a queued session: expiry %v", es.ExpiryAt)
	}
	// An RP joining later is swept on its own.
	must(t, s.Update(ctx, func(tx *Tx) error { return tx.JoinSession(join("s", "mail", t0.Add(2*time.Minute))) }))
	if got := expiryOf(t, s, "s")["mail"]; !got.Equal(t0.Add(32 * time.Minute)) {
		t.Errorf("late RP expiry_at = %v", got)
	}
	if ids, _ := s.ExpiredSessions(ctx, t0.Add(time.Hour), 10); !reflect.DeepEqual(ids, []string{"s"}) {
		t.Errorf("ExpiredSessions = %v, want [s] for the late RP", ids)
	}
}

func TestExpiredSessions(t *testing.T) {
	s, _ := open(t)
	ctx := context.Background()
	must(t, s.Update(ctx, func(tx *Tx) error {
		return run(
			tx.JoinSession(join("late", "wiki", t0, t0.Add(3*time.Minute))),
			tx.JoinSession(join("early", "wiki", t0, t0.Add(time.Minute))),
			tx.JoinSession(join("early", "chat", t0, t0.Add(time.Minute))),
			tx.JoinSession(join("middle", "wiki", t0, t0.Add(2*time.Minute))),
			tx.JoinSession(join("future", "wiki", t0, t0.Add(time.Hour))),
			tx.JoinSession(join("never", "wiki", t0)),
		)
	}))
	tests := []struct {
		now   time.Time
		limit int
		want  []string
	}{
		{t0, 10, nil},
		{t0.Add(time.Minute), 10, []string{"early"}},
		{t0.Add(5 * time.Minute), 10, []string{"early", "middle", "late"}},
		{t0.Add(5 * time.Minute), 3, []string{"early", "middle"}}, // limit counts RP sessions: early has two
		{t0.Add(5 * time.Minute), 1, []string{"early"}},
	}
	for _, tt := range tests {
		got, err := s.ExpiredSessions(ctx, tt.now, tt.limit)
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("ExpiredSessions(t0+%v, %d) = %v, %v; want %v", tt.now.Sub(t0), tt.limit, got, err, tt.want)
		}
	}

	// The query walks the partial index; no table scan, no sort.
	p := strings.ReplaceAll(strings.TrimSuffix(queryPlan(t, s, expiredSessionsQuery, nanos(t0), 10), "\n"), "\n", "; ")
	t.Logf("plan: %s", p)
	if !strings.Contains(p, "INDEX sessions_expiry") || strings.Contains(p, "TEMP B-TREE") {
		t.Errorf("query plan %q, want a search of index sessions_expiry without sorting", p)
	}
}

// oldSchema is the sessions table as released before expiry_at existed.
const oldSchema = `
CREATE TABLE sessions (
	session_id   TEXT NOT NULL,
	rp_id        TEXT NOT NULL,
	subject      TEXT NOT NULL,
	sid          TEXT NOT NULL DEFAULT '',
	saml         TEXT NOT NULL DEFAULT '',
	joined_at    INTEGER NOT NULL,
	expires_at   INTEGER,
	last_active  INTEGER NOT NULL,
	PRIMARY KEY (session_id, rp_id)
) WITHOUT ROWID;
CREATE INDEX sessions_subject ON sessions(subject);
INSERT INTO sessions(session_id, rp_id, subject, sid, joined_at, expires_at, last_active) VALUES
	('old', 'wiki', 'alice', 'w1', ?, ?, ?),
	('old2', 'wiki', 'bob', 'w2', ?, NULL, ?);
`

func TestMigrateDatabaseWithoutExpiryColumns(t *testing.T) {
	path := filepath.Join(t.TempDir(), "old.db")
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(oldSchema, nanos(t0), nanos(t0.Add(time.Hour)), nanos(t0), nanos(t0), nanos(t0)); err != nil {
		t.Fatal(err)
	}
	db.Close()

	for i := range 2 { // the second open finds everything in place
		s, err := Open(path)
		if err != nil {
			t.Fatalf("open %d: %v", i, err)
		}
		cols := map[string]bool{}
		rows, err := s.r.Query(`SELECT name FROM pragma_table_info('sessions')`)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var name string
			rows.Scan(&name)
			cols[name] = true
		}
		rows.Close()
		if !cols["expiry_at"] || !cols["expiry_logout_id"] {
			t.Fatalf("open %d: columns %v, want expiry_at and expiry_logout_id", i, cols)
		}
		var idx string
		if err := s.r.QueryRow(`SELECT sql FROM sqlite_master WHERE type = 'index' AND name = 'sessions_expiry'`).Scan(&idx); err != nil ||
			!strings.Contains(idx, "WHERE expiry_at IS NOT NULL") {
			t.Errorf("open %d: index sessions_expiry = %q, %v", i, idx, err)
		}
		if n, _ := s.SessionCount(context.Background(), ""); n != 2+i { // + "new" of the first round
			t.Errorf("open %d: %d sessions, want the 2 old ones (and one new)", i, n)
		}
		var changed bool
		must(t, s.Update(context.Background(), func(tx *Tx) (err error) {
			changed, err = tx.SetExpiryPolicy(ExpiryPolicy{Inactivity: 2 * time.Hour})
			return err
		}))
		if changed != (i == 0) {
			t.Errorf("open %d: policy changed = %v", i, changed)
		}
		// The old rows got their expiry_at: expires_at, or the inactivity deadline.
		if got := expiryOf(t, s, "old")["wiki"]; !got.Equal(t0.Add(time.Hour)) {
			t.Errorf("open %d: old row expiry_at = %v, want its expires_at", i, got)
		}
		if got := expiryOf(t, s, "old2")["wiki"]; !got.Equal(t0.Add(2 * time.Hour)) {
			t.Errorf("open %d: old row expiry_at = %v, want last_active + 2h", i, got)
		}
		// And new joins work on the migrated table.
		must(t, s.Update(context.Background(), func(tx *Tx) error { return tx.JoinSession(join("new", "wiki", t0)) }))
		s.Close()
	}
}
