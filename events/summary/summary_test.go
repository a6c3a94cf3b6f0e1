package summary

import "testing"

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
