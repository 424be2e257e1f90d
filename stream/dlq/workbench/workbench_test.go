package workbench

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/stream/dlq"
	"github.com/serverless-data-platform/sdp/workflow/asl"
)

// memStore is a Store in memory.
type memStore struct{ msgs []dlq.Message }

func (s *memStore) Peek(context.Context) ([]dlq.Message, error) {
	return append([]dlq.Message(nil), s.msgs...), nil
}

func (s *memStore) Get(_ context.Context, id string) (dlq.Message, error) {
	for _, m := range s.msgs {
		if m.ID == id {
			return m, nil
		}
	}
	return dlq.Message{}, fmt.Errorf("%w: %s", ErrNotFound, id)
}

func (s *memStore) Delete(_ context.Context, ids []string) ([]string, error) {
	var done []string
	keep := s.msgs[:0]
	for _, m := range s.msgs {
		if bytes.Contains([]byte(fmt.Sprint(ids)), []byte(m.ID)) {
			done = append(done, m.ID)
			continue
		}
		keep = append(keep, m)
	}
	s.msgs = keep
	return done, nil
}

// memStream is a Stream over one shard's records.
type memStream struct{ recs []event.StreamRecord }

func (s memStream) ReadAt(_ context.Context, _, seq string, _ int) ([]event.StreamRecord, error) {
	for i, r := range s.recs {
		if r.SequenceNumber >= seq {
			return s.recs[i:], nil
		}
	}
	return nil, nil
}

func (s memStream) ReadAfter(_ context.Context, _, seq string, _ int) ([]event.StreamRecord, error) {
	for i, r := range s.recs {
		if r.SequenceNumber > seq {
			return s.recs[i:], nil
		}
	}
	return nil, nil
}

// memProducer records what it is given.
type memProducer struct{ got []event.Record }

func (p *memProducer) PutRecords(_ context.Context, recs []event.Record) ([]event.PutResult, error) {
	out := make([]event.PutResult, len(recs))
	for i, r := range recs {
		p.got = append(p.got, r)
		out[i] = event.PutResult{ShardID: "shardId-0", SequenceNumber: fmt.Sprintf("9%d", len(p.got))}
	}
	return out, nil
}

func onFailure(t *testing.T, start, end string) []byte {
	t.Helper()
	b, err := json.Marshal(dlq.OnFailure{RequestContext: dlq.RequestContext{FunctionARN: "arn:fn", Condition: dlq.ConditionRetryAttemptsExhausted},
		KinesisBatchInfo: dlq.KinesisBatchInfo{ShardID: "shardId-0", StartSequenceNumber: start, EndSequenceNumber: end, BatchSize: 1}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func rec(seq, id, typ string) event.StreamRecord {
	return event.StreamRecord{ShardID: "shardId-0", SequenceNumber: seq, PartitionKey: id, Data: fmt.Appendf(nil,
		`{"specversion":"1.0","id":%q,"source":"s","type":%q,"time":"2026-01-01T00:00:00Z","data":{"url":"https://x.example/","session_id":"s"}}`, id, typ)}
}

// TestRedrive redrives messages whose records are present, expired or invalid, with and without a dry run.
func TestRedrive(t *testing.T) {
	reg, err := event.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	stream := memStream{recs: []event.StreamRecord{rec("20", "a", "nope.unknown"), rec("30", "b", "page_view")}}
	cases := []struct {
		name      string
		start     string
		dryRun    bool
		skip      bool
		wantState string
		wantPuts  int
		wantLeft  int
	}{
		{"expired records stay queued", "10", false, false, StateExpired, 0, 1},
		{"invalid record stays queued", "20", false, false, StateInvalid, 0, 1},
		{"skip-invalid redrives nothing valid and deletes", "20", false, true, StateRedriven, 0, 0},
		{"dry run changes nothing", "30", true, false, StateWouldRedrive, 0, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			store := &memStore{msgs: []dlq.Message{{ID: "m1", SentAt: time.Unix(1, 0), Body: onFailure(t, tc.start, tc.start)}}}
			wb, err := New(store, stream, reg)
			if err != nil {
				t.Fatal(err)
			}
			p := &memProducer{}
			var audit bytes.Buffer
			rep, err := wb.Redrive(context.Background(), RedriveOptions{DryRun: tc.dryRun, SkipInvalid: tc.skip, Target: ToStream(p), Audit: &audit})
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Outcomes) != 1 || rep.Outcomes[0].State != tc.wantState {
				t.Fatalf("outcomes %+v, want state %s", rep.Outcomes, tc.wantState)
			}
			if len(p.got) != tc.wantPuts || len(store.msgs) != tc.wantLeft {
				t.Errorf("%d records put, %d messages left; want %d and %d", len(p.got), len(store.msgs), tc.wantPuts, tc.wantLeft)
			}
			if tc.dryRun && audit.Len() != 0 {
				t.Errorf("a dry run wrote audit lines: %s", audit.String())
			}
		})
	}
}

// TestExplainExpired reports a range whose start record left the stream as expired.
func TestExplainExpired(t *testing.T) {
	reg, err := event.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		recs    []event.StreamRecord
		start   string
		expired bool
		n       int
	}{
		{"present", []event.StreamRecord{rec("30", "b", "page_view")}, "30", false, 1},
		{"start trimmed", []event.StreamRecord{rec("30", "b", "page_view")}, "10", true, 0},
		{"empty shard", nil, "10", true, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			store := &memStore{msgs: []dlq.Message{{ID: "m1", Body: onFailure(t, tc.start, tc.start)}}}
			wb, err := New(store, memStream{recs: tc.recs}, reg)
			if err != nil {
				t.Fatal(err)
			}
			x, err := wb.Explain(context.Background(), "m1")
			if err != nil {
				t.Fatal(err)
			}
			if x.Expired != tc.expired || len(x.Records) != tc.n {
				t.Errorf("expired %v with %d records, want %v and %d", x.Expired, len(x.Records), tc.expired, tc.n)
			}
		})
	}
}

