package events

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"time"
)

// Event is implemented by every event type of this package (DESIGN.md,
// "Contract: events"). Both the value and the pointer types implement it.
type Event interface {
	// SchemaName names the event's JSON Schema without version and
	// extension, for example "logout.requested" for
	// schemas/logout.requested.v1.json.
	SchemaName() string
}

// Schema names, as returned by the SchemaName methods and SchemaFor.
const (
	schemaSessionJoined   = "session.joined"
	schemaSessionActivity = "session.activity"
	schemaLogoutRequested = "logout.requested"
	schemaDispatch        = "logout.dispatch"
	schemaResult          = "logout.result"
	schemaCompleted       = "logout.completed"
)

// SchemaName returns "session.joined" (schemas/session.joined.v1.json).
func (SessionJoined) SchemaName() string { return schemaSessionJoined }

// SchemaName returns "session.activity" (schemas/session.activity.v1.json).
func (SessionActivity) SchemaName() string { return schemaSessionActivity }

// SchemaName returns "logout.requested" (schemas/logout.requested.v1.json).
func (LogoutRequested) SchemaName() string { return schemaLogoutRequested }

// SchemaName returns "logout.dispatch" (schemas/logout.dispatch.v1.json),
// whatever the adapter.
func (Dispatch) SchemaName() string { return schemaDispatch }

// SchemaName returns "logout.result" (schemas/logout.result.v1.json).
func (Result) SchemaName() string { return schemaResult }

// SchemaName returns "logout.completed" (schemas/logout.completed.v1.json).
func (Completed) SchemaName() string { return schemaCompleted }

// ErrInvalid is matched (with errors.Is) by every error Decode, DecodeSubject
// and Validate return for a message that breaks the contract of DESIGN.md
// ("Contract: events"): such a message belongs on SubjectPoison.
var ErrInvalid = errors.New("invalid event")

// InvalidError describes a message that is not valid against its schema.
// errors.Is(err, ErrInvalid) holds for it. Its text is short, one line and
// meant for people, for example
//
//	invalid logout.requested: at /initiator: value must be one of "user", "rp", "admin", "expiry", "idp"
type InvalidError struct {
	// Schema is the schema name, for example "logout.requested"; empty
	// when no schema applies (an unknown subject).
	Schema string
	// Reason says what is wrong, naming the offending property as a JSON
	// pointer ("at /event_id: ..."), or "not JSON: ..." when the payload
	// does not parse. It is one line of at most about 500 bytes.
	Reason string
}

// Error returns "invalid <schema>: <reason>".
func (e *InvalidError) Error() string {
	name := e.Schema
	if name == "" {
		name = "event"
	}
	return "invalid " + name + ": " + e.Reason
}

// Is reports whether target is ErrInvalid.
func (e *InvalidError) Is(target error) bool { return target == ErrInvalid }

// Decode validates data against the JSON Schema of T first, so that an
// error names the offending property, and then unmarshals it into a T.
// Times of the result are in UTC. Call it with the event type, for example
//
//	req, err := events.Decode[events.LogoutRequested](msg.Payload)
//
// An invalid message gives an *InvalidError (errors.Is(err, ErrInvalid)) and
// the zero T. Properties the schema does not name are ignored (forward
// compatible), but a property whose name differs from a defined one only in
// letter case is invalid, because encoding/json would match it to the
// defined field after validation.
func Decode[T any, PT interface {
	*T
	Event
}](data []byte) (T, error) {
	var t T
	if err := decode(PT(&t), data); err != nil {
		var zero T
		return zero, err
	}
	return t, nil
}

// DecodeSubject decodes data received on a NATS subject of the SIGNOFF
// stream with the schema SchemaFor gives for it. The result holds a value,
// not a pointer: LogoutRequested, Dispatch, and so on. A subject without a
// schema gives an *InvalidError with an empty Schema.
func DecodeSubject(subject string, data []byte) (Event, error) {
	name, ok := SchemaFor(subject)
	if !ok {
		return nil, &InvalidError{Reason: "no schema for subject " + quoteShort(subject)}
	}
	switch name {
	case schemaSessionJoined:
		return decodeAs[SessionJoined](data)
	case schemaSessionActivity:
		return decodeAs[SessionActivity](data)
	case schemaLogoutRequested:
		return decodeAs[LogoutRequested](data)
	case schemaDispatch:
		return decodeAs[Dispatch](data)
	case schemaResult:
		return decodeAs[Result](data)
	default:
		return decodeAs[Completed](data)
	}
}

