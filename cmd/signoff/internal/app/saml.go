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

	"github.com/signoff/signoff/adapters/cookie"
	"github.com/signoff/signoff/adapters/keys"
	"github.com/signoff/signoff/adapters/saml"
	samlmsg "github.com/signoff/signoff/adapters/saml/message"
	"github.com/signoff/signoff/cmd/signoff/internal/config"
	"github.com/signoff/signoff/coordinator/store"
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
type samlSagas struct{ st *store.Store }

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
type samlSessions struct{ st *store.Store }

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
	local *cookie.Adapter
	web   *web.Browser
	log   *slog.Logger
}

// Bind expires the IdP session cookie and binds logoutID to the browser. A
// binding that fails (web.Browser.Bind refuses a secret shorter than 32
// bytes or a bad public_url, which start-up already checks) is logged: the
// logout runs anyway, but this browser will not be shown its page.
func (b *samlBrowser) Bind(w http.ResponseWriter, r *http.Request, logoutID string) {
	b.local.Clear(w)
	if b.web == nil {
		return
	}
	if err := b.web.Bind(w, logoutID); err != nil {
		b.log.Error("binding an SP-initiated logout to the browser", "logout_id", logoutID, "err", err)
	}
}
