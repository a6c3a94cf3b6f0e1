package receiver

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
)

// EventBackchannelLogout is the member of the "events" claim that makes a
// JWT a logout token
// (https://openid.net/specs/openid-connect-backchannel-1_0.html#LogoutToken).
const EventBackchannelLogout = "http://schemas.openid.net/event/backchannel-logout"

// Defaults of BackChannelConfig.
const (
	// DefaultLeeway is the clock skew tolerated on iat and exp.
	DefaultLeeway = time.Minute
	// DefaultMaxAge is how old (by iat) a logout token may be. The spec
	// asks for exp "preferably at most two minutes" after iat; 10 minutes
	// also admits OPs with longer lifetimes (Zitadel: 5 minutes) and queued
	// deliveries, and bounds how long a jti must be remembered.
	DefaultMaxAge = 10 * time.Minute
	// DefaultJWKSRefreshInterval is the least time between two JWKS
	// fetches, so that a flood of tokens with unknown kids cannot make the
	// RP hammer the OP.
	DefaultJWKSRefreshInterval = 10 * time.Second
)

// maxForm is the largest request body read: logout tokens are small.
const maxForm = 64 << 10

// maxNumericDate is 9999-12-31T23:59:59Z, the largest iat or exp accepted.
const maxNumericDate = 253402300799

// ErrInvalidToken is wrapped by every error of BackChannel.Verify that
// makes the request invalid (answered with 400); its message is the
// error_description.
var ErrInvalidToken = errors.New("invalid logout token")

type invalidError struct{ desc string }

func (e *invalidError) Error() string        { return e.desc }
func (e *invalidError) Is(target error) bool { return target == ErrInvalidToken }

func invalid(format string, args ...any) error {
	return &invalidError{fmt.Sprintf(format, args...)}
}

// Logout is a verified logout request: end the RP session SessionID of the
// user Subject, or every session of Subject when SessionID is empty
// (https://openid.net/specs/openid-connect-backchannel-1_0.html#BCActions).
// At least one of Subject and SessionID is set.
type Logout struct {
	// Subject is the sub claim: the user, as in the ID Token.
	Subject string
	// SessionID is the sid claim: the OP session, as in the ID Token.
	SessionID string
	// JTI is the token's unique identifier.
	JTI string
	// IssuedAt is the iat claim.
	IssuedAt time.Time
}

// BackChannelConfig configures a BackChannel.
type BackChannelConfig struct {
	// Issuer is the OP's issuer identifier; the iss claim must equal it
	// exactly. Required.
	Issuer string
	// ClientID is the RP's client_id; the aud claim must contain it.
	// Required.
	ClientID string
	// JWKSURL is the OP's jwks_uri (signoff: <public_url>/jwks.json). The
	// keys are fetched on first use and again when a token names an
	// unknown kid, at most once per JWKSRefreshInterval. One of JWKSURL
	// and Keys is required.
	JWKSURL string
	// Keys is a static key set, used instead of JWKSURL (tests, offline).
	Keys *jose.JSONWebKeySet
	// HTTPClient fetches JWKSURL; nil means a client with a 10 s timeout.
	HTTPClient *http.Client
	// JWKSRefreshInterval is the least time between two JWKS fetches;
	// default DefaultJWKSRefreshInterval. A token whose kid is unknown
	// within that time after a fetch is answered 503 with Retry-After, so
	// an OP that has just rotated its key retries; once the keys were
	// refetched for it, an unknown kid is answered 400.
	JWKSRefreshInterval time.Duration
	// Algorithms are the accepted JWS algorithms: set the RP's registered
	// id_token_signed_response_alg (signoff: logout_token_alg) alone, so
	// that a token of another alg is rejected (the conformance suite's
	// "wrong alg" case). Default RS256, ES256 and EdDSA.
	// "none" and HMAC algorithms are never accepted.
	Algorithms []jose.SignatureAlgorithm
	// Leeway is the clock skew tolerated on iat and exp; default
	// DefaultLeeway.
	Leeway time.Duration
	// MaxAge is how old a token may be by its iat; default DefaultMaxAge.
	MaxAge time.Duration
	// Replay remembers processed jti values; nil means a
	// NewMemoryJTIStore(DefaultMaxJTIs, Now), which is per process.
	Replay JTIStore
	// Logout ends the sessions named by l. It must be idempotent: a
	// session that is already gone counts as success
	// (https://openid.net/specs/openid-connect-backchannel-1_0.html#BCActions).
	// An error is answered 503, so the OP retries. Required.
	Logout func(ctx context.Context, l Logout) error
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Logger receives rejected tokens (Info) and failures (Error); nil
	// means slog.Default().
	Logger *slog.Logger
}

