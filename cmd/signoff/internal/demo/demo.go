// Package demo runs signoff on embedded defaults with a stand-in identity
// provider and three demo relying parties on their own origins — Notes
// (back-channel logout, verified with the receiver package), Wiki
// (front-channel logout in an iframe) and Chat (whose logout endpoint is
// down) — plus, with Options.SAML (as `signoff demo` runs it), Payroll, a
// SAML service provider signed out over HTTP-Redirect — so that a person
// can sign in and sign out in a browser, and prints every logout's
// participants and outcomes as they arrive. A second path runs through
// Corp IdP, a stand-in upstream OpenID Provider at which signoff is a
// relying party (upstream.go): its logout token makes signoff sign the user
// out, with Expenses, a SAML SP signed out over SOAP (samlsoap.go), showing
// a SAML session ended with no browser.
package demo

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/signoff/signoff/cmd/signoff/internal/app"
	"github.com/signoff/signoff/cmd/signoff/internal/client"
	"github.com/signoff/signoff/cmd/signoff/internal/config"
	"github.com/signoff/signoff/events"
)

// Options configure the demo.
type Options struct {
	// Once signs a user in to Notes and Chat and out again without a
	// browser, prints the outcome and returns.
	Once bool
	// Listen is signoff's HTTP address (default: a free port on 127.0.0.1).
	Listen string
	// NATSListen also exposes the embedded NATS on TCP (e.g. 127.0.0.1:4222).
	NATSListen string
	// DataDir keeps the demo's state; empty uses a temporary directory.
	DataDir string
	Logger  *slog.Logger
	// AllowedDomains are the redirects.allowed_domains of signoff (tests).
	AllowedDomains []string
	// SilentWiki makes Wiki's front-channel page load without ever
	// acknowledging (tests: "not confirmed").
	SilentWiki bool
	// SAML adds Payroll, a SAML service provider signed out over
	// HTTP-Redirect (a top-level redirect hop of the logout page).
	SAML bool
	// SSF adds Alerts, a Shared Signals receiver signed out by a pushed
	// CAEP session-revoked SET, which it verifies and prints.
	SSF bool
	// Ready, when set, receives the demo's URLs once everything runs.
	Ready func(URLs)
}

// URLs are where the demo's parts listen.
type URLs struct {
	IdP, Signoff           string
	Notes, Wiki, Chat      string
	WikiFrontchannelOrigin string
	// Payroll is the SAML SP (Options.SAML), else empty.
	Payroll string
	// Alerts is the SSF receiver's push endpoint (Options.SSF), else empty.
	Alerts string
	// Expenses is the SAML SP signed out over SOAP (Options.SAML), which
	// only sign-ins through the upstream OP join; else empty.
	Expenses string
	// Upstream is the upstream OP (Corp IdP) at which signoff is an RP.
	Upstream string
}

