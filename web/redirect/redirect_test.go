package redirect

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// testPolicy is the policy of the table and fuzz tests.
var testPolicy = Policy{
	AllowedDomains: []string{"example.com", "example.org"},
	AllowRelative:  true,
}

var refusedCases = []struct {
	name, in, reason string
	policy           *Policy // testPolicy when nil
}{
	{"empty", "", "no target given", nil},
	{"scheme-relative", "//evil.com", "scheme-relative", nil},
	{"scheme-relative triple slash", "///evil.com", "scheme-relative", nil},
	{"slash backslash", `/\evil.com`, "backslash", nil},
	{"escaped slashes", `\/\/evil.com`, "backslash", nil},
	{"https without slashes", "https:evil.com", "without //", nil},
	{"https one slash", "https:/evil.com", "without //", nil},
	{"userinfo", "https://example.com@evil.com", "userinfo", nil},
	{"encoded slash before at", "https://app.example.com%2F@evil.com", "percent-encoded", nil},
	{"encoded at", "https://app.example.com%40evil.com", "percent-encoded", nil},
	{"backslash before at", `https://evil.com\@app.example.com`, "backslash", nil},
	{"allowed domain as prefix", "https://app.example.com.evil.com", `host "app.example.com.evil.com" is not on an allowed domain`, nil},
	{"label suffix", "https://evilexample.com", `host "evilexample.com" is not on an allowed domain`, nil},
	{"allowed domain in path", "https://evil.com/app.example.com", `host "evil.com" is not on an allowed domain`, nil},
	{"tab inside", "https://app.exa\tmple.com/", "control character 0x09", nil},
	{"newline inside", "https://app.example.com/\nSet-Cookie:x=1", "control character 0x0a", nil},
	{"carriage return", "/bye\r\nLocation:https://evil.com", "control character 0x0d", nil},
	{"DEL", "https://app.example.com/\x7f", "control character 0x7f", nil},
	{"C1 control", "https://app.example.com/\u0085", "non-ASCII", nil},
	{"NUL", "https://app.example.com\x00.evil.com/", "control character 0x00", nil},
	{"leading space", " https://app.example.com/", "whitespace", nil},
	{"trailing space", "https://app.example.com/ ", "whitespace", nil},
	{"no-break space", "https://app.example.com/\u00a0", "non-ASCII", nil},
	{"encoded slashes at path start", "/%2F%2Fevil.com", "percent-encoded slash or backslash", nil},
	{"encoded lowercase slash at path start", "/%2f/evil.com", "percent-encoded slash or backslash", nil},
	{"encoded backslash at path start", "/%5Cevil.com", "percent-encoded slash or backslash", nil},
	{"javascript", "javascript:alert(1)", `scheme "javascript" is not allowed`, nil},
	{"javascript mixed case", "JaVaScRiPt:alert(1)", `scheme "JaVaScRiPt" is not allowed`, nil},
	{"javascript leading spaces", "   javascript:alert(1)", "whitespace", nil},
	{"javascript tab", "java\tscript:alert(1)", "control character 0x09", nil},
	{"javascript newline", "java\nscript:alert(1)", "control character 0x0a", nil},
	{"javascript slashes", "javascript://example.com/%0aalert(1)", `scheme "javascript" is not allowed`, nil},
	{"data", "data:text/html,<script>alert(1)</script>", "not allowed in a URI", nil},
	{"data base64", "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==", `scheme "data" is not allowed`, nil},
	{"downgrade", "http://app.example.com/x", `scheme "http" is not allowed`, nil},
	{"fullwidth host", "https://ａｐｐ.example.com", "non-ASCII byte 0xef at offset 8", nil},
	{"ideographic full stop", "https://app。example.com", "non-ASCII byte 0xe3", nil},
	{"fullwidth solidus", "https://evil.com／.example.com", "non-ASCII", nil},
	{"IPv4", "https://127.0.0.1/", "IP address host", nil},
	{"IPv6", "https://[::1]/", "IP literal", nil},
	{"IPv4 decimal", "https://2130706433/", "IP address host", nil},
	{"IPv4 hex", "https://0x7f.0.0.1/", "IP address host", nil},
	{"IPv4 short", "https://127.1/", "IP address host", nil},
	{"IPv4 hex last label", "https://1.2.3.0x4/", "IP address host", nil},
	{"IPv4 under allowed", "https://app.example.com.1/", "IP address host", nil},
	{"trailing dot", "https://app.example.com./", "trailing dot", nil},
	{"empty label", "https://app..example.com/", "not a DNS name", nil},
	{"leading dot", "https://.example.com/", "not a DNS name", nil},
	{"underscore", "https://a_b.example.com/", "not a DNS name", nil},
	{"hyphen edge", "https://-app.example.com/", "not a DNS name", nil},
	{"port not allowed", "https://app.example.com:8443/", "port 8443 is not allowed", nil},
	{"explicit 443 not configured", "https://app.example.com:443/", "port 443 is not allowed", nil},
	{"empty port", "https://app.example.com:/", "empty port", nil},
	{"leading zero port", "https://app.example.com:08443/", "malformed port", &Policy{AllowedDomains: []string{"example.com"}, AllowedPorts: []int{8443}}},
	{"two ports", "https://app.example.com:8443:8443/", "malformed port", &Policy{AllowedDomains: []string{"example.com"}, AllowedPorts: []int{8443}}},
	{"user and password", "https://user:pass@app.example.com/", "userinfo", nil},
	{"ftp", "ftp://app.example.com", `scheme "ftp" is not allowed`, nil},
	{"https only", "https://", "missing host", nil},
	{"https empty host", "https:///app.example.com", "missing host", nil},
	{"port without host", "https://:8443/", "missing host", nil},
	{"relative not allowed", "/bye", "relative target not allowed", &Policy{AllowedDomains: []string{"example.com"}}},
	{"path without slash", "bye", "must start with a single /", nil},
	{"dot path", "./bye", "must start with a single /", nil},
	{"query only", "?x=https://evil.com", "must start with a single /", nil},
	{"colon first", ":x", `scheme "" is not allowed`, nil},
	{"bad escape", "https://app.example.com/%zz", "malformed percent-encoding", nil},
	{"truncated escape", "https://app.example.com/%2", "malformed percent-encoding", nil},
	{"quote", `https://app.example.com/"onload=x`, "not allowed in a URI", nil},
	{"angle bracket", "/<script>", "not allowed in a URI", nil},
	{"bracket in path", "https://app.example.com/[x]", "square bracket", nil},
	{"too long", "https://app.example.com/" + strings.Repeat("a", MaxLength), "longer than", nil},
	{"uppercase domain in policy fails closed", "https://app.example.com/", "not on an allowed domain", &Policy{AllowedDomains: []string{"Example.COM"}}},
	{"zero policy", "https://example.com/", "not on an allowed domain", &Policy{}},
}

