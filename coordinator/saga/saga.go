// Package saga is the pure state machine of one Single Logout: given the
// current state of a logout and an event (its start, a participant's result,
// the passing of its deadline) it returns the new state and the commands to
// carry out. It does no I/O and reads no clock; the caller passes the time.
//
// The rules are those of README ("Rules that protect users"): a participant
// counts as signed out only on proof (OutcomeSucceeded reported by its
// adapter); a participant still pending when the deadline passes becomes
// timed_out; the logout is complete only when every participant succeeded,
// partial otherwise.
//
// Transitions of a saga (status) and of each participant (state):
//
//	saga         event                          next           commands
//	(none)       Start, participants found      running        Dispatch each bus participant
//	(none)       Start, no participant          complete       Complete
//	running      ApplyResult, last pending one  complete|partial  Complete
//	running      ApplyResult, others pending    running        —
//	running      Expire (deadline passed)       partial        Complete (pending → timed_out)
//	running      Resume (before the deadline)   running        Dispatch each pending one
//	complete|partial  any                       unchanged      —
//
//	participant  event                          next
//	pending      result succeeded|failed|timed_out|unsupported   that outcome (terminal)
//	pending      deadline                       timed_out
//	terminal     any result                     unchanged (results come at least once)
package saga

import (
	"errors"
	"fmt"
	"time"

	"github.com/signoff/signoff/events"
)

// Status of a saga: the events.Status values, named here for the state
// machine's readers.
const (
	StatusRunning  = events.StatusRunning
	StatusComplete = events.StatusComplete
	StatusPartial  = events.StatusPartial
)

// StatePending is the state of a participant that has not reported yet.
const StatePending = events.OutcomePending

// LocalRPID is the rp_id of the participant "this sign-in service": the
// IdP session cookie in the user's browser, ended by the cookie adapter in
// a logout started from a browser (events.LogoutRequested.Browser). It is
// reserved: no relying party may use it.
const LocalRPID = "signoff"

// ErrUnknownParticipant is returned for a result whose rp_id is not a
// participant of the logout.
var ErrUnknownParticipant = errors.New("saga: result for unknown participant")

// Session is one registered RP session, as the session registry knows it.
type Session struct {
	SessionID string
	Subject   string
	RPID      string
	OIDC      *events.OIDCSession
	SAML      *events.SAMLSession
}

// RP is what the state machine needs to know of a relying party: its
// display name and the adapter that ends its sessions. An empty Adapter, or
// one that is not enabled, makes the participant unsupported at once.
type RP struct {
	ID      string
	Name    string
	Adapter events.Adapter
	// SubjectNameIDFormat is set for a SAML RP whose NameID is the
	// subject (config name_id: subject): a fan-out participant's
	// LogoutRequest names the user by NameID = subject in this format.
	SubjectNameIDFormat string
}

// Directory answers which RP an rp_id is, and whether an adapter is enabled.
type Directory interface {
	RP(id string) (RP, bool)
	AdapterEnabled(adapter events.Adapter) bool
}

// Participant is one RP taking part in a logout.
type Participant struct {
	RPID     string
	Name     string
	Adapter  events.Adapter
	State    events.Outcome // StatePending or a result's outcome
	Detail   string
	Attempts int
	// Sessions are the IdP sessions of the user at this RP.
	Sessions []events.DispatchSession
	// FinishedAt is set when State is terminal.
	FinishedAt time.Time
	// Fanout is true for a participant added by Start because its RP is
	// configured fanout: always, with no registered session (not stored:
	// only the saga returned by Start has it).
	Fanout bool
}

// Terminal reports whether the participant has reached a final outcome.
func (p Participant) Terminal() bool { return p.State != StatePending }

