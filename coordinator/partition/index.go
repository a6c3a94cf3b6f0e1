package partition

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	"github.com/signoff/signoff/coordinator/store"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// Kind is the kind of key a route index row maps to a partition.
type Kind string

// The kinds of keys of the route index (scale-out design, piece 2).
const (
	// KindSession keys are session ids (session.joined session_id).
	KindSession Kind = "session"
	// KindLogout keys are logout ids (logout.requested logout_id).
	KindLogout Kind = "logout"
	// KindUpstream keys are Key(upstream id, upstream sid).
	KindUpstream Kind = "upstream"
	// KindRPSID keys are Key(rp_id, OIDC sid) (OpenID Connect Back-Channel
	// Logout 1.0 §2.4 sid of a logout token received from an RP).
	KindRPSID Kind = "rpsid"
	// KindNameID keys are Key(rp_id, SAML NameID) (SAML 2.0 Core §3.7.1
	// LogoutRequest NameID of SP-initiated logout).
	KindNameID Kind = "nameid"
)

// Key joins the parts of a composite key with NUL, which none of the parts
// (ids, sids, NameIDs of JSON events) can contain unescaped.
func Key(parts ...string) string { return strings.Join(parts, "\x00") }

const indexSchema = `
CREATE TABLE IF NOT EXISTS routes (
	kind TEXT NOT NULL,
	key  TEXT NOT NULL,
	part INTEGER NOT NULL,
	seq  INTEGER NOT NULL,
	PRIMARY KEY (kind, key)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS routes_kind_seq ON routes(kind, seq);
CREATE TABLE IF NOT EXISTS settings (
	key   TEXT PRIMARY KEY,
	value INTEGER NOT NULL
) WITHOUT ROWID;
`

const (
	qLookupBefore = `SELECT part FROM routes WHERE kind = ? AND key = ? AND seq < ?`
	qLookup       = `SELECT part FROM routes WHERE kind = ? AND key = ?`
	qPut          = `INSERT OR IGNORE INTO routes(kind, key, part, seq) VALUES(?,?,?,?)`
	qSetPosition  = `INSERT INTO settings(key, value) VALUES('position', ?) ON CONFLICT(key) DO UPDATE SET value = MAX(value, excluded.value)`
	qPosition     = `SELECT value FROM settings WHERE key = 'position'`
)

// Index is the route index (scale-out design, piece 2): rows (kind, key) →
// (partition, seq), seq being the stream sequence of the event that added
// the row, in its own sqlite file. Every instance keeps the whole index and
// its intake maintains it in stream order, so that all instances route an
// event alike; the index has its own applied position.
type Index struct {
	path string
	w, r *sql.DB
	// lookupBefore and put are prepared on w for IndexTx.
	lookupBefore, put, setPosition *sql.Stmt
}

// OpenIndex opens (creating if needed) the route index at path for
// partitions partitions. The number is stored when the file is created; an
// index created for another number is an error naming cluster.partitions,
// since every route in it would be wrong.
func OpenIndex(path string, partitions int) (*Index, error) {
	if partitions < 1 {
		return nil, fmt.Errorf("partition: cluster.partitions must be at least 1, got %d", partitions)
	}
	w, err := store.OpenWriter(path)
	if err != nil {
		return nil, fmt.Errorf("partition: open index %s: %w", path, err)
	}
	fail := func(err error) (*Index, error) {
		w.Close()
		return nil, err
	}
	if _, err := w.Exec(indexSchema); err != nil {
		return fail(fmt.Errorf("partition: create index schema in %s: %w", path, err))
	}
	if err := checkPartitions(w, path, partitions); err != nil {
		return fail(err)
	}
	// Readers are not query_only: Backup runs VACUUM INTO on one of them,
	// which query_only forbids. Nothing else in this file writes with them.
	r, err := store.OpenReaders(path)
	if err != nil {
		return fail(fmt.Errorf("partition: open index reader %s: %w", path, err))
	}
	x := &Index{path: path, w: w, r: r}
	for _, p := range []struct {
		st    **sql.Stmt
		query string
	}{{&x.lookupBefore, qLookupBefore}, {&x.put, qPut}, {&x.setPosition, qSetPosition}} {
		if *p.st, err = w.Prepare(p.query); err != nil {
			x.Close()
			return nil, fmt.Errorf("partition: prepare index statement: %w", err)
		}
	}
	return x, nil
}

// checkPartitions stores partitions in a new index, or checks it against
// the stored one.
func checkPartitions(w *sql.DB, path string, partitions int) error {
	tx, err := w.Begin()
	if err != nil {
		return fmt.Errorf("partition: index %s: %w", path, err)
	}
	defer tx.Rollback()
	if _, err := tx.Exec(`INSERT OR IGNORE INTO settings(key, value) VALUES('partitions', ?)`, partitions); err != nil {
		return fmt.Errorf("partition: index %s: store partitions: %w", path, err)
	}
	var stored int
	if err := tx.QueryRow(`SELECT value FROM settings WHERE key = 'partitions'`).Scan(&stored); err != nil {
		return fmt.Errorf("partition: index %s: read partitions: %w", path, err)
	}
	if stored != partitions {
		return fmt.Errorf("partition: route index %s was built for cluster.partitions = %d, but cluster.partitions is %d: the number of partitions is fixed when the cluster is created", path, stored, partitions)
	}
	return tx.Commit()
}

