package partition

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func openIndex(t testing.TB, path string, n int) *Index {
	t.Helper()
	x, err := OpenIndex(path, n)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { x.Close() })
	return x
}

type route struct {
	kind Kind
	key  string
	part int
	seq  uint64
}

// put writes rows, one Update per distinct seq, in order.
func put(t *testing.T, x *Index, rows ...route) {
	t.Helper()
	for _, r := range rows {
		if err := x.Update(context.Background(), r.seq, func(tx *IndexTx) error { return tx.Put(r.kind, r.key, r.part, r.seq) }); err != nil {
			t.Fatal(err)
		}
	}
}

func TestIndexLookupBefore(t *testing.T) {
	x := openIndex(t, filepath.Join(t.TempDir(), "routes.db"), 32)
	ctx := context.Background()
	put(t, x,
		route{KindSession, "s1", 4, 10},
		route{KindLogout, "L1", 4, 11},
		route{KindUpstream, Key("kc", "up-1"), 9, 12},
		route{KindRPSID, Key("wiki", "sid-1"), 4, 13},
		route{KindNameID, Key("wiki", "s1"), 17, 14},
		// A later event naming s1 does not move it: first writer wins.
		route{KindSession, "s1", 30, 20},
	)
	tests := []struct {
		name     string
		kind     Kind
		key      string
		before   uint64
		wantPart int
		wantOK   bool
		// later: the row exists but was added at or after before, so only
		// Index.Lookup sees it.
		later bool
	}{
		{"before its event", KindSession, "s1", 10, 0, false, true},
		{"just after its event", KindSession, "s1", 11, 4, true, false},
		{"after the second writer", KindSession, "s1", 100, 4, true, false},
		{"same key other kind", KindLogout, "s1", 100, 0, false, false},
		{"logout", KindLogout, "L1", 12, 4, true, false},
		{"upstream", KindUpstream, Key("kc", "up-1"), 13, 9, true, false},
		{"upstream parts do not run together", KindUpstream, "kcup-1", 100, 0, false, false},
		{"rp sid", KindRPSID, Key("wiki", "sid-1"), 14, 4, true, false},
		{"rp sid of another rp", KindRPSID, Key("chat", "sid-1"), 100, 0, false, false},
		{"nameid before", KindNameID, Key("wiki", "s1"), 14, 0, false, true},
		{"nameid", KindNameID, Key("wiki", "s1"), 15, 17, true, false},
		{"unknown", KindSession, "nope", 100, 0, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var part int
			var ok bool
			if err := x.Update(ctx, 0, func(tx *IndexTx) (err error) {
				part, ok, err = tx.Lookup(tt.kind, tt.key, tt.before)
				return err
			}); err != nil {
				t.Fatal(err)
			}
			if part != tt.wantPart || ok != tt.wantOK {
				t.Errorf("Lookup(%s, %q, before %d) = %d, %v; want %d, %v", tt.kind, tt.key, tt.before, part, ok, tt.wantPart, tt.wantOK)
			}
			// Outside the intake every row is visible.
			p, ok, err := x.Lookup(ctx, tt.kind, tt.key)
			if err != nil {
				t.Fatal(err)
			}
			if ok != (tt.wantOK || tt.later) || (tt.wantOK && p != tt.wantPart) {
				t.Errorf("Index.Lookup(%s, %q) = %d, %v", tt.kind, tt.key, p, ok)
			}
		})
	}
}

