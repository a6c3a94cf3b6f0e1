// Package store keeps the coordinator's state in one sqlite file: the
// session registry, the sagas with their participants, and the transactional
// outbox of events still to publish.
//
// Writes go through a single writer connection (`_txlock=immediate`, WAL)
// and are group-committed: Update calls that arrive while a transaction is
// being written are batched into the next one, each inside its own
// SAVEPOINT, so one failing update rolls back alone while the batch shares a
// single fsync. Reads use a separate pool of read-only connections.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/signoff/signoff/coordinator/watch"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// ErrClosed is returned by Update after Close.
var ErrClosed = errors.New("store: closed")

// maxBatch bounds the number of updates group-committed in one transaction.
const maxBatch = 256

const schema = `
CREATE TABLE IF NOT EXISTS sessions (
	session_id   TEXT NOT NULL,
	rp_id        TEXT NOT NULL,
	subject      TEXT NOT NULL,
	sid          TEXT NOT NULL DEFAULT '',
	saml         TEXT NOT NULL DEFAULT '',
	joined_at    INTEGER NOT NULL,
	expires_at   INTEGER,
	last_active  INTEGER NOT NULL,
	expiry_at    INTEGER,
	expiry_logout_id TEXT NOT NULL DEFAULT '',
	PRIMARY KEY (session_id, rp_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sessions_subject ON sessions(subject);
CREATE TABLE IF NOT EXISTS settings (
	key   TEXT PRIMARY KEY,
	value INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sagas (
	logout_id        TEXT PRIMARY KEY,
	status           TEXT NOT NULL,
	initiator        TEXT NOT NULL,
	scope            TEXT NOT NULL,
	session_id       TEXT NOT NULL DEFAULT '',
	subject          TEXT NOT NULL DEFAULT '',
	initiating_rp_id TEXT NOT NULL DEFAULT '',
	reason           TEXT NOT NULL DEFAULT '',
	return_to        TEXT NOT NULL DEFAULT '',
	requested_at     INTEGER NOT NULL,
	deadline         INTEGER NOT NULL,
	finished_at      INTEGER
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sagas_running_deadline ON sagas(deadline) WHERE status = 'running';
CREATE TABLE IF NOT EXISTS participants (
	logout_id   TEXT NOT NULL REFERENCES sagas(logout_id) ON DELETE CASCADE,
	pos         INTEGER NOT NULL,
	rp_id       TEXT NOT NULL,
	name        TEXT NOT NULL,
	adapter     TEXT NOT NULL,
	state       TEXT NOT NULL,
	detail      TEXT NOT NULL DEFAULT '',
	attempts    INTEGER NOT NULL DEFAULT 0,
	sessions    TEXT NOT NULL,
	finished_at INTEGER,
	PRIMARY KEY (logout_id, rp_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS outbox (
	seq        INTEGER PRIMARY KEY AUTOINCREMENT,
	id         TEXT NOT NULL UNIQUE,
	subject    TEXT NOT NULL,
	payload    BLOB NOT NULL,
	created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS progress (
	partition   INTEGER PRIMARY KEY,
	applied_seq INTEGER NOT NULL
);
`

// Store is the sqlite state of one coordinator partition.
type Store struct {
	w, r    *sql.DB
	ops     chan *op
	done    chan struct{}
	closeMu sync.RWMutex
	closed  bool
	wg      sync.WaitGroup
	stmts   map[string]*sql.Stmt

	// OnOutbox, when set before the first Update, is called after every
	// commit that added outbox rows (the relay uses it as a wake-up).
	OnOutbox func()

	// changes is told the logout ids of every committed saga change
	// (Changes); notify, when set, too (Options.Notify).
	changes *watch.Hub
	notify  func(logoutIDs ...string)
}

// Options are the hooks of a store, given to OpenWith.
type Options struct {
	// Changes is the hub told the logout ids of every committed saga
	// change; nil gives the store a hub of its own. Several stores (the
	// partitions of one instance) may share one.
	Changes *watch.Hub
	// Notify, when set, is also told the changed logout ids after each
	// commit (scale-out: the change feed to the other instances).
	Notify func(logoutIDs ...string)
	// OnOutbox, when set, is called after every commit that added outbox
	// rows (the relay's wake-up).
	OnOutbox func()
}

