package client

import (
	"testing"

	"github.com/signoff/signoff/events"
)

func TestSummary(t *testing.T) {
	p := func(name string, outcome events.Outcome) events.ParticipantOutcome {
		return events.ParticipantOutcome{Name: name, Outcome: outcome}
	}
	tests := []struct {
		parts []events.ParticipantOutcome
		want  string
	}{
		{nil, "You were already signed out: no application had a session."},
		{[]events.ParticipantOutcome{p("Wiki", "succeeded"), p("Payroll", "succeeded")}, "You were signed out of Wiki and Payroll."},
		{[]events.ParticipantOutcome{p("Wiki", "succeeded"), p("Payroll", "succeeded"), p("Chat", "timed_out")},
			"You were signed out of Wiki and Payroll; Chat did not confirm — close your browser to be sure."},
		{[]events.ParticipantOutcome{p("A", "succeeded"), p("B", "succeeded"), p("C", "succeeded")}, "You were signed out of A, B and C."},
		{[]events.ParticipantOutcome{p("Chat", "failed")}, "Chat did not confirm the sign-out — close your browser to be sure."},
	}
	for _, tt := range tests {
		if got := Summary(events.Completed{Participants: tt.parts}); got != tt.want {
			t.Errorf("Summary = %q, want %q", got, tt.want)
		}
	}
}
