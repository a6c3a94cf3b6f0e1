package ssfin

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// MaxSETSize bounds the body of a push request.
const MaxSETSize = 64 << 10

// PushPath is the push endpoint (RFC 8935) served by Handler.
const PushPath = "/ssf/events"

// Handler serves POST /ssf/events, Push-Based SET Delivery (RFC 8935
// section 2): the transmitter is identified by its bearer token (RFC 6750
// section 2.1, compared in constant time), the body is one SET of type
// application/secevent+jwt. The answer is 202 once the SET is processed
// (for a logout: once the logout.requested is durably published), 400 with
// {"err", "description"} (RFC 8935 section 2.3) when it is refused, 401 for
// a missing or wrong token, 413 for a body over MaxSETSize, and 503 with
// Retry-After when it cannot be processed now.
func (r *Receiver) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		t := r.authenticate(req)
		if t == nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="signoff-ssf"`)
			writeError(w, http.StatusUnauthorized, refuse(CodeAuthenticationFailed, "a bearer token of a configured SSF transmitter is required"))
			return
		}
		mt, _, err := mime.ParseMediaType(req.Header.Get("Content-Type"))
		if err != nil || mt != "application/secevent+jwt" {
			writeError(w, http.StatusBadRequest, invalid("Content-Type must be application/secevent+jwt (RFC 8935 section 2)"))
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, req.Body, MaxSETSize))
		if err != nil {
			var tooBig *http.MaxBytesError
			if errors.As(err, &tooBig) {
				writeError(w, http.StatusRequestEntityTooLarge, invalid("the SET is larger than %d bytes", MaxSETSize))
				return
			}
			writeError(w, http.StatusBadRequest, invalid("the request body could not be read"))
			return
		}
		out, err := r.process(req.Context(), t, strings.TrimSpace(string(body)), "")
		if err != nil {
			if e, ok := asRefusal(err); ok {
				r.log.Warn("SSF push refused", "transmitter", t.ID, "err", e.Code, "description", e.Description)
				writeError(w, http.StatusBadRequest, e)
				return
			}
			r.log.Warn("SSF push not processed; the transmitter should retry", "transmitter", t.ID, "err", err)
			retry := 5 * time.Second
			var u *unavailableError
			if errors.As(err, &u) && u.retryAfter > 0 {
				retry = u.retryAfter
			}
			w.Header().Set("Retry-After", strconv.Itoa(max(1, int(retry.Round(time.Second)/time.Second))))
			http.Error(w, "the SET could not be processed now; retry later", http.StatusServiceUnavailable)
			return
		}
		r.log.Debug("SSF push accepted", "transmitter", t.ID, "event", out.Event, "logout_id", out.LogoutID)
		w.WriteHeader(http.StatusAccepted)
	})
}

// authenticate returns the transmitter whose bearer token the request
// carries, comparing with every configured token in constant time.
func (r *Receiver) authenticate(req *http.Request) *transmitter {
	scheme, token, ok := strings.Cut(req.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return nil
	}
	token = strings.TrimSpace(token)
	var found *transmitter
	for _, t := range r.transmitters {
		if t.BearerToken != "" && subtle.ConstantTimeCompare([]byte(token), []byte(t.BearerToken)) == 1 {
			found = t
		}
	}
	return found
}

// writeError writes the RFC 8935 section 2.3 error response.
func writeError(w http.ResponseWriter, status int, e *Error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(struct {
		Err         string `json:"err"`
		Description string `json:"description"`
	}{e.Code, e.Description})
}
