package saml

import "time"

// Changes tells the adapter that a logout's saga changed (package
// coordinator/watch; the store notifies it after each commit): the SAML
// endpoints that wait for a saga (/saml/slo answering a browser SP,
// /saml/slo/soap, /saml/return) wake on it instead of polling. Watch
// subscribes to logoutID; stop ends the subscription. A bus-backed
// implementation can carry changes committed by another instance.
type Changes interface {
	Watch(logoutID string) (changed <-chan struct{}, stop func())
}

// DefaultRecheck is how often a wait reads the saga without a change
// notification: a safety net for a lost notification.
const DefaultRecheck = 5 * time.Second

// noChanges is the Changes of a Config without one: never notified, waits
// see changes at Recheck only.
type noChanges struct{}

func (noChanges) Watch(string) (<-chan struct{}, func()) { return nil, func() {} }
