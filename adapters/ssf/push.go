package ssf

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/signoff/signoff/adapters/internal/delivery"
)

// push delivers one SET (a fresh one from mint per attempt: new jti and
// iat) to rp's endpoint until it is accepted, fails for good, or ctx's
// deadline comes. The stream status is read before every attempt: a
// paused stream holds the SET (retried until the deadline), a disabled
// one drops it (SSF 1.0 section 8.1.2).
func (a *Adapter) push(ctx context.Context, rp RP, mint func() (SET, error)) delivery.Outcome {
	return delivery.Retry(ctx, a.runCtx, func() delivery.Attempt {
		st, err := a.status(ctx, rp)
		if err != nil {
			return delivery.Attempt{Verdict: delivery.Retryable, Detail: delivery.Sanitize(err.Error()), NotSent: true}
		}
		switch st.Status {
		case StatusDisabled:
			return delivery.Attempt{Verdict: delivery.Final, Detail: "the receiver disabled its stream: no SET sent (SSF 1.0 section 8.1.2)", NotSent: true}
		case StatusPaused:
			return delivery.Attempt{Verdict: delivery.Retryable, Detail: "the receiver paused its stream: SET held", NotSent: true}
		}
		set, err := mint()
		if err != nil {
			return delivery.Attempt{Verdict: delivery.Final, Detail: delivery.Sanitize(err.Error()), NotSent: true}
		}
		a.attempts.Add(1)
		return a.attempt(ctx, rp, set)
	}, func(n int, detail string, wait time.Duration) {
		a.log.Debug("SET push failed; retrying", "rp_id", rp.ID, "attempt", n, "detail", detail, "wait", wait)
	})
}

// pushError is the body of a 400 answer (RFC 8935 section 2.3).
type pushError struct {
	Err         string `json:"err"`
	Description string `json:"description"`
}

// attempt POSTs one SET (RFC 8935 section 2.1) and classifies the answer
// (section 2.2: 202 Accepted; section 2.3: 400 with an error code).
func (a *Adapter) attempt(ctx context.Context, rp RP, set SET) delivery.Attempt {
	actx, cancel := context.WithTimeout(ctx, a.attemptTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, rp.EndpointURL, strings.NewReader(set.Raw))
	if err != nil {
		return delivery.Attempt{Verdict: delivery.Final, Detail: "building request: " + delivery.Sanitize(err.Error())}
	}
	req.Header.Set("Content-Type", "application/secevent+jwt")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", "signoff-ssf/1")
	if rp.AuthorizationHeader != "" {
		req.Header.Set("Authorization", rp.AuthorizationHeader)
	}
	resp, err := a.client.Do(req)
	if err != nil {
		return delivery.Attempt{Verdict: delivery.Retryable, Detail: delivery.NetworkDetail(ctx, actx, err, a.attemptTimeout)}
	}
	defer func() {
		_, _ = io.CopyN(io.Discard, resp.Body, delivery.MaxDrain)
		_ = resp.Body.Close()
	}()
	code := resp.StatusCode
	status := "HTTP " + strconv.Itoa(code)
	switch {
	case code == http.StatusAccepted:
		return delivery.Attempt{Verdict: delivery.Accepted, Detail: status + ": SET accepted"}
	case code >= 300 && code < 400:
		return delivery.Attempt{Verdict: delivery.Final, Detail: status + ": redirect not followed"}
	}
	head, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	detail := status
	if code == http.StatusBadRequest {
		var pe pushError
		if json.Unmarshal(head, &pe) == nil && pe.Err != "" {
			detail += ": " + delivery.Sanitize(pe.Err)
			if pe.Description != "" {
				detail += ": " + delivery.Sanitize(pe.Description)
			}
			return delivery.Attempt{Verdict: delivery.Final, Detail: detail}
		}
	}
	if s := delivery.Sanitize(string(head)); s != "" {
		detail += ": " + s
	}
	if code >= 200 && code < 300 {
		return delivery.Attempt{Verdict: delivery.Final, Detail: detail + " (only 202 Accepted confirms a SET, RFC 8935 section 2.2)"}
	}
	return delivery.Unconfirmed(resp, detail)
}
