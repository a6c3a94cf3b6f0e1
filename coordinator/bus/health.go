package bus

import (
	"errors"
	"sync"
	"time"
)

// health is the readiness of one consumer: nil when it consumes, or the
// reason it does not.
type health struct {
	mu  sync.Mutex
	err error
	at  time.Time
}

func (h *health) set(err error, now time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if (h.err == nil) != (err == nil) {
		h.at = now
	}
	h.err = err
}

func (h *health) get() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

var errStarting = errors.New("starting")
