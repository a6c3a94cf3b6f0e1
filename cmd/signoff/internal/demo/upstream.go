package demo

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"

	"github.com/signoff/signoff/cmd/signoff/internal/app"
	"github.com/signoff/signoff/cmd/signoff/internal/client"
	"github.com/signoff/signoff/cmd/signoff/internal/config"
	"github.com/signoff/signoff/events"
)

// upstreamID is the id of the demo's upstream OP in signoff's upstreams
// (its back-channel logout URI is /oidc/upstream/corp/backchannel).
const upstreamID = "corp"

// upstreamClientID is signoff's client_id at the upstream OP: the aud of its
// ID Tokens and logout tokens.
const upstreamClientID = "signoff"

// backchannelLogoutEvent is the member of a logout token's events claim
// (OpenID Connect Back-Channel Logout 1.0 section 2.4).
const backchannelLogoutEvent = "http://schemas.openid.net/event/backchannel-logout"

// upstreamOP is the demo's stand-in upstream OpenID Provider ("Corp IdP"),
// on its own origin with its own ES256 key, at which signoff is registered
// as a relying party (client_id signoff) whose backchannel_logout_uri is
// signoff's /oidc/upstream/corp/backchannel. Its /authorize stands in for
// the code flow: it signs the user in there (an upstream session, sid) and
// sends the browser to the demo IdP with an ID Token for signoff, so that
// the demo IdP's joins carry upstream {id, sid}. Its "Sign out at the
// upstream IdP" ends that session and sends signoff a logout token minted
// with go-jose (OpenID Connect Back-Channel Logout 1.0 section 2.4), server
// to server; its page then shows what signoff's logout.completed reports.
type upstreamOP struct {
	url         string // issuer and base URL
	key         *ecdsa.PrivateKey
	kid         string
	out         io.Writer
	srv         *http.Server
	client      *http.Client
	backchannel string // signoff's back-channel logout URI for this OP
	callback    string // the demo IdP's /signin/upstream

	mu       sync.Mutex
	sessions map[string]string // sid → subject
	// logouts are the logouts this OP caused: logout_id → its
	// logout.completed, nil while it runs.
	logouts map[string]*events.Completed
	sub     *nats.Subscription
}

func (u *upstreamOP) cookie() string { return "demo_upstream_session" }

// startUpstreamOP listens on a port of its own and makes the OP's key; the
// handlers run once wire has them.
func startUpstreamOP(out io.Writer) (*upstreamOP, net.Listener, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		l.Close()
		return nil, nil, err
	}
	tp, err := (&jose.JSONWebKey{Key: &key.PublicKey}).Thumbprint(crypto.SHA256)
	if err != nil {
		l.Close()
		return nil, nil, err
	}
	return &upstreamOP{url: "http://" + l.Addr().String(), key: key, out: out,
		kid:      fmt.Sprintf("%x", tp[:8]),
		client:   &http.Client{Timeout: 10 * time.Second},
		sessions: map[string]string{}, logouts: map[string]*events.Completed{}}, l, nil
}

// config is signoff's upstreams entry for this OP.
func (u *upstreamOP) config() config.Upstream {
	return config.Upstream{ID: upstreamID, Issuer: u.url, ClientID: upstreamClientID,
		JWKSURI: u.url + "/jwks.json", Algorithms: []string{string(jose.ES256)}}
}

// serve starts the OP's handlers; signoffURL is signoff's public URL,
// callback the demo IdP's sign-in URL for this OP, and nc carries the
// logout.completed the page shows.
func (u *upstreamOP) serve(l net.Listener, signoffURL, callback string, nc *nats.Conn) error {
	u.backchannel = signoffURL + app.UpstreamPath(upstreamID)
	u.callback = callback
	var err error
	u.sub, err = nc.Subscribe(events.SubjectLogoutCompleted, func(m *nats.Msg) {
		ev, err := events.Decode[events.Completed](m.Data)
		if err != nil {
			return
		}
		u.mu.Lock()
		defer u.mu.Unlock()
		if _, ours := u.logouts[ev.LogoutID]; ours {
			u.logouts[ev.LogoutID] = &ev
		}
	})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", u.home)
	mux.HandleFunc("GET /authorize", u.authorize)
	mux.HandleFunc("POST /signout", u.signout)
	mux.HandleFunc("GET /jwks.json", u.jwks)
	u.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go u.srv.Serve(l)
	return nil
}

func (u *upstreamOP) close() {
	if u.sub != nil {
		u.sub.Unsubscribe()
	}
	if u.srv != nil {
		u.srv.Close()
	}
}

func (u *upstreamOP) jwks(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{
		{Key: &u.key.PublicKey, KeyID: u.kid, Algorithm: string(jose.ES256), Use: "sig"}}})
}

// sign signs claims as a JWS of type typ with the OP's key.
func (u *upstreamOP) sign(typ string, claims map[string]any) (string, error) {
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: u.key, KeyID: u.kid}},
		(&jose.SignerOptions{}).WithType(jose.ContentType(typ)))
	if err != nil {
		return "", err
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", err
	}
	jws, err := signer.Sign(payload)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// authorize stands in for the authorization endpoint and the code flow:
