// Package workbench is the dead-letter queue workbench: the operations an on-call engineer runs on the
// messages of the DLQ. It lists them grouped by function, error and shard; shows one; explains one by reading
// the records of its failed range back from the stream and validating each again; redrives the messages
// that match a filter (back onto the stream or straight through the workflow, rate-limited, with an audit
// line per message); and purges them.
//
// The on-failure record AWS Lambda writes for a Kinesis batch carries no data, only a shard and a sequence
// range, so every explanation and redrive reads the stream: records older than the stream's retention are
// gone, which the workbench reports as a state of its own (Expired) rather than as an empty result.
//
// The workbench reaches its collaborators through small ports: Store (the queue), Stream (a shard reader),
// Failures (the handler's recorded errors) and Target (where redriven records go). This package holds their
// adapters over the local stand-ins and the AWS adapters of the project.
package workbench

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/stream/dlq"
	"github.com/serverless-data-platform/sdp/stream/shardlog"
	"github.com/serverless-data-platform/sdp/workflow/asl"
	"github.com/serverless-data-platform/sdp/workflow/history"
)

// ErrNotFound is wrapped by the error about a message the queue does not hold.
var ErrNotFound = errors.New("workbench: no such message in the dead-letter queue")

// Store is the dead-letter queue as the workbench uses it. Every method does I/O, blocks until done and
// honours ctx.
type Store interface {
	// Peek returns every message of the queue without consuming it, oldest first where the queue knows.
	Peek(ctx context.Context) ([]dlq.Message, error)
	// Get returns the message with the id, or an error wrapping ErrNotFound.
	Get(ctx context.Context, id string) (dlq.Message, error)
	// Delete deletes the messages with the ids and returns the ids it deleted; an id the queue does not
	// hold is left out of the result without an error.
	Delete(ctx context.Context, ids []string) ([]string, error)
}

// Stream reads a shard of the stream by sequence number. Both methods return up to limit records in order,
// and may return fewer (or none) while more follow; they do not wait for records.
type Stream interface {
	// ReadAt reads from the record with sequence number seq on (AT_SEQUENCE_NUMBER). A sequence number
	// older than the trim horizon reads from the trim horizon.
	ReadAt(ctx context.Context, shardID, seq string, limit int) ([]event.StreamRecord, error)
	// ReadAfter reads the records that follow seq (AFTER_SEQUENCE_NUMBER).
	ReadAfter(ctx context.Context, shardID, seq string, limit int) ([]event.StreamRecord, error)
}

// Failure is the error the handler recorded for one record.
type Failure struct {
	// Error is the error's name, such as "Enrich.Failed"; Cause says why.
	Error string `json:"error"`
	Cause string `json:"cause,omitempty"`
	// Execution names the workflow execution that recorded it, when one did.
	Execution string `json:"execution,omitempty"`
}

// Failures looks up the errors the handler recorded for the records of a shard's sequence range, by
// sequence number. A record without a recorded error is absent from the map.
type Failures interface {
	Failures(ctx context.Context, shardID, startSeq, endSeq string) (map[string]Failure, error)
}

// NoFailures is the Failures of a deployment that records none: every lookup is empty.
type NoFailures struct{}

// Failures returns nil.
func (NoFailures) Failures(context.Context, string, string, string) (map[string]Failure, error) {
	return nil, nil
}

// localStore is the Store over the local queue, which reads and deletes by id without receiving.
type localStore struct{ q *dlq.Local }

// FromLocal returns the Store over the local dead-letter queue: Peek and Get leave the messages' receive
// state alone.
func FromLocal(q *dlq.Local) Store { return localStore{q} }

func (s localStore) Peek(ctx context.Context) ([]dlq.Message, error) {
	msgs, err := s.q.List(ctx, 0)
	if err != nil {
		return nil, fmt.Errorf("workbench: list %s: %w", s.q.Name(), err)
	}
	return msgs, nil
}

func (s localStore) Get(ctx context.Context, id string) (dlq.Message, error) {
	m, ok, err := s.q.Get(ctx, id)
	if err != nil {
		return dlq.Message{}, fmt.Errorf("workbench: get %s from %s: %w", id, s.q.Name(), err)
	}
	if !ok {
		return dlq.Message{}, fmt.Errorf("%w: %s", ErrNotFound, id)
	}
	return m, nil
}

