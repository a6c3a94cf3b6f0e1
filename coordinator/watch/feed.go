package watch

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/nats-io/nats.go"
)

// Cross-instance change feed (scale-out design, piece 6): the owner of a
// partition publishes the logout ids its commits changed on core NATS, and
// every other instance wakes the waiters of its hub, so that the logout
// page, its events and the SAML endpoints of any instance react to a commit
// made by another. Core NATS is at most once: a lost message costs a
// waiter its next recheck (web.Browser.Recheck, saml.DefaultRecheck), not
// its answer.
const (
	// FeedSubject carries a JSON array of logout ids per message.
	FeedSubject = "_signoff.changed" // outside signoff.>: not stored in the SIGNOFF stream
	// HeaderInstance names the feed that sent a message: a feed ignores
	// its own (its hub was woken directly).
	HeaderInstance = "Signoff-Instance"
	// maxFeedMessage bounds one message's body, well under the NATS
	// default max_payload of 1 MB.
	maxFeedMessage = 64 << 10
)

// Feed connects a Hub to the other instances' feeds.
type Feed struct {
	nc  *nats.Conn
	hub *Hub
	log *slog.Logger
	id  string
	sub *nats.Subscription

	ignored, received atomic.Uint64
}

// NewFeed subscribes FeedSubject and notifies hub of the logout ids the
// other instances publish. hub is the hub the pages watch; it must not
// forward its own notifications to this feed (Hub.OnNotify): the stores'
// hubs do that, and Changed wakes hub.
func NewFeed(nc *nats.Conn, hub *Hub, log *slog.Logger) (*Feed, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return nil, fmt.Errorf("watch: feed id: %w", err)
	}
	f := &Feed{nc: nc, hub: hub, log: log, id: hex.EncodeToString(b[:])}
	sub, err := nc.Subscribe(FeedSubject, f.receive)
	if err != nil {
		return nil, fmt.Errorf("watch: subscribe %s: %w", FeedSubject, err)
	}
	if err := nc.Flush(); err != nil {
		_ = sub.Unsubscribe()
		return nil, fmt.Errorf("watch: subscribe %s: %w", FeedSubject, err)
	}
	f.sub = sub
	return f, nil
}

func (f *Feed) receive(m *nats.Msg) {
	if m.Header.Get(HeaderInstance) == f.id {
		f.ignored.Add(1)
		return
	}
	var ids []string
	if err := json.Unmarshal(m.Data, &ids); err != nil {
		f.log.Warn("dropping a change notification that is not a JSON array of logout ids", "subject", m.Subject, "err", err)
		return
	}
	f.received.Add(1)
	f.hub.Notify(ids...)
}

// Changed wakes the waiters of ids on this instance and tells the other
// instances: one message per call, split so that no message exceeds
// 64 KB. It never blocks on the network (core NATS buffers); a failed
// publish is logged.
func (f *Feed) Changed(ids []string) {
	if len(ids) == 0 {
		return
	}
	f.hub.Notify(ids...)
	for len(ids) > 0 {
		n, size := 0, 2 // "[" and "]"
		for n < len(ids) {
			s := len(ids[n]) + 3 // quotes and a comma; ids are plain (uuid)
			if n > 0 && size+s > maxFeedMessage {
				break
			}
			size += s
			n++
		}
		body, err := json.Marshal(ids[:n])
		ids = ids[n:]
		if err != nil {
			f.log.Error("encoding a change notification", "err", err)
			continue
		}
		h := nats.Header{}
		h.Set(HeaderInstance, f.id)
		if err := f.nc.PublishMsg(&nats.Msg{Subject: FeedSubject, Header: h, Data: body}); err != nil {
			f.log.Warn("publishing a change notification", "err", err)
		}
	}
}

// Close stops receiving the other instances' changes.
func (f *Feed) Close() error {
	if err := f.sub.Unsubscribe(); err != nil {
		return fmt.Errorf("watch: feed: %w", err)
	}
	return nil
}
