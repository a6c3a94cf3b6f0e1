package partition

import (
	"math/rand/v2"
	"strconv"
	"testing"
)

func TestOf(t *testing.T) {
	// Hash values from the FNV reference vectors ("a" = 0xe40c292c,
	// "foobar" = 0xbf9cf968, "" = the offset basis 0x811c9dc5) reduced by
	// hand.
	tests := []struct {
		key  string
		n    int
		want int
	}{
		{"", 32, 0x811c9dc5 % 32},
		{"a", 32, 0xe40c292c % 32},
		{"foobar", 32, 0xbf9cf968 % 32},
		{"foobar", 7, 0},
		{"foobar", 1000, 720},
		{"alice", 32, 7},
		{"alice", 7, 6},
		{"user-42", 32, 11},
		{"session:s1", 32, 7},
		{"alice", 1, 0},
		{"alice", 0, 0},
		{"alice", -3, 0},
	}
	for _, tt := range tests {
		if got := Of(tt.key, tt.n); got != tt.want {
			t.Errorf("Of(%q, %d) = %d, want %d", tt.key, tt.n, got, tt.want)
		}
	}
}

func TestOfDistribution(t *testing.T) {
	const subjects, n = 100_000, 32
	rng := rand.New(rand.NewPCG(1, 2))
	gens := map[string]func(i int) string{
		// Subjects as IdPs issue them: opaque random ids and e-mail
		// addresses.
		"random": func(int) string {
			if rng.IntN(2) == 0 {
				return strconv.FormatUint(rng.Uint64(), 16) + "-" + strconv.FormatUint(rng.Uint64(), 36)
			}
			return "user" + strconv.Itoa(rng.IntN(10_000_000)) + "@example.org"
		},
		// Database ids counted up by the IdP.
		"sequential": func(i int) string { return strconv.Itoa(i) },
	}
	for name, gen := range gens {
		t.Run(name, func(t *testing.T) {
			var counts [n]int
			for i := range subjects {
				sub := gen(i)
				p := Of(sub, n)
				if p < 0 || p >= n {
					t.Fatalf("Of(%q) = %d out of range", sub, p)
				}
				counts[p]++
			}
			mean := float64(subjects) / n
			for p, c := range counts {
				if float64(c) < mean*0.85 || float64(c) > mean*1.15 {
					t.Errorf("partition %d has %d subjects, mean %.0f (±15 %%)", p, c, mean)
				}
			}
		})
	}
}