// Saga is the state of one logout.
type Saga struct {
	LogoutID       string
	Status         events.Status
	Initiator      events.Initiator
	Scope          events.Scope
	SessionID      string
	Subject        string
	InitiatingRPID string
	Reason         string
	ReturnTo       string
	RequestedAt    time.Time
	Deadline       time.Time
	FinishedAt     time.Time
	Participants   []Participant
}

// Running reports whether the saga still waits for participants.
func (s *Saga) Running() bool { return s.Status == StatusRunning }

// Command is something the caller must do, in the same transaction as it
// stores the new state: Dispatch or Complete.
type Command interface{ isCommand() }

// Dispatch asks the caller to send one participant to its adapter.
type Dispatch struct {
	Participant Participant
}

// Complete asks the caller to announce the end of the logout.
type Complete struct {
	Outcome      events.Status
	Participants []events.ParticipantOutcome
	// Detail is events.CompletedNoSessions when no relying party took
	// part (NoRPSessions), empty otherwise.
	Detail string
}

// NoRPSessions reports whether the logout found no relying party session:
// its only participant, if any, is this sign-in service (LocalRPID).
func (s *Saga) NoRPSessions() bool {
	for _, p := range s.Participants {
		if p.RPID != LocalRPID {
			return false
		}
	}
	return true
}

func (Dispatch) isCommand() {}
func (Complete) isCommand() {}

// Start begins a logout for req over the sessions the registry returned for
// it. Sessions are grouped into one participant per RP; with scope
// initiator_only only the initiating RP takes part. RPs whose adapter is not
// enabled are unsupported at once; if no participant remains pending the
// saga completes immediately (a user already signed out everywhere gets a
// truthful, empty, complete logout).
func Start(req events.LogoutRequested, sessions []Session, dir Directory, deadline time.Duration, now time.Time) (Saga, []Command) {
	s := Saga{
		LogoutID:       req.LogoutID,
		Status:         StatusRunning,
		Initiator:      req.Initiator,
		Scope:          req.Scope,
		SessionID:      req.SessionID,
		Subject:        req.Subject,
		InitiatingRPID: req.InitiatingRPID,
		Reason:         req.Reason,
		ReturnTo:       req.ReturnTo,
		RequestedAt:    now,
		Deadline:       now.Add(deadline),
	}
	index := map[string]int{}
	if req.Browser {
		p := Participant{RPID: LocalRPID, Name: "This sign-in service", Adapter: events.AdapterCookie, State: StatePending}
		if rp, ok := dir.RP(LocalRPID); ok {
			p.Name = rp.Name
		}
		if !dir.AdapterEnabled(events.AdapterCookie) {
			p.State, p.Detail, p.FinishedAt = events.OutcomeUnsupported, unsupportedDetail(events.AdapterCookie), now
		}
		index[LocalRPID] = 0
		s.Participants = append(s.Participants, p)
	}
	for _, sess := range sessions {
		if req.Scope == events.ScopeInitiatorOnly && sess.RPID != req.InitiatingRPID {
			continue
		}
		if s.Subject == "" {
			s.Subject = sess.Subject
		}
		i, ok := index[sess.RPID]
		if !ok {
			p := Participant{RPID: sess.RPID, Name: sess.RPID, State: StatePending}
			rp, known := dir.RP(sess.RPID)
			switch {
			case !known:
				p.State, p.Detail, p.FinishedAt = events.OutcomeFailed, "relying party is no longer configured", now
			case rp.Adapter == "" || !dir.AdapterEnabled(rp.Adapter):
				p.Name, p.Adapter = rp.Name, rp.Adapter
				p.State, p.Detail, p.FinishedAt = events.OutcomeUnsupported, unsupportedDetail(rp.Adapter), now
			default:
				p.Name, p.Adapter = rp.Name, rp.Adapter
			}
			i = len(s.Participants)
			index[sess.RPID] = i
			s.Participants = append(s.Participants, p)
		}
		s.Participants[i].Sessions = append(s.Participants[i].Sessions, events.DispatchSession{
			SessionID: sess.SessionID, OIDC: sess.OIDC, SAML: sess.SAML,
		})
	}
	s.addFanout(dir, now)
	var cmds []Command
	for _, p := range s.Participants {
		if !p.Terminal() {
			cmds = append(cmds, Dispatch{Participant: p})
		}
	}
	return s, append(cmds, s.finishIfDone(now)...)
}

