package app

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"time"

	"github.com/signoff/signoff/adapters/ssf"
	"github.com/signoff/signoff/cmd/signoff/internal/config"
	"github.com/signoff/signoff/coordinator/saga"
	"github.com/signoff/signoff/coordinator/store"
	"github.com/signoff/signoff/events"
)

// startSSFOut builds the Shared Signals adapter (adapters/ssf) for the
// relying parties with an ssf section, reading their token files, and
// enters them in dir with adapter ssf (directory() leaves them without an
// adapter; dir's maps are those the coordinator reads, so this must run
// before Resume and the intake). The adapter takes its dispatches from the
// work consumer adapter-ssf like the other bus adapters.
func (a *App) startSSFOut(cfg *config.Config, o Options, dir dirMap) error {
	secrets, err := cfg.SSFReceiverSecrets()
	if err != nil {
		return err
	}
	var rps []ssf.RP
	for _, rp := range cfg.RelyingParties {
		if rp.SSF == nil {
			continue
		}
		s := secrets[rp.ID]
		rps = append(rps, ssf.RP{
			ID: rp.ID, Name: rp.Name, Delivery: rp.SSF.Delivery, EndpointURL: rp.SSF.EndpointURL,
			AuthorizationHeader: s.AuthorizationHeader, SubjectFormat: rp.SSF.SubjectFormat,
			Audience: rp.SSF.Audience, BearerToken: s.BearerToken,
		})
		dir.rps[rp.ID] = saga.RP{ID: rp.ID, Name: rp.Name, Adapter: events.AdapterSSF}
	}
	dir.enabled[events.AdapterSSF] = true
	a.ssf, err = ssf.New(ssf.Config{
		Issuer: cfg.Issuer, PublicURL: cfg.PublicURL, Keys: a.keys, RPs: rps, Store: ssfOutStore{a.store},
		Publisher:   resultPublisher{batcher: a.batcher, sealer: a.sealer, tracing: a.tracing},
		Concurrency: cfg.Backchannel.Concurrency, AttemptTimeout: cfg.Backchannel.AttemptTimeout.Std(),
		Client: o.HTTPClient, Now: o.Now, Logger: o.Logger,
	})
	if err != nil {
		return fmt.Errorf("shared signals: %w", err)
	}
	return nil
}

// withSSFOut adds the transmitter endpoints of SSF to the extra handlers.
func (a *App) withSSFOut(extra map[string]http.Handler) map[string]http.Handler {
	out := maps.Clone(extra)
	if out == nil {
		out = map[string]http.Handler{}
	}
	maps.Copy(out, a.ssf.Handlers())
	return out
}

// ssfOutStore adapts the sqlite store to the adapter's Store.
type ssfOutStore struct{ st *store.Store }

func (s ssfOutStore) Stream(ctx context.Context, rpID string) (ssf.Stream, bool, error) {
	st, ok, err := s.st.SSFStream(ctx, rpID)
	return ssf.Stream{Created: st.Created, Status: st.Status, Reason: st.Reason, Description: st.Description, EventsRequested: st.EventsRequested}, ok, err
}

func (s ssfOutStore) CreateStream(ctx context.Context, rpID string, st ssf.Stream) (bool, error) {
	return s.st.SSFCreateStream(ctx, rpID, store.SSFStreamState{Created: st.Created, Status: st.Status, Reason: st.Reason, Description: st.Description, EventsRequested: st.EventsRequested})
}

func (s ssfOutStore) SetStatus(ctx context.Context, rpID, status, reason string) error {
	return s.st.SSFSetStatus(ctx, rpID, status, reason)
}

func (s ssfOutStore) Enqueue(ctx context.Context, q ssf.Queued, now time.Time) error {
	return s.st.SSFEnqueue(ctx, store.SSFQueuedSET{JTI: q.JTI, RPID: q.RPID, LogoutID: q.LogoutID, SET: q.SET, ExpiresAt: q.ExpiresAt}, now)
}

func (s ssfOutStore) Pending(ctx context.Context, rpID string, now time.Time, limit int) ([]ssf.Queued, bool, error) {
	rows, more, err := s.st.SSFPending(ctx, rpID, now, limit)
	return ssfOutQueued(rows), more, err
}

func (s ssfOutStore) Remove(ctx context.Context, rpID string, jtis []string) ([]ssf.Queued, error) {
	rows, err := s.st.SSFRemove(ctx, rpID, jtis)
	return ssfOutQueued(rows), err
}

func ssfOutQueued(rows []store.SSFQueuedSET) []ssf.Queued {
	out := make([]ssf.Queued, len(rows))
	for i, r := range rows {
		out[i] = ssf.Queued{JTI: r.JTI, RPID: r.RPID, LogoutID: r.LogoutID, SET: r.SET, ExpiresAt: r.ExpiresAt}
	}
	return out
}
