package keycloak

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/signoff/signoff/events"
)

const (
	realmID  = "3b0e1c7a-5d2f-4e8b-9a61-7c4d2e9f0a13"
	aliceSID = "5c1e2d3f-7a8b-4c9d-8e0f-1a2b3c4d5e6f"
	bobSID   = "8f9e0d1c-2b3a-4c5d-9e6f-7a8b9c0d1e2f"
	aliceID  = "f47ac10b-58cc-4372-a567-0e02b2c3d479"
)

var testMapping = Mapping{Realm: realmID, Clients: map[string]string{"web-app": "notes"}, UpstreamID: "keycloak"}

func sample(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestMapSamples maps every sample of testdata as the bridge does and
// checks the signoff event it becomes, decoded with the events package
// (so against the JSON Schemas).
func TestMapSamples(t *testing.T) {
	now := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		file    string
		mapping Mapping
		kind    Kind
		why     string // Ignored
		malform string // error contains
		check   func(t *testing.T, ev events.Event)
	}{
		{file: "login.json", mapping: testMapping, kind: Joined, check: func(t *testing.T, ev events.Event) {
			j := ev.(events.SessionJoined)
			if j.SessionID != SessionID(realmID, aliceSID) || j.Subject != aliceID || j.RPID != "notes" ||
				j.OIDC == nil || j.OIDC.SID != aliceSID || j.Upstream == nil || *j.Upstream != (events.Upstream{ID: "keycloak", SID: aliceSID}) {
				t.Errorf("join %+v", j)
			}
			if !j.OccurredAt.Equal(time.UnixMilli(1795084013123)) {
				t.Errorf("occurred_at %v", j.OccurredAt)
			}
		}},
		{file: "login.json", mapping: Mapping{Realm: realmID, Clients: map[string]string{"web-app": "notes"}, SubjectFromUsername: true}, kind: Joined,
			check: func(t *testing.T, ev events.Event) {
				if j := ev.(events.SessionJoined); j.Subject != "alice" || j.Upstream != nil {
					t.Errorf("join with subject_from username, no upstream id: %+v", j)
				}
			}},
		{file: "code_to_token.json", mapping: testMapping, kind: Joined, check: func(t *testing.T, ev events.Event) {
			if j := ev.(events.SessionJoined); j.SessionID != SessionID(realmID, aliceSID) || j.RPID != "notes" {
				t.Errorf("join %+v", j)
			}
		}},
		{file: "logout.json", mapping: testMapping, kind: LogoutRequested, check: func(t *testing.T, ev events.Event) {
			r := ev.(events.LogoutRequested)
			if r.SessionID != SessionID(realmID, aliceSID) || r.Initiator != events.InitiatorIdP || r.Scope != events.ScopeGlobal ||
				r.Subject != "" || r.LogoutID != "keycloak-"+r.EventID {
				t.Errorf("logout %+v", r)
			}
		}},
		{file: "session_expired.json", mapping: testMapping, kind: LogoutRequested, check: func(t *testing.T, ev events.Event) {
			r := ev.(events.LogoutRequested)
			if r.SessionID != SessionID(realmID, bobSID) || r.Initiator != events.InitiatorExpiry || !strings.Contains(r.Reason, "expired") {
				t.Errorf("logout %+v", r)
			}
		}},
		{file: "cloudevent_logout.json", mapping: testMapping, kind: LogoutRequested, check: func(t *testing.T, ev events.Event) {
			r := ev.(events.LogoutRequested)
			if r.SessionID != SessionID(realmID, aliceSID) || r.Initiator != events.InitiatorIdP {
				t.Errorf("logout %+v", r)
			}
			// The same Keycloak event as logout.json: the same event id.
			ev2, _ := Parse(sample(t, "logout.json"))
			if r.EventID != EventID(ev2) {
				t.Errorf("envelope event id %s, raw event id %s", r.EventID, EventID(ev2))
			}
		}},
		{file: "admin_session_delete.json", mapping: testMapping, kind: LogoutRequested, check: func(t *testing.T, ev events.Event) {
			r := ev.(events.LogoutRequested)
			if r.SessionID != SessionID(realmID, aliceSID) || r.Subject != "" || r.Initiator != events.InitiatorAdmin {
				t.Errorf("logout %+v", r)
			}
		}},
		{file: "admin_user_logout.json", mapping: testMapping, kind: LogoutRequested, check: func(t *testing.T, ev events.Event) {
			r := ev.(events.LogoutRequested)
			if r.Subject != "0e1d2c3b-4a59-4687-9786-a5b4c3d2e1f0" || r.SessionID != "" || r.Initiator != events.InitiatorAdmin {
				t.Errorf("logout %+v", r)
			}
		}},
		{file: "admin_user_logout.json", mapping: Mapping{Realm: realmID, SubjectFromUsername: true}, why: WhyType},
		{file: "login_bob.json", mapping: Mapping{Realm: realmID, Clients: map[string]string{"other-app": "notes"}}, why: WhyClient},
		{file: "other_realm_login.json", mapping: testMapping, why: WhyRealm},
		{file: "update_password.json", mapping: testMapping, why: WhyType},
		{file: "admin_user_update.json", mapping: testMapping, why: WhyType},
		{file: "login_error.json", mapping: testMapping, why: WhyError},
		{file: "malformed.json", mapping: testMapping, malform: "cannot unmarshal string"},
	}
	for _, tc := range tests {
		t.Run(tc.file, func(t *testing.T) {
			ev, err := Parse(sample(t, tc.file))
			var o Outcome
			if err == nil {
				o, err = tc.mapping.Map(ev, now)
			}
			if tc.malform != "" {
				if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.malform) {
					t.Fatalf("err %v, want ErrMalformed containing %q", err, tc.malform)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if o.Kind != tc.kind || o.Why != tc.why {
				t.Fatalf("outcome kind %d why %q, want %d %q", o.Kind, o.Why, tc.kind, tc.why)
			}
			if tc.kind == Ignored {
				if o.Data != nil {
					t.Errorf("ignored event has data %s", o.Data)
				}
				return
			}
			dec, err := events.DecodeSubject(o.Subject, o.Data)
			if err != nil {
				t.Fatalf("published event invalid: %v", err)
			}
			tc.check(t, dec)
		})
	}
}

// TestMapMalformed: events the bridge cannot map are errors naming why.
func TestMapMalformed(t *testing.T) {
	long := strings.Repeat("x", 1100)
	tests := []struct {
		name, json, want string
	}{
		{"not JSON", `LOGIN alice`, "not a JSON object"},
		{"array", `[1,2]`, "not a JSON object"},
		{"no type", `{"realmId":"` + realmID + `","userId":"u"}`, "no type"},
		{"no realm", `{"type":"LOGIN","userId":"u"}`, "without realmId"},
		{"details not strings", `{"type":"LOGIN","realmId":"` + realmID + `","details":{"n":1}}`, "cannot unmarshal number"},
		{"login without session", `{"type":"LOGIN","realmId":"` + realmID + `","clientId":"web-app","userId":"u"}`, "without sessionId"},
		{"login without user", `{"type":"LOGIN","realmId":"` + realmID + `","clientId":"web-app","sessionId":"s"}`, "without userId"},
		{"logout without session", `{"type":"LOGOUT","realmId":"` + realmID + `","userId":"u"}`, "LOGOUT without sessionId"},
		{"subject too long", `{"type":"LOGIN","realmId":"` + realmID + `","clientId":"web-app","sessionId":"s","userId":"` + long + `"}`, "invalid session.joined"},
		{"admin without realm", `{"operationType":"DELETE","resourceType":"USER_SESSION","resourcePath":"sessions/s"}`, "admin event without realmId"},
		{"envelope without data", `{"specversion":"1.0","id":"x"}`, "without data"},
		{"envelope bad time", `{"specversion":"1.0","time":"noon","data":{"kind":"user","eventType":"LOGOUT","realmId":"r","sessionId":"s"}}`, "CloudEvent time"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ev, err := Parse([]byte(tc.json))
			if err == nil {
				_, err = testMapping.Map(ev, time.Now())
			}
			if !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want ErrMalformed containing %q", err, tc.want)
			}
		})
	}
}

// TestEventIDStable: the same Keycloak event gives the same event id;
// another event, or the same id in another realm, another one.
func TestEventIDStable(t *testing.T) {
	a := Event{ID: "e1", RealmID: "r1", Type: TypeLogin}
	if EventID(a) != EventID(a) {
		t.Fatal("not deterministic")
	}
	b := a
	b.RealmID = "r2"
	c := a
	c.ID = "e2"
	if EventID(a) == EventID(b) || EventID(a) == EventID(c) {
		t.Error("different events share an id")
	}
	noID1 := Event{RealmID: "r1", Type: TypeLogout, Time: 1, SessionID: "s"}
	noID2 := noID1
	noID2.Time = 2
	if EventID(noID1) == EventID(noID2) {
		t.Error("events without id at different times share an id")
	}
}