func TestValidateRefused(t *testing.T) {
	for _, tc := range refusedCases {
		t.Run(tc.name, func(t *testing.T) {
			p := testPolicy
			if tc.policy != nil {
				p = *tc.policy
			}
			got, err := p.Validate(tc.in)
			if err == nil {
				t.Fatalf("Validate(%q) = %q, want refused", tc.in, got)
			}
			if got != "" {
				t.Errorf("Validate(%q) returned %q with an error", tc.in, got)
			}
			if !errors.Is(err, ErrRefused) {
				t.Errorf("error %v does not wrap ErrRefused", err)
			}
			if !strings.HasPrefix(err.Error(), "redirect refused: ") || !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("Validate(%q) error %q, want reason containing %q", tc.in, err, tc.reason)
			}
			if errors.Is(err, ErrEmpty) != (tc.in == "") {
				t.Errorf("errors.Is(%v, ErrEmpty) = %v", err, !(tc.in == ""))
			}
		})
	}
}

var acceptedCases = []struct {
	name, in string
	policy   *Policy // testPolicy when nil
}{
	{"domain", "https://example.com", nil},
	{"domain slash", "https://example.com/", nil},
	{"second domain", "https://example.org/", nil},
	{"subdomain query fragment", "https://app.example.com/bye?x=1#frag", nil},
	{"mixed case", "https://APP.Example.COM/path", nil},
	{"uppercase scheme", "HTTPS://app.example.com/", nil},
	{"deep subdomain escape", "https://a.b.example.com/p%20q", nil},
	{"query without path", "https://example.com?x=1", nil},
	{"fragment without path", "https://example.com#top", nil},
	{"double slash path", "https://app.example.com//evil.com", nil},
	{"punycode", "https://xn--bcher-kva.example.com/", nil},
	{"sub-delims in query", "https://app.example.com/a;b?c=d&e=f'(g)*+,!$~_.-", nil},
	{"relative", "/bye", nil},
	{"relative query", "/a/b?c=d", nil},
	{"relative root", "/", nil},
	{"relative fragment", "/#x", nil},
	{"relative escape later", "/a/%2F%2Fevil.com", nil},
	{"relative colon", "/a:b", nil},
	{"allowed port", "https://app.example.com:8443/", &Policy{AllowedDomains: []string{"example.com"}, AllowedPorts: []int{8443}}},
	{"allowed port no path", "https://app.example.com:8443", &Policy{AllowedDomains: []string{"example.com"}, AllowedPorts: []int{8443}}},
	{"no port with ports configured", "https://app.example.com/", &Policy{AllowedDomains: []string{"example.com"}, AllowedPorts: []int{8443}}},
	{"explicit 443 configured", "https://app.example.com:443/", &Policy{AllowedDomains: []string{"example.com"}, AllowedPorts: []int{443}}},
	{"punycode domain", "https://app.xn--mnchen-3ya.de/", &Policy{AllowedDomains: []string{"xn--mnchen-3ya.de"}}},
}

