package ssfin

import (
	"context"
	"testing"
)

// FuzzProcess feeds arbitrary bodies to the receiver: it never panics, and
// only the SETs the transmitter signed (two seeds) can publish a logout.
func FuzzProcess(f *testing.F) {
	t := &testing.T{}
	tt := newTestTransmitter(t)
	signed := map[string]bool{
		sign(t, tt.claims(EventAccountDisabled, map[string]any{}, issSub("https://idp.test", "alice"))):                                                          true,
		sign(t, tt.claims(EventSessionRevoked, map[string]any{}, map[string]any{"format": "complex", "session": map[string]any{"format": "opaque", "id": "s"}})): true,
	}
	for raw := range signed {
		f.Add(raw)
	}
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("a.b.c")
	f.Add("")
	logouts := &recLogouts{}
	r, err := New(Config{Transmitters: []Transmitter{{ID: "idp", Issuer: tt.issuer, Audience: testAudience, JWKSURI: tt.srv.URL + "/jwks.json"}},
		JTIs: &memJTIs{}, Logouts: logouts})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(tt.srv.Close)
	f.Fuzz(func(t *testing.T, raw string) {
		before := len(logouts.all())
		_, err := r.process(context.Background(), r.transmitters[0], raw, "")
		if err == nil && !signed[raw] && len(logouts.all()) > before {
			// Only SETs the test transmitter signed may be accepted; the
			// fuzzer cannot forge a signature.
			t.Fatalf("accepted a body the transmitter never signed: %q", raw)
		}
	})
}
