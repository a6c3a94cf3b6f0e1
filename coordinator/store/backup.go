package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"os"
)

// Backup writes a consistent copy of the database to path with `VACUUM
// INTO` (SQLite "VACUUM INTO", https://sqlite.org/lang_vacuum.html#vacuuminto)
// on a read connection, so the writer is not stopped, fsyncs it and returns
// the progress table of the copy: partition → applied stream sequence. The
// copy is compact, holds no WAL, and opens with Open. A file already at path
// (a leftover of an interrupted backup) is removed first: VACUUM INTO
// refuses to overwrite.
func (s *Store) Backup(ctx context.Context, path string) (applied map[int]uint64, err error) {
	if err := s.vacuumReader(ctx, path); err != nil {
		return nil, fmt.Errorf("store: backup to %s: %w", path, err)
	}
	db, err := OpenReadOnly(path)
	if err != nil {
		return nil, fmt.Errorf("store: backup to %s: %w", path, err)
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT partition, applied_seq FROM progress`)
	if err != nil {
		return nil, fmt.Errorf("store: progress of backup %s: %w", path, err)
	}
	defer rows.Close()
	applied = map[int]uint64{}
	for rows.Next() {
		var p int
		var seq int64
		if err := rows.Scan(&p, &seq); err != nil {
			return nil, fmt.Errorf("store: progress of backup %s: %w", path, err)
		}
		applied[p] = uint64(seq)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: progress of backup %s: %w", path, err)
	}
	return applied, nil
}

// vacuumReader runs vacuumInto on a connection of the reader pool: they
// are query_only, which SQLite applies to VACUUM INTO as well, so the
// connection is pinned, made writable for the copy and made read-only again
// (or discarded when that fails).
func (s *Store) vacuumReader(ctx context.Context, path string) error {
	conn, err := s.r.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `PRAGMA query_only = 0`); err != nil {
		return err
	}
	verr := vacuumInto(ctx, conn, path)
	if _, err := conn.ExecContext(context.Background(), `PRAGMA query_only = 1`); err != nil {
		conn.Raw(func(any) error { return driver.ErrBadConn })
		return errors.Join(verr, err)
	}
	return verr
}

// execer is a *sql.DB or *sql.Conn.
type execer interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
}

// vacuumInto copies the database behind db to path (removing a leftover
// first) and fsyncs the copy: SQLite does not sync the output of VACUUM
// INTO.
func vacuumInto(ctx context.Context, db execer, path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove leftover: %w", err)
	}
	if _, err := db.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		os.Remove(path)
		return err
	}
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("sync: %w", err)
	}
	return f.Close()
}

// VacuumInto is vacuumInto for the other sqlite files of signoff (the
// route index of coordinator/partition): a consistent, fsynced copy of the
// database behind db at path.
func VacuumInto(ctx context.Context, db *sql.DB, path string) error { return vacuumInto(ctx, db, path) }

// OpenReadOnly opens the sqlite file at path for reading only, without
// creating it, for inspecting a backup or snapshot.
func OpenReadOnly(path string) (*sql.DB, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, err
	}
	q := url.Values{}
	q.Set("mode", "ro")
	q.Add("_pragma", "busy_timeout(10000)")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, nil
}
