package kinesis

import (
	"context"
	"fmt"
	"net"
	"os"
	"testing"

	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// TestReadRetryable checks which failed reads the Reader tries again: Kinesis's retryable codes and requests
// lost on the way (a read changes nothing), but not a missing stream or a cancelled context.
func TestReadRetryable(t *testing.T) {
	t.Parallel()
	timeout := &net.OpError{Op: "read", Net: "tcp", Err: os.ErrDeadlineExceeded}
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"throttled", &smithy.GenericAPIError{Code: "ProvisionedThroughputExceededException"}, true},
		{"timed out on the way", &smithy.OperationError{ServiceID: "Kinesis", OperationName: "GetRecords",
			Err: &smithyhttp.RequestSendError{Err: timeout}}, true},
		{"missing stream", &smithy.GenericAPIError{Code: "ResourceNotFoundException"}, false},
		{"cancelled", context.Canceled, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := readRetryable(fmt.Errorf("kinesis: get records: %w", tt.err)); got != tt.want {
				t.Errorf("readRetryable(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}
