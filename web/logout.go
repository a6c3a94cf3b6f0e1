package web

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/signoff/signoff/events"
	"github.com/signoff/signoff/events/summary"
)

//go:embed templates/*.html static/*
var assets embed.FS

var (
	pageTmpl = template.Must(template.ParseFS(assets, "templates/logout.html"))
	pageCSS  = mustRead("static/logout.css")
	pageJS   = mustRead("static/logout.js")
)

func mustRead(name string) string {
	b, err := assets.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// LogoutStarter publishes a logout.requested (the web → NATS arrow of
// DESIGN.md's flow).
type LogoutStarter interface {
	RequestLogout(ctx context.Context, req events.LogoutRequested) error
}

// StatusReader reads what the saga of a logout knows.
type StatusReader interface {
	Logout(ctx context.Context, id string) (LogoutView, bool, error)
}

// LocalSession is the IdP session cookie in the browser (adapters/cookie).
type LocalSession interface {
	SessionID(r *http.Request) string
	Clear(w http.ResponseWriter)
	Confirm(ctx context.Context, logoutID string, r *http.Request) error
}

// Frame is one front-channel step of the logout page: an iframe, or, when
// TopLevel, a top-level navigation of the whole page (a SAML redirect
// chain: the SP sends the browser back to signoff when it is done).
type Frame struct {
	RPID, Name, URL, Origin, Token string
	TopLevel                       bool
}

// Frames gives the front-channel iframes and takes their acknowledgements
// (adapters/frontchannel).
type Frames interface {
	Frame(logoutID, rpID, sid string) (Frame, bool)
	Origins() []string
	Timeout() time.Duration
	Ack(ctx context.Context, logoutID, rpID, token, status, detail string) error
}

// Steps records the steps the logout page takes for a pending participant
// (confirming the local session, a hop of a redirect chain) where every
// instance sees them: on the saga's participant in the store. The page
// keeps nothing per logout in process memory.
type Steps interface {
	// ClaimStep records a step for participant rpID of logoutID at now and
	// returns true, or returns false when the participant is no longer
	// pending or a step was recorded less than again before now (again
	// <= 0: ever). Of concurrent claims at most one wins.
	ClaimStep(ctx context.Context, logoutID, rpID string, now time.Time, again time.Duration) (bool, error)
	// ReleaseStep forgets the recorded step (it failed; take it again).
	ReleaseStep(ctx context.Context, logoutID, rpID string) error
}

// RedirectPolicy validates rd and targetURL (package web/redirect).
type RedirectPolicy interface {
	Validate(raw string) (string, error)
}

// LogoutView is the state of one logout as the pages show it.
type LogoutView struct {
	ID           string            `json:"logout_id"`
	Status       string            `json:"status"` // running, complete, partial
	ReturnTo     string            `json:"-"`
	Participants []ParticipantView `json:"participants"`
	// Scope is the logout's scope (events.Scope*); initiator_only is
	// "sign out of this app only".
	Scope string `json:"scope,omitempty"`
	// StillSignedIn names the applications of the sign-in that a logout of
	// scope initiator_only left signed in, when known.
	StillSignedIn []string `json:"-"`
	// Detail explains a finished outcome the participants alone do not
	// (events.Completed.Detail, e.g. events.CompletedNoSessions).
	Detail string `json:"detail,omitempty"`
}

// ParticipantView is one participant of a logout.
type ParticipantView struct {
	RPID    string `json:"rp_id"`
	Name    string `json:"name"`
	Adapter string `json:"adapter"`
	Outcome string `json:"outcome"` // pending or an events.Outcome*
	Detail  string `json:"detail"`
	// Reason is the plain sentence the sign-out page shows instead of
	// Detail (set only on the page's own event stream).
	Reason string `json:"reason,omitempty"`
	// SID is the participant's session at the RP (front-channel iframes).
	SID string `json:"-"`
}

// Browser configures the pages of browser sign-out (DESIGN.md, Contract:
// HTTP: /logout, /api/logout, /logout/{id}, /logout/{id}/events).
type Browser struct {
	// PublicURL is where browsers reach signoff (https → Secure cookies).
	PublicURL string
	// Secret keys the HMAC that binds a logout to the browser that
	// started it (at least 32 bytes).
	Secret          []byte
	Logouts         LogoutStarter
	Status          StatusReader
	Local           LocalSession
	Frames          Frames
	Steps           Steps
	Redirects       RedirectPolicy
	DefaultRedirect string
	// LocalRPID is the rp_id of the local-session participant.
	LocalRPID string
	// Issuer is signoff's issuer (discovery).
	Issuer string
	// Sessions, Hints and Clients serve RP-initiated logout
	// (/oidc/end_session); nil Hints disables the endpoint.
	Sessions SessionDirectory
	Hints    HintVerifier
	Clients  Clients
	// ChooseScope says when the user is asked "this app only or
	// everywhere" first: ChooseRPInitiated (default), ChooseAlways or
	// ChooseNever.
	ChooseScope string
	// AdminToken enables POST /api/admin/logout (empty: disabled).
	AdminToken string
	// Poll is how often the events stream reads the saga (default 150ms).
	Poll time.Duration
	// MaxWait bounds one events stream (default 2 minutes).
	MaxWait time.Duration
	Logger  *slog.Logger
	Now     func() time.Time
}

const bindingCookie = "signoff_logout"

type browser struct {
	Browser
	base     string
	secure   bool
	frameSrc string
}

// hopAgain is how long after a redirect-chain hop the page sends the
// browser to the same participant again.
const hopAgain = 20 * time.Second

func newBrowser(b Browser) (*browser, error) {
	if len(b.Secret) < 32 {
		return nil, errors.New("web: browser secret shorter than 32 bytes")
	}
	if b.Steps == nil {
		return nil, errors.New("web: browser has no Steps store")
	}
	u, err := url.Parse(b.PublicURL)
	if err != nil {
		return nil, fmt.Errorf("web: public_url: %w", err)
	}
	if b.Poll <= 0 {
		b.Poll = 150 * time.Millisecond
	}
	if b.MaxWait <= 0 {
		b.MaxWait = 2 * time.Minute
	}
	if b.Logger == nil {
		b.Logger = slog.New(slog.DiscardHandler)
	}
	if b.Now == nil {
		b.Now = time.Now
	}
	if b.ChooseScope == "" {
		b.ChooseScope = ChooseRPInitiated
	}
	br := &browser{Browser: b, base: strings.TrimSuffix(u.Path, "/"), secure: u.Scheme == "https", frameSrc: "'none'"}
	if origins := b.Frames.Origins(); len(origins) > 0 {
		br.frameSrc = strings.Join(origins, " ")
	}
	return br, nil
}

func (b *browser) routes(mux *http.ServeMux) {
	mux.HandleFunc("GET "+b.base+"/logout", b.startLogout)
	mux.HandleFunc("POST "+b.base+"/logout", b.startLogout)
	mux.HandleFunc("POST "+b.base+"/api/logout", b.apiLogout)
	mux.HandleFunc("GET "+b.base+"/logout/{id}", b.page)
	mux.HandleFunc("GET "+b.base+"/logout/{id}/events", b.events)
	mux.HandleFunc("POST "+b.base+"/logout/{id}/ack", b.ack)
	mux.HandleFunc("GET "+b.base+"/api/logouts/{id}", b.status)
	mux.HandleFunc("POST "+b.base+"/logout/choose", b.choose)
	mux.HandleFunc("POST "+b.base+"/api/admin/logout", b.adminLogout)
	mux.HandleFunc("GET "+b.base+"/.well-known/openid-configuration", b.discovery)
	if b.Hints != nil {
		mux.HandleFunc("GET "+b.base+"/oidc/end_session", b.endSession)
		mux.HandleFunc("POST "+b.base+"/oidc/end_session", b.endSession)
	}
}

// mac binds a logout id to a browser.
func (b *browser) mac(id string) string {
	m := hmac.New(sha256.New, b.Secret)
	io.WriteString(m, "logout-binding\x00"+id)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// owns reports whether the request comes from the browser that started id.
func (b *browser) owns(r *http.Request, id string) bool {
	c, err := r.Cookie(bindingCookie)
	if err != nil {
		return false
	}
	got, mac, ok := strings.Cut(c.Value, ".")
	return ok && got == id && hmac.Equal([]byte(mac), []byte(b.mac(id)))
}

// bind binds the browser to the logout id with an HMAC cookie.
func (b *browser) bind(w http.ResponseWriter, id string) {
	http.SetCookie(w, &http.Cookie{Name: bindingCookie, Value: id + "." + b.mac(id), Path: b.base + "/",
		HttpOnly: true, Secure: b.secure, SameSite: http.SameSiteLaxMode, MaxAge: 3600})
}

// clearSite asks the browser to drop every cookie of the site
// (https://www.w3.org/TR/clear-site-data/). Only for responses that set no
// cookie signoff needs: browsers apply it after the response's Set-Cookie
// and to the whole site — every port of the host, every subdomain of the
// registrable domain, the RPs' own cookies included — so on the response
// that binds a logout it would drop the binding (the page would answer
// 404) and end the RPs' sessions before their logout could run.
func clearSite(w http.ResponseWriter) { w.Header().Set("Clear-Site-Data", `"cookies"`) }

// alreadySignedOut answers a browser that has no IdP session.
func (b *browser) alreadySignedOut(w http.ResponseWriter, r *http.Request, cont, refused string) {
	clearSite(w)
	b.Local.Clear(w)
	b.render(w, r, pageData{Title: "You are signed out", Status: "complete", Complete: true,
		Summary: "You were already signed out.", Continue: cont, RefusedRedirect: refused})
}

// target validates a requested redirect; "" and the reason when refused.
func (b *browser) target(raw string) (string, string) {
	if raw == "" {
		return "", ""
	}
	v, err := b.Redirects.Validate(raw)
	if err != nil {
		return "", err.Error()
	}
	return v, ""
}

// begin starts the saga of this browser's session. It returns the logout id,
// or "" when the browser has no session (already signed out).
func (b *browser) begin(w http.ResponseWriter, r *http.Request, returnTo string) (string, error) {
	sid := b.Local.SessionID(r)
	if sid == "" {
		clearSite(w)
		b.Local.Clear(w)
		return "", nil
	}
	id := uuid.NewString()
	err := b.Logouts.RequestLogout(r.Context(), events.LogoutRequested{
		EventID: uuid.NewString(), LogoutID: id, OccurredAt: b.Now().UTC(), SessionID: sid,
		Initiator: events.InitiatorUser, Scope: events.ScopeGlobal, ReturnTo: returnTo, Browser: true,
	})
	if err != nil {
		return "", err
	}
	// Only now that the saga is on its way: the cookie goes, the browser
	// is bound to the logout.
	b.Local.Clear(w)
	b.bind(w, id)
	b.Logger.Info("browser logout started", "logout_id", id)
	return id, nil
}

func (b *browser) startLogout(w http.ResponseWriter, r *http.Request) {
	rd, refusedWhy := "", ""
	if q := r.URL.Query()["rd"]; len(q) > 1 {
		refusedWhy = "the rd parameter was given more than once"
	} else if len(q) == 1 {
		rd, refusedWhy = b.target(q[0])
	}
	if session := b.Local.SessionID(r); session != "" && b.ChooseScope == ChooseAlways && b.Sessions != nil {
		b.renderChooser(w, r, chosen{Initiator: events.InitiatorUser, ReturnTo: rd}, session, false, "")
		return
	}
	id, err := b.begin(w, r, rd)
	if err != nil {
		b.Logger.Error("starting a logout", "err", err)
		http.Error(w, "The sign-out could not be started. Please try again in a moment.", http.StatusServiceUnavailable)
		return
	}
	if id == "" {
		b.alreadySignedOut(w, r, firstNonEmpty(rd, b.DefaultRedirect), refusedWhy)
		return
	}
	loc := b.base + "/logout/" + id
	if refusedWhy != "" {
		loc += "?refused=1"
	}
	http.Redirect(w, r, loc, http.StatusSeeOther)
}

// apiLogout is Authelia's POST /api/logout: {"targetURL": …} →
// {"status":"OK","data":{"safeTargetURL":bool}}, plus logoutURL, the page
// that follows the logout.
func (b *browser) apiLogout(w http.ResponseWriter, r *http.Request) {
	var body struct {
		TargetURL string `json:"targetURL"`
	}
	if r.Body != nil && r.ContentLength != 0 {
		dec := json.NewDecoder(io.LimitReader(r.Body, 16<<10))
		if err := dec.Decode(&body); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"status": "KO", "message": "request body must be JSON like {\"targetURL\": \"https://…\"}"})
			return
		}
	}
	rd, _ := b.target(body.TargetURL)
	id, err := b.begin(w, r, rd)
	if err != nil {
		b.Logger.Error("starting a logout", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "KO", "message": "the sign-out could not be started; try again"})
		return
	}
	data := map[string]any{"safeTargetURL": rd != ""}
	if id != "" {
		data["logoutURL"] = b.base + "/logout/" + id
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "OK", "data": data})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// view reads the logout of an owning browser; ok false answers 404 (also
// for another browser, so that a logout id reveals nothing).
func (b *browser) view(w http.ResponseWriter, r *http.Request) (LogoutView, bool) {
	id := r.PathValue("id")
	if !b.owns(r, id) {
		http.Error(w, "404 page not found", http.StatusNotFound)
		return LogoutView{}, false
	}
	v, found, err := b.Status.Logout(r.Context(), id)
	if err != nil {
		b.Logger.Error("reading a logout", "logout_id", id, "err", err)
		http.Error(w, "The sign-out status is not available right now.", http.StatusServiceUnavailable)
		return LogoutView{}, false
	}
	if !found {
		// Published but not yet picked up by the coordinator.
		v = LogoutView{ID: id, Status: "running"}
	}
	b.confirmLocal(r, v)
	return v, true
}

