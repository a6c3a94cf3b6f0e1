package partition

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signoff/signoff/coordinator/saga"
	"github.com/signoff/signoff/coordinator/store"
)

func TestNewSnapshotsBucket(t *testing.T) {
	js := startJS(t)
	ctx := context.Background()
	newSnapshots(t, js)
	// A second instance binds to the same bucket.
	newSnapshots(t, js)
	obs, err := js.ObjectStore(ctx, SnapshotBucket)
	if err != nil {
		t.Fatal(err)
	}
	st, err := obs.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Storage() != jetstream.FileStorage || st.Replicas() != 1 || st.Description() == "" {
		t.Errorf("bucket storage %v replicas %d description %q", st.Storage(), st.Replicas(), st.Description())
	}
}

func TestSnapshotName(t *testing.T) {
	for _, tt := range []struct {
		p, n int
		want string
	}{{0, 1, "p-00"}, {7, 32, "p-07"}, {99, 100, "p-99"}, {7, 101, "p-007"}, {1023, 1024, "p-1023"}} {
		if got := SnapshotName(tt.p, tt.n); got != tt.want {
			t.Errorf("SnapshotName(%d, %d) = %q, want %q", tt.p, tt.n, got, tt.want)
		}
	}
}

func TestSnapshotSaveRestore(t *testing.T) {
	snaps := newSnapshots(t, startJS(t))
	ctx := context.Background()
	src := openStore(t, dbPath(t, "p-05.db"))
	fill(t, src, 5, 300, 20, 42)

	applied, err := snaps.Save(ctx, "p-05", FromStore(src), t.TempDir())
	if err != nil || applied != 42 {
		t.Fatalf("Save = %d, %v; want 42", applied, err)
	}
	got, size, found, err := snaps.Info(ctx, "p-05")
	if err != nil || !found || got != 42 || size <= 0 {
		t.Fatalf("Info = %d, %d, %v, %v", got, size, found, err)
	}

	// Restore into an empty data dir.
	dir := t.TempDir()
	path := filepath.Join(dir, "p-05.db")
	applied, restored, err := snaps.Restore(ctx, "p-05", path, 0)
	if err != nil || !restored || applied != 42 {
		t.Fatalf("Restore = %d, %v, %v; want 42, true", applied, restored, err)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "*.tmp*")); len(left) > 0 {
		t.Errorf("temporary files left: %v", left)
	}
	dst := openStore(t, path)
	if seq, err := dst.Applied(ctx, 5); err != nil || seq != 42 {
		t.Errorf("restored applied = %d, %v", seq, err)
	}
	for _, sub := range []string{"user0@example.org", "user57@example.org", "user99@example.org"} {
		var want, have []saga.Session
		src.Update(ctx, func(tx *store.Tx) (err error) { want, err = tx.Sessions("", sub); return })
		dst.Update(ctx, func(tx *store.Tx) (err error) { have, err = tx.Sessions("", sub); return })
		if len(want) != 3 || !reflect.DeepEqual(want, have) {
			t.Errorf("sessions of %s: restored %+v, want %+v", sub, have, want)
		}
	}
	for _, id := range []string{"logout-000000", "logout-000019"} {
		want, _, _ := src.Saga(ctx, id)
		have, ok, err := dst.Saga(ctx, id)
		if err != nil || !ok || !reflect.DeepEqual(want, have) {
			t.Errorf("saga %s: restored %+v (%v, %v), want %+v", id, have, ok, err, want)
		}
	}
}

