package ssf

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Paths of the transmitter endpoints.
const (
	PathConfiguration = "/.well-known/ssf-configuration"
	PathStream        = "/ssf/stream"
	PathStatus        = "/ssf/status"
	PathVerify        = "/ssf/verify"
	PathPoll          = "/ssf/poll"
)

// maxBody bounds a request body of the management and poll endpoints.
const maxBody = 64 << 10

// Handlers are the transmitter endpoints by http.ServeMux pattern.
func (a *Adapter) Handlers() map[string]http.Handler {
	h := map[string]http.Handler{
		"GET " + PathConfiguration: http.HandlerFunc(a.serveConfiguration),
		"POST " + PathStream:       a.authorized(a.createStream),
		"GET " + PathStream:        a.authorized(a.readStream),
		"GET " + PathStatus:        a.authorized(a.readStatus),
		"POST " + PathStatus:       a.authorized(a.updateStatus),
		"POST " + PathVerify:       a.authorized(a.verify),
		"POST " + PathPoll:         a.authorized(a.poll),
	}
	// SSF 1.0 section 7.2: for an issuer with a path, the well-known
	// segment goes between the host and the path.
	if u, err := url.Parse(a.issuer); err == nil && strings.Trim(u.Path, "/") != "" {
		h["GET "+PathConfiguration+"/"+strings.Trim(u.Path, "/")] = http.HandlerFunc(a.serveConfiguration)
	}
	return h
}

// serveConfiguration serves the Transmitter Configuration Metadata (SSF
// 1.0 section 7.1) with the fields the CAEP interoperability profile makes
// mandatory ("Transmitters").
func (a *Adapter) serveConfiguration(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"spec_version":               "1_0",
		"issuer":                     a.issuer,
		"jwks_uri":                   a.publicURL + "/jwks.json",
		"delivery_methods_supported": []string{MethodPush, MethodPoll},
		"configuration_endpoint":     a.publicURL + PathStream,
		"status_endpoint":            a.publicURL + PathStatus,
		"verification_endpoint":      a.publicURL + PathVerify,
		"default_subjects":           "ALL",
		// RFC 6749 is what the interoperability profile requires; the
		// tokens are RFC 6750 bearer tokens in the Authorization header.
		"authorization_schemes": []map[string]string{{"spec_urn": "urn:ietf:rfc:6749"}, {"spec_urn": "urn:ietf:rfc:6750"}},
	})
}

type rpKey struct{}

// authorized admits a request whose Authorization header carries the bearer
// token of an SSF relying party (RFC 6750 section 2.1; a token in the query
// is not accepted, section 2.3) and hands that RP to next.
func (a *Adapter) authorized(next func(http.ResponseWriter, *http.Request, RP)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		auth := r.Header.Get("Authorization")
		scheme, tok, ok := strings.Cut(auth, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="signoff"`)
			writeError(w, http.StatusUnauthorized, "authentication_failed", "a bearer token in the Authorization header is required")
			return
		}
		rp, found := a.byToken(strings.TrimSpace(tok))
		if !found {
			w.Header().Set("WWW-Authenticate", `Bearer realm="signoff", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, "authentication_failed", "the bearer token is not that of an SSF receiver")
			return
		}
		next(w, r, rp)
	})
}

// byToken finds the RP of a bearer token, comparing hashes in constant
// time with every RP's.
func (a *Adapter) byToken(tok string) (RP, bool) {
	got := sha256.Sum256([]byte(tok))
	var (
		match RP
		found bool
	)
	for _, rp := range a.rps {
		if rp.BearerToken == "" {
			continue
		}
		want := sha256.Sum256([]byte(rp.BearerToken))
		if subtle.ConstantTimeCompare(got[:], want[:]) == 1 {
			match, found = rp, true
		}
	}
	return match, found
}

// streamConfig is the Stream Configuration of SSF 1.0 section 8.1.1.
type streamConfig struct {
	StreamID        string            `json:"stream_id"`
	Iss             string            `json:"iss"`
	Aud             string            `json:"aud"`
	EventsSupported []string          `json:"events_supported"`
	EventsRequested []string          `json:"events_requested,omitempty"`
	EventsDelivered []string          `json:"events_delivered"`
	Delivery        map[string]string `json:"delivery"`
	Description     string            `json:"description,omitempty"`
}