// confirmLocal reports the local-session participant once the browser has
// come back: the cookie adapter checks that the cookie is gone.
func (b *browser) confirmLocal(r *http.Request, v LogoutView) {
	for _, p := range v.Participants {
		if p.RPID == b.LocalRPID && p.Outcome == "pending" {
			claimed, err := b.Steps.ClaimStep(r.Context(), v.ID, p.RPID, b.Now(), 0)
			if err != nil {
				b.Logger.Warn("recording the local session confirmation", "logout_id", v.ID, "err", err)
			}
			if !claimed {
				return
			}
			if err := b.Local.Confirm(r.Context(), v.ID, r); err != nil {
				// Released with a context of its own: the request's may be
				// what failed.
				ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
				if rerr := b.Steps.ReleaseStep(ctx, v.ID, p.RPID); rerr != nil {
					b.Logger.Warn("releasing the local session confirmation", "logout_id", v.ID, "err", rerr)
				}
				cancel()
				b.Logger.Warn("confirming the local session", "logout_id", v.ID, "err", err)
			}
			return
		}
	}
}

func (b *browser) page(w http.ResponseWriter, r *http.Request) {
	v, ok := b.view(w, r)
	if !ok {
		return
	}
	if v.Status == "running" && len(v.Participants) == 0 {
		v = b.awaitSaga(r, v)
	}
	d := b.pageData(v)
	if r.URL.Query().Get("refused") != "" {
		d.RefusedRedirect = "it is not an https address on an allowed domain"
	}
	for _, p := range v.Participants {
		if p.Outcome != "pending" || b.Frames == nil {
			continue
		}
		f, ok := b.Frames.Frame(v.ID, p.RPID, p.SID)
		switch {
		case !ok:
		case !f.TopLevel:
			d.Frames = append(d.Frames, f)
		case d.Hop == nil && b.hopDue(r.Context(), v.ID, p.RPID):
			d.Hop = &f
		}
	}
	b.render(w, r, d)
}

