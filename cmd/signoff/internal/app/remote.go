package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/signoff/signoff/coordinator/partition"
	"github.com/signoff/signoff/coordinator/rpc"
	"github.com/signoff/signoff/coordinator/saga"
	"github.com/signoff/signoff/coordinator/store"
)

// Any instance serves any request (scale-out design, piece 6): the pages,
// their events, the acknowledgements, end_session, the SAML endpoints, the
// admin API and the dispatch handlers read sagas and sessions through
// partStore. routed implements it by locating the partition that holds the
// key (the route index) and reading its store when this instance owns it,
// else asking its owner over coordinator/rpc; serveRemote and
// serveBroadcasts are the owner's side.

// routeKind is a kind of key of the route index.
type routeKind = partition.Kind

// Route index kinds.
const (
	routeSession  = partition.KindSession  // session_id
	routeLogout   = partition.KindLogout   // logout_id
	routeUpstream = partition.KindUpstream // upstream_id + "\x00" + upstream_sid
	routeRPSID    = partition.KindRPSID    // rp_id + "\x00" + OIDC sid
	routeNameID   = partition.KindNameID   // rp_id + "\x00" + SAML NameID
)

// partitions is what the wrappers need from the partition set
// (consumer-side; the cluster wiring implements it).
type partitions interface {
	// Count is P, the number of partitions.
	Count() int
	// Local is the store of partition p when this instance owns it.
	Local(p int) (*store.Store, bool)
	// Locate looks kind/key up in the route index.
	Locate(ctx context.Context, kind routeKind, key string) (int, bool, error)
	// Conn is the core NATS connection for requests.
	Conn() *nats.Conn
	// Members is the number of live instances (Broadcast's answers).
	Members() int
}

// partStore is what serving a request reads and writes of the partition
// that holds its saga or session (consumer-side: *store.Store and routed).
type partStore interface {
	Saga(ctx context.Context, logoutID string) (saga.Saga, bool, error)
	SessionApps(ctx context.Context, sessionID string) ([]store.SessionApp, error)
	SessionBySID(ctx context.Context, rpID, sid string) (string, bool, error)
	SessionsByNameID(ctx context.Context, rpID, nameID string) ([]store.SAMLSession, error)
	ClaimStep(ctx context.Context, logoutID, rpID string, now time.Time, again time.Duration) (bool, error)
	ReleaseStep(ctx context.Context, logoutID, rpID string) error
	ParticipantPending(ctx context.Context, logoutID, rpID string) (bool, error)
}

// RPC methods of a partition (rpc.Serve) and of the broadcast (rpc.ServeAll).
const (
	rpcSaga               = "saga"
	rpcSessionApps        = "session_apps"
	rpcSessionBySID       = "session_by_sid"
	rpcSessionsByNameID   = "sessions_by_nameid"
	rpcClaimStep          = "claim_step"
	rpcReleaseStep        = "release_step"
	rpcParticipantPending = "participant_pending"
)

// Requests of the RPC methods.
type (
	logoutKey struct {
		LogoutID string `json:"logout_id"`
		RPID     string `json:"rp_id,omitempty"`
	}
	sessionKey struct {
		SessionID string `json:"session_id"`
	}
	rpKey struct {
		RPID string `json:"rp_id"`
		Key  string `json:"key"` // OIDC sid or SAML NameID
	}
	stepClaim struct {
		LogoutID string        `json:"logout_id"`
		RPID     string        `json:"rp_id"`
		Now      time.Time     `json:"now"`
		Again    time.Duration `json:"again"`
	}
)

// routed is a partStore over every partition.
type routed struct{ parts partitions }

var _ partStore = routed{}
var _ partStore = (*store.Store)(nil)

// single is the fast path of one partition owned here: no index, no NATS.
func (r routed) single() (*store.Store, bool) {
	if r.parts.Count() == 1 {
		return r.parts.Local(0)
	}
	return nil, false
}

