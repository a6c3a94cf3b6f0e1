package demo

import (
	"context"
	"crypto/rand"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/signoff/signoff/adapters/backchannel/receiver"
)

// Kinds of demo relying party.
const (
	kindBackchannel  = "backchannel"  // verifies logout tokens with the receiver package
	kindFrontchannel = "frontchannel" // signed out in an iframe, acknowledges by postMessage
	kindDown         = "down"         // its logout endpoint answers 503
	kindSilent       = "silent"       // front-channel page that never acknowledges (tests)
)

// rp is a demo relying party on its own port (its own origin): a page that
// tells whether the browser is signed in there and offers RP-initiated
// logout ("Sign out", through signoff's /oidc/end_session), a login
// shortcut standing in for an OIDC code flow, its logout endpoint, and the
// page signoff returns the browser to (/bye, its
// post_logout_redirect_uri).
type rp struct {
	id, name, kind string
	url            string // base URL
	endSession     string // signoff's end_session_endpoint
	srv            *http.Server
	out            io.Writer

	mu     sync.Mutex
	active map[string]rpSession // sid → session
	states map[string]time.Time // state of an RP-initiated logout → when it expires
}

// rpSession is what the RP keeps of a sign-in.
type rpSession struct {
	subject string
	idToken string // sent back as id_token_hint
}

// stateLifetime bounds how long a "Sign out" link's state is accepted at
// /bye.
const stateLifetime = 30 * time.Minute

func (r *rp) cookie() string { return "demo_" + r.id + "_session" }

func startRP(id, name, kind string, out io.Writer) (*rp, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	r := &rp{id: id, name: name, kind: kind, out: out, url: "http://" + l.Addr().String(),
		active: map[string]rpSession{}, states: map[string]time.Time{}}
	r.srv = &http.Server{ReadHeaderTimeout: 5 * time.Second}
	go r.srv.Serve(l)
	return r, nil
}

// wire installs the handlers once signoff's issuer and origin are known.
func (r *rp) wire(issuer, signoffOrigin, jwksURL string) error {
	r.endSession = signoffOrigin + "/oidc/end_session"
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", r.home)
	mux.HandleFunc("GET /login", r.login)
	mux.HandleFunc("GET /bye", r.bye)
	switch r.kind {
	case kindBackchannel:
		h, err := receiver.NewBackChannel(receiver.BackChannelConfig{
			Issuer: issuer, ClientID: r.id, JWKSURL: jwksURL,
			Logout: func(_ context.Context, l receiver.Logout) error {
				r.end(l.SessionID)
				fmt.Fprintf(r.out, "    %s verified a logout token (sub=%s sid=%s) and ended that session\n", r.name, l.Subject, l.SessionID)
				return nil
			},
		})
		if err != nil {
			return err
		}
		mux.Handle("POST /oidc/backchannel", h)
	case kindFrontchannel:
		h, err := receiver.NewFrontChannel(receiver.FrontChannelConfig{
			Issuer: issuer, ParentOrigin: signoffOrigin,
			Logout: func(w http.ResponseWriter, req *http.Request, l receiver.FrontLogout) error {
				sid := l.SessionID
				if sid == "" {
					if c, err := req.Cookie(r.cookie()); err == nil {
						sid = c.Value
					}
				}
				r.end(sid)
				http.SetCookie(w, &http.Cookie{Name: r.cookie(), Value: "", Path: "/", MaxAge: -1})
				fmt.Fprintf(r.out, "    %s ended session %s in the browser and acknowledged\n", r.name, sid)
				return nil
			},
		})
		if err != nil {
			return err
		}
		mux.Handle("GET /oidc/frontchannel", h)
	case kindSilent:
		mux.HandleFunc("GET /oidc/frontchannel", func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			io.WriteString(w, "<!doctype html><title>logout</title><p>Logged out, but this page never says so.</p>")
		})
	case kindDown:
		mux.HandleFunc("POST /oidc/backchannel", func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, "service unavailable", http.StatusServiceUnavailable)
		})
	}
	r.srv.Handler = mux
	return nil
}

func (r *rp) logoutURI() string {
	if r.kind == kindFrontchannel || r.kind == kindSilent {
		return r.url + "/oidc/frontchannel"
	}
	return r.url + "/oidc/backchannel"
}

// byeURI is where signoff returns the browser after an RP-initiated
// logout (the RP's registered post_logout_redirect_uri).
func (r *rp) byeURI() string { return r.url + "/bye" }

func (r *rp) begin(sid string, s rpSession) {
	r.mu.Lock()
	r.active[sid] = s
	r.mu.Unlock()
}