// hopDue reports whether the page should send the browser to a participant
// of a redirect chain: once per participant, again only after a while (the
// user came back without finishing there), so that a result that is still
// on its way when the SP sends the browser back causes no loop. The hop is
// recorded on the participant in the store (Steps).
func (b *browser) hopDue(ctx context.Context, logoutID, rpID string) bool {
	due, err := b.Steps.ClaimStep(ctx, logoutID, rpID, b.Now(), hopAgain)
	if err != nil {
		b.Logger.Warn("recording a redirect-chain hop", "logout_id", logoutID, "rp_id", rpID, "err", err)
	}
	return due
}

// awaitSaga waits a moment for the coordinator to take a logout published
// just now (the browser follows the redirect at once): before that, the
// page knows neither the participants it lists and signs out in iframes nor
// the validated Continue target.
func (b *browser) awaitSaga(r *http.Request, v LogoutView) LogoutView {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return v // the page reloads itself once the saga is known
		case <-tick.C:
		}
		if nv, found, err := b.Status.Logout(ctx, v.ID); err == nil && found {
			b.confirmLocal(r, nv)
			return nv
		}
	}
}

type pageData struct {
	ID, Base, Status, Title, Summary, Continue, RefusedRedirect string
	// Progress replaces the default "Signing you out of every
	// application" while the logout runs.
	Progress                   string
	Running, Complete, Refresh bool
	Participants               []participantRow
	Frames                     []Frame
	Hop                        *Frame
	FrameTimeoutMS             int64
	Nonce                      string
	CSS                        template.CSS
	JS                         template.JS
	LabelsJSON                 map[string]string
}

