package app

import (
	"context"
	"fmt"
	"io"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/signoff/signoff/adapters/keycloak"
	"github.com/signoff/signoff/cmd/signoff/internal/config"
	"github.com/signoff/signoff/coordinator/bus"
	"github.com/signoff/signoff/web"
)

// startBridges starts the Keycloak bridge when bridges.keycloak is
// configured. It stops when runCtx ends (Close), before the NATS
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
	a.keycloak, err = keycloak.Start(ctx, keycloak.Config{
		JS: js, Subject: k.Subject, Stream: k.Stream, Replicas: a.cfg.NATS.Replicas,
		Mapping: keycloak.Mapping{Realm: k.Realm, Clients: k.Clients, UpstreamID: k.UpstreamID,
			SubjectFromUsername: k.SubjectFrom == config.KeycloakSubjectUsername},
		Publisher: bus.AllPublisher{JS: js}, Now: o.Now, Logger: o.Logger.With("component", "keycloak-bridge"),
	})
	if err != nil {
		return err
	}
	a.goBG(func() {
		<-runCtx.Done()
		a.keycloak.Stop()
	})
	return nil
}

// writeBridgeMetrics appends the bridge's counters to /metrics.
func (a *App) writeBridgeMetrics(w io.Writer) {
	if a.keycloak == nil {
		return
	}
	st := a.keycloak.Stats()
	c := func(v uint64) func() uint64 { return func() uint64 { return v } }
	web.WriteCounters(w, []web.Counter{
		{Name: "signoff_keycloak_events_total", Help: "Keycloak events taken by the bridge (redeliveries count again).", Value: c(st.Received)},
		{Name: "signoff_keycloak_joins_total", Help: "session.joined published from Keycloak LOGIN and CODE_TO_TOKEN.", Value: c(st.Joins)},
		{Name: "signoff_keycloak_logouts_total", Help: "logout.requested published from Keycloak LOGOUT and USER_SESSION_DELETED.", Value: c(st.Logouts)},
		{Name: "signoff_keycloak_ignored_realm_total", Help: "Keycloak events of another realm, ignored.", Value: c(st.IgnoredRealm)},
		{Name: "signoff_keycloak_ignored_client_total", Help: "Keycloak logins at a client not in bridges.keycloak.clients, ignored.", Value: c(st.IgnoredClient)},
		{Name: "signoff_keycloak_ignored_error_total", Help: "Failed Keycloak events (error set), ignored.", Value: c(st.IgnoredError)},
		{Name: "signoff_keycloak_ignored_type_total", Help: "Keycloak events of a type the bridge does not act on (and admin events), ignored.", Value: c(st.IgnoredType)},
		{Name: "signoff_keycloak_poisoned_total", Help: "Malformed Keycloak events sent to signoff.poison.", Value: c(st.Poisoned)},
	})
}

// bridgeSubjects are the subjects an IdP user of the embedded server may
// publish besides signoff's own: those of the configured bridges.
func bridgeSubjects(cfg *config.Config) []string {
	if k := cfg.Bridges.Keycloak; k != nil {
		return []string{k.Subject}
	}
	return nil
}
