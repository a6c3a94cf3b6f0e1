// Package summary holds the words that both the browser sign-out page
// (web) and `signoff logout` (cmd/signoff/internal/client) use to tell a
// user what a completed logout did, so the two say it the same way.
package summary

import "strings"

// List joins names as an English list: "A", "A and B", "A, B and C"; ""
// when there are none.
func List(names []string) string {
	if len(names) <= 1 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// SignedOutOf is the sentence for a logout that every named application
// confirmed: "You were signed out of A and B."
func SignedOutOf(names []string) string {
	return "You were signed out of " + List(names) + "."
}