// Run runs the demo until ctx ends (or after one round with Once).
func Run(ctx context.Context, out io.Writer, o Options) error {
	// The NATS subscription, the RPs' handlers and the scripted round all
	// print.
	out = &syncWriter{w: out}
	if o.Logger == nil {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	// signoff's listener is opened here and handed over, so that its
	// address (the issuer) is known before start-up and no other process
	// can take the port in between.
	if o.Listen == "" {
		o.Listen = "127.0.0.1:0"
	}
	listener, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return fmt.Errorf("demo: listen %s: %w", o.Listen, err)
	}
	o.Listen = listener.Addr().String()
	if o.DataDir == "" {
		dir, err := os.MkdirTemp("", "signoff-demo-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		o.DataDir = dir
	}
	var rps []*rp
	for _, d := range []struct{ id, name, kind string }{
		{"notes", "Notes", kindBackchannel}, {"wiki", "Wiki", kindFrontchannel}, {"chat", "Chat", kindDown},
	} {
		kind := d.kind
		if kind == kindFrontchannel && o.SilentWiki {
			kind = kindSilent
		}
		r, err := startRP(d.id, d.name, kind, out)
		if err != nil {
			return err
		}
		defer r.srv.Close()
		rps = append(rps, r)
	}
	var sp, soapSP *samlSP
	if o.SAML {
		var err error
		if sp, err = startSAMLSP("payroll", "Payroll", out); err != nil {
			return err
		}
		defer sp.srv.Close()
		if soapSP, err = startSOAPSP(out); err != nil {
			return err
		}
		defer soapSP.srv.Close()
	}
	var alerts *ssfReceiver
	if o.SSF {
		if alerts, err = startSSFReceiver("alerts", "Alerts", out); err != nil {
			return err
		}
		defer alerts.srv.Close()
	}
	idp, idpListener, err := startIdP()
	if err != nil {
		return err
	}
	up, upListener, err := startUpstreamOP(out)
	if err != nil {
		return err
	}
	defer upListener.Close()

	signoffURL := "http://" + o.Listen
	cfg := config.Default()
	cfg.DataDir, cfg.Listen, cfg.PublicURL, cfg.Issuer = o.DataDir, o.Listen, signoffURL, signoffURL
	cfg.NATS.Listen = o.NATSListen
	if o.NATSListen != "" {
		// The demo's NATS takes anonymous clients, so it stays on loopback.
		host, _, err := net.SplitHostPort(o.NATSListen)
		if ip := net.ParseIP(host); err != nil || (host != "localhost" && (ip == nil || !ip.IsLoopback())) {
			return fmt.Errorf("demo: --nats-listen %q: the demo's NATS allows anonymous clients, so it listens on a loopback address only (such as 127.0.0.1:4222)", o.NATSListen)
		}
		cfg.NATS.AllowAnonymous = true
	}
	cfg.NATS.SyncAlways = false // a demo: speed over power-loss durability
	cfg.Logout.Deadline = config.Duration(8 * time.Second)
	cfg.Backchannel.AttemptTimeout = config.Duration(time.Second)
	cfg.Redirects.DefaultURL = idp.url + "/"
	cfg.Redirects.AllowedDomains = o.AllowedDomains
	cfg.Upstreams = append(cfg.Upstreams, up.config())
	for _, r := range rps {
		oc := &config.OIDC{ClientID: r.id, LogoutTokenAlg: config.AlgES256, LogoutTokenTyp: config.TypLogoutJWT,
			PostLogoutRedirectURIs: []string{r.byeURI()}}
		if r.kind == kindFrontchannel || r.kind == kindSilent {
			oc.FrontchannelLogoutURI, oc.FrontchannelLogoutSessionRequired = r.logoutURI(), true
		} else {
			oc.BackchannelLogoutURI, oc.BackchannelLogoutSessionRequired = r.logoutURI(), true
		}
		cfg.RelyingParties = append(cfg.RelyingParties, config.RelyingParty{ID: r.id, Name: r.name, OIDC: oc})
	}
	if alerts != nil {
		hdr, err := alerts.headerFile(o.DataDir)
		if err != nil {
			return err
		}
		alerts.issuer, alerts.jwks = cfg.Issuer, signoffURL+"/jwks.json"
		cfg.RelyingParties = append(cfg.RelyingParties, config.RelyingParty{ID: alerts.id, Name: alerts.name, SSF: &config.SSFReceiver{
			Delivery: config.SSFDeliveryPush, EndpointURL: alerts.url + "/ssf/events", AuthorizationHeaderFile: hdr, Audience: alerts.url}})
		idp.extra = append(idp.extra, alerts.id)
	}
	for _, sp := range []*samlSP{sp, soapSP} {
		if sp == nil {
			continue
		}
		path, err := sp.writeMetadata(o.DataDir)
		if err != nil {
			return err
		}
		sp.signoff = signoffURL
		cfg.RelyingParties = append(cfg.RelyingParties, config.RelyingParty{ID: sp.id, Name: sp.name,
			SAML: &config.SAML{MetadataFile: path, MetadataPath: path, FrontchannelMode: config.SAMLModeRedirect}})
	}
	// The stand-in IdP is also a Shared Signals transmitter (ssf.go).
	ssf, err := newDemoSSF(idp.url, signoffURL)
	if err != nil {
		return err
	}
	tr, err := ssf.transmitter(o.DataDir)
	if err != nil {
		return err
	}
	cfg.SSF.Transmitters = append(cfg.SSF.Transmitters, tr)
	idp.ssf = ssf
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("demo configuration: %w", err)
	}
	a, err := app.Start(ctx, app.Options{Config: cfg, Logger: o.Logger, Listener: listener})
	if err != nil {
		listener.Close()
		return err
	}
	defer func() {
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		a.Close(sctx)
	}()
	for _, r := range rps {
		if err := r.wire(cfg.Issuer, signoffURL, signoffURL+"/jwks.json"); err != nil {
			return err
		}
	}
	nc, err := a.Bus().Connect("demo")
	if err != nil {
		return err
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	idp.signoffURL, idp.cookie, idp.rps, idp.js = signoffURL, cfg.Session.CookieName, rps, js
	idp.issuer, idp.keys = cfg.Issuer, a.Keys()
	idp.registered = a.Store().SessionCount
	idp.saml, idp.soapSP = sp, soapSP
	if err := up.serve(upListener, signoffURL, idp.url+"/signin/upstream", nc); err != nil {
		return err
	}
	defer up.close()
	idp.upstream = up
	idp.serve(idpListener)
	defer idp.srv.Close()

	names := map[string]string{"signoff": "This sign-in service"}
	for _, r := range rps {
		names[r.id] = r.name
	}
	if alerts != nil {
		names[alerts.id] = alerts.name
	}
	for _, sp := range []*samlSP{sp, soapSP} {
		if sp != nil {
			names[sp.id] = sp.name
		}
	}
	live, err := printLive(nc, out, names)
	if err != nil {
		return err
	}
	defer live.stop()

	urls := URLs{IdP: idp.url + "/", Signoff: signoffURL, Notes: rps[0].url + "/", Wiki: rps[1].url + "/", Chat: rps[2].url + "/",
		Upstream: up.url + "/"}
	fmt.Fprintf(out, "signoff demo is running\n\n  Open %s in your browser: sign in, visit the apps, then \"Sign out everywhere\"\n  (or \"Sign out\" in one app: signoff asks \"this app only or everywhere\").\n\n", urls.IdP)
	fmt.Fprintf(out, "  signoff  %s  (/jwks.json, /healthz, /metrics)\n", signoffURL)
	if u := a.Bus().ClientURL(); u != "" {
		fmt.Fprintf(out, "  NATS     %s  (publish your own signoff.session.joined / signoff.logout.requested)\n", u)
		fmt.Fprintf(out, "           anonymous access with every permission, on loopback only: a demo, not a deployment (see nats.users)\n")
	}
	fmt.Fprintf(out, "  Notes    %s  back-channel logout\n  Wiki     %s  front-channel logout (iframe)\n  Chat     %s  its logout endpoint is down (503)\n",
		urls.Notes, urls.Wiki, urls.Chat)
	if alerts != nil {
		urls.Alerts = alerts.url + "/ssf/events"
		fmt.Fprintf(out, "  Alerts   %s  Shared Signals receiver: a pushed CAEP session-revoked SET\n", urls.Alerts)
	}
	if sp != nil {
		urls.Payroll = sp.url + "/"
		fmt.Fprintf(out, "  Payroll  %s  SAML SP: HTTP-Redirect Single Logout (a top-level hop), and its own Sign out\n", urls.Payroll)
	}
	fmt.Fprint(out, ssf.instructions(signoffURL))
	fmt.Fprintln(out)
	if soapSP != nil {
		urls.Expenses = soapSP.url + "/"
	}
	printUpstream(out, urls.Upstream, urls.Expenses)
	if o.Ready != nil {
		o.Ready(urls)
	}
	if !o.Once {
		<-ctx.Done()
		return nil
	}
	return scripted(ctx, out, a, idp, []*rp{rps[0], rps[2]}, live)
}

// syncWriter serialises writes to w.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// scripted signs a user in to the back-channel RPs and out again, without
// a browser. The outcome is printed once, by live (as for every logout);
// scripted waits until it has been, so that Run returns after it.
func scripted(ctx context.Context, out io.Writer, a *app.App, p *idp, rps []*rp, live *liveOutput) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	session, err := p.signIn(ctx, "alice", rps)
	if err != nil {
		return err
	}
	also := ""
	if len(p.extra) > 0 {
		also = " (and " + strings.Join(p.extra, ", ") + ")"
	}
	fmt.Fprintf(out, "alice signed in to Notes and Chat%s (session %s)\nalice signs out everywhere:\n", also, session[:8])
	nc, err := a.Bus().Connect("demo-logout")
	if err != nil {
		return err
	}
	defer nc.Close()
	logoutID := uuid.NewString()
	printed := live.expect(logoutID)
	if _, err := client.Logout(ctx, nc, events.LogoutRequested{LogoutID: logoutID, SessionID: session, Initiator: events.InitiatorUser, Scope: events.ScopeGlobal}, nil); err != nil {
		return err
	}
	select {
	case <-printed:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("demo: the outcome of logout %s was not printed: %w", short(logoutID), ctx.Err())
	}
}

