// Package keycloak bridges Keycloak user events, published on NATS by a
// Keycloak event listener, into signoff's events (DESIGN.md "Contract:
// feeding signoff from existing IdPs"): a LOGIN or CODE_TO_TOKEN at a
// mapped client becomes a session.joined, a LOGOUT or USER_SESSION_DELETED
// a logout.requested. Keycloak itself sends no back-channel logout when a
// session expires (keycloak#25171); since 26.5 it emits USER_SESSION_DELETED
// with details.reason "expired" (keycloak#43256), which this bridge turns
// into a logout with initiator expiry.
//
// Two payloads are understood: Keycloak's own event representation
// (org.keycloak.events.Event serialised by Jackson, as the keycloak-nats
// listener publishes it on keycloak.event.client.<realm>.<result>.<clientId>.<type>),
// and the CloudEvents envelope of keycloak-nats-durable, whose data carries
// the same fields under other names.
package keycloak

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Event is a Keycloak user event in Keycloak's representation
// (org.keycloak.events.Event, org.keycloak.representations.idm.EventRepresentation):
// time is milliseconds since the epoch, details a map of strings.
type Event struct {
	ID        string            `json:"id"`
	Time      int64             `json:"time"`
	Type      string            `json:"type"`
	RealmID   string            `json:"realmId"`
	RealmName string            `json:"realmName"`
	ClientID  string            `json:"clientId"`
	UserID    string            `json:"userId"`
	SessionID string            `json:"sessionId"`
	IPAddress string            `json:"ipAddress"`
	Error     string            `json:"error"`
	Details   map[string]string `json:"details"`

	// OperationType, ResourceType and ResourcePath are those of an admin
	// event (org.keycloak.events.admin.AdminEvent), which has no type:
	// e.g. DELETE USER_SESSION sessions/<id>, ACTION USER users/<id>/logout.
	OperationType string `json:"operationType"`
	ResourceType  string `json:"resourceType"`
	ResourcePath  string `json:"resourcePath"`

	// admin is set for an admin event.
	admin bool
}

// Keycloak event types the bridge acts on (org.keycloak.events.EventType).
const (
	TypeLogin              = "LOGIN"
	TypeCodeToToken        = "CODE_TO_TOKEN"
	TypeLogout             = "LOGOUT"
	TypeUserSessionDeleted = "USER_SESSION_DELETED"
)

// Detail keys and values (org.keycloak.events.Details).
const (
	DetailUsername = "username"
	DetailReason   = "reason"
	// ReasonExpired is details.reason of a USER_SESSION_DELETED for a
	// session that reached its idle timeout or maximum lifespan
	// (Details.EXPIRED_DETAIL, Keycloak 26.5).
	ReasonExpired = "expired"
)

// ErrMalformed marks a payload that is not a Keycloak event.
var ErrMalformed = errors.New("malformed Keycloak event")

// envelopeData is the data of a keycloak-nats-durable CloudEvent.
type envelopeData struct {
	Kind            string            `json:"kind"`
	RealmID         string            `json:"realmId"`
	Outcome         string            `json:"outcome"`
	EventType       string            `json:"eventType"`
	UserID          string            `json:"userId"`
	ClientID        string            `json:"clientId"`
	SessionID       string            `json:"sessionId"`
	KeycloakEventID string            `json:"keycloakEventId"`
	Details         map[string]string `json:"details"`
}

// Parse decodes one message. It accepts Keycloak's event representation
// and the keycloak-nats-durable CloudEvents envelope; anything else is
// ErrMalformed with the reason.
func Parse(data []byte) (Event, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return Event{}, fmt.Errorf("%w: not a JSON object", ErrMalformed)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		return Event{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if _, ok := raw["specversion"]; ok {
		return parseEnvelope(data)
	}
	var ev Event
	if err := json.Unmarshal(data, &ev); err != nil {
		return Event{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	switch {
	case ev.Type == "" && (ev.OperationType != "" || ev.ResourceType != ""):
		ev.admin = true
		if ev.RealmID == "" {
			return Event{}, fmt.Errorf("%w: admin event without realmId", ErrMalformed)
		}
		return ev, nil
	case ev.Type == "":
		return Event{}, fmt.Errorf("%w: no type", ErrMalformed)
	case ev.RealmID == "" && ev.RealmName == "":
		return Event{}, fmt.Errorf("%w: %s without realmId", ErrMalformed, ev.Type)
	case ev.Time < 0:
		return Event{}, fmt.Errorf("%w: negative time", ErrMalformed)
	}
	return ev, nil
}

// parseEnvelope reads a keycloak-nats-durable CloudEvent: its data holds
// eventType, realmId, userId, clientId, sessionId and the Keycloak event
// id; outcome "error" stands for Keycloak's error field.
func parseEnvelope(data []byte) (Event, error) {
	var env struct {
		ID   string        `json:"id"`
		Time string        `json:"time"`
		Data *envelopeData `json:"data"`
	}
	if err := json.Unmarshal(data, &env); err != nil {
		return Event{}, fmt.Errorf("%w: CloudEvent: %v", ErrMalformed, err)
	}
	d := env.Data
	if d == nil {
		return Event{}, fmt.Errorf("%w: CloudEvent without data", ErrMalformed)
	}
	if d.Kind == "admin" {
		return Event{admin: true}, nil
	}
	if d.EventType == "" || d.RealmID == "" {
		return Event{}, fmt.Errorf("%w: CloudEvent data without eventType or realmId", ErrMalformed)
	}
	ev := Event{ID: d.KeycloakEventID, Type: d.EventType, RealmID: d.RealmID, ClientID: d.ClientID,
		UserID: d.UserID, SessionID: d.SessionID, Details: d.Details}
	if ev.ID == "" {
		ev.ID = env.ID
	}
	if d.Outcome != "" && d.Outcome != "success" {
		ev.Error = d.Outcome
	}
	if env.Time != "" {
		t, err := time.Parse(time.RFC3339Nano, env.Time)
		if err != nil {
			return Event{}, fmt.Errorf("%w: CloudEvent time: %v", ErrMalformed, err)
		}
		ev.Time = t.UnixMilli()
	}
	return ev, nil
}
