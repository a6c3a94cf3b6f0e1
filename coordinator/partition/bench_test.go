package partition

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

// BenchmarkRestore100k measures the snapshot of a partition holding 100k
// RP sessions (the realistic mix of joinedEvent, written through the
// store's Apply as the intake does): Save (VACUUM INTO + upload to the
// object store of an embedded nats-server; Backup is its VACUUM INTO
// alone) and Restore (download, digest
// and quick_check, rename). MB is the size of the snapshot.
func BenchmarkRestore100k(b *testing.B) {
	snaps := newSnapshots(b, startJS(b))
	ctx := context.Background()
	s := openStore(b, dbPath(b, "p-00.db"))
	fill(b, s, 0, 100_000, 0, 1_000)
	const name = "p-00"
	tmpDir := b.TempDir()

	// Backup alone: the local part of Save.
	b.Run("Backup", func(b *testing.B) {
		path := filepath.Join(tmpDir, "backup.db")
		for b.Loop() {
			if _, err := FromStore(s).Backup(ctx, path); err != nil {
				b.Fatal(err)
			}
		}
		removeDB(path)
	})
	b.Run("Save", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			if err := snaps.Delete(ctx, name); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if _, err := snaps.Save(ctx, name, FromStore(s), tmpDir); err != nil {
				b.Fatal(err)
			}
		}
		_, size, _, err := snaps.Info(ctx, name)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(size)/1e6, "MB")
	})
	b.Run("Restore", func(b *testing.B) {
		if _, err := snaps.Save(ctx, name, FromStore(s), tmpDir); err != nil {
			b.Fatal(err)
		}
		dir := b.TempDir()
		path := filepath.Join(dir, "p-00.db")
		for b.Loop() {
			b.StopTimer()
			removeDB(path)
			b.StartTimer()
			applied, restored, err := snaps.Restore(ctx, name, path, 0)
			if err != nil || !restored || applied != 1_000 {
				b.Fatalf("Restore = %d, %v, %v", applied, restored, err)
			}
		}
		st, err := os.Stat(path)
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(st.Size())/1e6, "MB")
	})
}
