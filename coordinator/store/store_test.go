package store

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signoff/signoff/coordinator/saga"
	"github.com/signoff/signoff/events"
)

var t0 = time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)

func open(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "signoff.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func joined(session, rp, sub, sid string) events.SessionJoined {
	return events.SessionJoined{SessionID: session, RPID: rp, Subject: sub, OccurredAt: t0, OIDC: &events.OIDCSession{SID: sid}}
}

func TestSessionsBySessionAndSubject(t *testing.T) {
	s, _ := open(t)
	ctx := context.Background()
	err := s.Update(ctx, func(tx *Tx) error {
		for _, j := range []events.SessionJoined{joined("s1", "wiki", "alice", "w1"), joined("s1", "chat", "alice", "c1"),
			joined("s2", "wiki", "alice", "w2"), joined("s3", "wiki", "bob", "w3"), joined("s1", "wiki", "alice", "w1b")} {
			if err := tx.JoinSession(j); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		session, subject string
		want             int
	}{{"s1", "", 2}, {"", "alice", 3}, {"", "bob", 1}, {"nope", "", 0}}
	for _, tt := range tests {
		var got []saga.Session
		s.Update(ctx, func(tx *Tx) (err error) { got, err = tx.Sessions(tt.session, tt.subject); return })
		if len(got) != tt.want {
			t.Errorf("Sessions(%q,%q) = %d, want %d", tt.session, tt.subject, len(got), tt.want)
		}
		for _, g := range got {
			if g.RPID == "wiki" && g.SessionID == "s1" && g.OIDC.SID != "w1b" {
				t.Errorf("re-join did not update sid: %q", g.OIDC.SID)
			}
		}
	}
}

func TestSagaRoundTripAndOutbox(t *testing.T) {
	s, path := open(t)
	ctx := context.Background()
	sg := saga.Saga{LogoutID: "L1", Status: saga.StatusRunning, Initiator: "user", Scope: "global", Subject: "alice",
		RequestedAt: t0, Deadline: t0.Add(30 * time.Second),
		Participants: []saga.Participant{
			{RPID: "wiki", Name: "Wiki", Adapter: "backchannel", State: saga.StatePending, Sessions: []events.DispatchSession{{SessionID: "s1", OIDC: &events.OIDCSession{SID: "w1"}}}},
			{RPID: "chat", Name: "Chat", Adapter: "backchannel", State: events.OutcomeFailed, Detail: "HTTP 400", Attempts: 1, FinishedAt: t0},
		}}
	if err := s.Update(ctx, func(tx *Tx) error {
		if err := tx.SaveSaga(sg); err != nil {
			return err
		}
		return tx.AddOutbox("e1", "signoff.logout.dispatch.backchannel", []byte(`{}`), t0)
	}); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.Saga(ctx, "L1")
	if err != nil || !ok {
		t.Fatalf("Saga: %v %v", ok, err)
	}
	if got.Participants[0].Sessions[0].OIDC.SID != "w1" || got.Participants[1].Detail != "HTTP 400" || !got.Deadline.Equal(sg.Deadline) {
		t.Errorf("round trip: %+v", got)
	}
	running, _ := s.RunningSagas(ctx)
	expired, _ := s.ExpiredSagas(ctx, t0.Add(time.Minute), 10)
	notYet, _ := s.ExpiredSagas(ctx, t0, 10)
	if len(running) != 1 || len(expired) != 1 || len(notYet) != 0 {
		t.Errorf("running %v expired %v notYet %v", running, expired, notYet)
	}
	rows, _ := s.PendingOutbox(ctx, 10)
	if len(rows) != 1 || rows[0].ID != "e1" {
		t.Fatalf("outbox %v", rows)
	}
	if err := s.DeleteOutbox(ctx, []int64{rows[0].Seq}); err != nil {
		t.Fatal(err)
	}
	if rows, _ := s.PendingOutbox(ctx, 10); len(rows) != 0 {
		t.Errorf("outbox after delete: %v", rows)
	}
	// The file survives a reopen.
	s.Close()
	s2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if _, ok, _ := s2.Saga(ctx, "L1"); !ok {
		t.Error("saga lost after reopen")
	}
}

func TestFailedUpdateRollsBackAloneInItsBatch(t *testing.T) {
	s, _ := open(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make([]error, 50)
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Update(ctx, func(tx *Tx) error {
				if err := tx.JoinSession(joined(fmt.Sprintf("s%d", i), "wiki", "alice", "x")); err != nil {
					return err
				}
				if i%5 == 0 {
					return errors.New("boom")
				}
				return nil
			})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if (err != nil) != (i%5 == 0) {
			t.Errorf("update %d: err %v", i, err)
		}
	}
	n, err := s.SessionCount(ctx, "")
	if err != nil || n != 40 {
		t.Errorf("%d sessions stored, want 40 (the failing updates rolled back alone): %v", n, err)
	}
}

func TestClosed(t *testing.T) {
	s, _ := open(t)
	s.Close()
	if err := s.Update(context.Background(), func(*Tx) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("Update after Close: %v", err)
	}
}

// TestApplyBatch: a failing event rolls back alone and is recorded by the
// failure callback in the same transaction, the others commit with the
// position; a failure the callback does not accept aborts everything,
// position included.
func TestApplyBatch(t *testing.T) {
	st, _ := open(t)
	ctx := context.Background()
	join := func(session string) func(*Tx) error {
		return func(tx *Tx) error {
			return tx.JoinSession(events.SessionJoined{SessionID: session, Subject: "u", RPID: "wiki", OccurredAt: time.Now()})
		}
	}
	half := func(tx *Tx) error { // writes, then fails: must leave nothing
		if err := join("half")(tx); err != nil {
			return err
		}
		return errors.New("poisoned")
	}
	var failed []int
	err := st.Apply(ctx, 0, 7, []func(*Tx) error{join("a"), half, join("b")}, func(tx *Tx, i int, err error) error {
		failed = append(failed, i)
		return tx.AddOutbox("poison-1", "signoff.poison", []byte("x"), time.Now())
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(failed) != 1 || failed[0] != 1 {
		t.Errorf("failure callback for %v, want [1]", failed)
	}
	for session, want := range map[string]int{"a": 1, "b": 1, "half": 0} {
		if n, _ := st.SessionCount(ctx, session); n != want {
			t.Errorf("%s: %d sessions, want %d", session, n, want)
		}
	}
	if seq, _ := st.Applied(ctx, 0); seq != 7 {
		t.Errorf("applied %d, want 7", seq)
	}
	if rows, _ := st.PendingOutbox(ctx, 10); len(rows) != 1 || rows[0].ID != "poison-1" {
		t.Errorf("outbox %v, want the poison row", rows)
	}

	// A failure the callback refuses (transient) aborts the whole batch.
	err = st.Apply(ctx, 0, 9, []func(*Tx) error{join("c"), half}, func(*Tx, int, error) error { return errors.New("disk full") })
	if err == nil {
		t.Fatal("a refused failure did not abort the batch")
	}
	if n, _ := st.SessionCount(ctx, "c"); n != 0 {
		t.Error("the aborted batch left its first event applied")
	}
	if seq, _ := st.Applied(ctx, 0); seq != 7 {
		t.Errorf("applied %d after an aborted batch, want 7", seq)
	}
}

// TestAllStatementsHasEveryFilesStatements: Open prepares the statements of
// tx.go, expiry.go and upstream.go, merged explicitly (no init), each name
// once.
func TestAllStatementsHasEveryFilesStatements(t *testing.T) {
	all, err := allStatements()
	if err != nil {
		t.Fatal(err)
	}
	if want := len(statements) + len(expiryStatements) + len(upstreamStatements); len(all) != want {
		t.Errorf("%d statements, want %d", len(all), want)
	}
	for _, name := range []string{"joinSession", "sessionExpiry", "sessionsByUpstreamSID", "sessionsByUpstreamSub"} {
		if all[name] == "" {
			t.Errorf("statement %s missing", name)
		}
	}
}

// queryPlan returns SQLite's EXPLAIN QUERY PLAN of query with args, a
// detail a line: the tests of the lookups assert that they use their index.
func queryPlan(t *testing.T, s *Store, query string, args ...any) string {
	t.Helper()
	rows, err := s.r.QueryContext(context.Background(), "EXPLAIN QUERY PLAN "+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan strings.Builder
	for rows.Next() {
		var id, parent, notused int
		var detail string
		if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
			t.Fatal(err)
		}
		plan.WriteString(detail + "\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return plan.String()
}
