// Package kinesis holds the AWS adapters of the platform's stream ports on Amazon Kinesis Data Streams:
// Producer writes records with PutRecords (the ingest.Producer port) and Reader reads shards with
// GetShardIterator and GetRecords (the esm.Reader port, and ReadAt for the dead-letter tools).
//
// Both take a client built once by the caller (a *kinesis.Client from aws-sdk-go-v2 satisfies PutAPI and
// ReadAPI) and a stream given by name or by ARN: a value that starts with "arn:" is sent as StreamARN,
// anything else as StreamName. Constructors do no I/O; the shard list is fetched with ListShards on first
// need and kept.
//
// Errors wrap the SDK's, with the operation and the stream; inspect them with errors.As and a
// smithy.APIError (its ErrorCode is Kinesis's). Transient failures (throttling, internal failures) are
// retried with exponential backoff and full jitter, bounded by the context and a number of attempts.
package kinesis

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	"github.com/cenkalti/backoff/v4"

	"github.com/serverless-data-platform/sdp/stream"
)

// ListShardsAPI is the Kinesis call that lists a stream's shards.
type ListShardsAPI interface {
	ListShards(ctx context.Context, in *kinesis.ListShardsInput, opts ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error)
}

// PutAPI is the part of the Kinesis client that Producer uses. *kinesis.Client satisfies it.
type PutAPI interface {
	ListShardsAPI
	PutRecords(ctx context.Context, in *kinesis.PutRecordsInput, opts ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error)
}

// ReadAPI is the part of the Kinesis client that Reader uses. *kinesis.Client satisfies it.
type ReadAPI interface {
	ListShardsAPI
	GetShardIterator(ctx context.Context, in *kinesis.GetShardIteratorInput, opts ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error)
	GetRecords(ctx context.Context, in *kinesis.GetRecordsInput, opts ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error)
}

// Compile-time checks that the SDK client satisfies the ports' client interfaces.
var (
	_ PutAPI  = (*kinesis.Client)(nil)
	_ ReadAPI = (*kinesis.Client)(nil)
)

// ErrInvalidArgument is wrapped by the errors of calls that Kinesis would refuse as a whole with a
// ValidationException or InvalidArgumentException; they are refused before anything is sent.
var ErrInvalidArgument = errors.New("kinesis: invalid argument")

// ErrShardNotFound is wrapped by the errors of reads of a shard the stream does not list.
var ErrShardNotFound = errors.New("kinesis: shard not found")

// Kinesis error codes the adapters act on.
const (
	codeThroughputExceeded = "ProvisionedThroughputExceededException"
	codeInternalFailure    = "InternalFailure"
	codeExpiredIterator    = "ExpiredIteratorException"
)

// apiCode returns the smithy API error code of err, or "".
func apiCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// retryable reports whether a whole-call error is transient.
func retryable(err error) bool {
	switch apiCode(err) {
	case codeThroughputExceeded, codeInternalFailure, "InternalFailureException", "LimitExceededException",
		"KMSThrottlingException", "ThrottlingException", "ServiceUnavailable":
		return true
	}
	return false
}

// sdkRetryables is the SDK's own classification of retryable errors: throttling, 5xx answers, and requests
// that failed on the way (connection errors, timeouts).
var sdkRetryables = retry.IsErrorRetryables(retry.DefaultRetryables)

// readRetryable reports whether a read (GetShardIterator, GetRecords) that failed after the SDK's own
// attempts may be tried again: besides Kinesis's retryable codes, a request lost on the way, since reading
// again changes nothing. (A write lost on the way may have been applied; PutRecords keeps to retryable.)
func readRetryable(err error) bool {
	return retryable(err) || sdkRetryables.IsErrorRetryable(err) == aws.TrueTernary
}

// streamRef is a stream addressed by name or ARN.
type streamRef struct {
	name, arn string
}

// newStreamRef reads a stream name or ARN.
func newStreamRef(s string) (streamRef, error) {
	if s == "" {
		return streamRef{}, fmt.Errorf("%w: empty stream name", ErrInvalidArgument)
	}
	if strings.HasPrefix(s, "arn:") {
		return streamRef{arn: s}, nil
	}
	return streamRef{name: s}, nil
}

// String returns the name or ARN the stream was given by.
func (s streamRef) String() string {
	if s.arn != "" {
		return s.arn
	}
	return s.name
}

// fields returns the StreamName and StreamARN fields of a request.
func (s streamRef) fields() (name, arn *string) {
	if s.arn != "" {
		return nil, aws.String(s.arn)
	}
	return aws.String(s.name), nil
}

// Shard is a shard of the stream as ListShards describes it.
type Shard struct {
	ID    string
	Range stream.HashRange
	// Open is false for a shard closed by a reshard (it has an ending sequence number).
	Open bool
}