func TestSnapshotRestoreKeepsMoreAdvancedLocal(t *testing.T) {
	snaps := newSnapshots(t, startJS(t))
	ctx := context.Background()
	src := openStore(t, dbPath(t, "p-01.db"))
	fill(t, src, 1, 10, 0, 10)
	if _, err := snaps.Save(ctx, "p-01", FromStore(src), t.TempDir()); err != nil {
		t.Fatal(err)
	}
	path := dbPath(t, "p-01.db")
	for _, local := range []uint64{10, 11} {
		if err := os.WriteFile(path, []byte("the local file"), 0o600); err != nil {
			t.Fatal(err)
		}
		applied, restored, err := snaps.Restore(ctx, "p-01", path, local)
		if err != nil || restored || applied != local {
			t.Errorf("local at %d: Restore = %d, %v, %v; want %d, false", local, applied, restored, err, local)
		}
		if b, _ := os.ReadFile(path); string(b) != "the local file" {
			t.Errorf("local at %d: the local file was replaced", local)
		}
	}
	// One behind: the snapshot wins, and a stale -wal of the old file goes.
	if err := os.WriteFile(path+"-wal", []byte("stale wal"), 0o600); err != nil {
		t.Fatal(err)
	}
	applied, restored, err := snaps.Restore(ctx, "p-01", path, 9)
	if err != nil || !restored || applied != 10 {
		t.Fatalf("local at 9: Restore = %d, %v, %v; want 10, true", applied, restored, err)
	}
	if _, err := os.Stat(path + "-wal"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale -wal kept: %v", err)
	}
	if n, err := openStore(t, path).SessionCount(ctx, ""); err != nil || n != 10 {
		t.Errorf("restored store has %d sessions, %v", n, err)
	}
}

func TestSnapshotAbsentAndCorrupt(t *testing.T) {
	js := startJS(t)
	snaps := newSnapshots(t, js)
	ctx := context.Background()
	obs, err := js.ObjectStore(ctx, SnapshotBucket)
	if err != nil {
		t.Fatal(err)
	}
	put := func(name string, meta map[string]string, data []byte) {
		t.Helper()
		if _, err := obs.Put(ctx, jetstream.ObjectMeta{Name: name, Metadata: meta}, bytesReader(data)); err != nil {
			t.Fatal(err)
		}
	}
	// A sqlite file cut in half: the header promises pages that are not there.
	src := openStore(t, dbPath(t, "src.db"))
	fill(t, src, 0, 2000, 0, 5)
	whole := filepath.Join(t.TempDir(), "whole.db")
	if _, err := src.Backup(ctx, whole); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(whole)
	if err != nil {
		t.Fatal(err)
	}
	put("p-01", map[string]string{"applied": "99"}, []byte("not a database at all, just some bytes"))
	put("p-02", map[string]string{"applied": "99"}, b[:len(b)/2])
	put("p-03", nil, b)
	put("p-04", map[string]string{"applied": "many"}, b)

	tests := []struct {
		name    string
		wantErr bool
	}{
		{"p-00", false}, // absent
		{"p-01", true},  // garbage
		{"p-02", true},  // truncated
		{"p-03", true},  // no applied metadata
		{"p-04", true},  // applied not a number
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "p.db")
			if err := os.WriteFile(path, []byte("the local file"), 0o600); err != nil {
				t.Fatal(err)
			}
			applied, restored, err := snaps.Restore(ctx, tt.name, path, 3)
			t.Logf("Restore: %v", err)
			if (err != nil) != tt.wantErr || restored || applied != 3 {
				t.Errorf("Restore = %d, %v, %v; want 3, false, error %v", applied, restored, err, tt.wantErr)
			}
			if b, _ := os.ReadFile(path); string(b) != "the local file" {
				t.Error("the local file was replaced")
			}
			if files, _ := os.ReadDir(dir); len(files) != 1 {
				t.Errorf("files left in the data dir: %v", files)
			}
		})
	}
	if _, _, found, err := snaps.Info(ctx, "p-00"); found || err != nil {
		t.Errorf("Info of an absent snapshot = %v, %v", found, err)
	}
	if err := snaps.Delete(ctx, "p-00"); err != nil {
		t.Errorf("Delete of an absent snapshot: %v", err)
	}
	if err := snaps.Delete(ctx, "p-01"); err != nil {
		t.Fatal(err)
	}
	if _, _, found, _ := snaps.Info(ctx, "p-01"); found {
		t.Error("deleted snapshot still found")
	}
}

