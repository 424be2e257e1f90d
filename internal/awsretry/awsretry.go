// Package awsretry holds what the AWS adapters share to retry calls on top of the SDK's own retries: waiting
// out a backoff policy within a context, and telling DynamoDB's transient errors from the others.
package awsretry

import (
	"context"
	"errors"
	"time"

	"github.com/aws/smithy-go"
	"github.com/cenkalti/backoff/v4"
)

// ErrGaveUp is returned by Wait when the policy stops retrying.
var ErrGaveUp = errors.New("gave up retrying")

// Wait sleeps for b's next interval. It returns ErrGaveUp when b stops, and ctx's error when ctx ends first.
func Wait(ctx context.Context, b backoff.BackOff) error {
	d := b.NextBackOff()
	if d == backoff.Stop {
		if err := ctx.Err(); err != nil {
			return err
		}
		return ErrGaveUp
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Exponential returns an exponential policy with the default jitter (±50%) from initial up to max between
// tries, that stops after elapsed.
func Exponential(initial, max, elapsed time.Duration) backoff.BackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = initial
	b.MaxInterval = max
	b.MaxElapsedTime = elapsed
	return b
}

// DynamoDBTransient reports whether err is a DynamoDB error that a later try may not meet: throttling,
// a service-side failure, or a transaction conflict.
func DynamoDBTransient(err error) bool {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.ErrorCode() {
	case "ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
		"InternalServerError", "ServiceUnavailable", "TransactionConflictException", "TransactionInProgressException":
		return true
	}
	return false
}
