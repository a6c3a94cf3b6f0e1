package app

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/signoff/signoff/adapters/backchannel"
	"github.com/signoff/signoff/events"
)

// backchannelAdapter is the OIDC back-channel logout adapter
// (adapters/backchannel) on the port: a Dispatcher, Metered and Closer.
type backchannelAdapter struct{ *backchannel.Adapter }

func (backchannelAdapter) Name() events.Adapter { return events.AdapterBackchannel }

// newBackchannel builds the adapter for the relying parties with
// oidc.backchannel_logout_uri.
func newBackchannel(d adapterDeps) (Adapter, error) {
	var rps []backchannel.RP
	for _, rp := range d.rps {
		rps = append(rps, backchannel.RP{
			ID: rp.ID, Name: rp.Name, ClientID: rp.OIDC.ClientID, LogoutURI: rp.OIDC.BackchannelLogoutURI,
			SessionRequired: rp.OIDC.BackchannelLogoutSessionRequired, Alg: rp.OIDC.LogoutTokenAlg, Typ: rp.OIDC.LogoutTokenTyp,
		})
	}
	a, err := backchannel.New(backchannel.Config{
		Issuer: d.cfg.Issuer, Keys: d.keys, RPs: rps, Publisher: d.results,
		Concurrency: d.cfg.Backchannel.Concurrency, AttemptTimeout: d.cfg.Backchannel.AttemptTimeout.Std(),
		Client: d.o.HTTPClient, Now: d.o.Now, Logger: d.o.Logger, Tracer: d.results.tracing.provider(),
	})
	if err != nil {
		return nil, err
	}
	return backchannelAdapter{a}, nil
}

// Collectors are the adapter's counters (README "Metrics").
func (b backchannelAdapter) Collectors() []prometheus.Collector {
	s := func(f func(s backchannel.Stats) uint64) func() uint64 {
		return func() uint64 { return f(b.Stats()) }
	}
	return []prometheus.Collector{
		counterFunc("signoff_backchannel_attempts_total", "Back-channel HTTP attempts.", s(func(s backchannel.Stats) uint64 { return s.Attempts })),
		counterFunc("signoff_backchannel_succeeded_total", "Back-channel participants signed out.", s(func(s backchannel.Stats) uint64 { return s.Succeeded })),
		counterFunc("signoff_backchannel_failed_total", "Back-channel participants failed.", s(func(s backchannel.Stats) uint64 { return s.Failed })),
		counterFunc("signoff_backchannel_timed_out_total", "Back-channel participants timed out.", s(func(s backchannel.Stats) uint64 { return s.TimedOut })),
		counterFunc("signoff_backchannel_late_total", "Back-channel dispatches that arrived after their logout deadline (nothing sent; timed_out).", s(func(s backchannel.Stats) uint64 { return s.Late })),
	}
}