type participantRow struct {
	RPID, Name, Outcome, Label, ShownDetail string
}

var labels = map[string]string{
	"pending":                 "Signing out…",
	events.OutcomeSucceeded:   "Signed out",
	events.OutcomeFailed:      "Not confirmed",
	events.OutcomeTimedOut:    "Not confirmed",
	events.OutcomeUnsupported: "Not confirmed",
}

func (b *browser) pageData(v LogoutView) pageData {
	d := pageData{ID: v.ID, Base: b.base, Status: v.Status, Running: v.Status == "running", Refresh: v.Status == "running"}
	d.Title, d.Summary = headline(v, b.LocalRPID)
	if d.Running && v.Scope == events.ScopeInitiatorOnly && len(v.Participants) > 0 {
		d.Progress = "Signing you out of " + v.Participants[0].Name + " only. This takes a few seconds; please keep this page open."
	}
	d.Complete = v.Status == events.CompletedComplete
	d.Continue = firstNonEmpty(v.ReturnTo, b.DefaultRedirect)
	for _, p := range v.Participants {
		row := participantRow{RPID: p.RPID, Name: p.Name, Outcome: p.Outcome, Label: labels[p.Outcome]}
		row.ShownDetail = reason(p, b.LocalRPID)
		d.Participants = append(d.Participants, row)
	}
	return d
}