// memLog is an ExecutionLister over fixed results; it counts its calls.
type memLog struct {
	res   []asl.Result
	calls int
}

func (l *memLog) List(context.Context, time.Time, time.Time, int) ([]asl.Result, error) {
	l.calls++
	return l.res, nil
}

// TestFromExecutionLog finds the recorded errors of a range in logged executions: the items a succeeded
// execution reported failed, and every item of an execution that failed as a whole, on the shard and in the
// range only, reading the log once.
func TestFromExecutionLog(t *testing.T) {
	batch := func(shard string, seqs ...string) json.RawMessage {
		b := event.Batch{BatchID: shard + ":" + seqs[0] + "-" + seqs[len(seqs)-1], ShardID: shard}
		for _, s := range seqs {
			b.Items = append(b.Items, event.BatchItem{SequenceNumber: s, Event: json.RawMessage(`{}`)})
		}
		out, _ := json.Marshal(b)
		return out
	}
	log := &memLog{res: []asl.Result{
		{ExecutionARN: "arn:x:newer", Status: asl.StatusSucceeded, Input: batch("shardId-0", "20", "30"),
			Output: json.RawMessage(`{"processed":1,"failed":[{"sequenceNumber":"20","error":"Enrich.Failed","cause":"quarantined"}]}`)},
		{ExecutionARN: "arn:x:whole", Status: asl.StatusFailed, Error: "States.Timeout", Cause: "too slow", Input: batch("shardId-0", "40", "50")},
		{ExecutionARN: "arn:x:other-shard", Status: asl.StatusFailed, Error: "Boom", Input: batch("shardId-1", "20", "30")},
		{ExecutionARN: "arn:x:older", Status: asl.StatusFailed, Error: "Old", Input: batch("shardId-0", "20")},
	}}
	f := FromExecutionLog(log, time.Hour)
	cases := []struct {
		name       string
		start, end string
		want       map[string]Failure
	}{
		{"item failure of a succeeded execution, newest wins", "20", "20",
			map[string]Failure{"20": {Error: "Enrich.Failed", Cause: "quarantined", Execution: "arn:x:newer"}}},
		{"execution failed as a whole", "40", "50", map[string]Failure{
			"40": {Error: "States.Timeout", Cause: "too slow", Execution: "arn:x:whole"},
			"50": {Error: "States.Timeout", Cause: "too slow", Execution: "arn:x:whole"}}},
		{"range without failures", "60", "70", map[string]Failure{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := f.Failures(context.Background(), "shardId-0", tc.start, tc.end)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("failures %v, want %v", got, tc.want)
			}
		})
	}
	if log.calls != 1 {
		t.Errorf("the log was listed %d times, want once", log.calls)
	}
}
