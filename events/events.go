// Package events defines the Go types, subject names and wire encoding of
// every event signoff exchanges over NATS. It is the contract of DESIGN.md
// ("Contract: events") in code: every message that comes from outside is
// decoded with Decode, which validates it against the JSON Schema embedded
// in package schemas before it is unmarshalled.
//
// The package does no I/O.
package events

import "time"

// Subjects of the SIGNOFF stream (DESIGN.md, "Contract: events").
const (
	// StreamName is the JetStream stream that captures Subjects.
	StreamName = "SIGNOFF"
	// Subjects is the subject filter of the stream.
	Subjects = "signoff.>"

	SubjectSessionJoined   = "signoff.session.joined"
	SubjectSessionActivity = "signoff.session.activity"
	SubjectLogoutRequested = "signoff.logout.requested"
	SubjectDispatchPrefix  = "signoff.logout.dispatch."
	SubjectLogoutResult    = "signoff.logout.result"
	SubjectLogoutCompleted = "signoff.logout.completed"
	SubjectPoison          = "signoff.poison"
)

// Adapter names an adapter: the last token of a dispatch subject, and the
// adapter field of logout.dispatch, logout.result and logout.completed
// (schemas/logout.dispatch.v1.json). It is a string on the wire.
type Adapter string

// Adapter names.
const (
	AdapterBackchannel  Adapter = "backchannel"
	AdapterFrontchannel Adapter = "frontchannel"
	AdapterSAML         Adapter = "saml"
	AdapterCookie       Adapter = "cookie"
	// AdapterSSF sends CAEP session-revoked Security Event Tokens (Shared
	// Signals, push or poll).
	AdapterSSF Adapter = "ssf"
)

// DispatchSubject is the subject on which the coordinator dispatches
// participants to the named adapter.
func DispatchSubject(adapter Adapter) string { return SubjectDispatchPrefix + string(adapter) }

// Initiator says who started a logout: the initiator field of
// logout.requested and logout.dispatch (schemas/logout.requested.v1.json).
type Initiator string

// Initiators of a logout.
const (
	InitiatorUser   Initiator = "user"
	InitiatorRP     Initiator = "rp"
	InitiatorAdmin  Initiator = "admin"
	InitiatorExpiry Initiator = "expiry"
	InitiatorIdP    Initiator = "idp"
)

// Scope says which relying parties a logout ends: the scope field of
// logout.requested (schemas/logout.requested.v1.json).
type Scope string

// Scopes of a logout.
const (
	ScopeGlobal        Scope = "global"
	ScopeInitiatorOnly Scope = "initiator_only"
)

// Outcome is the outcome of one participant: the outcome field of
// logout.result and of the participants of logout.completed
// (schemas/logout.result.v1.json), or OutcomePending while it has not
// reported.
type Outcome string

// Outcomes of one participant (logout.result and logout.completed).
const (
	OutcomeSucceeded   Outcome = "succeeded"
	OutcomeFailed      Outcome = "failed"
	OutcomeTimedOut    Outcome = "timed_out"
	OutcomeUnsupported Outcome = "unsupported"
)

// OutcomePending is the outcome of a participant that has not reported
// yet, as the status API shows it beside the result outcomes. It is never
// sent on the bus.
const OutcomePending Outcome = "pending"

// Status is the status of a whole logout: StatusRunning until it ends, then
// the outcome field of logout.completed (schemas/logout.completed.v1.json),
// StatusComplete or StatusPartial.
type Status string

// Statuses of a whole logout. StatusRunning is what the status API
// (GET /api/logouts/{id}) shows for a logout that has not completed; it is
// never sent on the bus.
const (
	StatusRunning  Status = "running"
	StatusComplete Status = "complete"
	StatusPartial  Status = "partial"
)

// OIDCSession is what an OpenID Connect RP knows of a session.
type OIDCSession struct {
	// SID is the sid claim the RP received in its ID Token
	// (OpenID Connect Back-Channel Logout 1.0, section 2.1).
	SID string `json:"sid,omitempty"`
}

// SAMLSession is what a SAML SP knows of a session (saml-core 3.7.1): the
// NameID exactly as asserted, and the SessionIndex.
type SAMLSession struct {
	NameID          string `json:"name_id"`
	Format          string `json:"format,omitempty"`
	NameQualifier   string `json:"name_qualifier,omitempty"`
	SPNameQualifier string `json:"sp_name_qualifier,omitempty"`
	SessionIndex    string `json:"session_index,omitempty"`
}

// Upstream names a session at an upstream identity provider that signoff
// follows: Id is the configured upstream (upstreams[].id, or an SSF
// transmitter's id) and SID its session id there (the sid claim of OpenID
// Connect Back-Channel Logout 1.0, section 2.4, or a CAEP session id).
type Upstream struct {
	ID  string `json:"id"`
	SID string `json:"sid,omitempty"`
}

