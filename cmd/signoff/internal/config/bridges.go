package config

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
)

// Bridges feed signoff from identity providers that publish their own
// events (DESIGN.md "Contract: feeding signoff from existing IdPs").
// Addition beyond the first contract.
type Bridges struct {
	// Keycloak consumes Keycloak user events from NATS; nil disables it.
	Keycloak *KeycloakBridge `yaml:"keycloak"`
}

// Defaults of bridges.keycloak.
const (
	// DefaultKeycloakSubject is where the keycloak-nats event listener
	// publishes user ("client") events:
	// keycloak.event.client.<realm>.<success|error>.<clientId>.<type>.
	DefaultKeycloakSubject = "keycloak.event.client.>"
	// DefaultKeycloakUpstreamID is the upstream id the bridge's joins
	// carry (session.joined upstream.id).
	DefaultKeycloakUpstreamID = "keycloak"
	// KeycloakSubjectUserID and KeycloakSubjectUsername are the values of
	// bridges.keycloak.subject_from.
	KeycloakSubjectUserID   = "user_id"
	KeycloakSubjectUsername = "username"
)

// KeycloakBridge is bridges.keycloak: which Keycloak events to follow and
// how their clients map to relying parties.
type KeycloakBridge struct {
	// Realm is the realm whose events are followed: its id (an event's
	// realmId) or its name (realmName, when the listener sends it).
	// Events of other realms are ignored. Required.
	Realm string `yaml:"realm"`
	// Subject is the NATS subject filter on which the listener publishes
	// (default keycloak.event.client.>).
	Subject string `yaml:"subject"`
	// AdminSubject, when set, is where the listener publishes Keycloak
	// admin events (keycloak-nats: keycloak.event.admin.>): an admin's
	// deletion of a session, or "Sign out" of all a user's sessions,
	// becomes a logout (initiator admin). Empty (default): off. Its
	// stream is found, or created as SIGNOFF_KEYCLOAK_ADMIN, as for Subject.
	AdminSubject string `yaml:"admin_subject"`
	// Stream is the JetStream stream that holds the events. Empty: the
	// stream that already captures Subject (a listener publishing to
	// JetStream), else signoff's own stream SIGNOFF_KEYCLOAK, created to
	// capture events published on core NATS.
	Stream string `yaml:"stream"`
	// SubjectFrom picks the signoff subject of a session: user_id (the
	// event's userId, default) or username (details.username).
	SubjectFrom string `yaml:"subject_from"`
	// UpstreamID is the upstream.id of the joins (default keycloak), so
	// that a back-channel logout or a Shared Signals event from that
	// Keycloak can end the same sessions.
	UpstreamID string `yaml:"upstream_id"`
	// Clients maps a Keycloak clientId to the id of a relying party with
	// an oidc block. Logins at other clients are ignored. At least one.
	Clients map[string]string `yaml:"clients"`
}

