package esm

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/serverless-data-platform/sdp/internal/telemetry"
)

// Limits and defaults of an event source mapping, as AWS Lambda sets them for Kinesis.
const (
	// DefaultBatchSize is the batch size when Config.BatchSize is 0.
	DefaultBatchSize = 100
	// MaxBatchSize is the largest batch size Lambda accepts for Kinesis.
	MaxBatchSize = 10000
	// MaxBatchingWindow is the longest batching window Lambda accepts (300 seconds).
	MaxBatchingWindow = 5 * time.Minute
	// DefaultMaxPayloadBytes is Lambda's limit of a synchronous invocation's payload (6 MB).
	DefaultMaxPayloadBytes = 6 * 1024 * 1024
	// MaxParallelizationFactor is the largest number of concurrent batches per shard Lambda accepts.
	MaxParallelizationFactor = 10
	// InfiniteRetries is the MaximumRetryAttempts that retries a failed batch until it succeeds or its
	// records expire (AWS's default).
	InfiniteRetries = -1
	// MaxRetryAttempts is the largest finite MaximumRetryAttempts Lambda accepts.
	MaxRetryAttempts = 10000
	// MaxRecordAge is the largest finite MaximumRecordAge Lambda accepts (7 days).
	MaxRecordAge = 7 * 24 * time.Hour
	// DefaultRetryMin and DefaultRetryMax bound the delay before a failed batch is retried.
	DefaultRetryMin = 100 * time.Millisecond
	DefaultRetryMax = 5 * time.Second
	// DefaultPollInterval is how often a shard is polled when the Reader cannot Wait.
	DefaultPollInterval = 250 * time.Millisecond
	// DefaultFunctionTimeout is the deadline of each invocation.
	DefaultFunctionTimeout = 60 * time.Second
	// MaxFunctionTimeout is Lambda's longest function timeout (15 minutes).
	MaxFunctionTimeout = 15 * time.Minute
	// DefaultRegion is the region named in events when Config.Region is empty.
	DefaultRegion = "us-east-1"
)

// Backoff bounds the delay between retries of a failed batch: the first retry waits about Min, each next one
// about twice as long (with ±50% jitter), never more than Max.
type Backoff struct {
	// Min is the first delay; 0 means DefaultRetryMin.
	Min time.Duration
	// Max is the largest delay; 0 means DefaultRetryMax.
	Max time.Duration
}

// Config is the configuration of one event source mapping, with the names of Lambda's
// CreateEventSourceMapping settings. Zero values mean AWS's defaults where AWS has them; each field says.
type Config struct {
	// FunctionName names the consumer function (required). It is part of the checkpoint key.
	FunctionName string
	// FunctionARN is the function's ARN, reported in on-failure records and in the invoke context.
	// Empty means arn:aws:lambda:<Region>:000000000000:function:<FunctionName>.
	FunctionARN string
	// InvokeIdentityARN is the identity the events name as invokeIdentityArn (in AWS, the function's
	// execution role). Empty means FunctionARN.
	InvokeIdentityARN string
	// StreamARN is the ARN of the stream read (required): each record's eventSourceARN, the on-failure
	// records' streamArn and part of the checkpoint key.
	StreamARN string
	// Region is each record's awsRegion. Empty means DefaultRegion.
	Region string

	// BatchSize is the largest number of records in one invocation: 0 means 100 (AWS), at most 10000.
	BatchSize int
	// MaxBatchingWindow is how long to gather records before invoking: 0 (AWS's default) invokes as soon as
	// records exist; otherwise the mapping waits up to the window after it first sees records for a full
	// batch (BatchSize records or MaxPayloadBytes). At most 5 minutes.
	MaxBatchingWindow time.Duration
	// MaxPayloadBytes caps the JSON size of one invocation's event: records stop being added to a batch
	// when the event would grow past it. 0 means 6 MB, Lambda's synchronous payload limit. A single record
	// larger than the cap is still invoked alone.
	MaxPayloadBytes int
	// ParallelizationFactor is the number of batches of one shard processed at once: 0 means 1 (AWS), at
	// most 10. Records of one partition key are always processed in order.
	ParallelizationFactor int
	// BisectBatchOnFunctionError splits a failed batch in two and retries each half separately; splitting
	// does not consume the retry quota. AWS's default is false.
	BisectBatchOnFunctionError bool
	// MaximumRetryAttempts is how many times a failed batch is retried, so a batch is invoked at most
	// 1+MaximumRetryAttempts times before it is sent to the on-failure destination. -1 (InfiniteRetries,
	// AWS's default) retries until the batch succeeds or its records expire; note that the zero value of
	// this field means no retries, not AWS's default. At most 10000.
	MaximumRetryAttempts int
	// MaximumRecordAge discards (sends to the on-failure destination) records older than it instead of
	// invoking the function with them. 0 or negative means infinite (AWS's default, -1). At most 7 days.
	MaximumRecordAge time.Duration
	// ReportBatchItemFailures is set when FunctionResponseTypes contains ReportBatchItemFailures: the
	// function's BatchItemFailures are applied. When false the response body is ignored and only errors
	// fail a batch (AWS's default).
	ReportBatchItemFailures bool

	// RetryBackoff bounds the delay between retries of a failed batch (exponential with jitter).
	RetryBackoff Backoff
	// PollInterval is how often an empty shard is read again when the Reader cannot Wait: 0 means 250ms.
	PollInterval time.Duration
	// FunctionTimeout is the deadline of each invocation: 0 means 60s, at most 15 minutes. An invocation
	// that outlives it counts as a failure.
	FunctionTimeout time.Duration

	// Now is the clock used for record ages, the iterator age and on-failure timestamps: nil means
	// time.Now. Waits (batching window, polling, backoff) use real timers.
	Now func() time.Time
	// Logger receives the mapping's logs: nil discards them.
	Logger *slog.Logger
	// Metrics, when set, counts the mapping's retries and the on-failure records it sends to the
	// dead-letter queue, with FunctionName as the Function dimension (in AWS, Lambda's own metrics and the
	// queue's say this).
	Metrics *telemetry.Pipeline
}