func TestIndexSameBatchSeesEarlierMessages(t *testing.T) {
	// One Update per batch: a message at seq 6 sees the row put by the
	// message at seq 5 of the same batch, and not its own.
	x := openIndex(t, filepath.Join(t.TempDir(), "routes.db"), 8)
	err := x.Update(context.Background(), 6, func(tx *IndexTx) error {
		if err := tx.Put(KindSession, "s1", 3, 5); err != nil {
			return err
		}
		if err := tx.Put(KindLogout, "L1", 3, 6); err != nil {
			return err
		}
		if p, ok, err := tx.Lookup(KindSession, "s1", 6); err != nil || !ok || p != 3 {
			t.Errorf("Lookup s1 before 6 = %d, %v, %v", p, ok, err)
		}
		if _, ok, err := tx.Lookup(KindLogout, "L1", 6); err != nil || ok {
			t.Errorf("Lookup L1 before 6 sees the row of seq 6: %v, %v", ok, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestIndexPositionAndRollback(t *testing.T) {
	path := filepath.Join(t.TempDir(), "routes.db")
	x := openIndex(t, path, 32)
	ctx := context.Background()
	pos := func() uint64 {
		t.Helper()
		p, err := x.Position(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	if p := pos(); p != 0 {
		t.Errorf("position of a new index = %d", p)
	}
	put(t, x, route{KindSession, "s1", 1, 7})
	if p := pos(); p != 7 {
		t.Errorf("position = %d, want 7", p)
	}
	// A replayed, older batch does not move the position back.
	put(t, x, route{KindSession, "s0", 2, 3})
	if p := pos(); p != 7 {
		t.Errorf("position after an older batch = %d, want 7", p)
	}
	// A failing fn rolls back its rows and the position.
	boom := errors.New("boom")
	err := x.Update(ctx, 9, func(tx *IndexTx) error {
		if err := tx.Put(KindSession, "s9", 1, 9); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Update error = %v, want boom", err)
	}
	if p := pos(); p != 7 {
		t.Errorf("position after a failed update = %d, want 7", p)
	}
	if _, ok, _ := x.Lookup(ctx, KindSession, "s9"); ok {
		t.Error("row of a failed update was kept")
	}

	// Reopening keeps rows and position.
	if err := x.Close(); err != nil {
		t.Fatal(err)
	}
	x = openIndex(t, path, 32)
	if p := pos(); p != 7 {
		t.Errorf("position after reopen = %d, want 7", p)
	}
	for _, k := range []string{"s1", "s0"} {
		if _, ok, err := x.Lookup(ctx, KindSession, k); err != nil || !ok {
			t.Errorf("%s lost on reopen: %v, %v", k, ok, err)
		}
	}
	if x.Path() != path {
		t.Errorf("Path = %q", x.Path())
	}
}

func TestIndexPartitionsMismatch(t *testing.T) {
	path := filepath.Join(t.TempDir(), "routes.db")
	x, err := OpenIndex(path, 32)
	if err != nil {
		t.Fatal(err)
	}
	x.Close()
	_, err = OpenIndex(path, 16)
	if err == nil {
		t.Fatal("opening with another partition count succeeded")
	}
	for _, want := range []string{"cluster.partitions", "32", "16"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
	if _, err := OpenIndex(filepath.Join(t.TempDir(), "r.db"), 0); err == nil || !strings.Contains(err.Error(), "cluster.partitions") {
		t.Errorf("OpenIndex(0) error = %v", err)
	}
	// The same count still opens.
	x, err = OpenIndex(path, 32)
	if err != nil {
		t.Fatal(err)
	}
	x.Close()
}

func TestIndexPrune(t *testing.T) {
	x := openIndex(t, filepath.Join(t.TempDir(), "routes.db"), 4)
	ctx := context.Background()
	put(t, x,
		route{KindLogout, "L1", 1, 1},
		route{KindLogout, "L2", 1, 2},
		route{KindSession, "s1", 1, 2},
		route{KindLogout, "L3", 1, 3},
	)
	n, err := x.Prune(ctx, KindLogout, 3)
	if err != nil || n != 2 {
		t.Fatalf("Prune = %d, %v; want 2", n, err)
	}
	for key, want := range map[string]bool{"L1": false, "L2": false, "L3": true} {
		if _, ok, _ := x.Lookup(ctx, KindLogout, key); ok != want {
			t.Errorf("logout %s present = %v, want %v", key, ok, want)
		}
	}
	if _, ok, _ := x.Lookup(ctx, KindSession, "s1"); !ok {
		t.Error("pruning logouts removed a session route")
	}
}

func TestIndexBackup(t *testing.T) {
	x := openIndex(t, filepath.Join(t.TempDir(), "routes.db"), 4)
	ctx := context.Background()
	put(t, x, route{KindSession, "s1", 2, 5}, route{KindLogout, "L1", 3, 8})
	path := filepath.Join(t.TempDir(), "copy.db")
	pos, err := x.Backup(ctx, path)
	if err != nil || pos != 8 {
		t.Fatalf("Backup = %d, %v; want 8", pos, err)
	}
	c := openIndex(t, path, 4)
	if p, ok, err := c.Lookup(ctx, KindLogout, "L1"); err != nil || !ok || p != 3 {
		t.Errorf("copy Lookup L1 = %d, %v, %v", p, ok, err)
	}
	if p, err := c.Position(ctx); err != nil || p != 8 {
		t.Errorf("copy position = %d, %v", p, err)
	}
	// The copy keeps the partition count.
	c.Close()
	if _, err := OpenIndex(path, 5); err == nil {
		t.Error("copy opened with another partition count")
	}
}

// BenchmarkIndexBatch512 measures one intake batch: 512 messages, each
// looking up its session and logout and putting one route, in one Update.
func BenchmarkIndexBatch512(b *testing.B) {
	x := openIndex(b, filepath.Join(b.TempDir(), "routes.db"), 32)
	ctx := context.Background()
	seq := uint64(0)
	b.ReportAllocs()
	for b.Loop() {
		last := seq + 512
		err := x.Update(ctx, last, func(tx *IndexTx) error {
			for range 512 {
				seq++
				key := "session-" + strconv.FormatUint(seq, 10)
				if _, _, err := tx.Lookup(KindSession, "session-"+strconv.FormatUint(seq/2, 10), seq); err != nil {
					return err
				}
				if err := tx.Put(KindSession, key, Of(key, 32), seq); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(seq), "ns/row")
}
