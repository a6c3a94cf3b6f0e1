package bus

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/signoff/signoff/events"
)

func eventually(t *testing.T, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %v: %v", timeout, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestRouterPoisonsPermanentAndRetriesTransient runs the real middleware
// chain over embedded JetStream: a permanent error lands on signoff.poison
// once, with its reason and the original bytes, without retries; a
// transient error is retried in process until the handler succeeds.
func TestRouterPoisonsPermanentAndRetriesTransient(t *testing.T) {
	b, err := Start(context.Background(), Config{StoreDir: filepath.Join(t.TempDir(), "nats")})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	poisonPub, err := b.Publisher("poison", false)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewRouter(poisonPub, RouterConfig{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	var calls = map[string]*atomic.Int32{"bad": {}, "flaky": {}, "good": {}}
	handler := func(msg *message.Message) error {
		key := string(msg.Payload)
		n := calls[key].Add(1)
		switch key {
		case "bad":
			return Permanent(errors.New("this can never work"))
		case "flaky":
			if n < 3 {
				return errors.New("sqlite busy")
			}
		}
		return nil
	}
	sub, err := b.Subscriber(SubscriberConfig{Durable: "test", Concurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	r.AddConsumerHandler("test", "signoff.test", sub, handler)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx)
	<-r.Running()
	defer r.Close()

	nc, _ := b.Connect("publisher")
	js, _ := jetstream.New(nc)
	for _, p := range []string{"bad", "flaky", "good"} {
		if _, err := js.Publish(ctx, "signoff.test", []byte(p)); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, func() error {
		if calls["flaky"].Load() < 3 || calls["good"].Load() < 1 || calls["bad"].Load() < 1 {
			return fmt.Errorf("calls bad=%d flaky=%d good=%d", calls["bad"].Load(), calls["flaky"].Load(), calls["good"].Load())
		}
		return nil
	})
	var poisoned *nats.Msg
	cons, err := js.OrderedConsumer(ctx, events.StreamName, jetstream.OrderedConsumerConfig{FilterSubjects: []string{events.SubjectPoison}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := cons.Next(jetstream.FetchMaxWait(5 * time.Second))
	if err != nil {
		t.Fatalf("nothing on %s: %v", events.SubjectPoison, err)
	}
	poisoned = &nats.Msg{Data: m.Data(), Header: m.Headers()}
	if string(poisoned.Data) != "bad" || poisoned.Header.Get(middleware.ReasonForPoisonedKey) != "this can never work" {
		t.Errorf("poisoned %q with reason %q", poisoned.Data, poisoned.Header.Get(middleware.ReasonForPoisonedKey))
	}
	if poisoned.Header.Get(MetadataSubject) != "signoff.test" {
		t.Errorf("poisoned message lost its subject: %q", poisoned.Header.Get(MetadataSubject))
	}
	if n := calls["bad"].Load(); n != 1 {
		t.Errorf("permanent error handled %d times, want 1 (no retry)", n)
	}
	if n := calls["flaky"].Load(); n != 3 {
		t.Errorf("transient error handled %d times, want 3", n)
	}
	stream, err := js.Stream(ctx, events.StreamName)
	if err != nil {
		t.Fatal(err)
	}
	info, err := stream.Info(ctx, jetstream.WithSubjectFilter(events.SubjectPoison))
	if err != nil {
		t.Fatal(err)
	}
	if got := info.State.Subjects[events.SubjectPoison]; got != 1 {
		t.Errorf("%d poisoned messages, want 1", got)
	}
}

func TestMarshalerToleratesPlainNATSMessages(t *testing.T) {
	m := &nats.Msg{Subject: "signoff.logout.requested", Data: []byte("x"), Header: nats.Header{"A": {"1", "2"}, nats.MsgIdHdr: {"id-1"}}}
	msg, err := marshaler{}.Unmarshal(m)
	if err != nil {
		t.Fatal(err)
	}
	if msg.UUID == "" || msg.UUID == "id-1" {
		t.Errorf("uuid %q: want a fresh one, never the Nats-Msg-Id (the poison copy would be deduplicated)", msg.UUID)
	}
	if msg.Metadata.Get("A") != "2" || msg.Metadata.Get(MetadataSubject) != "signoff.logout.requested" {
		t.Errorf("metadata %v", msg.Metadata)
	}
	if msg.Metadata.Get(nats.MsgIdHdr) != "" {
		t.Error("Nats-Msg-Id copied into metadata")
	}
}

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
