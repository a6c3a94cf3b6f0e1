package config

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/signoff/signoff/events/summary"
)

// Validate checks c and returns every problem at once, joined with
// errors.Join and sorted by line; each is a *FieldError naming the key path
// and, when the value came from the file, the file and line. It returns nil
// when c is valid. Validate does not apply defaults and does no I/O.
func (c *Config) Validate() error {
	v := &validator{src: c.src}

	switch {
	case c.PublicURL == "":
		v.add("public_url", "required: the absolute https URL where browsers reach signoff")
	default:
		v.check("public_url", checkBaseURL(c.PublicURL))
	}
	// An issuer equal to public_url (also its default) was checked above.
	if c.Issuer != "" && c.Issuer != c.PublicURL {
		v.check("issuer", checkBaseURL(c.Issuer))
	}
	v.check("listen", checkHostPort(c.Listen))
	if strings.TrimSpace(c.DataDir) == "" {
		v.add("data_dir", "must not be empty")
	}

	if c.NATS.URL != "" {
		v.check("nats.url", checkNATSURLs(c.NATS.URL))
	}
	if c.NATS.Listen != "" {
		v.check("nats.listen", checkHostPort(c.NATS.Listen))
	}
	v.nats(&c.NATS)
	v.bridges(c.Bridges, c.RelyingParties)

	v.check("session.cookie_name", checkCookieName(c.Session.CookieName))
	if d := c.Session.CookieDomain; d != "" {
		if msg := checkDomain(d); msg != "" {
			v.add("session.cookie_domain", "%s", msg)
		} else if u, err := url.Parse(c.PublicURL); err == nil && u.Hostname() != "" && checkBaseURL(c.PublicURL) == "" {
			host := strings.ToLower(u.Hostname())
			if host != d && !strings.HasSuffix(host, "."+d) {
				v.add("session.cookie_domain", "%q does not cover the public_url host %q: browsers would neither send the cookie to signoff nor let it clear the cookie", d, host)
			}
		}
	}

	if c.Redirects.DefaultURL != "" {
		v.check("redirects.default_url", checkWebURL(c.Redirects.DefaultURL))
	}
	for i, d := range c.Redirects.AllowedDomains {
		v.check(fmt.Sprintf("redirects.allowed_domains[%d]", i), checkDomain(d))
	}

	v.checkOptionalRange("session.expiration", c.Session.Expiration, MinSessionLifetime, MaxSessionLifetime)
	v.checkOptionalRange("session.inactivity", c.Session.Inactivity, MinSessionLifetime, MaxSessionLifetime)
	v.checkRange("logout.deadline", c.Logout.Deadline, time.Second, 10*time.Minute)
	v.checkRange("shutdown.grace", c.Shutdown.Grace, time.Second, 10*time.Minute)
	if !slices.Contains([]string{"rp_initiated", "always", "never"}, c.Logout.ChooseScope) {
		v.add("logout.choose_scope", "must be rp_initiated, always or never, got %q", c.Logout.ChooseScope)
	}
	if p := c.OIDCProvider; p.Issuer != "" || p.JWKSURI != "" {
		if p.Issuer == "" {
			v.add("oidc_provider.issuer", "required with oidc_provider.jwks_uri")
		} else {
			v.check("oidc_provider.issuer", checkWebURL(p.Issuer))
		}
		if p.JWKSURI == "" {
			v.add("oidc_provider.jwks_uri", "required with oidc_provider.issuer")
		} else {
			v.check("oidc_provider.jwks_uri", checkWebURL(p.JWKSURI))
		}
	}
	v.checkRange("backchannel.attempt_timeout", c.Backchannel.AttemptTimeout, 100*time.Millisecond, time.Minute)
	v.tracing(&c.Tracing)
	if c.NATS.URL != "" {
		if d := c.NATS.ConnectTimeout.Std(); d < 0 || d > 10*time.Minute {
			v.add("nats.connect_timeout", "must be between 0 (try once) and 10m, got %s", c.NATS.ConnectTimeout)
		}
	}
	if n := c.NATS.Replicas; n < 1 || n > 5 {
		v.add("nats.replicas", "must be between 1 and 5, got %d", n)
	}
	if n := c.Backchannel.Concurrency; n < 1 || n > 10000 {
		v.add("backchannel.concurrency", "must be between 1 and 10000, got %d", n)
	}

	if !slices.Contains([]string{"debug", "info", "warn", "error"}, c.Log.Level) {
		v.add("log.level", "must be one of debug, info, warn, error; got %q", c.Log.Level)
	}
	if !slices.Contains([]string{"text", "json"}, c.Log.Format) {
		v.add("log.format", "must be text or json; got %q", c.Log.Format)
	}

	v.metrics(c)
	v.cluster(c)
	v.secretFile(c)
	v.relyingParties(c.RelyingParties)
	v.upstreams(c)
	v.ssf(&c.SSF)
	// Upstream ids and SSF transmitter ids share one namespace: both name
	// the upstream of a session (session.joined's upstream.id).
	for i, t := range c.SSF.Transmitters {
		for j, u := range c.Upstreams {
			if t.ID != "" && t.ID == u.ID {
				v.add(fmt.Sprintf("ssf.transmitters[%d].id", i), "%q is already the id of upstreams[%d]: upstream and transmitter ids name the upstream of a session and must differ", t.ID, j)
			}
		}
	}
	return v.err()
}

