package main

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/serverless-data-platform/sdp/analytics"
	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/ingest"
	"github.com/serverless-data-platform/sdp/internal/faults"
	"github.com/serverless-data-platform/sdp/stream/consumer"
	"github.com/serverless-data-platform/sdp/stream/esm"
)

// localFaults applies an Injector to the local stand-ins, at their ports, so that the stages above them meet
// the failures AWS produces: throttles, lost answers, failed executions and crashed functions. Each fault
// keeps the shape the real service gives it, so that the retry paths the pipeline has for AWS are the ones
// that handle it. Every error a fault produces wraps faults.ErrInjected.
//
// Each method returns its argument itself when none of the points it handles can fire (in particular with a
// nil Injector), so that a stack without faults runs exactly the code it runs in production.
type localFaults struct{ in *faults.Injector }

// Delays of a throttled local read: the AWS reader waits out ReadProvisionedThroughputExceeded for about as
// long before it reads again.
const (
	throttledReadMin    = 50 * time.Millisecond
	throttledReadSpread = 150 * time.Millisecond
)

// producer wraps p with kinesis.throttle, rolled per record (a throttled record is not written and gets
// Kinesis's ProvisionedThroughputExceededException result; the others are written in one call), and
// kinesis.timeout, rolled per call (the records are written, then the call reports a timeout, so that the
// caller sends them again).
func (f localFaults) producer(p ingest.Producer) ingest.Producer {
	if !f.in.Has(faults.KinesisThrottle, faults.KinesisTimeout) {
		return p
	}
	return &faultyProducer{next: p, in: f.in}
}

// faultyProducer is the Producer producer returns.
type faultyProducer struct {
	next ingest.Producer
	in   *faults.Injector
}

// PutRecords writes the records the throttle spares, in their order, and maps the answers back.
func (p *faultyProducer) PutRecords(ctx context.Context, recs []event.Record) ([]event.PutResult, error) {
	results := make([]event.PutResult, len(recs))
	pass := make([]event.Record, 0, len(recs))
	// at[j] is the index in recs of pass[j].
	at := make([]int, 0, len(recs))
	for i, rec := range recs {
		if p.in.Roll(faults.KinesisThrottle) {
			results[i] = event.PutResult{ErrorCode: event.ErrCodeThroughputExceeded,
				ErrorMessage: "Rate exceeded for shard (" + faults.ErrInjected.Error() + " " + string(faults.KinesisThrottle) + ")"}
			continue
		}
		pass = append(pass, rec)
		at = append(at, i)
	}
	if len(pass) > 0 {
		got, err := p.next.PutRecords(ctx, pass)
		if err != nil {
			return nil, err
		}
		if len(got) != len(pass) {
			return nil, fmt.Errorf("stream answered %d results for %d records; its PutRecords breaks the Producer contract",
				len(got), len(pass))
		}
		for j, res := range got {
			results[at[j]] = res
		}
	}
	if p.in.Roll(faults.KinesisTimeout) {
		return nil, fmt.Errorf("PutRecords of %d records: timed out (%w %s); the records may have been written, send them again",
			len(recs), faults.ErrInjected, faults.KinesisTimeout)
	}
	return results, nil
}

// reader wraps r with kinesis.throttle, rolled per ReadAfter: a throttled read first waits 50 to 200 ms (or
// until ctx ends), as the AWS reader waits out ReadProvisionedThroughputExceeded, and then reads. It never
// returns the throttle as an error, since an error ends the mapping. The result is an esm.Waiter exactly when
// r is one.
func (f localFaults) reader(r esm.Reader) esm.Reader {
	if !f.in.Has(faults.KinesisThrottle) {
		return r
	}
	fr := &faultyReader{Reader: r, in: f.in}
	if w, ok := r.(esm.Waiter); ok {
		return &faultyWaitReader{faultyReader: fr, w: w}
	}
	return fr
}

// faultyReader is the Reader reader returns for a Reader that cannot wait. Embedding the interface, not the
// concrete reader, keeps abilities the wrapper does not offer out of its method set.
type faultyReader struct {
	esm.Reader
	in *faults.Injector
}

// ReadAfter reads after the throttle's wait, if any.
func (r *faultyReader) ReadAfter(ctx context.Context, shardID, afterSeq string, limit int) ([]event.StreamRecord, error) {
	if r.in.Roll(faults.KinesisThrottle) {
		d := throttledReadMin + time.Duration(r.in.Intn(int(throttledReadSpread/time.Millisecond)+1))*time.Millisecond
		timer := time.NewTimer(d)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
		}
	}
	return r.Reader.ReadAfter(ctx, shardID, afterSeq, limit)
}

// faultyWaitReader is the Reader reader returns for a Reader that can wait: it waits as the inner one does.
type faultyWaitReader struct {
	*faultyReader
	w esm.Waiter
}

// Wait waits with the inner reader.
func (r *faultyWaitReader) Wait(ctx context.Context, shardID, afterSeq string) error {
	return r.w.Wait(ctx, shardID, afterSeq)
}

// curated wraps the curated table's Put with table.throttle (nothing written, an error such as DynamoDB's
// ProvisionedThroughputExceededException) and table.timeout (written, then an error: the answer was lost).
// The read methods are the table's own.
func (f localFaults) curated(t curatedTable) curatedTable {
	if !f.in.Has(faults.TableThrottle, faults.TableTimeout) {
		return t
	}
	return &faultyTable{curatedTable: t, in: f.in}
}

