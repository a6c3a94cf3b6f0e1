package config

import (
	"fmt"
	"slices"
	"strings"
)

// SSF delivery methods and subject formats of relying_parties[].ssf.
const (
	// SSFDeliveryPush delivers SETs by POST to endpoint_url (RFC 8935).
	SSFDeliveryPush = "push"
	// SSFDeliveryPoll keeps SETs until the RP polls signoff's /ssf/poll (RFC 8936).
	SSFDeliveryPoll = "poll"
	// SSFFormatIssSub is the default subject_format: {iss, sub} (RFC 9493 3.2.5).
	SSFFormatIssSub = "iss_sub"
	// SSFFormatEmail sends the subject as an e-mail address (RFC 9493 3.2.2).
	SSFFormatEmail = "email"
	// SSFFormatOpaque sends the subject as an opaque id (RFC 9493 3.2.4).
	SSFFormatOpaque = "opaque"
)

// SSFReceiver configures a relying party signed out by Shared Signals: a CAEP
// session-revoked Security Event Token per logout, pushed to it or polled
// by it. Addition of issue #14 (DESIGN.md "Contract: Shared Signals out").
type SSFReceiver struct {
	// Delivery is push or poll. Required.
	Delivery string `yaml:"delivery"`
	// EndpointURL is the RP's push endpoint (push only, required there).
	EndpointURL string `yaml:"endpoint_url"`
	// AuthorizationHeaderFile holds the whole Authorization header value
	// sent with every push, such as "Bearer abc" (push only, optional).
	// Relative to the config file.
	AuthorizationHeaderFile string `yaml:"authorization_header_file"`
	// SubjectFormat is the sub_id format: iss_sub (default), email or
	// opaque.
	SubjectFormat string `yaml:"subject_format"`
	// Audience is the aud of the RP's SETs. Required.
	Audience string `yaml:"audience"`
	// BearerTokenFile holds the bearer token with which the RP calls the
	// stream management endpoints and, for poll, /ssf/poll. Required with
	// poll; without it a push RP cannot manage its stream. Relative to the
	// config file.
	BearerTokenFile string `yaml:"bearer_token_file"`
}

// ssfReceiver validates relying_parties[i].ssf.
func (v *validator) ssfReceiver(p string, s *SSFReceiver) {
	switch s.Delivery {
	case "":
		v.add(p+".delivery", "required: push (signoff POSTs each SET to endpoint_url) or poll (the RP polls signoff)")
	case SSFDeliveryPush:
		if s.EndpointURL == "" {
			v.add(p+".endpoint_url", "required with delivery push")
		} else {
			v.check(p+".endpoint_url", checkWebURL(s.EndpointURL))
		}
	case SSFDeliveryPoll:
		if s.EndpointURL != "" {
			v.add(p+".endpoint_url", "only with delivery push: with poll, the RP polls signoff's /ssf/poll")
		}
		if s.AuthorizationHeaderFile != "" {
			v.add(p+".authorization_header_file", "only with delivery push")
		}
		if strings.TrimSpace(s.BearerTokenFile) == "" {
			v.add(p+".bearer_token_file", "required with delivery poll: the RP authenticates its polls with this token")
		}
	default:
		v.add(p+".delivery", "must be push or poll; got %q", s.Delivery)
	}
	if !slices.Contains([]string{"", SSFFormatIssSub, SSFFormatEmail, SSFFormatOpaque}, s.SubjectFormat) {
		v.add(p+".subject_format", "must be iss_sub, email or opaque; got %q", s.SubjectFormat)
	}
	switch {
	case s.Audience == "":
		v.add(p+".audience", "required: the aud claim of the RP's SETs")
	case hasSpaceOrControl(s.Audience) || len(s.Audience) > 1024:
		v.add(p+".audience", "must be at most 1024 characters without whitespace or control characters")
	}
}

// SSFReceiverSecret is what the files of one relying party's ssf section hold.
type SSFReceiverSecret struct {
	// AuthorizationHeader is the content of authorization_header_file.
	AuthorizationHeader string
	// BearerToken is the content of bearer_token_file.
	BearerToken string
}

// SSFReceiverSecrets reads the files of every relying_parties[].ssf section, by
// rp id. Its errors name the key and line like those of Validate, never a
// secret: a missing, unreadable or empty file, a header with a line break,
// a bearer token shorter than 16 characters or shared by two RPs.
func (c *Config) SSFReceiverSecrets() (map[string]SSFReceiverSecret, error) {
	v := &validator{src: c.src}
	out := map[string]SSFReceiverSecret{}
	tokens := map[string]string{}
	read := func(path, file string) string {
		if file == "" {
			return ""
		}
		s, p, ok := v.readSecretFile(c, path, file)
		if !ok {
			return ""
		}
		switch {
		case s == "":
			v.add(path, "%s is empty", p)
		case strings.ContainsAny(s, "\r\n"):
			v.add(path, "%s must hold one line", p)
			return ""
		}
		return s
	}
	for i, rp := range c.RelyingParties {
		if rp.SSF == nil {
			continue
		}
		p := fmt.Sprintf("relying_parties[%d].ssf.", i)
		sec := SSFReceiverSecret{
			AuthorizationHeader: read(p+"authorization_header_file", rp.SSF.AuthorizationHeaderFile),
			BearerToken:         read(p+"bearer_token_file", rp.SSF.BearerTokenFile),
		}
		if t := sec.BearerToken; t != "" {
			switch {
			case len(t) < 16:
				v.add(p+"bearer_token_file", "the token must have at least 16 characters")
			case strings.ContainsAny(t, " \t"):
				v.add(p+"bearer_token_file", "the token must not contain spaces")
			case tokens[t] != "":
				v.add(p+"bearer_token_file", "holds the same token as %s: every RP needs its own", tokens[t])
			default:
				tokens[t] = p + "bearer_token_file"
			}
		}
		out[rp.ID] = sec
	}
	if err := v.err(); err != nil {
		return nil, err
	}
	return out, nil
}
