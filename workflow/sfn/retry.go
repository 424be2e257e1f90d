package sfn

import (
	"context"
	"errors"
	"net"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awssfn "github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/smithy-go"
)

// atMostOnce narrows the call's retryer to the errors after which the request certainly did not start an
// execution (see Executor). Backoff, attempt limits and retry quotas stay the client's.
func atMostOnce(o *awssfn.Options) {
	if o.Retryer == nil {
		return
	}
	v2, ok := o.Retryer.(aws.RetryerV2)
	if !ok {
		v2 = retryerV2{o.Retryer}
	}
	o.Retryer = notAcceptedRetryer{v2}
}

// notAcceptedRetryer retries what its inner retryer retries, but only when the error proves that the
// service did not accept the request.
type notAcceptedRetryer struct {
	aws.RetryerV2
}

// IsErrorRetryable reports whether err is retryable by the inner retryer and leaves no doubt that the
// request was refused or never sent.
func (r notAcceptedRetryer) IsErrorRetryable(err error) bool {
	return notAccepted(err) && r.RetryerV2.IsErrorRetryable(err)
}

// notAccepted reports whether err proves that the request did not reach the service or was refused by it
// before anything ran: a throttling answer, or a connection that could not be opened.
func notAccepted(err error) bool {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		if _, ok := retry.DefaultThrottleErrorCodes[apiErr.ErrorCode()]; ok {
			return true
		}
	}
	// A request that failed to send still carries a response error, with status 0.
	var status interface{ HTTPStatusCode() int }
	if errors.As(err, &status) && status.HTTPStatusCode() != 0 {
		// The service answered: only "too many requests" says it refused the work.
		return status.HTTPStatusCode() == http.StatusTooManyRequests
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return true
	}
	var opErr *net.OpError
	return errors.As(err, &opErr) && opErr.Op == "dial"
}

// retryerV2 adapts a retryer that predates aws.RetryerV2.
type retryerV2 struct {
	aws.Retryer
}

// GetAttemptToken returns the retryer's initial token.
func (r retryerV2) GetAttemptToken(context.Context) (func(error) error, error) {
	return r.GetInitialToken(), nil
}
