package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/signoff/signoff/cmd/signoff/internal/config"
	"github.com/signoff/signoff/events"
	"github.com/signoff/signoff/events/eventstest"
)

// tracedRP is a testRP that also records the traceparent of every request.
func tracedRP(t *testing.T, id string, script ...int) (*testRP, func() []string) {
	if len(script) == 0 {
		script = []int{http.StatusOK}
	}
	rp := &testRP{ID: id, ClientID: id + "-client", Alg: "RS256", script: script}
	var mu sync.Mutex
	var parents []string
	rp.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		parents = append(parents, r.Header.Get("traceparent"))
		mu.Unlock()
		rp.serve(w, r)
	}))
	t.Cleanup(rp.srv.CloseClientConnections)
	t.Cleanup(rp.srv.Close)
	return rp, func() []string { mu.Lock(); defer mu.Unlock(); return slices.Clone(parents) }
}

// adminLogout starts a logout of session through POST /api/admin/logout
// and returns its logout_id.
func adminLogout(t *testing.T, a *App, token, session string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+a.Addr()+"/api/admin/logout", strings.NewReader(`{"session_id":"`+session+`"}`))
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		LogoutID string `json:"logout_id"`
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusAccepted || json.Unmarshal(b, &body) != nil || body.LogoutID == "" {
		t.Fatalf("admin logout: %d %s", resp.StatusCode, b)
	}
	return body.LogoutID
}

func attr(s sdktrace.ReadOnlySpan, k attribute.Key) string {
	for _, kv := range s.Attributes() {
		if kv.Key == k {
			return kv.Value.Emit()
		}
	}
	return ""
}

// traceparentOf parses the W3C traceparent of a message's headers.
func traceparentOf(h map[string][]string) trace.SpanContext {
	c := propagation.MapCarrier{}
	if v := h["traceparent"]; len(v) > 0 {
		c["traceparent"] = v[0]
	}
	return trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), c))
}

