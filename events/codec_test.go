package events

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"
	"unicode/utf8"

	"github.com/signoff/signoff/schemas"
)

// schemaOfTestdata returns the schema name of a file in testdata: the file
// is named <schema name>.json or <schema name>.<variant>.json.
func schemaOfTestdata(t *testing.T, file string) string {
	t.Helper()
	base := strings.TrimSuffix(file, ".json")
	for _, e := range eventTypes {
		if n := e.SchemaName(); base == n || strings.HasPrefix(base, n+".") {
			return n
		}
	}
	t.Fatalf("testdata/%s: no event type for this file name", file)
	return ""
}

func readTestdata(t *testing.T, file string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// decodeByName decodes data into the event type of schema name.
func decodeByName(t *testing.T, name string, data []byte) (Event, error) {
	t.Helper()
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
	case schemaCompleted:
		return decodeAs[Completed](data)
	}
	t.Fatalf("unknown schema %q", name)
	return nil, nil
}

func TestSchemaFilesCompileAndAreReferenced(t *testing.T) {
	files, err := fs.Glob(schemas.FS, "*")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, e := range eventTypes {
		want[schemaFile(e.SchemaName())] = true
	}
	c, err := newCompiler(schemas.FS)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !want[f] {
			t.Errorf("schemas/%s is not the schema of any event type", f)
			continue
		}
		delete(want, f)
		if _, err := c.Compile(schemas.BaseURL + f); err != nil {
			t.Errorf("schemas/%s does not compile: %v", f, err)
		}
	}
	for f := range want {
		t.Errorf("schemas/%s is missing", f)
	}
	if len(registry) != len(eventTypes) {
		t.Errorf("registry has %d schemas, want %d", len(registry), len(eventTypes))
	}
}

// TestSchemaFilesAreDocumented checks that every schema has a title and a
// description and that every property is described: the files are the
// contract for publishers that do not use Go.
func TestSchemaFilesAreDocumented(t *testing.T) {
	files, _ := fs.Glob(schemas.FS, "*.json")
	for _, f := range files {
		b, err := fs.ReadFile(schemas.FS, f)
		if err != nil {
			t.Fatal(err)
		}
		var doc map[string]any
		if err := json.Unmarshal(b, &doc); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if doc["$schema"] != "https://json-schema.org/draft/2020-12/schema" {
			t.Errorf("%s: $schema is %v, want draft 2020-12", f, doc["$schema"])
		}
		for _, k := range []string{"title", "description"} {
			if s, _ := doc[k].(string); s == "" {
				t.Errorf("%s: no %s", f, k)
			}
		}
		if !strings.Contains(doc["description"].(string), "Forward compatible") {
			t.Errorf("%s: description does not document unknown properties", f)
		}
		if _, ok := doc["additionalProperties"]; ok {
			t.Errorf("%s: top-level additionalProperties is set; unknown properties must be allowed", f)
		}
		defs, _ := doc["$defs"].(map[string]any)
		var walk func(at string, v any)
		walk = func(at string, v any) {
			switch v := v.(type) {
			case map[string]any:
				if props, ok := v["properties"].(map[string]any); ok {
					for name, p := range props {
						ps, _ := p.(map[string]any)
						desc, _ := ps["description"].(string)
						if ref, ok := ps["$ref"].(string); ok && desc == "" {
							def, _ := defs[strings.TrimPrefix(ref, "#/$defs/")].(map[string]any)
							desc, _ = def["description"].(string)
						}
						if desc == "" {
							t.Errorf("%s: property %s/%s has no description", f, at, name)
						}
					}
				}
				for k, sub := range v {
					switch k {
					case "if", "then", "else", "anyOf", "allOf", "oneOf", "not":
						// Conditions repeat properties described above.
						continue
					}
					walk(at+"/"+k, sub)
				}
			case []any:
				for _, sub := range v {
					walk(at, sub)
				}
			}
		}
		walk("", doc)
	}
}

