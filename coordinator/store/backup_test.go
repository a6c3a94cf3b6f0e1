package store

import (
	"context"
	"fmt"
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

// TestBackupConsistentWhileWriting: backups taken while the intake keeps
// applying batches are each one committed state: the copy's applied
// sequence matches the number of sessions in it.
func TestBackupConsistentWhileWriting(t *testing.T) {
	s, _ := open(t)
	ctx := context.Background()
	const perBatch, batches = 50, 40
	done := make(chan error, 1)
	go func() {
		for b := 1; b <= batches; b++ {
			fns := make([]func(*Tx) error, perBatch)
			for i := range fns {
				id := fmt.Sprintf("s-%d-%d", b, i)
				fns[i] = func(tx *Tx) error { return tx.JoinSession(joined(id, "wiki", "alice", id)) }
			}
			if err := s.Apply(ctx, 0, uint64(b), fns, func(_ *Tx, _ int, err error) error { return err }); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	dir := t.TempDir()
	for i := 0; ; i++ {
		path := filepath.Join(dir, fmt.Sprintf("copy-%d.db", i))
		applied, err := s.Backup(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		c, err := OpenReadOnly(path)
		if err != nil {
			t.Fatal(err)
		}
		var n int
		if err := c.QueryRow(`SELECT COUNT(*) FROM sessions`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		c.Close()
		if uint64(n) != applied[0]*perBatch {
			t.Fatalf("copy %d: %d sessions at applied %d, want %d", i, n, applied[0], applied[0]*perBatch)
		}
		if applied[0] == batches {
			t.Logf("%d consistent copies", i+1)
			break
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}
