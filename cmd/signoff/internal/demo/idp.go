package demo

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/signoff/signoff/adapters/keys"
	"github.com/signoff/signoff/events"
)

// idp is the demo's stand-in identity provider: a sign-in page that sets
// the IdP session cookie signoff reads, publishes session.joined for every
// demo RP and sends the browser through each RP's login with an ID Token
// for that RP, and a home page with the "Sign out everywhere" button that
// posts to signoff's /logout.
//
// It is the OP whose ID Tokens the RPs send back as id_token_hint to
// signoff's /oidc/end_session: its issuer is signoff's, and it signs with
// signoff's own keys, which signoff verifies hints with when no
// oidc_provider is configured.
type idp struct {
	url        string
	signoffURL string
	issuer     string
	keys       *keys.Set
	cookie     string
	rps        []*rp
	js         jetstream.JetStream
	registered func(ctx context.Context, session string) (int, error)
	upstream   *upstreamOP
	soapSP     *samlSP // the SOAP SAML SP, which only upstream sign-ins join
	srv        *http.Server
	saml       *samlSP // the SAML SP, when the demo has one
	// extra are rp ids joined at every sign-in besides rps (the SSF
	// receiver, which has no pages).
	extra []string

	// ssf is its Shared Signals transmitter side (ssf.go).
	ssf *demoSSF

	mu       sync.Mutex
	sessions map[string]string // session id → subject
	// upstreams[session] is the upstream session a sign-in through the
	// upstream OP rests on.
	upstreams map[string]*events.Upstream
}

func startIdP() (*idp, net.Listener, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	return &idp{url: "http://" + l.Addr().String(), sessions: map[string]string{}, upstreams: map[string]*events.Upstream{}}, l, nil
}

func (p *idp) serve(l net.Listener) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", p.home)
	mux.HandleFunc("GET /signin/upstream", p.signinUpstream)
	mux.HandleFunc("POST /signin", p.signin)
	if p.ssf != nil {
		p.ssf.routes(mux)
	}
	p.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go p.srv.Serve(l)
}

func sidFor(r *rp, session string) string { return r.id + "-" + session[:8] }

// signIn registers a session of subject at every RP (session.joined) and
// waits until signoff's registry has them.
func (p *idp) signIn(ctx context.Context, subject string, rps []*rp) (string, error) {
	return p.signInWith(ctx, subject, rps, nil)
}