// Changes is the hub that is notified, after each commit, of the logouts
// whose saga (status or a participant's outcome) the commit changed: the
// logout page and the SAML endpoints wait on it instead of polling. A
// rolled-back change notifies nobody.
func (s *Store) Changes() *watch.Hub { return s.changes }

type op struct {
	ctx  context.Context
	fn   func(*Tx) error
	errc chan error
}

// Open opens (creating if needed) the sqlite database at path and starts
// its writer.
func Open(path string) (*Store, error) { return OpenWith(path, Options{}) }

// OpenWith is Open with the store's hooks.
func OpenWith(path string, o Options) (*Store, error) {
	w, err := OpenWriter(path, "foreign_keys(1)")
	if err != nil {
		return nil, fmt.Errorf("store: open %s: %w", path, err)
	}
	if _, err := w.Exec(schema); err != nil {
		w.Close()
		return nil, fmt.Errorf("store: create schema in %s: %w", path, err)
	}
	if err := migrate(w); err != nil {
		w.Close()
		return nil, fmt.Errorf("store: migrate %s: %w", path, err)
	}
	r, err := OpenReaders(path, "foreign_keys(1)", "query_only(1)")
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("store: open reader %s: %w", path, err)
	}
	s := &Store{w: w, r: r, ops: make(chan *op, maxBatch), done: make(chan struct{}), stmts: map[string]*sql.Stmt{},
		changes: o.Changes, notify: o.Notify, OnOutbox: o.OnOutbox}
	if s.changes == nil {
		s.changes = &watch.Hub{}
	}
	all, err := allStatements()
	if err != nil {
		w.Close()
		r.Close()
		return nil, err
	}
	for name, query := range all {
		st, err := w.Prepare(query)
		if err != nil {
			s.w.Close()
			s.r.Close()
			return nil, fmt.Errorf("store: prepare %s: %w", name, err)
		}
		s.stmts[name] = st
	}
	s.wg.Add(1)
	go s.writer()
	return s, nil
}

// sessionColumns are the columns added to the sessions table after its first
// release, with their definitions for ALTER TABLE ... ADD COLUMN.
var sessionColumns = []struct{ name, def string }{
	// expiry_at is when the IdP session ends on its own (session.joined
	// expires_at, session.expiration, session.inactivity), in Unix
	// nanoseconds; NULL when nothing applies or once the sweeper has queued
	// its logout. Every row of a session holds the same value.
	{"expiry_at", "INTEGER"},
	// expiry_logout_id is the logout the expiry sweeper queued for the
	// row; non-empty rows are never swept again.
	{"expiry_logout_id", "TEXT NOT NULL DEFAULT ''"},
}

// migrate brings a database created by an earlier version up to the
// current schema: it adds the missing columns of sessions (PRAGMA
// table_info tells which), the index of the expiry sweeper and the NameID
// index of SP-initiated SAML logout. It is
// idempotent and runs in one transaction.
func migrate(w *sql.DB) error {
	tx, err := w.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	rows, err := tx.Query(`PRAGMA table_info(sessions)`)
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for rows.Next() {
		var (
			cid, notNull, pk int
			name, typ        string
			dflt             sql.NullString
		)
		if err := rows.Scan(&cid, &name, &typ, &notNull, &dflt, &pk); err != nil {
			rows.Close()
			return err
		}
		have[name] = true
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return err
	}
	added := false
	for _, c := range sessionColumns {
		if have[c.name] {
			continue
		}
		if _, err := tx.Exec(`ALTER TABLE sessions ADD COLUMN ` + c.name + ` ` + c.def); err != nil {
			return fmt.Errorf("add column sessions.%s: %w", c.name, err)
		}
		added = true
	}
	if added {
		// Sessions registered before the sweeper existed get their expiry_at
		// when the coordinator first applies its expiry policy.
		if _, err := tx.Exec(`DELETE FROM settings WHERE key IN ('` + keyExpiration + `', '` + keyInactivity + `')`); err != nil {
			return err
		}
	}
	// Outbox rows carry NATS headers (the integrity tag of dispatches, the
	// reason of poisoned messages) since Backbone v2.
	if err := addColumn(tx, "outbox", "headers", "TEXT NOT NULL DEFAULT ''"); err != nil {
		return err
	}
	// The logout page's browser steps (steps.go), in Unix nanoseconds.
	if err := addColumn(tx, "participants", "step_at", "INTEGER"); err != nil {
		return err
	}
	// The Shared Signals adapter's poll queue and stream states (ssfout.go).
	if err := migrateSSFOut(tx); err != nil {
		return err
	}
	if _, err := tx.Exec(`CREATE INDEX IF NOT EXISTS sessions_expiry ON sessions(expiry_at) WHERE expiry_at IS NOT NULL`); err != nil {
		return err
	}
	// The upstream session a session rests on (session.joined upstream),
	// and the index of the logouts that name it (upstream.go).
	if err := addColumn(tx, "sessions", "upstream_id", "TEXT NOT NULL DEFAULT ''"); err != nil {
		return err
	}
	if err := addColumn(tx, "sessions", "upstream_sid", "TEXT NOT NULL DEFAULT ''"); err != nil {
		return err
	}
	if _, err := tx.Exec(`CREATE INDEX IF NOT EXISTS sessions_upstream ON sessions(upstream_id, upstream_sid) WHERE upstream_id != ''`); err != nil {
		return err
	}
	// SP-initiated SAML logout looks sessions up by rp_id and NameID.
	if _, err := tx.Exec(`CREATE INDEX IF NOT EXISTS sessions_saml_name_id ON sessions(rp_id, json_extract(saml, '$.name_id')) WHERE saml != ''`); err != nil {
		return err
	}
	// The scope chooser lists the applications of one IdP session with
	// the state its logouts left them in (SessionApps).
	if _, err := tx.Exec(`CREATE INDEX IF NOT EXISTS sagas_session ON sagas(session_id) WHERE session_id != ''`); err != nil {
		return err
	}
	// The jti memory of the Shared Signals receiver (ssfjti.go).
	if err := migrateSSF(tx); err != nil {
		return err
	}
	return tx.Commit()
}