// TestTracingOneTracePerLogout runs a real logout (admin API → NATS →
// coordinator → back-channel adapter → 3 RPs on loopback → results →
// completion) with the SDK's in-memory exporter and checks the trace: one
// trace id from the HTTP request to the completion, one span per
// participant with its rp_id, adapter and outcome, the HTTP attempts as
// its children (a retried RP has two), the traceparent on the dispatches
// and logout.completed in the stream and on the requests the RPs got.
func TestTracingOneTracePerLogout(t *testing.T) {
	rpA, _ := tracedRP(t, "notes")
	rpB, bParents := tracedRP(t, "wiki", http.StatusServiceUnavailable, http.StatusOK)
	rpC, _ := tracedRP(t, "chat", http.StatusNoContent)
	cfg := testConfig(t, 20*time.Second, rpA, rpB, rpC)
	cfg.Admin.Token = "tracing-admin-token"
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	t.Cleanup(func() { tp.Shutdown(context.Background()) })

	a, err := Start(context.Background(), Options{Config: cfg, Logger: testLogger(t), TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		a.Close(ctx)
	})
	for _, rp := range []*testRP{rpA, rpB, rpC} {
		rp.useJWKS("http://" + a.Addr() + "/jwks.json")
	}
	c := appClient(t, a)
	for _, rp := range []*testRP{rpA, rpB, rpC} {
		c.join("sess-1", "alice", rp.ID, rp.ID+"-sid")
	}
	logoutID := adminLogout(t, a, cfg.Admin.Token, "sess-1")
	if ev := c.waitCompleted(logoutID, 30*time.Second); ev.Outcome != events.StatusComplete {
		t.Fatalf("logout outcome %s, want complete: %+v", ev.Outcome, ev)
	}

	var spans tracetest.SpanStubs
	eventstest.EventuallyErr(t, 10*time.Second, func() error {
		spans = exp.GetSpans()
		for _, s := range spans {
			if s.Name == "signoff.saga.complete" {
				return nil
			}
		}
		return fmt.Errorf("no completion span among %d spans", len(spans))
	})
	ro := spans.Snapshots()
	t.Logf("trace of logout %s:\n%s", logoutID, renderTrace(ro))

	var root sdktrace.ReadOnlySpan
	for _, s := range ro {
		if s.Name() == "POST /api/admin/logout" {
			root = s
		}
	}
	if root == nil || root.Parent().IsValid() || root.SpanKind() != trace.SpanKindServer {
		t.Fatalf("no root server span POST /api/admin/logout: %v", root)
	}
	tid := root.SpanContext().TraceID()
	byID := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	byName := map[string][]sdktrace.ReadOnlySpan{}
	for _, s := range ro {
		if s.SpanContext().TraceID() != tid {
			t.Errorf("span %s is in trace %s, want %s (one trace per logout)", s.Name(), s.SpanContext().TraceID(), tid)
		}
		byID[s.SpanContext().SpanID()] = s
		byName[s.Name()] = append(byName[s.Name()], s)
	}
	parentName := func(s sdktrace.ReadOnlySpan) string {
		if p, ok := byID[s.Parent().SpanID()]; ok {
			return p.Name()
		}
		return "(none)"
	}

	starts := byName["signoff.saga.start"]
	if len(starts) != 1 || parentName(starts[0]) != root.Name() || attr(starts[0], "signoff.logout_id") != logoutID ||
		attr(starts[0], "signoff.participants") != "3" {
		t.Fatalf("want one signoff.saga.start under the HTTP span, for %s with 3 participants; got %d", logoutID, len(starts))
	}
	delivers := byName["signoff.deliver"]
	if len(delivers) != 3 {
		t.Fatalf("got %d signoff.deliver spans, want one per participant (3)", len(delivers))
	}
	perRP := map[string]sdktrace.ReadOnlySpan{}
	for _, d := range delivers {
		rpID := attr(d, "signoff.rp_id")
		perRP[rpID] = d
		if d.Parent().SpanID() != starts[0].SpanContext().SpanID() {
			t.Errorf("deliver %s: parent %s, want signoff.saga.start", rpID, parentName(d))
		}
		if attr(d, "signoff.adapter") != string(events.AdapterBackchannel) || attr(d, "signoff.outcome") != string(events.OutcomeSucceeded) ||
			attr(d, "signoff.logout_id") != logoutID {
			t.Errorf("deliver %s: attributes %v, want adapter backchannel, outcome succeeded, logout %s", rpID, d.Attributes(), logoutID)
		}
		if d.EndTime().Before(d.StartTime()) {
			t.Errorf("deliver %s: no duration", rpID)
		}
	}
	if len(perRP) != 3 || perRP["notes"] == nil || perRP["wiki"] == nil || perRP["chat"] == nil {
		t.Fatalf("participant spans for %v, want notes, wiki and chat", slices.Collect(mapKeys(perRP)))
	}
	// HTTP attempts: children of their participant's span.
	attempts := map[string][]sdktrace.ReadOnlySpan{}
	for _, s := range byName["POST"] {
		p, ok := byID[s.Parent().SpanID()]
		if !ok || p.Name() != "signoff.deliver" || s.SpanKind() != trace.SpanKindClient {
			t.Errorf("attempt span with parent %s, kind %s; want a client span under signoff.deliver", parentName(s), s.SpanKind())
			continue
		}
		attempts[attr(p, "signoff.rp_id")] = append(attempts[attr(p, "signoff.rp_id")], s)
	}
	for _, rp := range []*testRP{rpA, rpB, rpC} {
		n, _ := rp.snapshot()
		if len(attempts[rp.ID]) != n {
			t.Errorf("%s: %d attempt spans, want one per request it received (%d)", rp.ID, len(attempts[rp.ID]), n)
		}
	}
	wiki := attempts["wiki"]
	sort.Slice(wiki, func(i, j int) bool { return wiki[i].StartTime().Before(wiki[j].StartTime()) })
	if len(wiki) != 2 || attr(wiki[0], "http.response.status_code") != "503" || wiki[0].Status().Code != codes.Error ||
		attr(wiki[1], "http.response.status_code") != "200" || attr(wiki[1], "signoff.attempt") != "2" {
		t.Errorf("wiki attempts: want 503 (error) then 200 (attempt 2)")
	}
	// The RP saw the traceparent of each attempt.
	for i, tp := range bParents() {
		if i < len(wiki) && tp != fmt.Sprintf("00-%s-%s-01", tid, wiki[i].SpanContext().SpanID()) {
			t.Errorf("wiki request %d carried traceparent %q, want the attempt span's", i+1, tp)
		}
	}
	results := byName["signoff.saga.result"]
	if len(results) != 3 {
		t.Fatalf("got %d signoff.saga.result spans, want 3", len(results))
	}
	for _, r := range results {
		if parentName(r) != "signoff.deliver" || attr(r, "signoff.rp_id") != attr(byID[r.Parent().SpanID()], "signoff.rp_id") {
			t.Errorf("result span of %s: parent %s, want its participant's signoff.deliver", attr(r, "signoff.rp_id"), parentName(r))
		}
	}
	completes := byName["signoff.saga.complete"]
	if len(completes) != 1 || parentName(completes[0]) != "signoff.saga.result" || attr(completes[0], "signoff.outcome") != "complete" {
		t.Errorf("want one signoff.saga.complete (outcome complete) under the last result")
	}

	// The trace context travelled in the stream: on each dispatch (from
	// the outbox row's headers) and on logout.completed.
	for _, m := range c.received(events.DispatchSubject(events.AdapterBackchannel)) {
		if sc := traceparentOf(m.Headers()); sc.TraceID() != tid || sc.SpanID() != starts[0].SpanContext().SpanID() {
			t.Errorf("dispatch traceparent %v, want the saga start span of trace %s", m.Headers()["traceparent"], tid)
		}
	}
	for _, m := range c.received(events.SubjectLogoutCompleted) {
		if sc := traceparentOf(m.Headers()); sc.TraceID() != tid || sc.SpanID() != completes[0].SpanContext().SpanID() {
			t.Errorf("logout.completed traceparent %v, want the completion span of trace %s", m.Headers()["traceparent"], tid)
		}
	}
}

