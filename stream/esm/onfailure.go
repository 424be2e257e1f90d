package esm

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"github.com/aws/aws-lambda-go/events"
	"github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/stream/dlq"
)

// failure says how a discarded batch fared: why it is discarded (a dlq.Condition…), how often it was
// invoked, and the request id and function error of its last invocation.
type failure struct {
	condition     string
	invokeCount   int
	requestID     string
	functionError string
}

// onFailureRecord returns the JSON on-failure record (dlq.OnFailure, AWS's shape) of batch (non-empty) read
// from shardID. The response context is the last invocation's, and is empty when the batch was never
// invoked.
func (m *Mapping) onFailureRecord(shardID string, batch []events.KinesisEventRecord, f failure) ([]byte, error) {
	first, last := &batch[0], &batch[len(batch)-1]
	rec := dlq.OnFailure{
		RequestContext: dlq.RequestContext{
			RequestID:              f.requestID,
			FunctionARN:            m.cfg.FunctionARN,
			Condition:              f.condition,
			ApproximateInvokeCount: f.invokeCount,
		},
		Version:   dlq.OnFailureVersion,
		Timestamp: dlq.Timestamp{Time: m.cfg.Now()},
		KinesisBatchInfo: dlq.KinesisBatchInfo{
			ShardID:                         shardID,
			StartSequenceNumber:             first.Kinesis.SequenceNumber,
			EndSequenceNumber:               last.Kinesis.SequenceNumber,
			ApproximateArrivalOfFirstRecord: dlq.Timestamp{Time: arrival(first)},
			ApproximateArrivalOfLastRecord:  dlq.Timestamp{Time: arrival(last)},
			BatchSize:                       len(batch),
			StreamARN:                       m.cfg.StreamARN,
		},
	}
	if f.invokeCount > 0 {
		rec.ResponseContext = dlq.ResponseContext{StatusCode: 200, ExecutedVersion: "$LATEST", FunctionError: f.functionError}
	}
	if rec.RequestContext.RequestID == "" {
		rec.RequestContext.RequestID = newRequestID()
	}
	raw, err := json.Marshal(&rec)
	if err != nil {
		return nil, fmt.Errorf("esm: encode on-failure record of shard %s at %s: %w", shardID, first.Kinesis.SequenceNumber, err)
	}
	return raw, nil
}

// newRequestID returns a random UUID (version 4), the shape of a Lambda request id.
func newRequestID() string {
	var u [16]byte
	_, _ = rand.Read(u[:]) // crypto/rand.Read never fails
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], u[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], u[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], u[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], u[8:10])
	out[23] = '-'
	hex.Encode(out[24:], u[10:])
	return string(out[:])
}
