package workflow

import (
	"context"
	"errors"
	"time"

	"github.com/cenkalti/backoff/v4"
)

// Retry is how a step retries a failed call: exponential backoff with jitter, bounded by a number of attempts
// and by the time since the first attempt. Zero fields take DefaultRetry's values.
type Retry struct {
	// MaxAttempts bounds the calls, the first one included.
	MaxAttempts int
	// InitialInterval is the wait before the first retry; each next wait doubles, up to MaxInterval, and is
	// spread by ±50% of jitter.
	InitialInterval time.Duration
	MaxInterval     time.Duration
	// MaxElapsed stops retrying once the next wait would end later than this after the first attempt.
	MaxElapsed time.Duration
}

// DefaultRetry returns the retry of the persist and analytics steps: at most 3 attempts within 2 seconds, the
// first retry after about 100ms.
func DefaultRetry() Retry {
	return Retry{MaxAttempts: 3, InitialInterval: 100 * time.Millisecond, MaxInterval: time.Second,
		MaxElapsed: 2 * time.Second}
}

// orDefault fills each zero field from d.
func (r Retry) orDefault() Retry {
	d := DefaultRetry()
	if r.MaxAttempts <= 0 {
		r.MaxAttempts = d.MaxAttempts
	}
	if r.InitialInterval <= 0 {
		r.InitialInterval = d.InitialInterval
	}
	if r.MaxInterval <= 0 {
		r.MaxInterval = max(d.MaxInterval, r.InitialInterval)
	}
	if r.MaxElapsed <= 0 {
		r.MaxElapsed = d.MaxElapsed
	}
	return r
}

// permanent reports whether err says that retrying cannot help: a cancelled or expired context, or an error
// with a method Permanent() bool that returns true.
func permanent(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var p interface{ Permanent() bool }
	return errors.As(err, &p) && p.Permanent()
}

// do calls op until it succeeds, fails permanently, or the policy or ctx ends the retries; notify is told of
// each error that will be retried. It returns op's last error.
func (r Retry) do(ctx context.Context, op func() error, notify func(error, time.Duration)) error {
	b := backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(r.InitialInterval),
		backoff.WithMaxInterval(r.MaxInterval),
		backoff.WithMaxElapsedTime(r.MaxElapsed),
		backoff.WithMultiplier(2),
		backoff.WithRandomizationFactor(0.5),
	)
	policy := backoff.WithContext(backoff.WithMaxRetries(b, uint64(r.MaxAttempts-1)), ctx)
	return backoff.RetryNotify(func() error {
		err := op()
		if err != nil && permanent(err) {
			return backoff.Permanent(err)
		}
		return err
	}, policy, notify)
}