// it signs alice in at the upstream (a new upstream session) and sends the
// browser to the demo IdP with an ID Token for signoff carrying that sid.
func (u *upstreamOP) authorize(w http.ResponseWriter, r *http.Request) {
	subject := r.URL.Query().Get("user")
	if subject == "" {
		subject = "alice"
	}
	sid := "corp-" + strings.ReplaceAll(uuid.NewString(), "-", "")[:12]
	now := time.Now()
	tok, err := u.sign("JWT", map[string]any{
		"iss": u.url, "sub": subject, "aud": upstreamClientID, "sid": sid,
		"iat": now.Unix(), "exp": now.Add(5 * time.Minute).Unix(),
	})
	if err != nil {
		http.Error(w, "sign-in failed: "+err.Error(), http.StatusInternalServerError)
		return
	}
	u.mu.Lock()
	u.sessions[sid] = subject
	u.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: u.cookie(), Value: sid, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode})
	http.Redirect(w, r, u.callback+"?"+url.Values{"id_token": {tok}}.Encode(), http.StatusSeeOther)
}

// verifyIDToken checks an ID Token of this OP for signoff (the demo IdP's
// side of the stand-in code flow: signature, iss, aud, exp) and returns its
// sub and sid.
func (u *upstreamOP) verifyIDToken(raw string) (subject, sid string, err error) {
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.ES256})
	if err != nil {
		return "", "", fmt.Errorf("ID Token: %w", err)
	}
	payload, err := jws.Verify(&u.key.PublicKey)
	if err != nil {
		return "", "", fmt.Errorf("ID Token: %w", err)
	}
	var c struct {
		Iss, Sub, Aud, Sid string
		Exp                int64
	}
	if err := json.Unmarshal(payload, &c); err != nil {
		return "", "", fmt.Errorf("ID Token: %w", err)
	}
	switch {
	case c.Iss != u.url:
		return "", "", fmt.Errorf("ID Token: iss %q, want %q", c.Iss, u.url)
	case c.Aud != upstreamClientID:
		return "", "", fmt.Errorf("ID Token: aud %q, want %q", c.Aud, upstreamClientID)
	case time.Now().Unix() > c.Exp:
		return "", "", fmt.Errorf("ID Token: expired")
	case c.Sub == "" || c.Sid == "":
		return "", "", fmt.Errorf("ID Token: sub and sid required")
	}
	return c.Sub, c.Sid, nil
}

