package ssf

import (
	"log/slog"
	"testing"
	"time"

	"github.com/signoff/signoff/adapters/keys"
	"github.com/signoff/signoff/events"
)

// BenchmarkSessionRevoked measures minting one RS256 session-revoked SET
// (claims, JSON, signature), the cost of every push attempt and every
// queued poll SET.
func BenchmarkSessionRevoked(b *testing.B) {
	ks, err := keys.Open(b.TempDir(), true, time.Now, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	m := NewMinter("https://idp.example.com", ks, nil)
	rp := RP{ID: "crm", Audience: "https://crm.example.com"}
	d := events.Dispatch{LogoutID: "lo-1", RPID: "crm", Subject: "alice", Initiator: events.InitiatorUser, OccurredAt: time.Now()}
	for b.Loop() {
		if _, err := m.SessionRevoked(rp, d); err != nil {
			b.Fatal(err)
		}
	}
}
