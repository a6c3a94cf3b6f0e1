package app

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/signoff/signoff/adapters/keys"
	"github.com/signoff/signoff/adapters/saml"
	samlmsg "github.com/signoff/signoff/adapters/saml/message"
	"github.com/signoff/signoff/cmd/signoff/internal/config"
	"github.com/signoff/signoff/events"
	"github.com/signoff/signoff/web"
)

// loadSPs reads every SAML relying party's metadata (or inline
// description). Every problem is reported, each naming the rp id and the
// file.
func loadSPs(cfg *config.Config) ([]saml.SP, error) {
	var (
		sps  []saml.SP
		errs []error
	)
	for _, rp := range cfg.RelyingParties {
		s := rp.SAML
		if s == nil {
			continue
		}
		var (
			sp  saml.SP
			err error
		)
		if s.Inline() {
			sp, err = saml.LoadInline(rp.ID, rp.Name, saml.Inline{EntityID: s.EntityID, SLORedirect: s.SLORedirectURL,
				SLOPOST: s.SLOPOSTURL, SLOSOAP: s.SLOSOAPURL, CertificateFile: s.CertificatePath}, s.FrontchannelMode)
		} else {
			sp, err = saml.LoadMetadataFile(rp.ID, rp.Name, s.MetadataPath, s.FrontchannelMode)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("relying party %q: %w", rp.ID, err))
			continue
		}
		sps = append(sps, sp)
	}
	return sps, errors.Join(errs...)
}

// samlSigner gives the SAML adapter signoff's signer: the newest RS256 key
// of the key set, with the certificate of its PEM file or else a
// deterministic self-signed one (so /saml/metadata does not change between
// restarts). It follows key rotation: a new RSA key signs as soon as the
// key set has loaded it — SPs must then load signoff's new metadata.
type samlSigner struct {
	ks                   *keys.Set
	entityID, commonName string

	mu     sync.Mutex
	kid    string
	signer *samlmsg.Signer
}

// Signer returns the signer of the current RS256 key.
func (s *samlSigner) Signer() (*samlmsg.Signer, error) {
	k, err := s.ks.Signing(keys.RS256)
	if err != nil {
		return nil, fmt.Errorf("SAML needs an RSA (RS256) key: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.signer != nil && s.kid == k.KID {
		return s.signer, nil
	}
	var cert *x509.Certificate
	if len(k.Certificates) > 0 {
		cert = k.Certificates[0]
	} else if cert, err = samlmsg.SelfSignedCertificate(k.Signer, s.commonName, k.ModTime); err != nil {
		return nil, fmt.Errorf("SAML certificate of key %s: %w", k.KID, err)
	}
	signer, err := samlmsg.NewSigner(s.entityID, k.Signer, cert)
	if err != nil {
		return nil, fmt.Errorf("SAML signer of key %s: %w", k.KID, err)
	}
	s.kid, s.signer = k.KID, signer
	return signer, nil
}

func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Hostname() == "" {
		return "signoff"
	}
	return u.Hostname()
}

// samlSagas shows sagas to the SAML adapter.
type samlSagas struct{ st partStore }

func (s samlSagas) Logout(ctx context.Context, id string) (saml.Logout, bool, error) {
	sg, ok, err := s.st.Saga(ctx, id)
	if err != nil || !ok {
		return saml.Logout{}, ok, err
	}
	l := saml.Logout{ID: sg.LogoutID, Status: sg.Status, Initiator: sg.Initiator, InitiatingRPID: sg.InitiatingRPID, Deadline: sg.Deadline}
	for _, p := range sg.Participants {
		l.Participants = append(l.Participants, saml.Participant{RPID: p.RPID, Name: p.Name, Outcome: p.State, Detail: p.Detail, Sessions: p.Sessions})
	}
	return l, true, nil
}

// samlSessions finds registered sessions by SAML NameID.
type samlSessions struct{ st partStore }

func (s samlSessions) SessionsByNameID(ctx context.Context, rpID, nameID string) ([]saml.Session, error) {
	rows, err := s.st.SessionsByNameID(ctx, rpID, nameID)
	if err != nil {
		return nil, err
	}
	out := make([]saml.Session, len(rows))
	for i, r := range rows {
		out[i] = saml.Session{SessionID: r.SessionID, Subject: r.Subject, SAML: r.SAML}
	}
	return out, nil
}

// samlBrowser binds an SP-initiated logout to the browser, as /logout does:
// the IdP session cookie is expired, then the logout bound.
type samlBrowser struct {
	local web.LocalSession
	bind  func(w http.ResponseWriter, logoutID string) error
	log   *slog.Logger
}