// shardList is the cached result of ListShards.
type shardList struct {
	mu     sync.Mutex
	shards []Shard
	// open holds the open shards sorted by their range's start, for stream.ShardFor.
	open       []Shard
	openRanges []stream.HashRange
	loaded     bool
}

// get returns the shards, listing them with ListShards when they were not yet loaded or stale is set.
func (l *shardList) get(ctx context.Context, api ListShardsAPI, ref streamRef, stale bool) (*shardList, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.loaded && !stale {
		return l, nil
	}
	shards, err := listShards(ctx, api, ref)
	if err != nil {
		return nil, err
	}
	l.shards = shards
	l.open, l.openRanges = l.open[:0], l.openRanges[:0]
	for _, s := range shards {
		if s.Open {
			l.open = append(l.open, s)
		}
	}
	sortShards(l.open)
	for _, s := range l.open {
		l.openRanges = append(l.openRanges, s.Range)
	}
	l.loaded = true
	return l, nil
}

// shardOf returns the open shard whose range holds the partition key's hash, or false (with the list held).
func (l *shardList) shardOf(key string) (Shard, bool) {
	i := stream.ShardFor(l.openRanges, stream.PartitionHash(key))
	if i < 0 {
		return Shard{}, false
	}
	return l.open[i], true
}

// sortShards sorts shards by the start of their hash key range (insertion sort: lists are short and
// ListShards returns them nearly sorted).
func sortShards(s []Shard) {
	for i := 1; i < len(s); i++ {
		for j := i; j > 0 && s[j].Range.Start.Compare(s[j-1].Range.Start) < 0; j-- {
			s[j], s[j-1] = s[j-1], s[j]
		}
	}
}

// listShards pages through ListShards. With a NextToken, Kinesis wants neither StreamName nor StreamARN.
func listShards(ctx context.Context, api ListShardsAPI, ref streamRef) ([]Shard, error) {
	var out []Shard
	in := &kinesis.ListShardsInput{}
	in.StreamName, in.StreamARN = ref.fields()
	for {
		res, err := api.ListShards(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("kinesis: list shards of stream %s: %w", ref, err)
		}
		for _, s := range res.Shards {
			sh, err := convertShard(s)
			if err != nil {
				return nil, fmt.Errorf("kinesis: list shards of stream %s: %w", ref, err)
			}
			out = append(out, sh)
		}
		if res.NextToken == nil || *res.NextToken == "" {
			return out, nil
		}
		in = &kinesis.ListShardsInput{NextToken: res.NextToken}
	}
}

// convertShard reads a shard of ListShards.
func convertShard(s types.Shard) (Shard, error) {
	id := aws.ToString(s.ShardId)
	if s.HashKeyRange == nil {
		return Shard{}, fmt.Errorf("shard %s has no hash key range", id)
	}
	start, err := stream.ParseHashKey(aws.ToString(s.HashKeyRange.StartingHashKey))
	if err != nil {
		return Shard{}, fmt.Errorf("shard %s: %w", id, err)
	}
	end, err := stream.ParseHashKey(aws.ToString(s.HashKeyRange.EndingHashKey))
	if err != nil {
		return Shard{}, fmt.Errorf("shard %s: %w", id, err)
	}
	open := s.SequenceNumberRange == nil || s.SequenceNumberRange.EndingSequenceNumber == nil
	return Shard{ID: id, Range: stream.HashRange{Start: start, End: end}, Open: open}, nil
}

// Retry defaults.
const (
	// DefaultMaxAttempts is how many times a call is made, the first included, before a transient failure
	// is given up on.
	DefaultMaxAttempts = 8
	// DefaultInitialBackoff is the first wait before a retry; waits double up to DefaultMaxBackoff.
	DefaultInitialBackoff = 100 * time.Millisecond
	// DefaultMaxBackoff is the longest wait between two attempts.
	DefaultMaxBackoff = 5 * time.Second
)

// retryPolicy says how often and how patiently transient failures are retried.
type retryPolicy struct {
	maxAttempts      int
	initial, maximum time.Duration
}

// defaultRetry is the policy of the Default* constants.
func defaultRetry() retryPolicy {
	return retryPolicy{maxAttempts: DefaultMaxAttempts, initial: DefaultInitialBackoff, maximum: DefaultMaxBackoff}
}

// newBackOff returns an exponential backoff with jitter (each wait drawn in ±50% of the nominal one); it
// never stops by itself: the attempts and the context bound the retries.
func (p retryPolicy) newBackOff() *backoff.ExponentialBackOff {
	return backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(p.initial),
		backoff.WithMaxInterval(p.maximum),
		backoff.WithRandomizationFactor(0.5),
		backoff.WithMultiplier(2),
		backoff.WithMaxElapsedTime(0),
	)
}

// sleep waits d or until ctx is done, returning ctx's error then.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
