package store

import (
	"context"
	"database/sql"
	"fmt"
	"os"
)

// Backup TEMPORARY (branch part has the real one).
func (s *Store) Backup(ctx context.Context, path string) (map[int]uint64, error) {
	os.Remove(path)
	if _, err := s.r.ExecContext(ctx, `VACUUM INTO ?`, path); err != nil {
		return nil, fmt.Errorf("store: backup: %w", err)
	}
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT partition, applied_seq FROM progress`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int]uint64{}
	for rows.Next() {
		var p int
		var v int64
		if err := rows.Scan(&p, &v); err != nil {
			return nil, err
		}
		out[p] = uint64(v)
	}
	return out, rows.Err()
}
