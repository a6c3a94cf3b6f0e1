package saml

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/signoff/signoff/adapters/internal/delivery"
	"github.com/signoff/signoff/adapters/saml/message"
	"github.com/signoff/signoff/events"
)

// SOAPAction is the SOAPAction header of SAML SOAP requests
// (saml-bindings 3.2.2.1).
const SOAPAction = "http://www.oasis-open.org/committees/security"

// deliver sends the LogoutRequests of one dispatch over SOAP and returns
// its result (outcome, detail, attempts). ok is false when the adapter
// stopped before the outcome was known.
func (a *Adapter) deliver(sctx context.Context, sp SP, d events.Dispatch) (res events.Result, ok bool) {
	ep, _ := sp.endpoint(message.BindingSOAP)
	ts, missing := targets(d.Sessions)
	if len(ts) == 0 {
		detail := "no SAML session (NameID) to sign out"
		if missing > 0 {
			detail = fmt.Sprintf("%d session(s) without a SAML NameID: the IdP's session.joined must carry saml.name_id", missing)
		}
		return events.Result{Outcome: events.OutcomeFailed, Detail: detail}, true
	}
	ctx, cancel, late := delivery.Window(a.runCtx, sctx, d.Deadline, a.now(), DefaultDeadline)
	if late {
		return events.Result{Outcome: events.OutcomeTimedOut, Detail: delivery.DetailLate}, true
	}
	defer cancel()
	var outs []delivery.Outcome
	for _, t := range ts {
		o := a.deliverRequest(ctx, sp, ep.Location, d.Initiator, t)
		res.Attempts += o.Attempts
		if o.Aborted {
			return res, false
		}
		outs = append(outs, o)
	}
	unaddressable := ""
	if missing > 0 {
		unaddressable = fmt.Sprintf("%d session(s) without a SAML NameID could not be signed out", missing)
	}
	res.Outcome, res.Detail = delivery.Combine(outs, "request", unaddressable, fmt.Sprintf("%d LogoutRequests confirmed with Success", len(outs)))
	return res, true
}

// deliverRequest sends one LogoutRequest (a fresh ID and IssueInstant per
// attempt) until it is confirmed, fails for good, or ctx's deadline comes.
func (a *Adapter) deliverRequest(ctx context.Context, sp SP, location string, initiator events.Initiator, t target) delivery.Outcome {
	n := 0
	o := delivery.Retry(ctx, a.runCtx, func() delivery.Attempt {
		a.attempts.Add(1)
		n++
		return a.attempt(ctx, sp, location, initiator, t, n)
	}, func(n int, detail string, wait time.Duration) {
		a.log.Debug("SOAP logout attempt failed; retrying", "rp_id", sp.ID, "attempt", n, "detail", detail, "wait", wait)
	})
	return o
}

