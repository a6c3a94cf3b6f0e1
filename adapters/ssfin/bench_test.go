package ssfin

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
)

// BenchmarkProcess measures the receiver alone on a push's path: JWS
// header checks, RS256 verification with cached keys, claims, mapping,
// schema check of the logout.requested, and in-memory jti store and
// publisher.
func BenchmarkProcess(b *testing.B) {
	t := &testing.T{}
	tt := newTestTransmitter(t)
	defer tt.srv.Close()
	r, err := New(Config{Transmitters: []Transmitter{{ID: "idp", Issuer: tt.issuer, Audience: testAudience, JWKSURI: tt.srv.URL + "/jwks.json"}},
		JTIs: &memJTIs{}, Logouts: &recLogouts{}, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	sets := make([]string, b.N)
	for i := range sets {
		sets[i] = sign(t, tt.claims(EventSessionRevoked, map[string]any{}, issSub("https://idp.test", fmt.Sprint("u", i))))
	}
	b.ResetTimer()
	for _, raw := range sets {
		if _, err := r.process(context.Background(), r.transmitters[0], raw, ""); err != nil {
			b.Fatal(err)
		}
	}
}