func TestValidateAccepted(t *testing.T) {
	for _, tc := range acceptedCases {
		t.Run(tc.name, func(t *testing.T) {
			p := testPolicy
			if tc.policy != nil {
				p = *tc.policy
			}
			got, err := p.Validate(tc.in)
			if err != nil {
				t.Fatalf("Validate(%q): %v", tc.in, err)
			}
			if got != tc.in {
				t.Fatalf("Validate(%q) = %q, want the input unchanged", tc.in, got)
			}
			checkInvariants(t, p, tc.in, got)
		})
	}
}

func TestFromQuery(t *testing.T) {
	cases := []struct {
		name, raw, want, reason string
		empty                   bool
	}{
		{"single", "rd=https%3A%2F%2Fapp.example.com%2Fbye", "https://app.example.com/bye", "", false},
		{"other params", "a=1&rd=/bye&b=2", "/bye", "", false},
		{"absent", "a=1", "", `parameter "rd" absent`, true},
		{"empty value", "rd=", "", "empty target", true},
		{"repeated", "rd=/bye&rd=https://evil.com", "", `parameter "rd" given 2 times`, false},
		{"repeated same", "rd=/bye&rd=/bye", "", "given 2 times", false},
		{"repeated encoded key", "rd=/bye&r%64=https://evil.com", "", "given 2 times", false},
		{"invalid value", "rd=https://evil.com", "", "not on an allowed domain", false},
		{"decoded control", "rd=%2Fbye%0d%0aX:1", "", "control character 0x0d", false},
		{"decoded space", "rd=+https://app.example.com/", "", "whitespace", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			q, err := url.ParseQuery(tc.raw)
			if err != nil {
				t.Fatal(err)
			}
			for fn, f := range map[string]func() (string, error){
				"FromQuery":    func() (string, error) { return testPolicy.FromQuery(q, "rd") },
				"FromRawQuery": func() (string, error) { return testPolicy.FromRawQuery(tc.raw, "rd") },
			} {
				got, err := f()
				if tc.reason == "" {
					if err != nil || got != tc.want {
						t.Errorf("%s = %q, %v; want %q", fn, got, err, tc.want)
					}
					continue
				}
				if err == nil || !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tc.reason) {
					t.Errorf("%s = %q, %v; want refused with %q", fn, got, err, tc.reason)
				}
				if errors.Is(err, ErrEmpty) != tc.empty {
					t.Errorf("%s: errors.Is(%v, ErrEmpty) != %v", fn, err, tc.empty)
				}
			}
		})
	}
}

// TestFromRawQueryMalformed covers what url.URL.Query would silently drop.
func TestFromRawQueryMalformed(t *testing.T) {
	cases := []struct{ raw, reason string }{
		{"rd=/bye&rd=%zz", `given 2 times`},
		{"rd=/bye&x=%zz", "malformed query"},
		{"r%zzd=1&rd=/bye", "malformed query"},
		{"rd=/bye;rd=https://evil.com", "malformed query"},
	}
	for _, tc := range cases {
		got, err := testPolicy.FromRawQuery(tc.raw, "rd")
		if err == nil || !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), tc.reason) {
			t.Errorf("FromRawQuery(%q) = %q, %v; want refused with %q", tc.raw, got, err, tc.reason)
		}
	}
}

