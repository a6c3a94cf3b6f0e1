package web

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// Bind binds logout id to the browser of this response, as /logout does
// after it started a logout: it sets the cookie that lets only this browser
// see /logout/{id}, its events and acknowledgements. Other endpoints that
// start a logout for a browser (SAML SP-initiated logout) call it before
// redirecting to /logout/{id}. b must be the Browser given to New.
func (b Browser) Bind(w http.ResponseWriter, id string) error {
	if len(b.Secret) < 32 {
		return errors.New("web: browser secret shorter than 32 bytes")
	}
	u, err := url.Parse(b.PublicURL)
	if err != nil {
		return err
	}
	br := &browser{Browser: b, base: strings.TrimSuffix(u.Path, "/"), secure: u.Scheme == "https"}
	br.bind(w, id)
	return nil
}

const bindingCookie = "signoff_logout"

// mac binds a logout id to a browser.
func (b *browser) mac(id string) string {
	m := hmac.New(sha256.New, b.Secret)
	io.WriteString(m, "logout-binding\x00"+id)
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// owns reports whether the request comes from the browser that started id.
func (b *browser) owns(r *http.Request, id string) bool {
	c, err := r.Cookie(bindingCookie)
	if err != nil {
		return false
	}
	got, mac, ok := strings.Cut(c.Value, ".")
	return ok && got == id && hmac.Equal([]byte(mac), []byte(b.mac(id)))
}

// bind binds the browser to the logout id with an HMAC cookie.
func (b *browser) bind(w http.ResponseWriter, id string) {
	http.SetCookie(w, &http.Cookie{Name: bindingCookie, Value: id + "." + b.mac(id), Path: b.base + "/",
		HttpOnly: true, Secure: b.secure, SameSite: http.SameSiteLaxMode, MaxAge: 3600})
}