// list is summary.List: "A, B and C".
func list(names []string) string { return summary.List(names) }

// signedOutOf is summary.SignedOutOf: "You were signed out of A and B."
func signedOutOf(names []string) string { return summary.SignedOutOf(names) }

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

func (b *browser) render(w http.ResponseWriter, r *http.Request, d pageData) {
	nonce := newNonce()
	d.Nonce, d.CSS, d.JS, d.LabelsJSON = nonce, template.CSS(pageCSS), template.JS(pageJS), labels
	d.Base = b.base
	if d.FrameTimeoutMS == 0 && b.Frames != nil {
		d.FrameTimeoutMS = b.Frames.Timeout().Milliseconds()
	}
	h := w.Header()
	h.Set("Content-Security-Policy", fmt.Sprintf("default-src 'none'; script-src 'nonce-%s'; style-src 'nonce-%s'; "+
		"connect-src 'self'; frame-src %s; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
		nonce, nonce, b.frameSrc))
	h.Set("Content-Type", "text/html; charset=utf-8")
	if err := pageTmpl.Execute(w, d); err != nil {
		b.Logger.Error("rendering the logout page", "err", err)
	}
}

func newNonce() string {
	var n [18]byte
	rand.Read(n[:])
	return base64.RawURLEncoding.EncodeToString(n[:])
}

