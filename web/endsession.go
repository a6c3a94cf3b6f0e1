package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/google/uuid"
	zoidc "github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/signoff/signoff/events"
)

var confirmTmpl = template.Must(template.ParseFS(assets, "templates/confirm.html"))

// App is one application of a session, with its state.
type App struct {
	RPID, Name string
	// State is AppSignedIn, AppSigningOut or AppNotConfirmed; empty means
	// AppSignedIn.
	State string
}

// States of an App, as the scope chooser shows them.
const (
	// AppSignedIn: the application's session is registered.
	AppSignedIn = "signed_in"
	// AppSigningOut: a sign-out of this session is still waiting for it.
	AppSigningOut = "signing_out"
	// AppNotConfirmed: the last sign-out of this session that reached the
	// application ended without its confirmation; the user may still be
	// signed in there.
	AppNotConfirmed = "not_confirmed"
)

// SessionDirectory answers questions about registered sessions.
type SessionDirectory interface {
	// Apps lists the applications of the IdP session with their state:
	// those it is signed in to first, then those a sign-out of the session
	// is still reaching or did not confirm.
	Apps(ctx context.Context, sessionID string) ([]App, error)
	// SessionBySID finds the IdP session whose session at rpID has sid.
	SessionBySID(ctx context.Context, rpID, sid string) (string, bool, error)
}

// Hint is what a verified id_token_hint says.
type Hint struct {
	Subject, SID string
	Audience     []string
}

// HintVerifier verifies an id_token_hint: signature against the OP's keys,
// issuer; an expired hint is accepted
// (https://openid.net/specs/openid-connect-rpinitiated-1_0.html#RPLogout).
type HintVerifier interface {
	VerifyHint(ctx context.Context, raw string) (Hint, error)
}

// Client is an OIDC relying party as RP-initiated logout needs it.
type Client struct {
	RPID, Name, ClientID   string
	PostLogoutRedirectURIs []string
}

// Clients finds relying parties by client_id.
type Clients interface {
	Client(clientID string) (Client, bool)
}

// Choose-scope settings (config logout.choose_scope).
const (
	ChooseRPInitiated = "rp_initiated"
	ChooseAlways      = "always"
	ChooseNever       = "never"
)

// endSessionRequest is RP-Initiated Logout 1.0's request, in zitadel's type.
func parseEndSession(r *http.Request) (zoidc.EndSessionRequest, error) {
	if err := r.ParseForm(); err != nil {
		return zoidc.EndSessionRequest{}, err
	}
	for k, v := range r.Form {
		if len(v) > 1 {
			return zoidc.EndSessionRequest{}, fmt.Errorf("parameter %s given more than once", k)
		}
	}
	req := zoidc.EndSessionRequest{
		IdTokenHint: r.Form.Get("id_token_hint"), LogoutHint: r.Form.Get("logout_hint"), ClientID: r.Form.Get("client_id"),
		PostLogoutRedirectURI: r.Form.Get("post_logout_redirect_uri"), State: r.Form.Get("state"),
	}
	// ui_locales is tolerated; the pages are in English.
	return req, nil
}

// endSession is GET/POST /oidc/end_session
// (https://openid.net/specs/openid-connect-rpinitiated-1_0.html#RPLogout).
func (b *browser) endSession(w http.ResponseWriter, r *http.Request) {
	req, err := parseEndSession(r)
	if err != nil {
		b.renderError(w, r, http.StatusBadRequest, "This sign-out request is malformed: "+err.Error())
		return
	}
	browserSession := b.Local.SessionID(r)
	var (
		client  Client
		trusted bool // the hint is valid, consistent and about this browser's session
		why     string
	)
	if req.IdTokenHint != "" {
		hint, err := b.Hints.VerifyHint(r.Context(), req.IdTokenHint)
		switch {
		case err != nil:
			why = "the id_token_hint is not valid"
			b.Logger.Info("end_session: invalid id_token_hint", "err", err)
		case req.ClientID != "" && !slices.Contains(hint.Audience, req.ClientID):
			why = "client_id does not match the id_token_hint"
		default:
			clientID := req.ClientID
			if clientID == "" && len(hint.Audience) > 0 {
				clientID = hint.Audience[0]
			}
			c, ok := b.Clients.Client(clientID)
			if !ok {
				why = "the id_token_hint is for an unknown client"
				break
			}
			client = c
			session := ""
			if hint.SID != "" {
				session, _, _ = b.Sessions.SessionBySID(r.Context(), c.RPID, hint.SID)
			}
			if session == "" && req.LogoutHint != "" {
				session, _, _ = b.Sessions.SessionBySID(r.Context(), c.RPID, req.LogoutHint)
			}
			switch {
			case browserSession == "":
				why = "this browser has no session here"
			case session != browserSession:
				why = "the id_token_hint is for another session than this browser's"
			default:
				trusted = true
			}
		}
	} else if req.ClientID != "" {
		if c, ok := b.Clients.Client(req.ClientID); ok {
			client = c
		}
		why = "there is no id_token_hint"
	} else {
		why = "there is no id_token_hint"
	}
	returnTo := ""
	if req.PostLogoutRedirectURI != "" {
		if trusted && slices.Contains(client.PostLogoutRedirectURIs, req.PostLogoutRedirectURI) {
			returnTo = withState(req.PostLogoutRedirectURI, req.State)
		} else if trusted {
			trusted, why = false, "post_logout_redirect_uri is not registered for this application"
		}
	}
	if browserSession == "" {
		b.alreadySignedOut(w, r, b.DefaultRedirect, "")
		return
	}
	if trusted && b.ChooseScope == ChooseNever {
		b.startChosen(w, r, chosen{Scope: events.ScopeGlobal, Initiator: events.InitiatorRP, RPID: client.RPID, ReturnTo: returnTo})
		return
	}
	p := chosen{Initiator: events.InitiatorRP, RPID: client.RPID, ReturnTo: returnTo}
	if !trusted {
		// Not proven to come from this session's RP: no redirect afterwards,
		// no "this app only".
		p = chosen{Initiator: events.InitiatorUser}
		b.Logger.Info("end_session: asking for confirmation", "why", why)
	}
	b.renderChooser(w, r, p, browserSession, trusted, client.Name)
}

