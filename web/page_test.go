package web

import (
	"strings"
	"testing"

	"github.com/signoff/signoff/events"
)

// TestPlainReasons: the page says what happened in plain words; the
// technical detail (kept for operators) never reaches it.
func TestPlainReasons(t *testing.T) {
	tests := []struct {
		outcome      events.Outcome
		detail, want string
	}{
		{events.OutcomeTimedOut, "no confirmation before the deadline after 3 attempt(s); last error: dial tcp 127.0.0.1:46157: connect: connection refused", "Chat's server did not answer."},
		{events.OutcomeTimedOut, "no response within 5s", "Chat's server did not answer."},
		{events.OutcomeTimedOut, "no confirmation before the deadline after 9 attempt(s); last error: HTTP 503: busy", "Chat did not confirm in time."},
		{events.OutcomeTimedOut, "the app's logout page loaded but did not confirm within 5s", "Chat did not confirm in time."},
		{events.OutcomeTimedOut, "the app's logout page did not load within 5s", "Chat's server did not answer."},
		{events.OutcomeFailed, "HTTP 400: invalid_request", "Chat refused the sign-out."},
		{events.OutcomeFailed, "LogoutResponse status urn:oasis:names:tc:SAML:2.0:status:Requester", "Chat refused the sign-out."},
		{events.OutcomeFailed, "relying party is no longer configured", "Chat is no longer known to this sign-in service."},
		{events.OutcomeFailed, "1 session(s) without sid: session required", "Chat could not be told which session to end."},
		{events.OutcomeFailed, "something else entirely", "Chat could not be signed out."},
		{events.OutcomeUnsupported, "the saml logout channel is not enabled in this signoff", "Chat cannot be signed out from here."},
		{events.OutcomeSucceeded, "1 logout tokens accepted", ""},
	}
	for _, tt := range tests {
		got := reason(ParticipantView{RPID: "chat", Name: "Chat", Outcome: tt.outcome, Detail: tt.detail}, "signoff")
		if got != tt.want {
			t.Errorf("%s %q: %q, want %q", tt.outcome, tt.detail, got, tt.want)
		}
	}
	local := reason(ParticipantView{RPID: "signoff", Name: "This sign-in service", Outcome: events.OutcomeFailed,
		Detail: "the browser still sends the session cookie sso; check session.cookie_domain"}, "signoff")
	if strings.Contains(local, "cookie_domain") || !strings.Contains(local, "Close your browser") {
		t.Errorf("local participant: %q", local)
	}

	e := newEnv(t)
	c := e.browser(t, "s")
	get(t, c, e.srv.URL+"/logout")
	id := e.logouts.reqs[0].LogoutID
	e.status.set(id, LogoutView{ID: id, Status: "partial", Participants: []ParticipantView{
		{RPID: "signoff", Name: "This sign-in service", Outcome: events.OutcomeSucceeded},
		{RPID: "chat", Name: "Chat", Outcome: events.OutcomeTimedOut, Detail: tests[0].detail},
		{RPID: "wiki", Name: "Wiki", Outcome: events.OutcomeFailed, Detail: "HTTP 403: forbidden"},
	}})
	_, body := get(t, c, e.srv.URL+"/logout/"+id)
	for _, want := range []string{"Chat&#39;s server did not answer.", "Wiki refused the sign-out.",
		`<span class="name">This sign-in service</span>`, "You were signed out of this sign-in service. Chat and Wiki did not confirm."} {
		if !strings.Contains(body, want) {
			t.Errorf("page lacks %q:\n%s", want, body)
		}
	}
	for _, leak := range []string{"dial tcp", "127.0.0.1", "attempt(s)", "HTTP 403"} {
		if strings.Contains(body, leak) {
			t.Errorf("page shows %q", leak)
		}
	}
}

// TestThisAppOnlyHeadline: "sign out of Notes only" ends on a headline that
// says what happened and what is still signed in.
func TestThisAppOnlyHeadline(t *testing.T) {
	notes := []ParticipantView{{RPID: "notes", Name: "Notes", Outcome: events.OutcomeSucceeded}}
	tests := []struct {
		name               string
		v                  LogoutView
		wantTitle, wantSum string
	}{
		{"others known", LogoutView{Status: "complete", Scope: events.ScopeInitiatorOnly, Participants: notes, StillSignedIn: []string{"Chat", "Wiki", "Payroll"}},
			"You are signed out of Notes", "You are signed out of Notes. You are still signed in to Chat, Wiki and Payroll."},
		{"others unknown", LogoutView{Status: "complete", Scope: events.ScopeInitiatorOnly, Participants: notes},
			"You are signed out of Notes", "You are signed out of Notes. You are still signed in to the other applications."},
		{"not confirmed", LogoutView{Status: "partial", Scope: events.ScopeInitiatorOnly, StillSignedIn: []string{"Chat"},
			Participants: []ParticipantView{{RPID: "notes", Name: "Notes", Outcome: events.OutcomeTimedOut}}},
			"Sign-out of Notes not confirmed", "Notes did not confirm the sign-out. You are still signed in to Chat."},
		{string(events.StatusRunning), LogoutView{Status: events.StatusRunning, Scope: events.ScopeInitiatorOnly, Participants: []ParticipantView{{RPID: "notes", Name: "Notes", Outcome: events.OutcomePending}}},
			"Signing you out of Notes…", ""},
	}
	for _, tt := range tests {
		title, sum := headline(tt.v, "signoff")
		if title != tt.wantTitle || sum != tt.wantSum {
			t.Errorf("%s: %q / %q, want %q / %q", tt.name, title, sum, tt.wantTitle, tt.wantSum)
		}
	}

	e := newEnv(t)
	c := e.browser(t, "s")
	get(t, c, e.srv.URL+"/logout")
	id := e.logouts.reqs[0].LogoutID
	e.status.set(id, tests[0].v)
	_, body := get(t, c, e.srv.URL+"/logout/"+id)
	if !strings.Contains(body, `<h1 id="title" tabindex="-1">You are signed out of Notes</h1>`) ||
		!strings.Contains(body, "You are still signed in to Chat, Wiki and Payroll.") {
		t.Errorf("page:\n%s", body)
	}
	if strings.Contains(body, ">You are signed out<") {
		t.Error(`the page still says only "You are signed out"`)
	}
}

// TestNoApplicationSessions: a logout in which signoff knew no application
// session (only this sign-in service took part) does not look like a
// sign-out everywhere.
func TestNoApplicationSessions(t *testing.T) {
	e := newEnv(t)
	c := e.browser(t, "s")
	get(t, c, e.srv.URL+"/logout")
	id := e.logouts.reqs[0].LogoutID
	e.status.set(id, LogoutView{ID: id, Status: "complete", Participants: []ParticipantView{
		{RPID: "signoff", Name: "This sign-in service", Outcome: events.OutcomeSucceeded},
	}})
	_, body := get(t, c, e.srv.URL+"/logout/"+id)
	if !strings.Contains(body, "signoff knew no application sessions for this sign-in") ||
		!strings.Contains(body, "Signed out of this sign-in service only") {
		t.Errorf("page:\n%s", body)
	}
	if strings.Contains(body, ">You are signed out<") {
		t.Error(`the page says "You are signed out" as if every application were`)
	}
}
