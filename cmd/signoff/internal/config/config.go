// Package config loads, defaults and validates the signoff configuration: the
// YAML file described in DESIGN.md ("Contract: running it"), the environment
// overrides SIGNOFF_LISTEN, SIGNOFF_DATA_DIR and SIGNOFF_NATS_URL, the NATS
// secrets SIGNOFF_NATS_PASSWORD and SIGNOFF_NATS_TOKEN, and the
// embedded defaults used by `signoff demo`.
//
// Loading happens in a fixed order: decode (an unknown key is an error that
// names the key, its path and its line), environment overrides, defaults,
// validation. Every validation error names the key path and, when the value
// came from the file, the file and line; all problems are reported at once.
//
// A key that is absent, null or an empty string takes its default; an
// explicit 0 or false is kept as written (and validated).
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Defaults applied to keys that are absent from the file.
const (
	// DefaultListen is the default HTTP listen address.
	DefaultListen = "127.0.0.1:8080"
	// DefaultDataDir is the default directory for sqlite, JetStream and generated keys.
	DefaultDataDir = "./data"
	// DefaultCookieName is the default name of the IdP session cookie.
	DefaultCookieName = "signoff_session"
	// DefaultLogoutDeadline is the default time a logout saga may take.
	DefaultLogoutDeadline = 30 * time.Second
	// DefaultNATSConnectTimeout is how long serve waits for nats.url.
	DefaultNATSConnectTimeout = 30 * time.Second
	// DefaultAttemptTimeout is the default timeout of one back-channel delivery attempt.
	DefaultAttemptTimeout = 5 * time.Second
	// DefaultConcurrency is the default number of concurrent back-channel deliveries.
	DefaultConcurrency = 256
	// DefaultLogLevel is the default log level.
	DefaultLogLevel = "info"
	// DefaultLogFormat is the default log format.
	DefaultLogFormat = "text"
	// DefaultSessionExpiration is the default absolute lifetime of an IdP
	// session: none.
	DefaultSessionExpiration = time.Duration(0)
	// DefaultSessionInactivity is the default inactivity timeout of an IdP
	// session: none.
	DefaultSessionInactivity = time.Duration(0)
	// MinSessionLifetime is the smallest session.expiration and
	// session.inactivity other than 0.
	MinSessionLifetime = time.Minute
	// MaxSessionLifetime is the largest session.expiration and
	// session.inactivity: 90 days.
	MaxSessionLifetime = 90 * 24 * time.Hour
	// DefaultDemoPublicURL is the public URL of Default(), matching DefaultListen.
	DefaultDemoPublicURL = "http://127.0.0.1:8080"
)

// Algorithms and typ header values allowed for OIDC logout tokens.
const (
	// AlgRS256 is RSASSA-PKCS1-v1_5 with SHA-256, the default logout token algorithm.
	AlgRS256 = "RS256"
	// AlgES256 is ECDSA P-256 with SHA-256.
	AlgES256 = "ES256"
	// AlgEdDSA is Ed25519.
	AlgEdDSA = "EdDSA"
	// TypLogoutJWT is the typ header recommended by OpenID Back-Channel Logout 1.0, the default.
	TypLogoutJWT = "logout+jwt"
	// TypJWT is the plain typ header, for RPs that reject logout+jwt.
	TypJWT = "JWT"
)

// Environment variables that override file values.
const (
	// EnvListen overrides listen.
	EnvListen = "SIGNOFF_LISTEN"
	// EnvDataDir overrides data_dir.
	EnvDataDir = "SIGNOFF_DATA_DIR"
	// EnvNATSURL overrides nats.url.
	EnvNATSURL = "SIGNOFF_NATS_URL"
	// EnvNATSPassword is the password of nats.user, instead of (and
	// overriding) nats.password_file.
	EnvNATSPassword = "SIGNOFF_NATS_PASSWORD"
	// EnvNATSToken is the NATS authentication token, instead of (and
	// overriding) nats.token_file.
	EnvNATSToken = "SIGNOFF_NATS_TOKEN"
)