// liveOutput prints every participant result and completion on the bus
// (printLive).
type liveOutput struct {
	mu      sync.Mutex
	stopped bool
	start   map[string]time.Time
	// printed[logoutID], for the logouts someone expects, is closed once
	// the logout's outcome is printed.
	printed map[string]chan struct{}
	// reported[logoutID] are the participants whose logout.result was
	// printed; the others are printed from logout.completed.
	reported map[string]map[string]bool
	sub      *nats.Subscription
}

// expect returns a channel closed once the outcome of logoutID has been
// printed; call it before the logout is requested.
func (l *liveOutput) expect(logoutID string) <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	ch := make(chan struct{})
	l.printed[logoutID] = ch
	return ch
}

// stop ends printing; it waits for a message being printed, so nothing is
// written to out once it returns.
func (l *liveOutput) stop() {
	l.sub.Unsubscribe()
	l.mu.Lock()
	l.stopped = true
	l.mu.Unlock()
}

// printLive prints every participant result and completion on the bus.
func printLive(nc *nats.Conn, out io.Writer, names map[string]string) (*liveOutput, error) {
	l := &liveOutput{start: map[string]time.Time{}, printed: map[string]chan struct{}{}, reported: map[string]map[string]bool{}}
	start := l.start
	var err error
	l.sub, err = nc.Subscribe("signoff.logout.>", func(m *nats.Msg) {
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.stopped {
			return
		}
		ev, err := events.DecodeSubject(m.Subject, m.Data)
		if err != nil {
			return
		}
		switch ev := ev.(type) {
		case events.Dispatch:
			if _, ok := start[ev.LogoutID]; !ok {
				start[ev.LogoutID] = time.Now()
				fmt.Fprintf(out, "logout %s started\n", short(ev.LogoutID))
			}
		case events.Result:
			name := names[ev.RPID]
			if name == "" {
				name = ev.RPID
			}
			fmt.Fprintf(out, "  %-22s %-10s attempts=%d %s (+%v)\n", name, ev.Outcome, ev.Attempts, detail(ev.Detail), since(start[ev.LogoutID]))
			if l.reported[ev.LogoutID] == nil {
				l.reported[ev.LogoutID] = map[string]bool{}
			}
			l.reported[ev.LogoutID][ev.RPID] = true
		case events.Completed:
			// Participants no adapter reported on (a front-channel frame
			// or a browser SAML hop with no browser to take it, e.g. in a
			// logout from an upstream IdP): the coordinator's verdict.
			for _, p := range ev.Participants {
				if !l.reported[ev.LogoutID][p.RPID] && p.Outcome != events.OutcomeSucceeded {
					fmt.Fprintf(out, "  %-22s %-10s %s (+%v)\n", p.Name, p.Outcome, detail(p.Detail), since(start[ev.LogoutID]))
				}
			}
			delete(l.reported, ev.LogoutID)
			fmt.Fprintf(out, "logout %s: %s (+%v)\n", short(ev.LogoutID), ev.Outcome, since(start[ev.LogoutID]))
			if ev.Detail != "" {
				fmt.Fprintf(out, "  %s\n", ev.Detail) // e.g. no session was known: not a bare "complete"
			}
			fmt.Fprintf(out, "  %s\n\n", client.Summary(ev))
			if ch, ok := l.printed[ev.LogoutID]; ok {
				close(ch)
				delete(l.printed, ev.LogoutID)
			}
		}
	})
	if err != nil {
		return nil, err
	}
	return l, nil
}

func since(t time.Time) time.Duration {
	if t.IsZero() {
		return 0
	}
	return time.Since(t).Round(time.Millisecond)
}

// short is a logout id as the terminal shows it: the first 8 hex digits
// of a UUID, or for a derived id ("ssf-demo-idp-…", "upstream-corp-…")
// its prefix and its last 6 characters, so that two logouts of one source
// can be told apart.
func short(id string) string {
	switch {
	case len(id) > 8 && isHex(id[:8]):
		return id[:8]
	case len(id) <= 16:
		return id
	}
	return id[:8] + "…" + id[len(id)-6:]
}

func isHex(s string) bool {
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdefABCDEF", c) {
			return false
		}
	}
	return true
}

func detail(d string) string {
	if d == "" {
		return ""
	}
	return "— " + d
}
