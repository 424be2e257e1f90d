package workbench

import (
	"context"
	"fmt"
	"strings"

	"github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/event"
)

// jsonUnmarshal decodes JSON with the project's faster codec.
var jsonUnmarshal = json.Unmarshal

// Target is where a redrive sends the records of a message again. Put blocks until every record is taken
// or it gives up; it returns what identifies each record anew (the stream's new sequence numbers; empty for
// a workflow, which writes no new records). An error means the message must stay in the queue.
type Target interface {
	// Name says what the target is, for the audit log: "stream" or "workflow".
	Name() string
	Put(ctx context.Context, shardID string, recs []event.StreamRecord) ([]string, error)
}

// Producer puts records on the stream: ingest.Producer, satisfied by the local log and the Kinesis producer.
type Producer interface {
	PutRecords(ctx context.Context, recs []event.Record) ([]event.PutResult, error)
}

// Executor runs one workflow execution synchronously: consumer.Workflow, satisfied by the local interpreter
// and the Step Functions adapter.
type Executor interface {
	Execute(ctx context.Context, input []byte) ([]byte, error)
}

// streamTarget puts records back on the stream.
type streamTarget struct {
	p Producer
	// attempts bounds the calls for records the stream refused (throttled).
	attempts int
}

// ToStream returns the Target that puts the records back on the stream with their original data and
// partition keys (so each lands on the shard it came from, after the records that arrived since). Records
// the stream refuses are sent again, up to three calls in all.
func ToStream(p Producer) Target { return streamTarget{p: p, attempts: 3} }

func (streamTarget) Name() string { return "stream" }

func (t streamTarget) Put(ctx context.Context, _ string, recs []event.StreamRecord) ([]string, error) {
	seqs := make([]string, len(recs))
	todo := make([]int, len(recs))
	for i := range recs {
		todo[i] = i
	}
	var lastErr string
	for attempt := 0; attempt < t.attempts && len(todo) > 0; attempt++ {
		var next []int
		for off := 0; off < len(todo); off += event.MaxRecordsPerPut {
			chunk := todo[off:min(off+event.MaxRecordsPerPut, len(todo))]
			batch := make([]event.Record, len(chunk))
			for j, i := range chunk {
				batch[j] = event.Record{PartitionKey: recs[i].PartitionKey, Data: recs[i].Data}
			}
			res, err := t.p.PutRecords(ctx, batch)
			if err != nil {
				return nil, fmt.Errorf("workbench: put %d records on the stream: %w", len(batch), err)
			}
			for j, i := range chunk {
				if j < len(res) && res[j].SequenceNumber != "" {
					seqs[i] = res[j].SequenceNumber
					continue
				}
				if j < len(res) {
					lastErr = res[j].ErrorCode + ": " + res[j].ErrorMessage
				}
				next = append(next, i)
			}
		}
		todo = next
	}
	if len(todo) > 0 {
		return nil, fmt.Errorf("workbench: the stream refused %d of %d records (%s)", len(todo), len(recs), lastErr)
	}
	return seqs, nil
}

// workflowTarget runs the records through the workflow.
type workflowTarget struct {
	x          Executor
	maxPayload int
}

// ToWorkflow returns the Target that runs the records straight through the workflow, as the consumer would:
// executions of at most 96 KiB of input each, in order. It fails when an execution fails or reports any item
// failed.
func ToWorkflow(x Executor) Target { return workflowTarget{x: x, maxPayload: 96 << 10} }

func (workflowTarget) Name() string { return "workflow" }

func (t workflowTarget) Put(ctx context.Context, shardID string, recs []event.StreamRecord) ([]string, error) {
	var items []event.BatchItem
	size := 0
	flush := func() error {
		if len(items) == 0 {
			return nil
		}
		b := event.Batch{BatchID: shardID + ":" + items[0].SequenceNumber + "-" + items[len(items)-1].SequenceNumber,
			ShardID: shardID, Items: items}
		in, err := json.Marshal(b)
		if err != nil {
			return fmt.Errorf("workbench: encode batch %s: %w", b.BatchID, err)
		}
		out, err := t.x.Execute(ctx, in)
		if err != nil {
			return fmt.Errorf("workbench: workflow execution of %s: %w", b.BatchID, err)
		}
		var res event.BatchResult
		if err := json.Unmarshal(out, &res); err != nil {
			return fmt.Errorf("workbench: workflow execution of %s: output is not a batch result: %w", b.BatchID, err)
		}
		if len(res.Failed) > 0 {
			var why []string
			for _, f := range res.Failed {
				why = append(why, f.SequenceNumber+" "+f.Error+": "+f.Cause)
			}
			return fmt.Errorf("workbench: workflow execution of %s failed %d items: %s", b.BatchID, len(res.Failed), strings.Join(why, "; "))
		}
		items, size = nil, 0
		return nil
	}
	for _, r := range recs {
		n := len(r.Data) + len(r.PartitionKey) + len(r.SequenceNumber) + 128
		if size+n > t.maxPayload {
			if err := flush(); err != nil {
				return nil, err
			}
		}
		items = append(items, event.BatchItem{SequenceNumber: r.SequenceNumber, PartitionKey: r.PartitionKey,
			ArrivalTime: r.ArrivalTime, Event: r.Data})
		size += n
	}
	if err := flush(); err != nil {
		return nil, err
	}
	return nil, nil
}