// ReservedRPID is the rp_id of the participant "this sign-in service" (the
// local session cookie); no relying party may use it.
const ReservedRPID = "signoff"

// Config is the complete signoff configuration. Build one with Load, Parse or
// Default; when building one in code, start from Default() and call Validate.
type Config struct {
	// PublicURL is where browsers reach signoff: an absolute https URL (http
	// only on a loopback host), without query or fragment. Required.
	PublicURL string `yaml:"public_url"`
	// Issuer is the iss of logout tokens and the SAML Issuer entityID. It
	// defaults to PublicURL and is used exactly as written.
	Issuer string `yaml:"issuer"`
	// Listen is the host:port of the HTTP server (default 127.0.0.1:8080,
	// overridden by SIGNOFF_LISTEN).
	Listen string `yaml:"listen"`
	// DataDir holds the sqlite database, the embedded JetStream store and
	// generated keys (default ./data, relative to the working directory,
	// overridden by SIGNOFF_DATA_DIR).
	DataDir string `yaml:"data_dir"`
	// NATS selects an existing NATS or configures the embedded server.
	NATS NATS `yaml:"nats"`
	// Keys locates the signing keys.
	Keys Keys `yaml:"keys"`
	// Session describes the IdP session cookie and how long IdP sessions
	// live.
	Session Session `yaml:"session"`
	// Redirects limits where browsers may be sent after logout.
	Redirects Redirects `yaml:"redirects"`
	// Logout bounds each logout saga.
	Logout Logout `yaml:"logout"`
	// RelyingParties are the applications signed out by signoff.
	RelyingParties []RelyingParty `yaml:"relying_parties"`
	// Bridges consume the events of existing IdPs (bridges.go).
	Bridges Bridges `yaml:"bridges"`
	// Backchannel tunes OIDC back-channel delivery. Addition beyond the contract.
	Backchannel Backchannel `yaml:"backchannel"`
	// Log configures logging. Addition beyond the contract.
	Log Log `yaml:"log"`
	// Admin configures the admin API. Addition beyond the contract.
	Admin Admin `yaml:"admin"`
	// Shutdown bounds a graceful stop. Addition beyond the contract.
	Shutdown Shutdown `yaml:"shutdown"`
	// Tracing exports OpenTelemetry traces. Addition beyond the contract.
	Tracing Tracing `yaml:"tracing"`
	// OIDCProvider verifies id_token_hint at /oidc/end_session.
	OIDCProvider OIDCProvider `yaml:"oidc_provider"`
	// Upstreams are OpenID Providers at which signoff is registered as an
	// RP with a back-channel logout URI (upstream.go).
	Upstreams []Upstream `yaml:"upstreams"`
	// Metrics places /metrics on a listener of its own. Addition beyond
	// the contract.
	Metrics Metrics `yaml:"metrics"`
	// SSF configures the Shared Signals receiver (ssf.go).
	SSF SSF `yaml:"ssf"`
	// Cluster runs several instances on one NATS cluster (cluster.go).
	Cluster Cluster `yaml:"cluster"`
	// SecretFile holds the secret that binds browsers to their logouts
	// and seals internal events (at least 32 bytes). Default:
	// data_dir/secret.key, generated on first start. Instances of a
	// cluster must share it.
	SecretFile string `yaml:"secret_file"`

	src *source // where values came from; nil for Default()
}

