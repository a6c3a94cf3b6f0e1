package coordinator

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/signoff/signoff/coordinator/store"
	"github.com/signoff/signoff/events"
)

// intakeMsg is an intake message as the ordered consumer hands it over;
// only Subject, Headers, Data and Metadata are used.
type intakeMsg struct {
	jetstream.Msg
	subject string
	header  nats.Header
	data    []byte
	seq     uint64
}

func (m intakeMsg) Subject() string      { return m.subject }
func (m intakeMsg) Headers() nats.Header { return m.header }
func (m intakeMsg) Data() []byte         { return m.data }
func (m intakeMsg) Metadata() (*jetstream.MsgMetadata, error) {
	return &jetstream.MsgMetadata{Sequence: jetstream.SequencePair{Stream: m.seq}}, nil
}

const remoteParent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

// TestTracingIntake: with a tracer, the intake of a logout.requested is a
// span under the traceparent it carries (or a new root when that is
// malformed); the dispatch rows carry that span's traceparent in the
// outbox, which survives a restart (sqlite); results are spans under
// theirs; a forged result's span is an error ("poisoned"); the completion
// is a span under the last result and its row carries it.
func TestTracingIntake(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.db")
	st, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := events.NewSealer([]byte("0123456789abcdef0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	now := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	c := New(Config{Store: st, Directory: dir{}, Deadline: 30 * time.Second, Now: func() time.Time { return now }, Sealer: sealer, Tracer: tp})
	ctx := context.Background()
	seq := uint64(0)
	msg := func(subject string, ev events.Event, h map[string]string) jetstream.Msg {
		b, err := events.Encode(ev)
		if err != nil {
			t.Fatal(err)
		}
		seq++
		hdr := nats.Header{}
		for k, v := range h {
			hdr.Set(k, v)
		}
		if subject == events.SubjectLogoutResult && h[events.HeaderSeal] == "" && h["forged"] == "" {
			hdr.Set(events.HeaderSeal, sealer.Seal(subject, b))
		}
		return intakeMsg{subject: subject, header: hdr, data: b, seq: seq}
	}
	var joins []jetstream.Msg
	for _, s := range []struct{ session, rp string }{{"s1", "wiki"}, {"s1", "chat"}, {"s2", "wiki"}} {
		joins = append(joins, msg(events.SubjectSessionJoined, events.SessionJoined{EventID: "00000000-0000-4000-8000-00000000000" + string(rune('1'+seq)),
			OccurredAt: now, SessionID: s.session, Subject: "alice", RPID: s.rp, OIDC: &events.OIDCSession{SID: s.rp + "-" + s.session}}, nil))
	}
	if err := c.ApplyBatch(ctx, 0, joins, nil); err != nil {
		t.Fatal(err)
	}
	if n := len(exp.GetSpans()); n != 0 {
		t.Fatalf("joins made %d spans, want none", n)
	}
	req := func(id, session string) events.LogoutRequested {
		return events.LogoutRequested{EventID: "10000000-0000-4000-8000-00000000000" + id, LogoutID: "20000000-0000-4000-8000-00000000000" + id,
			OccurredAt: now, SessionID: session, Initiator: events.InitiatorIdP, Scope: events.ScopeGlobal}
	}
	l1, l2 := req("1", "s1"), req("2", "s2")
	err = c.ApplyBatch(ctx, 0, []jetstream.Msg{
		msg(events.SubjectLogoutRequested, l1, map[string]string{"traceparent": remoteParent}),
		msg(events.SubjectLogoutRequested, l2, map[string]string{"traceparent": "00-zzzz-not-a-traceparent"}),
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	starts := map[string]tracetest.SpanStub{}
	for _, s := range exp.GetSpans() {
		if s.Name == SpanSagaStart {
			for _, kv := range s.Attributes {
				if kv.Key == AttrLogoutID {
					starts[kv.Value.AsString()] = s
				}
			}
		}
	}
	s1, s2 := starts[l1.LogoutID], starts[l2.LogoutID]
	if s1.SpanContext.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || s1.Parent.SpanID().String() != "00f067aa0ba902b7" {
		t.Errorf("saga start of %s: trace %s parent %s; want under the traceparent it carried", l1.LogoutID, s1.SpanContext.TraceID(), s1.Parent.SpanID())
	}
	if !s2.SpanContext.IsValid() || s2.Parent.IsValid() {
		t.Errorf("saga start with a malformed traceparent: %v parent %v; want a new root", s2.SpanContext, s2.Parent)
	}

	// Restart: the outbox rows keep their traceparent in sqlite.
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if st, err = store.Open(path); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c = New(Config{Store: st, Directory: dir{}, Deadline: 30 * time.Second, Now: func() time.Time { return now }, Sealer: sealer, Tracer: tp})
	rows, err := st.PendingOutbox(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	dispatches := map[string]int{}
	for _, r := range rows {
		if !strings.HasPrefix(r.Subject, events.SubjectDispatchPrefix) {
			continue
		}
		d, err := events.Decode[events.Dispatch](r.Payload)
		if err != nil {
			t.Fatal(err)
		}
		want := s1
		if d.LogoutID == l2.LogoutID {
			want = s2
		}
		got := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier(r.Headers)))
		if got.TraceID() != want.SpanContext.TraceID() || got.SpanID() != want.SpanContext.SpanID() || r.Headers[events.HeaderSeal] == "" {
			t.Errorf("dispatch of %s/%s after restart: headers %v; want the seal and the traceparent of its saga start", d.LogoutID, d.RPID, r.Headers)
		}
		dispatches[d.LogoutID]++
	}
	if dispatches[l1.LogoutID] != 2 || dispatches[l2.LogoutID] != 1 {
		t.Fatalf("dispatches %v, want 2 for %s and 1 for %s", dispatches, l1.LogoutID, l2.LogoutID)
	}

	// Results of logout 1: a forged one (no seal), then both genuine ones,
	// each under a participant span of the adapter.
	exp.Reset()
	adapterSpan := func(i byte) string {
		return "00-4bf92f3577b34da6a3ce929d0e0e4736-00000000000000a" + string(rune('0'+i)) + "-01"
	}
	result := func(id, rp string) events.Result {
		return events.Result{EventID: "30000000-0000-4000-8000-00000000000" + id, LogoutID: l1.LogoutID, RPID: rp,
			Adapter: events.AdapterBackchannel, Outcome: events.OutcomeSucceeded, Attempts: 1, FinishedAt: now}
	}
	err = c.ApplyBatch(ctx, 0, []jetstream.Msg{
		msg(events.SubjectLogoutResult, result("1", "wiki"), map[string]string{"traceparent": adapterSpan(1), "forged": "yes"}),
		msg(events.SubjectLogoutResult, result("2", "wiki"), map[string]string{"traceparent": adapterSpan(2)}),
		msg(events.SubjectLogoutResult, result("3", "chat"), map[string]string{"traceparent": adapterSpan(3)}),
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var poisoned, ok int
	var complete tracetest.SpanStub
	last := ""
	for _, s := range exp.GetSpans() {
		switch s.Name {
		case SpanSagaResult:
			if s.Status.Code == codes.Error && strings.Contains(s.Status.Description, "poisoned") && s.Parent.SpanID().String() == "00000000000000a1" {
				poisoned++
			} else if s.Status.Code != codes.Error {
				ok++
				if s.Parent.SpanID().String() == "00000000000000a3" {
					last = s.SpanContext.SpanID().String()
				}
			}
		case SpanSagaComplete:
			complete = s
		}
	}
	if poisoned != 1 || ok != 2 {
		t.Errorf("result spans: %d poisoned, %d fine; want 1 and 2", poisoned, ok)
	}
	if complete.Parent.SpanID().String() != last || last == "" {
		t.Errorf("completion span parent %s, want the last result's span %s", complete.Parent.SpanID(), last)
	}
	rows, err = st.PendingOutbox(ctx, 100)
	if err != nil {
		t.Fatal(err)
	}
	var sawCompleted, sawPoison bool
	for _, r := range rows {
		switch r.Subject {
		case events.SubjectLogoutCompleted:
			sawCompleted = true
			got := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier(r.Headers)))
			if got.SpanID() != complete.SpanContext.SpanID() {
				t.Errorf("logout.completed row headers %v, want the completion span's traceparent", r.Headers)
			}
		case events.SubjectPoison:
			sawPoison = true
		}
	}
	if !sawCompleted || !sawPoison {
		t.Errorf("outbox: completed %v, poison %v; want both", sawCompleted, sawPoison)
	}
}

// TestTracingOffAllocatesNothing: without a tracer, the intake's tracing
// steps allocate nothing and add no header, even for a message that
// carries a traceparent.
func TestTracingOffAllocatesNothing(t *testing.T) {
	c, _, _ := setup(t)
	msgs := []jetstream.Msg{intakeMsg{subject: events.SubjectLogoutRequested, header: nats.Header{"traceparent": {remoteParent}}, seq: 1}}
	ctx := context.Background()
	var headers map[string]string
	allocs := testing.AllocsPerRun(100, func() {
		spans := c.traceBatch(ctx, msgs)
		mctx := spans.ctx(ctx, 0)
		traceRequest(mctx, events.LogoutRequested{})
		headers = c.traceHeaders(mctx, nil)
		spans.end(nil)
	})
	if allocs != 0 || headers != nil {
		t.Errorf("tracing off: %v allocations per message, headers %v; want 0, nil", allocs, headers)
	}
}
