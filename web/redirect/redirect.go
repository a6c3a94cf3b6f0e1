// Package redirect decides where a browser may be sent after logout: the rd
// query parameter of /logout and the targetURL of POST /api/logout
// (Authelia-compatible), see DESIGN.md, "Rules that protect users".
//
// The rules follow OWASP's [Unvalidated Redirects and Forwards Cheat Sheet]:
// an allow-list of destinations, checked on the exact string that is later
// emitted. A target is accepted only if it is
//
//   - an absolute https URL whose host is an allowed domain or one of its
//     subdomains, with no userinfo and no port unless that port is allowed, or
//   - when [Policy.AllowRelative] is set, a path on signoff itself that starts
//     with exactly one "/".
//
// Everything a browser might read differently from a server-side URL parser
// is refused before parsing: control characters, whitespace, backslashes,
// non-ASCII bytes and characters outside [RFC 3986]. Hosts must be DNS names
// of ASCII letters, digits and hyphens; IP addresses in any form a browser
// understands (see the WHATWG [URL Standard]) are refused. The caller emits
// the string that Validate returned, which is always the input unchanged,
// never a re-serialised URL.
//
// [Unvalidated Redirects and Forwards Cheat Sheet]: https://cheatsheetseries.owasp.org/cheatsheets/Unvalidated_Redirects_and_Forwards_Cheat_Sheet.html
// [RFC 3986]: https://www.rfc-editor.org/rfc/rfc3986
// [URL Standard]: https://url.spec.whatwg.org/#concept-host-parser
package redirect

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

// ErrRefused is wrapped by every error of [Policy.Validate], [Policy.FromQuery]
// and [Policy.FromRawQuery]; the wrapping error gives a short reason, as in
// `redirect refused: host "evil.com" is not on an allowed domain`. Reasons
// quote user input with %q, so they are safe to log.
var ErrRefused = errors.New("redirect refused")

// ErrEmpty is wrapped, together with [ErrRefused], when no target was given at
// all: an empty string or an absent query parameter. Callers usually answer
// it with their default destination instead of treating it as an attack.
var ErrEmpty = errors.New("no target given")

// MaxLength is the longest target accepted, in bytes. Longer strings are
// refused before any other check.
const MaxLength = 4096

// Policy says where a browser may be sent after logout. The zero Policy
// refuses every target. Validate it once with [Policy.Check] when loading
// configuration; [Policy.Validate] fails closed on entries Check would reject
// (such a domain never matches, such a port is never allowed).
type Policy struct {
	// AllowedDomains are lowercase ASCII DNS names (punycode "xn--" labels
	// for internationalised names) of at least two labels, without a
	// trailing dot. A target's host must equal one of them or end with "."
	// followed by one of them; the comparison ignores the case of the host.
	AllowedDomains []string
	// AllowedPorts are the explicit ports a target may carry. A target
	// without a port (the default https port) is always allowed. When empty,
	// no explicit port is allowed, not even ":443": list 443 to accept it.
	AllowedPorts []int
	// AllowRelative accepts paths on signoff itself such as "/bye?x=1": the
	// string must start with exactly one "/" followed by anything but "/",
	// "\" or their percent-encodings.
	AllowRelative bool
}

// Check reports whether p itself is valid: every allowed domain is a
// lowercase ASCII DNS name of at least two labels (so a bare top-level
// domain like "com" cannot allow half the internet), with no trailing dot,
// and not an IP address; every allowed port is within 1–65535.
func (p Policy) Check() error {
	for i, d := range p.AllowedDomains {
		if err := checkDomain(d); err != nil {
			return fmt.Errorf("redirect policy: allowed domain %d (%q): %s", i+1, d, err)
		}
	}
	for i, port := range p.AllowedPorts {
		if port < 1 || port > 65535 {
			return fmt.Errorf("redirect policy: allowed port %d (%d) is outside 1-65535", i+1, port)
		}
	}
	return nil
}

// Validate returns raw unchanged if a browser may be sent there, and an error
// wrapping [ErrRefused] with the reason otherwise (also wrapping [ErrEmpty]
// when raw is empty). Emit exactly the returned string, for instance in a
// Location header; never re-serialise a parsed URL.
//
// Checks run on the raw bytes before any parsing, then on the structure of
// the URI reference as split by [RFC 3986] section 3, and finally net/url must
// parse it to the same scheme and host. See the package documentation and
// OWASP's [Unvalidated Redirects and Forwards Cheat Sheet].
//
// [RFC 3986]: https://www.rfc-editor.org/rfc/rfc3986#section-3
// [Unvalidated Redirects and Forwards Cheat Sheet]: https://cheatsheetseries.owasp.org/cheatsheets/Unvalidated_Redirects_and_Forwards_Cheat_Sheet.html
func (p Policy) Validate(raw string) (string, error) {
	if raw == "" {
		return "", errEmpty("empty target")
	}
	if len(raw) > MaxLength {
		return "", refuse("target longer than %d bytes", MaxLength)
	}
	if err := checkBytes(raw); err != nil {
		return "", err
	}
	if raw[0] == '/' {
		return p.validateRelative(raw)
	}
	return p.validateAbsolute(raw)
}