// NATS selects the message bus: an existing NATS (cluster) when URL is set,
// otherwise an embedded nats-server with JetStream under DataDir.
type NATS struct {
	// URL is a comma-separated list of nats:// or tls:// server URLs
	// (overridden by SIGNOFF_NATS_URL). Empty starts the embedded server.
	URL string `yaml:"url"`
	// Listen is the host:port on which the embedded server also accepts TCP
	// clients (an IdP, the nats CLI). Empty keeps it in-process only. Ignored
	// when URL is set.
	Listen string `yaml:"listen"`
	// SyncAlways makes the embedded JetStream store fsync every write
	// (default true), so an acknowledged event survives a power loss; the
	// nats-server default is to fsync every 2 minutes. Addition beyond the
	// contract; ignored when URL is set.
	SyncAlways bool `yaml:"sync_always"`
	// Replicas of the SIGNOFF stream when signoff creates it (default 1;
	// 3 on a NATS cluster). An existing stream keeps its replica count.
	// Addition beyond the contract.
	Replicas int `yaml:"replicas"`
	// ConnectTimeout is how long `signoff serve` keeps trying to reach the
	// NATS at URL at start-up (default 30s), so that signoff may start
	// before its nats-server does; 0 tries once. Addition beyond the
	// contract; ignored without URL.
	ConnectTimeout Duration `yaml:"connect_timeout"`

	// Client authentication to the NATS at URL (DESIGN.md "Contract:
	// securing the event bus"); at most one of CredsFile, NkeySeedFile,
	// User with PasswordFile, and TokenFile. Relative paths are relative to
	// the directory of the config file. Only with URL.

	// CredsFile is a NATS credentials file (user JWT and nkey seed).
	CredsFile string `yaml:"creds_file"`
	// NkeySeedFile holds an nkey user's seed.
	NkeySeedFile string `yaml:"nkey_seed_file"`
	// User is the user name; its password comes from PasswordFile or
	// SIGNOFF_NATS_PASSWORD.
	User string `yaml:"user"`
	// PasswordFile holds the password of User (a trailing newline is
	// ignored); SIGNOFF_NATS_PASSWORD overrides it.
	PasswordFile string `yaml:"password_file"`
	// TokenFile holds an authentication token; SIGNOFF_NATS_TOKEN
	// overrides it.
	TokenFile string `yaml:"token_file"`
	// TLS verifies the server and presents a client certificate.
	TLS NATSTLS `yaml:"tls"`

	// Users may connect to the embedded server on Listen, each with a role
	// (idp or observer). With Listen, Users or AllowAnonymous is required.
	Users []NATSUser `yaml:"users"`
	// AllowAnonymous lets clients without credentials connect to Listen
	// with every permission, for development on loopback; it is logged as
	// a warning at every start.
	AllowAnonymous bool `yaml:"allow_anonymous"`

	// secrets from SIGNOFF_NATS_PASSWORD and SIGNOFF_NATS_TOKEN, behind a
	// pointer so that a printed Config shows none of them.
	env *natsEnv
}

type natsEnv struct{ password, token string }

func (n *NATS) envPassword() string {
	if n.env == nil {
		return ""
	}
	return n.env.password
}

func (n *NATS) envToken() string {
	if n.env == nil {
		return ""
	}
	return n.env.token
}

// NATSTLS is the client side of TLS to the NATS at nats.url.
type NATSTLS struct {
	// CAFile is a PEM bundle of the CAs of the server's certificate; empty
	// uses the system roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile are the PEM client certificate and its key.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// ServerName is the name expected in the server's certificate; empty
	// uses the host of the URL.
	ServerName string `yaml:"server_name"`
}

// NATSUser is a client of the embedded server: a password user or an nkey
// user, with a role.
type NATSUser struct {
	// Name is the user name: 1-64 characters of A-Z a-z 0-9 . _ -, unique,
	// not starting with "signoff" (signoff's own users).
	Name string `yaml:"name"`
	// PasswordFile holds the password, or its bcrypt hash as printed by
	// `nats server passwd`. Relative to the config file.
	PasswordFile string `yaml:"password_file"`
	// Nkey is the user's public nkey (U...), instead of a password.
	Nkey string `yaml:"nkey"`
	// Role is idp (publish joins, activity and logout requests; read
	// completions) or observer (read completions).
	Role string `yaml:"role"`
}

// Keys locates the PEM signing keys of logout tokens and SAML messages.
type Keys struct {
	// Dir holds the PEM keys; empty means DataDir/keys, generated on first
	// start (see Config.KeyDir). Relative to the working directory.
	Dir string `yaml:"dir"`
}

