package config

import (
	"fmt"
	"strings"
	"time"
)

// Subject claims of ssf.transmitters[].subject_claim.
const (
	// SSFSubjectSub maps iss_sub sub_ids (their sub) and opaque ones
	// (their id) to signoff's subject; the default.
	SSFSubjectSub = "sub"
	// SSFSubjectEmail maps email sub_ids (their email).
	SSFSubjectEmail = "email"
)

// Defaults and bounds of ssf.transmitters[].poll.
const (
	DefaultSSFPollInterval  = 30 * time.Second
	DefaultSSFPollMaxEvents = 25
	// MinSSFBearerToken is the shortest accepted push bearer token.
	MinSSFBearerToken = 16
)

// SSF configures the Shared Signals (SSF 1.0) receiver: the transmitters
// whose Security Event Tokens signoff accepts at POST /ssf/events (push,
// RFC 8935) or polls (RFC 8936). DESIGN.md "Contract: feeding signoff from
// existing IdPs".
type SSF struct {
	Transmitters []SSFTransmitter `yaml:"transmitters"`
}

// SSFTransmitter is one SSF transmitter (an IdP such as Okta, authentik or
// Keycloak).
type SSFTransmitter struct {
	// ID names the transmitter: 1-64 characters of A-Z a-z 0-9 . _ -,
	// unique. It is the upstream id of the sessions its CAEP
	// session-revoked events end (session.joined upstream.id).
	ID string `yaml:"id"`
	// Issuer is the iss of its SETs, compared exactly (an https URL, http
	// only on loopback).
	Issuer string `yaml:"issuer"`
	// Audience is the aud its SETs carry for signoff, compared exactly.
	Audience string `yaml:"audience"`
	// JWKSURI is where its signing keys are; or Discovery: true reads the
	// jwks_uri of Issuer's /.well-known/ssf-configuration. Exactly one.
	JWKSURI   string `yaml:"jwks_uri"`
	Discovery bool   `yaml:"discovery"`
	// Auth authenticates its pushes; without it, it cannot push.
	Auth *SSFAuth `yaml:"auth"`
	// Poll, when set, has signoff poll the transmitter.
	Poll *SSFPoll `yaml:"poll"`
	// SubjectClaim says how a user's sub_id becomes signoff's subject: sub
	// (default: iss_sub's sub, opaque's id) or email (email's email).
	SubjectClaim string `yaml:"subject_claim"`
}

// SSFAuth authenticates a transmitter's pushes.
type SSFAuth struct {
	// BearerTokenFile holds the token the transmitter sends as
	// "Authorization: Bearer <token>" (the authorization_header of its
	// stream configuration); relative to the config file.
	BearerTokenFile string `yaml:"bearer_token_file"`
}

// SSFPoll configures RFC 8936 polling of a transmitter.
type SSFPoll struct {
	// EndpointURL is the stream's poll endpoint_url.
	EndpointURL string `yaml:"endpoint_url"`
	// Interval is the pause after a poll that returned nothing (default
	// 30s, between 1s and 1h).
	Interval Duration `yaml:"interval"`
	// AuthorizationHeaderFile holds the whole Authorization header value
	// sent with each poll, e.g. "Bearer eyJ…"; relative to the config file.
	AuthorizationHeaderFile string `yaml:"authorization_header_file"`
	// MaxEvents is the maxEvents of each poll (default 25, 1 to 1000).
	MaxEvents int `yaml:"max_events"`
}

// applySSFDefaults fills the absent keys of ssf.
func (c *Config) applySSFDefaults() {
	for i := range c.SSF.Transmitters {
		t := &c.SSF.Transmitters[i]
		if t.SubjectClaim == "" {
			t.SubjectClaim = SSFSubjectSub
		}
		if p := t.Poll; p != nil {
			if !c.src.isSet(fmt.Sprintf("ssf.transmitters[%d].poll.interval", i)) && p.Interval == 0 {
				p.Interval = Duration(DefaultSSFPollInterval)
			}
			if !c.src.isSet(fmt.Sprintf("ssf.transmitters[%d].poll.max_events", i)) && p.MaxEvents == 0 {
				p.MaxEvents = DefaultSSFPollMaxEvents
			}
		}
	}
}