// validator collects problems.
type validator struct {
	src  *source
	errs []error
}

func (v *validator) add(path, format string, args ...any) {
	line, env := v.src.locate(path)
	var file string
	if v.src != nil {
		file = v.src.name
	}
	v.errs = append(v.errs, &FieldError{File: file, Line: line, Path: path, Env: env, Msg: fmt.Sprintf(format, args...)})
}

// check adds msg at path unless it is empty.
func (v *validator) check(path, msg string) {
	if msg != "" {
		v.add(path, "%s", msg)
	}
}

func (v *validator) checkRange(path string, d Duration, lo, hi time.Duration) {
	if d.Std() < lo || d.Std() > hi {
		v.add(path, "must be between %s and %s, got %s", summary.Duration(lo), summary.Duration(hi), d)
	}
}

// checkOptionalRange is checkRange for a duration where 0 means "none".
func (v *validator) checkOptionalRange(path string, d Duration, lo, hi time.Duration) {
	if d != 0 && (d.Std() < lo || d.Std() > hi) {
		v.add(path, "must be 0 (none) or between %s and %s (%d days), got %s", summary.Duration(lo), summary.Duration(hi), hi/(24*time.Hour), d)
	}
}

func (v *validator) err() error {
	if len(v.errs) == 0 {
		return nil
	}
	return joinSorted(v.errs)
}

var rpIDRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