// attempt POSTs one signed LogoutRequest in a SOAP 1.1 envelope
// (saml-bindings 3.2.3) and checks the answer: a LogoutResponse signed by
// the SP, Issuer = its entityID, InResponseTo = the request's ID, IssueInstant
// within the skew, Destination absent or signoff's own; top-level Success
// confirms (saml-core 3.7.2, 3.2.2.2).
//
// With tracing, the attempt is a span (n counts the attempts of this
// request from 1) and the request carries its traceparent.
func (a *Adapter) attempt(ctx context.Context, sp SP, location string, initiator events.Initiator, t target, n int) (at delivery.Attempt) {
	signer, err := a.cfg.Signer()
	if err != nil {
		return delivery.Attempt{Verdict: delivery.Final, Detail: "no signing key: " + delivery.Sanitize(err.Error())}
	}
	req := a.newRequest(location, initiator, t)
	signed, err := signer.SignRequest(req)
	if err != nil {
		return delivery.Attempt{Verdict: delivery.Final, Detail: "signing the LogoutRequest: " + delivery.Sanitize(err.Error())}
	}
	actx, cancel := context.WithTimeout(ctx, a.cfg.AttemptTimeout)
	defer cancel()
	actx, span := a.tracer.Attempt(actx, http.MethodPost, n)
	code := 0
	defer func() { delivery.EndAttempt(span, code, at) }()
	hr, err := http.NewRequestWithContext(actx, http.MethodPost, location, bytes.NewReader(message.SOAPEnvelope(signed)))
	if err != nil {
		return delivery.Attempt{Verdict: delivery.Final, Detail: "building request: " + delivery.Sanitize(err.Error())}
	}
	hr.Header.Set("Content-Type", "text/xml; charset=utf-8")
	hr.Header.Set("SOAPAction", `"`+SOAPAction+`"`)
	hr.Header.Set("User-Agent", "signoff-saml/1")
	a.tracer.Request(hr)
	resp, err := a.client.Do(hr)
	if err != nil {
		return delivery.Attempt{Verdict: delivery.Retryable, Detail: delivery.NetworkDetail(ctx, actx, err, a.cfg.AttemptTimeout)}
	}
	defer func() {
		_, _ = io.CopyN(io.Discard, resp.Body, delivery.MaxDrain)
		_ = resp.Body.Close()
	}()
	code = resp.StatusCode
	status := "HTTP " + strconv.Itoa(code)
	if code >= 300 && code < 400 {
		return delivery.Attempt{Verdict: delivery.Final, Detail: status + ": redirect not followed"}
	}
	if code != http.StatusOK {
		head, _ := io.ReadAll(io.LimitReader(resp.Body, delivery.MaxDetail))
		detail := status
		if s := delivery.Sanitize(string(head)); s != "" {
			detail += ": " + s
		}
		return delivery.Unconfirmed(resp, detail)
	}
	limit := int64(a.cfg.Limits.MaxMessage)
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return delivery.Attempt{Verdict: delivery.Retryable, Detail: delivery.NetworkDetail(ctx, actx, err, a.cfg.AttemptTimeout)}
	}
	if int64(len(body)) > limit {
		return delivery.Attempt{Verdict: delivery.Final, Detail: fmt.Sprintf("HTTP 200: the SOAP answer is larger than %d bytes", limit)}
	}
	certs := func(issuer string) ([]*x509.Certificate, bool) {
		if issuer != sp.EntityID {
			return nil, false
		}
		return sp.Certs, true
	}
	in, err := message.ParseSOAP(body, a.expect("", certs))
	if err != nil {
		return delivery.Attempt{Verdict: delivery.Final, Detail: "HTTP 200: LogoutResponse refused: " + delivery.Sanitize(err.Error())}
	}
	lr := in.Response
	switch {
	case lr == nil:
		return delivery.Attempt{Verdict: delivery.Final, Detail: "HTTP 200: the SOAP answer is not a LogoutResponse"}
	case in.Issuer != sp.EntityID || lr.Issuer != sp.EntityID:
		return delivery.Attempt{Verdict: delivery.Final, Detail: fmt.Sprintf("HTTP 200: LogoutResponse from %q, not from the service provider %q", delivery.Sanitize(in.Issuer), sp.EntityID)}
	case lr.InResponseTo != req.ID:
		return delivery.Attempt{Verdict: delivery.Final, Detail: fmt.Sprintf("HTTP 200: LogoutResponse InResponseTo %q does not match the request %s", delivery.Sanitize(lr.InResponseTo), req.ID)}
	case lr.Destination != "" && lr.Destination != a.soapURL && lr.Destination != a.sloURL:
		return delivery.Attempt{Verdict: delivery.Final, Detail: fmt.Sprintf("HTTP 200: LogoutResponse Destination %q is not signoff's", delivery.Sanitize(lr.Destination))}
	case lr.StatusCode != message.StatusSuccess:
		return delivery.Attempt{Verdict: delivery.Final, Detail: "LogoutResponse status " + statusDetail(lr)}
	}
	detail := "signed LogoutResponse: Success"
	if lr.SubStatusCode == message.StatusPartialLogout {
		detail += " (PartialLogout)"
	}
	return delivery.Attempt{Verdict: delivery.Accepted, Detail: detail}
}

// statusDetail is "code[ / subcode][: message]" of a LogoutResponse.
func statusDetail(lr *message.LogoutResponse) string {
	s := lr.StatusCode
	if s == "" {
		s = "(none)"
	}
	if lr.SubStatusCode != "" {
		s += " / " + lr.SubStatusCode
	}
	if m := delivery.Sanitize(lr.StatusMessage); m != "" {
		s += ": " + m
	}
	return delivery.Sanitize(s)
}