// signout is "Sign out at the upstream IdP": it ends the upstream session
// and sends signoff, signoff being its RP, a logout token for it (OpenID
// Connect Back-Channel Logout 1.0 section 2.4: iss, aud, iat, exp, jti,
// events, sub and sid; no nonce; typ logout+jwt), then shows the logout
// that signoff runs for it.
func (u *upstreamOP) signout(w http.ResponseWriter, r *http.Request) {
	c, err := r.Cookie(u.cookie())
	u.mu.Lock()
	subject, ok := "", false
	if err == nil {
		subject, ok = u.sessions[c.Value]
		delete(u.sessions, c.Value)
	}
	u.mu.Unlock()
	http.SetCookie(w, &http.Cookie{Name: u.cookie(), Value: "", Path: "/", MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	if !ok {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	sid := c.Value
	jti := uuid.NewString()
	now := time.Now()
	tok, err := u.sign("logout+jwt", map[string]any{
		"iss": u.url, "aud": upstreamClientID, "sub": subject, "sid": sid, "jti": jti,
		"iat": now.Unix(), "exp": now.Add(2 * time.Minute).Unix(),
		"events": map[string]any{backchannelLogoutEvent: map[string]any{}},
	})
	if err != nil {
		http.Error(w, "sign-out failed: "+err.Error(), http.StatusInternalServerError)
		return
	}
	_, logoutID := app.UpstreamLogoutIDs(upstreamID, jti)
	u.mu.Lock()
	u.logouts[logoutID] = nil // before the token: its logout.completed may come at once
	u.mu.Unlock()
	fmt.Fprintf(u.out, "Corp IdP: %s signs out there; it sends signoff a back-channel logout token (sub=%s sid=%s)\n", subject, subject, sid)
	status, answer, err := u.send(r.Context(), tok)
	if err != nil || status != http.StatusOK {
		u.mu.Lock()
		delete(u.logouts, logoutID)
		u.mu.Unlock()
		if err == nil {
			err = fmt.Errorf("HTTP %d: %s", status, answer)
		}
		fmt.Fprintf(u.out, "Corp IdP: signoff did not take the logout token: %v\n", err)
		http.Error(w, "signoff did not take the logout token: "+err.Error(), http.StatusBadGateway)
		return
	}
	fmt.Fprintf(u.out, "Corp IdP: signoff answered HTTP 200 (logout %s)\n", short(logoutID))
	http.Redirect(w, r, "/?"+url.Values{"logout": {logoutID}}.Encode(), http.StatusSeeOther)
}

// send POSTs the logout token to signoff (section 2.5) and returns the
// status and body of the answer.
func (u *upstreamOP) send(ctx context.Context, tok string) (int, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.backchannel,
		bytes.NewBufferString(url.Values{"logout_token": {tok}}.Encode()))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := u.client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, strings.TrimSpace(string(body)), nil
}

var upstreamPage = template.Must(template.New("upstream").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
{{if .Running}}<meta http-equiv="refresh" content="1">{{end}}
<title>Corp IdP</title></head>
<body style="font: 16px/1.5 system-ui, sans-serif; max-width: 36rem; margin: 2rem auto; padding: 0 1rem">
<h1>Corp IdP <small>(the upstream identity provider)</small></h1>
{{if .Subject}}
<p id="status" role="status">You are signed in at the upstream IdP as <strong>{{.Subject}}</strong> (session {{.SID}}).</p>
<form method="post" action="/signout"><button id="upstream-signout" type="submit">Sign out at the upstream IdP</button></form>
<p><small>Signing out here sends signoff an OpenID Connect back-channel logout token, server to server; signoff signs you out of the applications.</small></p>
{{else}}
<p id="status" role="status">You are not signed in at the upstream IdP.</p>
{{end}}
{{with .Logout}}
<h2>Sign-out of the applications (logout {{.ID}})</h2>
{{if .Running}}
<p id="logout-result" role="status" data-outcome="{{.Outcome}}">signoff took the logout token (HTTP 200) and is signing you out of the applications…</p>
{{else}}
<p id="logout-result" role="status" data-outcome="{{.Outcome}}">{{.Summary}}</p>
<ul>{{range .Participants}}<li data-rp="{{.RPID}}" data-outcome="{{.Outcome}}"><strong>{{.Name}}</strong>: {{.Outcome}}{{if .Detail}} — {{.Detail}}{{end}}</li>{{end}}</ul>
{{end}}
<p><small>This sign-out started here, at the upstream IdP: your browser is not on signoff's logout page.
Applications signed out server to server (back-channel logout tokens, SAML over SOAP) are signed out now.
Those that need your browser — front-channel iframes, SAML over HTTP-Redirect — cannot be reached, and signoff reports them "not confirmed" at its deadline, as they are: close your browser to be sure.</small></p>
{{end}}
<p><a href="{{.IdP}}">Back to the demo sign-in page</a></p>
</body></html>`))

// home shows the upstream session and, with ?logout=ID of a logout this OP
// caused, what signoff reports of it.
func (u *upstreamOP) home(w http.ResponseWriter, r *http.Request) {
	var subject, sid string
	if c, err := r.Cookie(u.cookie()); err == nil {
		u.mu.Lock()
		subject, sid = u.sessions[c.Value], c.Value
		u.mu.Unlock()
	}
	data := map[string]any{"Subject": subject, "SID": sid, "IdP": strings.TrimSuffix(u.callback, "/signin/upstream") + "/"}
	if id := r.URL.Query().Get("logout"); id != "" {
		u.mu.Lock()
		ev, ours := u.logouts[id]
		u.mu.Unlock()
		if ours {
			type row struct {
				RPID, Name string
				Outcome    events.Outcome
				Detail     string
			}
			l := map[string]any{"ID": short(id), "Running": ev == nil, "Outcome": events.StatusRunning}
			if ev != nil {
				var rows []row
				for _, p := range ev.Participants {
					rows = append(rows, row{p.RPID, p.Name, p.Outcome, p.Detail})
				}
				l["Outcome"], l["Summary"], l["Participants"] = ev.Outcome, client.Summary(*ev), rows
			}
			data["Logout"], data["Running"] = l, ev == nil
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	upstreamPage.Execute(w, data)
}

// printUpstream tells how to try the upstream path (expensesURL: the SOAP
// SAML SP, or "").
func printUpstream(out io.Writer, upstreamURL, expensesURL string) {
	fmt.Fprintf(out, "  The upstream IdP path: signoff is a relying party of an upstream OpenID Provider\n")
	fmt.Fprintf(out, "  Corp IdP %s  \"Sign in with the upstream IdP\" on the sign-in page, then \"Sign out at the upstream IdP\"\n", upstreamURL)
	fmt.Fprintf(out, "           there: it sends a back-channel logout token to signoff's %s\n", app.UpstreamPath(upstreamID))
	servers, browsers := "Notes", "Wiki"
	if expensesURL != "" {
		fmt.Fprintf(out, "  Expenses %s  SAML SP signed out over SOAP (no browser needed); only the upstream sign-in joins it\n", expensesURL)
		servers, browsers = "Notes and Expenses", "Wiki and Payroll"
	}
	fmt.Fprintf(out, "           signoff signs out %s server to server; %s need your browser on signoff's\n", servers, browsers)
	fmt.Fprintf(out, "           logout page, which a logout from upstream does not have: they are reported not confirmed\n\n")
}