// Close stops the writer after the updates already queued, and closes the
// database.
func (s *Store) Close() error {
	s.closeMu.Lock()
	if s.closed {
		s.closeMu.Unlock()
		return nil
	}
	s.closed = true
	close(s.ops)
	s.closeMu.Unlock()
	s.wg.Wait()
	for _, st := range s.stmts {
		st.Close()
	}
	return errors.Join(s.r.Close(), s.w.Close())
}

// Update runs fn inside a write transaction and returns once it is
// committed. fn must not keep tx. An error returned by fn rolls back only
// fn's own changes.
func (s *Store) Update(ctx context.Context, fn func(tx *Tx) error) error {
	o := &op{ctx: ctx, fn: fn, errc: make(chan error, 1)}
	s.closeMu.RLock()
	if s.closed {
		s.closeMu.RUnlock()
		return ErrClosed
	}
	select {
	case s.ops <- o:
	case <-ctx.Done():
		s.closeMu.RUnlock()
		return ctx.Err()
	}
	s.closeMu.RUnlock()
	select {
	case err := <-o.errc:
		return err
	case <-ctx.Done():
		// The update may still commit; callers are idempotent.
		return ctx.Err()
	}
}

func (s *Store) writer() {
	defer s.wg.Done()
	batch := make([]*op, 0, maxBatch)
	for o := range s.ops {
		batch = append(batch[:0], o)
	fill:
		for len(batch) < maxBatch {
			select {
			case o, ok := <-s.ops:
				if !ok {
					break fill
				}
				batch = append(batch, o)
			default:
				break fill
			}
		}
		s.commit(batch)
	}
}

