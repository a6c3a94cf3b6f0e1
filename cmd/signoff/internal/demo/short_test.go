package demo

import "testing"

func TestShortLogoutID(t *testing.T) {
	tests := []struct{ id, want string }{
		{"443deb38-1c2d-4e3f-8a4b-5c6d7e8f9a0b", "443deb38"},
		{"lo-01J8Z3Q4R5", "lo-01J8Z3Q4R5"},
		{"0badc0de-nobody", "0badc0de"},
		{"ssf-demo-idp-9f1c2e3d4b5a69788796a5b4", "ssf-demo…96a5b4"},
		{"ssf-demo-idp-0123456789abcdef01234567", "ssf-demo…234567"},
	}
	for _, tt := range tests {
		if got := short(tt.id); got != tt.want {
			t.Errorf("short(%q) = %q, want %q", tt.id, got, tt.want)
		}
	}
	// Two SSF logouts of one transmitter differ on the terminal.
	if short(tests[2].id) == short(tests[3].id) {
		t.Error("two derived logout ids print the same")
	}
}
