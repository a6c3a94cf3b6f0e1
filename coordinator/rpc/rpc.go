// Package rpc is request/reply between signoff instances over core NATS
// (scale-out design, piece 6 "any instance serves any request"): the owner
// of partition p answers the requests for p's sagas and sessions on
// _signoff.rpc.p.<p>.<method>; lookups that have no key for the
// route index go to every instance at once on
// _signoff.rpc.all.<method>, and each answers for the partitions it
// owns.
//
// A request is JSON, with the caller's remaining time and W3C trace
// context in its headers; a reply is a JSON Reply envelope. Nothing here is
// durable: a request that finds no owner (nats.ErrNoResponders, the
// partition is moving between instances) is retried with backoff until the
// caller's context ends.
package rpc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/propagation"
)

// Subject prefixes. They are outside signoff.>, which the SIGNOFF stream
// captures: a request there would be stored, and JetStream's publish
// acknowledgement would reach the caller before the owner's answer.
const (
	// PartitionPrefix + "<p>.<method>" is served by the owner of p.
	PartitionPrefix = "_signoff.rpc.p."
	// AllPrefix + "<method>" is served by every instance.
	AllPrefix = "_signoff.rpc.all."
	// queue is the queue group of partition subscriptions: while a
	// partition changes hands and two instances briefly serve it, one
	// answers.
	queue = "signoff-rpc"
	// HeaderTimeout carries the caller's remaining time in milliseconds;
	// the handler's context ends then (no work for a caller that gave up).
	HeaderTimeout = "Signoff-Rpc-Timeout"
)

// Timing. DefaultTimeout bounds a request whose context has no deadline,
// and a handler whose request carries none.
const (
	DefaultTimeout   = 5 * time.Second
	BroadcastWait    = time.Second
	firstBackoff     = 50 * time.Millisecond
	maxBackoff       = time.Second
	maxHandlerWaitMs = 60_000
)

// ErrNoOwner is wrapped by Call's error when the context ended while no
// instance answered for the partition (it has no owner right now).
var ErrNoOwner = errors.New("partition has no owner right now")

// Reply is the envelope of every answer: Found tells a missing key from an
// empty answer; Error is the handler's failure (the caller gets it as an
// error); Body is the handler's JSON answer.
type Reply struct {
	Found bool            `json:"found"`
	Error string          `json:"error,omitempty"`
	Body  json.RawMessage `json:"body,omitempty"`
}

// Handler answers one request: its JSON body in, the JSON answer out;
// found false means the partition does not have the key.
type Handler func(ctx context.Context, req []byte) (resp []byte, found bool, err error)

// PartitionSubject is the subject of method for partition p.
func PartitionSubject(p int, method string) string {
	return PartitionPrefix + strconv.Itoa(p) + "." + method
}

// AllSubject is the broadcast subject of method.
func AllSubject(method string) string { return AllPrefix + method }

// Serve answers method for partition p with h until stop is called. stop
// unsubscribes and waits for the handlers running.
func Serve(nc *nats.Conn, p int, method string, h Handler) (stop func(), err error) {
	return serve(nc, PartitionSubject(p, method), queue, h)
}

// ServeAll answers the broadcasts of method with h until stop is called.
// Every instance answers a broadcast; h reports found false when none of
// its partitions has the key.
func ServeAll(nc *nats.Conn, method string, h Handler) (stop func(), err error) {
	return serve(nc, AllSubject(method), "", h)
}

func serve(nc *nats.Conn, subject, group string, h Handler) (func(), error) {
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	handle := func(m *nats.Msg) {
		wg.Add(1)
		go func() { // one slow request does not hold up the others
			defer wg.Done()
			hctx, done := context.WithTimeout(extractTrace(ctx, m.Header), handlerTimeout(m))
			defer done()
			resp, found, err := h(hctx, m.Data)
			r := Reply{Found: found && err == nil}
			if err != nil {
				r.Error = err.Error()
			} else if found {
				r.Body = resp
			}
			b, merr := json.Marshal(r)
			if merr != nil {
				b, _ = json.Marshal(Reply{Error: "rpc: encoding the answer: " + merr.Error()})
			}
			_ = m.Respond(b) // a caller that left is no error of ours
		}()
	}
	var sub *nats.Subscription
	var err error
	if group != "" {
		sub, err = nc.QueueSubscribe(subject, group, handle)
	} else {
		sub, err = nc.Subscribe(subject, handle)
	}
	if err != nil {
		cancel()
		return nil, fmt.Errorf("rpc: subscribe %s: %w", subject, err)
	}
	if err := nc.Flush(); err != nil { // the server knows the subscription on return
		_ = sub.Unsubscribe()
		cancel()
		return nil, fmt.Errorf("rpc: subscribe %s: %w", subject, err)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			_ = sub.Unsubscribe()
			cancel()
			wg.Wait()
		})
	}, nil
}

func handlerTimeout(m *nats.Msg) time.Duration {
	if m.Header != nil {
		if ms, err := strconv.Atoi(m.Header.Get(HeaderTimeout)); err == nil && ms > 0 && ms <= maxHandlerWaitMs {
			return time.Duration(ms) * time.Millisecond
		}
	}
	return DefaultTimeout
}

