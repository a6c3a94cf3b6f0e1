package store

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

func TestBackupCopiesRowsAndProgress(t *testing.T) {
	s, _ := open(t)
	ctx := context.Background()
	if err := s.Apply(ctx, 3, 41, []func(*Tx) error{func(tx *Tx) error {
		if err := tx.JoinSession(joined("s1", "wiki", "alice", "w1")); err != nil {
			return err
		}
		return tx.JoinSession(joined("s2", "chat", "bob", "c2"))
	}}, nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, func(tx *Tx) error { return tx.SetApplied(0, 7) }); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "copy.db")
	// A leftover of an interrupted backup is replaced.
	if err := os.WriteFile(path, []byte("half a file"), 0o600); err != nil {
		t.Fatal(err)
	}
	applied, err := s.Backup(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != 2 || applied[3] != 41 || applied[0] != 7 {
		t.Errorf("applied = %v, want map[0:7 3:41]", applied)
	}
	// Later writes to the original are not in the copy.
	if err := s.Update(ctx, func(tx *Tx) error { return tx.JoinSession(joined("s3", "wiki", "carol", "w3")) }); err != nil {
		t.Fatal(err)
	}
	c, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if n, err := c.SessionCount(ctx, ""); err != nil || n != 2 {
		t.Errorf("copy has %d sessions (%v), want 2", n, err)
	}
	if seq, err := c.Applied(ctx, 3); err != nil || seq != 41 {
		t.Errorf("copy applied = %d (%v), want 41", seq, err)
	}
}
