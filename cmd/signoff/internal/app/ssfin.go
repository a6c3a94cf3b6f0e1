package app

import (
	"context"
	"net/http"
	"net/url"
	"strings"

	"github.com/signoff/signoff/adapters/ssfin"
)

// startSSF wires the Shared Signals receiver (adapters/ssfin) of
// ssf.transmitters: its push endpoint POST <public_url path>/ssf/events is
// added to extra, and the poll loops of the transmitters with poll run in
// the background until runCtx ends (Close cancels it and waits for them
// before it closes the bus). Logouts are published with RequestLogout, so
// a push is answered 202 only once JetStream has acknowledged its
// logout.requested; jtis are remembered in the sqlite store. Without
// transmitters it does nothing.
func (a *App) startSSF(runCtx context.Context, o Options, extra map[string]http.Handler) error {
	cfg := a.cfg
	if len(cfg.SSF.Transmitters) == 0 {
		return nil
	}
	secrets, err := cfg.SSFSecrets()
	if err != nil {
		return err
	}
	var ts []ssfin.Transmitter
	for _, t := range cfg.SSF.Transmitters {
		tr := ssfin.Transmitter{
			ID: t.ID, Issuer: t.Issuer, Audience: t.Audience, JWKSURI: t.JWKSURI, Discovery: t.Discovery,
			BearerToken: secrets.BearerTokens[t.ID], SubjectClaim: t.SubjectClaim,
		}
		if p := t.Poll; p != nil {
			tr.Poll = &ssfin.Poll{EndpointURL: p.EndpointURL, Interval: p.Interval.Std(),
				AuthorizationHeader: secrets.AuthorizationHeaders[t.ID], MaxEvents: p.MaxEvents}
		}
		ts = append(ts, tr)
	}
	r, err := ssfin.New(ssfin.Config{
		Transmitters: ts, JTIs: a.store, Logouts: a, Now: o.Now,
		Client: &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone(), Timeout: 0},
		Logger: o.Logger.With("component", "ssf"),
	})
	if err != nil {
		return err
	}
	extra["POST "+publicPath(cfg.PublicURL)+ssfin.PushPath] = r.Handler()
	a.goBG(func() { r.Run(runCtx) })
	a.log.Info("Shared Signals receiver ready", "transmitters", len(ts), "push", strings.TrimSuffix(cfg.PublicURL, "/")+ssfin.PushPath)
	return nil
}

// publicPath is the path of publicURL without a trailing slash.
func publicPath(publicURL string) string {
	u, err := url.Parse(publicURL)
	if err != nil {
		return ""
	}
	return strings.TrimSuffix(u.Path, "/")
}
