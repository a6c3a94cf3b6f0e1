package ssfin

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"time"
)

// pollTimeout bounds one poll request, a long poll included.
const pollTimeout = 2 * time.Minute

// maxPollResponse bounds a poll response.
const maxPollResponse = 16 << 20

// Backoff after a failed poll: doubling from minBackoff up to maxBackoff.
const (
	minBackoff = time.Second
	maxBackoff = 5 * time.Minute
)

// pollRequest is the body of a poll (RFC 8936 section 2.4).
type pollRequest struct {
	Ack               []string          `json:"ack"`
	SetErrs           map[string]setErr `json:"setErrs,omitempty"`
	MaxEvents         int               `json:"maxEvents"`
	ReturnImmediately bool              `json:"returnImmediately"`
}

type setErr struct {
	Err         string `json:"err"`
	Description string `json:"description"`
}

// pollResponse is the answer to a poll (RFC 8936 section 2.5).
type pollResponse struct {
	Sets          map[string]string `json:"sets"`
	MoreAvailable bool              `json:"moreAvailable"`
}

// Run polls every transmitter configured with Poll until ctx ends, and
// returns once every poll loop has stopped.
func (r *Receiver) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for _, t := range r.transmitters {
		if t.Poll == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.pollLoop(ctx, t)
		}()
	}
	wg.Wait()
}

// pollLoop is Poll-Based SET Delivery (RFC 8936) from t: each request
// acknowledges the SETs of the previous answer that were processed or
// refused for good (the latter in setErrs, with their RFC 8935 error
// code), and asks for up to MaxEvents more. SETs that could not be
// processed now are neither acknowledged nor reported: the transmitter
// sends them again. After a failure the loop backs off, keeping its
// acknowledgements for the next request; after an empty answer it waits
// Interval.
func (r *Receiver) pollLoop(ctx context.Context, t *transmitter) {
	log := r.log.With("transmitter", t.ID, "endpoint", t.Poll.EndpointURL)
	log.Info("polling the SSF transmitter")
	var (
		acks    []string
		errs    = map[string]setErr{}
		backoff time.Duration
	)
	for ctx.Err() == nil {
		resp, err := r.pollOnce(ctx, t, pollRequest{Ack: acks, SetErrs: errs, MaxEvents: t.Poll.MaxEvents})
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			backoff = min(max(2*backoff, minBackoff), maxBackoff)
			log.Warn("SSF poll failed; backing off", "err", err, "backoff", backoff)
			sleep(ctx, backoff)
			continue
		}
		acks, errs = nil, map[string]setErr{}
		retryLater := false
		for _, jti := range sortedKeys(resp.Sets) {
			_, err := r.process(ctx, t, resp.Sets[jti], jti)
			switch e, refused := asRefusal(err); {
			case err == nil, refused && e.Replay:
				// A replay was processed before: its acknowledgement was
				// lost, or the transmitter sent it twice.
				acks = append(acks, jti)
			case refused:
				log.Warn("SSF polled SET refused", "jti", jti, "err", e.Code, "description", e.Description)
				errs[jti] = setErr{Err: e.Code, Description: e.Description}
			default:
				log.Warn("SSF polled SET not processed; it will be polled again", "jti", jti, "err", err)
				retryLater = true
			}
		}
		switch {
		case retryLater:
			backoff = min(max(2*backoff, minBackoff), maxBackoff)
			sleep(ctx, backoff)
		case len(resp.Sets) > 0 || resp.MoreAvailable:
			backoff = 0 // poll again at once, acknowledging
		default:
			backoff = 0
			sleep(ctx, t.Poll.Interval)
		}
	}
}

// pollOnce sends one poll request.
func (r *Receiver) pollOnce(ctx context.Context, t *transmitter, pr pollRequest) (*pollResponse, error) {
	if pr.Ack == nil {
		pr.Ack = []string{}
	}
	body, err := json.Marshal(pr)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, pollTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, t.Poll.EndpointURL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	if t.Poll.AuthorizationHeader != "" {
		req.Header.Set("Authorization", t.Poll.AuthorizationHeader)
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxPollResponse))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		if len(b) > 200 {
			b = b[:200]
		}
		return nil, fmt.Errorf("HTTP %d: %s", resp.StatusCode, bytes.TrimSpace(b))
	}
	var out pollResponse
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("the poll response is not JSON: %w", err)
	}
	return &out, nil
}

func sortedKeys(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
