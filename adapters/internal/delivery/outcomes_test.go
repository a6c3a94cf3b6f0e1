package delivery

import (
	"testing"

	"github.com/signoff/signoff/events"
)

func TestOutcomesCount(t *testing.T) {
	tests := []struct {
		outcome                     events.Outcome
		succeeded, failed, timedOut uint64
	}{
		{events.OutcomeSucceeded, 1, 0, 0},
		{events.OutcomeTimedOut, 0, 0, 1},
		{events.OutcomeFailed, 0, 1, 0},
		{events.OutcomeUnsupported, 0, 1, 0},
	}
	for _, tt := range tests {
		var o Outcomes
		o.Count(tt.outcome)
		if got := [3]uint64{o.Succeeded.Load(), o.Failed.Load(), o.TimedOut.Load()}; got != [3]uint64{tt.succeeded, tt.failed, tt.timedOut} {
			t.Errorf("Count(%q): succeeded, failed, timed_out = %v, want %v", tt.outcome, got, [3]uint64{tt.succeeded, tt.failed, tt.timedOut})
		}
	}
}
