package bus

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/message/router/middleware"

	"github.com/signoff/signoff/events"
)

// ErrPermanent marks an error that no retry can fix: the message is
// published on signoff.poison with the reason and acknowledged.
var ErrPermanent = errors.New("permanent")

type permanent struct{ err error }

func (p permanent) Error() string               { return p.err.Error() }
func (p permanent) Unwrap() []error             { return []error{p.err, ErrPermanent} }
func isPermanent(err error) bool                { return errors.Is(err, ErrPermanent) }
func shouldRetry(p middleware.RetryParams) bool { return !isPermanent(p.Err) }

// Permanent wraps err so that the router poisons the message instead of
// retrying it. Invalid events (events.ErrInvalid) are always permanent.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanent{err}
}

// RouterConfig tunes the router's middleware.
type RouterConfig struct {
	// Timeout cancels a handler's context after this long (default 30s).
	Timeout time.Duration
	// Retries of a failing handler in process before the message is
	// nacked for redelivery (default 3).
	Retries int
	Logger  *slog.Logger
}

// NewRouter builds the watermill router every signoff consumer runs in, with
// the middleware in this order (the first added is the outermost):
// Recoverer, CorrelationID, PoisonQueue (permanent errors only, onto
// signoff.poison through poisonPub), Retry (transient errors only), Timeout.
// A transient error that outlives the retries nacks the message, and
// JetStream redelivers it.
func NewRouter(poisonPub message.Publisher, cfg RouterConfig) (*message.Router, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.Retries <= 0 {
		cfg.Retries = 3
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r, err := message.NewRouter(message.RouterConfig{CloseTimeout: 15 * time.Second}, watermill.NewSlogLogger(cfg.Logger.With("component", "router")))
	if err != nil {
		return nil, fmt.Errorf("bus: router: %w", err)
	}
	pq, err := middleware.PoisonQueueWithFilter(poisonPub, events.SubjectPoison, func(err error) bool {
		if isPermanent(err) || errors.Is(err, events.ErrInvalid) {
			cfg.Logger.Warn("message poisoned", "reason", err.Error())
			return true
		}
		return false
	})
	if err != nil {
		return nil, fmt.Errorf("bus: poison queue: %w", err)
	}
	r.AddMiddleware(
		middleware.Recoverer,
		middleware.CorrelationID,
		pq,
		middleware.Retry{
			MaxRetries:      cfg.Retries,
			InitialInterval: 50 * time.Millisecond,
			MaxInterval:     time.Second,
			Multiplier:      2,
			ShouldRetry: func(p middleware.RetryParams) bool {
				return shouldRetry(p) && !errors.Is(p.Err, events.ErrInvalid)
			},
			Logger: watermill.NewSlogLogger(cfg.Logger.With("component", "retry")),
		}.Middleware,
		middleware.Timeout(cfg.Timeout),
	)
	return r, nil
}
