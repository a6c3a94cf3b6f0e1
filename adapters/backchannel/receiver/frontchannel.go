package receiver

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
)

// MessageType is the "type" of the acknowledgement that FrontChannel's page
// posts to signoff's logout page (see the package documentation).
const MessageType = "signoff:frontchannel-logout"

// maxErrorText is the most bytes of a callback error put in the message.
const maxErrorText = 200

// FrontLogout is a front-channel logout request
// (https://openid.net/specs/openid-connect-frontchannel-1_0.html#RPLogout).
// Issuer and SessionID are both set or both empty.
type FrontLogout struct {
	// Issuer is the iss query parameter; when set, it equals the
	// configured issuer.
	Issuer string
	// SessionID is the sid query parameter: the OP session to end. When
	// empty, end the session of the browser's cookie.
	SessionID string
}

// FrontChannelConfig configures a FrontChannel.
type FrontChannelConfig struct {
	// Issuer is the OP's issuer identifier; a request's iss must equal
	// it exactly. Required.
	Issuer string
	// ParentOrigin is the origin of the page that frames this one
	// (signoff's public_url): the targetOrigin of the acknowledgement and
	// the CSP frame-ancestors. Default: the origin of Issuer.
	ParentOrigin string
	// Logout ends the session and clears the RP's cookies, for instance
	// with http.SetCookie(w, …) and MaxAge -1. Browsers that block
	// third-party cookies send no cookie to the iframe, so when
	// l.SessionID is set, end that session on the server. A session that
	// is already gone counts as success. It must not write a body. An
	// error is answered with status 500 and an acknowledgement with
	// "ok":false whose "error" is the error's text: the parent page may
	// show it, so keep secrets out of it. Required.
	Logout func(w http.ResponseWriter, r *http.Request, l FrontLogout) error
	// Logger receives rejected requests (Info) and failed logouts
	// (Error); nil means slog.Default().
	Logger *slog.Logger
}

// FrontChannel is the http.Handler of an RP's frontchannel_logout_uri
// (https://openid.net/specs/openid-connect-frontchannel-1_0.html#RPLogout).
// It answers GET with a small HTML page, never cached, that may be framed
// only by ParentOrigin and posts the acknowledgement to it.
type FrontChannel struct {
	cfg    FrontChannelConfig
	origin string // of the parent page
}

// NewFrontChannel validates cfg and returns the handler.
func NewFrontChannel(cfg FrontChannelConfig) (*FrontChannel, error) {
	if cfg.Issuer == "" {
		return nil, errors.New("receiver: Issuer is empty")
	}
	if cfg.Logout == nil {
		return nil, errors.New("receiver: no Logout callback")
	}
	parent := cfg.ParentOrigin
	if parent == "" {
		parent = cfg.Issuer
	}
	origin, err := originOf(parent)
	if err != nil {
		return nil, fmt.Errorf("receiver: parent origin: %w", err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &FrontChannel{cfg: cfg, origin: origin}, nil
}

// originOf returns the serialised origin of an absolute http(s) URL: scheme
// and host in lower case, the port only when it is not the default one.
func originOf(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", err
	}
	scheme := strings.ToLower(u.Scheme)
	if (scheme != "https" && scheme != "http") || u.Hostname() == "" {
		return "", fmt.Errorf("%q is not an absolute http(s) URL", raw)
	}
	host := strings.ToLower(u.Hostname())
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if p := u.Port(); p != "" && !(scheme == "https" && p == "443") && !(scheme == "http" && p == "80") {
		host += ":" + p
	}
	return scheme + "://" + host, nil
}

// ServeHTTP handles one front-channel logout: GET with both iss and sid or
// neither (section 2). An invalid request is answered 400, a failed Logout
// 500; both pages post "ok":false.
func (f *FrontChannel) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		http.Error(w, "use GET", http.StatusMethodNotAllowed)
		return
	}
	q := r.URL.Query()
	iss, sid := q["iss"], q["sid"]
	var l FrontLogout
	switch {
	case len(iss) > 1 || len(sid) > 1:
		f.fail(w, r, http.StatusBadRequest, "iss and sid must not be repeated")
		return
	case len(iss) != len(sid):
		f.fail(w, r, http.StatusBadRequest, "iss and sid must both be present or both absent")
		return
	case len(iss) == 1:
		if iss[0] != f.cfg.Issuer {
			f.fail(w, r, http.StatusBadRequest, "iss is not the expected issuer")
			return
		}
		if sid[0] == "" {
			f.fail(w, r, http.StatusBadRequest, "sid is empty")
			return
		}
		l = FrontLogout{Issuer: iss[0], SessionID: sid[0]}
	}
	if err := f.cfg.Logout(w, r, l); err != nil {
		f.cfg.Logger.Error("front-channel logout: ending the session failed", "sid", l.SessionID, "err", err)
		f.fail(w, r, http.StatusInternalServerError, err.Error())
		return
	}
	f.page(w, http.StatusOK, ack{Type: MessageType, OK: true, SID: &l.SessionID})
}

// ack is the acknowledgement posted to the parent page.
type ack struct {
	Type  string  `json:"type"`
	OK    bool    `json:"ok"`
	SID   *string `json:"sid,omitempty"`
	Error string  `json:"error,omitempty"`
}

func (f *FrontChannel) fail(w http.ResponseWriter, r *http.Request, status int, desc string) {
	if status == http.StatusBadRequest {
		f.cfg.Logger.Info("front-channel logout rejected", "remote", r.RemoteAddr, "reason", desc)
	}
	if len(desc) > maxErrorText {
		desc = desc[:maxErrorText]
	}
	f.page(w, status, ack{Type: MessageType, Error: strings.ToValidUTF8(desc, "")})
}

// page writes the HTML page that posts msg to the parent from a script
// allowed by a fresh CSP nonce. msg and the origin are JSON-encoded, which
// escapes <, > and & (so "</script>" cannot end the script) and U+2028/9.
func (f *FrontChannel) page(w http.ResponseWriter, status int, msg ack) {
	var b [18]byte
	_, _ = rand.Read(b[:])
	nonce := base64.RawURLEncoding.EncodeToString(b[:])
	m, _ := json.Marshal(msg)
	origin, _ := json.Marshal(f.origin)
	text := "You have been signed out."
	if !msg.OK {
		text = "Sign-out failed."
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy",
		"default-src 'none'; script-src 'nonce-"+nonce+"'; frame-ancestors "+f.origin)
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, `<!doctype html>
<html><head><meta charset="utf-8"><title>Sign-out</title></head>
<body><p>%s</p>
<script nonce="%s">window.parent.postMessage(%s, %s);</script>
</body></html>
`, text, nonce, m, origin)
}