// TestTracingOffCarriesNothing: without tracing, no traceparent is added to
// any message, even when the logout.requested brings one.
func TestTracingOffCarriesNothing(t *testing.T) {
	rp := newTestRP(t, "notes", "RS256")
	cfg := testConfig(t, 20*time.Second, rp)
	a := startApp(t, cfg, rp)
	if a.tracing != nil || a.tracing.provider() != nil {
		t.Fatal("tracing state set although tracing is off")
	}
	c := appClient(t, a)
	c.join("sess-1", "alice", rp.ID, "sid-1")
	req := events.LogoutRequested{EventID: "5b0c5a3e-2b47-4c8a-9d0e-6b1f1f7f0c11", LogoutID: "0b6c7a40-7f1e-4b8e-9a57-0f3f5d3f2a10",
		OccurredAt: time.Now().UTC(), SessionID: "sess-1", Initiator: events.InitiatorIdP, Scope: events.ScopeGlobal}
	b, _ := events.Encode(req)
	msg := &nats.Msg{Subject: events.SubjectLogoutRequested, Data: b, Header: nats.Header{}}
	msg.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	if _, err := c.js.PublishMsg(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	c.waitCompleted(req.LogoutID, 30*time.Second)
	for _, subject := range []string{events.DispatchSubject(events.AdapterBackchannel), events.SubjectLogoutResult, events.SubjectLogoutCompleted} {
		for _, m := range c.received(subject) {
			if v := m.Headers().Get("traceparent"); v != "" {
				t.Errorf("%s carries traceparent %q with tracing off", subject, v)
			}
		}
	}
}

// TestTracingExportsOTLPHTTP: with tracing.otlp_endpoint set, the real
// OTLP/HTTP exporter posts the spans of a logout to /v1/traces of a fake
// collector (an httptest server) as protobuf, flushed at Close.
func TestTracingExportsOTLPHTTP(t *testing.T) {
	var mu sync.Mutex
	var got []*collectortrace.ExportTraceServiceRequest
	var paths []string
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		req := &collectortrace.ExportTraceServiceRequest{}
		err := proto.Unmarshal(body, req)
		mu.Lock()
		paths = append(paths, r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Type"))
		if err == nil {
			got = append(got, req)
		}
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	}))
	defer collector.Close()

	rp := newTestRP(t, "notes", "RS256")
	cfg := testConfig(t, 20*time.Second, rp)
	cfg.Tracing = config.Tracing{OTLPEndpoint: collector.URL, Protocol: "http/protobuf", SampleRatio: 1, ServiceName: "signoff-otlp-test"}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := Start(context.Background(), Options{Config: cfg, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	rp.useJWKS("http://" + a.Addr() + "/jwks.json")
	c := appClient(t, a)
	c.join("sess-1", "alice", rp.ID, "sid-1")
	c.logout("1d7e5a8c-3f0b-4f7e-8d7c-2a9b6c5d4e3f", "sess-1")
	c.waitCompleted("1d7e5a8c-3f0b-4f7e-8d7c-2a9b6c5d4e3f", 30*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Close(ctx); err != nil {
		t.Fatalf("close: %v", err)
	}

	mu.Lock()
	defer mu.Unlock()
	if len(paths) == 0 || paths[0] != "POST /v1/traces application/x-protobuf" {
		t.Fatalf("collector requests %v, want POST /v1/traces with protobuf", paths)
	}
	names := map[string]bool{}
	service := ""
	for _, req := range got {
		for _, rs := range req.ResourceSpans {
			for _, kv := range rs.GetResource().GetAttributes() {
				if kv.Key == "service.name" {
					service = kv.GetValue().GetStringValue()
				}
			}
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					names[s.Name] = true
				}
			}
		}
	}
	for _, want := range []string{"signoff.saga.start", "signoff.deliver", "POST", "signoff.saga.result", "signoff.saga.complete"} {
		if !names[want] {
			t.Errorf("collector got spans %v, want %s among them", names, want)
		}
	}
	if service != "signoff-otlp-test" {
		t.Errorf("service.name %q, want signoff-otlp-test", service)
	}
}

