package backchannel

import (
	"testing"

	"github.com/signoff/signoff/adapters/keys"
)

// BenchmarkMint measures minting and signing one logout token per op.
func BenchmarkMint(b *testing.B) {
	for _, alg := range []string{keys.ES256, keys.RS256, keys.EdDSA} {
		b.Run(alg, func(b *testing.B) {
			m := NewMinter(testIssuer, testKeys, nil)
			rp := RP{ID: "app", ClientID: "app-client", LogoutURI: "https://rp.example.test/bcl", Alg: alg}
			if _, err := m.Mint(rp, "user-42", "sid-1"); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := m.Mint(rp, "user-42", "sid-1"); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}
