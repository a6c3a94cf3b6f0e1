package store

import (
	"database/sql"
	"net/url"
)

// basePragmas are the connection pragmas of every sqlite file of signoff:
// a 10 s busy timeout, the WAL journal (readers do not block the writer)
// and synchronous NORMAL (durable at each checkpoint, not each commit).
var basePragmas = []string{"busy_timeout(10000)", "journal_mode(WAL)", "synchronous(NORMAL)"}

// sqliteDSN is the DSN of the sqlite file at path with basePragmas and
// pragmas, and _txlock=immediate when immediate is set.
func sqliteDSN(path string, immediate bool, pragmas []string) string {
	q := url.Values{}
	for _, p := range append(append([]string{}, basePragmas...), pragmas...) {
		q.Add("_pragma", p)
	}
	if immediate {
		q.Set("_txlock", "immediate")
	}
	return "file:" + path + "?" + q.Encode()
}

// OpenWriter opens the writer of the sqlite file at path, with basePragmas
// and pragmas: one connection, kept open, whose transactions begin
// IMMEDIATE so that a transaction never fails on a lock upgrade.
func OpenWriter(path string, pragmas ...string) (*sql.DB, error) {
	w, err := sql.Open("sqlite", sqliteDSN(path, true, pragmas))
	if err != nil {
		return nil, err
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	return w, nil
}

// OpenReaders opens a pool of 4 reader connections to the sqlite file at
// path, with basePragmas and pragmas.
func OpenReaders(path string, pragmas ...string) (*sql.DB, error) {
	r, err := sql.Open("sqlite", sqliteDSN(path, false, pragmas))
	if err != nil {
		return nil, err
	}
	r.SetMaxOpenConns(4)
	return r, nil
}
