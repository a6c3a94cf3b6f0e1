package summary

import (
	"testing"
	"time"
)

func TestList(t *testing.T) {
	tests := []struct {
		names []string
		want  string
	}{
		{nil, ""},
		{[]string{"Wiki"}, "Wiki"},
		{[]string{"Wiki", "Mail"}, "Wiki and Mail"},
		{[]string{"Wiki", "Mail", "Payroll"}, "Wiki, Mail and Payroll"},
	}
	for _, tt := range tests {
		if got := List(tt.names); got != tt.want {
			t.Errorf("List(%q) = %q, want %q", tt.names, got, tt.want)
		}
	}
}

func TestSignedOutOf(t *testing.T) {
	if got, want := SignedOutOf([]string{"Wiki", "Mail"}), "You were signed out of Wiki and Mail."; got != want {
		t.Errorf("SignedOutOf = %q, want %q", got, want)
	}
}

func TestDuration(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want string
	}{
		{10 * time.Minute, "10m"},
		{12 * time.Hour, "12h"},
		{90 * 24 * time.Hour, "2160h"},
		{90 * time.Minute, "1h30m"},
		{90 * time.Second, "1m30s"},
		{1500 * time.Millisecond, "1.5s"},
	}
	for _, tt := range tests {
		if got := Duration(tt.d); got != tt.want {
			t.Errorf("Duration(%v) = %q, want %q", tt.d, got, tt.want)
		}
	}
}
