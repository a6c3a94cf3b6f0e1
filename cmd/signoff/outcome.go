package main

import (
	"fmt"
	"io"

	"github.com/signoff/signoff/cmd/signoff/internal/client"
	"github.com/signoff/signoff/events"
)

// printOutcome prints a completed logout as `signoff logout` reports it:
// the outcome, the completion's detail when it has one (e.g.
// events.CompletedNoSessions: nothing was known to sign out, which a bare
// "complete" would hide), each participant's outcome with its detail, and
// the sentence a user would read (client.Summary).
func printOutcome(w io.Writer, c events.Completed) {
	fmt.Fprintf(w, "logout %s: %s\n", c.LogoutID, c.Outcome)
	if c.Detail != "" {
		fmt.Fprintf(w, "  %s\n", c.Detail)
	}
	for _, p := range c.Participants {
		name := p.Name
		if name == "" {
			name = p.RPID
		}
		fmt.Fprintf(w, "  %-20s %-11s %s\n", name, p.Outcome, p.Detail)
	}
	fmt.Fprintln(w, client.Summary(c))
}