// locate finds the partition of kind/key: its store when owned here.
func (r routed) locate(ctx context.Context, kind routeKind, key string) (st *store.Store, p int, found bool, err error) {
	if st, ok := r.single(); ok {
		return st, 0, true, nil
	}
	p, found, err = r.parts.Locate(ctx, kind, key)
	if err != nil {
		return nil, 0, false, fmt.Errorf("locating %s %q: %w", kind, key, err)
	}
	if !found {
		return nil, 0, false, nil
	}
	st, _ = r.parts.Local(p)
	return st, p, true, nil
}

// Saga reads the saga of logoutID; a logout not in the route index (yet)
// is not found.
func (r routed) Saga(ctx context.Context, logoutID string) (saga.Saga, bool, error) {
	st, p, found, err := r.locate(ctx, routeLogout, logoutID)
	switch {
	case err != nil || !found:
		return saga.Saga{}, false, err
	case st != nil:
		return st.Saga(ctx, logoutID)
	}
	var sg saga.Saga
	found, err = rpc.Call(ctx, r.parts.Conn(), p, rpcSaga, logoutKey{LogoutID: logoutID}, &sg)
	return sg, found, err
}

// SessionApps lists the applications of sessionID (none when the session
// is not in the route index).
func (r routed) SessionApps(ctx context.Context, sessionID string) ([]store.SessionApp, error) {
	st, p, found, err := r.locate(ctx, routeSession, sessionID)
	switch {
	case err != nil || !found:
		return nil, err
	case st != nil:
		return st.SessionApps(ctx, sessionID)
	}
	var apps []store.SessionApp
	_, err = rpc.Call(ctx, r.parts.Conn(), p, rpcSessionApps, sessionKey{sessionID}, &apps)
	return apps, err
}

// SessionBySID finds the IdP session of sid at rpID; a key the route index
// does not have is asked of every instance.
func (r routed) SessionBySID(ctx context.Context, rpID, sid string) (string, bool, error) {
	st, p, found, err := r.locate(ctx, routeRPSID, rpID+"\x00"+sid)
	req := rpKey{RPID: rpID, Key: sid}
	var id string
	switch {
	case err != nil:
		return "", false, err
	case st != nil:
		return st.SessionBySID(ctx, rpID, sid)
	case found:
		found, err = rpc.Call(ctx, r.parts.Conn(), p, rpcSessionBySID, req, &id)
		return id, found, err
	}
	err = rpc.Broadcast(ctx, r.parts.Conn(), rpcSessionBySID, req, r.parts.Members(), func(b []byte) error {
		if id == "" {
			return json.Unmarshal(b, &id)
		}
		return nil
	})
	if id != "" {
		return id, true, nil // an instance that failed cannot have known better
	}
	return "", false, err
}

// SessionsByNameID lists the sessions at rpID with SAML NameID nameID; a
// key the route index does not have is asked of every instance (the
// answers of several partitions are concatenated, each most recent first).
func (r routed) SessionsByNameID(ctx context.Context, rpID, nameID string) ([]store.SAMLSession, error) {
	st, p, found, err := r.locate(ctx, routeNameID, rpID+"\x00"+nameID)
	req := rpKey{RPID: rpID, Key: nameID}
	var out []store.SAMLSession
	switch {
	case err != nil:
		return nil, err
	case st != nil:
		return st.SessionsByNameID(ctx, rpID, nameID)
	case found:
		_, err = rpc.Call(ctx, r.parts.Conn(), p, rpcSessionsByNameID, req, &out)
		return out, err
	}
	err = rpc.Broadcast(ctx, r.parts.Conn(), rpcSessionsByNameID, req, r.parts.Members(), func(b []byte) error {
		var some []store.SAMLSession
		if err := json.Unmarshal(b, &some); err != nil {
			return err
		}
		out = append(out, some...)
		return nil
	})
	if len(out) > 0 {
		return out, nil
	}
	return nil, err
}