// faultyTable is the table curated returns.
type faultyTable struct {
	curatedTable
	in *faults.Injector
}

// Put writes the items unless throttled, and may lose the answer.
func (t *faultyTable) Put(ctx context.Context, items []event.Curated) error {
	if err := tableThrottle(t.in, "Put", len(items)); err != nil {
		return err
	}
	if err := t.curatedTable.Put(ctx, items); err != nil {
		return err
	}
	return tableTimeout(t.in, "Put", len(items))
}

// aggregates wraps the analytics store's Apply with table.throttle (nothing applied, 0 and an error) and
// table.timeout (applied, then 0 and an error; a retry counts nothing twice, as Apply promises).
func (f localFaults) aggregates(s analytics.Store) analytics.Store {
	if !f.in.Has(faults.TableThrottle, faults.TableTimeout) {
		return s
	}
	return &faultyAggregates{Store: s, in: f.in}
}

// faultyAggregates is the store aggregates returns.
type faultyAggregates struct {
	analytics.Store
	in *faults.Injector
}

// Apply counts the facts unless throttled, and may lose the answer.
func (s *faultyAggregates) Apply(ctx context.Context, facts []event.Fact) (int, error) {
	if err := tableThrottle(s.in, "Apply", len(facts)); err != nil {
		return 0, err
	}
	n, err := s.Store.Apply(ctx, facts)
	if err != nil {
		return n, err
	}
	if err := tableTimeout(s.in, "Apply", len(facts)); err != nil {
		return 0, err
	}
	return n, nil
}

// tableThrottle rolls table.throttle and returns DynamoDB's throttle as an error when it fires.
func tableThrottle(in *faults.Injector, op string, n int) error {
	if !in.Roll(faults.TableThrottle) {
		return nil
	}
	return fmt.Errorf("%s of %d items: ProvisionedThroughputExceededException: the level of configured provisioned "+
		"throughput for the table was exceeded (%w %s); nothing was written, try again later",
		op, n, faults.ErrInjected, faults.TableThrottle)
}

// tableTimeout rolls table.timeout and returns a lost answer as an error when it fires.
func tableTimeout(in *faults.Injector, op string, n int) error {
	if !in.Roll(faults.TableTimeout) {
		return nil
	}
	return fmt.Errorf("%s of %d items: timed out waiting for DynamoDB's answer (%w %s); the write may have happened, "+
		"try again", op, n, faults.ErrInjected, faults.TableTimeout)
}

// workflow wraps w with workflow.fail (the execution fails, half the time before it runs and writes nothing,
// half the time after it ran, its output lost) and workflow.timeout (the execution runs, but the caller's
// synchronous wait for it times out).
func (f localFaults) workflow(w consumer.Workflow) consumer.Workflow {
	if !f.in.Has(faults.WorkflowFail, faults.WorkflowTimeout) {
		return w
	}
	return &faultyWorkflow{next: w, in: f.in}
}

// faultyWorkflow is the Workflow workflow returns.
type faultyWorkflow struct {
	next consumer.Workflow
	in   *faults.Injector
}

// Execute runs the execution through the faults.
func (w *faultyWorkflow) Execute(ctx context.Context, input []byte) ([]byte, error) {
	if w.in.Roll(faults.WorkflowFail) {
		when := "before its first state"
		if w.in.Intn(2) == 1 {
			// The execution's writes happen; its failure comes after them.
			if _, err := w.next.Execute(ctx, input); err != nil {
				return nil, err
			}
			when = "after its last state"
		}
		return nil, fmt.Errorf("execution failed %s: States.Runtime (%w %s); run the batch again",
			when, faults.ErrInjected, faults.WorkflowFail)
	}
	out, err := w.next.Execute(ctx, input)
	if err != nil {
		return nil, err
	}
	if w.in.Roll(faults.WorkflowTimeout) {
		return nil, fmt.Errorf("StartSyncExecution: timed out waiting for the execution (%w %s); it may have run, "+
			"run the batch again", faults.ErrInjected, faults.WorkflowTimeout)
	}
	return out, nil
}

// consumer wraps fn with consumer.crash: fn runs (its writes happen), then the invocation ends with Lambda's
// Runtime.ExitError, the process having exited before it answered, and no response, so that the mapping
// retries the whole batch.
func (f localFaults) consumer(fn esm.Function) esm.Function {
	if !f.in.Has(faults.ConsumerCrash) {
		return fn
	}
	in := f.in
	return func(ctx context.Context, ev events.KinesisEvent) (events.KinesisEventResponse, error) {
		resp, err := fn(ctx, ev)
		if !in.Roll(faults.ConsumerCrash) {
			return resp, err
		}
		requestID := "unknown"
		if lc, ok := lambdacontext.FromContext(ctx); ok && lc.AwsRequestID != "" {
			requestID = lc.AwsRequestID
		}
		return events.KinesisEventResponse{}, fmt.Errorf(
			"RequestId: %s Error: Runtime exited with error: exit status 2 (Runtime.ExitError; %w %s)",
			requestID, faults.ErrInjected, faults.ConsumerCrash)
	}
}
