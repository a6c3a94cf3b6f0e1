package demo

// Browser tests: the demo in process, driven by a real headless Chromium
// through chromedp. Each test has its own demo (its own signoff, IdP and RPs)
// and its own browser context (its own cookies); the tests share one
// Chromium process, except TestContinueGoesToValidatedRD, which needs
// resolver flags of its own. Every page's console is watched: a JavaScript
// exception, a console.error or a Content-Security-Policy violation fails
// the test.

import (
	"bytes"
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"image"
	_ "image/png"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/signoff/signoff/coordinator/bus/natstest"
	"github.com/signoff/signoff/events/eventstest"
)

// testTimeout bounds each browser test.
const testTimeout = 60 * time.Second

var logoutPath = regexp.MustCompile(`^/logout/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)

// The shared Chromium, started by the first test that needs it and stopped
// by TestMain.
var shared struct {
	once sync.Once
	root context.Context // a chromedp context whose browser runs
	err  error
	stop func()
}

func TestMain(m *testing.M) {
	flag.Parse()
	// The browser tests spend their time waiting for logout deadlines, not
	// computing: run 4 at once, also where GOMAXPROCS (the default of
	// -parallel) is 2, unless -parallel was given. (8 at once, each with
	// its own signoff, NATS and Chromium tab, starved the 8-second logout
	// deadlines under -race on 2 cores.)
	explicit := false
	flag.Visit(func(f *flag.Flag) { explicit = explicit || f.Name == "test.parallel" })
	if !explicit {
		flag.Set("test.parallel", "4")
	}
	code := m.Run()
	if shared.stop != nil {
		shared.stop()
	}
	os.Exit(code)
}

// chromium returns the browser's path, or skips the test when there is
// none (fails it on CI, where the browser tests must run).
func chromium(t *testing.T) string {
	t.Helper()
	if st, err := os.Stat("/usr/bin/chromium"); err == nil && !st.IsDir() {
		return "/usr/bin/chromium"
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	const why = "chromium not found (neither /usr/bin/chromium nor chromium on PATH)"
	if os.Getenv("CI") == "true" {
		t.Fatal(why + "; CI=true needs the browser tests")
	}
	t.Skip(why + ": skipping the browser tests")
	return ""
}

// startBrowser starts a headless Chromium with a fresh profile in dir and
// returns a chromedp context on it and the func that stops it.
func startBrowser(execPath, dir string, extra ...chromedp.ExecAllocatorOption) (context.Context, func(), error) {
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(execPath),
		chromedp.UserDataDir(dir),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1000, 800),
	)
	opts = append(opts, extra...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	root, cancelRoot := chromedp.NewContext(allocCtx)
	stop := func() { cancelRoot(); cancelAlloc() }
	// The first Do starts the browser and binds it to root (no timeout),
	// so a watchdog bounds the start instead.
	watchdog := time.AfterFunc(30*time.Second, stop)
	err := chromedp.Do(root)
	if !watchdog.Stop() && err == nil {
		err = fmt.Errorf("chromium did not start within 30s")
	}
	if err != nil {
		stop()
		return nil, nil, fmt.Errorf("starting chromium: %w", err)
	}
	return root, stop, nil
}

// sharedBrowser returns the Chromium shared by the tests.
func sharedBrowser(t *testing.T) context.Context {
	t.Helper()
	path := chromium(t)
	shared.once.Do(func() {
		dir, err := os.MkdirTemp("", "signoff-chromium-")
		if err != nil {
			shared.err = err
			return
		}
		root, stop, err := startBrowser(path, dir)
		if err != nil {
			os.RemoveAll(dir)
			shared.err = err
			return
		}
		shared.root = root
		shared.stop = func() { stop(); os.RemoveAll(dir) }
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.root
}

// newTab opens a tab in a new browser context (its own cookies) of the
// browser of root, watches its console, and returns it with the test's
// timeout.
func newTab(t *testing.T, root context.Context) context.Context {
	t.Helper()
	tab, cancel := chromedp.NewContext(root, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("opening a tab: %v", err)
	}
	c := watchConsole(tab)
	t.Cleanup(func() {
		bad, other := c.finish()
		for _, m := range other {
			t.Logf("browser console (not an error here): %s", m)
		}
		for _, m := range bad {
			t.Errorf("browser console: %s", m)
		}
	})
	ctx, cancelTimeout := context.WithTimeout(tab, testTimeout)
	t.Cleanup(cancelTimeout)
	return ctx
}

// console collects the console of a tab (its frames included): bad are the
// JavaScript exceptions, console.error calls and Content-Security-Policy
// violations, which fail a test; other are the other errors and warnings
// (a 404 of /favicon.ico, the expected 404 pages, Chromium's note on
// sandboxed iframes), which are only logged.
type console struct {
	mu         sync.Mutex
	bad, other []string
	cancel     func()
	done       chan struct{}
}

func watchConsole(tab context.Context) *console {
	ctx, cancel := context.WithCancel(tab)
	c := &console{cancel: cancel, done: make(chan struct{})}
	messages := chromedp.Console(ctx)
	go func() {
		defer close(c.done)
		for m, err := range messages {
			if err != nil {
				return
			}
			c.mu.Lock()
			if serious(m) {
				c.bad = append(c.bad, describe(m))
			} else if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleWarning {
				c.other = append(c.other, describe(m))
			}
			c.mu.Unlock()
		}
	}()
	return c
}

func (c *console) badCount() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.bad)
}

// finish stops watching and returns what was seen.
func (c *console) finish() (bad, other []string) {
	c.cancel()
	<-c.done
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bad, c.other
}

func serious(m chromedp.ConsoleMessage) bool {
	text := strings.ToLower(m.Text)
	return m.IsException() ||
		(m.Type == chromedp.ConsoleError && (m.Source == "" || m.Source == "security")) || // console.error, CSP
		strings.Contains(text, "content security policy") || strings.Contains(text, "content-security-policy")
}

func describe(m chromedp.ConsoleMessage) string {
	s := fmt.Sprintf("[%s", m.Type)
	if m.Source != "" {
		s += " " + m.Source
	}
	s += "] " + m.String()
	if m.URL != "" {
		s += fmt.Sprintf(" (%s:%d)", m.URL, m.Line+1)
	}
	return s
}

// TestBrowserConsoleWatcher proves that the console watcher of the other
// tests sees what it must fail them on: a CSP violation (an inline script
// without the nonce, an image from another origin), an uncaught exception
// and a console.error, in the page and in a cross-origin iframe.
func TestBrowserConsoleWatcher(t *testing.T) {
	t.Parallel()
	root := sharedBrowser(t)
	tab, cancel := chromedp.NewContext(root, chromedp.WithNewBrowserContext())
	defer cancel()
	if err := chromedp.Do(tab); err != nil {
		t.Fatal(err)
	}
	c := watchConsole(tab)
	frame := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'none'")
		fmt.Fprint(w, `<!doctype html><script>parent.postMessage("x", "*")</script>`)
	}))
	defer frame.Close()
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'none'; script-src 'nonce-n'; frame-src "+frame.URL)
		fmt.Fprintf(w, `<!doctype html><p id="p">page</p><img src="https://other.invalid/x.png">
<script>document.title = "blocked"</script>
<script nonce="n">console.error("an error"); setTimeout(function () { throw new Error("boom") }, 0)</script>
<iframe src="%s/"></iframe>`, frame.URL)
	}))
	defer page.Close()
	ctx, cancelTimeout := context.WithTimeout(tab, 20*time.Second)
	defer cancelTimeout()
	if err := chromedp.Do(ctx, chromedp.Navigate(page.URL)); err != nil {
		t.Fatal(err)
	}
	eventstest.Eventually(t, 20*time.Second, func() bool { return c.badCount() >= 5 }, "waiting for five console messages")
	bad, _ := c.finish()
	all := strings.Join(bad, "\n")
	for _, want := range []string{
		"Loading the image 'https://other.invalid/x.png' violates",
		page.URL + "/:2", // the inline script without nonce
		"an error",       // console.error
		"Uncaught Error: boom",
		frame.URL + "/:1", // the iframe's inline script
	} {
		if !strings.Contains(all, want) {
			t.Errorf("the console watcher did not report %q; it saw:\n%s", want, all)
		}
	}
}

// lockedBuffer collects the demo's output, written from several goroutines.
type lockedBuffer = natstest.LogBuffer

// startDemo runs the demo in process until the test ends, and returns its
// URLs. Its output is logged when the test fails.
func startDemo(t *testing.T, o Options) URLs {
	t.Helper()
	u, _ := startDemoOutput(t, o)
	return u
}

// startDemoOutput is startDemo that also returns the demo's output (what
// signoff logs at Warn and above, the live outcomes, and what the demo
// apps print of the requests they verified).
func startDemoOutput(t *testing.T, o Options) (URLs, *lockedBuffer) {
	t.Helper()
	out := &lockedBuffer{}
	o.DataDir = t.TempDir()
	o.Logger = slog.New(slog.NewTextHandler(out, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ready := make(chan URLs, 1)
	o.Ready = func(u URLs) { ready <- u }
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- Run(ctx, out, o) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("demo: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("the demo did not stop within 30s")
		}
		if t.Failed() {
			t.Logf("demo output:\n%s", out.String())
		}
	})
	select {
	case u := <-ready:
		return u, out
	case err := <-errc:
		t.Fatalf("demo: %v\n%s", err, out.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("the demo was not ready within 30s\n%s", out.String())
	}
	return URLs{}, nil
}

// do runs steps within d.
func do(t *testing.T, ctx context.Context, d time.Duration, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// run runs a within d and returns its value.
func run[T any](t *testing.T, ctx context.Context, d time.Duration, what string, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// text is the visible text of the first element that sel matches.
func text(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	return strings.TrimSpace(run(t, ctx, 15*time.Second, "reading "+sel, chromedp.Text(chromedp.CSS(sel))))
}

func href(t *testing.T, ctx context.Context, sel string) string {
	t.Helper()
	a := run(t, ctx, 15*time.Second, "reading the href of "+sel, chromedp.AttributeValue(chromedp.CSS(sel), "href"))
	if !a.Exists {
		t.Fatalf("%s has no href", sel)
	}
	return a.Value
}

// signIn signs alice in through the demo IdP (and through every RP's login).
func signIn(t *testing.T, ctx context.Context, u URLs) {
	t.Helper()
	do(t, ctx, 20*time.Second, "signing in",
		chromedp.Navigate(u.IdP),
		chromedp.Click(chromedp.CSS("#signin")),
		chromedp.WaitVisible(chromedp.CSS("#signout")),
	)
	if got := text(t, ctx, "#status"); got != "You are signed in as alice." {
		t.Fatalf("IdP home after sign-in says %q", got)
	}
}

// signOut clicks "Sign out everywhere" on the IdP home and returns the
// logout page's URL.
func signOut(t *testing.T, ctx context.Context, u URLs) string {
	t.Helper()
	do(t, ctx, 20*time.Second, "signing out",
		chromedp.Navigate(u.IdP),
		chromedp.Click(chromedp.CSS("#signout")),
		chromedp.WaitReady(chromedp.CSS("main[data-logout]")),
	)
	loc := run(t, ctx, 10*time.Second, "reading the location", chromedp.Location())
	checkLogoutURL(t, u, loc)
	return loc
}

func checkLogoutURL(t *testing.T, u URLs, loc string) {
	t.Helper()
	p, err := url.Parse(loc)
	if err != nil || p.Scheme+"://"+p.Host != u.Signoff || !logoutPath.MatchString(p.Path) {
		t.Fatalf("after sign-out the browser is at %q, want %s/logout/<uuid>", loc, u.Signoff)
	}
}

// rpStatus visits an RP's home page and returns what it says.
func rpStatus(t *testing.T, ctx context.Context, rpURL string) string {
	t.Helper()
	do(t, ctx, 15*time.Second, "visiting "+rpURL, chromedp.Navigate(rpURL))
	return text(t, ctx, "#status")
}

// waitDone waits until the logout page shows its outcome.
func waitDone(t *testing.T, ctx context.Context) {
	t.Helper()
	do(t, ctx, 25*time.Second, "waiting for the outcome of the sign-out", chromedp.WaitVisible(chromedp.CSS("#done")))
}

func wantRows(t *testing.T, ctx context.Context, want map[string]string) {
	t.Helper()
	for _, id := range []string{"signoff", "notes", "wiki", "chat"} {
		if got := text(t, ctx, "#p-"+id+" .state"); got != want[id] {
			t.Errorf("row %s says %q, want %q", id, got, want[id])
		}
	}
}

func screenshot(t *testing.T, ctx context.Context, width int64) []byte {
	t.Helper()
	do(t, ctx, 10*time.Second, "resizing the viewport", chromedp.EmulateViewport(width, 700))
	png := run(t, ctx, 15*time.Second, "taking a screenshot", chromedp.FullScreenshot(100))
	cfg, format, err := image.DecodeConfig(bytes.NewReader(png))
	if err != nil || format != "png" {
		t.Fatalf("screenshot at %dpx: not a PNG (%q, %v)", width, format, err)
	}
	if int64(cfg.Width) != width {
		t.Errorf("screenshot at %dpx is %d px wide", width, cfg.Width)
	}
	return png
}

func TestBrowserSignOutEverywhere(t *testing.T) {
	t.Parallel()
	ctx := newTab(t, sharedBrowser(t))
	u := startDemo(t, Options{})

	signIn(t, ctx, u)
	for _, r := range []struct{ name, url string }{{"Notes", u.Notes}, {"Wiki", u.Wiki}, {"Chat", u.Chat}} {
		if got, want := rpStatus(t, ctx, r.url), "You are signed in to "+r.name+" as alice."; got != want {
			t.Fatalf("%s says %q before the sign-out, want %q", r.name, got, want)
		}
	}

	signOut(t, ctx, u)
	waitDone(t, ctx)
	wantRows(t, ctx, map[string]string{
		"signoff": "Signed out", "notes": "Signed out", "wiki": "Signed out", "chat": "Not confirmed",
	})
	if got := text(t, ctx, "#p-signoff .name"); got != "This sign-in service" {
		t.Errorf("the local session's row is named %q", got)
	}
	// Plain words for the user; the HTTP 503 stays in the logs and events.
	if got := text(t, ctx, "#p-chat .detail"); got != "Chat did not confirm in time." {
		t.Errorf("Chat's detail %q, want \"Chat did not confirm in time.\"", got)
	}
	summary := text(t, ctx, "#done .summary")
	signedOut, notConfirmed, ok := strings.Cut(summary, ". ")
	if !ok || !strings.HasPrefix(signedOut, "You were signed out of ") ||
		!strings.Contains(signedOut, "this sign-in service") || !strings.Contains(signedOut, "Notes") ||
		!strings.Contains(signedOut, "Wiki") || strings.Contains(signedOut, "Chat") ||
		notConfirmed != "Chat did not confirm." {
		t.Errorf("summary %q, want \"You were signed out of this sign-in service, Notes and Wiki. Chat did not confirm.\"", summary)
	}
	if got := text(t, ctx, "#done .advice"); !strings.Contains(got, "Close your browser to be sure") {
		t.Errorf("advice %q lacks \"Close your browser to be sure\"", got)
	}
	if got := text(t, ctx, "#title"); got != "Sign-out not confirmed everywhere" {
		t.Errorf("title %q", got)
	}
	if visible := run(t, ctx, 5*time.Second, "reading #progress", chromedp.Evaluate[bool](
		`getComputedStyle(document.getElementById("progress")).display !== "none"`)); visible {
		t.Error("the progress note is still shown after the outcome")
	}

	wide := screenshot(t, ctx, 1000)
	screenshot(t, ctx, 320)
	if w := run(t, ctx, 5*time.Second, "measuring the page", chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); w > 320 {
		t.Errorf("at 320px the page is %d px wide: something overflows horizontally", w)
	}
	if os.Getenv("SIGNOFF_UPDATE_SCREENSHOT") == "1" {
		path := filepath.Join("..", "..", "..", "..", "web", "screenshots", "confirmation.png")
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, wide, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("wrote %s", path)
	}
	do(t, ctx, 5*time.Second, "restoring the viewport", chromedp.EmulateViewport(1000, 800))

	if got := href(t, ctx, "#done a.button"); got != u.IdP {
		t.Errorf("Continue goes to %q, want the default %q", got, u.IdP)
	}
	do(t, ctx, 15*time.Second, "following Continue",
		chromedp.Click(chromedp.CSS("#done a.button")),
		chromedp.WaitVisible(chromedp.CSS("#signin")),
	)
	if loc := run(t, ctx, 5*time.Second, "reading the location", chromedp.Location()); loc != u.IdP {
		t.Errorf("Continue led to %q, want %q", loc, u.IdP)
	}
	if got := text(t, ctx, "#status"); got != "You are not signed in." {
		t.Errorf("IdP home after the sign-out says %q", got)
	}
	// The truth: Notes and Wiki ended their sessions, Chat (503) did not.
	for _, r := range []struct{ name, url, want string }{
		{"Notes", u.Notes, "You are not signed in to Notes."},
		{"Wiki", u.Wiki, "You are not signed in to Wiki."},
		{"Chat", u.Chat, "You are signed in to Chat as alice."},
	} {
		if got := rpStatus(t, ctx, r.url); got != r.want {
			t.Errorf("%s says %q after the sign-out, want %q", r.name, got, r.want)
		}
	}
}

func TestContinueGoesToValidatedRD(t *testing.T) {
	t.Parallel()
	path := chromium(t)
	var (
		mu   sync.Mutex
		hits []string
	)
	app := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		hits = append(hits, r.Method+" "+r.Host+r.URL.RequestURI())
		mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, `<!doctype html><title>bye</title><p id="bye">Goodbye from app.example.com</p>`)
	}))
	app.TLS = &tls.Config{NextProtos: []string{"http/1.1"}}
	app.StartTLS()
	t.Cleanup(app.Close)
	port := app.Listener.Addr().(*net.TCPAddr).Port
	// app.example.com (port 443, as in rd) → the test server.
	root, stop, err := startBrowser(path, t.TempDir(),
		chromedp.Flag("host-resolver-rules", fmt.Sprintf("MAP app.example.com:443 127.0.0.1:%d", port)),
		chromedp.IgnoreCertErrors,
	)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	ctx := newTab(t, root)
	u := startDemo(t, Options{AllowedDomains: []string{"example.com"}})

	const rd = "https://app.example.com/bye"
	// First a refused rd (its saga runs on while the second one starts, so
	// that both end at about the same time): the page says so and Continue
	// goes to the default.
	signIn(t, ctx, u)
	do(t, ctx, 20*time.Second, "signing out with a refused rd",
		chromedp.Navigate(u.Signoff+"/logout?rd="+url.QueryEscape("https://evil.com/")),
		chromedp.WaitVisible(chromedp.CSS(".refused")),
	)
	loc := run(t, ctx, 5*time.Second, "reading the location", chromedp.Location())
	checkLogoutURL(t, u, loc)
	if !strings.HasSuffix(loc, "?refused=1") {
		t.Errorf("after a refused rd the browser is at %q, want ?refused=1", loc)
	}
	if note := text(t, ctx, ".refused"); !strings.Contains(note, "was refused") {
		t.Errorf("refusal note %q", note)
	}
	if got := href(t, ctx, "#done a.button"); got != u.IdP {
		t.Errorf("after a refused rd, Continue goes to %q, want the default %q", got, u.IdP)
	}
	// An allowed rd: Continue goes exactly there, after the outcome.
	signIn(t, ctx, u)
	do(t, ctx, 20*time.Second, "signing out with rd",
		chromedp.Navigate(u.Signoff+"/logout?rd="+url.QueryEscape(rd)),
		chromedp.WaitReady(chromedp.CSS("main[data-logout]")),
	)
	loc2 := run(t, ctx, 5*time.Second, "reading the location", chromedp.Location())
	checkLogoutURL(t, u, loc2)
	if strings.Contains(loc2, "refused") || strings.HasPrefix(loc, loc2) {
		t.Errorf("the second sign-out is at %q (the first at %q)", loc2, loc)
	}
	if n := run(t, ctx, 5*time.Second, "counting refusals", chromedp.Evaluate[int](`document.querySelectorAll(".refused").length`)); n != 0 {
		t.Errorf("an allowed rd shows a refusal note")
	}
	if got := href(t, ctx, "#done a.button"); got != rd {
		t.Fatalf("Continue goes to %q, want exactly %q", got, rd)
	}
	waitDone(t, ctx)
	mu.Lock()
	early := len(hits)
	mu.Unlock()
	if early != 0 {
		t.Errorf("the app got %d requests before Continue was clicked", early)
	}
	do(t, ctx, 15*time.Second, "following Continue",
		chromedp.Click(chromedp.CSS("#done a.button")),
		chromedp.WaitVisible(chromedp.CSS("#bye")),
	)
	if loc := run(t, ctx, 5*time.Second, "reading the location", chromedp.Location()); loc != rd {
		t.Errorf("Continue led to %q, want %q", loc, rd)
	}
	mu.Lock()
	got := append([]string(nil), hits...)
	mu.Unlock()
	if len(got) == 0 || got[0] != "GET app.example.com/bye" {
		t.Errorf("the app received %q, want [\"GET app.example.com/bye\"]", got)
	}
}

func TestFrontchannelWithoutAckIsNotConfirmed(t *testing.T) {
	t.Parallel()
	ctx := newTab(t, sharedBrowser(t))
	u := startDemo(t, Options{SilentWiki: true})

	signIn(t, ctx, u)
	signOut(t, ctx, u)
	waitDone(t, ctx)
	wantRows(t, ctx, map[string]string{
		"signoff": "Signed out", "notes": "Signed out", "wiki": "Not confirmed", "chat": "Not confirmed",
	})
	// Settled by the page's iframe timeout, not by the saga's deadline.
	if got := text(t, ctx, "#p-wiki .detail"); got != "Wiki did not confirm in time." {
		t.Errorf("Wiki's detail %q, want \"Wiki did not confirm in time.\" (the iframe timeout)", got)
	}
	summary := text(t, ctx, "#done .summary")
	signedOut, notConfirmed, _ := strings.Cut(summary, ". ")
	if strings.Contains(signedOut, "Wiki") || !strings.Contains(notConfirmed, "Wiki") ||
		!strings.Contains(notConfirmed, "did not confirm") || !strings.Contains(signedOut, "Notes") {
		t.Errorf("summary %q, want Notes signed out and Wiki not confirmed", summary)
	}
}

func TestSignOutWithoutJavaScript(t *testing.T) {
	t.Parallel()
	ctx := newTab(t, sharedBrowser(t))
	u := startDemo(t, Options{})
	if _, err := chromedp.Call(ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
		t.Fatalf("disabling JavaScript: %v", err)
	}

	signIn(t, ctx, u) // plain forms and redirects
	signOut(t, ctx, u)
	// Scripts are off: the page's script did not start the front-channel
	// iframe (it has no src); the <noscript> copy is in the document.
	if src := run(t, ctx, 5*time.Second, "reading the front-channel iframe",
		chromedp.AttributeValue(chromedp.CSS("iframe[data-rp=wiki]"), "src", chromedp.NodeReady)); src.Exists {
		t.Fatalf("the front-channel iframe has src %q: JavaScript ran", src.Value)
	}
	if src := run(t, ctx, 5*time.Second, "reading the <noscript> iframe",
		chromedp.AttributeValue(chromedp.CSS("noscript iframe"), "src", chromedp.NodeReady)); !strings.HasPrefix(src.Value, u.Wiki+"oidc/frontchannel?") {
		t.Errorf("the <noscript> iframe loads %q, want Wiki's front-channel logout", src.Value)
	}

	// Confirming the local session is an explicit step, the page's Confirm
	// button (a form POST); reading the page confirms nothing. A click may
	// meet a page being replaced by its refresh: click until the row says
	// so (the step is taken once).
	confirmCtx, cancelConfirm := context.WithTimeout(ctx, 20*time.Second)
	defer cancelConfirm()
	waitUntil(t, confirmCtx, "the local session confirmed by the Confirm button", func() bool {
		rctx, cancel := context.WithTimeout(confirmCtx, 2*time.Second)
		defer cancel()
		if state, err := chromedp.Run(rctx, chromedp.Text(chromedp.CSS("#p-signoff .state"))); err == nil && strings.TrimSpace(state) == "Signed out" {
			return true
		}
		chromedp.Run(rctx, chromedp.Click(chromedp.CSS(`form[action$="/confirm"] button`)))
		return false
	})

	// The page refreshes itself (<noscript><meta http-equiv=refresh>) until
	// the saga ends; each read may meet a page being replaced.
	pollCtx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	eventstest.Eventually(t, 20*time.Second, func() bool {
		rctx, cancel := context.WithTimeout(pollCtx, 2*time.Second)
		defer cancel()
		class, err := chromedp.Run(rctx, chromedp.AttributeValue(chromedp.CSS("#done"), "class", chromedp.NodeReady))
		return err == nil && !strings.Contains(" "+class.Value+" ", " hidden ")
	}, "waiting for the outcome on the page without JavaScript")
	if got := text(t, ctx, "#title"); got == "Signing you out…" || got == "" {
		t.Errorf("title %q after the outcome", got)
	}
	wantRows(t, ctx, map[string]string{
		"signoff": "Signed out", "notes": "Signed out", "wiki": "Not confirmed", "chat": "Not confirmed",
	})
	summary := text(t, ctx, "#done .summary")
	if signedOut, notConfirmed, _ := strings.Cut(summary, ". "); !strings.Contains(signedOut, "Notes") ||
		!strings.Contains(notConfirmed, "Wiki") || !strings.Contains(notConfirmed, "Chat") {
		t.Errorf("summary %q", summary)
	}
	if got := href(t, ctx, "#done a.button"); got != u.IdP {
		t.Errorf("Continue goes to %q, want %q", got, u.IdP)
	}
}

func TestOtherBrowserGets404(t *testing.T) {
	t.Parallel()
	root := sharedBrowser(t)
	a := newTab(t, root)
	u := startDemo(t, Options{})

	signIn(t, a, u)
	loc := signOut(t, a, u)
	id := strings.TrimPrefix(loc, u.Signoff+"/logout/")
	if got := run(t, a, 5*time.Second, "reading the logout id", chromedp.AttributeValue(chromedp.CSS("main[data-logout]"), "data-logout")); got.Value != id {
		t.Fatalf("browser A's page shows logout %q, want %q", got.Value, id)
	}

	// Browser B: another browser context, so none of A's cookies.
	b := newTab(t, root)
	for _, p := range []string{loc, loc + "/events", u.Signoff + "/api/logouts/" + id} {
		resp := run(t, b, 15*time.Second, "opening "+p+" in browser B", chromedp.NavigateResponse(p))
		if resp == nil || resp.Status != http.StatusNotFound {
			t.Errorf("browser B: %s answered %+v, want 404", p, resp)
			continue
		}
		body := text(t, b, "body")
		if body != "404 page not found" {
			t.Errorf("browser B: %s shows %q, want \"404 page not found\"", p, body)
		}
	}
	// Browser A still sees its page (the 404 is about the browser, not the
	// logout).
	resp := run(t, a, 15*time.Second, "reloading the page in browser A", chromedp.NavigateResponse(loc))
	if resp == nil || resp.Status != http.StatusOK {
		t.Fatalf("browser A: %s answered %+v, want 200", loc, resp)
	}
	if n := run(t, a, 5*time.Second, "counting rows", chromedp.Evaluate[int](`document.querySelectorAll("ul.apps li").length`)); n != 4 {
		t.Errorf("browser A's page has %d rows, want 4", n)
	}
}

// rowStates reads the logout page's rows: rp_id → the state it shows.
func rowStates(t *testing.T, ctx context.Context) map[string]string {
	t.Helper()
	return run(t, ctx, 5*time.Second, "reading the rows", chromedp.Evaluate[map[string]string](
		`Object.fromEntries(Array.from(document.querySelectorAll("ul.apps li"), li => [li.id.replace(/^p-/, ""), li.querySelector(".state").textContent.trim()]))`))
}

// rpSignOut opens an RP's home page, checks its "Sign out" link (signoff's
// end_session with the RP's ID Token, its /bye and a state), follows it to
// signoff's chooser and returns the state.
func rpSignOut(t *testing.T, ctx context.Context, u URLs, rpURL string) string {
	t.Helper()
	do(t, ctx, 15*time.Second, "visiting "+rpURL, chromedp.Navigate(rpURL))
	link, err := url.Parse(href(t, ctx, "#rp-signout"))
	if err != nil {
		t.Fatal(err)
	}
	q := link.Query()
	if got := link.Scheme + "://" + link.Host + link.Path; got != u.Signoff+"/oidc/end_session" {
		t.Fatalf("%s's Sign out goes to %q, want signoff's end_session", rpURL, got)
	}
	if got := q.Get("post_logout_redirect_uri"); got != rpURL+"bye" {
		t.Errorf("post_logout_redirect_uri %q, want %q", got, rpURL+"bye")
	}
	if strings.Count(q.Get("id_token_hint"), ".") != 2 {
		t.Errorf("id_token_hint %q is not a JWS", q.Get("id_token_hint"))
	}
	state := q.Get("state")
	if state == "" {
		t.Fatal("the Sign out link has no state")
	}
	do(t, ctx, 15*time.Second, "following Sign out",
		chromedp.Click(chromedp.CSS("#rp-signout")),
		chromedp.WaitVisible(chromedp.CSS("#everywhere")),
	)
	if loc := run(t, ctx, 5*time.Second, "reading the location", chromedp.Location()); !strings.HasPrefix(loc, u.Signoff+"/oidc/end_session?") {
		t.Fatalf("Sign out led to %q, want signoff's chooser", loc)
	}
	return state
}

// followContinue checks that Continue leads exactly to the RP's /bye with
// state, follows it and checks what the RP says.
func followContinue(t *testing.T, ctx context.Context, rpURL, name, state string) {
	t.Helper()
	want := rpURL + "bye?state=" + url.QueryEscape(state)
	if got := href(t, ctx, "#done a.button"); got != want {
		t.Fatalf("Continue goes to %q, want exactly %q", got, want)
	}
	do(t, ctx, 15*time.Second, "following Continue",
		chromedp.Click(chromedp.CSS("#done a.button")),
		chromedp.WaitVisible(chromedp.CSS("#bye")),
	)
	if loc := run(t, ctx, 5*time.Second, "reading the location", chromedp.Location()); loc != want {
		t.Errorf("Continue led to %q, want %q", loc, want)
	}
	if got := text(t, ctx, "#bye"); got != "You left "+name+"." {
		t.Errorf("%s's /bye says %q", name, got)
	}
}

// TestThisAppOnlyOrEverywhere: RP-initiated logout from an app's own
// "Sign out" (id_token_hint, post_logout_redirect_uri, state). "This app
// only" ends that app's session and leaves the other apps and the IdP
// session signed in; "everywhere" signs out of all of them. Each time
// Continue returns to the app's /bye with its state.
func TestThisAppOnlyOrEverywhere(t *testing.T) {
	t.Parallel()
	ctx := newTab(t, sharedBrowser(t))
	u := startDemo(t, Options{})

	signIn(t, ctx, u)
	for _, r := range []struct{ name, url string }{{"Notes", u.Notes}, {"Wiki", u.Wiki}, {"Chat", u.Chat}} {
		if got, want := rpStatus(t, ctx, r.url), "You are signed in to "+r.name+" as alice."; got != want {
			t.Fatalf("%s says %q after sign-in, want %q", r.name, got, want)
		}
	}

	// Notes: "Sign out of Notes only".
	state := rpSignOut(t, ctx, u, u.Notes)
	if got := text(t, ctx, "#apps"); !strings.Contains(got, "You are signed in to Notes, Wiki and Chat.") {
		t.Errorf("the chooser says %q, want it to list Notes, Wiki and Chat", got)
	}
	for _, id := range []string{"notes", "wiki", "chat"} {
		if got := text(t, ctx, "#app-"+id+" .state"); got != "Signed in" {
			t.Errorf("the chooser shows %s as %q, want \"Signed in\"", id, got)
		}
	}
	if got := text(t, ctx, "#only"); got != "Sign out of Notes only" {
		t.Errorf("the 'this app only' button says %q", got)
	}
	if got := text(t, ctx, "#everywhere"); got != "Sign out everywhere" {
		t.Errorf("the 'everywhere' button says %q", got)
	}
	do(t, ctx, 20*time.Second, "choosing Notes only",
		chromedp.Click(chromedp.CSS("#only")),
		chromedp.WaitReady(chromedp.CSS("main[data-logout]")),
	)
	checkLogoutURL(t, u, run(t, ctx, 5*time.Second, "reading the location", chromedp.Location()))
	waitDone(t, ctx)
	if got := rowStates(t, ctx); len(got) != 1 || got["notes"] != "Signed out" {
		t.Errorf("after 'Notes only' the page shows %v, want only Notes \"Signed out\"", got)
	}
	if got := text(t, ctx, "#title"); got != "You are signed out of Notes" {
		t.Errorf("title %q, want \"You are signed out of Notes\"", got)
	}
	if got := text(t, ctx, "#done .summary"); !strings.HasPrefix(got, "You are signed out of Notes. You are still signed in to ") ||
		!strings.Contains(got, "Wiki") || !strings.Contains(got, "Chat") {
		t.Errorf("summary %q, want \"You are signed out of Notes. You are still signed in to Wiki and Chat.\"", got)
	}
	followContinue(t, ctx, u.Notes, "Notes", state)
	for _, r := range []struct{ name, url, want string }{
		{"Notes", u.Notes, "You are not signed in to Notes."},
		{"Wiki", u.Wiki, "You are signed in to Wiki as alice."},
		{"Chat", u.Chat, "You are signed in to Chat as alice."},
		{"the IdP", u.IdP, "You are signed in as alice."}, // the IdP session was kept
	} {
		if got := rpStatus(t, ctx, r.url); got != r.want {
			t.Errorf("after 'Notes only' %s says %q, want %q", r.name, got, r.want)
		}
	}

	// Wiki: "Sign out everywhere".
	state = rpSignOut(t, ctx, u, u.Wiki)
	if got := text(t, ctx, "#apps"); !strings.Contains(got, "You are signed in to Wiki and Chat.") {
		t.Errorf("the chooser says %q, want it to list Wiki and Chat", got)
	}
	if got := text(t, ctx, "#only"); got != "Sign out of Wiki only" {
		t.Errorf("the 'this app only' button says %q", got)
	}
	do(t, ctx, 20*time.Second, "choosing everywhere",
		chromedp.Click(chromedp.CSS("#everywhere")),
		chromedp.WaitReady(chromedp.CSS("main[data-logout]")),
	)
	checkLogoutURL(t, u, run(t, ctx, 5*time.Second, "reading the location", chromedp.Location()))
	waitDone(t, ctx)
	want := map[string]string{"signoff": "Signed out", "wiki": "Signed out", "chat": "Not confirmed"}
	if got := rowStates(t, ctx); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("after 'everywhere' the page shows %v, want %v", got, want)
	}
	followContinue(t, ctx, u.Wiki, "Wiki", state)
	for _, r := range []struct{ name, url, want string }{
		{"Wiki", u.Wiki, "You are not signed in to Wiki."},
		{"Notes", u.Notes, "You are not signed in to Notes."},
		{"Chat", u.Chat, "You are signed in to Chat as alice."}, // its logout endpoint is down: the truth
		{"the IdP", u.IdP, "You are not signed in."},
	} {
		if got := rpStatus(t, ctx, r.url); got != r.want {
			t.Errorf("after 'everywhere' %s says %q, want %q", r.name, got, r.want)
		}
	}
}