// signInWith is signIn of a sign-in that rests on the upstream session up
// (nil: none), which every join carries.
func (p *idp) signInWith(ctx context.Context, subject string, rps []*rp, up *events.Upstream) (string, error) {
	session := uuid.NewString()
	if up != nil {
		p.mu.Lock()
		p.upstreams[session] = up
		p.mu.Unlock()
	}
	joins := make([]events.SessionJoined, 0, len(rps)+len(p.extra))
	for _, r := range rps {
		joins = append(joins, events.SessionJoined{RPID: r.id, OIDC: &events.OIDCSession{SID: sidFor(r, session)}})
	}
	for _, id := range p.extra {
		joins = append(joins, events.SessionJoined{RPID: id})
	}
	for _, j := range joins {
		j.EventID, j.OccurredAt, j.SessionID, j.Subject, j.Upstream = uuid.NewString(), time.Now().UTC(), session, subject, up
		b, err := events.Encode(j)
		if err != nil {
			return "", err
		}
		if _, err := p.js.Publish(ctx, events.SubjectSessionJoined, b); err != nil {
			return "", fmt.Errorf("publish session.joined: %w", err)
		}
	}
	for {
		n, err := p.registered(ctx, session)
		if err != nil {
			return "", err
		}
		if n == len(joins) {
			break
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	p.mu.Lock()
	p.sessions[session] = subject
	p.mu.Unlock()
	return session, nil
}

func (p *idp) signin(w http.ResponseWriter, r *http.Request) {
	subject := r.PostFormValue("user")
	if subject == "" {
		subject = "alice"
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	session, err := p.signIn(ctx, subject, p.rps)
	if err != nil {
		http.Error(w, "sign-in failed: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	p.finishSignIn(ctx, w, r, session, subject)
}

// finishSignIn sends the browser through every RP's login and home, with
// the IdP session cookie.
func (p *idp) finishSignIn(ctx context.Context, w http.ResponseWriter, r *http.Request, session, subject string) {
	var err error
	// Through every RP's login (a stand-in for the code flow), then home.
	next := p.url + "/"
	if p.soapSP != nil && p.upstreamOf(session) != nil {
		if next, err = p.joinSAML(ctx, p.soapSP, session, subject, next, len(p.rps)+1); err != nil {
			http.Error(w, "sign-in failed: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
	}
	if p.saml != nil { // the SAML SP's login stands in for its assertion consumer
		if next, err = p.joinSAML(ctx, p.saml, session, subject, next, p.joins(session)); err != nil {
			http.Error(w, "sign-in failed: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
	}
	for i := len(p.rps) - 1; i >= 0; i-- {
		rp := p.rps[i]
		sid := sidFor(rp, session)
		tok, err := p.idToken(rp.id, subject, sid)
		if err != nil {
			http.Error(w, "sign-in failed: "+err.Error(), http.StatusInternalServerError)
			return
		}
		next = rp.url + "/login?" + url.Values{"sid": {sid}, "sub": {subject}, "id_token": {tok}, "next": {next}}.Encode()
	}
	http.SetCookie(w, &http.Cookie{Name: p.cookie, Value: session, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, next, http.StatusSeeOther)
}

// idToken is the ID Token the IdP issues to clientID for the session sid
// of subject, signed with signoff's current ES256 key.
func (p *idp) idToken(clientID, subject, sid string) (string, error) {
	k, err := p.keys.Signing(keys.ES256)
	if err != nil {
		return "", err
	}
	signer, err := jose.NewSigner(k.SigningKey(), (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return "", err
	}
	now := time.Now()
	payload, err := json.Marshal(map[string]any{
		"iss": p.issuer, "sub": subject, "aud": clientID, "sid": sid,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(),
	})
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

var idpPage = template.Must(template.New("idp").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Demo IdP</title></head>
<body style="font: 16px/1.5 system-ui, sans-serif; max-width: 32rem; margin: 2rem auto; padding: 0 1rem">
<h1>Demo identity provider</h1>
{{if .Subject}}
<p id="status" role="status">You are signed in as <strong>{{.Subject}}</strong>.</p>
{{with .Via}}<p id="via">Through the upstream IdP (<a href="{{.}}">Corp IdP</a>, session {{$.UpstreamSID}}): "Sign out at the upstream IdP" there signs you out here by a back-channel logout token.</p>{{end}}
<p>Your applications (each on its own origin):</p>
<ul>{{range .RPs}}<li><a href="{{.URL}}/">{{.Name}}</a></li>{{end}}</ul>
<form method="post" action="{{.Logout}}"><button id="signout" type="submit">Sign out everywhere</button></form>
{{else}}
<p id="status" role="status">You are not signed in.</p>
<form method="post" action="/signin"><input type="hidden" name="user" value="alice"><button id="signin" type="submit">Sign in as alice</button></form>
{{with .Upstream}}<form method="get" action="{{.}}"><input type="hidden" name="user" value="alice"><button id="signin-upstream" type="submit">Sign in with the upstream IdP</button></form>{{end}}
{{end}}
</body></html>`))

func (p *idp) home(w http.ResponseWriter, r *http.Request) {
	var subject string
	var up *events.Upstream
	if c, err := r.Cookie(p.cookie); err == nil {
		p.mu.Lock()
		subject, up = p.sessions[c.Value], p.upstreams[c.Value]
		p.mu.Unlock()
		if up != nil && subject != "" {
			// A sign-in through the upstream ends when the upstream's
			// logout token has taken its sessions from signoff's registry.
			if n, err := p.registered(r.Context(), c.Value); err == nil && n == 0 {
				subject = ""
			}
		}
	}
	type link struct{ Name, URL string }
	var links []link
	for _, rp := range p.rps {
		links = append(links, link{rp.name, rp.url})
	}
	for _, sp := range []*samlSP{p.saml, p.soapSP} {
		if sp != nil {
			links = append(links, link{sp.name, sp.url})
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	data := map[string]any{"Subject": subject, "RPs": links, "Logout": p.signoffURL + "/logout"}
	if p.upstream != nil {
		data["Upstream"] = p.upstream.url + "/authorize"
		if up != nil {
			data["Via"], data["UpstreamSID"] = p.upstream.url+"/", up.SID
		}
	}
	idpPage.Execute(w, data)
}

// upstreamOf is the upstream session that session rests on, or nil.
func (p *idp) upstreamOf(session string) *events.Upstream {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.upstreams[session]
}

// signinUpstream is where the upstream OP sends the browser after signing
// the user in there (a stand-in for the code flow's redirect_uri): the ID
// Token's sid becomes upstream {id, sid} on every join of this sign-in.
func (p *idp) signinUpstream(w http.ResponseWriter, r *http.Request) {
	if p.upstream == nil {
		http.NotFound(w, r)
		return
	}
	subject, sid, err := p.upstream.verifyIDToken(r.URL.Query().Get("id_token"))
	if err != nil {
		http.Error(w, "sign-in refused: "+err.Error(), http.StatusBadRequest)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	session, err := p.signInWith(ctx, subject, p.rps, &events.Upstream{ID: upstreamID, SID: sid})
	if err != nil {
		http.Error(w, "sign-in failed: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	p.finishSignIn(ctx, w, r, session, subject)
}

// joins is how many RP sessions a sign-in has at signoff once every SAML
// join is in: the OIDC apps, Payroll, and Expenses for a sign-in through
// the upstream.
func (p *idp) joins(session string) int {
	n := len(p.rps) + 1
	if p.soapSP != nil && p.upstreamOf(session) != nil {
		n++
	}
	return n
}