// FromQuery validates the single value of the query parameter name in q. A
// parameter given more than once is refused whatever its values (different
// components may otherwise read different ones), an absent one is refused
// with [ErrEmpty]. Note that [net/url.URL.Query] silently drops pairs it
// cannot decode; prefer [Policy.FromRawQuery] on the raw query string.
func (p Policy) FromQuery(q url.Values, name string) (string, error) {
	switch vs := q[name]; len(vs) {
	case 0:
		return "", errEmpty(fmt.Sprintf("parameter %q absent", name))
	case 1:
		return p.Validate(vs[0])
	default:
		return "", refuse("parameter %q given %d times", name, len(vs))
	}
}

// FromRawQuery validates the single value of the query parameter name in a
// raw query string such as [net/url.URL.RawQuery]. It counts the occurrences
// of name (after decoding each key) before parsing, so a repetition is refused
// even if one of its values is malformed, and it refuses a query that
// [net/url.ParseQuery] cannot fully parse (bad escapes, ";" separators).
func (p Policy) FromRawQuery(rawQuery, name string) (string, error) {
	n := 0
	for part := range strings.SplitSeq(rawQuery, "&") {
		key, _, _ := strings.Cut(part, "=")
		k, err := url.QueryUnescape(key)
		if err != nil {
			return "", refuse("malformed query string")
		}
		if k == name {
			n++
		}
	}
	if n > 1 {
		return "", refuse("parameter %q given %d times", name, n)
	}
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return "", refuse("malformed query string")
	}
	return p.FromQuery(q, name)
}

func refuse(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrRefused, fmt.Sprintf(format, args...))
}

func errEmpty(reason string) error {
	return fmt.Errorf("%w: %w (%s)", ErrRefused, ErrEmpty, reason)
}

// checkBytes is the pre-parse filter: only the characters RFC 3986 allows in
// a URI (unreserved, reserved and well-formed percent-encodings) pass; this
// excludes controls (C0, DEL, and C1 which are non-ASCII in UTF-8), space,
// backslash, non-ASCII bytes (fullwidth letters, U+3002 ideographic full
// stop, ...) and " < > ^ ` { | }.
func checkBytes(s string) error {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 0x80:
			return refuse("non-ASCII byte 0x%02x at offset %d", c, i)
		case c < 0x20 || c == 0x7f:
			return refuse("control character 0x%02x at offset %d", c, i)
		case c == ' ':
			return refuse("whitespace at offset %d", i)
		case c == '\\':
			return refuse("backslash at offset %d", i)
		case c == '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return refuse("malformed percent-encoding at offset %d", i)
			}
		case !isURIChar(c):
			return refuse("character %q at offset %d is not allowed in a URI", c, i)
		}
	}
	return nil
}

// isURIChar reports whether c is unreserved or reserved in RFC 3986 (2.2, 2.3).
func isURIChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("-._~:/?#[]@!$&'()*+,;=", c) >= 0
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func (p Policy) validateRelative(raw string) (string, error) {
	if len(raw) > 1 && raw[1] == '/' {
		return "", refuse("scheme-relative target (starts with //)")
	}
	if !p.AllowRelative {
		return "", refuse("relative target not allowed")
	}
	rest := raw[1:]
	if hasPrefixFold(rest, "%2f") || hasPrefixFold(rest, "%5c") {
		return "", refuse("percent-encoded slash or backslash at the start of the path")
	}
	if strings.ContainsAny(raw, "[]") {
		return "", refuse("square bracket outside a host")
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "", refuse("relative target does not parse as a path")
	}
	return raw, nil
}

func (p Policy) validateAbsolute(raw string) (string, error) {
	colon := strings.IndexByte(raw, ':')
	if colon < 0 || strings.ContainsAny(raw[:colon], "/?#") {
		return "", refuse("relative target must start with a single /")
	}
	if scheme := raw[:colon]; !strings.EqualFold(scheme, "https") {
		if len(scheme) > 16 {
			scheme = scheme[:16] + "..."
		}
		return "", refuse("scheme %q is not allowed (https only)", scheme)
	}
	rest, ok := strings.CutPrefix(raw[colon+1:], "//")
	if !ok {
		return "", refuse("https target without // before the host")
	}
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	host, port, err := p.checkAuthority(authority)
	if err != nil {
		return "", err
	}
	if strings.ContainsAny(tail, "[]") {
		return "", refuse("square bracket outside a host")
	}
	// Defence in depth: net/url must see the same URL.
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.User != nil || u.Opaque != "" ||
		!strings.EqualFold(u.Hostname(), host) || u.Port() != port {
		return "", refuse("target parses ambiguously")
	}
	return raw, nil
}

