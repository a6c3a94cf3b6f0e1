package delivery

import (
	"net"
	"net/http"
	"time"
)

// NewHTTPClient returns the default client of the server-to-server
// adapters (OIDC back-channel, SAML SOAP): keep-alive connections to many
// RPs (64 idle per host, 1024 in all), 5 s dial and TLS handshake
// timeouts, proxy from the environment, HTTP/2 when offered, and no
// redirects followed: a logout is POSTed to the registered URL only
// (OpenID Connect Back-Channel Logout 1.0 §2.8; the SAML SOAP binding).
func NewHTTPClient() *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	return &http.Client{
		Transport: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           dialer.DialContext,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          1024,
			MaxIdleConnsPerHost:   64,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   5 * time.Second,
			ExpectContinueTimeout: time.Second,
		},
		CheckRedirect: NoRedirects,
	}
}

// NoRedirects is an http.Client CheckRedirect that follows no redirect:
// the response of the delivery URL itself is the answer.
func NoRedirects(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
