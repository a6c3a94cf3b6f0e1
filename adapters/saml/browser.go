package saml

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/google/uuid"

	"github.com/signoff/signoff/adapters/internal/delivery"
	"github.com/signoff/signoff/adapters/saml/message"
	"github.com/signoff/signoff/events"
)

// ErrBadToken is returned for an acknowledgement whose token does not match
// its participant.
var ErrBadToken = errors.New("saml: acknowledgement token does not match")

// Frame is one browser step of the logout page for a browser SP: either a
// top-level navigation (TopLevel, ModeRedirect: the page leaves for the SP,
// which answers to /saml/slo, which sends the browser back to
// /logout/{id}), or an iframe (ModeIframe).
type Frame struct {
	RPID, Name string
	// URL is where the browser goes: the SP's HTTP-Redirect
	// SingleLogoutService with a LogoutRequest (saml-bindings 3.4), or
	// signoff's /saml/post, which posts one (saml-bindings 3.5).
	URL string
	// Origin is the origin whose acknowledgement counts for an iframe:
	// signoff's own, because the SP redirects the iframe back to
	// /saml/slo, whose answer page acknowledges.
	Origin string
	// Token authenticates the acknowledgement (Ack).
	Token string
	// TopLevel navigates the whole page instead of an iframe.
	TopLevel bool
}

// Timeout is how long the logout page waits for one iframe.
func (a *Adapter) Timeout() time.Duration { return a.cfg.FrameTimeout }

// Origins lists what the logout page's CSP frame-src must allow for SAML
// iframes: the origin of each iframe-mode SP's SingleLogoutService and
// signoff's own origin (the SP redirects the iframe back to /saml/slo).
func (a *Adapter) Origins() []string {
	var out []string
	for _, sp := range a.sps {
		if sp.Channel() != ChannelBrowser || sp.mode() != ModeIframe {
			continue
		}
		// The iframe goes to the SP (directly, or through /saml/post and
		// its form), and comes back to /saml/slo.
		if ep, ok := sp.browserEndpoint(); ok {
			if o := originOf(ep.Location); o != "" && !slices.Contains(out, o) {
				out = append(out, o)
			}
		}
	}
	if len(out) > 0 && !slices.Contains(out, a.origin) {
		out = append(out, a.origin)
	}
	slices.Sort(out)
	return out
}

// formOrigin is the CSP form-action source of a form posted to loc.
func (a *Adapter) formOrigin(loc string) string { return originOf(loc) }