// withDefaults validates c and returns it with every zero value replaced by its default.
func (c Config) withDefaults() (Config, error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.FunctionName == "" {
		bad("FunctionName is required")
	}
	if c.StreamARN == "" {
		bad("StreamARN is required")
	}
	if c.Region == "" {
		c.Region = DefaultRegion
	}
	if c.FunctionARN == "" {
		c.FunctionARN = "arn:aws:lambda:" + c.Region + ":000000000000:function:" + c.FunctionName
	}
	if c.InvokeIdentityARN == "" {
		c.InvokeIdentityARN = c.FunctionARN
	}
	switch {
	case c.BatchSize == 0:
		c.BatchSize = DefaultBatchSize
	case c.BatchSize < 0 || c.BatchSize > MaxBatchSize:
		bad("BatchSize %d is not within 1..%d", c.BatchSize, MaxBatchSize)
	}
	if c.MaxBatchingWindow < 0 || c.MaxBatchingWindow > MaxBatchingWindow {
		bad("MaxBatchingWindow %s is not within 0..%s", c.MaxBatchingWindow, MaxBatchingWindow)
	}
	switch {
	case c.MaxPayloadBytes == 0:
		c.MaxPayloadBytes = DefaultMaxPayloadBytes
	case c.MaxPayloadBytes < 0:
		bad("MaxPayloadBytes %d is negative", c.MaxPayloadBytes)
	}
	switch {
	case c.ParallelizationFactor == 0:
		c.ParallelizationFactor = 1
	case c.ParallelizationFactor < 0 || c.ParallelizationFactor > MaxParallelizationFactor:
		bad("ParallelizationFactor %d is not within 1..%d", c.ParallelizationFactor, MaxParallelizationFactor)
	}
	if c.MaximumRetryAttempts < InfiniteRetries || c.MaximumRetryAttempts > MaxRetryAttempts {
		bad("MaximumRetryAttempts %d is not within -1..%d", c.MaximumRetryAttempts, MaxRetryAttempts)
	}
	if c.MaximumRecordAge < 0 {
		c.MaximumRecordAge = 0
	}
	if c.MaximumRecordAge > MaxRecordAge {
		bad("MaximumRecordAge %s is more than %s", c.MaximumRecordAge, MaxRecordAge)
	}
	if c.RetryBackoff.Min == 0 {
		c.RetryBackoff.Min = DefaultRetryMin
	}
	if c.RetryBackoff.Max == 0 {
		c.RetryBackoff.Max = max(DefaultRetryMax, c.RetryBackoff.Min)
	}
	if c.RetryBackoff.Min < 0 || c.RetryBackoff.Max < c.RetryBackoff.Min {
		bad("RetryBackoff %s..%s is not a valid range", c.RetryBackoff.Min, c.RetryBackoff.Max)
	}
	switch {
	case c.PollInterval == 0:
		c.PollInterval = DefaultPollInterval
	case c.PollInterval < 0:
		bad("PollInterval %s is negative", c.PollInterval)
	}
	switch {
	case c.FunctionTimeout == 0:
		c.FunctionTimeout = DefaultFunctionTimeout
	case c.FunctionTimeout < 0 || c.FunctionTimeout > MaxFunctionTimeout:
		bad("FunctionTimeout %s is not within 0..%s", c.FunctionTimeout, MaxFunctionTimeout)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if len(errs) > 0 {
		return c, fmt.Errorf("esm: invalid config of mapping %q: %w", c.FunctionName, errors.Join(errs...))
	}
	return c, nil
}
