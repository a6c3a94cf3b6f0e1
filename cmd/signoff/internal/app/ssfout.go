package app

import (
	"context"
	"fmt"
	"time"

	"github.com/signoff/signoff/adapters/ssf"
	"github.com/signoff/signoff/coordinator/store"
	"github.com/signoff/signoff/events"
)

// ssfAdapter is the Shared Signals transmitter (adapters/ssf) on the
// port: a Dispatcher (work consumer adapter-ssf), Routes (its transmitter
// endpoints), LongPolls and a Closer.
type ssfAdapter struct{ *ssf.Adapter }

func (ssfAdapter) Name() events.Adapter { return events.AdapterSSF }

// newSSFOut builds the Shared Signals adapter for the relying parties with
// an ssf section, reading their token files.
func newSSFOut(d adapterDeps) (Adapter, error) {
	cfg := d.cfg
	secrets, err := cfg.SSFReceiverSecrets()
	if err != nil {
		return nil, err
	}
	var rps []ssf.RP
	for _, rp := range d.rps {
		s := secrets[rp.ID]
		rps = append(rps, ssf.RP{
			ID: rp.ID, Name: rp.Name, Delivery: rp.SSF.Delivery, EndpointURL: rp.SSF.EndpointURL,
			AuthorizationHeader: s.AuthorizationHeader, SubjectFormat: rp.SSF.SubjectFormat,
			Audience: rp.SSF.Audience, BearerToken: s.BearerToken,
		})
	}
	a, err := ssf.New(ssf.Config{
		Issuer: cfg.Issuer, PublicURL: cfg.PublicURL, Keys: d.keys, RPs: rps, Store: ssfOutStore{d.store},
		Publisher: d.results, Concurrency: cfg.Backchannel.Concurrency, AttemptTimeout: cfg.Backchannel.AttemptTimeout.Std(),
		Client: d.o.HTTPClient, Now: d.o.Now, Logger: d.o.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("shared signals: %w", err)
	}
	return ssfAdapter{a}, nil
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