var (
	streamNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,255}$`)
	upstreamIDRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)
)

func (c *Config) bridgeDefaults() {
	k := c.Bridges.Keycloak
	if k == nil {
		return
	}
	if k.Subject == "" {
		k.Subject = DefaultKeycloakSubject
	}
	if k.SubjectFrom == "" {
		k.SubjectFrom = KeycloakSubjectUserID
	}
	if k.UpstreamID == "" {
		k.UpstreamID = DefaultKeycloakUpstreamID
	}
}

// bridges validates bridges.keycloak against the relying parties.
func (v *validator) bridges(b Bridges, rps []RelyingParty) {
	k := b.Keycloak
	if k == nil {
		return
	}
	const p = "bridges.keycloak"
	switch {
	case k.Realm == "":
		v.add(p+".realm", "required: the id (or name) of the Keycloak realm whose events are followed")
	case hasSpaceOrControl(k.Realm):
		v.add(p+".realm", "must not contain whitespace or control characters")
	}
	v.check(p+".subject", checkSubjectFilter(k.Subject))
	if k.AdminSubject != "" {
		if msg := checkSubjectFilter(k.AdminSubject); msg != "" {
			v.add(p+".admin_subject", "%s", msg)
		} else if subjectsOverlap(k.Subject, k.AdminSubject) {
			v.add(p+".admin_subject", "%q overlaps bridges.keycloak.subject %q: admin and user events need subjects of their own", k.AdminSubject, k.Subject)
		}
	}
	if k.Stream != "" && !streamNameRE.MatchString(k.Stream) {
		v.add(p+".stream", "must be a JetStream stream name (letters, digits, _ and -), got %q", k.Stream)
	} else if k.Stream == "SIGNOFF" {
		v.add(p+".stream", "SIGNOFF is signoff's own event stream; name the stream the Keycloak listener publishes to, or leave it empty")
	}
	if k.SubjectFrom != KeycloakSubjectUserID && k.SubjectFrom != KeycloakSubjectUsername {
		v.add(p+".subject_from", "must be user_id or username, got %q", k.SubjectFrom)
	}
	if !upstreamIDRE.MatchString(k.UpstreamID) {
		v.add(p+".upstream_id", "must be 1 to 64 letters, digits, dots, underscores or hyphens, got %q", k.UpstreamID)
	}
	if len(k.Clients) == 0 {
		v.add(p+".clients", "required: map at least one Keycloak clientId to a relying party id, e.g. {web-app: wiki}")
	}
	byID := map[string]RelyingParty{}
	for _, rp := range rps {
		byID[rp.ID] = rp
	}
	for _, client := range slices.Sorted(maps.Keys(k.Clients)) {
		rpID := k.Clients[client]
		cp := p + ".clients." + client
		rp, ok := byID[rpID]
		switch {
		case client == "" || hasSpaceOrControl(client):
			v.add(cp, "a Keycloak clientId must not be empty or contain whitespace")
		case rpID == "":
			v.add(cp, "must name a relying party id")
		case !ok:
			v.add(cp, "%q is not the id of a relying party in relying_parties", rpID)
		case rp.OIDC == nil:
			v.add(cp, "relying party %q has no oidc block: Keycloak events carry an OIDC session id (sid) but no SAML NameID or SessionIndex", rpID)
		}
	}
}

// checkSubjectFilter checks a NATS subject filter that must not reach into
// signoff's own subjects.
func checkSubjectFilter(s string) string {
	if s == "" {
		return "must not be empty"
	}
	if hasSpaceOrControl(s) {
		return "must not contain whitespace or control characters"
	}
	toks := strings.Split(s, ".")
	for i, t := range toks {
		switch {
		case t == "":
			return fmt.Sprintf("%q is not a NATS subject: empty token", s)
		case t == ">" && i != len(toks)-1:
			return fmt.Sprintf("%q is not a NATS subject: > must be the last token", s)
		case t != ">" && t != "*" && strings.ContainsAny(t, "*>"):
			return fmt.Sprintf("%q is not a NATS subject: a wildcard must be a whole token", s)
		}
	}
	if toks[0] == "signoff" || toks[0] == "*" || toks[0] == ">" || toks[0] == "$JS" || strings.HasPrefix(toks[0], "_INBOX") {
		return fmt.Sprintf("%q overlaps signoff's own or NATS's internal subjects; use the listener's prefix, e.g. %s", s, DefaultKeycloakSubject)
	}
	return ""
}

// subjectsOverlap reports whether some subject matches both filters a
// and b.
func subjectsOverlap(a, b string) bool {
	at, bt := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; ; i++ {
		switch {
		case i == len(at) && i == len(bt):
			return true
		case i == len(at) || i == len(bt):
			return false
		case at[i] == ">" || bt[i] == ">":
			return true
		case at[i] != "*" && bt[i] != "*" && at[i] != bt[i]:
			return false
		}
	}
}
