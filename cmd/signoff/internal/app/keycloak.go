package app

import (
	"context"
	"fmt"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signoff/signoff/adapters/keycloak"
	"github.com/signoff/signoff/cmd/signoff/internal/config"
	"github.com/signoff/signoff/coordinator/bus"
)

// keycloakBridges are the running Keycloak bridges: user events, and
// admin events when bridges.keycloak.admin_subject is set.
type keycloakBridges struct {
	user, admin *keycloak.Bridge
}

// stats sums the counters of both bridges.
func (k keycloakBridges) stats() keycloak.Stats {
	var t keycloak.Stats
	for _, b := range []*keycloak.Bridge{k.user, k.admin} {
		if b == nil {
			continue
		}
		s := b.Stats()
		t.Received += s.Received
		t.Joins += s.Joins
		t.Logouts += s.Logouts
		t.IgnoredRealm += s.IgnoredRealm
		t.IgnoredClient += s.IgnoredClient
		t.IgnoredError += s.IgnoredError
		t.IgnoredType += s.IgnoredType
		t.Poisoned += s.Poisoned
	}
	return t
}

// startBridges starts the Keycloak bridges when bridges.keycloak is
// configured. They stop when runCtx ends (Close), before the NATS
// connections are drained.
func (a *App) startBridges(ctx, runCtx context.Context, o Options) error {
	k := a.cfg.Bridges.Keycloak
	if k == nil {
		return nil
	}
	nc, err := a.bus.Connect("signoff-keycloak-bridge")
	if err != nil {
		return err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return fmt.Errorf("keycloak bridge: %w", err)
	}
	bc := keycloak.Config{
		JS: js, Subject: k.Subject, Stream: k.Stream, Replicas: a.cfg.NATS.Replicas,
		Mapping: keycloak.Mapping{Realm: k.Realm, Clients: k.Clients, UpstreamID: k.UpstreamID,
			SubjectFromUsername: k.SubjectFrom == config.KeycloakSubjectUsername},
		Publisher: bus.AllPublisher{JS: js}, Now: o.Now, Logger: o.Logger.With("component", "keycloak-bridge"),
	}
	if a.keycloak.user, err = keycloak.Start(ctx, bc); err != nil {
		return err
	}
	a.goBG(func() {
		<-runCtx.Done()
		a.keycloak.user.Stop()
	})
	if k.AdminSubject == "" {
		return nil
	}
	bc.Admin, bc.Subject, bc.Stream = true, k.AdminSubject, ""
	bc.Logger = o.Logger.With("component", "keycloak-admin-bridge")
	if a.keycloak.admin, err = keycloak.Start(ctx, bc); err != nil {
		return err
	}
	a.goBG(func() {
		<-runCtx.Done()
		a.keycloak.admin.Stop()
	})
	return nil
}

// bridgeCounter is one counter of the bridges, read at scrape time.
type bridgeCounter struct {
	Name, Help string
	Value      func() uint64
}

// bridgeCounters are the bridges' counters for /metrics; none without a
// bridge. Each reads the sum of the user and admin bridges' Stats.
func (a *App) bridgeCounters() []bridgeCounter {
	if a.keycloak.user == nil {
		return nil
	}
	c := func(name, help string, f func(keycloak.Stats) uint64) bridgeCounter {
		return bridgeCounter{Name: name, Help: help, Value: func() uint64 { return f(a.keycloak.stats()) }}
	}
	return []bridgeCounter{
		c("signoff_keycloak_events_total", "Keycloak events taken by the bridge (redeliveries count again).", func(s keycloak.Stats) uint64 { return s.Received }),
		c("signoff_keycloak_joins_total", "session.joined published from Keycloak LOGIN and CODE_TO_TOKEN.", func(s keycloak.Stats) uint64 { return s.Joins }),
		c("signoff_keycloak_logouts_total", "logout.requested published from Keycloak LOGOUT, USER_SESSION_DELETED and admin sign-outs.", func(s keycloak.Stats) uint64 { return s.Logouts }),
		c("signoff_keycloak_ignored_realm_total", "Keycloak events of another realm, ignored.", func(s keycloak.Stats) uint64 { return s.IgnoredRealm }),
		c("signoff_keycloak_ignored_client_total", "Keycloak logins at a client not in bridges.keycloak.clients, ignored.", func(s keycloak.Stats) uint64 { return s.IgnoredClient }),
		c("signoff_keycloak_ignored_error_total", "Failed Keycloak events (error set), ignored.", func(s keycloak.Stats) uint64 { return s.IgnoredError }),
		c("signoff_keycloak_ignored_type_total", "Keycloak events of a type the bridge does not act on (and other admin events), ignored.", func(s keycloak.Stats) uint64 { return s.IgnoredType }),
		c("signoff_keycloak_poisoned_total", "Malformed Keycloak events sent to signoff.poison.", func(s keycloak.Stats) uint64 { return s.Poisoned }),
	}
}

// bridgeSubjects are the subjects an IdP user of the embedded server may
// publish besides signoff's own: those of the configured bridges.
func bridgeSubjects(cfg *config.Config) []string {
	k := cfg.Bridges.Keycloak
	switch {
	case k == nil:
		return nil
	case k.AdminSubject != "":
		return []string{k.Subject, k.AdminSubject}
	}
	return []string{k.Subject}
}