// checkAuthority checks the authority (RFC 3986, 3.2) of an https target and
// returns its host and port.
func (p Policy) checkAuthority(authority string) (host, port string, err error) {
	switch {
	case authority == "":
		return "", "", refuse("missing host")
	case strings.IndexByte(authority, '%') >= 0:
		return "", "", refuse("percent-encoded character in the host")
	case strings.IndexByte(authority, '@') >= 0:
		return "", "", refuse("userinfo (user@host) not allowed")
	case strings.ContainsAny(authority, "[]"):
		return "", "", refuse("IP literal host not allowed")
	}
	host, port, hasPort := strings.Cut(authority, ":")
	if host == "" {
		return "", "", refuse("missing host")
	}
	if hasPort {
		if err := p.checkPort(port); err != nil {
			return "", "", err
		}
	}
	if err := checkHostName(host); err != nil {
		return "", "", err
	}
	if !p.allowedHost(strings.ToLower(host)) {
		return "", "", refuse("host %q is not on an allowed domain", host)
	}
	return host, port, nil
}

func (p Policy) checkPort(port string) error {
	if port == "" {
		return refuse("empty port")
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 || port[0] < '1' || port[0] > '9' {
		return refuse("malformed port %q", port)
	}
	for _, allowed := range p.AllowedPorts {
		if n == allowed {
			return nil
		}
	}
	return refuse("port %d is not allowed", n)
}

// checkHostName accepts an ASCII DNS name of letter-digit-hyphen labels
// (RFC 1123, 2.1) that a browser will not read as an IPv4 address.
func checkHostName(host string) error {
	if len(host) > 253 {
		return refuse("host longer than 253 bytes")
	}
	if strings.HasSuffix(host, ".") {
		return refuse("trailing dot in host %q", host)
	}
	labels := strings.Split(host, ".")
	if endsInNumber(labels[len(labels)-1]) {
		return refuse("IP address host %q not allowed", host)
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return refuse("IP address host %q not allowed", host)
	}
	for _, l := range labels {
		if !isLDHLabel(l) {
			return refuse("host %q is not a DNS name of ASCII letters, digits and hyphens", host)
		}
	}
	return nil
}

// endsInNumber is the WHATWG URL Standard's "ends in a number checker" for
// the last label: all decimal digits, or "0x" followed by hex digits. A
// browser parses such a host as an IPv4 address in any of its forms
// (127.1, 2130706433, 0x7f.0.0.1, ...).
func endsInNumber(label string) bool {
	if label == "" {
		return false
	}
	if len(label) >= 2 && label[0] == '0' && (label[1] == 'x' || label[1] == 'X') {
		for i := 2; i < len(label); i++ {
			if !isHex(label[i]) {
				return false
			}
		}
		return true
	}
	for i := 0; i < len(label); i++ {
		if label[i] < '0' || label[i] > '9' {
			return false
		}
	}
	return true
}

func isLDHLabel(l string) bool {
	if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// allowedHost reports whether the lowercase host is an allowed domain or a
// subdomain of one, matching whole labels only. Invalid policy entries are
// skipped.
func (p Policy) allowedHost(host string) bool {
	for _, d := range p.AllowedDomains {
		if checkDomain(d) != nil {
			continue
		}
		if host == d || strings.HasSuffix(host, "."+d) {
			return true
		}
	}
	return false
}

func checkDomain(d string) error {
	switch {
	case d == "":
		return errors.New("empty")
	case d != strings.ToLower(d):
		return errors.New("not lowercase")
	case strings.HasSuffix(d, "."):
		return errors.New("trailing dot")
	case len(d) > 253:
		return errors.New("longer than 253 bytes")
	}
	labels := strings.Split(d, ".")
	if _, err := netip.ParseAddr(d); err == nil || endsInNumber(labels[len(labels)-1]) {
		return errors.New("an IP address, not a domain")
	}
	for _, l := range labels {
		if !isLDHLabel(l) {
			return errors.New("not a DNS name of ASCII letters, digits and hyphens (write internationalised names in punycode)")
		}
	}
	if len(labels) < 2 {
		return errors.New("a single label; name a registrable domain such as example.com")
	}
	return nil
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}