// Path is the file of the index.
func (x *Index) Path() string { return x.path }

// Close closes the index.
func (x *Index) Close() error {
	var errs []error
	for _, st := range []*sql.Stmt{x.lookupBefore, x.put, x.setPosition} {
		if st != nil {
			errs = append(errs, st.Close())
		}
	}
	if x.r != nil {
		errs = append(errs, x.r.Close())
	}
	return errors.Join(append(errs, x.w.Close())...)
}

// IndexTx is the view of the index inside Update.
type IndexTx struct {
	ctx               context.Context
	lookupBefore, put *sql.Stmt
}

// Update runs fn in one write transaction of the index and records seq as
// the index position in the same transaction (unless the stored position
// is already larger: the position never moves back). An error of fn rolls
// everything back, position included. The intake calls it once per batch
// with the stream sequence of the batch's last message. fn must not call
// Prune or Update (the index has one writer connection: they would wait
// for fn forever); Index.Lookup is fine but does not see fn's rows.
func (x *Index) Update(ctx context.Context, seq uint64, fn func(tx *IndexTx) error) error {
	tx, err := x.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("partition: index begin: %w", err)
	}
	defer tx.Rollback()
	t := &IndexTx{ctx: ctx, lookupBefore: tx.StmtContext(ctx, x.lookupBefore), put: tx.StmtContext(ctx, x.put)}
	if err := fn(t); err != nil {
		return err
	}
	if _, err := tx.StmtContext(ctx, x.setPosition).Exec(int64(seq)); err != nil {
		return fmt.Errorf("partition: index position %d: %w", seq, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("partition: index commit: %w", err)
	}
	return nil
}

// Lookup returns the partition of (kind, key) as the index stood before
// stream sequence before: only rows added by events with seq < before
// count, so that replaying the stream from any position routes each event
// as it was routed the first time.
func (t *IndexTx) Lookup(kind Kind, key string, before uint64) (part int, ok bool, err error) {
	err = t.lookupBefore.QueryRowContext(t.ctx, string(kind), key, int64(before)).Scan(&part)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("partition: look up %s route: %w", kind, err)
	}
	return part, true, nil
}

// Put records that (kind, key) lives in partition part since stream
// sequence seq. The first writer wins: a key already routed keeps its
// partition (a later event naming the same session id cannot move it).
func (t *IndexTx) Put(kind Kind, key string, part int, seq uint64) error {
	if _, err := t.put.ExecContext(t.ctx, string(kind), key, part, int64(seq)); err != nil {
		return fmt.Errorf("partition: put %s route: %w", kind, err)
	}
	return nil
}

// Lookup returns the partition of (kind, key) with every committed row
// visible, for reads outside the intake (the web handlers).
func (x *Index) Lookup(ctx context.Context, kind Kind, key string) (int, bool, error) {
	var part int
	err := x.r.QueryRowContext(ctx, qLookup, string(kind), key).Scan(&part)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, fmt.Errorf("partition: look up %s route: %w", kind, err)
	}
	return part, true, nil
}

// Position is the stream sequence up to which the index has been
// maintained (0: none yet).
func (x *Index) Position(ctx context.Context) (uint64, error) {
	return readPosition(ctx, x.r)
}

func readPosition(ctx context.Context, db *sql.DB) (uint64, error) {
	var seq int64
	err := db.QueryRowContext(ctx, qPosition).Scan(&seq)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("partition: index position: %w", err)
	}
	return uint64(seq), nil
}

// Prune removes the rows of kind added before stream sequence olderThanSeq
// and returns how many (the garbage collection of the logout routes of
// finished logouts).
func (x *Index) Prune(ctx context.Context, kind Kind, olderThanSeq uint64) (int, error) {
	res, err := x.w.ExecContext(ctx, `DELETE FROM routes WHERE kind = ? AND seq < ?`, string(kind), int64(olderThanSeq))
	if err != nil {
		return 0, fmt.Errorf("partition: prune %s routes: %w", kind, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fmt.Errorf("partition: prune %s routes: %w", kind, err)
	}
	return int(n), nil
}

// Backup writes a consistent copy of the index to path (VACUUM INTO, a
// leftover file at path is replaced) and returns the position of the copy.
// With it the index is a Backuper for Snapshots.
func (x *Index) Backup(ctx context.Context, path string) (position uint64, err error) {
	if err := store.VacuumInto(ctx, x.r, path); err != nil {
		return 0, fmt.Errorf("partition: back up index to %s: %w", path, err)
	}
	db, err := store.OpenReadOnly(path)
	if err != nil {
		return 0, fmt.Errorf("partition: back up index to %s: %w", path, err)
	}
	defer db.Close()
	return readPosition(ctx, db)
}
