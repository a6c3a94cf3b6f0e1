package partition

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signoff/signoff/coordinator/store"
)

// SnapshotBucket is the JetStream object store bucket of the snapshots.
const SnapshotBucket = "SIGNOFF_SNAPSHOTS"

// metaApplied is the object metadata key of a snapshot's applied stream
// sequence.
const metaApplied = "applied"

// ErrBehind is returned by Save when the object store already holds a more
// advanced snapshot of the same name: the caller is not (or no longer) the
// owner that moves it forward, and the snapshot is left as it is.
var ErrBehind = errors.New("partition: snapshot in the object store is more advanced")

// Backuper writes a consistent copy of a sqlite database to path and
// returns the stream sequence the copy has applied. The route index is
// one; FromStore adapts a partition's store.
type Backuper interface {
	Backup(ctx context.Context, path string) (uint64, error)
}

// BackupFunc adapts a function to Backuper.
type BackupFunc func(ctx context.Context, path string) (uint64, error)

// Backup calls f.
func (f BackupFunc) Backup(ctx context.Context, path string) (uint64, error) { return f(ctx, path) }

// FromStore is the Backuper of a partition store. The snapshot's applied is
// the largest value of the copy's progress table: a partition's own file
// only has its own partition's row (written by ApplyBatch), and the single
// store of an instance without cluster has the one row of partition 0.
func FromStore(s *store.Store) Backuper {
	return BackupFunc(func(ctx context.Context, path string) (uint64, error) {
		applied, err := s.Backup(ctx, path)
		if err != nil {
			return 0, err
		}
		var top uint64
		for _, seq := range applied {
			top = max(top, seq)
		}
		return top, nil
	})
}

// Snapshots keeps copies of sqlite files in the object store bucket
// SIGNOFF_SNAPSHOTS (scale-out design, piece 5): object "p-NN" is partition
// NN's store, object "routes" the route index, each with the metadata
// "applied", the stream sequence the copy has applied. A new owner restores
// the more advanced of its local file and the snapshot, then replays the
// stream from there, so an instance lost with its disk loses nothing.
type Snapshots struct {
	os  jetstream.ObjectStore
	log *slog.Logger
}

// NewSnapshots creates the bucket (file storage, replicas copies, as the
// SIGNOFF stream) or binds to the existing one.
func NewSnapshots(ctx context.Context, js jetstream.JetStream, replicas int, log *slog.Logger) (*Snapshots, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if replicas < 1 {
		replicas = 1
	}
	obs, err := js.ObjectStore(ctx, SnapshotBucket)
	if errors.Is(err, jetstream.ErrBucketNotFound) {
		obs, err = js.CreateObjectStore(ctx, jetstream.ObjectStoreConfig{
			Bucket:      SnapshotBucket,
			Description: "signoff: sqlite snapshots of the coordinator's partitions (p-NN) and of the route index (routes); metadata applied = the SIGNOFF stream sequence each copy has applied",
			Storage:     jetstream.FileStorage,
			Replicas:    replicas,
		})
		if errors.Is(err, jetstream.ErrBucketExists) {
			// Another instance created it first.
			obs, err = js.ObjectStore(ctx, SnapshotBucket)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("partition: object store %s: %w", SnapshotBucket, err)
	}
	return &Snapshots{os: obs, log: log}, nil
}

// SnapshotName is the object name of partition p's snapshot among n
// partitions: p-NN, with three digits when n > 100 (the file names of
// data_dir/partitions).
func SnapshotName(p, n int) string {
	if n > 100 {
		return fmt.Sprintf("p-%03d", p)
	}
	return fmt.Sprintf("p-%02d", p)
}

// Save uploads a copy of b as object name: b backs up into a temporary
// file in dir (removed afterwards), which is uploaded with its applied
// sequence as metadata. When the stored object already has the same
// applied sequence nothing is uploaded (nothing changed); when it has a
// larger one Save returns ErrBehind and leaves it. Save returns the applied
// sequence of the object now stored.
func (s *Snapshots) Save(ctx context.Context, name string, b Backuper, dir string) (applied uint64, err error) {
	tmp, err := os.CreateTemp(dir, name+"-*.snapshot")
	if err != nil {
		return 0, fmt.Errorf("partition: snapshot %s: %w", name, err)
	}
	tmpPath := tmp.Name()
	tmp.Close()
	defer os.Remove(tmpPath)
	applied, err = b.Backup(ctx, tmpPath)
	if err != nil {
		return 0, fmt.Errorf("partition: snapshot %s: %w", name, err)
	}
	stored, _, found, err := s.Info(ctx, name)
	if err != nil {
		return 0, err
	}
	switch {
	case found && stored == applied:
		s.log.Debug("snapshot unchanged", "snapshot", name, "applied", applied)
		return stored, nil
	case found && stored > applied:
		return stored, fmt.Errorf("%w: %s is at %d, the local copy at %d", ErrBehind, name, stored, applied)
	}
	f, err := os.Open(tmpPath)
	if err != nil {
		return 0, fmt.Errorf("partition: snapshot %s: %w", name, err)
	}
	defer f.Close()
	info, err := s.os.Put(ctx, jetstream.ObjectMeta{
		Name:     name,
		Metadata: map[string]string{metaApplied: strconv.FormatUint(applied, 10)},
	}, f)
	if err != nil {
		return 0, fmt.Errorf("partition: upload snapshot %s: %w", name, err)
	}
	s.log.Debug("snapshot uploaded", "snapshot", name, "applied", applied, "bytes", info.Size)
	return applied, nil
}

// Restore replaces the sqlite file at path with snapshot name when the
// snapshot is more advanced than the local file (its applied >
// localApplied; pass 0 when there is no local file). The object is
// downloaded to path+".tmp" (the object store checks its SHA-256 digest),
// checked by SQLite (PRAGMA quick_check), fsynced, and renamed over path
// after path's -wal and -shm files are removed (a stale WAL would be
// replayed into the new file). The file must not be open. Otherwise path is
// left alone. Restore returns the applied sequence of the file at path
// afterwards: the snapshot's when restored, else localApplied. An absent
// snapshot is not an error; a corrupt one is, and leaves path alone.
func (s *Snapshots) Restore(ctx context.Context, name, path string, localApplied uint64) (applied uint64, restored bool, err error) {
	stored, _, found, err := s.Info(ctx, name)
	if err != nil {
		return localApplied, false, err
	}
	if !found || stored <= localApplied {
		return localApplied, false, nil
	}
	res, err := s.os.Get(ctx, name)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return localApplied, false, nil
	}
	if err != nil {
		return localApplied, false, fmt.Errorf("partition: download snapshot %s: %w", name, err)
	}
	defer res.Close()
	ri, err := res.Info()
	if err != nil {
		return localApplied, false, fmt.Errorf("partition: download snapshot %s: %w", name, err)
	}
	// The object may have been replaced since Info: its own metadata says.
	if stored, err = appliedOf(ri); err != nil {
		return localApplied, false, err
	}
	if stored <= localApplied {
		return localApplied, false, nil
	}
	tmp := path + ".tmp"
	if err := download(res, tmp); err != nil {
		removeDB(tmp)
		return localApplied, false, fmt.Errorf("partition: download snapshot %s: %w", name, err)
	}
	if err := check(tmp); err != nil {
		removeDB(tmp)
		return localApplied, false, fmt.Errorf("partition: snapshot %s is not a sound sqlite file: %w", name, err)
	}
	for _, f := range []string{path + "-wal", path + "-shm"} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			removeDB(tmp)
			return localApplied, false, fmt.Errorf("partition: restore snapshot %s: %w", name, err)
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		removeDB(tmp)
		return localApplied, false, fmt.Errorf("partition: restore snapshot %s: %w", name, err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return stored, true, fmt.Errorf("partition: restore snapshot %s: %w", name, err)
	}
	s.log.Info("snapshot restored", "snapshot", name, "path", path, "applied", stored, "local_applied", localApplied)
	return stored, true, nil
}

