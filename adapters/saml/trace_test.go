package saml

import (
	"context"
	"sync"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/signoff/signoff/adapters/saml/message"
	"github.com/signoff/signoff/events"
)

// ctxPublisher forwards results and remembers the span context each was
// published with (what the app injects as traceparent).
type ctxPublisher struct {
	next *results
	mu   sync.Mutex
	scs  []trace.SpanContext
}

func (p *ctxPublisher) PublishResult(ctx context.Context, r events.Result) error {
	p.mu.Lock()
	p.scs = append(p.scs, trace.SpanContextFromContext(ctx))
	p.mu.Unlock()
	return p.next.PublishResult(ctx, r)
}

// TestSOAPTracing: a SOAP participant is one span, a child of its
// dispatch's trace context, with rp_id, adapter and outcome; each SOAP
// attempt is a client span under it (503, then 200); the result is
// published with the participant's span context.
func TestSOAPTracing(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	tsp := newTestSP(t, idpEntityID, idpCerts(t), soapStep{httpStatus: 503}, soapStep{})
	sp := loadSP(t, "payroll", "", tsp.entityID, tsp.signer.Certificate(),
		message.Endpoint{Binding: message.BindingSOAP, Location: tsp.soapURL()})
	var pub *ctxPublisher
	e := newEnv(t, []SP{sp}, func(c *Config) {
		c.Tracer = tp
		pub = &ctxPublisher{next: c.Publisher.(*results)}
		c.Publisher = pub
	})
	parent := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6},
		TraceFlags: trace.FlagsSampled, Remote: true})
	d := dispatch("payroll", events.InitiatorUser, 5*time.Second, samlSession("s1", "alice-pid", "_i"))
	if err := e.a.Handle(trace.ContextWithRemoteSpanContext(context.Background(), parent), d); err != nil {
		t.Fatal(err)
	}
	if res := e.res.next(t, 10*time.Second); res.Outcome != events.OutcomeSucceeded || res.Attempts != 2 {
		t.Fatalf("result %+v, want succeeded after 2 attempts", res)
	}
	spans := exp.GetSpans()
	var deliver tracetest.SpanStub
	var attempts []tracetest.SpanStub
	for _, s := range spans {
		switch s.Name {
		case "signoff.deliver":
			deliver = s
		case "POST":
			attempts = append(attempts, s)
		}
	}
	if deliver.Parent.SpanID() != parent.SpanID() || deliver.SpanContext.TraceID() != parent.TraceID() {
		t.Fatalf("deliver span parent %v, want the dispatch's %v", deliver.Parent, parent)
	}
	want := map[string]string{"signoff.rp_id": "payroll", "signoff.adapter": "saml", "signoff.outcome": "succeeded",
		"signoff.logout_id": d.LogoutID, "signoff.attempts": "2"}
	for _, kv := range deliver.Attributes {
		if w, ok := want[string(kv.Key)]; ok {
			if kv.Value.Emit() != w {
				t.Errorf("%s = %q, want %q", kv.Key, kv.Value.Emit(), w)
			}
			delete(want, string(kv.Key))
		}
	}
	if len(want) > 0 {
		t.Errorf("deliver span lacks %v", want)
	}
	if len(attempts) != 2 {
		t.Fatalf("%d attempt spans, want 2", len(attempts))
	}
	for i, code := range []int64{503, 200} {
		a := attempts[i]
		var got int64
		for _, kv := range a.Attributes {
			if kv.Key == "http.response.status_code" {
				got = kv.Value.AsInt64()
			}
		}
		if a.Parent.SpanID() != deliver.SpanContext.SpanID() || a.SpanKind != trace.SpanKindClient || got != code {
			t.Errorf("attempt %d: parent %v kind %v status %d; want a client span under deliver with %d", i+1, a.Parent.SpanID(), a.SpanKind, got, code)
		}
	}
	pub.mu.Lock()
	defer pub.mu.Unlock()
	if len(pub.scs) != 1 || pub.scs[0].SpanID() != deliver.SpanContext.SpanID() {
		t.Errorf("result published with span contexts %v, want the deliver span's", pub.scs)
	}
}
