package web

import (
	"strings"

	"github.com/signoff/signoff/events"
)

// reason is the plain sentence the sign-out page shows for a participant
// that did not confirm: what happened, in the user's words. The technical
// detail (network errors, HTTP statuses, attempts) stays for operators, in
// the logs, the events and the admin API (GET /api/logouts/{id}).
func reason(p ParticipantView, localRPID string) string {
	name := p.Name
	if name == "" {
		name = "The application"
	}
	d := strings.ToLower(p.Detail)
	has := func(words ...string) bool {
		for _, w := range words {
			if strings.Contains(d, w) {
				return true
			}
		}
		return false
	}
	if p.RPID == localRPID && localRPID != "" {
		switch p.Outcome {
		case events.OutcomeSucceeded, events.OutcomePending:
			return ""
		case events.OutcomeUnsupported:
			return "This sign-in service could not end its own session in this browser."
		default:
			return "Your browser still holds this sign-in. Close your browser to end it."
		}
	}
	switch p.Outcome {
	case events.OutcomeSucceeded, events.OutcomePending:
		return ""
	case events.OutcomeUnsupported:
		return name + " cannot be signed out from here."
	case events.OutcomeFailed:
		switch {
		case has("no longer configured", "unknown relying party"):
			return name + " is no longer known to this sign-in service."
		case has("without sid", "without a saml nameid", "no saml session", "no session to sign out", "session required", "requires sid"):
			return name + " could not be told which session to end."
		case has("reported an error"):
			return name + " reported an error while signing you out."
		case has("http 4", "http 3", "logoutresponse status", "redirect not followed", "refused", "not confirm"):
			return name + " refused the sign-out."
		}
		return name + " could not be signed out."
	case events.OutcomeTimedOut:
		switch {
		case has("connection refused", "no such host", "dial ", "no response within", "i/o timeout",
			"connection reset", "network", "tls", "did not load", "eof"):
			return name + "'s server did not answer."
		}
		return name + " did not confirm in time."
	}
	return name + " did not confirm."
}

// inSentence is name as it reads inside a sentence: the local participant
// ("This sign-in service" at the start of its row) becomes "this sign-in
// service".
func inSentence(p ParticipantView, localRPID string) string {
	if localRPID != "" && p.RPID == localRPID && strings.HasPrefix(p.Name, "This ") {
		return "this " + p.Name[len("This "):]
	}
	return p.Name
}

// headline is the page title and the sentence that tells the user the
// truth about the logout.
func headline(v LogoutView, localRPID string) (title, summary string) {
	if v.Status == events.StatusRunning {
		if v.Scope == events.ScopeInitiatorOnly && len(v.Participants) > 0 {
			return "Signing you out of " + v.Participants[0].Name + "…", ""
		}
		return "Signing you out…", ""
	}
	var ok, notOK []string
	rps := 0
	for _, p := range v.Participants {
		if p.RPID != localRPID || localRPID == "" {
			rps++
		}
		if p.Outcome == events.OutcomeSucceeded {
			ok = append(ok, inSentence(p, localRPID))
		} else {
			notOK = append(notOK, inSentence(p, localRPID))
		}
	}
	if v.Scope == events.ScopeInitiatorOnly && len(v.Participants) > 0 {
		return initiatorOnly(v, ok, notOK)
	}
	switch {
	case len(ok) == 0 && len(notOK) == 0:
		return "You are signed out", "You were already signed out."
	case rps == 0:
		// Only this sign-in service took part: signoff knew of no
		// application session (an IdP that never reported them, or
		// reported them for applications that are not configured).
		s := "signoff knew no application sessions for this sign-in, so it signed you out of no application. Applications you used may still be signed in: sign out of them yourself, or close your browser to be sure."
		if len(ok) > 0 {
			return "Signed out of this sign-in service only", "You were signed out of this sign-in service. " + s
		}
		return "Sign-out not confirmed", s
	case len(notOK) == 0:
		return "You are signed out", signedOutOf(ok)
	case len(ok) == 0:
		return "Sign-out not confirmed", capitalize(list(notOK)) + " did not confirm the sign-out."
	default:
		return "Sign-out not confirmed everywhere", "You were signed out of " + list(ok) + ". " + capitalize(list(notOK)) + " did not confirm."
	}
}

// initiatorOnly is the headline of "sign out of this app only": what was
// signed out, and what is still signed in.
func initiatorOnly(v LogoutView, ok, notOK []string) (title, summary string) {
	still := "You are still signed in to the other applications."
	if len(v.StillSignedIn) > 0 {
		still = "You are still signed in to " + list(v.StillSignedIn) + "."
	}
	if len(notOK) == 0 {
		return "You are signed out of " + list(ok), "You are signed out of " + list(ok) + ". " + still
	}
	title = "Sign-out of " + list(notOK) + " not confirmed"
	summary = capitalize(list(notOK)) + " did not confirm the sign-out. " + still
	if len(ok) > 0 {
		summary = "You are signed out of " + list(ok) + ". " + summary
	}
	return title, summary
}

func capitalize(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}