// Session describes the IdP session cookie that /logout reads and clears,
// and when signoff ends IdP sessions on its own (logout.requested with
// initiator expiry), besides the expires_at of session.joined.
type Session struct {
	// CookieName is the name of the cookie whose value is the session_id of
	// session.joined (default signoff_session).
	CookieName string `yaml:"cookie_name"`
	// CookieDomain is the Domain attribute of that cookie; empty means a
	// host-only cookie. It must cover the host of PublicURL.
	CookieDomain string `yaml:"cookie_domain"`
	// Expiration is the absolute lifetime of an IdP session, counted from
	// its first session.joined; activity does not extend it. 0 (default)
	// means none; otherwise between 1m and 2160h (90 days). Addition beyond
	// the contract.
	Expiration Duration `yaml:"expiration"`
	// Inactivity ends an IdP session that saw no session.joined or
	// session.activity for this long. 0 (default) means none; otherwise
	// between 1m and 2160h (90 days). Addition beyond the contract.
	Inactivity Duration `yaml:"inactivity"`
}

// Redirects limits the rd / targetURL redirects after logout.
type Redirects struct {
	// AllowedDomains are lowercase DNS names; each allows itself and all of
	// its subdomains, over https only.
	AllowedDomains []string `yaml:"allowed_domains"`
	// DefaultURL is where the Continue button of the logout page leads when
	// no valid rd / return_to was given; empty shows no button. An absolute
	// https URL (http only on loopback). Addition beyond the contract.
	DefaultURL string `yaml:"default_url"`
}

// Logout bounds each logout saga.
type Logout struct {
	// Deadline is how long a saga waits for participants before it completes
	// as partial (default 30s, between 1s and 10m).
	Deadline Duration `yaml:"deadline"`
	// ChooseScope says when the user first sees "sign out of this app
	// only, or everywhere": rp_initiated (default: RP-initiated logout
	// with a valid id_token_hint), always (also /logout) or never.
	// Addition beyond the contract.
	ChooseScope string `yaml:"choose_scope"`
}

// Shutdown bounds a graceful stop (SIGTERM, SIGINT).
type Shutdown struct {
	// Grace is how long deliveries in progress may go on after the stop
	// signal (default 8s, between 1s and 10m): within docker's 10 s and
	// Kubernetes' 30 s default grace periods. Deliveries still unfinished
	// then are abandoned without a result; their sagas resume on the next
	// start.
	Grace Duration `yaml:"grace"`
}

// DefaultShutdownGrace is the default of shutdown.grace.
const DefaultShutdownGrace = 8 * time.Second

// OIDCProvider is the OpenID Provider whose ID Tokens RPs send as
// id_token_hint to /oidc/end_session, when it is not signoff itself.
// Addition beyond the contract (issue "Session lifecycle").
type OIDCProvider struct {
	// Issuer is the OP's issuer; empty means signoff's own issuer and keys.
	Issuer string `yaml:"issuer"`
	// JWKSURI is the OP's jwks_uri; required with Issuer.
	JWKSURI string `yaml:"jwks_uri"`
}

// RelyingParty is one application signed out by signoff, over exactly one of
// OIDC, SAML or SSF.
type RelyingParty struct {
	// ID is the rp_id used in events: 1-64 characters of A-Z a-z 0-9 . _ -,
	// unique.
	ID string `yaml:"id"`
	// Name is shown to users; it defaults to ID.
	Name string `yaml:"name"`
	// OIDC configures an OpenID Connect RP.
	OIDC *OIDC `yaml:"oidc"`
	// SSF configures a Shared Signals receiver (ssfout.go).
	SSF *SSFReceiver `yaml:"ssf"`
	// SAML configures a SAML service provider.
	SAML *SAML `yaml:"saml"`
	// Fanout is "always" for an RP that takes part in every logout of a
	// subject, even without a known session there (upstream.go); empty
	// otherwise.
	Fanout string `yaml:"fanout"`
}