// Call asks the owner of partition p: req is encoded as JSON, the answer
// is decoded into resp when found. While no instance serves p
// (nats.ErrNoResponders: the partition is moving between owners) Call
// retries with backoff from 50 ms to 1 s until ctx ends, then fails with an
// error wrapping ErrNoOwner. A context without deadline gets
// DefaultTimeout.
func Call(ctx context.Context, nc *nats.Conn, p int, method string, req any, resp any) (found bool, err error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultTimeout)
		defer cancel()
	}
	data, err := json.Marshal(req)
	if err != nil {
		return false, fmt.Errorf("rpc: %s: encoding the request: %w", method, err)
	}
	subject := PartitionSubject(p, method)
	backoff := firstBackoff
	for {
		msg := &nats.Msg{Subject: subject, Data: data, Header: requestHeader(ctx)}
		m, err := nc.RequestMsgWithContext(ctx, msg)
		if errors.Is(err, nats.ErrNoResponders) {
			t := time.NewTimer(backoff)
			select {
			case <-ctx.Done():
				t.Stop()
				return false, fmt.Errorf("rpc: %s for partition %d: %w (%w)", method, p, ErrNoOwner, ctx.Err())
			case <-t.C:
			}
			backoff = min(2*backoff, maxBackoff)
			continue
		}
		if err != nil {
			return false, fmt.Errorf("rpc: %s for partition %d: %w", method, p, err)
		}
		return decode(method, m.Data, resp)
	}
}

// requestHeader are the headers of a request: the caller's remaining time
// and its W3C trace context (https://www.w3.org/TR/trace-context/,
// section 3: traceparent, tracestate), as on the bus's messages.
func requestHeader(ctx context.Context) nats.Header {
	h := nats.Header{}
	traceContext.Inject(ctx, carrier(h))
	if d, ok := ctx.Deadline(); ok {
		h.Set(HeaderTimeout, strconv.FormatInt(max(time.Until(d).Milliseconds(), 1), 10))
	}
	return h
}

func decode(method string, data []byte, resp any) (bool, error) {
	var r Reply
	if err := json.Unmarshal(data, &r); err != nil {
		return false, fmt.Errorf("rpc: %s: decoding the reply: %w", method, err)
	}
	if r.Error != "" {
		return false, fmt.Errorf("rpc: %s: %s", method, r.Error)
	}
	if !r.Found {
		return false, nil
	}
	if resp != nil && len(r.Body) > 0 {
		if err := json.Unmarshal(r.Body, resp); err != nil {
			return false, fmt.Errorf("rpc: %s: decoding the answer: %w", method, err)
		}
	}
	return true, nil
}

// Broadcast asks every instance: it publishes req on the broadcast subject
// of method with a reply inbox and gathers the answers until members
// instances answered, BroadcastWait passed or ctx ended. each gets the
// body of every found answer, in arrival order; an error from each stops
// the gathering and is returned. The handlers' errors are returned joined
// after the gathering (each still got the found answers of the others).
func Broadcast(ctx context.Context, nc *nats.Conn, method string, req any, members int, each func(body []byte) error) error {
	data, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("rpc: %s: encoding the request: %w", method, err)
	}
	ctx, cancel := context.WithTimeout(ctx, BroadcastWait)
	defer cancel()
	inbox := nc.NewRespInbox()
	sub, err := nc.SubscribeSync(inbox)
	if err != nil {
		return fmt.Errorf("rpc: %s: %w", method, err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := nc.PublishMsg(&nats.Msg{Subject: AllSubject(method), Reply: inbox, Data: data, Header: requestHeader(ctx)}); err != nil {
		return fmt.Errorf("rpc: %s: %w", method, err)
	}
	var errs []error
	for answered := 0; answered < members; answered++ {
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			break // BroadcastWait passed or ctx ended: what came is the answer
		}
		var r Reply
		if err := json.Unmarshal(m.Data, &r); err != nil {
			errs = append(errs, fmt.Errorf("rpc: %s: decoding a reply: %w", method, err))
			continue
		}
		if r.Error != "" {
			errs = append(errs, fmt.Errorf("rpc: %s: %s", method, r.Error))
			continue
		}
		if r.Found {
			if err := each(r.Body); err != nil {
				return err
			}
		}
	}
	return errors.Join(errs...)
}

// traceContext propagates the caller's trace to the handler (W3C Trace
// Context; the same header names as coordinator/bus uses).
var traceContext propagation.TextMapPropagator = propagation.TraceContext{}

// carrier adapts NATS headers, whose names are case-sensitive, to the
// propagator: the fields keep the propagator's lower-case names.
type carrier nats.Header

func (c carrier) Get(key string) string {
	if v := c[key]; len(v) > 0 {
		return v[0]
	}
	return ""
}

func (c carrier) Set(key, value string) { c[key] = []string{value} }

func (c carrier) Keys() []string {
	out := make([]string, 0, len(c))
	for k := range c {
		out = append(out, k)
	}
	return out
}

func extractTrace(ctx context.Context, h nats.Header) context.Context {
	if len(h) == 0 {
		return ctx
	}
	return traceContext.Extract(ctx, carrier(h))
}