// ClaimStep claims a browser step on the owner of the logout (a write: it
// is made by the store of the partition, wherever the page is served). A
// logout not in the route index has no pending participant.
func (r routed) ClaimStep(ctx context.Context, logoutID, rpID string, now time.Time, again time.Duration) (bool, error) {
	st, p, found, err := r.locate(ctx, routeLogout, logoutID)
	switch {
	case err != nil || !found:
		return false, err
	case st != nil:
		return st.ClaimStep(ctx, logoutID, rpID, now, again)
	}
	var won bool
	_, err = rpc.Call(ctx, r.parts.Conn(), p, rpcClaimStep, stepClaim{LogoutID: logoutID, RPID: rpID, Now: now, Again: again}, &won)
	return won, err
}

// ReleaseStep forgets a claimed step on the owner of the logout.
func (r routed) ReleaseStep(ctx context.Context, logoutID, rpID string) error {
	st, p, found, err := r.locate(ctx, routeLogout, logoutID)
	switch {
	case err != nil || !found:
		return err
	case st != nil:
		return st.ReleaseStep(ctx, logoutID, rpID)
	}
	_, err = rpc.Call(ctx, r.parts.Conn(), p, rpcReleaseStep, logoutKey{LogoutID: logoutID, RPID: rpID}, nil)
	return err
}