func (a *Adapter) config(rp RP, st Stream) streamConfig {
	d := map[string]string{"method": rp.method()}
	if rp.Delivery == Poll {
		d["endpoint_url"] = a.publicURL + PathPoll
	} else {
		d["endpoint_url"] = rp.EndpointURL
	}
	return streamConfig{
		StreamID: rp.StreamID(), Iss: a.issuer, Aud: rp.Audience,
		EventsSupported: []string{EventSessionRevoked}, EventsRequested: st.EventsRequested,
		EventsDelivered: []string{EventSessionRevoked}, Delivery: d, Description: st.Description,
	}
}

// createStream is Creating a Stream (SSF 1.0 section 8.1.1.1). The stream
// of an RP is provisioned by signoff's configuration: the request may
// only confirm its delivery method (and push endpoint_url); it records the
// receiver's description and events_requested. One stream per receiver: a
// second create is 409 Conflict.
func (a *Adapter) createStream(w http.ResponseWriter, r *http.Request, rp RP) {
	var req struct {
		Delivery *struct {
			Method      string `json:"method"`
			EndpointURL string `json:"endpoint_url"`
		} `json:"delivery"`
		EventsRequested []string `json:"events_requested"`
		Description     string   `json:"description"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	method := MethodPoll // section 8.1.1.1: no delivery means poll
	if req.Delivery != nil && req.Delivery.Method != "" {
		method = req.Delivery.Method
	}
	if method != rp.method() {
		writeError(w, http.StatusBadRequest, "invalid_request", fmt.Sprintf("this stream is configured in signoff for delivery method %s, not %s", rp.method(), method))
		return
	}
	if rp.Delivery == Push && req.Delivery != nil && req.Delivery.EndpointURL != "" && req.Delivery.EndpointURL != rp.EndpointURL {
		writeError(w, http.StatusBadRequest, "invalid_request", "the push endpoint_url of this stream is set in signoff's configuration and differs from the one requested")
		return
	}
	if len(req.Description) > 256 {
		req.Description = req.Description[:256]
	}
	st := Stream{Created: a.now().UTC(), Status: StatusEnabled, Description: req.Description, EventsRequested: req.EventsRequested}
	created, err := a.store.CreateStream(r.Context(), rp.ID, st)
	if err != nil {
		a.internal(w, err)
		return
	}
	if !created {
		writeError(w, http.StatusConflict, "conflict", "this receiver has a stream already (one stream per receiver); read it with GET "+PathStream)
		return
	}
	a.log.Info("SSF stream created by its receiver", "rp_id", rp.ID)
	writeJSON(w, http.StatusCreated, a.config(rp, st))
}

// readStream is Reading a Stream's Configuration (SSF 1.0 section
// 8.1.1.2): without stream_id, the list of the receiver's streams.
func (a *Adapter) readStream(w http.ResponseWriter, r *http.Request, rp RP) {
	st, err := a.status(r.Context(), rp)
	if err != nil {
		a.internal(w, err)
		return
	}
	id, given := r.URL.Query()["stream_id"]
	if !given {
		writeJSON(w, http.StatusOK, []streamConfig{a.config(rp, st)})
		return
	}
	if len(id) != 1 || id[0] != rp.StreamID() {
		writeError(w, http.StatusNotFound, "not_found", "no stream with this stream_id for this receiver")
		return
	}
	writeJSON(w, http.StatusOK, a.config(rp, st))
}

type statusBody struct {
	StreamID string `json:"stream_id"`
	Status   string `json:"status"`
	Reason   string `json:"reason,omitempty"`
}

// readStatus is Reading a Stream's Status (SSF 1.0 section 8.1.2.1).
func (a *Adapter) readStatus(w http.ResponseWriter, r *http.Request, rp RP) {
	id := r.URL.Query().Get("stream_id")
	if !checkStreamID(w, rp, id) {
		return
	}
	st, err := a.status(r.Context(), rp)
	if err != nil {
		a.internal(w, err)
		return
	}
	writeJSON(w, http.StatusOK, statusBody{StreamID: id, Status: st.Status, Reason: st.Reason})
}

// updateStatus is Updating a Stream's Status (SSF 1.0 section 8.1.2.2)
// with enabled, paused or disabled (the interoperability profile's
// "Status Endpoint").
func (a *Adapter) updateStatus(w http.ResponseWriter, r *http.Request, rp RP) {
	var req statusBody
	if !readJSON(w, r, &req) {
		return
	}
	if !checkStreamID(w, rp, req.StreamID) {
		return
	}
	if req.Status != StatusEnabled && req.Status != StatusPaused && req.Status != StatusDisabled {
		writeError(w, http.StatusBadRequest, "invalid_request", "status must be enabled, paused or disabled")
		return
	}
	if len(req.Reason) > 256 {
		req.Reason = req.Reason[:256]
	}
	if err := a.store.SetStatus(r.Context(), rp.ID, req.Status, req.Reason); err != nil {
		a.internal(w, err)
		return
	}
	a.log.Info("SSF stream status changed by its receiver", "rp_id", rp.ID, "status", req.Status)
	if req.Status == StatusEnabled {
		a.wake(rp.ID)
	}
	writeJSON(w, http.StatusOK, req)
}

// verify is Triggering a Verification Event (SSF 1.0 section 8.1.4.2): 204,
// then the verification SET is pushed (asynchronously) or queued for the
// next poll.
func (a *Adapter) verify(w http.ResponseWriter, r *http.Request, rp RP) {
	var req struct {
		StreamID string `json:"stream_id"`
		State    string `json:"state"`
	}
	if !readJSON(w, r, &req) {
		return
	}
	if !checkStreamID(w, rp, req.StreamID) {
		return
	}
	switch {
	case len(req.State) > 1024:
		writeError(w, http.StatusBadRequest, "invalid_request", "state is longer than 1024 characters")
		return
	}
	mint := func() (SET, error) { return a.minter.Verification(rp, req.State) }
	if rp.Delivery == Poll {
		set, err := mint()
		if err == nil {
			err = a.store.Enqueue(r.Context(), Queued{JTI: set.JTI, RPID: rp.ID, SET: set.Raw, ExpiresAt: a.now().Add(VerificationLifetime)}, a.now())
		}
		if err != nil {
			a.internal(w, err)
			return
		}
		a.wake(rp.ID)
	} else {
		_, err := a.pool.Go(r.Context(), "", func() {
			ctx, cancel := context.WithTimeout(a.runCtx, VerificationLifetime)
			defer cancel()
			o := a.push(ctx, rp, mint)
			a.log.Info("verification SET pushed", "rp_id", rp.ID, "outcome", o.Outcome, "detail", o.Detail, "attempts", o.Attempts)
		})
		if err != nil {
			writeError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "signoff is shutting down")
			return
		}
	}
	w.WriteHeader(http.StatusNoContent)
}

func (a *Adapter) internal(w http.ResponseWriter, err error) {
	a.log.Error("SSF endpoint", "err", err)
	writeError(w, http.StatusInternalServerError, "internal_error", "signoff could not complete the request; try again")
}

func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	dec := json.NewDecoder(io.LimitReader(r.Body, maxBody))
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		writeError(w, http.StatusBadRequest, "invalid_request", "the body is not a JSON object of this endpoint: "+err.Error())
		return false
	}
	return true
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError answers with the error shape of RFC 8935 section 2.3 and RFC
// 8936 section 2.4.4 ({"err", "description"}).
func writeError(w http.ResponseWriter, code int, errCode, description string) {
	writeJSON(w, code, pushError{Err: errCode, Description: description})
}

// checkStreamID answers a request whose stream_id is missing (400
// invalid_request) or is not rp's stream (404 not_found: each receiver has
// one stream, SSF 1.0 stream management), and reports whether id names it.
func checkStreamID(w http.ResponseWriter, rp RP, id string) bool {
	switch {
	case id == "":
		writeError(w, http.StatusBadRequest, "invalid_request", "stream_id is required")
		return false
	case id != rp.StreamID():
		writeError(w, http.StatusNotFound, "not_found", "no stream with this stream_id for this receiver")
		return false
	}
	return true
}