func unsupportedDetail(adapter events.Adapter) string {
	if adapter == "" {
		return "no logout channel is configured for this relying party"
	}
	return fmt.Sprintf("the %s logout channel is not enabled in this signoff", adapter)
}

// ApplyResult records the outcome one adapter reported; changed says
// whether it did. A result for a participant that is already terminal, or
// for a saga that has ended, changes nothing (results are delivered at
// least once).
func (s Saga) ApplyResult(r events.Result, now time.Time) (_ Saga, _ []Command, changed bool, _ error) {
	if !s.Running() {
		return s, nil, false, nil
	}
	i := s.find(r.RPID)
	if i < 0 {
		return s, nil, false, fmt.Errorf("%w: logout %s has no participant %q", ErrUnknownParticipant, s.LogoutID, r.RPID)
	}
	if s.Participants[i].Terminal() {
		return s, nil, false, nil
	}
	s.Participants = append([]Participant(nil), s.Participants...)
	p := &s.Participants[i]
	p.State, p.Detail, p.Attempts = r.Outcome, r.Detail, r.Attempts
	p.FinishedAt = r.FinishedAt
	if p.FinishedAt.IsZero() {
		p.FinishedAt = now
	}
	return s, s.finishIfDone(now), true, nil
}

// Expire ends a running saga whose deadline has passed: every participant
// still pending becomes timed_out and the saga ends partial. Before the
// deadline, or for an ended saga, it changes nothing.
func (s Saga) Expire(now time.Time) (Saga, []Command) {
	if !s.Running() || now.Before(s.Deadline) {
		return s, nil
	}
	s.Participants = append([]Participant(nil), s.Participants...)
	for i := range s.Participants {
		p := &s.Participants[i]
		if !p.Terminal() {
			p.State, p.FinishedAt = events.OutcomeTimedOut, now
			if p.Detail == "" {
				p.Detail = "no confirmation before the logout deadline"
			}
		}
	}
	return s, s.finishIfDone(now)
}

// Resume returns the commands that bring a running saga back in motion after
// a restart: a Dispatch for every participant still pending (adapters are
// idempotent, so a participant dispatched before the crash may be
// dispatched twice), or the expiry if the deadline has passed.
func (s Saga) Resume(now time.Time) (Saga, []Command) {
	if !s.Running() {
		return s, nil
	}
	if !now.Before(s.Deadline) {
		return s.Expire(now)
	}
	var cmds []Command
	for _, p := range s.Participants {
		if !p.Terminal() {
			cmds = append(cmds, Dispatch{Participant: p})
		}
	}
	return s, cmds
}

func (s *Saga) find(rpID string) int {
	for i := range s.Participants {
		if s.Participants[i].RPID == rpID {
			return i
		}
	}
	return -1
}

func (s *Saga) finishIfDone(now time.Time) []Command {
	outcome := StatusComplete
	for _, p := range s.Participants {
		if !p.Terminal() {
			return nil
		}
		if p.State != events.OutcomeSucceeded {
			outcome = StatusPartial
		}
	}
	s.Status, s.FinishedAt = outcome, now
	parts := make([]events.ParticipantOutcome, len(s.Participants))
	for i, p := range s.Participants {
		parts[i] = events.ParticipantOutcome{RPID: p.RPID, Name: p.Name, Adapter: p.Adapter, Outcome: p.State, Detail: p.Detail}
	}
	c := Complete{Outcome: outcome, Participants: parts}
	if s.NoRPSessions() {
		c.Detail = events.CompletedNoSessions
	}
	return []Command{c}
}