func (v *validator) relyingParties(rps []RelyingParty) {
	ids := map[string]int{}
	clientIDs := map[string]int{}
	for i, rp := range rps {
		p := fmt.Sprintf("relying_parties[%d]", i)
		switch {
		case rp.ID == "":
			v.add(p+".id", "required")
		case !rpIDRE.MatchString(rp.ID):
			v.add(p+".id", "must be 1-64 characters of A-Z a-z 0-9 . _ -, got %q", rp.ID)
		case rp.ID == ReservedRPID:
			v.add(p+".id", "%q is reserved for signoff's own session cookie", rp.ID)
		default:
			if j, dup := ids[rp.ID]; dup {
				v.add(p+".id", "%q is already the id of relying_parties[%d]", rp.ID, j)
			} else {
				ids[rp.ID] = i
			}
		}
		switch n := btoi(rp.OIDC != nil) + btoi(rp.SAML != nil) + btoi(rp.SSF != nil); {
		case n == 0:
			v.add(p, "must have exactly one of oidc, saml or ssf, has none")
		case n > 1:
			v.add(p, "must have exactly one of oidc, saml or ssf, has %d", n)
		}
		if rp.OIDC != nil {
			v.oidc(p+".oidc", rp.OIDC, i, clientIDs)
		}
		if rp.SAML != nil {
			v.saml(p+".saml", rp.SAML)
		}
		if rp.SSF != nil {
			v.ssfReceiver(p+".ssf", rp.SSF)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (v *validator) oidc(p string, o *OIDC, i int, clientIDs map[string]int) {
	switch {
	case o.ClientID == "":
		v.add(p+".client_id", "required")
	default:
		if j, dup := clientIDs[o.ClientID]; dup {
			v.add(p+".client_id", "%q is already the client_id of relying_parties[%d]", o.ClientID, j)
		} else {
			clientIDs[o.ClientID] = i
		}
	}
	if o.BackchannelLogoutURI == "" && o.FrontchannelLogoutURI == "" {
		v.add(p, "needs backchannel_logout_uri or frontchannel_logout_uri (or both)")
	}
	if o.BackchannelLogoutURI != "" {
		v.check(p+".backchannel_logout_uri", checkWebURL(o.BackchannelLogoutURI))
	}
	if o.FrontchannelLogoutURI != "" {
		v.check(p+".frontchannel_logout_uri", checkWebURL(o.FrontchannelLogoutURI))
	}
	for j, u := range o.PostLogoutRedirectURIs {
		v.check(fmt.Sprintf("%s.post_logout_redirect_uris[%d]", p, j), checkRedirectURI(u))
	}
	if !slices.Contains([]string{AlgRS256, AlgES256, AlgEdDSA}, o.LogoutTokenAlg) {
		v.add(p+".logout_token_alg", "must be one of RS256, ES256, EdDSA; got %q", o.LogoutTokenAlg)
	}
	if !slices.Contains([]string{TypLogoutJWT, TypJWT}, o.LogoutTokenTyp) {
		v.add(p+".logout_token_typ", "must be logout+jwt or JWT; got %q", o.LogoutTokenTyp)
	}
}

func (v *validator) saml(p string, s *SAML) {
	inline := s.EntityID != "" || s.CertificateFile != "" || s.SLORedirectURL != "" || s.SLOPOSTURL != "" || s.SLOSOAPURL != ""
	switch {
	case strings.TrimSpace(s.MetadataFile) == "" && !inline:
		v.add(p+".metadata_file", "required: the SP metadata with its SingleLogoutService endpoints and signing certificates (or inline: entity_id, certificate_file and slo_redirect_url, slo_post_url or slo_soap_url)")
	case s.MetadataFile != "" && inline:
		v.add(p, "has metadata_file and inline keys (entity_id, certificate_file, slo_*_url): use one or the other")
	case inline:
		if s.EntityID == "" {
			v.add(p+".entity_id", "required with inline SAML configuration (certificate_file, slo_*_url)")
		} else if hasSpaceOrControl(s.EntityID) || len(s.EntityID) > 1024 {
			v.add(p+".entity_id", "must be a URI of at most 1024 characters without whitespace or control characters")
		}
		if strings.TrimSpace(s.CertificateFile) == "" {
			v.add(p+".certificate_file", "required with entity_id: a PEM file of the SP's signing certificate")
		}
		if s.SLORedirectURL == "" && s.SLOPOSTURL == "" && s.SLOSOAPURL == "" {
			v.add(p, "needs slo_redirect_url, slo_post_url or slo_soap_url with entity_id")
		}
		for _, u := range []struct{ key, val string }{{"slo_redirect_url", s.SLORedirectURL}, {"slo_post_url", s.SLOPOSTURL}, {"slo_soap_url", s.SLOSOAPURL}} {
			if u.val != "" {
				v.check(p+"."+u.key, checkWebURL(u.val))
			}
		}
	}
	// Empty is the default (redirect) in a Config built in code.
	if !slices.Contains([]string{"", SAMLModeRedirect, SAMLModeIframe}, s.FrontchannelMode) {
		v.add(p+".frontchannel_mode", "must be redirect or iframe; got %q", s.FrontchannelMode)
	}
}

// hasSpaceOrControl reports whitespace, control characters or backslashes,
// which have no place in the URLs and names of a config file.
func hasSpaceOrControl(s string) bool {
	return strings.ContainsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || unicode.IsControl(r) || r == '\\'
	})
}

// isLoopback reports whether host is one of the development hosts on which
// plain http is allowed.
func isLoopback(host string) bool {
	return host == "127.0.0.1" || host == "::1" || strings.EqualFold(host, "localhost")
}

// checkWebURL checks an absolute https URL (http only on a loopback host)
// without credentials or fragment; it returns what is wrong or "".
func checkWebURL(raw string) string {
	if hasSpaceOrControl(raw) {
		return "must not contain whitespace, control characters or backslashes"
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Opaque != "" || u.Hostname() == "" {
		return fmt.Sprintf("must be an absolute http(s) URL, got %q", raw)
	}
	if u.User != nil {
		return "must not contain credentials"
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return "must not have a fragment"
	}
	if u.Scheme == "http" && !isLoopback(u.Hostname()) {
		return "must use https (http is allowed only on the loopback hosts 127.0.0.1, localhost and ::1)"
	}
	return ""
}

// checkBaseURL is checkWebURL without a query, for public_url and issuer.
func checkBaseURL(raw string) string {
	if msg := checkWebURL(raw); msg != "" {
		return msg
	}
	if strings.Contains(raw, "?") {
		return "must not have a query"
	}
	return ""
}

// checkRedirectURI checks a post_logout_redirect_uri: an absolute URL (custom
// schemes of native apps allowed, script and local schemes not) without
// fragment.
func checkRedirectURI(raw string) string {
	if hasSpaceOrControl(raw) {
		return "must not contain whitespace, control characters or backslashes"
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() {
		return fmt.Sprintf("must be an absolute URL, got %q", raw)
	}
	switch u.Scheme {
	case "javascript", "data", "vbscript", "file", "blob":
		return fmt.Sprintf("scheme %q is not allowed", u.Scheme)
	case "http", "https":
		if u.Opaque != "" || u.Hostname() == "" {
			return fmt.Sprintf("must be an absolute URL with a host, got %q", raw)
		}
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return "must not have a fragment"
	}
	return ""
}

// checkHostPort checks a listen address host:port with a numeric port; the
// host may be empty (all interfaces).
func checkHostPort(s string) string {
	host, port, err := net.SplitHostPort(s)
	if err != nil || hasSpaceOrControl(host) {
		return fmt.Sprintf("must be host:port, such as 127.0.0.1:8080; got %q", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Sprintf("port must be a number from 0 to 65535; got %q", port)
	}
	return ""
}

// checkNATSURLs checks a comma-separated list of nats:// or tls:// URLs.
func checkNATSURLs(list string) string {
	for _, raw := range strings.Split(list, ",") {
		raw = strings.TrimSpace(raw)
		if raw == "" {
			return "must be a comma-separated list of nats:// or tls:// URLs without empty entries"
		}
		u, err := url.Parse(raw)
		if err != nil || hasSpaceOrControl(raw) || (u.Scheme != "nats" && u.Scheme != "tls") || u.Hostname() == "" {
			return fmt.Sprintf("%q is not a nats:// or tls:// URL, such as nats://127.0.0.1:4222", raw)
		}
		if p := u.Port(); p != "" {
			if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
				return fmt.Sprintf("%q has an invalid port", raw)
			}
		}
	}
	return ""
}

// checkCookieName checks an RFC 6265 cookie name (an RFC 7230 token).
func checkCookieName(s string) string {
	if s == "" {
		return "required"
	}
	for _, r := range s {
		if r > unicode.MaxASCII || !(unicode.IsLetter(r) || unicode.IsDigit(r) || strings.ContainsRune("!#$%&'*+-.^_`|~", r)) {
			return fmt.Sprintf("must be a cookie name of letters, digits and !#$%%&'*+-.^_`|~; got %q", s)
		}
	}
	return ""
}

// checkDomain checks a lowercase DNS name without scheme, port, path or
// leading dot; it returns what is wrong or "".
func checkDomain(d string) string {
	switch {
	case d == "":
		return "must not be empty"
	case strings.Contains(d, "://"):
		return fmt.Sprintf("must be a domain name without a scheme, such as example.com; got %q", d)
	case strings.HasPrefix(d, "*."):
		return fmt.Sprintf("must be a domain name without a wildcard: subdomains are always included; got %q", d)
	case strings.HasPrefix(d, "."):
		return fmt.Sprintf("must not start with a dot: subdomains are always included; got %q", d)
	case strings.ContainsAny(d, "/?#"):
		return fmt.Sprintf("must be a domain name without a path; got %q", d)
	case net.ParseIP(strings.Trim(d, "[]")) != nil:
		return fmt.Sprintf("must be a DNS name, not an IP address; got %q", d)
	case strings.Contains(d, ":"):
		return fmt.Sprintf("must be a domain name without a port; got %q", d)
	case strings.HasSuffix(d, "."):
		return fmt.Sprintf("must not end with a dot; got %q", d)
	case d != strings.ToLower(d):
		return fmt.Sprintf("must be lowercase; got %q", d)
	case len(d) > 253:
		return "must be at most 253 characters"
	}
	for _, label := range strings.Split(d, ".") {
		if !dnsLabel(label) {
			return fmt.Sprintf("is not a valid DNS name (labels of a-z, 0-9 and inner hyphens); got %q", d)
		}
	}
	return ""
}

func dnsLabel(l string) bool {
	if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}