func TestSnapshotSaveSkipsUnchanged(t *testing.T) {
	js := startJS(t)
	snaps := newSnapshots(t, js)
	ctx := context.Background()
	obs, err := js.ObjectStore(ctx, SnapshotBucket)
	if err != nil {
		t.Fatal(err)
	}
	nuid := func() string {
		t.Helper()
		info, err := obs.GetInfo(ctx, "p-03")
		if err != nil {
			t.Fatal(err)
		}
		return info.NUID
	}
	path := dbPath(t, "p-03.db")
	s := openStore(t, path)
	fill(t, s, 3, 50, 0, 7)
	tmpDir := t.TempDir()
	if a, err := snaps.Save(ctx, "p-03", FromStore(s), tmpDir); err != nil || a != 7 {
		t.Fatalf("Save = %d, %v", a, err)
	}
	first := nuid()
	if a, err := snaps.Save(ctx, "p-03", FromStore(s), tmpDir); err != nil || a != 7 {
		t.Fatalf("second Save = %d, %v", a, err)
	}
	if nuid() != first {
		t.Error("unchanged partition uploaded again")
	}
	if files, _ := os.ReadDir(tmpDir); len(files) != 0 {
		t.Errorf("temporary files left: %v", files)
	}
	// A change is uploaded.
	fill(t, s, 3, 60, 0, 8)
	if a, err := snaps.Save(ctx, "p-03", FromStore(s), tmpDir); err != nil || a != 8 {
		t.Fatalf("Save after a change = %d, %v", a, err)
	}
	if nuid() == first {
		t.Error("changed partition not uploaded")
	}
	// A stale owner does not replace a more advanced snapshot.
	old := openStore(t, dbPath(t, "old.db"))
	fill(t, old, 3, 10, 0, 5)
	if a, err := snaps.Save(ctx, "p-03", FromStore(old), tmpDir); !errors.Is(err, ErrBehind) || a != 8 {
		t.Errorf("stale Save = %d, %v; want 8, ErrBehind", a, err)
	}
	if a, _, _, _ := snaps.Info(ctx, "p-03"); a != 8 {
		t.Errorf("snapshot at %d after a stale Save, want 8", a)
	}
}

func TestSnapshotRouteIndex(t *testing.T) {
	snaps := newSnapshots(t, startJS(t))
	ctx := context.Background()
	x := openIndex(t, dbPath(t, "routes.db"), 32)
	if err := x.Update(ctx, 12, func(tx *IndexTx) error { return tx.Put(KindLogout, "L1", 17, 12) }); err != nil {
		t.Fatal(err)
	}
	if a, err := snaps.Save(ctx, "routes", x, t.TempDir()); err != nil || a != 12 {
		t.Fatalf("Save = %d, %v", a, err)
	}
	path := dbPath(t, "routes.db")
	if a, restored, err := snaps.Restore(ctx, "routes", path, 0); err != nil || !restored || a != 12 {
		t.Fatalf("Restore = %d, %v, %v", a, restored, err)
	}
	y := openIndex(t, path, 32)
	if p, ok, err := y.Lookup(ctx, KindLogout, "L1"); err != nil || !ok || p != 17 {
		t.Errorf("restored Lookup = %d, %v, %v", p, ok, err)
	}
	if p, err := y.Position(ctx); err != nil || p != 12 {
		t.Errorf("restored position = %d, %v", p, err)
	}
}