// OIDC configures the logout channels of an OpenID Connect RP.
type OIDC struct {
	// ClientID is the RP's client_id: the aud of its logout tokens. Required
	// and unique.
	ClientID string `yaml:"client_id"`
	// BackchannelLogoutURI receives logout tokens by POST.
	BackchannelLogoutURI string `yaml:"backchannel_logout_uri"`
	// BackchannelLogoutSessionRequired adds sid to logout tokens.
	BackchannelLogoutSessionRequired bool `yaml:"backchannel_logout_session_required"`
	// FrontchannelLogoutURI is loaded in an iframe of the logout page.
	FrontchannelLogoutURI string `yaml:"frontchannel_logout_uri"`
	// FrontchannelLogoutSessionRequired adds iss and sid to the iframe URL.
	FrontchannelLogoutSessionRequired bool `yaml:"frontchannel_logout_session_required"`
	// PostLogoutRedirectURIs are the exact post_logout_redirect_uri values
	// accepted at /oidc/end_session.
	PostLogoutRedirectURIs []string `yaml:"post_logout_redirect_uris"`
	// LogoutTokenAlg is RS256 (default), ES256 or EdDSA.
	LogoutTokenAlg string `yaml:"logout_token_alg"`
	// LogoutTokenTyp is logout+jwt (default) or JWT.
	LogoutTokenTyp string `yaml:"logout_token_typ"`
}

// SAML configures a SAML service provider: either its metadata file, or
// inline its entity_id, certificate_file and one or more slo_*_url.
type SAML struct {
	// MetadataFile is the SP metadata (SingleLogoutService endpoints and
	// signing certificates) as written in the file; a relative path is
	// relative to the directory of the config file.
	MetadataFile string `yaml:"metadata_file"`
	// MetadataPath is MetadataFile resolved against the config file's
	// directory by Load and Parse; open this one.
	MetadataPath string `yaml:"-"`
	// FrontchannelMode is how a browser SP (no SOAP SingleLogoutService)
	// is signed out from the logout page: redirect (default: a top-level
	// redirect chain, which works when third-party cookies are blocked)
	// or iframe (a hidden iframe). Addition beyond the contract.
	FrontchannelMode string `yaml:"frontchannel_mode"`
	// EntityID is the SP's entityID, instead of a metadata file. Addition
	// beyond the contract.
	EntityID string `yaml:"entity_id"`
	// SLORedirectURL, SLOPOSTURL and SLOSOAPURL are the SP's
	// SingleLogoutService locations for HTTP-Redirect, HTTP-POST and SOAP
	// (inline; at least one). Additions beyond the contract.
	SLORedirectURL string `yaml:"slo_redirect_url"`
	SLOPOSTURL     string `yaml:"slo_post_url"`
	SLOSOAPURL     string `yaml:"slo_soap_url"`
	// CertificateFile is a PEM file of the SP's signing certificate(s)
	// (inline), relative to the config file like MetadataFile. Addition
	// beyond the contract.
	CertificateFile string `yaml:"certificate_file"`
	// CertificatePath is CertificateFile resolved like MetadataPath.
	CertificatePath string `yaml:"-"`
	// NameID is "subject" when the SP's NameID is the user's subject
	// (upstream.go); empty otherwise.
	NameID string `yaml:"name_id"`
	// NameIDFormat is the Format of that NameID (default persistent).
	NameIDFormat string `yaml:"name_id_format"`
}

// SAML front-channel modes.
const (
	// SAMLModeRedirect is the default saml.frontchannel_mode.
	SAMLModeRedirect = "redirect"
	// SAMLModeIframe signs a browser SP out in an iframe.
	SAMLModeIframe = "iframe"
)

// Inline reports whether the SP is configured inline rather than by a
// metadata file.
func (s *SAML) Inline() bool { return s.MetadataFile == "" && s.EntityID != "" }

// Backchannel tunes OIDC back-channel delivery. Addition beyond the contract.
type Backchannel struct {
	// AttemptTimeout bounds one POST of a logout token (default 5s, between
	// 100ms and 60s); retries continue until the saga deadline.
	AttemptTimeout Duration `yaml:"attempt_timeout"`
	// Concurrency is the number of deliveries in flight at once (default
	// 256, between 1 and 10000).
	Concurrency int `yaml:"concurrency"`
}