// ParticipantPending tells a dispatch handler whether rpID still waits in
// the running saga of logoutID. A logout this instance's route index does
// not have yet (its intake is behind the owner's) is asked of every
// instance, so that a dispatch is not dropped for a lagging index.
func (r routed) ParticipantPending(ctx context.Context, logoutID, rpID string) (bool, error) {
	st, p, found, err := r.locate(ctx, routeLogout, logoutID)
	req := logoutKey{LogoutID: logoutID, RPID: rpID}
	var pending bool
	switch {
	case err != nil:
		return false, err
	case st != nil:
		return st.ParticipantPending(ctx, logoutID, rpID)
	case found:
		_, err = rpc.Call(ctx, r.parts.Conn(), p, rpcParticipantPending, req, &pending)
		return pending, err
	}
	err = rpc.Broadcast(ctx, r.parts.Conn(), rpcParticipantPending, req, r.parts.Members(), func(b []byte) error {
		pending = true // only a pending participant is found
		return nil
	})
	if pending {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	// Neither this instance's route index nor any owner knows it: the
	// index is behind, or the partition is moving. Not "not pending".
	return false, errNotRouted
}

// errNotRouted: a logout that this instance's route index does not know
// yet and that no owner answered for (a dispatch handler retries it until
// its deadline).
var errNotRouted = errors.New("logout not in the route index yet, and no owner answered")

// handler adapts a typed method to an rpc.Handler: a request that does not
// decode is the caller's error.
func handler[Req, Resp any](f func(ctx context.Context, req Req) (Resp, bool, error)) rpc.Handler {
	return func(ctx context.Context, b []byte) ([]byte, bool, error) {
		var req Req
		if err := json.Unmarshal(b, &req); err != nil {
			return nil, false, fmt.Errorf("malformed request: %w", err)
		}
		resp, found, err := f(ctx, req)
		if err != nil || !found {
			return nil, false, err
		}
		out, err := json.Marshal(resp)
		return out, err == nil, err
	}
}

// partitionHandlers are the methods the owner of a partition answers from
// its store st.
func partitionHandlers(st partStore) map[string]rpc.Handler {
	return map[string]rpc.Handler{
		rpcSaga: handler(func(ctx context.Context, k logoutKey) (saga.Saga, bool, error) {
			return st.Saga(ctx, k.LogoutID)
		}),
		rpcSessionApps: handler(func(ctx context.Context, k sessionKey) ([]store.SessionApp, bool, error) {
			apps, err := st.SessionApps(ctx, k.SessionID)
			return apps, true, err
		}),
		rpcSessionBySID: handler(func(ctx context.Context, k rpKey) (string, bool, error) {
			return st.SessionBySID(ctx, k.RPID, k.Key)
		}),
		rpcSessionsByNameID: handler(func(ctx context.Context, k rpKey) ([]store.SAMLSession, bool, error) {
			rows, err := st.SessionsByNameID(ctx, k.RPID, k.Key)
			return rows, len(rows) > 0, err
		}),
		rpcClaimStep: handler(func(ctx context.Context, c stepClaim) (bool, bool, error) {
			won, err := st.ClaimStep(ctx, c.LogoutID, c.RPID, c.Now, c.Again)
			return won, true, err
		}),
		rpcReleaseStep: handler(func(ctx context.Context, k logoutKey) (struct{}, bool, error) {
			return struct{}{}, true, st.ReleaseStep(ctx, k.LogoutID, k.RPID)
		}),
		rpcParticipantPending: handler(func(ctx context.Context, k logoutKey) (bool, bool, error) {
			pending, err := st.ParticipantPending(ctx, k.LogoutID, k.RPID)
			return pending, err == nil, err
		}),
	}
}

// serveRemote answers the requests of partition p from its store st, on
// the instance that owns p, until stop is called (call it before giving
// the partition up). Its answers are the store's own rows: the instance
// that asked builds its views with its own directory (the configuration is
// the same on every instance).
func serveRemote(nc *nats.Conn, p int, st partStore) (stop func(), err error) {
	var stops []func()
	stop = func() {
		for _, s := range stops {
			s()
		}
	}
	for method, h := range partitionHandlers(st) {
		s, err := rpc.Serve(nc, p, method, h)
		if err != nil {
			stop()
			return nil, fmt.Errorf("serving partition %d: %w", p, err)
		}
		stops = append(stops, s)
	}
	return stop, nil
}

// serveBroadcasts answers the lookups without a route (rpc.ServeAll) from
// the partitions this instance owns at the time of each request, until
// stop is called.
func serveBroadcasts(parts partitions) (stop func(), err error) {
	owned := func(f func(st *store.Store) (bool, error)) error {
		var errs []error
		for p := range parts.Count() {
			if st, ok := parts.Local(p); ok {
				done, err := f(st)
				if err != nil {
					errs = append(errs, fmt.Errorf("partition %d: %w", p, err))
				} else if done {
					return nil
				}
			}
		}
		return errors.Join(errs...)
	}
	handlers := map[string]rpc.Handler{
		rpcSessionBySID: handler(func(ctx context.Context, k rpKey) (string, bool, error) {
			var id string
			err := owned(func(st *store.Store) (bool, error) {
				var ok bool
				var err error
				id, ok, err = st.SessionBySID(ctx, k.RPID, k.Key)
				return ok, err
			})
			return id, id != "", err
		}),
		rpcSessionsByNameID: handler(func(ctx context.Context, k rpKey) ([]store.SAMLSession, bool, error) {
			var out []store.SAMLSession
			err := owned(func(st *store.Store) (bool, error) {
				rows, err := st.SessionsByNameID(ctx, k.RPID, k.Key)
				out = append(out, rows...)
				return false, err
			})
			return out, len(out) > 0, err
		}),
		rpcParticipantPending: handler(func(ctx context.Context, k logoutKey) (bool, bool, error) {
			var pending bool
			err := owned(func(st *store.Store) (bool, error) {
				var err error
				pending, err = st.ParticipantPending(ctx, k.LogoutID, k.RPID)
				return pending, err
			})
			return pending, pending, err
		}),
	}
	var stops []func()
	stop = func() {
		for _, s := range stops {
			s()
		}
	}
	for method, h := range handlers {
		s, err := rpc.ServeAll(parts.Conn(), method, h)
		if err != nil {
			stop()
			return nil, fmt.Errorf("serving broadcasts: %w", err)
		}
		stops = append(stops, s)
	}
	return stop, nil
}