func mapKeys[K comparable, V any](m map[K]V) func(func(K) bool) {
	return func(yield func(K) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// renderTrace draws the span tree of spans with each span's offset from
// the root's start and its duration, children in start order.
func renderTrace(spans []sdktrace.ReadOnlySpan) string {
	ids := map[trace.SpanID]bool{}
	children := map[trace.SpanID][]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		ids[s.SpanContext().SpanID()] = true
	}
	var roots []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if p := s.Parent().SpanID(); s.Parent().IsValid() && ids[p] {
			children[p] = append(children[p], s)
		} else {
			roots = append(roots, s)
		}
	}
	byStart := func(l []sdktrace.ReadOnlySpan) {
		sort.Slice(l, func(i, j int) bool { return l[i].StartTime().Before(l[j].StartTime()) })
	}
	byStart(roots)
	var b strings.Builder
	var t0 time.Time
	var walk func(s sdktrace.ReadOnlySpan, depth int)
	walk = func(s sdktrace.ReadOnlySpan, depth int) {
		label := s.Name()
		var extra []string
		for _, k := range []attribute.Key{"signoff.rp_id", "signoff.outcome", "signoff.participants", "signoff.attempt", "http.response.status_code"} {
			if v := attr(s, k); v != "" {
				extra = append(extra, strings.TrimPrefix(string(k), "signoff.")+"="+v)
			}
		}
		if len(extra) > 0 {
			label += " [" + strings.Join(extra, " ") + "]"
		}
		if s.Status().Code == codes.Error {
			label += " ERROR"
		}
		fmt.Fprintf(&b, "%s%-*s +%-8s %s\n", strings.Repeat("  ", depth), 64-2*depth, label,
			s.StartTime().Sub(t0).Round(100*time.Microsecond), s.EndTime().Sub(s.StartTime()).Round(100*time.Microsecond))
		kids := children[s.SpanContext().SpanID()]
		byStart(kids)
		for _, k := range kids {
			walk(k, depth+1)
		}
	}
	for _, r := range roots {
		t0 = r.StartTime()
		walk(r, 0)
	}
	return b.String()
}

// benchTracing turns tracing on in the whole-path benchmarks when
// SIGNOFF_BENCH_TRACING=1: every span (sample_ratio 1) is exported over
// OTLP/HTTP to a collector on loopback that reads and discards them.
func benchTracing(b *testing.B, cfg *config.Config) {
	if os.Getenv("SIGNOFF_BENCH_TRACING") != "1" {
		return
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	}))
	b.Cleanup(srv.Close)
	cfg.Tracing.OTLPEndpoint = srv.URL
}