func (b samlBrowser) Bind(w http.ResponseWriter, r *http.Request, logoutID string) {
	if b.local != nil {
		b.local.Clear(w)
	}
	if b.bind == nil {
		return
	}
	if err := b.bind(w, logoutID); err != nil {
		b.log.Error("binding an SP-initiated logout to the browser", "logout_id", logoutID, "err", err)
	}
}

// samlAdapter is the SAML Single Logout adapter (adapters/saml) on the
// port: a Dispatcher (SOAP SPs), a BrowserStep (front-channel SPs), Routes
// (its /saml endpoints), Metered and a Closer.
type samlAdapter struct{ *saml.Adapter }

func (samlAdapter) Name() events.Adapter { return events.AdapterSAML }

// newSAML builds the adapter for the SAML relying parties. Their metadata
// is read now, so that a broken file stops start-up with its name and the
// problem. SP-initiated logouts clear the session cookie of the
// LocalSession adapter built before it and are bound to the browser with
// d.bind.
func newSAML(d adapterDeps) (Adapter, error) {
	cfg := d.cfg
	sps, err := loadSPs(cfg)
	if err != nil {
		return nil, err
	}
	signer := &samlSigner{ks: d.keys, entityID: cfg.Issuer, commonName: hostOf(cfg.Issuer)}
	if len(sps) > 0 {
		if _, err := signer.Signer(); err != nil {
			return nil, fmt.Errorf("SAML service providers are configured but signoff cannot sign SAML messages: %w", err)
		}
	}
	local, _ := adapterOf[LocalSession](d.built)
	a, err := saml.New(saml.Config{
		EntityID: cfg.Issuer, PublicURL: cfg.PublicURL, Signer: signer.Signer, SPs: sps, Publisher: d.results,
		Sagas: samlSagas{routed{d.parts}}, Changes: d.store.Changes(), Logouts: d.logouts, Sessions: samlSessions{routed{d.parts}},
		Browser: samlBrowser{local: local, bind: d.bind, log: d.o.Logger}, Secret: d.secret,
		Concurrency: cfg.Backchannel.Concurrency, AttemptTimeout: cfg.Backchannel.AttemptTimeout.Std(),
		LogoutDeadline: cfg.Logout.Deadline.Std(), Client: d.o.HTTPClient, Now: d.o.Now, Logger: d.o.Logger,
	})
	if err != nil {
		return nil, err
	}
	return samlAdapter{a}, nil
}

// Frame is the step of a front-channel SP for the logout page (sid is not
// used: SAML frames carry the NameID and SessionIndex of the saga).
func (s samlAdapter) Frame(logoutID, rpID, _ string) (web.Frame, bool) {
	fr, ok := s.Adapter.Frame(logoutID, rpID)
	if !ok {
		return web.Frame{}, false
	}
	return web.Frame{RPID: fr.RPID, Name: fr.Name, URL: fr.URL, Origin: fr.Origin, Token: fr.Token, TopLevel: fr.TopLevel}, true
}

// Collectors are the adapter's counters (README "Metrics").
func (s samlAdapter) Collectors() []prometheus.Collector {
	sm := func(f func(s saml.Stats) uint64) func() uint64 {
		return func() uint64 { return f(s.Stats()) }
	}
	return []prometheus.Collector{
		counterFunc("signoff_saml_attempts_total", "SAML SOAP LogoutRequests sent.", sm(func(s saml.Stats) uint64 { return s.Attempts })),
		counterFunc("signoff_saml_succeeded_total", "SAML participants signed out (signed Success).", sm(func(s saml.Stats) uint64 { return s.Succeeded })),
		counterFunc("signoff_saml_failed_total", "SAML participants failed.", sm(func(s saml.Stats) uint64 { return s.Failed })),
		counterFunc("signoff_saml_timed_out_total", "SAML participants timed out.", sm(func(s saml.Stats) uint64 { return s.TimedOut })),
		counterFunc("signoff_saml_late_total", "SAML dispatches that arrived after their logout deadline (nothing sent; timed_out).", sm(func(s saml.Stats) uint64 { return s.Late })),
		counterFunc("signoff_saml_refused_total", "Inbound SAML messages refused.", sm(func(s saml.Stats) uint64 { return s.Refused })),
		counterFunc("signoff_saml_sp_initiated_total", "SP-initiated SAML logouts started.", sm(func(s saml.Stats) uint64 { return s.SPInitiated })),
	}
}