// streamState is one server-sent event of /logout/{id}/events.
type streamState struct {
	LogoutView
	Outcome string `json:"outcome,omitempty"`
	Title   string `json:"title,omitempty"`
	Summary string `json:"summary,omitempty"`
}

// pageView is v as the sign-out page receives it: each participant with
// its plain Reason and without the technical Detail (operators read that in
// the logs, the events and the admin API).
func pageView(v LogoutView, localRPID string) LogoutView {
	ps := make([]ParticipantView, len(v.Participants))
	for i, p := range v.Participants {
		p.Reason, p.Detail = reason(p, localRPID), ""
		ps[i] = p
	}
	v.Participants = ps
	v.Detail = ""
	return v
}

// events streams the saga's state as server-sent events until it ends.
func (b *browser) events(w http.ResponseWriter, r *http.Request) {
	if _, ok := b.view(w, r); !ok {
		return
	}
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	fl.Flush()
	ctx, cancel := context.WithTimeout(r.Context(), b.MaxWait)
	defer cancel()
	id := r.PathValue("id")
	var last []byte
	tick := time.NewTicker(b.Poll)
	defer tick.Stop()
	keepAlive := time.NewTicker(15 * time.Second)
	defer keepAlive.Stop()
	for {
		v, found, err := b.Status.Logout(ctx, id)
		if err == nil && found {
			b.confirmLocal(r, v)
			st := streamState{LogoutView: pageView(v, b.LocalRPID)}
			if v.Status != "running" {
				st.Outcome = v.Status
				st.Title, st.Summary = headline(v, b.LocalRPID)
			}
			data, _ := json.Marshal(st)
			if string(data) != string(last) {
				fmt.Fprintf(w, "event: state\ndata: %s\n\n", data)
				fl.Flush()
				last = data
			}
			if v.Status != "running" {
				return
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-keepAlive.C:
			io.WriteString(w, ": keep-alive\n\n")
			fl.Flush()
		case <-tick.C:
		}
	}
}

// ack takes a front-channel acknowledgement from the logout page.
func (b *browser) ack(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !b.owns(r, id) {
		http.Error(w, "404 page not found", http.StatusNotFound)
		return
	}
	var body struct {
		RPID   string `json:"rp_id"`
		Token  string `json:"token"`
		Status string `json:"status"`
		Detail string `json:"detail"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 8<<10)).Decode(&body); err != nil || body.RPID == "" || body.Token == "" {
		http.Error(w, "expected JSON {rp_id, token, status, detail}", http.StatusBadRequest)
		return
	}
	if b.Frames == nil {
		http.Error(w, "no front-channel participants", http.StatusBadRequest)
		return
	}
	if err := b.Frames.Ack(r.Context(), id, body.RPID, body.Token, body.Status, body.Detail); err != nil {
		b.Logger.Warn("front-channel acknowledgement refused", "logout_id", id, "rp_id", body.RPID, "err", err)
		http.Error(w, "acknowledgement refused: "+err.Error(), http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// status is GET /api/logouts/{id}: the saga as JSON, for its browser.
func (b *browser) status(w http.ResponseWriter, r *http.Request) {
	if b.admin(r) {
		v, found, err := b.Status.Logout(r.Context(), r.PathValue("id"))
		switch {
		case err != nil:
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "unavailable", "message": err.Error()})
		case !found:
			// Published but not started yet, or unknown.
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "not_found", "message": "no such logout (yet)"})
		default:
			writeJSON(w, http.StatusOK, v)
		}
		return
	}
	v, ok := b.view(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, v)
}