// TestTracingCollectorDown: a collector that refuses connections changes
// nothing about logouts (export failures are logged), and Close still
// returns promptly: the last export is bounded to 5 s.
func TestTracingCollectorDown(t *testing.T) {
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close() // nothing listens there any more
	rp := newTestRP(t, "notes", "RS256")
	cfg := testConfig(t, 20*time.Second, rp)
	cfg.Tracing.OTLPEndpoint = deadURL
	a, err := Start(context.Background(), Options{Config: cfg, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	rp.useJWKS("http://" + a.Addr() + "/jwks.json")
	c := appClient(t, a)
	c.join("sess-1", "alice", rp.ID, "sid-1")
	c.logout("2e8f6a9d-4a1c-4b8d-9e8f-3b0c7d6e5f40", "sess-1")
	if ev := c.waitCompleted("2e8f6a9d-4a1c-4b8d-9e8f-3b0c7d6e5f40", 30*time.Second); ev.Outcome != events.StatusComplete {
		t.Fatalf("outcome %s with the collector down, want complete", ev.Outcome)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	start := time.Now()
	err = a.Close(ctx)
	if took := time.Since(start); took > 8*time.Second {
		t.Errorf("Close took %v with the collector down, want the export bounded (5 s)", took)
	}
	t.Logf("Close with the collector down: %v (err %v)", time.Since(start).Round(time.Millisecond), err)
}

// TestTracingBrowserLogout: GET /logout with the session cookie is the
// root of its logout's trace (saga start and the back-channel participant
// under it); a traceparent the browser sends is only a link, never the
// parent (anyone can send one).
func TestTracingBrowserLogout(t *testing.T) {
	rp, _ := tracedRP(t, "wiki")
	cfg := testConfig(t, 10*time.Second, rp)
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	a, err := Start(context.Background(), Options{Config: cfg, Logger: testLogger(t), TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		a.Close(ctx)
	})
	rp.useJWKS("http://" + a.Addr() + "/jwks.json")
	c := appClient(t, a)
	c.join("sess-b", "erin", "wiki", "sid-w")
	eventstest.EventuallyErr(t, 10*time.Second, func() error {
		if n, _ := a.Store().SessionCount(context.Background(), "sess-b"); n != 1 {
			return fmt.Errorf("%d sessions", n)
		}
		return nil
	})
	const spoofed = "00-11111111111111111111111111111111-2222222222222222-01"
	req, _ := http.NewRequest(http.MethodGet, "http://"+a.Addr()+"/logout", nil)
	req.AddCookie(&http.Cookie{Name: cfg.Session.CookieName, Value: "sess-b"})
	req.Header.Set("traceparent", spoofed)
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	id, ok := strings.CutPrefix(resp.Header.Get("Location"), "/logout/")
	if resp.StatusCode != http.StatusSeeOther || !ok {
		t.Fatalf("GET /logout: %d Location %q, want 303 to /logout/{id}", resp.StatusCode, resp.Header.Get("Location"))
	}
	var deliver, root, start sdktrace.ReadOnlySpan
	eventstest.EventuallyErr(t, 15*time.Second, func() error {
		deliver, root, start = nil, nil, nil
		for _, s := range exp.GetSpans().Snapshots() {
			switch {
			case s.Name() == "GET /logout":
				root = s
			case s.Name() == "signoff.saga.start" && attr(s, "signoff.logout_id") == id:
				start = s
			case s.Name() == "signoff.deliver" && attr(s, "signoff.logout_id") == id:
				deliver = s
			}
		}
		if root == nil || start == nil || deliver == nil {
			return fmt.Errorf("spans so far: root %v, start %v, deliver %v", root != nil, start != nil, deliver != nil)
		}
		return nil
	})
	tid := root.SpanContext().TraceID()
	if root.Parent().IsValid() || tid.String() == "11111111111111111111111111111111" {
		t.Errorf("GET /logout span: parent %v trace %s; want a new root, not the browser's trace", root.Parent(), tid)
	}
	if links := root.Links(); len(links) != 1 || links[0].SpanContext.TraceID().String() != "11111111111111111111111111111111" {
		t.Errorf("GET /logout links %v, want the browser's traceparent as a link", links)
	}
	if start.Parent().SpanID() != root.SpanContext().SpanID() || deliver.Parent().SpanID() != start.SpanContext().SpanID() ||
		deliver.SpanContext().TraceID() != tid || attr(deliver, "signoff.rp_id") != "wiki" {
		t.Errorf("trace: saga start under %s, deliver under %s in trace %s; want GET /logout → saga start → deliver (wiki) in %s",
			start.Parent().SpanID(), deliver.Parent().SpanID(), deliver.SpanContext().TraceID(), tid)
	}
}
