package ssf

import (
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/signoff/signoff/adapters/keys"
	"github.com/signoff/signoff/events"
)

// TestInitiatingEntity maps every initiator of a logout to CAEP 1.0's
// initiating_entity (section 2: admin, user, policy, system).
func TestInitiatingEntity(t *testing.T) {
	for initiator, want := range map[events.Initiator]string{
		events.InitiatorUser: EntityUser, events.InitiatorRP: EntityUser, events.InitiatorAdmin: EntityAdmin,
		events.InitiatorExpiry: EntityPolicy, events.InitiatorIdP: EntityPolicy,
	} {
		if got := InitiatingEntity(initiator); got != want {
			t.Errorf("InitiatingEntity(%q) = %q, want %q", initiator, got, want)
		}
		if ReasonAdmin(initiator, "") == "" {
			t.Errorf("ReasonAdmin(%q) is empty: the interop profile needs a non-empty reason_admin", initiator)
		}
	}
	if got := ReasonAdmin(events.InitiatorAdmin, "account locked"); got != "account locked" {
		t.Errorf("ReasonAdmin with a reason = %q", got)
	}
}

// TestSubjectID builds sub_id per RFC 9493 section 3.2.
func TestSubjectID(t *testing.T) {
	m := NewMinter("https://idp.example.com", nil, nil)
	tests := []struct {
		format, subject string
		want            map[string]string
		err             string
	}{
		{"", "u1", map[string]string{"format": "iss_sub", "iss": "https://idp.example.com", "sub": "u1"}, ""},
		{FormatIssSub, "u1", map[string]string{"format": "iss_sub", "iss": "https://idp.example.com", "sub": "u1"}, ""},
		{FormatEmail, "ada@example.com", map[string]string{"format": "email", "email": "ada@example.com"}, ""},
		{FormatEmail, "Ada <ada@example.com>", nil, "not an e-mail address"},
		{FormatEmail, "u1", nil, "not an e-mail address"},
		{FormatOpaque, "u1", map[string]string{"format": "opaque", "id": "u1"}, ""},
		{FormatIssSub, "", nil, "no subject"},
	}
	for _, tt := range tests {
		got, err := m.SubjectID(tt.format, tt.subject)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("SubjectID(%q, %q) error = %v, want %q", tt.format, tt.subject, err, tt.err)
			}
			continue
		}
		if err != nil || len(got) != len(tt.want) {
			t.Errorf("SubjectID(%q, %q) = %v, %v; want %v", tt.format, tt.subject, got, err, tt.want)
			continue
		}
		for k, v := range tt.want {
			if got[k] != v {
				t.Errorf("SubjectID(%q, %q)[%s] = %q, want %q", tt.format, tt.subject, k, got[k], v)
			}
		}
	}
}

// TestSessionRevokedSET decodes a minted SET with go-jose: RS256, typ
// secevent+jwt, kid, one session-revoked event, txn, no sub and no exp
// (SSF 1.0 section 4.1), and a fresh jti per call.
func TestSessionRevokedSET(t *testing.T) {
	ks, err := keys.Open(t.TempDir(), true, time.Now, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	m := NewMinter("https://idp.example.com", ks, nil)
	rp := RP{ID: "crm", Audience: "https://crm.example.com", SubjectFormat: FormatIssSub}
	d := events.Dispatch{LogoutID: "lo-1", RPID: "crm", Subject: "u1", Initiator: events.InitiatorAdmin, OccurredAt: time.Unix(1700000000, 0)}
	a, err := m.SessionRevoked(rp, d)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := m.SessionRevoked(rp, d)
	if a.JTI == b.JTI {
		t.Error("two SETs share a jti")
	}
	jws, err := jose.ParseSignedCompact(a.Raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	h := jws.Signatures[0].Protected
	if h.ExtraHeaders[jose.HeaderType] != "secevent+jwt" || h.KeyID == "" {
		t.Errorf("header typ %v kid %q", h.ExtraHeaders[jose.HeaderType], h.KeyID)
	}
	k, _ := ks.Signing(keys.RS256)
	payload, err := jws.Verify(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	var c map[string]any
	json.Unmarshal(payload, &c)
	if c["iss"] != "https://idp.example.com" || c["aud"] != "https://crm.example.com" || c["txn"] != "lo-1" || c["jti"] != a.JTI {
		t.Errorf("claims %v", c)
	}
	if _, ok := c["sub"]; ok {
		t.Error("sub present")
	}
	if _, ok := c["exp"]; ok {
		t.Error("exp present")
	}
	ev, _ := c["events"].(map[string]any)
	body, _ := ev[EventSessionRevoked].(map[string]any)
	if len(ev) != 1 || body["initiating_entity"] != "admin" || body["event_timestamp"] != float64(1700000000) {
		t.Errorf("events %v", ev)
	}
	if _, err := base64.RawURLEncoding.DecodeString(strings.Split(a.Raw, ".")[2]); err != nil {
		t.Errorf("signature segment: %v", err)
	}
}
