package app

import (
	"strings"

	"github.com/signoff/signoff/adapters/cookie"
	"github.com/signoff/signoff/coordinator/saga"
	"github.com/signoff/signoff/events"
)

// cookieAdapter is the adapter of signoff's own session cookie
// (adapters/cookie) on the port: the LocalSession of the logout page,
// participant saga.LocalRPID. It gets no dispatch event.
type cookieAdapter struct{ *cookie.Adapter }

func (cookieAdapter) Name() events.Adapter { return events.AdapterCookie }

func newCookie(d adapterDeps) (Adapter, error) {
	cfg := d.cfg
	return cookieAdapter{cookie.New(cookie.Config{Name: cfg.Session.CookieName, Domain: cfg.Session.CookieDomain,
		Secure: strings.HasPrefix(cfg.PublicURL, "https://"), RPID: saga.LocalRPID, Publisher: d.results, Now: d.o.Now})}, nil
}