func decodeAs[T any, PT interface {
	*T
	Event
}](data []byte) (Event, error) {
	t, err := Decode[T, PT](data)
	if err != nil {
		return nil, err
	}
	return any(t).(Event), nil
}

// Validate reports whether data is a valid event of the JSON Schema named
// name (for example "logout.requested"), with the same rules and errors as
// Decode: it decodes data into a throwaway event. An unknown name is an
// error that does not match ErrInvalid.
func Validate(name string, data []byte) error {
	s, err := lookup(name)
	if err != nil {
		return err
	}
	return decode(reflect.New(s.typ).Interface().(Event), data)
}

// Encode returns the JSON encoding of e. It does not validate: events built
// in Go with the constants of this package are valid by construction, and
// the tests of this package prove that Encode's output validates. Nil
// slices are encoded as empty arrays.
func Encode(e Event) ([]byte, error) { return json.Marshal(e) }

// MarshalJSON encodes d with encoding/json, writing a nil Sessions as [] so
// that the result is valid against logout.dispatch.v1.json.
func (d Dispatch) MarshalJSON() ([]byte, error) {
	type plain Dispatch
	if d.Sessions == nil {
		d.Sessions = []DispatchSession{}
	}
	return json.Marshal(plain(d))
}

// MarshalJSON encodes c with encoding/json, writing a nil Participants as []
// so that the result is valid against logout.completed.v1.json.
func (c Completed) MarshalJSON() ([]byte, error) {
	type plain Completed
	if c.Participants == nil {
		c.Participants = []ParticipantOutcome{}
	}
	return json.Marshal(plain(c))
}

// SchemaFor returns the name of the schema of the messages on subject (see
// DESIGN.md, "Contract: events"): "session.joined" for
// signoff.session.joined, "logout.dispatch" for every
// signoff.logout.dispatch.<adapter>, and so on. It returns false for
// SubjectPoison and any other subject without a schema.
func SchemaFor(subject string) (name string, ok bool) {
	switch subject {
	case SubjectSessionJoined:
		return schemaSessionJoined, true
	case SubjectSessionActivity:
		return schemaSessionActivity, true
	case SubjectLogoutRequested:
		return schemaLogoutRequested, true
	case SubjectLogoutResult:
		return schemaResult, true
	case SubjectLogoutCompleted:
		return schemaCompleted, true
	}
	if adapter, found := strings.CutPrefix(subject, SubjectDispatchPrefix); found && isToken(adapter) {
		return schemaDispatch, true
	}
	return "", false
}

// isToken reports whether s is one literal NATS subject token.
func isToken(s string) bool {
	if s == "" || s == "*" || s == ">" {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '.', ' ', '\t', '\r', '\n':
			return false
		}
	}
	return true
}

// decode validates data against the schema of dst and unmarshals it into
// dst.
func decode(dst Event, data []byte) error {
	s, err := lookup(dst.SchemaName())
	if err != nil {
		return err
	}
	if err := s.validate(data); err != nil {
		return err
	}
	if err := json.Unmarshal(data, dst); err != nil {
		return &InvalidError{Schema: s.name, Reason: unmarshalReason(err)}
	}
	if n, ok := dst.(interface{ normalize() }); ok {
		n.normalize()
	}
	return nil
}

func (e *SessionJoined) normalize() {
	e.OccurredAt = e.OccurredAt.UTC()
	if e.ExpiresAt != nil {
		t := e.ExpiresAt.UTC()
		e.ExpiresAt = &t
	}
}

func (e *SessionActivity) normalize() { e.OccurredAt = e.OccurredAt.UTC() }

func (e *LogoutRequested) normalize() { e.OccurredAt = e.OccurredAt.UTC() }

func (e *Dispatch) normalize() {
	e.OccurredAt = e.OccurredAt.UTC()
	e.Deadline = e.Deadline.UTC()
}

func (e *Result) normalize() { e.FinishedAt = e.FinishedAt.UTC() }

func (e *Completed) normalize() { e.OccurredAt = e.OccurredAt.UTC() }

// unmarshalReason describes an error of json.Unmarshal on data that passed
// the schema (such as 1.0 for an integer, which JSON Schema accepts).
func unmarshalReason(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		loc := "root"
		if te.Field != "" {
			loc = "/" + strings.ReplaceAll(te.Field, ".", "/")
		}
		return capReason("at " + loc + ": cannot decode " + te.Value + " into " + te.Type.String())
	}
	var pe *time.ParseError
	if errors.As(err, &pe) {
		return capReason("cannot decode time " + quoteShort(pe.Value) + ": " + pe.Error())
	}
	return capReason("cannot decode: " + err.Error())
}