func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// Frame returns the browser step of participant rpID of logout logoutID, or
// false when rpID is not a browser SP, is no longer pending, initiated the
// logout itself, or was just settled by /saml/slo. It reads the
// participant's sessions (NameID, SessionIndex) from the saga.
func (a *Adapter) Frame(logoutID, rpID string) (Frame, bool) {
	sp, ok := a.sps[rpID]
	if !ok || sp.Channel() != ChannelBrowser {
		return Frame{}, false
	}
	if _, done := a.settled.Load(logoutID + "\x00" + rpID); done {
		return Frame{}, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	l, p, ok := a.pending(ctx, logoutID, rpID)
	if !ok {
		return Frame{}, false
	}
	ts, _ := targets(p.Sessions)
	if len(ts) == 0 {
		return Frame{}, false
	}
	ep, ok := sp.browserEndpoint()
	if !ok {
		return Frame{}, false
	}
	f := Frame{RPID: sp.ID, Name: sp.Name, Origin: a.origin, Token: a.ackToken(logoutID, rpID), TopLevel: sp.mode() == ModeRedirect}
	if ep.Binding == message.BindingPOST {
		f.URL = a.postURL + "?" + url.Values{"t": {a.seal("post", postToken{LogoutID: logoutID, RPID: rpID, Exp: a.now().Add(10 * time.Minute).Unix()})}}.Encode()
		return f, true
	}
	req := a.newRequest(ep.Location, l.Initiator, ts[0])
	rs, fits := a.relayState(logoutID, rpID, req.ID)
	if !fits {
		a.log.Warn("logout id too long for a RelayState; the SAML service provider cannot be signed out in the browser",
			"logout_id", logoutID, "rp_id", rpID)
		return Frame{}, false
	}
	signer, err := a.cfg.Signer()
	if err != nil {
		a.log.Error("no SAML signing key", "err", err)
		return Frame{}, false
	}
	xml, err := message.MarshalRequest(req)
	if err != nil {
		a.log.Error("building a LogoutRequest", "rp_id", rpID, "err", err)
		return Frame{}, false
	}
	u, err := signer.RedirectURL(ep.Location, "SAMLRequest", xml, rs)
	if err != nil {
		a.log.Error("signing a LogoutRequest", "rp_id", rpID, "err", err)
		return Frame{}, false
	}
	f.URL = u
	return f, true
}

// pending reads the logout and returns the participant rpID when it is
// still pending and did not initiate the logout itself.
func (a *Adapter) pending(ctx context.Context, logoutID, rpID string) (Logout, Participant, bool) {
	if a.cfg.Sagas == nil {
		return Logout{}, Participant{}, false
	}
	l, found, err := a.cfg.Sagas.Logout(ctx, logoutID)
	if err != nil {
		a.log.Warn("reading the logout", "logout_id", logoutID, "err", err)
		return Logout{}, Participant{}, false
	}
	if !found || l.Status != events.StatusRunning {
		return Logout{}, Participant{}, false
	}
	p, ok := l.participant(rpID)
	if !ok || p.Outcome != events.OutcomePending {
		return Logout{}, Participant{}, false
	}
	if l.Initiator == events.InitiatorRP && l.InitiatingRPID == rpID {
		return Logout{}, Participant{}, false
	}
	return l, p, true
}

// Ack outcomes reported by the logout page (the same as the OIDC
// front-channel's).
const (
	AckOK      = "ok"
	AckError   = "error"
	AckTimeout = "timeout"
	AckNoLoad  = "not_loaded"
)

// Ack takes the logout page's report about an iframe. "ok" changes nothing:
// the proof is the signed LogoutResponse that /saml/slo verified and
// published before its page acknowledged. An error or a timeout settles
// the participant as failed or timed_out (a later result changes nothing).
func (a *Adapter) Ack(ctx context.Context, logoutID, rpID, token, status, detail string) error {
	sp, ok := a.sps[rpID]
	if !ok || !hmacEqual(token, a.ackToken(logoutID, rpID)) {
		return ErrBadToken
	}
	res := events.Result{LogoutID: logoutID, RPID: rpID, Attempts: 1}
	switch status {
	case AckOK:
		return nil
	case AckError:
		res.Outcome, res.Detail = events.OutcomeFailed, "the logout in the browser reported an error"
		if d := delivery.Sanitize(detail); d != "" {
			res.Detail += ": " + d
		}
	case AckNoLoad:
		res.Outcome, res.Detail = events.OutcomeTimedOut, fmt.Sprintf("%s's logout page did not load within %v", sp.Name, a.cfg.FrameTimeout)
	default:
		res.Outcome, res.Detail = events.OutcomeTimedOut, fmt.Sprintf("no signed LogoutResponse from %s within %v", sp.Name, a.cfg.FrameTimeout)
	}
	return a.publishNow(ctx, res)
}

func hmacEqual(a, b string) bool { return hmac.Equal([]byte(a), []byte(b)) }

// publishNow publishes r once, within ctx (HTTP handlers).
func (a *Adapter) publishNow(ctx context.Context, r events.Result) error {
	r.EventID = uuid.NewString()
	r.Adapter = events.AdapterSAML
	r.FinishedAt = a.now().UTC()
	if r.Attempts == 0 {
		r.Attempts = 1
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := a.cfg.Publisher.PublishResult(ctx, r); err != nil {
		a.publishErr.Add(1)
		return err
	}
	a.outcomes.Count(r.Outcome)
	return nil
}

// servePost is GET /saml/post?t=…: it carries a participant's signed
// LogoutRequest to an HTTP-POST-only SP in an auto-submitting form
// (saml-bindings 3.5.4).
func (a *Adapter) servePost(w http.ResponseWriter, r *http.Request) {
	var tok postToken
	if err := a.open("post", r.URL.Query().Get("t"), &tok); err != nil || expired(tok.Exp, a.now()) {
		a.refuseText(w, r, http.StatusBadRequest, "this sign-out link is not valid (or has expired)")
		return
	}
	sp, ok := a.sps[tok.RPID]
	ep, hasEP := sp.endpoint(message.BindingPOST)
	if !ok || !hasEP {
		a.refuseText(w, r, http.StatusBadRequest, "this sign-out link is not valid")
		return
	}
	l, p, ok := a.pending(r.Context(), tok.LogoutID, tok.RPID)
	if !ok {
		a.refuseText(w, r, http.StatusConflict, "this application is no longer waiting to be signed out")
		return
	}
	ts, _ := targets(p.Sessions)
	if len(ts) == 0 {
		a.refuseText(w, r, http.StatusConflict, "no SAML session to sign out at this application")
		return
	}
	req := a.newRequest(ep.Location, l.Initiator, ts[0])
	rs, fits := a.relayState(tok.LogoutID, tok.RPID, req.ID)
	if !fits {
		a.refuseText(w, r, http.StatusConflict, "the logout id is too long for a RelayState")
		return
	}
	signer, err := a.cfg.Signer()
	if err == nil {
		var signed []byte
		if signed, err = signer.SignRequest(req); err == nil {
			a.writeForm(w, sp, ep.Location, "SAMLRequest", signed, rs)
			return
		}
	}
	a.log.Error("signing a LogoutRequest", "rp_id", sp.ID, "err", err)
	http.Error(w, "the sign-out request could not be signed", http.StatusInternalServerError)
}

// writeForm writes message.PostForm with a CSP that allows its script (by
// nonce) and its form's target (and signoff itself, where the SP's answer
// may redirect). Iframe-mode SPs' forms may be framed by signoff's page.
func (a *Adapter) writeForm(w http.ResponseWriter, sp SP, location, param string, signed []byte, relayState string) {
	nonce := newNonce()
	ancestors := "'none'"
	if sp.mode() == ModeIframe {
		ancestors = "'self'"
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", fmt.Sprintf("default-src 'none'; script-src 'nonce-%s'; style-src 'nonce-%s'; form-action %s 'self'; base-uri 'none'; frame-ancestors %s",
		nonce, nonce, a.formOrigin(location), ancestors))
	w.Write(message.PostForm(location, param, signed, relayState, nonce))
}

func newNonce() string {
	var n [18]byte
	rand.Read(n[:])
	return base64.RawURLEncoding.EncodeToString(n[:])
}

// ackMessage is what /saml/slo's answer page posts to the logout page in
// iframe mode (the OIDC front-channel acknowledgement of
// adapters/backchannel/receiver).
type ackMessage struct {
	Type  string `json:"type"`
	OK    bool   `json:"ok"`
	Error string `json:"error,omitempty"`
}

// ackPage answers a LogoutResponse that arrived in an iframe: a page that
// posts the acknowledgement to the logout page, framed only by signoff.
func (a *Adapter) ackPage(w http.ResponseWriter, status int, ok bool, errText string) {
	nonce := newNonce()
	m, _ := json.Marshal(ackMessage{Type: "signoff:frontchannel-logout", OK: ok, Error: delivery.Sanitize(errText)})
	origin, _ := json.Marshal(a.origin)
	text := "Signed out."
	if !ok {
		text = "Sign-out not confirmed."
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'nonce-"+nonce+"'; frame-ancestors "+a.origin)
	w.WriteHeader(status)
	fmt.Fprintf(w, `<!doctype html>
<html><head><meta charset="utf-8"><title>Sign-out</title></head>
<body><p>%s</p>
<script nonce="%s">window.parent.postMessage(%s, %s);</script>
</body></html>
`, text, nonce, m, origin)
}
