package coordinator

import (
	"time"

	"github.com/signoff/signoff/events"
)

// Observer is told what the coordinator committed, once it is committed
// (a rolled-back intake batch tells nothing; it is applied again later).
// It feeds metrics (DESIGN.md, "Flow": the saga's start, results, deadline
// and logout.completed); its methods must be quick and must not block.
type Observer interface {
	// LogoutCompleted: a saga ended with outcome (complete or partial)
	// took after its start, with the final outcome of each participant.
	LogoutCompleted(outcome events.Status, took time.Duration, participants []events.ParticipantOutcome)
	// ParticipantResult: an adapter's result ended a pending participant,
	// took after the saga dispatched it (its start).
	ParticipantResult(adapter events.Adapter, rpID string, outcome events.Outcome, took time.Duration)
	// LateResult: a result arrived for a logout that had already ended
	// (after its deadline, or redelivered); it changed nothing.
	LateResult(adapter events.Adapter, rpID string)
	// Poisoned: an intake event on subject was put on signoff.poison.
	Poisoned(subject string)
}

type nopObserver struct{}

func (nopObserver) LogoutCompleted(events.Status, time.Duration, []events.ParticipantOutcome) {}
func (nopObserver) ParticipantResult(events.Adapter, string, events.Outcome, time.Duration)   {}
func (nopObserver) LateResult(events.Adapter, string)                                         {}
func (nopObserver) Poisoned(string)                                                           {}
