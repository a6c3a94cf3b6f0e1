package demo

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// ssfReceiver is the demo's Shared Signals relying party: an RFC 8935 push
// endpoint on its own port that verifies every SET (signature against
// signoff's /jwks.json, typ secevent+jwt, iss, aud, one event, no sub),
// prints it and answers 202, or 400 with an error code (RFC 8935 section
// 2.3). It uses go-jose only, as an RP written in Go would.
type ssfReceiver struct {
	id, name, url string
	auth          string // the Authorization header signoff must send
	issuer, jwks  string
	srv           *http.Server
	out           io.Writer
}

func startSSFReceiver(id, name string, out io.Writer) (*ssfReceiver, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	secret := make([]byte, 16)
	rand.Read(secret)
	s := &ssfReceiver{id: id, name: name, out: out, url: "http://" + l.Addr().String(), auth: fmt.Sprintf("Bearer %x", secret)}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /ssf/events", s.receive)
	s.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go s.srv.Serve(l)
	return s, nil
}

// headerFile writes the Authorization header for signoff's config.
func (s *ssfReceiver) headerFile(dir string) (string, error) {
	p := filepath.Join(dir, s.id+".authorization")
	return p, os.WriteFile(p, []byte(s.auth+"\n"), 0o600)
}

func (s *ssfReceiver) receive(w http.ResponseWriter, r *http.Request) {
	refuse := func(code, why string) {
		fmt.Fprintf(s.out, "  %s refused a SET: %s\n", s.name, why)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{"err": code, "description": why})
	}
	if r.Header.Get("Authorization") != s.auth {
		refuse("authentication_failed", "wrong Authorization header")
		return
	}
	body, _ := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	jws, err := jose.ParseSignedCompact(string(body), []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		refuse("invalid_request", err.Error())
		return
	}
	h := jws.Signatures[0].Protected
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != "secevent+jwt" {
		refuse("invalid_request", "typ is not secevent+jwt")
		return
	}
	var set jose.JSONWebKeySet
	resp, err := http.Get(s.jwks)
	if err == nil {
		err = json.NewDecoder(resp.Body).Decode(&set)
		resp.Body.Close()
	}
	keys := set.Key(h.KeyID)
	if err != nil || len(keys) == 0 {
		refuse("invalid_key", "signing key not found in the transmitter's JWKS")
		return
	}
	payload, err := jws.Verify(keys[0].Key)
	if err != nil {
		refuse("invalid_key", "bad signature")
		return
	}
	var c struct {
		Iss    string                    `json:"iss"`
		Aud    string                    `json:"aud"`
		Sub    *string                   `json:"sub"`
		Txn    string                    `json:"txn"`
		SubID  map[string]string         `json:"sub_id"`
		Events map[string]map[string]any `json:"events"`
	}
	switch {
	case json.Unmarshal(payload, &c) != nil:
		refuse("invalid_request", "claims are not JSON")
	case c.Iss != s.issuer:
		refuse("invalid_issuer", "unexpected iss "+c.Iss)
	case c.Aud != s.url:
		refuse("invalid_audience", "unexpected aud "+c.Aud)
	case c.Sub != nil || len(c.Events) != 1:
		refuse("invalid_request", "a SET has no sub claim and exactly one event")
	default:
		for typ, ev := range c.Events {
			reason, _ := ev["reason_admin"].(map[string]any)
			fmt.Fprintf(s.out, "  %s verified a SET: %s of %s=%s (txn %s, initiating_entity %v: %v)\n",
				s.name, filepath.Base(typ), c.SubID["format"], c.SubID["sub"], short(c.Txn), ev["initiating_entity"], reason["en"])
		}
		w.WriteHeader(http.StatusAccepted)
	}
}
