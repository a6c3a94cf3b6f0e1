package app

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/signoff/signoff/events"
	"github.com/signoff/signoff/web"
)

// adapterAs is the adapter of a with type (or capability) T.
func adapterAs[T any](t testing.TB, a *App) T {
	t.Helper()
	ad, ok := adapterOf[T](a.adapters)
	if !ok {
		t.Fatalf("no adapter of type %T", ad)
	}
	return ad
}

// TestAdapterPort: every adapter of adapterKinds is built, in order, with
// the capabilities of its shape; the Dispatchers, and only they, get a work
// consumer on their dispatch subject; Close stops everything.
func TestAdapterPort(t *testing.T) {
	a := startApp(t, testConfig(t, 5*time.Second, newTestRP(t, "wiki", "RS256")))
	type caps struct{ dispatcher, browser, local, routes, metered, closer, longPolls bool }
	want := []struct {
		name events.Adapter
		caps caps
	}{
		{events.AdapterBackchannel, caps{dispatcher: true, metered: true, closer: true}},
		{events.AdapterFrontchannel, caps{browser: true}},
		{events.AdapterCookie, caps{local: true}},
		{events.AdapterSAML, caps{dispatcher: true, browser: true, routes: true, metered: true, closer: true}},
		{events.AdapterSSF, caps{dispatcher: true, routes: true, closer: true, longPolls: true}},
	}
	if len(a.adapters) != len(want) {
		t.Fatalf("%d adapters, want %d", len(a.adapters), len(want))
	}
	for i, w := range want {
		ad := a.adapters[i]
		if ad.Name() != w.name {
			t.Errorf("adapter %d is %q, want %q", i, ad.Name(), w.name)
		}
		_, d := ad.(Dispatcher)
		_, b := ad.(BrowserStep)
		_, l := ad.(LocalSession)
		_, r := ad.(Routes)
		_, m := ad.(Metered)
		_, c := ad.(Closer)
		_, p := ad.(LongPolls)
		if got := (caps{d, b, l, r, m, c, p}); got != w.caps {
			t.Errorf("%s: capabilities %+v, want %+v", w.name, got, w.caps)
		}
	}
	var consumers []string
	for _, w := range a.work {
		consumers = append(consumers, w.Name())
	}
	if wantC := []string{"adapter-backchannel", "adapter-saml", "adapter-ssf"}; !slices.Equal(consumers, wantC) {
		t.Errorf("work consumers %v, want %v", consumers, wantC)
	}
	if err := a.Close(context.Background()); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := a.readyErr(); err == nil {
		t.Error("ready after Close")
	}
}

// fakeStep is a BrowserStep of fixed rp ids.
type fakeStep struct {
	name    events.Adapter
	rps     []string
	origins []string
	timeout time.Duration
	acks    *[]string
}

func (f fakeStep) Name() events.Adapter     { return f.name }
func (f fakeStep) Handles(rpID string) bool { return slices.Contains(f.rps, rpID) }
func (f fakeStep) Origins() []string        { return f.origins }
func (f fakeStep) Timeout() time.Duration   { return f.timeout }
func (f fakeStep) Frame(_, rpID, _ string) (web.Frame, bool) {
	return web.Frame{RPID: rpID, Name: string(f.name)}, f.Handles(rpID)
}
func (f fakeStep) Ack(_ context.Context, _, rpID, _, _, _ string) error {
	*f.acks = append(*f.acks, string(f.name)+"/"+rpID)
	return nil
}

// TestFrames: the logout page's steps come from every BrowserStep: the
// frame and the acknowledgement go to the step that handles the rp_id,
// origins are merged without repeats, the timeout is the longest, and an
// acknowledgement for an rp_id no step handles is refused.
func TestFrames(t *testing.T) {
	var acks []string
	f := frames{
		fakeStep{name: "fc", rps: []string{"a"}, origins: []string{"https://a", "https://x"}, timeout: 5 * time.Second, acks: &acks},
		fakeStep{name: "saml", rps: []string{"b"}, origins: []string{"https://x", "https://b"}, timeout: 7 * time.Second, acks: &acks},
	}
	tests := []struct {
		rpID, step string
		ok         bool
	}{{"a", "fc", true}, {"b", "saml", true}, {"c", "", false}}
	for _, tt := range tests {
		fr, ok := f.Frame("L", tt.rpID, "")
		if ok != tt.ok || fr.Name != tt.step {
			t.Errorf("Frame(%s) = %+v, %v; want step %q, %v", tt.rpID, fr, ok, tt.step, tt.ok)
		}
	}
	if got, want := f.Origins(), []string{"https://a", "https://x", "https://b"}; !slices.Equal(got, want) {
		t.Errorf("origins %v, want %v", got, want)
	}
	if f.Timeout() != 7*time.Second {
		t.Errorf("timeout %v, want 7s", f.Timeout())
	}
	for _, rp := range []string{"b", "a"} {
		if err := f.Ack(context.Background(), "L", rp, "tok", "ok", ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Ack(context.Background(), "L", "c", "tok", "ok", ""); !errors.Is(err, errNoBrowserStep) {
		t.Errorf("ack of an unknown rp: %v, want errNoBrowserStep", err)
	}
	if want := []string{"saml/b", "fc/a"}; !slices.Equal(acks, want) {
		t.Errorf("acks %v, want %v", acks, want)
	}
}

// routesStep is an adapter with routes.
type routesStep map[string]http.Handler

func (routesStep) Name() events.Adapter                { return "r" }
func (r routesStep) Handlers() map[string]http.Handler { return r }

// TestRoutesOf: the adapters' routes are merged; a pattern two adapters
// claim stops start-up.
func TestRoutesOf(t *testing.T) {
	h := http.NotFoundHandler()
	got, err := routesOf([]Adapter{routesStep{"GET /a": h}, fakeStep{name: "none"}, routesStep{"GET /b": h}})
	if err != nil || len(got) != 2 {
		t.Fatalf("routes %v, %v; want 2", got, err)
	}
	if _, err := routesOf([]Adapter{routesStep{"GET /a": h}, routesStep{"GET /a": h}}); err == nil {
		t.Error("a pattern served twice was accepted")
	}
}

// TestCloseStopsInReverse: Close runs the stops last first, once, and
// returns their errors joined.
func TestCloseStopsInReverse(t *testing.T) {
	a := &App{}
	var order []int
	boom := errors.New("boom")
	for i := range 3 {
		a.onStop(func(context.Context) error {
			order = append(order, i)
			if i == 1 {
				return boom
			}
			return nil
		})
	}
	if err := a.Close(context.Background()); !errors.Is(err, boom) {
		t.Errorf("close: %v, want boom", err)
	}
	a.Close(context.Background())
	if want := []int{2, 1, 0}; !slices.Equal(order, want) {
		t.Errorf("stops ran %v, want %v", order, want)
	}
}
