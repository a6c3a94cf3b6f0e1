package ssfin

import (
	"errors"
	"fmt"
	"time"
)

// Error codes of RFC 8935 section 2.4 (and RFC 8936 section 2.4.4).
const (
	// CodeInvalidRequest: the request body cannot be parsed as a SET, or
	// the event does not conform to its definition (or is not supported).
	CodeInvalidRequest = "invalid_request"
	// CodeInvalidKey: the key that signed the SET is not acceptable.
	CodeInvalidKey = "invalid_key"
	// CodeInvalidIssuer: the SET issuer is not the transmitter's.
	CodeInvalidIssuer = "invalid_issuer"
	// CodeInvalidAudience: the SET audience is not this receiver.
	CodeInvalidAudience = "invalid_audience"
	// CodeAuthenticationFailed: the transmitter could not be authenticated.
	CodeAuthenticationFailed = "authentication_failed"
	// CodeAccessDenied: the transmitter may not send this SET here.
	CodeAccessDenied = "access_denied"
)

// Error is a SET refused for good: retrying the same SET cannot succeed.
// Code is one of the RFC 8935 section 2.4 error codes.
type Error struct {
	Code        string
	Description string
	// Replay is set when the SET's jti was already processed.
	Replay bool
}

func (e *Error) Error() string { return e.Code + ": " + e.Description }

func refuse(code, format string, args ...any) *Error {
	return &Error{Code: code, Description: fmt.Sprintf(format, args...)}
}

func invalid(format string, args ...any) *Error { return refuse(CodeInvalidRequest, format, args...) }

// unavailableError is a temporary failure: the SET could not be processed
// now (keys cannot be fetched, the bus did not acknowledge); the
// transmitter should send it again after RetryAfter.
type unavailableError struct {
	msg        string
	retryAfter time.Duration
	err        error
}

func (e *unavailableError) Error() string {
	if e.err != nil {
		return e.msg + ": " + e.err.Error()
	}
	return e.msg
}

func (e *unavailableError) Unwrap() error { return e.err }

// asRefusal returns the *Error in err's chain, if any.
func asRefusal(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