func (s *Store) commit(batch []*op) {
	errs := make([]error, len(batch))
	outbox := false
	var after []func()
	err := func() error {
		ctx := context.Background()
		tx, err := s.w.BeginTx(ctx, nil)
		if err != nil {
			return fmt.Errorf("store: begin: %w", err)
		}
		if len(batch) == 1 {
			// Alone in its transaction: no savepoint needed, a failure
			// rolls the whole transaction back.
			o := batch[0]
			if errs[0] = o.ctx.Err(); errs[0] == nil {
				t := &Tx{tx: tx, s: s, ctx: ctx}
				if errs[0] = o.fn(t); errs[0] != nil {
					tx.Rollback()
					return nil
				}
				outbox, after = t.outbox, t.after
			}
			if err := tx.Commit(); err != nil {
				return fmt.Errorf("store: commit: %w", err)
			}
			return nil
		}
		for i, o := range batch {
			if err := o.ctx.Err(); err != nil {
				errs[i] = err
				continue
			}
			if _, err := tx.Exec("SAVEPOINT op"); err != nil {
				tx.Rollback()
				return fmt.Errorf("store: savepoint: %w", err)
			}
			t := &Tx{tx: tx, s: s, ctx: ctx}
			if errs[i] = o.fn(t); errs[i] != nil {
				if _, err := tx.Exec("ROLLBACK TO op"); err != nil {
					tx.Rollback()
					return fmt.Errorf("store: rollback to savepoint: %w", err)
				}
			} else {
				outbox = outbox || t.outbox
				after = append(after, t.after...)
			}
			if _, err := tx.Exec("RELEASE op"); err != nil {
				tx.Rollback()
				return fmt.Errorf("store: release savepoint: %w", err)
			}
		}
		if err := tx.Commit(); err != nil {
			return fmt.Errorf("store: commit: %w", err)
		}
		return nil
	}()
	if err == nil {
		for _, f := range after {
			f()
		}
	}
	for i, o := range batch {
		if err != nil {
			o.errc <- err
		} else {
			o.errc <- errs[i]
		}
	}
	if err == nil && outbox && s.OnOutbox != nil {
		s.OnOutbox()
	}
}

// addColumn adds column name to table unless it exists.
func addColumn(tx *sql.Tx, table, name, def string) error {
	var n int
	if err := tx.QueryRow(`SELECT COUNT(*) FROM pragma_table_info(?) WHERE name = ?`, table, name).Scan(&n); err != nil {
		return fmt.Errorf("inspect %s: %w", table, err)
	}
	if n > 0 {
		return nil
	}
	if _, err := tx.Exec(`ALTER TABLE ` + table + ` ADD COLUMN ` + name + ` ` + def); err != nil {
		return fmt.Errorf("add column %s.%s: %w", table, name, err)
	}
	return nil
}

func nanos(t time.Time) int64 { return t.UnixNano() }

func fromNanos(n int64) time.Time { return time.Unix(0, n).UTC() }

func nullNanos(t time.Time) sql.NullInt64 {
	if t.IsZero() {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixNano(), Valid: true}
}

func fromNull(n sql.NullInt64) time.Time {
	if !n.Valid {
		return time.Time{}
	}
	return fromNanos(n.Int64)
}

// Apply runs fns in order inside one write transaction, each in its own
// SAVEPOINT, and records seq as the applied stream sequence of partition in
// the same transaction. When fn i fails, its changes are rolled back and
// failed(tx, i, err) is called in the transaction: it may record the failure
// (a poisoned event) and return nil to go on, or return an error to abort
// the whole transaction, which Apply then returns with nothing applied.
// This is the unit of the ordered intake: a batch of events and the
// progress marker commit together, so a crash can neither lose an applied
// event nor apply one twice.
func (s *Store) Apply(ctx context.Context, partition int, seq uint64, fns []func(*Tx) error, failed func(t *Tx, i int, err error) error) error {
	return s.Update(ctx, func(t *Tx) error {
		for i, fn := range fns {
			if fn == nil {
				continue
			}
			if _, err := t.stmt("savepointEv").Exec(); err != nil {
				return fmt.Errorf("store: savepoint: %w", err)
			}
			kept := len(t.after)
			ferr := fn(t)
			if ferr != nil {
				t.after = t.after[:kept]
				if _, err := t.stmt("rollbackEv").Exec(); err != nil {
					return fmt.Errorf("store: rollback to savepoint: %w", err)
				}
			}
			if _, err := t.stmt("releaseEv").Exec(); err != nil {
				return fmt.Errorf("store: release savepoint: %w", err)
			}
			if ferr != nil {
				if err := failed(t, i, ferr); err != nil {
					return err
				}
			}
		}
		return t.SetApplied(partition, seq)
	})
}

// allStatements merges the store's named SQL statements, each prepared once
// by Open: the sessions, sagas and outbox of tx.go, the expiry of
// expiry.go and the upstream lookups of upstream.go. A name given twice is
// an error, so that no file silently replaces another's statement.
func allStatements() (map[string]string, error) {
	all := map[string]string{}
	for _, set := range []map[string]string{statements, expiryStatements, upstreamStatements} {
		for name, query := range set {
			if _, dup := all[name]; dup {
				return nil, fmt.Errorf("store: statement %s declared twice", name)
			}
			all[name] = query
		}
	}
	return all, nil
}
