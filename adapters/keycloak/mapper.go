package keycloak

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/signoff/signoff/events"
)

// Mapping says which Keycloak events concern signoff and how they map.
type Mapping struct {
	// Realm is the id (realmId) or name (realmName) of the followed realm.
	Realm string
	// Clients maps a Keycloak clientId to a signoff rp_id.
	Clients map[string]string
	// SubjectFromUsername takes the signoff subject from details.username
	// instead of userId.
	SubjectFromUsername bool
	// UpstreamID is the upstream.id of the joins ("" leaves it out).
	UpstreamID string
}

// Kind is what became of one Keycloak event.
type Kind int

const (
	// Ignored: nothing is published (Why says which counter).
	Ignored Kind = iota
	// Joined: a session.joined.
	Joined
	// LogoutRequested: a logout.requested.
	LogoutRequested
)

// Why an event was ignored.
const (
	WhyRealm  = "realm"  // another realm
	WhyClient = "client" // a login at a client that is not mapped
	WhyError  = "error"  // a failed event (error set)
	WhyType   = "type"   // a type the bridge does not act on, or an admin event
)

// Outcome is the signoff event made of one Keycloak event.
type Outcome struct {
	Kind    Kind
	Why     string
	Subject string // NATS subject of the signoff event
	EventID string // its event_id, also its Nats-Msg-Id
	Data    []byte // its JSON, valid against its schema
}

// namespace of the UUIDv5 event ids (RFC 9562 section 5.5) derived from
// Keycloak event ids.
var namespace = uuid.MustParse("6f1c3d2e-8b7a-5c4d-9e0f-a1b2c3d4e5f6")

// SessionID is the signoff session_id of Keycloak user session sid in
// the realm with id realmID: stable, so every event of one Keycloak session
// names the same signoff session.
func SessionID(realmID, sid string) string { return "keycloak:" + realmID + ":" + sid }

// EventID is the event_id derived from a Keycloak event: a UUIDv5 of its
// realm and id (or, for an event without id, of its type, time, session,
// user and client), so a redelivered event carries the same Nats-Msg-Id
// and JetStream stores it once.
func EventID(ev Event) string {
	key := ev.ID
	if key == "" {
		key = ev.Type + "/" + strconv.FormatInt(ev.Time, 10) + "/" + ev.SessionID + "/" + ev.UserID + "/" + ev.ClientID +
			"/" + ev.OperationType + "/" + ev.ResourcePath
	}
	return uuid.NewSHA1(namespace, []byte(ev.RealmID+"\x00"+key)).String()
}