func (r *rp) end(sid string) {
	r.mu.Lock()
	delete(r.active, sid)
	r.mu.Unlock()
}

// session is the browser's session here, if it has one.
func (r *rp) session(req *http.Request) (rpSession, bool) {
	c, err := req.Cookie(r.cookie())
	if err != nil {
		return rpSession{}, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	s, ok := r.active[c.Value]
	return s, ok
}

// newState returns a fresh state for an RP-initiated logout and remembers
// it (expired ones are forgotten).
func (r *rp) newState() string {
	state := rand.Text()
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	for s, exp := range r.states {
		if now.After(exp) {
			delete(r.states, s)
		}
	}
	r.states[state] = now.Add(stateLifetime)
	return state
}

// knownState reports whether state was issued by this RP and has not
// expired.
func (r *rp) knownState(state string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	exp, ok := r.states[state]
	return ok && time.Now().Before(exp)
}

// login stands in for the OIDC code flow: the IdP sends the browser here
// with the sid it registered for this RP and the ID Token it issued (kept
// for the id_token_hint of RP-initiated logout).
func (r *rp) login(w http.ResponseWriter, req *http.Request) {
	q := req.URL.Query()
	sid, sub := q.Get("sid"), q.Get("sub")
	if sid == "" || sub == "" {
		http.Error(w, "sid and sub required", http.StatusBadRequest)
		return
	}
	r.begin(sid, rpSession{subject: sub, idToken: q.Get("id_token")})
	http.SetCookie(w, &http.Cookie{Name: r.cookie(), Value: sid, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	next := q.Get("next")
	if u, err := url.Parse(next); err != nil || u.Hostname() != "127.0.0.1" {
		next = "/"
	}
	http.Redirect(w, req, next, http.StatusSeeOther)
}

var rpPage = template.Must(template.New("rp").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Name}}</title></head>
<body style="font: 16px/1.5 system-ui, sans-serif; max-width: 32rem; margin: 2rem auto; padding: 0 1rem">
<h1>{{.Name}}</h1>
<p id="status" role="status">{{if .SignedIn}}You are signed in to {{.Name}} as <strong>{{.Subject}}</strong>.{{else}}You are not signed in to {{.Name}}.{{end}}</p>
{{if .SignOut}}<p><a id="rp-signout" href="{{.SignOut}}">Sign out</a></p>{{end}}
<p><small>{{.Kind}}</small></p>
</body></html>`))

func (r *rp) home(w http.ResponseWriter, req *http.Request) {
	s, ok := r.session(req)
	signOut := ""
	if ok && s.idToken != "" {
		// RP-initiated logout: signoff asks "this app only or everywhere"
		// and returns the browser to /bye with this state.
		signOut = r.endSession + "?" + url.Values{
			"id_token_hint": {s.idToken}, "post_logout_redirect_uri": {r.byeURI()}, "state": {r.newState()},
		}.Encode()
	}
	kind := map[string]string{
		kindBackchannel:  "Signed out by OIDC back-channel logout (server to server).",
		kindFrontchannel: "Signed out by OIDC front-channel logout (an iframe in your browser).",
		kindDown:         "Its back-channel logout endpoint is down: it answers 503.",
		kindSilent:       "Its front-channel logout page never acknowledges.",
	}[r.kind]
	w.Header().Set("Cache-Control", "no-store")
	rpPage.Execute(w, map[string]any{"Name": r.name, "SignedIn": ok, "Subject": s.subject, "Kind": kind, "SignOut": signOut})
}

var byePage = template.Must(template.New("bye").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Name}}</title></head>
<body style="font: 16px/1.5 system-ui, sans-serif; max-width: 32rem; margin: 2rem auto; padding: 0 1rem">
<h1>{{.Name}}</h1>
<p id="bye" role="status">{{.Message}}</p>
<p><a id="home" href="/">{{.Name}} home</a></p>
</body></html>`))

// bye is the post_logout_redirect_uri: signoff sends the browser here after
// an RP-initiated logout, with the state of the "Sign out" link. It ends
// nothing itself: whether the session ended is signoff's doing (the home
// page tells).
func (r *rp) bye(w http.ResponseWriter, req *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	state := req.URL.Query().Get("state")
	if state == "" || !r.knownState(state) {
		w.WriteHeader(http.StatusBadRequest)
		byePage.Execute(w, map[string]any{"Name": r.name, "Message": "This return to " + r.name + " does not carry a state " + r.name + " issued; it is ignored."})
		return
	}
	byePage.Execute(w, map[string]any{"Name": r.name, "Message": "You left " + r.name + "."})
}
