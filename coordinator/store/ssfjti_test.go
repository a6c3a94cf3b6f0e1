package store

import (
	"context"
	"testing"
	"time"
)

// TestSSFJTIMemory: a remembered jti is seen for its transmitter only,
// survives a reopen of the database, and is forgotten once older than the
// cut-off given to a later RememberJTI.
func TestSSFJTIMemory(t *testing.T) {
	s, path := open(t)
	ctx := context.Background()
	seen := func(s *Store, tr, jti string) bool {
		t.Helper()
		ok, err := s.SeenJTI(ctx, tr, jti)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if seen(s, "okta", "j1") {
		t.Fatal("j1 seen before it was remembered")
	}
	if err := s.RememberJTI(ctx, "okta", "j1", t0, t0.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	// Remembering twice is not an error.
	if err := s.RememberJTI(ctx, "okta", "j1", t0, t0.Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if !seen(s, "okta", "j1") || seen(s, "authentik", "j1") || seen(s, "okta", "j2") {
		t.Fatal("jti memory is not per transmitter and jti")
	}
	s.Close()
	s2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if !seen(s2, "okta", "j1") {
		t.Fatal("j1 forgotten by a restart")
	}
	if err := s2.RememberJTI(ctx, "okta", "j2", t0.Add(8*24*time.Hour), t0.Add(7*24*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if seen(s2, "okta", "j1") || !seen(s2, "okta", "j2") {
		t.Fatal("j1 not forgotten after the retention, or j2 not remembered")
	}
}
