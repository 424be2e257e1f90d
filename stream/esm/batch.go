package esm

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"
	"github.com/cenkalti/backoff/v4"

	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/internal/telemetry"
	"github.com/serverless-data-platform/sdp/stream/dlq"
)

// resolver takes the records whose handling is final, in stream order: processed by the function, or
// discarded with a dead letter (a JSON on-failure record).
type resolver interface {
	resolved(ctx context.Context, batch []events.KinesisEventRecord, deadLetter []byte) error
}

// outcome is the result of one invocation.
type outcome struct {
	// failedAt is the index of the lowest failed record: len(batch) when the batch succeeded, 0 when it
	// failed as a whole.
	failedAt int
	// requestID is the invocation's request id.
	requestID string
	// functionError is the on-failure record's responseContext.functionError ("Unhandled" for an error).
	functionError string
	// err is the function's error, if any.
	err error
}

// runGroup processes recs, an ordered sub-stream, as consecutive batches. It returns when every record is
// handled, or early (with nil) when ctx is cancelled; it returns the resolver's errors.
func (w *shardWorker) runGroup(ctx context.Context, recs []events.KinesisEventRecord, res resolver) error {
	cfg := &w.m.cfg
	for len(recs) > 0 {
		n := w.b.batchLen(recs, cfg.BatchSize, cfg.MaxPayloadBytes)
		done, err := w.runBatch(ctx, recs[:n], res)
		if err != nil || !done {
			return err
		}
		recs = recs[n:]
	}
	return nil
}

// runBatch invokes the function with batch until every record of it is handled: processed, or discarded
// when too old or when its retries are exhausted. It applies partial failures (progress resets the retry
// count of the remaining records), bisects whole-batch failures when configured (without consuming the
// retry quota) and waits a backoff before each retry. It reports done=false when ctx was cancelled before
// the batch was fully handled: no invocation starts after cancellation.
func (w *shardWorker) runBatch(ctx context.Context, batch []events.KinesisEventRecord, res resolver) (done bool, err error) {
	cfg := &w.m.cfg
	var (
		attempts int // invocations of batch in its current shape
		last     outcome
		bo       *backoff.ExponentialBackOff
	)
	for len(batch) > 0 {
		if k := w.expired(batch); k > 0 {
			f := failure{condition: dlq.ConditionRecordAgeExceeded, invokeCount: attempts, requestID: last.requestID,
				functionError: last.functionError}
			if err := w.discard(ctx, batch[:k], f, res); err != nil {
				return false, err
			}
			batch = batch[k:]
			continue
		}
		if ctx.Err() != nil {
			return false, nil
		}
		if attempts > 0 && cfg.Metrics != nil {
			cfg.Metrics.Retries.Add(1, cfg.FunctionName)
		}
		last = w.invoke(ctx, batch)
		attempts++
		switch {
		case last.failedAt == len(batch):
			w.st.processed(len(batch))
			return true, res.resolved(ctx, batch, nil)
		case last.failedAt > 0:
			// Progress: the records before the lowest failure are done; the rest is a new batch.
			w.st.processed(last.failedAt)
			if err := res.resolved(ctx, batch[:last.failedAt], nil); err != nil {
				return false, err
			}
			batch = batch[last.failedAt:]
			attempts = 0
			if bo != nil {
				bo.Reset()
			}
		case cfg.BisectBatchOnFunctionError && len(batch) > 1:
			half := len(batch) / 2
			w.m.cfg.Logger.DebugContext(w.correlated(ctx, batch), "bisecting failed batch", "size", len(batch))
			if done, err := w.runBatch(ctx, batch[:half], res); err != nil || !done {
				return done, err
			}
			return w.runBatch(ctx, batch[half:], res)
		case cfg.MaximumRetryAttempts != InfiniteRetries && attempts > cfg.MaximumRetryAttempts:
			f := failure{condition: dlq.ConditionRetryAttemptsExhausted, invokeCount: attempts, requestID: last.requestID,
				functionError: last.functionError}
			return true, w.discard(ctx, batch, f, res)
		}
		if bo == nil {
			bo = w.m.newBackoff()
		}
		if !sleep(ctx, w.m.clampBackoff(bo.NextBackOff())) {
			return false, nil
		}
	}
	return true, nil
}

// expired returns how many of the first records of batch are older than MaximumRecordAge.
func (w *shardWorker) expired(batch []events.KinesisEventRecord) int {
	age := w.m.cfg.MaximumRecordAge
	if age <= 0 {
		return 0
	}
	cutoff := w.m.cfg.Now().Add(-age)
	n := 0
	for n < len(batch) && arrival(&batch[n]).Before(cutoff) {
		n++
	}
	return n
}