func TestCheck(t *testing.T) {
	good := []Policy{
		{},
		{AllowRelative: true},
		{AllowedDomains: []string{"example.com", "a.b.example.org", "xn--mnchen-3ya.de"}, AllowedPorts: []int{443, 8443, 1, 65535}},
	}
	for _, p := range good {
		if err := p.Check(); err != nil {
			t.Errorf("Check(%+v): %v", p, err)
		}
	}
	bad := []struct {
		p      Policy
		reason string
	}{
		{Policy{AllowedDomains: []string{""}}, "empty"},
		{Policy{AllowedDomains: []string{"Example.com"}}, "not lowercase"},
		{Policy{AllowedDomains: []string{"example.com."}}, "trailing dot"},
		{Policy{AllowedDomains: []string{".example.com"}}, "not a DNS name"},
		{Policy{AllowedDomains: []string{"*.example.com"}}, "not a DNS name"},
		{Policy{AllowedDomains: []string{"example.com:443"}}, "not a DNS name"},
		{Policy{AllowedDomains: []string{"https://example.com"}}, "not a DNS name"},
		{Policy{AllowedDomains: []string{"münchen.de"}}, "punycode"},
		{Policy{AllowedDomains: []string{"com"}}, "single label"},
		{Policy{AllowedDomains: []string{"127.0.0.1"}}, "IP address"},
		{Policy{AllowedDomains: []string{"10.0x1"}}, "IP address"},
		{Policy{AllowedDomains: []string{"::1"}}, "IP address"},
		{Policy{AllowedDomains: []string{"example.com"}, AllowedPorts: []int{0}}, "outside 1-65535"},
		{Policy{AllowedDomains: []string{"example.com"}, AllowedPorts: []int{65536}}, "outside 1-65535"},
	}
	for _, tc := range bad {
		err := tc.p.Check()
		if err == nil || !strings.Contains(err.Error(), tc.reason) {
			t.Errorf("Check(%+v) = %v, want error containing %q", tc.p, err, tc.reason)
		}
	}
}

// checkInvariants asserts what must hold for every accepted target.
func checkInvariants(t *testing.T, p Policy, in, out string) {
	t.Helper()
	if out != in {
		t.Fatalf("output %q differs from input %q", out, in)
	}
	for i := 0; i < len(out); i++ {
		if out[i] < 0x21 || out[i] > 0x7e {
			t.Fatalf("accepted %q has byte 0x%02x at %d", out, out[i], i)
		}
	}
	u, err := url.Parse(out)
	if err != nil {
		t.Fatalf("accepted %q does not parse: %v", out, err)
	}
	if u.User != nil {
		t.Fatalf("accepted %q has userinfo", out)
	}
	if out[0] == '/' {
		if !p.AllowRelative {
			t.Fatalf("accepted relative %q with AllowRelative false", out)
		}
		if len(out) > 1 && (out[1] == '/' || out[1] == '\\') {
			t.Fatalf("accepted relative %q starting with %q", out, out[:2])
		}
		if u.Scheme != "" || u.Host != "" {
			t.Fatalf("relative %q parsed with scheme %q host %q", out, u.Scheme, u.Host)
		}
		// A browser resolves it against signoff's own origin.
		base, _ := url.Parse("https://signoff.invalid/logout")
		if r := base.ResolveReference(u); r.Host != "signoff.invalid" {
			t.Fatalf("relative %q resolves to host %q", out, r.Host)
		}
		return
	}
	if u.Scheme != "https" {
		t.Fatalf("accepted %q with scheme %q", out, u.Scheme)
	}
	host := strings.ToLower(u.Hostname())
	onDomain := false
	for _, d := range p.AllowedDomains {
		if host == d || strings.HasSuffix(host, "."+d) {
			onDomain = true
		}
	}
	if !onDomain {
		t.Fatalf("accepted %q with host %q not on %v", out, host, p.AllowedDomains)
	}
	if port := u.Port(); port != "" {
		ok := false
		for _, allowed := range p.AllowedPorts {
			if port == strconv.Itoa(allowed) {
				ok = true
			}
		}
		if !ok {
			t.Fatalf("accepted %q with port %q not in %v", out, port, p.AllowedPorts)
		}
	}
	// A browser treats "\" like "/" in special URLs; re-parse that way.
	b, err := url.Parse(strings.ReplaceAll(out, `\`, "/"))
	if err != nil || !strings.EqualFold(b.Hostname(), u.Hostname()) {
		t.Fatalf("accepted %q reads as host %v (err %v) in a browser, %q in net/url", out, b, err, u.Hostname())
	}
	// Accepting is stable.
	if again, err := p.Validate(out); err != nil || again != out {
		t.Fatalf("re-validating %q: %q, %v", out, again, err)
	}
}

var fuzzPolicies = []Policy{
	testPolicy,
	{AllowedDomains: []string{"example.com"}, AllowedPorts: []int{443, 8443}},
}

func FuzzValidate(f *testing.F) {
	for _, tc := range refusedCases {
		f.Add(tc.in)
	}
	for _, tc := range acceptedCases {
		f.Add(tc.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		for _, p := range fuzzPolicies {
			out, err := p.Validate(in)
			if err != nil {
				if out != "" || !errors.Is(err, ErrRefused) {
					t.Fatalf("Validate(%q) = %q, %v", in, out, err)
				}
				continue
			}
			checkInvariants(t, p, in, out)
		}
	})
}