// download writes r to path and fsyncs it. The object reader returns
// jetstream.ErrDigestMismatch at the end when the content is not what was
// uploaded.
func download(r io.Reader, path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// check runs PRAGMA quick_check on the sqlite file at path.
func check(path string) error {
	db, err := store.OpenReadOnly(path)
	if err != nil {
		return err
	}
	defer func() {
		db.Close()
		os.Remove(path + "-wal")
		os.Remove(path + "-shm")
	}()
	var res string
	if err := db.QueryRow(`PRAGMA quick_check`).Scan(&res); err != nil {
		return err
	}
	if res != "ok" {
		return errors.New(res)
	}
	return nil
}

// removeDB removes a sqlite file with its -wal and -shm.
func removeDB(path string) {
	for _, f := range []string{path, path + "-wal", path + "-shm"} {
		os.Remove(f)
	}
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Info returns the applied sequence and size in bytes of snapshot name;
// found is false when there is none.
func (s *Snapshots) Info(ctx context.Context, name string) (applied uint64, size int64, found bool, err error) {
	info, err := s.os.GetInfo(ctx, name)
	if errors.Is(err, jetstream.ErrObjectNotFound) {
		return 0, 0, false, nil
	}
	if err != nil {
		return 0, 0, false, fmt.Errorf("partition: snapshot %s: %w", name, err)
	}
	applied, err = appliedOf(info)
	if err != nil {
		return 0, 0, false, err
	}
	return applied, int64(info.Size), true, nil
}

func appliedOf(info *jetstream.ObjectInfo) (uint64, error) {
	v, ok := info.Metadata[metaApplied]
	if !ok {
		return 0, fmt.Errorf("partition: snapshot %s has no %q metadata", info.Name, metaApplied)
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("partition: snapshot %s: metadata %s=%q: %w", info.Name, metaApplied, v, err)
	}
	return n, nil
}

// Delete removes snapshot name; an absent one is not an error.
func (s *Snapshots) Delete(ctx context.Context, name string) error {
	if err := s.os.Delete(ctx, name); err != nil && !errors.Is(err, jetstream.ErrObjectNotFound) {
		return fmt.Errorf("partition: delete snapshot %s: %w", name, err)
	}
	return nil
}