// discard hands batch to the resolver with its on-failure record.
func (w *shardWorker) discard(ctx context.Context, batch []events.KinesisEventRecord, f failure, res resolver) error {
	body, err := w.m.onFailureRecord(w.st.id(), batch, f)
	if err != nil {
		return err
	}
	w.st.deadLettered(len(batch))
	if m := w.m.cfg.Metrics; m != nil {
		m.DLQWrites.Add(1, w.m.cfg.FunctionName)
	}
	w.m.cfg.Logger.WarnContext(w.correlated(ctx, batch), "discarding records", "condition", f.condition,
		"records", len(batch), "invocations", f.invokeCount)
	return res.resolved(ctx, batch, body)
}

// invoke calls the function once with batch under a FunctionTimeout deadline that ignores the cancellation
// of ctx, and interprets its answer as Lambda does.
func (w *shardWorker) invoke(ctx context.Context, batch []events.KinesisEventRecord) outcome {
	cfg := &w.m.cfg
	out := outcome{requestID: event.NewID(), failedAt: len(batch)}
	ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.FunctionTimeout)
	defer cancel()
	ictx = lambdacontext.NewContext(ictx, &lambdacontext.LambdaContext{
		AwsRequestID:       out.requestID,
		InvokedFunctionArn: cfg.FunctionARN,
	})
	resp, err := w.call(ictx, batch)
	if err == nil && ictx.Err() != nil {
		err = fmt.Errorf("esm: function %s timed out after %s: %w", cfg.FunctionName, cfg.FunctionTimeout, ictx.Err())
	}
	switch {
	case err != nil:
		out.failedAt, out.functionError, out.err = 0, dlq.FunctionErrorUnhandled, err
	case cfg.ReportBatchItemFailures && len(resp.BatchItemFailures) > 0:
		out.failedAt = lowestFailure(batch, resp.BatchItemFailures)
	}
	failed := out.failedAt < len(batch)
	w.st.invoked(failed)
	if failed {
		w.m.cfg.Logger.InfoContext(w.correlated(ctx, batch), "batch failed", "invocation", out.requestID,
			"size", len(batch), "failedAt", out.failedAt, "error", out.err)
	}
	return out
}

// correlated returns ctx with the correlation fields of batch for the log: its shard and sequence range.
func (w *shardWorker) correlated(ctx context.Context, batch []events.KinesisEventRecord) context.Context {
	return telemetry.With(ctx, slog.String(telemetry.KeyShard, w.st.id()),
		slog.String(telemetry.KeyFirstSeq, batch[0].Kinesis.SequenceNumber),
		slog.String(telemetry.KeyLastSeq, batch[len(batch)-1].Kinesis.SequenceNumber))
}

// call invokes the function, turning a panic into an error as the Lambda runtime does.
func (w *shardWorker) call(ctx context.Context, batch []events.KinesisEventRecord) (resp events.KinesisEventResponse, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("esm: function %s panicked: %v", w.m.cfg.FunctionName, r)
		}
	}()
	return w.m.fn(ctx, events.KinesisEvent{Records: batch})
}

// lowestFailure returns the index in batch of the lowest failed record that failures name, or 0 (the whole
// batch failed) when an item's identifier is empty or is not a sequence number of the batch.
func lowestFailure(batch []events.KinesisEventRecord, failures []events.KinesisBatchItemFailure) int {
	lowest := len(batch)
	if len(failures) <= 8 {
		for _, f := range failures {
			i := indexOf(batch, f.ItemIdentifier)
			if i < 0 {
				return 0
			}
			lowest = min(lowest, i)
		}
		return lowest
	}
	index := make(map[string]int, len(batch))
	for i := range batch {
		index[batch[i].Kinesis.SequenceNumber] = i
	}
	for _, f := range failures {
		i, ok := index[f.ItemIdentifier]
		if !ok || f.ItemIdentifier == "" {
			return 0
		}
		lowest = min(lowest, i)
	}
	return lowest
}

// indexOf returns the index of the record of batch with sequence number seq, or -1.
func indexOf(batch []events.KinesisEventRecord, seq string) int {
	if seq == "" {
		return -1
	}
	for i := range batch {
		if batch[i].Kinesis.SequenceNumber == seq {
			return i
		}
	}
	return -1
}

// newBackoff returns the retry backoff of one failed batch.
func (m *Mapping) newBackoff() *backoff.ExponentialBackOff {
	return backoff.NewExponentialBackOff(
		backoff.WithInitialInterval(m.cfg.RetryBackoff.Min),
		backoff.WithMaxInterval(m.cfg.RetryBackoff.Max),
		backoff.WithMaxElapsedTime(0),
	)
}

// clampBackoff keeps a jittered delay within RetryBackoff's bounds.
func (m *Mapping) clampBackoff(d time.Duration) time.Duration {
	return min(max(d, m.cfg.RetryBackoff.Min), m.cfg.RetryBackoff.Max)
}

// sleep waits d, and reports false when ctx is cancelled first.
func sleep(ctx context.Context, d time.Duration) bool {
	if ctx.Err() != nil {
		return false
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