// BackChannel is the http.Handler of an RP's backchannel_logout_uri
// (https://openid.net/specs/openid-connect-backchannel-1_0.html#BCRequest).
// It is safe for concurrent use.
type BackChannel struct {
	cfg  BackChannelConfig
	keys *keySource
}

var defaultAlgorithms = []jose.SignatureAlgorithm{jose.RS256, jose.ES256, jose.EdDSA}

var asymmetric = []jose.SignatureAlgorithm{
	jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
	jose.ES256, jose.ES384, jose.ES512, jose.EdDSA,
}

// NewBackChannel validates cfg, fills in its defaults and returns the
// handler. It does not fetch the JWKS yet.
func NewBackChannel(cfg BackChannelConfig) (*BackChannel, error) {
	switch {
	case cfg.Issuer == "":
		return nil, errors.New("receiver: Issuer is empty")
	case cfg.ClientID == "":
		return nil, errors.New("receiver: ClientID is empty")
	case cfg.Logout == nil:
		return nil, errors.New("receiver: no Logout callback")
	case (cfg.JWKSURL == "") == (cfg.Keys == nil):
		return nil, errors.New("receiver: set exactly one of JWKSURL and Keys")
	}
	if len(cfg.Algorithms) == 0 {
		cfg.Algorithms = defaultAlgorithms
	}
	cfg.Algorithms = slices.Clone(cfg.Algorithms)
	for _, a := range cfg.Algorithms {
		if !slices.Contains(asymmetric, a) {
			return nil, fmt.Errorf("receiver: algorithm %q is not accepted (want RS*, PS*, ES* or EdDSA)", a)
		}
	}
	if cfg.Leeway <= 0 {
		cfg.Leeway = DefaultLeeway
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = DefaultMaxAge
	}
	if cfg.JWKSRefreshInterval <= 0 {
		cfg.JWKSRefreshInterval = DefaultJWKSRefreshInterval
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: fetchTimeout}
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Replay == nil {
		cfg.Replay = NewMemoryJTIStore(DefaultMaxJTIs, cfg.Now)
	}
	ks := &keySource{
		url: cfg.JWKSURL, client: cfg.HTTPClient, interval: cfg.JWKSRefreshInterval,
		now: cfg.Now, log: cfg.Logger,
	}
	if cfg.Keys != nil {
		static := publicSigningKeys(cfg.Keys.Keys)
		if len(static) == 0 {
			return nil, errors.New("receiver: Keys holds no public signature key")
		}
		ks.keys.Store(&static)
	}
	return &BackChannel{cfg: cfg, keys: ks}, nil
}

// ServeHTTP handles one back-channel logout request: POST with the form
// field logout_token (section 2.5). It verifies the token (Verify), rejects
// a jti already processed, calls Logout and, only when it succeeded,
// remembers the jti. Answers: 200 (empty body), 400 or 405 (invalid
// request), 503 (temporary failure; retry); see the package documentation.
func (b *BackChannel) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, http.StatusMethodNotAllowed, "invalid_request", "use POST")
		return
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/x-www-form-urlencoded" {
		b.reject(w, r, invalid("Content-Type must be application/x-www-form-urlencoded"))
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		b.reject(w, r, invalid("malformed form body"))
		return
	}
	tokens := r.PostForm["logout_token"] // never the query: tokens do not belong in URLs
	if len(tokens) != 1 || tokens[0] == "" {
		b.reject(w, r, invalid("the form needs exactly one logout_token"))
		return
	}
	l, until, err := b.verify(r.Context(), tokens[0])
	if err != nil {
		b.reject(w, r, err)
		return
	}
	seen, err := b.cfg.Replay.Seen(r.Context(), l.JTI)
	if err != nil {
		b.cfg.Logger.Error("back-channel logout: replay store failed", "jti", l.JTI, "err", err)
		writeError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "replay check failed; retry later")
		return
	}
	if seen {
		b.reject(w, r, invalid("logout token replayed: jti already processed"))
		return
	}
	if err := b.cfg.Logout(r.Context(), l); err != nil {
		b.cfg.Logger.Error("back-channel logout: ending the session failed",
			"sub", l.Subject, "sid", l.SessionID, "jti", l.JTI, "err", err)
		writeError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the session could not be ended; retry later")
		return
	}
	if err := b.cfg.Replay.Remember(r.Context(), l.JTI, until); err != nil {
		// The session has ended: still a success.
		b.cfg.Logger.Error("back-channel logout: remembering jti failed", "jti", l.JTI, "err", err)
	}
	w.WriteHeader(http.StatusOK)
}