func TestBrokenSchemaIsRejected(t *testing.T) {
	good, err := fs.ReadFile(schemas.FS, "session.activity.v1.json")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		fsys fstest.MapFS
		want string
	}{
		{"not JSON", fstest.MapFS{"a.v1.json": {Data: []byte(`{"type":`)}}, "a.v1.json"},
		{"wrong $id", fstest.MapFS{"other.v1.json": {Data: good}}, "$id"},
		{"bad keyword", fstest.MapFS{"a.v1.json": {Data: []byte(`{"$id":"https://signoff.dev/schemas/a.v1.json","type":"objekt"}`)}}, "a.v1.json"},
		{"no files", fstest.MapFS{}, "no schema files"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := newCompiler(tt.fsys)
			if err == nil {
				for f := range tt.fsys {
					_, err = c.Compile(schemas.BaseURL + f)
				}
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestTestdataIsValidAndRoundTrips(t *testing.T) {
	entries, err := os.ReadDir("testdata")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, ent := range entries {
		t.Run(ent.Name(), func(t *testing.T) {
			name := schemaOfTestdata(t, ent.Name())
			seen[name] = true
			data := readTestdata(t, ent.Name())
			if err := Validate(name, data); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			e, err := decodeByName(t, name, data)
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			// The struct holds every property of the sample: encoding
			// it gives the same JSON object back.
			enc, err := Encode(e)
			if err != nil {
				t.Fatal(err)
			}
			var want, got any
			_ = json.Unmarshal(data, &want)
			_ = json.Unmarshal(enc, &got)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Encode(Decode(sample)) =\n%s\nwant the sample\n%s", enc, data)
			}
			e2, err := decodeByName(t, name, enc)
			if err != nil {
				t.Fatalf("Decode(Encode): %v", err)
			}
			if !reflect.DeepEqual(e2, e) {
				t.Errorf("Decode(Encode(x)) = %+v, want %+v", e2, e)
			}
		})
	}
	for _, e := range eventTypes {
		if !seen[e.SchemaName()] {
			t.Errorf("no sample of %s in testdata", e.SchemaName())
		}
	}
}

var (
	t0   = time.Date(2026, 3, 14, 17, 45, 0, 0, time.UTC)
	cest = time.FixedZone("CEST", 2*60*60)
)

// roundTrip encodes in, checks that the encoding validates, decodes it and
// compares with want.
func roundTrip[T any, PT interface {
	*T
	Event
}](t *testing.T, in, want T) {
	t.Helper()
	b, err := Encode(PT(&in))
	if err != nil {
		t.Fatal(err)
	}
	if err := Validate(PT(&in).SchemaName(), b); err != nil {
		t.Fatalf("Encode output does not validate: %v\n%s", err, b)
	}
	got, err := Decode[T, PT](b)
	if err != nil {
		t.Fatalf("Decode: %v\n%s", err, b)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Decode(Encode(x)) =\n%+v\nwant\n%+v", got, want)
	}
}

func TestRoundTrip(t *testing.T) {
	const id = "0190f1e0-1c2d-7e3f-8a4b-5c6d7e8f9a0b"
	exp := t0.Add(12 * time.Hour)
	joined := SessionJoined{
		EventID: id, OccurredAt: t0, SessionID: "s1", Subject: "alice", RPID: "wiki",
		OIDC: &OIDCSession{SID: "sid-1"}, ExpiresAt: &exp,
	}
	joinedSAML := SessionJoined{
		EventID: id, OccurredAt: t0, SessionID: "s1", Subject: "alice", RPID: "payroll",
		SAML: &SAMLSession{NameID: "alice@example.com", Format: "urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress",
			NameQualifier: "https://idp.example.com", SPNameQualifier: "https://payroll.example.com", SessionIndex: "_abc"},
	}
	requested := LogoutRequested{
		EventID: id, LogoutID: "lo:1", OccurredAt: t0, SessionID: "s1", Subject: "alice",
		Initiator: InitiatorRP, InitiatingRPID: "wiki", Scope: ScopeInitiatorOnly,
		Reason: "rp asked", ReturnTo: "https://wiki.example.com/bye",
	}
	dispatch := Dispatch{
		EventID: id, LogoutID: "lo-1", RPID: "payroll", Adapter: AdapterSAML,
		Deadline: t0.Add(30 * time.Second), OccurredAt: t0, Initiator: InitiatorUser, Subject: "alice",
		Sessions: []DispatchSession{
			{SessionID: "s1", SAML: &SAMLSession{NameID: "alice", SessionIndex: "_1"}},
			{SessionID: "s2", OIDC: &OIDCSession{}},
		},
	}
	result := Result{
		EventID: id, LogoutID: "lo-1", RPID: "wiki", Adapter: AdapterBackchannel,
		Outcome: OutcomeFailed, Detail: "", Attempts: 0, FinishedAt: t0,
	}
	completed := Completed{
		EventID: id, LogoutID: "lo-1", OccurredAt: t0, Outcome: StatusComplete,
		Participants: []ParticipantOutcome{{RPID: "wiki", Name: "", Adapter: AdapterFrontchannel, Outcome: OutcomeSucceeded, Detail: "acknowledged"}},
	}

	t.Run("session.joined oidc", func(t *testing.T) { roundTrip(t, joined, joined) })
	t.Run("session.joined saml", func(t *testing.T) { roundTrip(t, joinedSAML, joinedSAML) })
	t.Run("session.joined minimal", func(t *testing.T) {
		e := SessionJoined{EventID: id, OccurredAt: t0, SessionID: "s", Subject: "u", RPID: "r"}
		roundTrip(t, e, e)
	})
	t.Run("session.joined times in UTC", func(t *testing.T) {
		in := joined
		in.OccurredAt = t0.In(cest)
		e := exp.In(cest)
		in.ExpiresAt = &e
		roundTrip(t, in, joined)
	})
	t.Run("session.activity", func(t *testing.T) {
		e := SessionActivity{EventID: id, OccurredAt: t0.Add(123456789), SessionID: "s1"}
		roundTrip(t, e, e)
	})
	t.Run("logout.requested full", func(t *testing.T) { roundTrip(t, requested, requested) })
	t.Run("logout.requested by subject only", func(t *testing.T) {
		e := LogoutRequested{EventID: id, LogoutID: "x", OccurredAt: t0, Subject: "alice", Initiator: InitiatorAdmin, Scope: ScopeGlobal}
		roundTrip(t, e, e)
	})
	t.Run("logout.requested by session only", func(t *testing.T) {
		e := LogoutRequested{EventID: id, LogoutID: "x", OccurredAt: t0, SessionID: "s1", Initiator: InitiatorExpiry, Scope: ScopeGlobal}
		roundTrip(t, e, e)
	})
	t.Run("logout.dispatch", func(t *testing.T) { roundTrip(t, dispatch, dispatch) })
	t.Run("logout.dispatch times in UTC", func(t *testing.T) {
		in := dispatch
		in.Deadline = in.Deadline.In(cest)
		in.OccurredAt = in.OccurredAt.In(cest)
		roundTrip(t, in, dispatch)
	})
	t.Run("logout.dispatch nil sessions", func(t *testing.T) {
		in := dispatch
		in.Sessions = nil
		want := dispatch
		want.Sessions = []DispatchSession{}
		roundTrip(t, in, want)
	})
	t.Run("logout.result", func(t *testing.T) { roundTrip(t, result, result) })
	t.Run("logout.result attempts", func(t *testing.T) {
		e := result
		e.Outcome, e.Attempts, e.Detail = OutcomeTimedOut, 7, "HTTP 503"
		roundTrip(t, e, e)
	})
	t.Run("logout.completed", func(t *testing.T) { roundTrip(t, completed, completed) })
	t.Run("logout.completed nil participants", func(t *testing.T) {
		in := completed
		in.Participants = nil
		want := completed
		want.Participants = []ParticipantOutcome{}
		roundTrip(t, in, want)
	})
}

func TestEncodeNilSlicesAsArrays(t *testing.T) {
	for _, e := range []Event{Dispatch{}, &Dispatch{}, Completed{}, &Completed{}} {
		b, err := Encode(e)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "null") {
			t.Errorf("Encode(%T) = %s, want [] for nil slices", e, b)
		}
	}
}

// mutate returns the testdata sample file changed by f.
func mutate(t *testing.T, file string, f func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(readTestdata(t, file), &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestInvalid(t *testing.T) {
	const (
		req    = "logout.requested.json"
		res    = "logout.result.json"
		disp   = "logout.dispatch.json"
		comp   = "logout.completed.json"
		joined = "session.joined.saml.json"
	)
	set := func(file, key string, v any) func(t *testing.T) []byte {
		return func(t *testing.T) []byte {
			return mutate(t, file, func(m map[string]any) { m[key] = v })
		}
	}
	del := func(file string, keys ...string) func(t *testing.T) []byte {
		return func(t *testing.T) []byte {
			return mutate(t, file, func(m map[string]any) {
				for _, k := range keys {
					delete(m, k)
				}
			})
		}
	}
	edit := func(file string, f func(m map[string]any)) func(t *testing.T) []byte {
		return func(t *testing.T) []byte { return mutate(t, file, f) }
	}
	raw := func(s string) func(t *testing.T) []byte { return func(*testing.T) []byte { return []byte(s) } }
	tests := []struct {
		name   string
		schema string
		data   func(t *testing.T) []byte
		want   []string // substrings of the reason
	}{
		{"not JSON", "logout.requested", raw(`{"event_id": `), []string{"not JSON: ", "unexpected end"}},
		{"not JSON garbage", "logout.requested", raw(`hello`), []string{"not JSON: invalid character 'h'"}},
		{"empty input", "logout.requested", raw(``), []string{"not JSON: "}},
		{"trailing data", "logout.requested", raw(`{} {}`), []string{"not JSON: "}},
		{"array", "logout.requested", raw(`[]`), []string{"at root: ", "object"}},
		{"null", "logout.requested", raw(`null`), []string{"at root: ", "object"}},
		{"empty object", "logout.requested", raw(`{}`), []string{"at root: missing properties", "'event_id'", "'logout_id'", "'initiator'", "'scope'"}},
		{"missing event_id", "logout.requested", del(req, "event_id"), []string{"at root: missing property 'event_id'"}},
		{"event_id not a uuid", "logout.requested", set(req, "event_id", "not-a-uuid"), []string{"at /event_id: ", `"not-a-uuid"`, "uuid"}},
		{"event_id not hex", "logout.requested", set(req, "event_id", "0190f1e0-1c2d-7e3f-8a4b-5c6d7e8f9a0g"), []string{"at /event_id: "}},
		{"event_id a number", "logout.requested", set(req, "event_id", 42), []string{"at /event_id: ", "want string"}},
		{"occurred_at with a space", "logout.requested", set(req, "occurred_at", "2026-03-14 17:45:00Z"), []string{"at /occurred_at: ", "date-time"}},
		{"occurred_at without zone", "logout.requested", set(req, "occurred_at", "2026-03-14T17:45:00"), []string{"at /occurred_at: "}},
		{"occurred_at lower-case t", "logout.requested", set(req, "occurred_at", "2026-03-14t17:45:00z"), []string{"at /occurred_at: "}},
		{"occurred_at leap second", "logout.requested", set(req, "occurred_at", "2026-03-14T23:59:60Z"), []string{"at /occurred_at: "}},
		{"occurred_at 30 February", "logout.requested", set(req, "occurred_at", "2026-02-30T17:45:00Z"), []string{"at /occurred_at: ", "out of range"}},
		{"occurred_at offset hour 24", "logout.requested", set(req, "occurred_at", "2026-03-14T17:45:00+24:00"), []string{"at /occurred_at: "}},
		{"occurred_at unix seconds", "logout.requested", set(req, "occurred_at", 1773510300), []string{"at /occurred_at: "}},
		{"unknown initiator", "logout.requested", set(req, "initiator", "robot"), []string{`at /initiator: value must be one of "user", "rp", "admin", "expiry", "idp"`}},
		{"unknown scope", "logout.requested", set(req, "scope", "everything"), []string{"at /scope: value must be one of", `"global"`}},
		{"neither session_id nor subject", "logout.requested", del(req, "session_id", "subject"), []string{"at root: ", "'session_id'", "'subject'"}},
		{"empty session_id", "logout.requested", set(req, "session_id", ""), []string{"at /session_id: "}},
		{"initiator_only without initiating_rp_id", "logout.requested", set(req, "scope", "initiator_only"), []string{"at root: missing property 'initiating_rp_id'"}},
		{"bad logout_id characters", "logout.requested", set(req, "logout_id", "lo 1/2"), []string{`at /logout_id: "lo 1/2" does not match`}},
		{"logout_id too long", "logout.requested", set(req, "logout_id", strings.Repeat("a", 129)), []string{"at /logout_id: "}},
		{"relative return_to", "logout.requested", set(req, "return_to", "/bye"), []string{"at /return_to: "}},
		{"case variant of a property", "logout.requested", set(req, "Initiator", "robot"), []string{`at /Initiator: property name differs from "initiator" only in letter case`}},
		{"wrong outcome enum", "logout.result", set(res, "outcome", "ok"), []string{"at /outcome: value must be one of", `"succeeded"`}},
		{"negative attempts", "logout.result", set(res, "attempts", -1), []string{"at /attempts: ", "minimum"}},
		{"fractional attempts", "logout.result", set(res, "attempts", 1.5), []string{"at /attempts: ", "integer"}},
		{"attempts 1.0", "logout.result", raw(strings.Replace(string(readTestdata(t, res)), `"attempts": 1`, `"attempts": 1.0`, 1)), []string{"at /attempts: ", "cannot decode number 1.0 into int"}},
		{"missing detail", "logout.result", del(res, "detail"), []string{"at root: missing property 'detail'"}},
		{"detail too long", "logout.result", set(res, "detail", strings.Repeat("x", 4097)), []string{"at /detail: "}},
		{"unknown adapter", "logout.dispatch", set(disp, "adapter", "carrier-pigeon"), []string{"at /adapter: "}},
		{"dispatch session without session_id", "logout.dispatch", set(disp, "sessions", []any{map[string]any{"oidc": map[string]any{}}}), []string{"at /sessions/0: missing property 'session_id'"}},
		{"dispatch session case variant", "logout.dispatch", set(disp, "sessions", []any{map[string]any{"session_id": "a", "Session_ID": "b"}}), []string{"at /sessions/0/Session_ID: "}},
		{"dispatch sessions null", "logout.dispatch", set(disp, "sessions", nil), []string{"at /sessions: "}},
		{"completed participant outcome", "logout.completed", edit(comp, func(m map[string]any) {
			m["participants"].([]any)[1].(map[string]any)["outcome"] = "maybe"
		}), []string{"at /participants/1/outcome: "}},
		{"completed outcome", "logout.completed", set(comp, "outcome", "succeeded"), []string{"at /outcome: ", `"complete", "partial"`}},
		{"saml without name_id", "session.joined", edit(joined, func(m map[string]any) {
			delete(m["saml"].(map[string]any), "name_id")
		}), []string{"at /saml: missing property 'name_id'"}},
		{"bad rp_id", "session.joined", set(joined, "rp_id", "pay roll"), []string{"at /rp_id: "}},
		{"several errors", "logout.requested", edit(req, func(m map[string]any) {
			m["initiator"] = "robot"
			m["scope"] = "all"
		}), []string{`at /initiator: value must be one of "user", "rp", "admin", "expiry", "idp"; at /scope: value must be one of "global", "initiator_only"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := tt.data(t)
			check := func(t *testing.T, err error) {
				t.Helper()
				if err == nil {
					t.Fatalf("no error for %s", data)
				}
				if !errors.Is(err, ErrInvalid) {
					t.Fatalf("errors.Is(%v, ErrInvalid) = false", err)
				}
				var ie *InvalidError
				if !errors.As(err, &ie) {
					t.Fatalf("%v is not an *InvalidError", err)
				}
				if ie.Schema != tt.schema {
					t.Errorf("Schema = %q, want %q", ie.Schema, tt.schema)
				}
				for _, w := range tt.want {
					if !strings.Contains(ie.Reason, w) {
						t.Errorf("reason %q does not contain %q", ie.Reason, w)
					}
				}
				if strings.ContainsAny(ie.Reason, "\r\n") || len(ie.Reason) > maxReason {
					t.Errorf("reason is not one short line: %q", ie.Reason)
				}
				if want := "invalid " + tt.schema + ": " + ie.Reason; err.Error() != want {
					t.Errorf("Error() = %q, want %q", err.Error(), want)
				}
			}
			check(t, Validate(tt.schema, data))
			e, err := decodeByName(t, tt.schema, data)
			check(t, err)
			if e != nil {
				t.Errorf("Decode returned %+v with the error", e)
			}
		})
	}
}

func TestDecodeReturnsZeroOnError(t *testing.T) {
	data := mutate(t, "logout.requested.json", func(m map[string]any) { m["scope"] = "x" })
	got, err := Decode[LogoutRequested](data)
	if err == nil || !reflect.DeepEqual(got, LogoutRequested{}) {
		t.Fatalf("Decode = %+v, %v; want the zero value and an error", got, err)
	}
}

func TestReasonIsCapped(t *testing.T) {
	long := strings.Repeat("é", 5000)
	data := mutate(t, "logout.requested.json", func(m map[string]any) {
		m["logout_id"] = long
		m["initiating_rp_id"] = long
		m["event_id"] = long
		m["return_to"] = long
		m["occurred_at"] = long
		m["x"] = 1
		m["X"] = 2 // neither is a defined property
	})
	err := Validate("logout.requested", data)
	var ie *InvalidError
	if !errors.As(err, &ie) {
		t.Fatalf("got %v, want an *InvalidError", err)
	}
	if len(ie.Reason) > maxReason {
		t.Errorf("reason of %d bytes longer than %d: %q", len(ie.Reason), maxReason, ie.Reason)
	}
	if !strings.HasPrefix(ie.Reason, "at /event_id: ") {
		t.Errorf("reason %q does not start with the first property in order", ie.Reason)
	}
	if strings.Contains(ie.Reason, strings.Repeat("é", 100)) {
		t.Errorf("reason quotes a whole long value: %q", ie.Reason)
	}

	for _, in := range []string{strings.Repeat("a", 2000), strings.Repeat("é", 2000), "a\nb\rc" + strings.Repeat("€", 1000)} {
		r := capReason(in)
		if len(r) > maxReason || !strings.HasSuffix(r, "…") || strings.ContainsAny(r, "\r\n") || !utf8.ValidString(r) {
			t.Errorf("capReason(%.20q...) = %q (%d bytes), want one valid line of at most %d bytes ending in …", in, r, len(r), maxReason)
		}
	}
	if r := capReason("short"); r != "short" {
		t.Errorf("capReason(short) = %q", r)
	}
}

func TestUnknownPropertiesAreAccepted(t *testing.T) {
	tests := []struct {
		file string
		add  func(m map[string]any)
	}{
		{"logout.requested.json", func(m map[string]any) { m["acr"] = "urn:mace:incommon:iap:silver" }},
		{"logout.requested.json", func(m map[string]any) { m["x_trace"] = map[string]any{"id": 1, "tags": []any{"a"}} }},
		{"session.joined.json", func(m map[string]any) { m["oidc"].(map[string]any)["client_id"] = "wiki" }},
		{"logout.dispatch.json", func(m map[string]any) { m["sessions"].([]any)[0].(map[string]any)["amr"] = []any{"pwd"} }},
		{"logout.completed.json", func(m map[string]any) { m["participants"].([]any)[0].(map[string]any)["duration_ms"] = 12 }},
		// Not a case variant of a defined name, only similar.
		{"logout.result.json", func(m map[string]any) { m["outcome_v2"] = "x"; m["Detail2"] = "y" }},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			name := schemaOfTestdata(t, tt.file)
			want, err := decodeByName(t, name, readTestdata(t, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			data := mutate(t, tt.file, tt.add)
			got, err := decodeByName(t, name, data)
			if err != nil {
				t.Fatalf("Decode(%s): %v", data, err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Decode with an unknown property = %+v, want %+v", got, want)
			}
		})
	}
}

func TestSchemaFor(t *testing.T) {
	tests := []struct {
		subject string
		want    string
		ok      bool
	}{
		{SubjectSessionJoined, "session.joined", true},
		{SubjectSessionActivity, "session.activity", true},
		{SubjectLogoutRequested, "logout.requested", true},
		{SubjectLogoutResult, "logout.result", true},
		{SubjectLogoutCompleted, "logout.completed", true},
		{DispatchSubject(AdapterBackchannel), "logout.dispatch", true},
		{DispatchSubject(AdapterFrontchannel), "logout.dispatch", true},
		{DispatchSubject(AdapterSAML), "logout.dispatch", true},
		{DispatchSubject(AdapterCookie), "logout.dispatch", true},
		{"signoff.logout.dispatch.future", "logout.dispatch", true},
		{"signoff.logout.dispatch.", "", false},
		{"signoff.logout.dispatch", "", false},
		{"signoff.logout.dispatch.*", "", false},
		{"signoff.logout.dispatch.>", "", false},
		{"signoff.logout.dispatch.saml.extra", "", false},
		{SubjectPoison, "", false},
		{"signoff.logout.requested.x", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := SchemaFor(tt.subject)
		if got != tt.want || ok != tt.ok {
			t.Errorf("SchemaFor(%q) = %q, %v; want %q, %v", tt.subject, got, ok, tt.want, tt.ok)
		}
		if ok {
			if _, found := registry[got]; !found {
				t.Errorf("SchemaFor(%q) = %q, which is not compiled", tt.subject, got)
			}
		}
	}
}

func TestSchemaNames(t *testing.T) {
	var names []string
	for _, e := range eventTypes {
		names = append(names, e.SchemaName())
		// Pointers implement Event with the same name.
		p := reflect.New(reflect.TypeOf(e)).Interface().(Event)
		if p.SchemaName() != e.SchemaName() {
			t.Errorf("%T.SchemaName() = %q, want %q", p, p.SchemaName(), e.SchemaName())
		}
	}
	want := []string{"session.joined", "session.activity", "logout.requested", "logout.dispatch", "logout.result", "logout.completed"}
	if !slices.Equal(names, want) {
		t.Errorf("schema names = %q, want %q", names, want)
	}
}

func TestDecodeSubject(t *testing.T) {
	tests := []struct {
		subject string
		file    string
		want    reflect.Type
	}{
		{SubjectSessionJoined, "session.joined.json", reflect.TypeFor[SessionJoined]()},
		{SubjectSessionActivity, "session.activity.json", reflect.TypeFor[SessionActivity]()},
		{SubjectLogoutRequested, "logout.requested.json", reflect.TypeFor[LogoutRequested]()},
		{DispatchSubject(AdapterBackchannel), "logout.dispatch.json", reflect.TypeFor[Dispatch]()},
		{SubjectLogoutResult, "logout.result.json", reflect.TypeFor[Result]()},
		{SubjectLogoutCompleted, "logout.completed.json", reflect.TypeFor[Completed]()},
	}
	for _, tt := range tests {
		e, err := DecodeSubject(tt.subject, readTestdata(t, tt.file))
		if err != nil {
			t.Errorf("DecodeSubject(%s): %v", tt.subject, err)
			continue
		}
		if reflect.TypeOf(e) != tt.want {
			t.Errorf("DecodeSubject(%s) gave a %T, want %v", tt.subject, e, tt.want)
		}
	}
	// The schema comes from the subject, not from the payload.
	_, err := DecodeSubject(SubjectLogoutResult, readTestdata(t, "logout.requested.json"))
	var ie *InvalidError
	if !errors.As(err, &ie) || ie.Schema != "logout.result" {
		t.Errorf("logout.requested payload on the result subject: got %v, want invalid logout.result", err)
	}
	_, err = DecodeSubject(SubjectPoison, []byte(`{}`))
	if !errors.As(err, &ie) || ie.Schema != "" || !strings.Contains(err.Error(), "invalid event: no schema for subject \"signoff.poison\"") {
		t.Errorf("poison subject: got %v", err)
	}
}

func TestValidateUnknownSchema(t *testing.T) {
	err := Validate("logout.nothing", []byte(`{}`))
	if err == nil || errors.Is(err, ErrInvalid) {
		t.Errorf("Validate with an unknown schema name = %v, want a non-ErrInvalid error", err)
	}
}

func TestDateTimeFormat(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"2026-03-14T17:45:00Z", true},
		{"2026-03-14T17:45:00.1Z", true},
		{"2026-03-14T17:45:00.123456789Z", true},
		{"2026-03-14T17:45:00+02:00", true},
		{"2026-03-14T17:45:00-23:59", true},
		{"0001-01-01T00:00:00Z", true},
		{"2024-02-29T00:00:00Z", true},
		{"2026-03-14T17:45:00", false},
		{"2026-03-14T17:45:00.Z", false},
		{"2026-03-14T17:45:00,5Z", false},
		{"2026-03-14T17:45:00z", false},
		{"2026-03-14t17:45:00Z", false},
		{"2026-03-14T7:45:00Z", false},
		{"2026-03-14T17:45:00+0200", false},
		{"2026-03-14T17:45:00+02:60", false},
		{"2026-03-14T24:00:00Z", false},
		{"2026-13-14T17:45:00Z", false},
		{"2025-02-29T00:00:00Z", false},
		{"2026-03-14T17:45:00ZZ", false},
		{"", false},
	}
	for _, tt := range tests {
		err := validateDateTime(tt.in)
		if (err == nil) != tt.ok {
			t.Errorf("validateDateTime(%q) = %v, want ok %v", tt.in, err, tt.ok)
		}
		// Whatever the format accepts, time.Time.UnmarshalJSON accepts.
		if err == nil {
			var tm time.Time
			if err := tm.UnmarshalJSON([]byte(`"` + tt.in + `"`)); err != nil {
				t.Errorf("format accepts %q but time.Time does not: %v", tt.in, err)
			}
		}
	}
}

func TestUUIDFormat(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{"0190f1e0-1c2d-7e3f-8a4b-5c6d7e8f9a0b", true},
		{"0190F1E0-1C2D-7E3F-8A4B-5C6D7E8F9A0B", true},
		{"00000000-0000-0000-0000-000000000000", true},
		{"0190f1e01c2d7e3f8a4b5c6d7e8f9a0b", false},
		{"{0190f1e0-1c2d-7e3f-8a4b-5c6d7e8f9a0b}", false},
		{"urn:uuid:0190f1e0-1c2d-7e3f-8a4b-5c6d7e8f9a0b", false},
		{"0190f1e0-1c2d-7e3f-8a4b-5c6d7e8f9a0", false},
		{"0190f1e0-1c2d-7e3f-8a4b_5c6d7e8f9a0b", false},
		{"0190f1e0-1c2d-7e3f-8a4b-5c6d7e8f9a0x", false},
	}
	for _, tt := range tests {
		if err := validateUUID(tt.in); (err == nil) != tt.ok {
			t.Errorf("validateUUID(%q) = %v, want ok %v", tt.in, err, tt.ok)
		}
	}
}

func BenchmarkDecodeLogoutRequested(b *testing.B) {
	data, err := os.ReadFile("testdata/logout.requested.json")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode[LogoutRequested](data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeDispatch(b *testing.B) {
	data, err := os.ReadFile("testdata/logout.dispatch.json")
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Decode[Dispatch](data); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeLogoutRequested(b *testing.B) {
	data, err := os.ReadFile("testdata/logout.requested.json")
	if err != nil {
		b.Fatal(err)
	}
	e, err := Decode[LogoutRequested](data)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Encode(e); err != nil {
			b.Fatal(err)
		}
	}
}

// TestConcurrentDecode runs valid and invalid decodes in parallel; run it
// with -race.
func TestConcurrentDecode(t *testing.T) {
	good := readTestdata(t, "logout.requested.json")
	bad := mutate(t, "logout.requested.json", func(m map[string]any) {
		m["initiator"] = "robot"
		m["session_id"] = ""
		m["event_id"] = "x"
	})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				if _, err := Decode[LogoutRequested](good); err != nil {
					t.Error(err)
					return
				}
				if _, err := Decode[LogoutRequested](bad); !errors.Is(err, ErrInvalid) {
					t.Errorf("got %v, want ErrInvalid", err)
					return
				}
			}
		})
	}
	wg.Wait()
}
