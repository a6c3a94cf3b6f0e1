package coordinator

import (
	"encoding/json"
	"fmt"

	"github.com/signoff/signoff/coordinator/partition"
	"github.com/signoff/signoff/events"
)

// RouteTx is the route index as the router uses it while applying stream
// sequence seq (partition.IndexTx): a lookup sees only what events before
// seq added, so that every instance, replaying or not, routes an event to
// the same partition.
type RouteTx interface {
	Lookup(kind partition.Kind, key string, before uint64) (int, bool, error)
	Put(kind partition.Kind, key string, part int, seq uint64) error
}

// routed is the part of an intake event the router reads.
type routed struct {
	LogoutID  string `json:"logout_id"`
	SessionID string `json:"session_id"`
	Subject   string `json:"subject"`
	RPID      string `json:"rp_id"`
	OIDC      *struct {
		SID string `json:"sid"`
	} `json:"oidc"`
	SAML *struct {
		NameID string `json:"name_id"`
	} `json:"saml"`
	Upstream *events.Upstream `json:"upstream"`
}

// Route returns the partition of n that applies the intake event at
// stream sequence seq, and records in the route index what later events
// need to find it (README "Scaling out": every event of one user goes to
// the partition of its subject; an event that names only a session, an
// upstream session or a logout goes where that was recorded).
//
//   - session.joined: the subject's partition; records its session_id, its
//     upstream session, its OIDC sid and its SAML NameID at that RP.
//   - logout.requested: the partition its logout_id was first routed to (a
//     repeat goes where the first went), else the subject's, else the
//     session's, else the upstream session's; records the logout_id.
//   - session.activity: the session's partition.
//   - logout.result: the logout's partition.
//
// What the index does not know goes to the partition of a fixed key made
// from it ("session:<id>", "logout:<id>"), so that exactly one owner
// answers it (an unknown logout_id is poisoned once). An event that is not
// even JSON goes to partition 0, whose owner poisons it.
func Route(tx RouteTx, n int, subject string, data []byte, seq uint64) (int, error) {
	if n <= 1 {
		return 0, nil
	}
	var ev routed
	if json.Unmarshal(data, &ev) != nil {
		return 0, nil
	}
	lookup := func(kind partition.Kind, key, fallback string) (int, error) {
		p, ok, err := tx.Lookup(kind, key, seq)
		if err != nil {
			return 0, fmt.Errorf("coordinator: route %s %q: %w", kind, key, err)
		}
		if !ok {
			return partition.Of(fallback, n), nil
		}
		return p, nil
	}
	put := func(kind partition.Kind, key string, p int) error {
		if err := tx.Put(kind, key, p, seq); err != nil {
			return fmt.Errorf("coordinator: route index %s: %w", kind, err)
		}
		return nil
	}
	switch subject {
	case events.SubjectSessionJoined:
		if ev.Subject == "" {
			return partition.Of("session:"+ev.SessionID, n), nil
		}
		p := partition.Of(ev.Subject, n)
		if ev.SessionID != "" {
			if err := put(partition.KindSession, ev.SessionID, p); err != nil {
				return 0, err
			}
		}
		if u := ev.Upstream; u != nil && u.ID != "" && u.SID != "" {
			if err := put(partition.KindUpstream, partition.Key(u.ID, u.SID), p); err != nil {
				return 0, err
			}
		}
		if ev.OIDC != nil && ev.OIDC.SID != "" {
			if err := put(partition.KindRPSID, partition.Key(ev.RPID, ev.OIDC.SID), p); err != nil {
				return 0, err
			}
		}
		if ev.SAML != nil && ev.SAML.NameID != "" {
			if err := put(partition.KindNameID, partition.Key(ev.RPID, ev.SAML.NameID), p); err != nil {
				return 0, err
			}
		}
		return p, nil
	case events.SubjectLogoutRequested:
		if ev.LogoutID == "" {
			return 0, nil
		}
		p, ok, err := tx.Lookup(partition.KindLogout, ev.LogoutID, seq)
		if err != nil {
			return 0, fmt.Errorf("coordinator: route logout %q: %w", ev.LogoutID, err)
		}
		if !ok {
			switch {
			case ev.Subject != "":
				p = partition.Of(ev.Subject, n)
			case ev.SessionID != "":
				p, err = lookup(partition.KindSession, ev.SessionID, "session:"+ev.SessionID)
			case ev.Upstream != nil && ev.Upstream.SID != "":
				p, err = lookup(partition.KindUpstream, partition.Key(ev.Upstream.ID, ev.Upstream.SID), "upstream:"+partition.Key(ev.Upstream.ID, ev.Upstream.SID))
			default:
				p = partition.Of("logout:"+ev.LogoutID, n)
			}
			if err != nil {
				return 0, err
			}
			if err := put(partition.KindLogout, ev.LogoutID, p); err != nil {
				return 0, err
			}
		}
		return p, nil
	case events.SubjectSessionActivity:
		return lookup(partition.KindSession, ev.SessionID, "session:"+ev.SessionID)
	case events.SubjectLogoutResult:
		return lookup(partition.KindLogout, ev.LogoutID, "logout:"+ev.LogoutID)
	}
	return 0, nil
}
