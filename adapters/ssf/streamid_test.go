package ssf

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestCheckStreamID: the stream endpoints answer a missing stream_id with
// 400 invalid_request and another receiver's with 404 not_found, and let
// the receiver's own through without writing anything.
func TestCheckStreamID(t *testing.T) {
	rp := RP{ID: "wiki"}
	tests := []struct {
		id       string
		wantOK   bool
		wantCode int
		wantErr  string
	}{
		{"wiki", true, http.StatusOK, ""},
		{"", false, http.StatusBadRequest, `"invalid_request"`},
		{"chat", false, http.StatusNotFound, `"not_found"`},
	}
	for _, tt := range tests {
		w := httptest.NewRecorder()
		if ok := checkStreamID(w, rp, tt.id); ok != tt.wantOK {
			t.Errorf("checkStreamID(%q) = %v, want %v", tt.id, ok, tt.wantOK)
		}
		if w.Code != tt.wantCode || !strings.Contains(w.Body.String(), tt.wantErr) || (tt.wantOK && w.Body.Len() != 0) {
			t.Errorf("checkStreamID(%q) answered %d %q, want %d with %s", tt.id, w.Code, w.Body, tt.wantCode, tt.wantErr)
		}
	}
}