// reject answers err: 400 for an invalid token, 503 for a temporary failure.
func (b *BackChannel) reject(w http.ResponseWriter, r *http.Request, err error) {
	var ue *unavailableError
	if errors.As(err, &ue) {
		w.Header().Set("Retry-After", strconv.Itoa(int((ue.retryAfter+time.Second-1)/time.Second)))
		writeError(w, http.StatusServiceUnavailable, "temporarily_unavailable", ue.desc)
		return
	}
	b.cfg.Logger.Info("back-channel logout rejected", "remote", r.RemoteAddr, "reason", err.Error())
	writeError(w, http.StatusBadRequest, "invalid_request", err.Error())
}

// writeError writes {"error":code,"error_description":desc} (section 2.8,
// https://openid.net/specs/openid-connect-backchannel-1_0.html#BCResponse).
func writeError(w http.ResponseWriter, status int, code, desc string) {
	body, _ := json.Marshal(map[string]string{"error": code, "error_description": desc})
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// Verify validates the logout token raw as section 2.6 requires
// (https://openid.net/specs/openid-connect-backchannel-1_0.html#Validation)
// and returns its logout. It does not check replay; ServeHTTP does. An
// error wraps ErrInvalidToken when the token is invalid; any other error
// is temporary (the OP's keys could not be fetched).
func (b *BackChannel) Verify(ctx context.Context, raw string) (Logout, error) {
	l, _, err := b.verify(ctx, raw)
	return l, err
}

// verify also returns until, the time after which the token is rejected
// as expired or too old anyway: how long its jti must be remembered.
func (b *BackChannel) verify(ctx context.Context, raw string) (l Logout, until time.Time, err error) {
	if alg := headerAlg(raw); alg != "" && !slices.Contains(b.cfg.Algorithms, jose.SignatureAlgorithm(alg)) {
		return l, until, invalid("alg %q is not accepted (accepted: %s)", alg, algList(b.cfg.Algorithms))
	}
	jws, err := jose.ParseSignedCompact(raw, b.cfg.Algorithms)
	if err != nil || len(jws.Signatures) != 1 {
		return l, until, invalid("logout token is not a compact JWS")
	}
	h := jws.Signatures[0].Protected
	if err := checkTyp(h.ExtraHeaders[jose.HeaderType]); err != nil {
		return l, until, err
	}
	keys, err := b.keys.lookup(ctx, h.KeyID, h.Algorithm)
	if err != nil {
		return l, until, err
	}
	var payload []byte
	for _, k := range keys {
		if payload, err = jws.Verify(k); err == nil {
			break
		}
	}
	if payload == nil {
		return l, until, invalid("invalid signature")
	}
	return b.checkClaims(payload)
}

// headerAlg returns the alg of a compact JWS's header, "" when unreadable.
func headerAlg(raw string) string {
	head, _, _ := strings.Cut(raw, ".")
	js, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return ""
	}
	var h struct {
		Alg string `json:"alg"`
	}
	_ = json.Unmarshal(js, &h)
	return h.Alg
}

func algList(algs []jose.SignatureAlgorithm) string {
	s := make([]string, len(algs))
	for i, a := range algs {
		s[i] = string(a)
	}
	return strings.Join(s, ", ")
}

// checkTyp accepts the typ header "logout+jwt" (RECOMMENDED by section
// 2.4; "application/logout+jwt" is the same media type), "JWT" (sent by
// many OPs, and by signoff for RPs that ask for it) and no typ at all (the
// header is only RECOMMENDED, and older OPs omit it): the spec warns that
// requiring logout+jwt "will break most existing deployments". Any other
// type, e.g. at+jwt or secevent+jwt, is a different kind of token and is
// rejected.
func checkTyp(v any) error {
	if v == nil {
		return nil
	}
	typ, _ := v.(string)
	switch strings.ToLower(typ) {
	case "logout+jwt", "application/logout+jwt", "jwt":
		return nil
	}
	return invalid("typ %q is not logout+jwt or JWT", typ)
}

