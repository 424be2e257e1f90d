package esm

import (
	"fmt"

	"github.com/aws/aws-lambda-go/events"
	"github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/event"
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
		rec.RequestContext.RequestID = event.NewID()
	}
	raw, err := json.Marshal(&rec)
	if err != nil {
		return nil, fmt.Errorf("esm: encode on-failure record of shard %s at %s: %w", shardID, first.Kinesis.SequenceNumber, err)
	}
	return raw, nil
}
