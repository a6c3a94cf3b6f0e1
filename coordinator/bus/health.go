package bus

import (
	"errors"
	"sync"
)

// health is the readiness of one consumer: nil when it consumes, or the
// reason it does not.
type health struct {
	mu  sync.Mutex
	err error
}

func (h *health) set(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.err = err
}

func (h *health) get() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.err
}

var errStarting = errors.New("starting")