// checkClaims validates the claims of a verified token (steps 3 to 6 of
// section 2.6).
func (b *BackChannel) checkClaims(payload []byte) (l Logout, until time.Time, err error) {
	var c map[string]json.RawMessage // exact claim names: no case folding
	if err := json.Unmarshal(payload, &c); err != nil || c == nil {
		return l, until, invalid("claims are not a JSON object")
	}
	iss, err := stringClaim(c, "iss")
	if err != nil {
		return l, until, err
	}
	if iss != b.cfg.Issuer {
		return l, until, invalid("iss is not %q", b.cfg.Issuer)
	}
	if err := b.checkAudience(c["aud"]); err != nil {
		return l, until, err
	}
	now := b.cfg.Now()
	iat, err := timeClaim(c, "iat")
	if err != nil {
		return l, until, err
	}
	if iat.After(now.Add(b.cfg.Leeway)) {
		return l, until, invalid("logout token issued in the future (iat)")
	}
	if iat.Add(b.cfg.MaxAge + b.cfg.Leeway).Before(now) {
		return l, until, invalid("logout token too old: iat more than %s ago", b.cfg.MaxAge)
	}
	exp, err := timeClaim(c, "exp")
	if err != nil {
		return l, until, err
	}
	if !now.Before(exp.Add(b.cfg.Leeway)) {
		return l, until, invalid("logout token expired")
	}
	if l.JTI, err = stringClaim(c, "jti"); err != nil {
		return l, until, err
	}
	if l.JTI == "" {
		return l, until, invalid("jti is empty")
	}
	if err := checkEvents(c["events"]); err != nil {
		return l, until, err
	}
	if _, ok := c["nonce"]; ok {
		return l, until, invalid("nonce is prohibited in a logout token")
	}
	if l.Subject, err = optionalString(c, "sub"); err != nil {
		return l, until, err
	}
	if l.SessionID, err = optionalString(c, "sid"); err != nil {
		return l, until, err
	}
	if l.Subject == "" && l.SessionID == "" {
		return l, until, invalid("logout token has neither sub nor sid")
	}
	l.IssuedAt = iat
	until = exp
	if oldest := iat.Add(b.cfg.MaxAge); oldest.Before(until) {
		until = oldest
	}
	return l, until.Add(b.cfg.Leeway), nil
}

// checkAudience requires aud, a string or an array of strings, to contain
// ClientID.
func (b *BackChannel) checkAudience(raw json.RawMessage) error {
	if raw == nil {
		return invalid("missing aud")
	}
	var one string
	if json.Unmarshal(raw, &one) == nil {
		if one == b.cfg.ClientID {
			return nil
		}
	} else {
		var many []string
		if json.Unmarshal(raw, &many) != nil {
			return invalid("aud is not a string or an array of strings")
		}
		if slices.Contains(many, b.cfg.ClientID) {
			return nil
		}
	}
	return invalid("aud does not contain the client_id %q", b.cfg.ClientID)
}

// checkEvents requires the events claim to be an object whose member
// EventBackchannelLogout is an object; other members are ignored.
func checkEvents(raw json.RawMessage) error {
	if raw == nil {
		return invalid("missing events")
	}
	var events map[string]json.RawMessage
	if err := json.Unmarshal(raw, &events); err != nil || events == nil {
		return invalid("events is not a JSON object")
	}
	ev, ok := events[EventBackchannelLogout]
	if !ok {
		return invalid("events has no member %q", EventBackchannelLogout)
	}
	if !bytes.HasPrefix(bytes.TrimSpace(ev), []byte("{")) {
		return invalid("the %q event is not a JSON object", EventBackchannelLogout)
	}
	return nil
}

func stringClaim(c map[string]json.RawMessage, name string) (string, error) {
	if _, ok := c[name]; !ok {
		return "", invalid("missing %s", name)
	}
	return optionalString(c, name)
}

func optionalString(c map[string]json.RawMessage, name string) (string, error) {
	raw, ok := c[name]
	if !ok {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", invalid("%s is not a string", name)
	}
	return s, nil
}

// timeClaim reads a required NumericDate (RFC 7519 section 2).
func timeClaim(c map[string]json.RawMessage, name string) (time.Time, error) {
	raw, ok := c[name]
	if !ok {
		return time.Time{}, invalid("missing %s", name)
	}
	var f float64
	if err := json.Unmarshal(raw, &f); err != nil || bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return time.Time{}, invalid("%s is not a number", name)
	}
	if f < 0 || f > maxNumericDate {
		return time.Time{}, invalid("%s is out of range", name)
	}
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9)), nil
}
