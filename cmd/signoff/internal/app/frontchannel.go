package app

import (
	"github.com/signoff/signoff/adapters/frontchannel"
	"github.com/signoff/signoff/events"
	"github.com/signoff/signoff/web"
)

// frontchannelAdapter is the OIDC front-channel logout adapter
// (adapters/frontchannel) on the port: a BrowserStep. It gets no dispatch
// event: the logout page drives it from the saga.
type frontchannelAdapter struct{ *frontchannel.Adapter }

func (frontchannelAdapter) Name() events.Adapter { return events.AdapterFrontchannel }

// newFrontchannel builds the adapter for the relying parties with
// oidc.frontchannel_logout_uri (and no back-channel URI).
func newFrontchannel(d adapterDeps) (Adapter, error) {
	var rps []frontchannel.RP
	for _, rp := range d.rps {
		rps = append(rps, frontchannel.RP{ID: rp.ID, Name: rp.Name, URI: rp.OIDC.FrontchannelLogoutURI,
			SessionRequired: rp.OIDC.FrontchannelLogoutSessionRequired})
	}
	a, err := frontchannel.New(frontchannel.Config{Issuer: d.cfg.Issuer, RPs: rps, Secret: d.secret,
		Publisher: d.results, Now: d.o.Now})
	if err != nil {
		return nil, err
	}
	return frontchannelAdapter{a}, nil
}

// Frame is the iframe of participant rpID for the logout page.
func (f frontchannelAdapter) Frame(logoutID, rpID, sid string) (web.Frame, bool) {
	fr, ok := f.Adapter.Frame(logoutID, rpID, sid)
	if !ok {
		return web.Frame{}, false
	}
	return web.Frame{RPID: fr.RPID, Name: fr.Name, URL: fr.URL, Origin: fr.Origin, Token: fr.Token}, true
}
