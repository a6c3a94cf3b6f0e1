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

// Unconfirmed is the Attempt of a response whose status code did not
// confirm the delivery (and is not a redirect), with detail as the caller
// wrote it: 429 and 503 are retried after their Retry-After, 408 and other
// 5xx retried with backoff, anything else final (status codes: RFC 9110
// section 15). The back-channel, SOAP and SSF push deliveries share it.
func Unconfirmed(resp *http.Response, detail string) Attempt {
	switch code := resp.StatusCode; {
	case code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable:
		return Attempt{Verdict: Retryable, Detail: detail, RetryAfter: RetryAfter(resp)}
	case code == http.StatusRequestTimeout || code >= 500:
		return Attempt{Verdict: Retryable, Detail: detail}
	default:
		return Attempt{Verdict: Final, Detail: detail}
	}
}

// Client is the HTTP client an adapter delivers with: a copy of c (a
// test's or operator's client) or NewHTTPClient's when c is nil, never
// following redirects either way.
func Client(c *http.Client) *http.Client {
	if c == nil {
		return NewHTTPClient()
	}
	cp := *c
	cp.CheckRedirect = NoRedirects
	return &cp
}
