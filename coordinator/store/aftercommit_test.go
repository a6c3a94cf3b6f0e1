package store

import (
	"context"
	"errors"
	"slices"
	"testing"
)

// TestAfterCommitRunsOnlyForCommittedChanges: a hook of a failed update or
// of a poisoned event in an Apply batch never runs; the others run once.
func TestAfterCommitRunsOnlyForCommittedChanges(t *testing.T) {
	s, _ := open(t)
	ctx := context.Background()
	var ran []string
	hook := func(name string, err error) func(*Tx) error {
		return func(tx *Tx) error {
			tx.AfterCommit(func() { ran = append(ran, name) })
			return err
		}
	}
	if err := s.Update(ctx, hook("ok", nil)); err != nil {
		t.Fatal(err)
	}
	if err := s.Update(ctx, hook("failed", errors.New("no"))); err == nil {
		t.Fatal("failed update returned nil")
	}
	poison := errors.New("poison")
	err := s.Apply(ctx, 0, 7, []func(*Tx) error{hook("a", nil), hook("poisoned", poison), hook("b", nil)},
		func(*Tx, int, error) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	err = s.Apply(ctx, 0, 8, []func(*Tx) error{hook("aborted-1", nil), hook("aborted-2", poison)},
		func(_ *Tx, _ int, err error) error { return err })
	if err == nil {
		t.Fatal("aborted Apply returned nil")
	}
	if want := []string{"ok", "a", "b"}; !slices.Equal(ran, want) {
		t.Fatalf("hooks ran %v, want %v", ran, want)
	}
}
