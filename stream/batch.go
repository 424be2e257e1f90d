package stream

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-lambda-go/events"
)

// ErrNotProcessed is the cause given to WithOnFailure for a record the processor reported failed without
// running its handler: an earlier record failed under WithStopOnFirstFailure (or in a FIFO queue), or the
// context was done before the record's turn.
var ErrNotProcessed = errors.New("stream: record not processed")

// PanicError is the failure of a record whose handler panicked. The processor recovers the panic so that it
// costs only that record.
type PanicError struct {
	// Value is what the handler panicked with.
	Value any
	// Stack is the goroutine's stack at the panic.
	Stack []byte
}

// Error returns the panic value in a message.
func (e *PanicError) Error() string {
	return fmt.Sprintf("handler panic: %v", e.Value)
}

// Option changes how ProcessKinesis and ProcessSQS run a batch.
type Option func(*options)

// options are the settings Option changes; the zero value runs records one at a time, all of them.
type options struct {
	concurrency int
	stopOnFirst bool
	onFailure   func(itemID string, err error)
}

// WithConcurrency runs the records on up to n goroutines. Records with the same partition key (Kinesis) still
// run in stream order, one at a time; records of different keys run in parallel. n <= 1 runs the batch on the
// calling goroutine.
func WithConcurrency(n int) Option {
	return func(o *options) { o.concurrency = n }
}

// WithStopOnFirstFailure stops the batch at its first failure: records that have not started are not run, and
// every record from the earliest one (in batch order) that failed or did not run is reported failed. That
// matches how Lambda resumes a Kinesis shard from the lowest reported sequence number, so nothing after a
// failure is taken as done.
func WithStopOnFirstFailure() Option {
	return func(o *options) { o.stopOnFirst = true }
}

// WithOnFailure calls fn once for every item reported in BatchItemFailures, in batch order, on the calling
// goroutine after the batch has run, with the handler's error, a *PanicError, or an error wrapping
// ErrNotProcessed for a record that did not run.
func WithOnFailure(fn func(itemID string, err error)) Option {
	return func(o *options) { o.onFailure = fn }
}

// ProcessKinesis runs h for each record of ev and reports each record that failed (its handler returned an
// error or panicked) in BatchItemFailures with the record's sequence number, in batch order. An empty list
// means the whole batch succeeded. When ctx is done, records that have not started are reported failed.
func ProcessKinesis(ctx context.Context, ev events.KinesisEvent, h func(ctx context.Context, r *events.KinesisEventRecord) error, opts ...Option) events.KinesisEventResponse {
	o := buildOptions(opts)
	recs := ev.Records
	errs := run(ctx, len(recs), o,
		func(i int) string { return recs[i].Kinesis.PartitionKey },
		func(ctx context.Context, i int) error { return h(ctx, &recs[i]) })
	resp := events.KinesisEventResponse{BatchItemFailures: []events.KinesisBatchItemFailure{}}
	for i, err := range errs {
		if err == nil {
			continue
		}
		id := recs[i].Kinesis.SequenceNumber
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.KinesisBatchItemFailure{ItemIdentifier: id})
		if o.onFailure != nil {
			o.onFailure(id, err)
		}
	}
	return resp
}

// ProcessSQS runs h for each message of ev and reports each message that failed in BatchItemFailures with its
// message id, in batch order. An empty list means the whole batch succeeded. For a standard queue,
// WithConcurrency runs any messages in parallel: a standard queue promises no order.
//
// For a FIFO queue (an event source ARN ending in ".fifo") it keeps AWS's FIFO semantics: messages run one at
// a time in batch order whatever WithConcurrency says, processing stops at the first failure, and that
// message and every message after it are reported failed, so that no message of a group is processed before
// an earlier one has succeeded.
func ProcessSQS(ctx context.Context, ev events.SQSEvent, h func(ctx context.Context, m *events.SQSMessage) error, opts ...Option) events.SQSEventResponse {
	o := buildOptions(opts)
	msgs := ev.Records
	if len(msgs) > 0 && strings.HasSuffix(msgs[0].EventSourceARN, ".fifo") {
		o.concurrency = 1
		o.stopOnFirst = true
	}
	errs := run(ctx, len(msgs), o,
		func(i int) string { return msgs[i].MessageId },
		func(ctx context.Context, i int) error { return h(ctx, &msgs[i]) })
	resp := events.SQSEventResponse{BatchItemFailures: []events.SQSBatchItemFailure{}}
	for i, err := range errs {
		if err == nil {
			continue
		}
		id := msgs[i].MessageId
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: id})
		if o.onFailure != nil {
			o.onFailure(id, err)
		}
	}
	return resp
}

// buildOptions applies opts to the defaults.
func buildOptions(opts []Option) options {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// run calls handle for items 0..n-1 and returns each item's failure (nil for success). With concurrency
// above one, items are grouped by key: each group runs in order on one goroutine, groups in parallel.
func run(ctx context.Context, n int, o options, key func(int) string, handle func(context.Context, int) error) []error {
	errs := make([]error, n)
	if n == 0 {
		return errs
	}
	var stop atomic.Bool
	// step runs item i unless the batch is stopping or ctx is done, and records its failure.
	step := func(i int) {
		if stop.Load() {
			errs[i] = fmt.Errorf("%w: an earlier record failed", ErrNotProcessed)
			return
		}
		if err := ctx.Err(); err != nil {
			errs[i] = fmt.Errorf("%w: %w", ErrNotProcessed, err)
			return
		}
		if err := safeCall(ctx, i, handle); err != nil {
			errs[i] = err
			if o.stopOnFirst {
				stop.Store(true)
			}
		}
	}
	if o.concurrency <= 1 {
		for i := 0; i < n; i++ {
			step(i)
		}
	} else {
		runGroups(groupByKey(n, key), o.concurrency, step)
	}
	if o.stopOnFirst {
		// Everything from the earliest failure on is reported, as the stream resumes from there.
		first := -1
		for i, err := range errs {
			if err != nil {
				first = i
				break
			}
		}
		for i := first + 1; first >= 0 && i < n; i++ {
			if errs[i] == nil {
				errs[i] = fmt.Errorf("%w: an earlier record failed", ErrNotProcessed)
			}
		}
	}
	return errs
}

// groupByKey returns the item indexes grouped by key, each group in item order, groups in order of their first
// item.
func groupByKey(n int, key func(int) string) [][]int {
	at := make(map[string]int, n)
	var groups [][]int
	for i := 0; i < n; i++ {
		k := key(i)
		g, ok := at[k]
		if !ok {
			g = len(groups)
			at[k] = g
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], i)
	}
	return groups
}

// runGroups runs the groups on up to workers goroutines, the items of each group in order, and returns when
// all have run.
func runGroups(groups [][]int, workers int, step func(int)) {
	workers = min(workers, len(groups))
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				g := int(next.Add(1) - 1)
				if g >= len(groups) {
					return
				}
				for _, i := range groups[g] {
					step(i)
				}
			}
		}()
	}
	wg.Wait()
}

// safeCall calls handle for item i, turning a panic into a *PanicError.
func safeCall(ctx context.Context, i int, handle func(context.Context, int) error) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return handle(ctx, i)
}
