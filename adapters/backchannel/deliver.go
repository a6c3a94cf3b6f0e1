package backchannel

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/signoff/signoff/adapters/internal/delivery"
	"github.com/signoff/signoff/events"
)

// deliver sends the tokens of one dispatch and returns its result (without
// event_id, ids and finished_at). ok is false when the adapter stopped
// before the outcome was known.
func (a *Adapter) deliver(sctx context.Context, d events.Dispatch) (res events.Result, ok bool) {
	rp, known := a.rps[d.RPID]
	if !known {
		return events.Result{Outcome: events.OutcomeFailed, Detail: "unknown relying party"}, true
	}
	sids, unreachable := targets(rp, d)
	if len(sids) == 0 {
		detail := ErrSessionRequired.Error()
		if unreachable == 0 {
			detail = "no session to sign out"
		}
		return events.Result{Outcome: events.OutcomeFailed, Detail: detail}, true
	}

	ctx, cancel, late := delivery.Window(a.runCtx, sctx, d.Deadline, a.now(), DefaultDeadline)
	if late {
		return events.Result{Outcome: events.OutcomeTimedOut, Detail: delivery.DetailLate}, true
	}
	defer cancel()

	outs := make([]delivery.Outcome, 0, len(sids))
	for _, sid := range sids {
		o := a.deliverToken(ctx, rp, d.Subject, sid)
		res.Attempts += o.Attempts
		if o.Aborted {
			return res, false
		}
		outs = append(outs, o)
	}
	unaddressable := ""
	if unreachable > 0 {
		unaddressable = fmt.Sprintf("%d session(s) without sid: %s", unreachable, ErrSessionRequired)
	}
	res.Outcome, res.Detail = delivery.Combine(outs, "token", unaddressable, fmt.Sprintf("%d logout tokens accepted", len(outs)))
	return res, true
}

// targets returns the sid of each token to send: one per distinct sid, plus
// "" (a token with sub only, which ends all the user's sessions at the RP)
// when some session has no sid, or none is listed, and the RP does not
// require sid. unreachable counts sessions without sid at an RP that
// requires one.
func targets(rp RP, d events.Dispatch) (sids []string, unreachable int) {
	seen := map[string]bool{}
	noSID := 0
	for _, s := range d.Sessions {
		if s.OIDC == nil || s.OIDC.SID == "" {
			noSID++
			continue
		}
		if !seen[s.OIDC.SID] {
			seen[s.OIDC.SID] = true
			sids = append(sids, s.OIDC.SID)
		}
	}
	if len(d.Sessions) == 0 {
		noSID = 1
	}
	if noSID > 0 {
		if rp.SessionRequired {
			unreachable = noSID
		} else {
			sids = append(sids, "")
		}
	}
	return sids, unreachable
}

// deliverToken delivers one token (a fresh one per attempt) until it is
// accepted, fails for good, or ctx's deadline comes.
func (a *Adapter) deliverToken(ctx context.Context, rp RP, subject, sid string) delivery.Outcome {
	n := 0
	o := delivery.Retry(ctx, a.runCtx, func() delivery.Attempt {
		tok, err := a.minter.Mint(rp, subject, sid)
		if err != nil {
			return delivery.Attempt{Verdict: delivery.Final, Detail: err.Error(), NotSent: true}
		}
		a.attempts.Add(1)
		n++
		return a.attempt(ctx, rp, tok, n)
	}, func(n int, detail string, wait time.Duration) {
		a.log.Debug("back-channel logout attempt failed; retrying", "rp_id", rp.ID, "attempt", n, "detail", detail, "wait", wait)
	})
	return o
}

// attempt POSTs one token (section 2.5,
// https://openid.net/specs/openid-connect-backchannel-1_0.html#BCRequest)
// and classifies the response (section 2.8,
// https://openid.net/specs/openid-connect-backchannel-1_0.html#BCResponse).
//
// With tracing, the attempt is a span (n counts the attempts of this
// token from 1) and the request carries its traceparent.
func (a *Adapter) attempt(ctx context.Context, rp RP, tok Token, n int) (at delivery.Attempt) {
	actx, cancel := context.WithTimeout(ctx, a.attemptTimeout)
	defer cancel()
	actx, span := a.tracer.Attempt(actx, http.MethodPost, n)
	code := 0
	defer func() { delivery.EndAttempt(span, code, at) }()
	body := "logout_token=" + url.QueryEscape(tok.Raw)
	req, err := http.NewRequestWithContext(actx, http.MethodPost, rp.LogoutURI, strings.NewReader(body))
	if err != nil {
		return delivery.Attempt{Verdict: delivery.Final, Detail: "building request: " + delivery.Sanitize(err.Error())}
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("User-Agent", "signoff-backchannel/1")
	a.tracer.Request(req)
	resp, err := a.client.Do(req)
	if err != nil {
		return delivery.Attempt{Verdict: delivery.Retryable, Detail: delivery.NetworkDetail(ctx, actx, err, a.attemptTimeout)}
	}
	defer func() {
		_, _ = io.CopyN(io.Discard, resp.Body, delivery.MaxDrain)
		_ = resp.Body.Close()
	}()

	code = resp.StatusCode
	status := "HTTP " + strconv.Itoa(code)
	switch {
	case code == http.StatusOK || code == http.StatusNoContent:
		return delivery.Attempt{Verdict: delivery.Accepted, Detail: status}
	case code >= 300 && code < 400:
		return delivery.Attempt{Verdict: delivery.Final, Detail: status + ": redirect not followed"}
	}
	head, _ := io.ReadAll(io.LimitReader(resp.Body, delivery.MaxDetail))
	detail := status
	if s := delivery.Sanitize(string(head)); s != "" {
		detail += ": " + s
	}
	if code >= 200 && code < 300 {
		return delivery.Attempt{Verdict: delivery.Final, Detail: detail + " (only 200 and 204 confirm a logout)"}
	}
	return delivery.Unconfirmed(resp, detail)
}
