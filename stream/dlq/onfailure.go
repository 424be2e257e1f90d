// Package dlq is the dead-letter side of the stream: the on-failure record that AWS Lambda writes to an SQS
// destination when an event source mapping gives up on a Kinesis batch, and the dead-letter queue's local
// adapter on a bbolt database.
package dlq

import (
	"fmt"
	"time"
)

// Conditions under which an event source mapping gives up on a batch, as AWS names them in
// RequestContext.Condition.
const (
	// ConditionRetryAttemptsExhausted: the batch failed as many times as the mapping's maximum retry
	// attempts allow.
	ConditionRetryAttemptsExhausted = "RetryAttemptsExhausted"
	// ConditionRecordAgeExceeded: the batch's records grew older than the mapping's maximum record age.
	ConditionRecordAgeExceeded = "RecordAgeExceeded"
)

// Function errors, as AWS names them in ResponseContext.FunctionError.
const (
	// FunctionErrorUnhandled: the function failed (returned an error, crashed or timed out).
	FunctionErrorUnhandled = "Unhandled"
	// FunctionErrorHandled: the function returned an error response it built itself.
	FunctionErrorHandled = "Handled"
)

// OnFailureVersion is the version of the on-failure record's shape.
const OnFailureVersion = "1.0"

// OnFailure is the record AWS Lambda sends to an on-failure destination (here the dead-letter queue) for a
// Kinesis batch it gave up on. It names the batch, not its data: the records stay in the stream, where
// KinesisBatchInfo finds them until the stream's retention ends. Its JSON is exactly AWS's, field for field.
type OnFailure struct {
	RequestContext  RequestContext  `json:"requestContext"`
	ResponseContext ResponseContext `json:"responseContext"`
	// Version is OnFailureVersion.
	Version string `json:"version"`
	// Timestamp is when the mapping gave up.
	Timestamp        Timestamp        `json:"timestamp"`
	KinesisBatchInfo KinesisBatchInfo `json:"KinesisBatchInfo"`
}

// RequestContext says which invocation failed and why the mapping gave up.
type RequestContext struct {
	RequestID   string `json:"requestId"`
	FunctionARN string `json:"functionArn"`
	// Condition is ConditionRetryAttemptsExhausted or ConditionRecordAgeExceeded.
	Condition              string `json:"condition"`
	ApproximateInvokeCount int    `json:"approximateInvokeCount"`
}

// ResponseContext is the last invocation's response.
type ResponseContext struct {
	StatusCode      int    `json:"statusCode"`
	ExecutedVersion string `json:"executedVersion"`
	// FunctionError is FunctionErrorUnhandled or FunctionErrorHandled, and absent when the invocation
	// itself succeeded (the batch then failed through its reported items).
	FunctionError string `json:"functionError,omitempty"`
}

// KinesisBatchInfo locates the failed batch in its stream.
type KinesisBatchInfo struct {
	ShardID                         string    `json:"shardId"`
	StartSequenceNumber             string    `json:"startSequenceNumber"`
	EndSequenceNumber               string    `json:"endSequenceNumber"`
	ApproximateArrivalOfFirstRecord Timestamp `json:"approximateArrivalOfFirstRecord"`
	ApproximateArrivalOfLastRecord  Timestamp `json:"approximateArrivalOfLastRecord"`
	BatchSize                       int       `json:"batchSize"`
	StreamARN                       string    `json:"streamArn"`
}

// timestampLayout is AWS's form of on-failure timestamps: UTC with exactly three fractional digits.
const timestampLayout = "2006-01-02T15:04:05.000Z"

// Timestamp is a time that encodes in JSON as AWS writes on-failure timestamps, such as
// "2019-11-14T00:13:49.717Z": UTC, milliseconds, always three digits. It decodes any RFC 3339 time.
type Timestamp struct {
	time.Time
}

// MarshalJSON encodes t in UTC with millisecond precision.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, len(timestampLayout)+2)
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, timestampLayout)
	return append(b, '"'), nil
}

// UnmarshalJSON decodes an RFC 3339 time.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return fmt.Errorf("dlq: timestamp %s is not a JSON string", b)
	}
	v, err := time.Parse(time.RFC3339Nano, string(b[1:len(b)-1]))
	if err != nil {
		return fmt.Errorf("dlq: timestamp: %w", err)
	}
	t.Time = v
	return nil
}
