package bus

import (
	"errors"

	"github.com/signoff/signoff/events"
)

// ErrPermanent marks an error that no retry can fix: the message is
// published on signoff.poison with the reason and is not retried.
var ErrPermanent = errors.New("permanent")

type permanent struct{ err error }

func (p permanent) Error() string   { return p.err.Error() }
func (p permanent) Unwrap() []error { return []error{p.err, ErrPermanent} }

// Permanent wraps err so that the message is poisoned instead of retried.
// Invalid events (events.ErrInvalid) are always permanent.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanent{err}
}

// IsPermanent reports whether err is permanent: wrapped by Permanent, or an
// invalid event (events.ErrInvalid, which includes a bad integrity tag).
func IsPermanent(err error) bool {
	return errors.Is(err, ErrPermanent) || errors.Is(err, events.ErrInvalid)
}
