package delivery

import (
	"sync/atomic"

	"github.com/signoff/signoff/events"
)

// Outcomes counts the results an adapter published, by outcome: the
// Succeeded, Failed and TimedOut of its Stats. Every outcome other than
// succeeded and timed_out (failed, unsupported) counts as Failed. The zero
// value is ready to use.
type Outcomes struct {
	Succeeded, Failed, TimedOut atomic.Uint64
}

// Count adds one result with outcome to its counter.
func (o *Outcomes) Count(outcome events.Outcome) {
	switch outcome {
	case events.OutcomeSucceeded:
		o.Succeeded.Add(1)
	case events.OutcomeTimedOut:
		o.TimedOut.Add(1)
	default:
		o.Failed.Add(1)
	}
}
