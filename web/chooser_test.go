package web

import "testing"

// TestAppsText: the chooser's sentence names where the user is signed in,
// where a sign-out is still going on, and where an earlier one was not
// confirmed — never "signed in" for an app it cannot vouch for.
func TestAppsText(t *testing.T) {
	a := func(name, state string) App { return App{RPID: name, Name: name, State: state} }
	tests := []struct {
		name string
		apps []App
		want string
	}{
		{"none", nil, "You are not signed in to any application."},
		{"signed in (empty state)", []App{a("Notes", ""), a("Chat", AppSignedIn)},
			"You are signed in to Notes and Chat. Unsaved work in them may be lost."},
		{"every state", []App{a("Chat", AppSignedIn), a("Wiki", AppSigningOut), a("Notes", AppNotConfirmed), a("Mail", AppNotConfirmed)},
			"You are signed in to Chat. Unsaved work in them may be lost. The sign-out of Wiki is still in progress. " +
				"Notes and Mail did not confirm an earlier sign-out: you may still be signed in there."},
		{"nothing signed in any more", []App{a("Wiki", AppSigningOut)},
			"You are not signed in to any application. The sign-out of Wiki is still in progress."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := appsText(tt.apps); got != tt.want {
				t.Errorf("appsText = %q\nwant       %q", got, tt.want)
			}
		})
	}
	for _, s := range []string{AppSignedIn, AppSigningOut, AppNotConfirmed} {
		if appLabels[s] == "" {
			t.Errorf("no label for state %s", s)
		}
	}
}