// ssf validates the ssf section.
func (v *validator) ssf(s *SSF) {
	ids := map[string]int{}
	for i, t := range s.Transmitters {
		p := fmt.Sprintf("ssf.transmitters[%d]", i)
		v.uniqueID(p+".id", "ssf.transmitters", t.ID, i, ids)
		if t.Issuer == "" {
			v.add(p+".issuer", "required: the iss of the transmitter's SETs")
		} else {
			v.check(p+".issuer", checkWebURL(t.Issuer))
		}
		switch {
		case t.Audience == "":
			v.add(p+".audience", "required: the aud the transmitter's SETs carry for signoff")
		case hasSpaceOrControl(t.Audience):
			v.add(p+".audience", "must not contain whitespace, control characters or backslashes")
		}
		switch {
		case t.JWKSURI == "" && !t.Discovery:
			v.add(p, "needs jwks_uri or discovery: true (the jwks_uri of the issuer's /.well-known/ssf-configuration)")
		case t.JWKSURI != "" && t.Discovery:
			v.add(p+".jwks_uri", "cannot be combined with discovery: true; use one")
		case t.JWKSURI != "":
			v.check(p+".jwks_uri", checkWebURL(t.JWKSURI))
		}
		if t.Auth == nil && t.Poll == nil {
			v.add(p, "needs auth (to accept pushes at /ssf/events) or poll (to poll the transmitter), or both")
		}
		if t.Auth != nil && strings.TrimSpace(t.Auth.BearerTokenFile) == "" {
			v.add(p+".auth.bearer_token_file", "required: a file holding the bearer token the transmitter pushes with")
		}
		if q := t.Poll; q != nil {
			if q.EndpointURL == "" {
				v.add(p+".poll.endpoint_url", "required: the stream's RFC 8936 poll URL")
			} else {
				v.check(p+".poll.endpoint_url", checkWebURL(q.EndpointURL))
			}
			v.checkRange(p+".poll.interval", q.Interval, time.Second, time.Hour)
			if q.MaxEvents < 1 || q.MaxEvents > 1000 {
				v.add(p+".poll.max_events", "must be between 1 and 1000, got %d", q.MaxEvents)
			}
		}
		if t.SubjectClaim != SSFSubjectSub && t.SubjectClaim != SSFSubjectEmail {
			v.add(p+".subject_claim", "must be sub or email, got %q", t.SubjectClaim)
		}
	}
}

// SSFSecrets are the secrets of ssf.transmitters, by transmitter id. They
// must not be logged.
type SSFSecrets struct {
	// BearerTokens are the push tokens (auth.bearer_token_file).
	BearerTokens map[string]string
	// AuthorizationHeaders are the poll Authorization headers
	// (poll.authorization_header_file).
	AuthorizationHeaders map[string]string
}

// SSFSecrets reads the secret files of ssf.transmitters; its errors name
// the key and line like those of Validate, never a secret: a missing or
// empty file, a token shorter than MinSSFBearerToken characters, a token
// used by two transmitters (a push would not say which one sent it). Call
// it on a valid Config, at start-up.
func (c *Config) SSFSecrets() (*SSFSecrets, error) {
	v := &validator{src: c.src}
	out := &SSFSecrets{BearerTokens: map[string]string{}, AuthorizationHeaders: map[string]string{}}
	read := func(path, file string) string {
		s, p, ok := v.readSecretFile(c, path, file)
		if ok && strings.TrimSpace(s) == "" {
			v.add(path, "%s is empty", p)
		}
		return s
	}
	owner := map[string]int{}
	for i, t := range c.SSF.Transmitters {
		p := fmt.Sprintf("ssf.transmitters[%d]", i)
		if t.Auth != nil && t.Auth.BearerTokenFile != "" {
			key := p + ".auth.bearer_token_file"
			tok := strings.TrimSpace(read(key, t.Auth.BearerTokenFile))
			switch j, dup := owner[tok]; {
			case tok == "":
			case len(tok) < MinSSFBearerToken:
				v.add(key, "the token is shorter than %d characters", MinSSFBearerToken)
			case strings.ContainsAny(tok, " \t"):
				v.add(key, "the token must not contain whitespace")
			case dup:
				v.add(key, "holds the same token as ssf.transmitters[%d]: each transmitter needs its own", j)
			default:
				owner[tok] = i
				out.BearerTokens[t.ID] = tok
			}
		}
		if t.Poll != nil && t.Poll.AuthorizationHeaderFile != "" {
			if h := read(p+".poll.authorization_header_file", t.Poll.AuthorizationHeaderFile); h != "" {
				out.AuthorizationHeaders[t.ID] = strings.TrimSpace(h)
			}
		}
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	return out, nil
}
