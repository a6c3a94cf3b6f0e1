package web

import (
	"errors"
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
