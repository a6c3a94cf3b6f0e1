package web

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"

	"github.com/google/uuid"

	"github.com/signoff/signoff/events"
)

// adminLogout is POST /api/admin/logout: {"session_id": …} or
// {"subject": …}, with Authorization: Bearer <admin.token>.
func (b *browser) adminLogout(w http.ResponseWriter, r *http.Request) {
	if !b.admin(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="signoff"`)
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "unauthorized", "message": "a valid admin bearer token is required"})
		return
	}
	var body struct {
		SessionID string `json:"session_id"`
		Subject   string `json:"subject"`
		Reason    string `json:"reason"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 16<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "message": "body must be JSON {\"session_id\": …} or {\"subject\": …}: " + err.Error()})
		return
	}
	if (body.SessionID == "") == (body.Subject == "") {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "message": "give exactly one of session_id and subject"})
		return
	}
	id := uuid.NewString()
	req := events.LogoutRequested{EventID: uuid.NewString(), LogoutID: id, OccurredAt: b.Now().UTC(), SessionID: body.SessionID,
		Subject: body.Subject, Initiator: events.InitiatorAdmin, Scope: events.ScopeGlobal, Reason: body.Reason}
	if err := b.Logouts.RequestLogout(r.Context(), req); err != nil {
		if errors.Is(err, events.ErrInvalid) {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid_request", "message": err.Error()})
			return
		}
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "unavailable", "message": "the logout could not be started; try again"})
		return
	}
	w.Header().Set("Location", b.base+"/api/logouts/"+id)
	writeJSON(w, http.StatusAccepted, map[string]string{"logout_id": id, "status_url": b.base + "/api/logouts/" + id})
}

// admin reports whether the request carries the admin bearer token
// (compared in constant time; an empty configured token disables it).
func (b *browser) admin(r *http.Request) bool {
	if b.AdminToken == "" {
		return false
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(tok), []byte(b.AdminToken)) == 1
}