// SessionJoined is published by the IdP when a user signs in to an RP
// (subject signoff.session.joined).
type SessionJoined struct {
	EventID    string       `json:"event_id"`
	OccurredAt time.Time    `json:"occurred_at"`
	SessionID  string       `json:"session_id"`
	Subject    string       `json:"subject"`
	RPID       string       `json:"rp_id"`
	OIDC       *OIDCSession `json:"oidc,omitempty"`
	SAML       *SAMLSession `json:"saml,omitempty"`
	ExpiresAt  *time.Time   `json:"expires_at,omitempty"`
	// Upstream is set when the session rests on a session at an upstream
	// IdP: a logout there (by back-channel token or Shared Signals) ends it.
	Upstream *Upstream `json:"upstream,omitempty"`
}

// SessionActivity is published by the IdP when a session is used
// (subject signoff.session.activity).
type SessionActivity struct {
	EventID    string    `json:"event_id"`
	OccurredAt time.Time `json:"occurred_at"`
	SessionID  string    `json:"session_id"`
}

// LogoutRequested asks for a Single Logout (subject signoff.logout.requested).
// At least one of SessionID and Subject is set. LogoutID is the idempotency key.
type LogoutRequested struct {
	EventID        string    `json:"event_id"`
	LogoutID       string    `json:"logout_id"`
	OccurredAt     time.Time `json:"occurred_at"`
	SessionID      string    `json:"session_id,omitempty"`
	Subject        string    `json:"subject,omitempty"`
	Initiator      Initiator `json:"initiator"`
	InitiatingRPID string    `json:"initiating_rp_id,omitempty"`
	Scope          Scope     `json:"scope"`
	Reason         string    `json:"reason,omitempty"`
	ReturnTo       string    `json:"return_to,omitempty"`
	// Browser is true when signoff's logout page follows this logout in
	// the user's browser: the local session cookie becomes a participant.
	Browser bool `json:"browser,omitempty"`
	// Upstream, when set, names the sessions to end by their upstream
	// session: every session whose session.joined carried the same
	// upstream id and sid. With only Upstream.ID and Subject, all the
	// user's sessions that rest on that upstream end.
	Upstream *Upstream `json:"upstream,omitempty"`
}

// DispatchSession is one IdP session of the user at the participant RP.
type DispatchSession struct {
	SessionID string       `json:"session_id"`
	OIDC      *OIDCSession `json:"oidc,omitempty"`
	SAML      *SAMLSession `json:"saml,omitempty"`
}

// Dispatch tells one adapter to end the sessions of one participant RP
// (subject signoff.logout.dispatch.<adapter>).
type Dispatch struct {
	EventID    string            `json:"event_id"`
	LogoutID   string            `json:"logout_id"`
	RPID       string            `json:"rp_id"`
	Adapter    Adapter           `json:"adapter"`
	Deadline   time.Time         `json:"deadline"`
	OccurredAt time.Time         `json:"occurred_at"`
	Initiator  Initiator         `json:"initiator"`
	Reason     string            `json:"reason,omitempty"`
	Subject    string            `json:"subject"`
	Sessions   []DispatchSession `json:"sessions"`
}

// Result reports the outcome of one participant (subject signoff.logout.result).
type Result struct {
	EventID    string    `json:"event_id"`
	LogoutID   string    `json:"logout_id"`
	RPID       string    `json:"rp_id"`
	Adapter    Adapter   `json:"adapter"`
	Outcome    Outcome   `json:"outcome"`
	Detail     string    `json:"detail"`
	Attempts   int       `json:"attempts"`
	FinishedAt time.Time `json:"finished_at"`
}

// ParticipantOutcome is one participant of a completed logout.
type ParticipantOutcome struct {
	RPID    string  `json:"rp_id"`
	Name    string  `json:"name"`
	Adapter Adapter `json:"adapter"`
	Outcome Outcome `json:"outcome"`
	Detail  string  `json:"detail"`
}

// Completed announces the end of a logout (subject signoff.logout.completed).
type Completed struct {
	EventID      string               `json:"event_id"`
	LogoutID     string               `json:"logout_id"`
	OccurredAt   time.Time            `json:"occurred_at"`
	Outcome      Status               `json:"outcome"`
	Participants []ParticipantOutcome `json:"participants"`
	// Detail explains an outcome the participants alone do not, e.g. a
	// logout for which no relying party session was known
	// (CompletedNoSessions). Optional; empty otherwise.
	Detail string `json:"detail,omitempty"`
}

// CompletedNoSessions is the Detail of a logout.completed whose logout
// found no relying party session of the user: nothing was signed out but
// the sign-in service itself (a session.joined for an rp_id that is not
// configured is poisoned and registers nothing).
const CompletedNoSessions = "no relying party session was known for this sign-in; nothing was signed out at any application"