// Map turns one Keycloak event into a signoff event, or says why it is
// ignored; an event that cannot be mapped (a LOGIN without sessionId, a
// value the signoff schemas refuse) is an error wrapping ErrMalformed.
// now stands in for an event without time.
func (m Mapping) Map(ev Event, now time.Time) (Outcome, error) {
	if ev.RealmID != m.Realm && (ev.RealmName == "" || ev.RealmName != m.Realm) {
		return Outcome{Why: WhyRealm}, nil
	}
	if ev.Error != "" {
		return Outcome{Why: WhyError}, nil
	}
	at := now.UTC()
	if ev.Time > 0 {
		at = time.UnixMilli(ev.Time).UTC()
	}
	realmID := ev.RealmID
	if realmID == "" {
		realmID = ev.RealmName
	}
	if ev.admin {
		return m.mapAdmin(ev, realmID, at)
	}
	switch ev.Type {
	case TypeLogin, TypeCodeToToken:
		rpID, ok := m.Clients[ev.ClientID]
		if !ok {
			return Outcome{Why: WhyClient}, nil
		}
		if ev.SessionID == "" {
			return Outcome{}, fmt.Errorf("%w: %s at client %q without sessionId", ErrMalformed, ev.Type, ev.ClientID)
		}
		subject := ev.UserID
		what := "userId"
		if m.SubjectFromUsername {
			subject, what = ev.Details[DetailUsername], "details.username"
		}
		if subject == "" {
			return Outcome{}, fmt.Errorf("%w: %s without %s", ErrMalformed, ev.Type, what)
		}
		j := events.SessionJoined{
			EventID: EventID(ev), OccurredAt: at, SessionID: SessionID(realmID, ev.SessionID),
			Subject: subject, RPID: rpID, OIDC: &events.OIDCSession{SID: ev.SessionID},
		}
		if m.UpstreamID != "" {
			j.Upstream = &events.Upstream{ID: m.UpstreamID, SID: ev.SessionID}
		}
		return encode(Joined, events.SubjectSessionJoined, j)
	case TypeLogout, TypeUserSessionDeleted:
		if ev.SessionID == "" {
			return Outcome{}, fmt.Errorf("%w: %s without sessionId", ErrMalformed, ev.Type)
		}
		id := EventID(ev)
		req := events.LogoutRequested{
			EventID: id, LogoutID: "keycloak-" + id, OccurredAt: at, SessionID: SessionID(realmID, ev.SessionID),
			Initiator: events.InitiatorIdP, Scope: events.ScopeGlobal, Reason: "Keycloak LOGOUT",
		}
		if ev.Type == TypeUserSessionDeleted {
			switch r := ev.Details[DetailReason]; r {
			case ReasonExpired:
				req.Initiator, req.Reason = events.InitiatorExpiry, "Keycloak session expired (USER_SESSION_DELETED, reason expired)"
			case "":
				req.Reason = "Keycloak USER_SESSION_DELETED"
			default:
				req.Reason = "Keycloak USER_SESSION_DELETED, reason " + strconv.Quote(r)
			}
		}
		return encode(LogoutRequested, events.SubjectLogoutRequested, req)
	}
	return Outcome{Why: WhyType}, nil
}

// mapAdmin maps the admin events that end sessions: DELETE of
// sessions/<id> (an admin signed one session out) ends that session; ACTION
// users/<id>/logout ("Sign out" of all a user's sessions, for which
// Keycloak names only one session per client: keycloak#22914) ends every
// session of the user, when subjects are user ids. Other admin events,
// the realm-wide logout-all among them, are ignored.
func (m Mapping) mapAdmin(ev Event, realmID string, at time.Time) (Outcome, error) {
	path := strings.Trim(ev.ResourcePath, "/")
	id := EventID(ev)
	req := events.LogoutRequested{EventID: id, LogoutID: "keycloak-" + id, OccurredAt: at,
		Initiator: events.InitiatorAdmin, Scope: events.ScopeGlobal}
	switch parts := strings.Split(path, "/"); {
	case ev.OperationType == "DELETE" && len(parts) == 2 && parts[0] == "sessions" && parts[1] != "":
		req.SessionID = SessionID(realmID, parts[1])
		req.Reason = "Keycloak admin signed out the session"
	case ev.OperationType == "ACTION" && len(parts) == 3 && parts[0] == "users" && parts[1] != "" && parts[2] == "logout" && !m.SubjectFromUsername:
		req.Subject = parts[1]
		req.Reason = "Keycloak admin signed the user out of all sessions"
	default:
		return Outcome{Why: WhyType}, nil
	}
	return encode(LogoutRequested, events.SubjectLogoutRequested, req)
}

// encode marshals e and checks it against its schema, as the coordinator
// will: a value it would refuse (a userId longer than the schema allows)
// is refused here, where the Keycloak event can be poisoned with the reason.
func encode(kind Kind, subject string, e events.Event) (Outcome, error) {
	b, err := events.Encode(e)
	if err != nil {
		return Outcome{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if _, err := events.DecodeSubject(subject, b); err != nil {
		return Outcome{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	var id string
	switch v := e.(type) {
	case events.SessionJoined:
		id = v.EventID
	case events.LogoutRequested:
		id = v.EventID
	}
	return Outcome{Kind: kind, Subject: subject, EventID: id, Data: b}, nil
}