// Log configures logging. Addition beyond the contract.
type Log struct {
	// Level is debug, info (default), warn or error.
	Level string `yaml:"level"`
	// Format is text (default) or json.
	Format string `yaml:"format"`
}

// SlogLevel returns Level as a slog.Level (info for an unknown level).
func (l Log) SlogLevel() slog.Level {
	switch l.Level {
	case "debug":
		return slog.LevelDebug
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	return slog.LevelInfo
}

// Admin configures the admin API (POST /api/admin/logout). Addition beyond
// the contract, not used yet.
type Admin struct {
	// Token is the bearer token of the admin API; empty disables it.
	Token string `yaml:"token"`
}

// KeyDir returns the directory of the signing keys: Keys.Dir, or DataDir/keys
// when it is empty.
func (c *Config) KeyDir() string {
	if c.Keys.Dir != "" {
		return c.Keys.Dir
	}
	return filepath.Join(c.DataDir, "keys")
}

// Default returns the embedded configuration of `signoff demo`: every default
// applied, PublicURL http://127.0.0.1:8080 (matching Listen), no relying
// parties. It passes Validate.
func Default() *Config {
	c := &Config{PublicURL: DefaultDemoPublicURL}
	c.applyDefaults()
	return c
}

// Load reads the YAML file at path and returns the validated configuration,
// with the environment overrides read through env (usually os.Getenv; nil
// means no overrides). Errors name path and the line of the offending key.
func Load(path string, env func(string) string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(data, path, env)
}

// Parse is Load for YAML already in memory: name is used in error messages and
// its directory resolves relative saml.metadata_file paths.
func Parse(data []byte, name string, env func(string) string) (*Config, error) {
	c, err := parse(data, name, env)
	if err != nil {
		return nil, err
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return c, nil
}

// LoadUnvalidated reads path like Load but does not validate: it returns
// the Config with the environment and defaults applied, so that `signoff
// check` can report the problems of Validate together with those of the
// files the config names. err is a problem that left no Config: an
// unreadable file, a YAML syntax error or unknown keys.
func LoadUnvalidated(path string, env func(string) string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return parse(data, path, env)
}

func parse(data []byte, name string, env func(string) string) (*Config, error) {
	src := &source{
		name:  name,
		dir:   filepath.Dir(name),
		lines: map[string]int{},
		set:   map[string]bool{},
		env:   map[string]string{},
	}
	syntaxErr := func(err error) error {
		line, msg := splitLine(strings.TrimPrefix(err.Error(), "yaml: "))
		return &FieldError{File: name, Line: line, Msg: msg}
	}
	var root, extra yaml.Node
	docs := yaml.NewDecoder(bytes.NewReader(data))
	if err := docs.Decode(&root); err != nil && !errors.Is(err, io.EOF) {
		return nil, syntaxErr(err)
	}
	switch err := docs.Decode(&extra); {
	case err == nil:
		return nil, &FieldError{File: name, Line: extra.Line, Msg: "a second YAML document; the config file must hold exactly one"}
	case !errors.Is(err, io.EOF):
		return nil, syntaxErr(err)
	}
	w := &walker{src: src}
	if len(root.Content) > 0 {
		w.walk(root.Content[0], configType, "")
	}
	if len(w.errs) > 0 {
		return nil, joinSorted(w.errs)
	}

	c := &Config{}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		// The walk above reports everything the decoder can object to; this
		// is a safety net.
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	c.src = src
	c.ApplyEnv(env)
	c.applyDefaults()
	return c, nil
}

// ApplyEnv applies the environment overrides SIGNOFF_LISTEN, SIGNOFF_DATA_DIR
// and SIGNOFF_NATS_URL, and the secrets SIGNOFF_NATS_PASSWORD and
// SIGNOFF_NATS_TOKEN, read through env (nil means none); an empty value does
// not override. Validation errors about an overridden key name the variable.
func (c *Config) ApplyEnv(env func(string) string) {
	if env == nil {
		return
	}
	for _, o := range []struct {
		name, path string
		field      *string
	}{
		{EnvListen, "listen", &c.Listen},
		{EnvDataDir, "data_dir", &c.DataDir},
		{EnvNATSURL, "nats.url", &c.NATS.URL},
	} {
		v := env(o.name)
		if v == "" {
			continue
		}
		*o.field = v
		c.setByEnv(o.path, o.name)
	}
	// Secrets are kept out of the exported fields: a printed Config shows
	// none of them.
	if v := env(EnvNATSPassword); v != "" {
		c.NATS.env = &natsEnv{password: v, token: c.NATS.envToken()}
		c.setByEnv("nats.password_file", EnvNATSPassword)
	}
	if v := env(EnvNATSToken); v != "" {
		c.NATS.env = &natsEnv{password: c.NATS.envPassword(), token: v}
		c.setByEnv("nats.token_file", EnvNATSToken)
	}
}

func (c *Config) setByEnv(path, name string) {
	if c.src == nil {
		c.src = &source{}
	}
	if c.src.env == nil {
		c.src.env = map[string]string{}
	}
	c.src.env[path] = name
}

// applyDefaults fills keys that were absent, null or empty strings.
func (c *Config) applyDefaults() {
	set := c.src.isSet
	if c.Issuer == "" {
		c.Issuer = c.PublicURL
	}
	if c.Listen == "" {
		c.Listen = DefaultListen
	}
	if c.DataDir == "" {
		c.DataDir = DefaultDataDir
	}
	if !set("nats.sync_always") {
		c.NATS.SyncAlways = true
	}
	if !set("nats.replicas") && c.NATS.Replicas == 0 {
		c.NATS.Replicas = 1
	}
	if !set("nats.connect_timeout") && c.NATS.ConnectTimeout == 0 {
		c.NATS.ConnectTimeout = Duration(DefaultNATSConnectTimeout)
	}
	if c.Session.CookieName == "" {
		c.Session.CookieName = DefaultCookieName
	}
	c.bridgeDefaults()
	c.clusterDefaults()
	if !set("shutdown.grace") && c.Shutdown.Grace == 0 {
		c.Shutdown.Grace = Duration(DefaultShutdownGrace)
	}
	if !set("logout.deadline") && c.Logout.Deadline == 0 {
		c.Logout.Deadline = Duration(DefaultLogoutDeadline)
	}
	if !set("backchannel.attempt_timeout") && c.Backchannel.AttemptTimeout == 0 {
		c.Backchannel.AttemptTimeout = Duration(DefaultAttemptTimeout)
	}
	if !set("backchannel.concurrency") && c.Backchannel.Concurrency == 0 {
		c.Backchannel.Concurrency = DefaultConcurrency
	}
	c.Tracing.defaults(set)
	if c.Logout.ChooseScope == "" {
		c.Logout.ChooseScope = "rp_initiated"
	}
	if c.Log.Level == "" {
		c.Log.Level = DefaultLogLevel
	}
	if c.Log.Format == "" {
		c.Log.Format = DefaultLogFormat
	}
	c.applySSFDefaults()
	for i := range c.RelyingParties {
		rp := &c.RelyingParties[i]
		if rp.Name == "" {
			rp.Name = rp.ID
		}
		if o := rp.OIDC; o != nil {
			if o.LogoutTokenAlg == "" {
				o.LogoutTokenAlg = AlgRS256
			}
			if o.LogoutTokenTyp == "" {
				o.LogoutTokenTyp = TypLogoutJWT
			}
		}
		if s := rp.SAML; s != nil {
			if s.MetadataPath == "" && s.MetadataFile != "" {
				s.MetadataPath = c.relative(s.MetadataFile)
			}
			if s.CertificatePath == "" && s.CertificateFile != "" {
				s.CertificatePath = c.relative(s.CertificateFile)
			}
			if s.FrontchannelMode == "" {
				s.FrontchannelMode = SAMLModeRedirect
			}
		}
	}
}

// relative resolves a path of the config file against its directory.
func (c *Config) relative(path string) string {
	if !filepath.IsAbs(path) && c.src != nil && c.src.dir != "" {
		return filepath.Join(c.src.dir, path)
	}
	return path
}