func withState(uri, state string) string {
	if state == "" {
		return uri
	}
	sep := "?"
	if strings.Contains(uri, "?") {
		sep = "&"
	}
	return uri + sep + "state=" + url.QueryEscape(state)
}

// chosen is what the chooser form carries, signed and bound to the browser.
type chosen struct {
	Scope     events.Scope     `json:"scope,omitempty"`
	Initiator events.Initiator `json:"initiator"`
	RPID      string           `json:"rp_id,omitempty"`
	ReturnTo  string           `json:"return_to,omitempty"`
	Issued    int64            `json:"iat"`
}

const csrfCookie = "signoff_csrf"

func (b *browser) csrfKey(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) >= 22 {
		return c.Value
	}
	var n [18]byte
	rand.Read(n[:])
	v := base64.RawURLEncoding.EncodeToString(n[:])
	http.SetCookie(w, &http.Cookie{Name: csrfCookie, Value: v, Path: b.base + "/", HttpOnly: true, Secure: b.secure, SameSite: http.SameSiteStrictMode})
	return v
}

func (b *browser) signChoice(c chosen, browserKey string) string {
	body, _ := json.Marshal(c)
	m := hmac.New(sha256.New, b.Secret)
	io.WriteString(m, "choice\x00"+browserKey+"\x00")
	m.Write(body)
	return base64.RawURLEncoding.EncodeToString(body) + "." + base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

func (b *browser) openChoice(token, browserKey string) (chosen, error) {
	body64, mac64, ok := strings.Cut(token, ".")
	body, err1 := base64.RawURLEncoding.DecodeString(body64)
	mac, err2 := base64.RawURLEncoding.DecodeString(mac64)
	if !ok || err1 != nil || err2 != nil {
		return chosen{}, errors.New("malformed form token")
	}
	m := hmac.New(sha256.New, b.Secret)
	io.WriteString(m, "choice\x00"+browserKey+"\x00")
	m.Write(body)
	if !hmac.Equal(mac, m.Sum(nil)) {
		return chosen{}, errors.New("the form does not belong to this browser")
	}
	var c chosen
	if err := json.Unmarshal(body, &c); err != nil {
		return chosen{}, errors.New("malformed form token")
	}
	if age := b.Now().Unix() - c.Issued; age < 0 || age > 600 {
		return chosen{}, errors.New("the form has expired; please start again")
	}
	return c, nil
}

type confirmData struct {
	Title, Nonce, Base, Token, RPName, AppsText string
	Apps                                        []chooserApp
	CanChooseApp                                bool
	CSS                                         template.CSS
}

// chooserApp is one row of the scope chooser's list of applications.
type chooserApp struct {
	App
	Label string
}

// appLabels are the words the chooser shows for each App state.
var appLabels = map[string]string{
	AppSignedIn:     "Signed in",
	AppSigningOut:   "Signing out…",
	AppNotConfirmed: "Sign-out not confirmed",
}

// appsText is the chooser's sentence about the user's applications: where
// they are signed in, where a sign-out is still going on, and where an
// earlier sign-out was not confirmed (DESIGN.md: signed out only on proof).
func appsText(apps []App) string {
	var in, going, unsure []string
	for _, a := range apps {
		switch a.State {
		case AppSigningOut:
			going = append(going, a.Name)
		case AppNotConfirmed:
			unsure = append(unsure, a.Name)
		default:
			in = append(in, a.Name)
		}
	}
	var parts []string
	if len(in) > 0 {
		parts = append(parts, "You are signed in to "+list(in)+". Unsaved work in them may be lost.")
	} else {
		parts = append(parts, "You are not signed in to any application.")
	}
	if len(going) > 0 {
		parts = append(parts, "The sign-out of "+list(going)+" is still in progress.")
	}
	if len(unsure) > 0 {
		parts = append(parts, list(unsure)+" did not confirm an earlier sign-out: you may still be signed in there.")
	}
	return strings.Join(parts, " ")
}

func (b *browser) renderChooser(w http.ResponseWriter, r *http.Request, c chosen, session string, trusted bool, rpName string) {
	apps, err := b.Sessions.Apps(r.Context(), session)
	if err != nil {
		b.renderError(w, r, http.StatusServiceUnavailable, "Your applications cannot be listed right now. Please try again.")
		return
	}
	c.Issued = b.Now().Unix()
	d := confirmData{Title: "Sign out?", Base: b.base, Token: b.signChoice(c, b.csrfKey(w, r)),
		CanChooseApp: trusted && c.RPID != "" && rpName != "", RPName: rpName, AppsText: appsText(apps)}
	for _, a := range apps {
		if a.State == "" {
			a.State = AppSignedIn
		}
		d.Apps = append(d.Apps, chooserApp{App: a, Label: appLabels[a.State]})
	}
	nonce := newNonce()
	d.Nonce, d.CSS = nonce, template.CSS(pageCSS)
	h := w.Header()
	h.Set("Content-Security-Policy", fmt.Sprintf("default-src 'none'; style-src 'nonce-%s'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'", nonce))
	h.Set("Content-Type", "text/html; charset=utf-8")
	if err := confirmTmpl.Execute(w, d); err != nil {
		b.Logger.Error("rendering the confirmation", "err", err)
	}
}

// choose is POST /logout/choose: the user's answer to the chooser.
func (b *browser) choose(w http.ResponseWriter, r *http.Request) {
	key, err := r.Cookie(csrfCookie)
	if err != nil {
		b.renderError(w, r, http.StatusForbidden, "This form does not belong to this browser (cookies are needed to sign out).")
		return
	}
	c, err := b.openChoice(r.PostFormValue("token"), key.Value)
	if err != nil {
		b.renderError(w, r, http.StatusForbidden, "This sign-out form cannot be used: "+err.Error()+".")
		return
	}
	switch events.Scope(r.PostFormValue("scope")) {
	case events.ScopeInitiatorOnly:
		if c.RPID == "" {
			b.renderError(w, r, http.StatusBadRequest, "Signing out of a single application needs a request from that application.")
			return
		}
		c.Scope = events.ScopeInitiatorOnly
	case events.ScopeGlobal:
		c.Scope = events.ScopeGlobal
	default:
		b.renderError(w, r, http.StatusBadRequest, "Choose where to sign out.")
		return
	}
	b.startChosen(w, r, c)
}

// startChosen starts the saga the user (or a trusted RP) asked for.
func (b *browser) startChosen(w http.ResponseWriter, r *http.Request, c chosen) {
	sid := b.Local.SessionID(r)
	if sid == "" {
		b.alreadySignedOut(w, r, firstNonEmpty(c.ReturnTo, b.DefaultRedirect), "")
		return
	}
	id := uuid.NewString()
	global := c.Scope != events.ScopeInitiatorOnly
	req := events.LogoutRequested{EventID: uuid.NewString(), LogoutID: id, OccurredAt: b.Now().UTC(), SessionID: sid,
		Initiator: c.Initiator, InitiatingRPID: c.RPID, Scope: c.Scope, ReturnTo: c.ReturnTo, Browser: global}
	if req.Scope == "" {
		req.Scope = events.ScopeGlobal
	}
	if err := b.Logouts.RequestLogout(r.Context(), req); err != nil {
		b.Logger.Error("starting a logout", "err", err)
		b.renderError(w, r, http.StatusServiceUnavailable, "The sign-out could not be started. Please try again in a moment.")
		return
	}
	if global {
		b.Local.Clear(w) // "this app only" keeps the IdP session
	}
	b.bind(w, id)
	http.Redirect(w, r, b.base+"/logout/"+id, http.StatusSeeOther)
}

func (b *browser) renderError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	w.WriteHeader(status)
	b.render(w, r, pageData{Title: "Sign-out problem", Status: "error", Summary: msg, Continue: ""})
}
