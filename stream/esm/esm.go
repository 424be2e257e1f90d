// Package esm is the local event source mapping: the part AWS Lambda plays between a Kinesis stream and a
// function. A Mapping polls every shard of a stream Reader, builds real events.KinesisEvent batches, invokes
// the consumer Function and applies its answers as Lambda does for Kinesis: partial batch failures
// (ReportBatchItemFailures) resume from the lowest failed sequence number, a handler error fails the whole
// batch, failed batches are retried with backoff, bisected when BisectBatchOnFunctionError is set, and sent
// to the on-failure destination (the dead-letter queue) when their retries are exhausted or their records are
// older than MaximumRecordAge. ParallelizationFactor processes up to N batches of one shard at once while
// keeping the order of each partition key.
//
// The mapping owns no storage: it reads through the Reader port, and records its checkpoints and dead
// letters through the Checkpoints port, whose Commit stores both in one atomic step (BoltCheckpoints is the
// local implementation on bbolt).
package esm

import (
	"context"
	"errors"

	"github.com/aws/aws-lambda-go/events"

	"github.com/serverless-data-platform/sdp/event"
)

// Reader reads the records of a stream's shards. A local log and an AWS Kinesis reader both satisfy it.
type Reader interface {
	// ShardIDs lists the ids of the stream's shards. It does no blocking I/O beyond what the reader needs to
	// answer; the mapping calls it once when Run starts.
	ShardIDs() []string
	// ReadAfter returns up to limit records of shardID that follow afterSeq, in sequence order; afterSeq ""
	// reads from the trim horizon. It returns no records and a nil error when none follow afterSeq yet. It
	// does not block waiting for records. The returned slice and its records may be kept by the caller until
	// the next call. Transient errors (throttling) are the reader's to retry: an error ends the mapping.
	ReadAfter(ctx context.Context, shardID, afterSeq string, limit int) ([]event.StreamRecord, error)
}

// Waiter is an optional ability of a Reader: Wait blocks until a record after afterSeq exists in shardID
// (afterSeq "" means any record) or ctx is done (then it returns ctx's error). A mapping whose Reader lacks
// it polls every Config.PollInterval.
type Waiter interface {
	Wait(ctx context.Context, shardID, afterSeq string) error
}

// Function is the consumer function the mapping invokes, in the shape of a Lambda handler for Kinesis. ctx
// carries a deadline of Config.FunctionTimeout and a lambdacontext.LambdaContext with the request id and the
// function ARN. A non-nil error fails the whole batch; with Config.ReportBatchItemFailures the response's
// BatchItemFailures name the records (by sequence number) that failed. The function must not keep or modify
// the event after it returns: the mapping reuses the records for retries.
type Function func(ctx context.Context, ev events.KinesisEvent) (events.KinesisEventResponse, error)

// Checkpoints stores the position of each shard of a mapping, and takes the dead letters that a move of the
// position discards. Implementations are safe for concurrent use by the shard loops of one mapping.
type Checkpoints interface {
	// Load returns the checkpoint of key: the sequence number of the last record fully handled, or "" when
	// none was committed.
	Load(ctx context.Context, key string) (seq string, err error)
	// Commit atomically records seq as the checkpoint of key and enqueues the dead letters (JSON on-failure
	// records): either all of it happens or none of it does.
	Commit(ctx context.Context, key, seq string, deadLetters [][]byte) error
}

// ErrRunning is returned by Run when the mapping is already running.
var ErrRunning = errors.New("esm: mapping is already running")

// CheckpointKey is the key under which a mapping of functionName on streamARN keeps the checkpoint of
// shardID in its Checkpoints. Tools that inspect positions (and a restarted mapping) use the same key.
func CheckpointKey(streamARN, functionName, shardID string) string {
	return streamARN + "|" + functionName + "|" + shardID
}