func (s localStore) Delete(ctx context.Context, ids []string) ([]string, error) {
	var done []string
	for _, id := range ids {
		if _, ok, err := s.q.Get(ctx, id); err != nil {
			return done, fmt.Errorf("workbench: delete %s from %s: %w", id, s.q.Name(), err)
		} else if !ok {
			continue
		}
		if err := s.q.DeleteID(ctx, id); err != nil {
			return done, fmt.Errorf("workbench: delete %s from %s: %w", id, s.q.Name(), err)
		}
		done = append(done, id)
	}
	return done, nil
}

// queueStore is the Store over any dlq.Queue (SQS): it peeks with dlq.Peek and deletes by receiving.
type queueStore struct {
	q dlq.Queue
	// hold is how long a Delete hides the messages it receives while it looks for its ids.
	hold time.Duration
}

// FromQueue returns the Store over a queue of the port (SQS). SQS has no peek and deletes only by receipt
// handle: Peek receives with a short visibility timeout and makes the messages visible again at once (each
// peek counts as a receive), and Delete receives until it has seen every visible message, deletes those with
// the ids and makes the others visible again. Messages in flight (received by someone else) are not seen.
func FromQueue(q dlq.Queue) Store { return queueStore{q: q, hold: 30 * time.Second} }

func (s queueStore) Peek(ctx context.Context) ([]dlq.Message, error) {
	msgs, err := dlq.Peek(ctx, s.q, 0)
	if err != nil {
		return nil, fmt.Errorf("workbench: %w", err)
	}
	slices.SortStableFunc(msgs, func(a, b dlq.Message) int { return a.SentAt.Compare(b.SentAt) })
	return msgs, nil
}

func (s queueStore) Get(ctx context.Context, id string) (dlq.Message, error) {
	msgs, err := s.Peek(ctx)
	if err != nil {
		return dlq.Message{}, err
	}
	for _, m := range msgs {
		if m.ID == id {
			return m, nil
		}
	}
	return dlq.Message{}, fmt.Errorf("%w: %s (a message in flight, received by another consumer, is not seen)", ErrNotFound, id)
}

func (s queueStore) Delete(ctx context.Context, ids []string) (_ []string, err error) {
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	var release []string
	// The messages received and not deleted are made visible again whatever happens.
	defer func() {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		for _, h := range release {
			if rerr := s.q.ChangeVisibility(rctx, h, 0); rerr != nil && err == nil {
				err = fmt.Errorf("workbench: make a message of %s visible again: %w", s.q.Name(), rerr)
			}
		}
	}()
	var done []string
	for len(done) < len(ids) {
		msgs, err := s.q.Receive(ctx, dlq.ReceiveOptions{Max: dlq.MaxReceive, Visibility: s.hold})
		if err != nil {
			return done, fmt.Errorf("workbench: delete from %s: receive: %w", s.q.Name(), err)
		}
		if len(msgs) == 0 {
			break
		}
		var handles, hit []string
		for _, m := range msgs {
			if want[m.ID] {
				handles = append(handles, m.ReceiptHandle)
				hit = append(hit, m.ID)
				delete(want, m.ID)
			} else {
				release = append(release, m.ReceiptHandle)
			}
		}
		if len(handles) > 0 {
			if err := s.q.DeleteBatch(ctx, handles); err != nil {
				return done, fmt.Errorf("workbench: delete from %s: %w", s.q.Name(), err)
			}
			done = append(done, hit...)
		}
	}
	return done, nil
}

// logStream is the Stream over the local log.
type logStream struct{ l *shardlog.Log }

// FromLog returns the Stream over the local log.
func FromLog(l *shardlog.Log) Stream { return logStream{l} }

func (s logStream) ReadAt(ctx context.Context, shardID, seq string, limit int) ([]event.StreamRecord, error) {
	return s.l.Read(ctx, shardID, shardlog.Position{Type: shardlog.AtSequenceNumber, SequenceNumber: seq}, limit)
}

func (s logStream) ReadAfter(ctx context.Context, shardID, seq string, limit int) ([]event.StreamRecord, error) {
	return s.l.ReadAfter(ctx, shardID, seq, limit)
}

// History is the part of the local execution records the workbench reads.
type History interface {
	List(f history.Filter) ([]history.Record, int, error)
	Get(nameOrARN string) (*history.Record, error)
}

// historyFailures is the Failures over the local execution records.
type historyFailures struct{ h History }

// FromHistory returns the Failures over the workflow's execution records: the items each execution of the
// shard's range reported failed (with their error and cause), and every item of an execution that failed as
// a whole (with the execution's error). The newest record of a sequence number wins.
func FromHistory(h History) Failures { return historyFailures{h} }

