// Package summary holds the words that several parts of signoff show
// people, so that they say them the same way: the English list and the
// sentence of a completed logout, shared by the browser sign-out page (web)
// and `signoff logout` (cmd/signoff/internal/client), and the short form of
// a duration, shared by config errors and expiry details.
package summary

import (
	"strings"
	"time"
)

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

// Duration writes d short: 10m rather than 10m0s, 12h rather than 12h0m0s
// and 2160h rather than 2160h0m0s; other durations as time.Duration does.
func Duration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