// TestSnapshotLostDisk is the fault of an instance lost with its disk: a
// partition with 20k sessions is snapshotted, its data dir deleted, and a
// new owner restores it; every row of every table comes back.
func TestSnapshotLostDisk(t *testing.T) {
	snaps := newSnapshots(t, startJS(t))
	ctx := context.Background()
	dataDir := t.TempDir()
	path := filepath.Join(dataDir, "partitions", "p-11.db")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	s, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	fill(t, s, 11, 20_000, 500, 1_000)
	if a, err := snaps.Save(ctx, "p-11", FromStore(s), dataDir); err != nil || a != 1_000 {
		t.Fatalf("Save = %d, %v", a, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	want := dump(t, path)
	if len(want["sessions"]) != 20_000 || len(want["sagas"]) != 500 || len(want["participants"]) != 1_000 {
		t.Fatalf("source has %d sessions, %d sagas, %d participants", len(want["sessions"]), len(want["sagas"]), len(want["participants"]))
	}

	// The disk is lost.
	if err := os.RemoveAll(dataDir); err != nil {
		t.Fatal(err)
	}
	newDir := t.TempDir()
	restoredPath := filepath.Join(newDir, "partitions", "p-11.db")
	if err := os.MkdirAll(filepath.Dir(restoredPath), 0o700); err != nil {
		t.Fatal(err)
	}
	a, restored, err := snaps.Restore(ctx, "p-11", restoredPath, 0)
	if err != nil || !restored || a != 1_000 {
		t.Fatalf("Restore = %d, %v, %v", a, restored, err)
	}
	r := openStore(t, restoredPath)
	if seq, err := r.Applied(ctx, 11); err != nil || seq != 1_000 {
		t.Errorf("restored applied = %d, %v", seq, err)
	}
	r.Close()
	got := dump(t, restoredPath)
	if len(got) != len(want) {
		t.Errorf("restored tables %d, want %d", len(got), len(want))
	}
	for table, rows := range want {
		if !reflect.DeepEqual(got[table], rows) {
			t.Errorf("table %s: %d rows restored, %d written, or rows differ", table, len(got[table]), len(rows))
		}
	}
}

// TestSnapshotTamperedChunk: a snapshot whose content changed in the
// object store after the upload (one chunk rewritten) fails the object
// store's SHA-256 digest and is not restored.
func TestSnapshotTamperedChunk(t *testing.T) {
	js := startJS(t)
	snaps := newSnapshots(t, js)
	ctx := context.Background()
	src := openStore(t, dbPath(t, "p-02.db"))
	fill(t, src, 2, 2000, 0, 9)
	if _, err := snaps.Save(ctx, "p-02", FromStore(src), t.TempDir()); err != nil {
		t.Fatal(err)
	}
	obs, err := js.ObjectStore(ctx, SnapshotBucket)
	if err != nil {
		t.Fatal(err)
	}
	info, err := obs.GetInfo(ctx, "p-02")
	if err != nil {
		t.Fatal(err)
	}
	if info.Chunks < 2 {
		t.Fatalf("snapshot has %d chunks, the test needs 2", info.Chunks)
	}
	stream, err := js.Stream(ctx, "OBJ_"+SnapshotBucket)
	if err != nil {
		t.Fatal(err)
	}
	chunks := "$O." + SnapshotBucket + ".C." + info.NUID
	last, err := stream.GetLastMsgForSubject(ctx, chunks)
	if err != nil {
		t.Fatal(err)
	}
	// The last chunk is replaced by the same bytes with one bit flipped.
	data := append([]byte(nil), last.Data...)
	data[len(data)/2] ^= 1
	if err := stream.DeleteMsg(ctx, last.Sequence); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, chunks, data); err != nil {
		t.Fatal(err)
	}

	path := dbPath(t, "p-02.db")
	applied, restored, err := snaps.Restore(ctx, "p-02", path, 0)
	if !errors.Is(err, jetstream.ErrDigestMismatch) || restored || applied != 0 {
		t.Errorf("Restore = %d, %v, %v; want 0, false, ErrDigestMismatch", applied, restored, err)
	}
	if files, _ := os.ReadDir(filepath.Dir(path)); len(files) != 0 {
		t.Errorf("files left: %v", files)
	}
}
