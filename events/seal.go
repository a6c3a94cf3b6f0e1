package events

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
)

// HeaderSeal is the NATS header that carries the integrity tag of an
// internal event (dispatch or result), see Sealer.
const HeaderSeal = "Signoff-Seal"

// Headers of a message on SubjectPoison: why it was poisoned and the
// subject it arrived on. The payload is the original, byte for byte.
const (
	HeaderPoisonReason  = "Signoff-Poison-Reason"
	HeaderPoisonSubject = "Signoff-Poison-Subject"
)

// ErrSeal reports an internal event whose integrity tag is missing or
// wrong: it was not published by a signoff instance holding the shared
// secret.
var ErrSeal = errors.New("integrity tag missing or invalid")

// sealVersion prefixes every tag so that the construction can change.
const sealVersion = "v1."

// Sealer authenticates the events that signoff's own components exchange
// (logout.dispatch.* and logout.result): HMAC-SHA256, under a key derived
// from the instances' shared secret, over the subject and the exact
// payload bytes. A NATS client that can publish on those subjects but does
// not hold the secret can neither forge nor alter one; it can replay a
// genuine one, which the receivers make harmless (a dispatch is delivered
// only for a pending participant of a running saga, a result counts once).
type Sealer struct{ key []byte }

// NewSealer derives the sealing key from secret (at least 32 bytes).
func NewSealer(secret []byte) (*Sealer, error) {
	if len(secret) < 32 {
		return nil, fmt.Errorf("events: sealing secret of %d bytes, need at least 32", len(secret))
	}
	m := hmac.New(sha256.New, secret)
	m.Write([]byte("signoff event seal v1"))
	return &Sealer{key: m.Sum(nil)}, nil
}

func (s *Sealer) mac(subject string, payload []byte) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte(subject))
	m.Write([]byte{0})
	m.Write(payload)
	return m.Sum(nil)
}

// Seal returns the tag of payload published on subject, for HeaderSeal.
func (s *Sealer) Seal(subject string, payload []byte) string {
	return sealVersion + base64.RawURLEncoding.EncodeToString(s.mac(subject, payload))
}

// Verify checks tag against payload received on subject; it returns an
// error wrapping ErrSeal (and ErrInvalid: the event is poisoned) when they
// do not match.
func (s *Sealer) Verify(subject string, payload []byte, tag string) error {
	if tag == "" {
		return fmt.Errorf("%w: %w: no %s header on %s", ErrInvalid, ErrSeal, HeaderSeal, subject)
	}
	if len(tag) < len(sealVersion) || tag[:len(sealVersion)] != sealVersion {
		return fmt.Errorf("%w: %w: unknown %s version on %s", ErrInvalid, ErrSeal, HeaderSeal, subject)
	}
	got, err := base64.RawURLEncoding.DecodeString(tag[len(sealVersion):])
	if err != nil || !hmac.Equal(got, s.mac(subject, payload)) {
		return fmt.Errorf("%w: %w: %s does not match %s", ErrInvalid, ErrSeal, HeaderSeal, subject)
	}
	return nil
}
