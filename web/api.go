package web

import (
	"encoding/json"
	"io"
	"net/http"
)

// apiLogout is Authelia's POST /api/logout: {"targetURL": …} →
// {"status":"OK","data":{"safeTargetURL":bool}}, plus logoutURL, the page
// that follows the logout.
func (b *browser) apiLogout(w http.ResponseWriter, r *http.Request) {
	var body struct {
		TargetURL string `json:"targetURL"`
	}
	if r.Body != nil && r.ContentLength != 0 {
		dec := json.NewDecoder(io.LimitReader(r.Body, 16<<10))
		if err := dec.Decode(&body); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"status": "KO", "message": "request body must be JSON like {\"targetURL\": \"https://…\"}"})
			return
		}
	}
	rd, _ := b.target(body.TargetURL)
	id, err := b.begin(w, r, rd)
	if err != nil {
		b.Logger.Error("starting a logout", "err", err)
		writeJSON(w, http.StatusServiceUnavailable, map[string]any{"status": "KO", "message": "the sign-out could not be started; try again"})
		return
	}
	data := map[string]any{"safeTargetURL": rd != ""}
	if id != "" {
		data["logoutURL"] = b.base + "/logout/" + id
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "OK", "data": data})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// ack takes a front-channel acknowledgement from the logout page.
func (b *browser) ack(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if !b.owns(r, id) {
		http.Error(w, "404 page not found", http.StatusNotFound)
		return
	}
	var body struct {
		RPID   string `json:"rp_id"`
		Token  string `json:"token"`
		Status string `json:"status"`
		Detail string `json:"detail"`
	}
	if err := json.NewDecoder(io.LimitReader(r.Body, 8<<10)).Decode(&body); err != nil || body.RPID == "" || body.Token == "" {
		http.Error(w, "expected JSON {rp_id, token, status, detail}", http.StatusBadRequest)
		return
	}
	if b.Frames == nil {
		http.Error(w, "no front-channel participants", http.StatusBadRequest)
		return
	}
	if err := b.Frames.Ack(r.Context(), id, body.RPID, body.Token, body.Status, body.Detail); err != nil {
		b.Logger.Warn("front-channel acknowledgement refused", "logout_id", id, "rp_id", body.RPID, "err", err)
		http.Error(w, "acknowledgement refused: "+err.Error(), http.StatusBadRequest)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// status is GET /api/logouts/{id}: the saga as JSON, for its browser.
func (b *browser) status(w http.ResponseWriter, r *http.Request) {
	if b.admin(r) {
		v, found, err := b.Status.Logout(r.Context(), r.PathValue("id"))
		switch {
		case err != nil:
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "unavailable", "message": err.Error()})
		case !found:
			// Published but not started yet, or unknown.
			writeJSON(w, http.StatusNotFound, map[string]string{"error": "not_found", "message": "no such logout (yet)"})
		default:
			writeJSON(w, http.StatusOK, v)
		}
		return
	}
	v, ok := b.view(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, v)
}