func (f historyFailures) Failures(ctx context.Context, shardID, startSeq, endSeq string) (map[string]Failure, error) {
	recs, _, err := f.h.List(history.Filter{})
	if err != nil {
		return nil, fmt.Errorf("workbench: execution records: %w", err)
	}
	out := map[string]Failure{}
	for _, sum := range recs {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		first, last, ok := batchRange(sum.BatchID, shardID)
		if !ok || shardlog.CompareSequence(last, startSeq) < 0 || shardlog.CompareSequence(first, endSeq) > 0 {
			continue
		}
		rec, err := f.h.Get(sum.ExecutionARN)
		if err != nil {
			// Dropped since the listing: the store keeps a bounded number of records.
			continue
		}
		f.add(out, rec, startSeq, endSeq)
	}
	return out, nil
}

// add records the failures of one execution within the range, keeping those already found (newer).
func (historyFailures) add(out map[string]Failure, rec *history.Record, startSeq, endSeq string) {
	in := func(seq string) bool {
		return shardlog.CompareSequence(seq, startSeq) >= 0 && shardlog.CompareSequence(seq, endSeq) <= 0
	}
	put := func(seq string, fl Failure) {
		if _, seen := out[seq]; !seen && in(seq) {
			out[seq] = fl
		}
	}
	var res event.BatchResult
	if rec.Status == "SUCCEEDED" && len(rec.Output) > 0 && jsonUnmarshal(rec.Output, &res) == nil {
		for _, it := range res.Failed {
			put(it.SequenceNumber, Failure{Error: it.Error, Cause: it.Cause, Execution: rec.ExecutionARN})
		}
		return
	}
	if rec.Status == "SUCCEEDED" {
		return
	}
	var b event.Batch
	if jsonUnmarshal(rec.Input, &b) == nil {
		for _, it := range b.Items {
			put(it.SequenceNumber, Failure{Error: rec.Error, Cause: rec.Cause, Execution: rec.ExecutionARN})
		}
	}
}

// batchRange reads a batch id "<shard>:<first>-<last>" of shardID.
func batchRange(batchID, shardID string) (first, last string, ok bool) {
	if len(batchID) <= len(shardID)+1 || batchID[:len(shardID)] != shardID || batchID[len(shardID)] != ':' {
		return "", "", false
	}
	rest := batchID[len(shardID)+1:]
	for i := 0; i < len(rest); i++ {
		if rest[i] == '-' {
			return rest[:i], rest[i+1:], i > 0 && i < len(rest)-1
		}
	}
	return "", "", false
}

// ExecutionLister lists the workflow's executions that logged an event between since and until, newest
// first, each with its input, output, error and cause: *sfn.Logs, the reader of an Express state machine's
// CloudWatch Logs execution log, satisfies it.
type ExecutionLister interface {
	List(ctx context.Context, since, until time.Time, limit int) ([]asl.Result, error)
}

// logFailures is the Failures over an execution log, read once and kept.
type logFailures struct {
	l      ExecutionLister
	window time.Duration
	now    func() time.Time

	mu sync.Mutex
	// recs are the executions of the window, newest first; nil until the first lookup.
	recs []*history.Record
}

// FromExecutionLog returns the Failures over the workflow's execution log (Step Functions Express
// executions logged to CloudWatch Logs at level ALL with their data): the executions that logged an event
// within window of the first lookup are read once, and each lookup finds, as FromHistory does, the items
// the executions of the shard's range reported failed and every item of an execution that failed as a
// whole. An execution whose input or output the log cut (over 256 KiB) contributes what can be decoded.
func FromExecutionLog(l ExecutionLister, window time.Duration) Failures {
	return &logFailures{l: l, window: window, now: time.Now}
}

func (f *logFailures) Failures(ctx context.Context, shardID, startSeq, endSeq string) (map[string]Failure, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.recs == nil {
		now := f.now()
		res, err := f.l.List(ctx, now.Add(-f.window), now, 0)
		if err != nil {
			return nil, fmt.Errorf("workbench: execution log: %w", err)
		}
		f.recs = make([]*history.Record, 0, len(res))
		for i := range res {
			f.recs = append(f.recs, history.NewRecord(&res[i], nil))
		}
	}
	out := map[string]Failure{}
	for _, rec := range f.recs {
		first, last, ok := batchRange(rec.BatchID, shardID)
		if !ok || shardlog.CompareSequence(last, startSeq) < 0 || shardlog.CompareSequence(first, endSeq) > 0 {
			continue
		}
		historyFailures{}.add(out, rec, startSeq, endSeq)
	}
	return out, nil
}
