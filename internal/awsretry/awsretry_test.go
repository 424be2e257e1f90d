package awsretry_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/aws/smithy-go"
	"github.com/cenkalti/backoff/v4"

	"github.com/serverless-data-platform/sdp/internal/awsretry"
)

// TestDynamoDBTransient checks which errors are worth another try, wrapped as the SDK wraps them.
func TestDynamoDBTransient(t *testing.T) {
	tests := []struct {
		code string
		want bool
	}{
		{"ProvisionedThroughputExceededException", true},
		{"ThrottlingException", true},
		{"RequestLimitExceeded", true},
		{"InternalServerError", true},
		{"TransactionConflictException", true},
		{"ConditionalCheckFailedException", false},
		{"ValidationException", false},
		{"ResourceNotFoundException", false},
	}
	for _, tc := range tests {
		t.Run(tc.code, func(t *testing.T) {
			err := fmt.Errorf("op: %w", &smithy.OperationError{ServiceID: "DynamoDB", OperationName: "PutItem",
				Err: &smithy.GenericAPIError{Code: tc.code}})
			if got := awsretry.DynamoDBTransient(err); got != tc.want {
				t.Errorf("DynamoDBTransient(%s) = %v, want %v", tc.code, got, tc.want)
			}
		})
	}
	if awsretry.DynamoDBTransient(errors.New("dial tcp: refused")) {
		t.Error("an error without an API code counts as transient")
	}
}

// TestWait checks that Wait sleeps the policy's interval, gives up when the policy stops, and ends with ctx.
func TestWait(t *testing.T) {
	if err := awsretry.Wait(context.Background(), backoff.NewConstantBackOff(time.Millisecond)); err != nil {
		t.Errorf("Wait = %v", err)
	}
	if err := awsretry.Wait(context.Background(), &backoff.StopBackOff{}); !errors.Is(err, awsretry.ErrGaveUp) {
		t.Errorf("Wait on a stopped policy = %v, want ErrGaveUp", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := awsretry.Wait(ctx, backoff.NewConstantBackOff(time.Hour)); !errors.Is(err, context.Canceled) {
		t.Errorf("Wait with an ended context = %v, want context.Canceled", err)
	}
}
