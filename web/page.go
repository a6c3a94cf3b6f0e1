package web

import (
	"context"
	"crypto/rand"
	"embed"
	"encoding/base64"
	"fmt"
	"html/template"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/signoff/signoff/coordinator/watch"
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

// hopAgain is how long after a redirect-chain hop the page sends the
// browser to the same participant again.
const hopAgain = 20 * time.Second

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
	b.render(w, r, pageData{Title: "You are signed out", Status: events.StatusComplete, Complete: true,
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
		v = LogoutView{ID: id, Status: events.StatusRunning}
	}
	return v, true
}

// confirmLocal reports the local-session participant once the browser has
// come back: the cookie adapter checks that the cookie is gone. Only the
// explicit step (POST /logout/{id}/confirm) calls it; reading a page
// changes nothing.
func (b *browser) confirmLocal(r *http.Request, v LogoutView) {
	for _, p := range v.Participants {
		if p.RPID == b.LocalRPID && p.Outcome == events.OutcomePending {
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
	if v.Status == events.StatusRunning && len(v.Participants) == 0 {
		v = b.awaitSaga(r, v)
	}
	d := b.pageData(v)
	if r.URL.Query().Get("refused") != "" {
		d.RefusedRedirect = "it is not an https address on an allowed domain"
	}
	for _, p := range v.Participants {
		if p.Outcome != events.OutcomePending || b.Frames == nil {
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
// the validated Continue target. It wakes on the store's change
// notification (Changes), not on a timer.
func (b *browser) awaitSaga(r *http.Request, v LogoutView) LogoutView {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	changed, stop := b.Changes.Watch(v.ID)
	defer stop()
	for {
		// Read after subscribing: a commit between view's read and Watch
		// is not missed.
		if nv, found, err := b.Status.Logout(ctx, v.ID); err == nil && found {
			return nv
		}
		if !watch.Await(ctx, changed, b.Recheck) {
			return v // the page reloads itself once the saga is known
		}
	}
}

type pageData struct {
	ID, Base, Title, Summary, Continue, RefusedRedirect string
	Status                                              events.Status
	// Progress replaces the default "Signing you out of every
	// application" while the logout runs.
	Progress                   string
	Running, Complete, Refresh bool
	// ConfirmLocal: the local-session participant is pending, so the page
	// takes the explicit step that confirms it (its script, or the
	// button without JavaScript).
	ConfirmLocal   bool
	Participants   []participantRow
	Frames         []Frame
	Hop            *Frame
	FrameTimeoutMS int64
	Nonce          string
	CSS            template.CSS
	JS             template.JS
	LabelsJSON     map[events.Outcome]string
}

type participantRow struct {
	RPID, Name, Label, ShownDetail string
	Outcome                        events.Outcome
}

var labels = map[events.Outcome]string{
	events.OutcomePending:     "Signing out…",
	events.OutcomeSucceeded:   "Signed out",
	events.OutcomeFailed:      "Not confirmed",
	events.OutcomeTimedOut:    "Not confirmed",
	events.OutcomeUnsupported: "Not confirmed",
}

func (b *browser) pageData(v LogoutView) pageData {
	d := pageData{ID: v.ID, Base: b.base, Status: v.Status, Running: v.Status == events.StatusRunning, Refresh: v.Status == events.StatusRunning}
	d.Title, d.Summary = headline(v, b.LocalRPID)
	if d.Running && v.Scope == events.ScopeInitiatorOnly && len(v.Participants) > 0 {
		d.Progress = "Signing you out of " + v.Participants[0].Name + " only. This takes a few seconds; please keep this page open."
	}
	d.Complete = v.Status == events.StatusComplete
	d.Continue = firstNonEmpty(v.ReturnTo, b.DefaultRedirect)
	for _, p := range v.Participants {
		row := participantRow{RPID: p.RPID, Name: p.Name, Outcome: p.Outcome, Label: labels[p.Outcome]}
		row.ShownDetail = reason(p, b.LocalRPID)
		d.ConfirmLocal = d.ConfirmLocal || (p.RPID == b.LocalRPID && p.Outcome == events.OutcomePending)
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
