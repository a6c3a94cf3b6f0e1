package bus

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signoff/signoff/events"
)

func TestProvisionStream(t *testing.T) {
	dir := t.TempDir()
	b, err := Start(context.Background(), Config{StoreDir: dir, MaxAge: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	info, err := b.JetStream().Stream(context.Background(), events.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	cfg := info.CachedInfo().Config
	if cfg.Subjects[0] != events.Subjects || cfg.Storage != jetstream.FileStorage || cfg.Duplicates != 10*time.Minute || cfg.MaxAge != time.Hour {
		t.Errorf("stream config %+v", cfg)
	}
	b.Close()
}
