package app

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"

	"github.com/signoff/signoff/adapters/backchannel/receiver"
	"github.com/signoff/signoff/cmd/signoff/internal/config"
	"github.com/signoff/signoff/coordinator/saga"
	"github.com/signoff/signoff/events"
)

// upstreamNamespace derives the event_id and logout_id of an upstream
// back-channel logout from (upstream id, jti) (UUID v5, RFC 9562 5.5): a
// token delivered again, or retried after a 503, starts nothing new.
var upstreamNamespace = uuid.MustParse("6c0f5b7e-2a55-4c1e-9a43-3d8f0e3f2b71")

// UpstreamLogoutIDs returns the event_id and logout_id of the
// logout.requested that the logout token jti of upstream id causes.
func UpstreamLogoutIDs(upstreamID, jti string) (eventID, logoutID string) {
	key := upstreamID + "\x00" + jti
	return uuid.NewSHA1(upstreamNamespace, []byte("event\x00"+key)).String(),
		uuid.NewSHA1(upstreamNamespace, []byte("logout\x00"+key)).String()
}

// upstreamPattern is the back-channel logout URI signoff registers at an
// upstream OP: <public_url>/oidc/upstream/<id>/backchannel.
const upstreamPattern = "/oidc/upstream/{id}/backchannel"

// UpstreamPath is the path of upstream id's back-channel logout URI.
func UpstreamPath(id string) string { return "/oidc/upstream/" + id + "/backchannel" }

// withUpstreams adds to extra the back-channel logout endpoint of the
// configured upstreams (DESIGN.md "Contract: feeding signoff from existing
// IdPs"). Each upstream's logout tokens are verified by the RP toolkit
// (adapters/backchannel/receiver: OpenID Connect Back-Channel Logout 1.0
// section 2.6, jti replay remembered only once the logout is published)
// and become a durably published logout.requested before the 200.
func (a *App) withUpstreams(extra map[string]http.Handler, o Options) (map[string]http.Handler, error) {
	if len(a.cfg.Upstreams) == 0 {
		return extra, nil
	}
	bcs := make(map[string]http.Handler, len(a.cfg.Upstreams))
	for _, u := range a.cfg.Upstreams {
		bc, err := newUpstream(u, a.RequestLogout, o)
		if err != nil {
			return nil, err
		}
		bcs[u.ID] = bc
	}
	if extra == nil {
		extra = map[string]http.Handler{}
	}
	extra[upstreamPattern] = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		bc, ok := bcs[r.PathValue("id")]
		if !ok {
			body, _ := json.Marshal(map[string]string{"error": "invalid_request",
				"error_description": fmt.Sprintf("no upstream %q is configured", r.PathValue("id"))})
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Cache-Control", "no-store")
			w.WriteHeader(http.StatusNotFound)
			w.Write(body)
			return
		}
		bc.ServeHTTP(w, r)
	})
	return extra, nil
}

// newUpstream is the receiver of one upstream. A token with sid ends the
// signoff sessions that joined with upstream {id, sid}; a token with sub
// only ends every session of sub that rests on this upstream (section 2.7:
// "all sessions of the user at the RP", signoff being the RP).
func newUpstream(u config.Upstream, request func(context.Context, events.LogoutRequested) error, o Options) (*receiver.BackChannel, error) {
	algs := make([]jose.SignatureAlgorithm, len(u.Algorithms))
	for i, a := range u.Algorithms {
		algs[i] = jose.SignatureAlgorithm(a)
	}
	bc, err := receiver.NewBackChannel(receiver.BackChannelConfig{
		Issuer: u.Issuer, ClientID: u.ClientID, JWKSURL: u.JWKSURI, Algorithms: algs,
		Now: o.Now, Logger: o.Logger.With("component", "upstream", "upstream", u.ID),
		Logout: func(ctx context.Context, l receiver.Logout) error {
			eventID, logoutID := UpstreamLogoutIDs(u.ID, l.JTI)
			req := events.LogoutRequested{
				EventID: eventID, LogoutID: logoutID, OccurredAt: o.Now().UTC(),
				Subject: l.Subject, Initiator: events.InitiatorIdP, Scope: events.ScopeGlobal,
				Reason:   "back-channel logout from upstream " + u.ID,
				Upstream: &events.Upstream{ID: u.ID, SID: l.SessionID},
			}
			if err := request(ctx, req); err != nil {
				return fmt.Errorf("publish logout.requested: %w", err)
			}
			o.Logger.Info("upstream back-channel logout accepted", "upstream", u.ID, "logout_id", logoutID,
				"sid", l.SessionID, "sub", l.Subject)
			return nil
		},
	})
	if err != nil {
		return nil, fmt.Errorf("upstreams %q: %w", u.ID, err)
	}
	return bc, nil
}

// FanoutRPs lists the relying parties configured fanout: always
// (saga.FanoutDirectory).
func (d dirMap) FanoutRPs() []saga.RP { return d.fanout }
