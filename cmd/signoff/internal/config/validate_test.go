package config

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

// ssfT is a valid ssf section with one transmitter, okta, at
// ssf.transmitters[0], for snippets below that add a second one.
const ssfT = `ssf:
  transmitters:
  - id: okta
    issuer: https://okta.example.com
    audience: https://auth.example.com
    discovery: true
    auth: {bearer_token_file: okta.token}
`

// rp is a valid relying party block at relying_parties[0] for snippets below.
const rp = `relying_parties:
  - id: wiki
    oidc:
      client_id: wiki
      backchannel_logout_uri: https://wiki.example.com/bc
`

func TestValidationRules(t *testing.T) {
	tests := []struct {
		name string
		yaml string // the line of the error carries a "#<" marker
		path string
		msg  string // the error must contain "signoff.yaml:LINE: path: msg"
	}{
		// public_url and issuer
		{"public_url required", "listen: 127.0.0.1:8080\n", "public_url", "required"},
		{"public_url relative", "public_url: auth.example.com #<\n", "public_url", "must be an absolute http(s) URL"},
		{"public_url other scheme", "public_url: ftp://auth.example.com #<\n", "public_url", "must be an absolute http(s) URL"},
		{"public_url http not loopback", "public_url: http://auth.example.com #<\n", "public_url", "must use https"},
		{"public_url fragment", "public_url: 'https://auth.example.com/#x' #<\n", "public_url", "must not have a fragment"},
		{"public_url query", "public_url: https://auth.example.com/?a=b #<\n", "public_url", "must not have a query"},
		{"public_url credentials", "public_url: https://u:p@auth.example.com #<\n", "public_url", "must not contain credentials"},
		{"public_url whitespace", "public_url: 'https://auth.example.com/a b' #<\n", "public_url", "must not contain whitespace"},
		{"issuer http", "public_url: https://auth.example.com\nissuer: http://idp.example.com #<\n", "issuer", "must use https"},
		{"issuer fragment", "public_url: https://auth.example.com\nissuer: 'https://idp.example.com#f' #<\n", "issuer", "must not have a fragment"},

		// listen, data_dir, nats
		{"listen no port", "public_url: https://auth.example.com\nlisten: 127.0.0.1 #<\n", "listen", "must be host:port"},
		{"listen bad port", "public_url: https://auth.example.com\nlisten: 127.0.0.1:99999 #<\n", "listen", "port must be a number from 0 to 65535"},
		{"data_dir blank", "public_url: https://auth.example.com\ndata_dir: ' ' #<\n", "data_dir", "must not be empty"},
		{"nats.url scheme", "public_url: https://auth.example.com\nnats:\n  url: http://nats:4222 #<\n", "nats.url", `"http://nats:4222" is not a nats:// or tls:// URL`},
		{"nats.url second entry", "public_url: https://auth.example.com\nnats:\n  url: nats://a:4222,nats:// #<\n", "nats.url", `"nats://" is not a nats:// or tls:// URL`},
		{"nats.url empty entry", "public_url: https://auth.example.com\nnats:\n  url: nats://a:4222,,nats://b:4222 #<\n", "nats.url", "must be a comma-separated list of nats:// or tls:// URLs without empty entries"},
		{"nats.listen", "public_url: https://auth.example.com\nnats:\n  allow_anonymous: true\n  listen: 4222 #<\n", "nats.listen", "must be host:port"},
		{"nats.listen port 99999", "public_url: https://auth.example.com\nnats:\n  allow_anonymous: true\n  listen: 127.0.0.1:99999 #<\n", "nats.listen", `port must be a number from 0 to 65535; got "99999"`},
		{"metrics.listen no port", "public_url: https://auth.example.com\nmetrics:\n  listen: 9090 #<\n", "metrics.listen", `must be host:port, such as 127.0.0.1:8080; got "9090"`},
		{"metrics.listen bad port", "public_url: https://auth.example.com\nmetrics:\n  listen: 127.0.0.1:99999 #<\n", "metrics.listen", `port must be a number from 0 to 65535; got "99999"`},
		{"cluster.partitions zero", "public_url: https://auth.example.com\nnats:\n  url: nats://127.0.0.1:4222\ncluster:\n  enabled: true\n  partitions: 0 #<\n", "cluster.partitions", "must be between 1 and 1024, got 0"},
		{"cluster.instance bad", "public_url: https://auth.example.com\nnats:\n  url: nats://127.0.0.1:4222\ncluster:\n  enabled: true\n  instance: a b #<\n", "cluster.instance", `must be 1-63 letters, digits, '-', '_' or '.', starting with a letter or digit; got "a b"`},
		{"cluster.lease_ttl short", "public_url: https://auth.example.com\nnats:\n  url: nats://127.0.0.1:4222\ncluster:\n  enabled: true\n  lease_ttl: 100ms #<\n", "cluster.lease_ttl", "must be between 1s and 5m, got 100ms"},
		{"cluster.snapshot_interval short", "public_url: https://auth.example.com\nnats:\n  url: nats://127.0.0.1:4222\ncluster:\n  enabled: true\n  snapshot_interval: 10ms #<\n", "cluster.snapshot_interval", "must be between 1s and 24h, got 10ms"},
		{"cluster without shared nats", "public_url: https://auth.example.com\ncluster:\n  enabled: true #<\n", "cluster.enabled", "instances of a cluster share one NATS"},
		{"secret_file missing", "public_url: https://auth.example.com\nsecret_file: /nonexistent/secret #<\n", "secret_file", "/nonexistent/secret"},
		{"metrics.listen same as listen", "public_url: https://auth.example.com\nlisten: 127.0.0.1:8080\nmetrics:\n  listen: 127.0.0.1:8080 #<\n", "metrics.listen", "must differ from listen (127.0.0.1:8080)"},
		{"nats.url port 99999", "public_url: https://auth.example.com\nnats:\n  url: nats://127.0.0.1:99999 #<\n", "nats.url", `"nats://127.0.0.1:99999" has an invalid port`},
		{"nats.connect_timeout negative", "public_url: https://auth.example.com\nnats:\n  url: nats://127.0.0.1:4222\n  connect_timeout: -1s #<\n", "nats.connect_timeout", "must be between 0 (try once) and 10m, got -1s"},
		{"nats.connect_timeout too long", "public_url: https://auth.example.com\nnats:\n  url: nats://127.0.0.1:4222\n  connect_timeout: 11m #<\n", "nats.connect_timeout", "must be between 0 (try once) and 10m"},

		// session, redirects
		{"cookie_name", "public_url: https://auth.example.com\nsession:\n  cookie_name: 'my session' #<\n", "session.cookie_name", "must be a cookie name"},
		{"cookie_domain scheme", "public_url: https://auth.example.com\nsession:\n  cookie_domain: https://example.com #<\n", "session.cookie_domain", `must be a domain name without a scheme, such as example.com; got "https://example.com"`},
		{"cookie_domain not covering", "public_url: https://auth.example.com\nsession:\n  cookie_domain: example.org #<\n", "session.cookie_domain", `"example.org" does not cover the public_url host "auth.example.com"`},
		{"allowed domain scheme", "public_url: https://auth.example.com\nredirects:\n  allowed_domains:\n    - example.com\n    - https://example.org #<\n", "redirects.allowed_domains[1]", "must be a domain name without a scheme"},
		{"allowed domain port", "public_url: https://auth.example.com\nredirects:\n  allowed_domains: [example.com:443] #<\n", "redirects.allowed_domains[0]", "must be a domain name without a port"},
		{"allowed domain leading dot", "public_url: https://auth.example.com\nredirects:\n  allowed_domains:\n    - .example.com #<\n", "redirects.allowed_domains[0]", "must not start with a dot"},
		{"allowed domain uppercase", "public_url: https://auth.example.com\nredirects:\n  allowed_domains:\n    - Example.com #<\n", "redirects.allowed_domains[0]", "must be lowercase"},
		{"allowed domain wildcard", "public_url: https://auth.example.com\nredirects:\n  allowed_domains:\n    - '*.example.com' #<\n", "redirects.allowed_domains[0]", "must be a domain name without a wildcard"},
		{"allowed domain path", "public_url: https://auth.example.com\nredirects:\n  allowed_domains:\n    - example.com/app #<\n", "redirects.allowed_domains[0]", "must be a domain name without a path"},
		{"allowed domain ip", "public_url: https://auth.example.com\nredirects:\n  allowed_domains:\n    - 10.0.0.1 #<\n", "redirects.allowed_domains[0]", "must be a DNS name, not an IP address"},
		{"allowed domain label", "public_url: https://auth.example.com\nredirects:\n  allowed_domains:\n    - -bad.example.com #<\n", "redirects.allowed_domains[0]", "is not a valid DNS name"},
		{"allowed domain empty", "public_url: https://auth.example.com\nredirects:\n  allowed_domains:\n    - '' #<\n", "redirects.allowed_domains[0]", "must not be empty"},
		{"allowed domain not a string", "public_url: https://auth.example.com\nredirects:\n  allowed_domains:\n    - example.com\n    - {a: b} #<\n", "redirects.allowed_domains", "must be a list of strings"},

		// durations, numbers, log
		{"expiration too short", "public_url: https://auth.example.com\nsession:\n  expiration: 30s #<\n", "session.expiration", "must be 0 (none) or between 1m and 2160h (90 days), got 30s"},
		{"expiration too long", "public_url: https://auth.example.com\nsession:\n  expiration: 2161h #<\n", "session.expiration", "must be 0 (none) or between 1m and 2160h (90 days), got 2161h0m0s"},
		{"expiration negative", "public_url: https://auth.example.com\nsession: {expiration: -12h} #<\n", "session.expiration", "must be 0 (none) or between 1m and 2160h"},
		{"inactivity too short", "public_url: https://auth.example.com\nsession:\n  cookie_name: sid\n  inactivity: 59s #<\n", "session.inactivity", "must be 0 (none) or between 1m and 2160h (90 days), got 59s"},
		{"inactivity in days", "public_url: https://auth.example.com\nsession:\n  inactivity: 91d #<\n", "session.inactivity", `invalid duration "91d"`},
		{"inactivity too long", "public_url: https://auth.example.com\nsession:\n  inactivity: 2184h #<\n", "session.inactivity", "must be 0 (none) or between 1m and 2160h (90 days), got 2184h0m0s"},
		{"inactivity negative", "public_url: https://auth.example.com\nsession:\n  inactivity: -30m #<\n", "session.inactivity", "must be 0 (none) or between 1m and 2160h (90 days), got -30m0s"},
		{"shutdown grace zero", "public_url: https://auth.example.com\nshutdown:\n  grace: 0s #<\n", "shutdown.grace", "must be between 1s and 10m, got 0s"},
		{"shutdown grace too long", "public_url: https://auth.example.com\nshutdown: {grace: 1h} #<\n", "shutdown.grace", "must be between 1s and 10m, got 1h0m0s"},
		{"deadline too short", "public_url: https://auth.example.com\nlogout:\n  deadline: 500ms #<\n", "logout.deadline", "must be between 1s and 10m, got 500ms"},
		{"deadline too long", "public_url: https://auth.example.com\nlogout:\n  deadline: 11m #<\n", "logout.deadline", "must be between 1s and 10m, got 11m0s"},
		{"deadline negative", "public_url: https://auth.example.com\nlogout: {deadline: -5s} #<\n", "logout.deadline", "must be between 1s and 10m"},
		{"attempt_timeout short", "public_url: https://auth.example.com\nbackchannel:\n  attempt_timeout: 10ms #<\n", "backchannel.attempt_timeout", "must be between 100ms and 1m"},
		{"attempt_timeout long", "public_url: https://auth.example.com\nbackchannel:\n  attempt_timeout: 61s #<\n", "backchannel.attempt_timeout", "must be between 100ms and 1m"},
		{"concurrency high", "public_url: https://auth.example.com\nbackchannel:\n  concurrency: 10001 #<\n", "backchannel.concurrency", "must be between 1 and 10000, got 10001"},
		{"log level", "public_url: https://auth.example.com\nlog:\n  level: verbose #<\n", "log.level", `must be one of debug, info, warn, error; got "verbose"`},
		{"log format", "public_url: https://auth.example.com\nlog:\n  format: xml #<\n", "log.format", `must be text or json; got "xml"`},

		// relying parties
		{"rp id required", "public_url: https://auth.example.com\nrelying_parties:\n  - name: Wiki #<\n    saml: {metadata_file: sp.xml}\n", "relying_parties[0].id", "required"},
		{"rp id charset", "public_url: https://auth.example.com\nrelying_parties:\n  - id: wiki/1 #<\n    saml: {metadata_file: sp.xml}\n", "relying_parties[0].id", `must be 1-64 characters of A-Z a-z 0-9 . _ -, got "wiki/1"`},
		{"rp id too long", "public_url: https://auth.example.com\nrelying_parties:\n  - id: " + strings.Repeat("a", 65) + " #<\n    saml: {metadata_file: sp.xml}\n", "relying_parties[0].id", "must be 1-64 characters"},
		{"rp id duplicate", "public_url: https://auth.example.com\n" + rp + "  - id: wiki #<\n    saml: {metadata_file: sp.xml}\n", "relying_parties[1].id", `"wiki" is already the id of relying_parties[0]`},
		{"rp neither", "public_url: https://auth.example.com\nrelying_parties:\n  - id: wiki #<\n    name: Wiki\n", "relying_parties[0]", "must have exactly one of oidc, saml or ssf, has none"},
		{"rp both", "public_url: https://auth.example.com\nrelying_parties:\n  - id: wiki #<\n    saml: {metadata_file: sp.xml}\n    oidc: {client_id: wiki, backchannel_logout_uri: 'https://wiki.example.com/bc'}\n", "relying_parties[0]", "must have exactly one of oidc, saml or ssf, has 2"},
		{"client_id required", "public_url: https://auth.example.com\nrelying_parties:\n  - id: wiki\n    oidc: #<\n      backchannel_logout_uri: https://wiki.example.com/bc\n", "relying_parties[0].oidc.client_id", "required"},
		{"client_id duplicate", "public_url: https://auth.example.com\n" + rp + "  - id: wiki2\n    oidc:\n      client_id: wiki #<\n      backchannel_logout_uri: https://wiki.example.com/bc\n", "relying_parties[1].oidc.client_id", `"wiki" is already the client_id of relying_parties[0]`},
		{"no logout uri", "public_url: https://auth.example.com\nrelying_parties:\n  - id: wiki\n    oidc: #<\n      client_id: wiki\n", "relying_parties[0].oidc", "needs backchannel_logout_uri or frontchannel_logout_uri"},
		{"backchannel relative", "public_url: https://auth.example.com\nrelying_parties:\n  - id: wiki\n    oidc:\n      client_id: wiki\n      backchannel_logout_uri: /oidc/bc #<\n", "relying_parties[0].oidc.backchannel_logout_uri", "must be an absolute http(s) URL"},
		{"backchannel http", "public_url: https://auth.example.com\nrelying_parties:\n  - id: wiki\n    oidc:\n      client_id: wiki\n      backchannel_logout_uri: http://wiki.example.com/bc #<\n", "relying_parties[0].oidc.backchannel_logout_uri", "must use https"},
		{"frontchannel fragment", "public_url: https://auth.example.com\nrelying_parties:\n  - id: wiki\n    oidc:\n      client_id: wiki\n      frontchannel_logout_uri: 'https://wiki.example.com/fc#x' #<\n", "relying_parties[0].oidc.frontchannel_logout_uri", "must not have a fragment"},
		{"post logout relative", "public_url: https://auth.example.com\n" + rp + "      post_logout_redirect_uris:\n        - https://wiki.example.com/bye\n        - /bye #<\n", "relying_parties[0].oidc.post_logout_redirect_uris[1]", `must be an absolute URL, got "/bye"`},
		{"post logout javascript", "public_url: https://auth.example.com\n" + rp + "      post_logout_redirect_uris:\n        - javascript:alert(1) #<\n", "relying_parties[0].oidc.post_logout_redirect_uris[0]", `scheme "javascript" is not allowed`},
		{"post logout fragment", "public_url: https://auth.example.com\n" + rp + "      post_logout_redirect_uris: ['https://wiki.example.com/#bye'] #<\n", "relying_parties[0].oidc.post_logout_redirect_uris[0]", "must not have a fragment"},
		{"alg", "public_url: https://auth.example.com\n" + rp + "      logout_token_alg: HS256 #<\n", "relying_parties[0].oidc.logout_token_alg", `must be one of RS256, ES256, EdDSA; got "HS256"`},
		{"alg case", "public_url: https://auth.example.com\n" + rp + "      logout_token_alg: rs256 #<\n", "relying_parties[0].oidc.logout_token_alg", "must be one of RS256, ES256, EdDSA"},
		{"typ", "public_url: https://auth.example.com\n" + rp + "      logout_token_typ: at+jwt #<\n", "relying_parties[0].oidc.logout_token_typ", `must be logout+jwt or JWT; got "at+jwt"`},
		{"metadata_file required", "public_url: https://auth.example.com\nrelying_parties:\n  - id: payroll\n    saml:\n      metadata_file: '' #<\n", "relying_parties[0].saml.metadata_file", "required"},
		{"frontchannel_mode", "public_url: https://auth.example.com\nrelying_parties:\n  - id: payroll\n    saml:\n      metadata_file: sp.xml\n      frontchannel_mode: popup #<\n", "relying_parties[0].saml.frontchannel_mode", `must be redirect or iframe; got "popup"`},
		{"metadata and inline", "public_url: https://auth.example.com\nrelying_parties:\n  - id: payroll\n    saml: #<\n      metadata_file: sp.xml\n      entity_id: https://payroll.example.com/sp\n", "relying_parties[0].saml", "has metadata_file and inline keys"},
		{"inline without entity_id", "public_url: https://auth.example.com\nrelying_parties:\n  - id: payroll\n    saml: #<\n      certificate_file: sp.pem\n      slo_redirect_url: https://payroll.example.com/slo\n", "relying_parties[0].saml.entity_id", "required with inline SAML configuration"},
		{"inline without certificate", "public_url: https://auth.example.com\nrelying_parties:\n  - id: payroll\n    saml: #<\n      entity_id: https://payroll.example.com/sp\n      slo_soap_url: https://payroll.example.com/soap\n", "relying_parties[0].saml.certificate_file", "required with entity_id"},
		{"inline without slo", "public_url: https://auth.example.com\nrelying_parties:\n  - id: payroll\n    saml: #<\n      entity_id: https://payroll.example.com/sp\n      certificate_file: sp.pem\n", "relying_parties[0].saml", "needs slo_redirect_url, slo_post_url or slo_soap_url"},
		{"inline slo http", "public_url: https://auth.example.com\nrelying_parties:\n  - id: payroll\n    saml:\n      entity_id: https://payroll.example.com/sp\n      certificate_file: sp.pem\n      slo_redirect_url: http://payroll.example.com/slo #<\n", "relying_parties[0].saml.slo_redirect_url", "must use https"},
		{"ssf delivery required", "public_url: https://auth.example.com\nrelying_parties:\n  - id: crm\n    ssf: #<\n      audience: https://crm.example.com\n", "relying_parties[0].ssf.delivery", "required: push"},
		{"ssf delivery unknown", "public_url: https://auth.example.com\nrelying_parties:\n  - id: crm\n    ssf:\n      delivery: webhook #<\n      audience: https://crm.example.com\n", "relying_parties[0].ssf.delivery", `must be push or poll; got "webhook"`},
		{"ssf push without endpoint", "public_url: https://auth.example.com\nrelying_parties:\n  - id: crm\n    ssf: #<\n      delivery: push\n      audience: https://crm.example.com\n", "relying_parties[0].ssf.endpoint_url", "required with delivery push"},
		{"ssf push endpoint http", "public_url: https://auth.example.com\nrelying_parties:\n  - id: crm\n    ssf:\n      delivery: push\n      endpoint_url: http://crm.example.com/ssf #<\n      audience: https://crm.example.com\n", "relying_parties[0].ssf.endpoint_url", "must use https"},
		{"ssf poll with endpoint", "public_url: https://auth.example.com\nrelying_parties:\n  - id: crm\n    ssf:\n      delivery: poll\n      endpoint_url: https://crm.example.com/ssf #<\n      bearer_token_file: crm.token\n      audience: https://crm.example.com\n", "relying_parties[0].ssf.endpoint_url", "only with delivery push"},
		{"ssf poll without token", "public_url: https://auth.example.com\nrelying_parties:\n  - id: crm\n    ssf: #<\n      delivery: poll\n      audience: https://crm.example.com\n", "relying_parties[0].ssf.bearer_token_file", "required with delivery poll"},
		{"ssf poll with authorization header", "public_url: https://auth.example.com\nrelying_parties:\n  - id: crm\n    ssf:\n      delivery: poll\n      bearer_token_file: crm.token\n      authorization_header_file: crm.hdr #<\n      audience: https://crm.example.com\n", "relying_parties[0].ssf.authorization_header_file", "only with delivery push"},
		{"ssf subject_format", "public_url: https://auth.example.com\nrelying_parties:\n  - id: crm\n    ssf:\n      delivery: push\n      endpoint_url: https://crm.example.com/ssf\n      audience: https://crm.example.com\n      subject_format: phone_number #<\n", "relying_parties[0].ssf.subject_format", `must be iss_sub, email or opaque; got "phone_number"`},
		{"ssf audience required", "public_url: https://auth.example.com\nrelying_parties:\n  - id: crm\n    ssf: #<\n      delivery: push\n      endpoint_url: https://crm.example.com/ssf\n", "relying_parties[0].ssf.audience", "required: the aud claim"},
		{"ssf and oidc", "public_url: https://auth.example.com\nrelying_parties:\n  - id: crm #<\n    oidc: {client_id: crm, backchannel_logout_uri: 'https://crm.example.com/bc'}\n    ssf: {delivery: push, endpoint_url: 'https://crm.example.com/ssf', audience: crm}\n", "relying_parties[0]", "must have exactly one of oidc, saml or ssf, has 2"},
		{"inline entity_id spaces", "public_url: https://auth.example.com\nrelying_parties:\n  - id: payroll\n    saml:\n      entity_id: 'https://payroll.example.com/ sp' #<\n      certificate_file: sp.pem\n      slo_post_url: https://payroll.example.com/slo\n", "relying_parties[0].saml.entity_id", "must be a URI of at most 1024 characters without whitespace"},

		// upstreams, fanout and name_id
		{"upstream id", "public_url: https://auth.example.com\nupstreams:\n  - id: 'corp idp' #<\n    issuer: https://idp.example.com\n    client_id: signoff\n    jwks_uri: https://idp.example.com/jwks\n", "upstreams[0].id", "must be 1-64 characters"},
		{"upstream id duplicate", "public_url: https://auth.example.com\nupstreams:\n  - {id: corp, issuer: 'https://a.example.com', client_id: s, jwks_uri: 'https://a.example.com/j'}\n  - {id: corp, issuer: 'https://b.example.com', client_id: s, jwks_uri: 'https://b.example.com/j'} #<\n", "upstreams[1].id", `"corp" is already the id of upstreams[0]`},
		{"upstream issuer required", "public_url: https://auth.example.com\nupstreams:\n  - id: corp #<\n    client_id: signoff\n    jwks_uri: https://idp.example.com/jwks\n", "upstreams[0].issuer", "required"},
		{"upstream client_id required", "public_url: https://auth.example.com\nupstreams:\n  - id: corp #<\n    issuer: https://idp.example.com\n    jwks_uri: https://idp.example.com/jwks\n", "upstreams[0].client_id", "required"},
		{"upstream jwks_uri http", "public_url: https://auth.example.com\nupstreams:\n  - id: corp\n    issuer: https://idp.example.com\n    client_id: signoff\n    jwks_uri: http://idp.example.com/jwks #<\n", "upstreams[0].jwks_uri", "must use https"},
		{"upstream algorithm", "public_url: https://auth.example.com\nupstreams:\n  - id: corp\n    issuer: https://idp.example.com\n    client_id: signoff\n    jwks_uri: https://idp.example.com/jwks\n    algorithms: [RS256, HS256] #<\n", "upstreams[0].algorithms[1]", `must be one of RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA; got "HS256"`},
		{"fanout value", "public_url: https://auth.example.com\n" + rp + "    fanout: sometimes #<\n", "relying_parties[0].fanout", `must be always or absent; got "sometimes"`},
		{"fanout with session required", "public_url: https://auth.example.com\n" + rp + "      backchannel_logout_session_required: true #<\n    fanout: always\n", "relying_parties[0].oidc.backchannel_logout_session_required", "must be false with fanout: always"},
		{"fanout front-channel only", "public_url: https://auth.example.com\nrelying_parties:\n  - id: app\n    oidc: {client_id: app, frontchannel_logout_uri: 'https://app.example.com/fc'}\n    fanout: always #<\n", "relying_parties[0].fanout", "always needs oidc.backchannel_logout_uri"},
		{"fanout saml without name_id", "public_url: https://auth.example.com\nrelying_parties:\n  - id: payroll\n    saml: #<\n      metadata_file: sp.xml\n    fanout: always\n", "relying_parties[0].saml.name_id", "must be subject with fanout: always"},
		{"fanout saml transient", "public_url: https://auth.example.com\nrelying_parties:\n  - id: payroll\n    saml:\n      metadata_file: sp.xml\n      name_id: subject\n      name_id_format: urn:oasis:names:tc:SAML:2.0:nameid-format:transient #<\n    fanout: always\n", "relying_parties[0].saml.name_id_format", "must be urn:oasis:names:tc:SAML:2.0:nameid-format:persistent (persistent) with fanout: always"},
		{"name_id value", "public_url: https://auth.example.com\nrelying_parties:\n  - id: payroll\n    saml:\n      metadata_file: sp.xml\n      name_id: email #<\n", "relying_parties[0].saml.name_id", `must be subject or absent; got "email"`},
		{"name_id_format without name_id", "public_url: https://auth.example.com\nrelying_parties:\n  - id: payroll\n    saml:\n      metadata_file: sp.xml\n      name_id_format: urn:oasis:names:tc:SAML:2.0:nameid-format:persistent #<\n", "relying_parties[0].saml.name_id_format", "only with name_id: subject"},
		// ssf.transmitters
		{"ssf id required", "public_url: https://auth.example.com\n" + ssfT + "  - issuer: https://idp.example.com #<\n    audience: signoff\n    discovery: true\n    auth: {bearer_token_file: t}\n", "ssf.transmitters[1].id", "required"},
		{"ssf id duplicate", "public_url: https://auth.example.com\n" + ssfT + "  - id: okta #<\n    issuer: https://idp.example.com\n    audience: signoff\n    discovery: true\n    auth: {bearer_token_file: t}\n", "ssf.transmitters[1].id", `"okta" is already the id of ssf.transmitters[0]`},
		{"ssf id pattern", "public_url: https://auth.example.com\nssf:\n  transmitters:\n    - id: 'ok ta' #<\n      issuer: https://idp.example.com\n      audience: signoff\n      discovery: true\n      auth: {bearer_token_file: t}\n", "ssf.transmitters[0].id", "must be 1-64 characters"},
		{"ssf issuer http", "public_url: https://auth.example.com\nssf:\n  transmitters:\n    - id: okta\n      issuer: http://idp.example.com #<\n      audience: signoff\n      discovery: true\n      auth: {bearer_token_file: t}\n", "ssf.transmitters[0].issuer", "must use https"},
		{"ssf audience required", "public_url: https://auth.example.com\nssf:\n  transmitters:\n    - id: okta #<\n      issuer: https://idp.example.com\n      discovery: true\n      auth: {bearer_token_file: t}\n", "ssf.transmitters[0].audience", "required"},
		{"ssf no keys", "public_url: https://auth.example.com\nssf:\n  transmitters:\n    - id: okta #<\n      issuer: https://idp.example.com\n      audience: signoff\n      auth: {bearer_token_file: t}\n", "ssf.transmitters[0]", "needs jwks_uri or discovery: true"},
		{"ssf jwks_uri and discovery", "public_url: https://auth.example.com\nssf:\n  transmitters:\n    - id: okta\n      issuer: https://idp.example.com\n      audience: signoff\n      discovery: true\n      jwks_uri: https://idp.example.com/jwks #<\n      auth: {bearer_token_file: t}\n", "ssf.transmitters[0].jwks_uri", "cannot be combined with discovery"},
		{"ssf neither push nor poll", "public_url: https://auth.example.com\nssf:\n  transmitters:\n    - id: okta #<\n      issuer: https://idp.example.com\n      audience: signoff\n      discovery: true\n", "ssf.transmitters[0]", "needs auth (to accept pushes at /ssf/events) or poll"},
		{"ssf bearer_token_file required", "public_url: https://auth.example.com\nssf:\n  transmitters:\n    - id: okta\n      issuer: https://idp.example.com\n      audience: signoff\n      discovery: true\n      auth: {} #<\n", "ssf.transmitters[0].auth.bearer_token_file", "required"},
		{"ssf poll endpoint required", "public_url: https://auth.example.com\nssf:\n  transmitters:\n    - id: okta\n      issuer: https://idp.example.com\n      audience: signoff\n      discovery: true\n      poll: {interval: 10s} #<\n", "ssf.transmitters[0].poll.endpoint_url", "required"},
		{"ssf poll interval", "public_url: https://auth.example.com\nssf:\n  transmitters:\n    - id: okta\n      issuer: https://idp.example.com\n      audience: signoff\n      discovery: true\n      poll:\n        endpoint_url: https://idp.example.com/poll\n        interval: 100ms #<\n", "ssf.transmitters[0].poll.interval", "must be between 1s and 1h"},
		{"ssf poll max_events", "public_url: https://auth.example.com\nssf:\n  transmitters:\n    - id: okta\n      issuer: https://idp.example.com\n      audience: signoff\n      discovery: true\n      poll:\n        endpoint_url: https://idp.example.com/poll\n        max_events: 0 #<\n", "ssf.transmitters[0].poll.max_events", "must be between 1 and 1000, got 0"},
		{"ssf id shared with an upstream", "public_url: https://auth.example.com\nupstreams:\n  - {id: corp, issuer: 'https://idp.example.com', client_id: s, jwks_uri: 'https://idp.example.com/j'}\nssf:\n  transmitters:\n    - id: corp #<\n      issuer: https://idp.example.com\n      audience: signoff\n      discovery: true\n      auth: {bearer_token_file: t}\n", "ssf.transmitters[0].id", `"corp" is already the id of upstreams[0]`},
		{"ssf subject_claim", "public_url: https://auth.example.com\nssf:\n  transmitters:\n    - id: okta\n      issuer: https://idp.example.com\n      audience: signoff\n      discovery: true\n      auth: {bearer_token_file: t}\n      subject_claim: upn #<\n", "ssf.transmitters[0].subject_claim", `must be sub or email, got "upn"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.yaml), "signoff.yaml", nil)
			if err == nil {
				t.Fatal("Parse succeeded, want an error")
			}
			var want string
			if strings.Contains(tt.yaml, "#<") {
				want = "signoff.yaml:" + strconv.Itoa(markedLine(t, tt.yaml)) + ": " + tt.path + ": " + tt.msg
			} else {
				want = "signoff.yaml: " + tt.path + ": " + tt.msg
			}
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error =\n%v\nwant it to contain\n%s", err, want)
			}
			if n := len(errorList(err)); n != 1 {
				t.Errorf("got %d errors, want exactly 1:\n%v", n, err)
			}
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Path != tt.path {
				t.Errorf("errors.As FieldError = %+v, want Path %q", fe, tt.path)
			}
		})
	}
}

// TestValidAccepted guards against rules that reject legitimate values.
func TestValidAccepted(t *testing.T) {
	tests := []struct{ name, yaml string }{
		{"loopback http", "public_url: http://localhost:8080\nissuer: http://[::1]:8080\n"},
		{"path prefix", "public_url: https://example.com/signoff\n"},
		{"listen all interfaces", "public_url: https://auth.example.com\nlisten: ':8080'\n"},
		{"listen ipv6", "public_url: https://auth.example.com\nlisten: '[::1]:0'\n"},
		{"nats cluster", "public_url: https://auth.example.com\nnats:\n  url: 'nats://u:p@n1:4222, tls://n2:4222,nats://n3'\n"},
		{"host-only cookie", "public_url: https://auth.example.com\nsession: {cookie_domain: ''}\n"},
		{"cookie on own host", "public_url: https://auth.example.com\nsession: {cookie_domain: auth.example.com}\n"},
		{"domains", "public_url: https://auth.example.com\nredirects:\n  allowed_domains: [example.com, xn--bcher-kva.example, localhost, a-b.co.uk]\n"},
		{"ssf receivers, push and poll", "public_url: https://auth.example.com\nrelying_parties:\n  - id: crm\n    ssf: {delivery: push, endpoint_url: 'https://crm.example.com/ssf', audience: 'https://crm.example.com', subject_format: email}\n  - id: vpn\n    ssf: {delivery: poll, bearer_token_file: vpn.token, audience: vpn, subject_format: opaque}\n"},
		{"bounds", "public_url: https://auth.example.com\nlogout: {deadline: 1s}\nbackchannel: {attempt_timeout: 100ms, concurrency: 1}\n"},
		{"upper bounds", "public_url: https://auth.example.com\nlogout: {deadline: 10m}\nbackchannel: {attempt_timeout: 60s, concurrency: 10000}\n"},
		{"frontchannel only, native redirect, EdDSA/JWT", "public_url: https://auth.example.com\nrelying_parties:\n  - id: app.v2_x-1\n    oidc:\n      client_id: 'app'\n      frontchannel_logout_uri: https://app.example.com/fc?x=1\n      post_logout_redirect_uris: ['com.example.app:/logged-out', 'http://127.0.0.1:5000/bye']\n      logout_token_alg: EdDSA\n      logout_token_typ: JWT\n"},
		{"null sections", "public_url: https://auth.example.com\nnats:\nkeys: ~\nrelying_parties:\n"},
		{"admin token", "public_url: https://auth.example.com\nadmin:\n  token: s3cret\n"},
		{"session lifetimes", "public_url: https://auth.example.com\nsession: {expiration: 12h, inactivity: 30m}\n"},
		{"session lifetime bounds", "public_url: https://auth.example.com\nsession: {expiration: 1m, inactivity: 2160h}\n"},
		{"upstream and fanout", "public_url: https://auth.example.com\nupstreams:\n  - {id: corp.idp, issuer: 'https://idp.example.com/realms/x', client_id: signoff, jwks_uri: 'https://idp.example.com/certs', algorithms: [RS256, PS256, ES384]}\n" + rp + "    fanout: always\n  - id: payroll\n    saml: {metadata_file: sp.xml, name_id: subject}\n    fanout: always\n"},
		{"session lifetimes explicitly none", "public_url: https://auth.example.com\nsession: {expiration: 0s, inactivity: 0s}\n"},
		{"ssf push and poll", "public_url: https://auth.example.com\nssf:\n  transmitters:\n    - id: okta\n      issuer: https://okta.example.com/oauth2/ssf\n      audience: https://auth.example.com\n      jwks_uri: https://okta.example.com/jwks\n      auth: {bearer_token_file: okta.token}\n      poll: {endpoint_url: 'https://okta.example.com/poll', interval: 1h, max_events: 1000, authorization_header_file: poll.hdr}\n      subject_claim: email\n    - id: local\n      issuer: http://127.0.0.1:9000\n      audience: signoff\n      discovery: true\n      poll: {endpoint_url: 'http://127.0.0.1:9000/poll'}\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Parse([]byte(tt.yaml), "signoff.yaml", nil); err != nil {
				t.Errorf("Parse: %v", err)
			}
		})
	}
}

func TestLineOfMissingKeyIsItsParent(t *testing.T) {
	y := "public_url: https://auth.example.com\nrelying_parties:\n  - id: a\n    oidc: {backchannel_logout_uri: 'https://a.example.com/bc'}\n  - id: b #<\n    saml: {}\n"
	_, err := Parse([]byte(y), "signoff.yaml", nil)
	// saml: {} is on line 6, the closest ancestor of the missing metadata_file.
	want := "signoff.yaml:6: relying_parties[1].saml.metadata_file: required"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error = %v, want %s", err, want)
	}
	if !strings.Contains(err.Error(), "signoff.yaml:4: relying_parties[0].oidc.client_id: required") {
		t.Errorf("error = %v, want the missing client_id of relying_parties[0] at line 4", err)
	}
}
