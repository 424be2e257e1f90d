package consumer_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/stream/consumer"
)

// fakeWorkflow records each execution's input. By default it fails the items whose event has "fail": true and
// fails a whole execution that holds an event with "crash": true; output, when set, replaces its answer.
type fakeWorkflow struct {
	mu     sync.Mutex
	inputs [][]byte
	output func(b event.Batch) ([]byte, error)
}

func (f *fakeWorkflow) Execute(_ context.Context, input []byte) ([]byte, error) {
	f.mu.Lock()
	f.inputs = append(f.inputs, bytes.Clone(input))
	f.mu.Unlock()
	var b event.Batch
	if err := json.Unmarshal(input, &b); err != nil {
		return nil, fmt.Errorf("fake workflow: bad input: %w", err)
	}
	if f.output != nil {
		return f.output(b)
	}
	res := event.BatchResult{Failed: []event.ItemFailure{}}
	for _, it := range b.Items {
		var ev struct {
			ID    string `json:"id"`
			Fail  bool   `json:"fail"`
			Crash bool   `json:"crash"`
		}
		if err := json.Unmarshal(it.Event, &ev); err != nil {
			return nil, fmt.Errorf("fake workflow: bad event: %w", err)
		}
		if ev.Crash {
			return nil, errors.New("States.Runtime: crashed")
		}
		if ev.Fail {
			res.Failed = append(res.Failed, event.ItemFailure{SequenceNumber: it.SequenceNumber, EventID: ev.ID,
				Error: "Enrich.RuleViolation"})
		} else {
			res.Processed++
		}
	}
	return json.Marshal(res)
}

// batches decodes the recorded inputs.
func (f *fakeWorkflow) batches(t *testing.T) []event.Batch {
	t.Helper()
	out := make([]event.Batch, len(f.inputs))
	for i, in := range f.inputs {
		if err := json.Unmarshal(in, &out[i]); err != nil {
			t.Fatalf("execution %d input is not a batch: %v", i, err)
		}
	}
	return out
}

const shard0 = "shardId-000000000000"

var arrival = time.Date(2026, 11, 26, 9, 15, 3, 0, time.UTC)

// rec builds a Kinesis record of shard0 with the sequence number and data.
func rec(seq, data string) events.KinesisEventRecord {
	return recOf(shard0, seq, data)
}

// recOf builds a Kinesis record as Lambda delivers it.
func recOf(shard, seq, data string) events.KinesisEventRecord {
	return events.KinesisEventRecord{
		AwsRegion:      "eu-central-1",
		EventID:        shard + ":" + seq,
		EventName:      "aws:kinesis:record",
		EventSource:    "aws:kinesis",
		EventSourceArn: "arn:aws:kinesis:eu-central-1:123456789012:stream/events",
		EventVersion:   "1.0",
		Kinesis: events.KinesisRecord{
			ApproximateArrivalTimestamp: events.SecondsEpochTime{Time: arrival},
			Data:                        []byte(data),
			PartitionKey:                "pk-" + seq,
			SequenceNumber:              seq,
			KinesisSchemaVersion:        "1.0",
		},
	}
}

// ev returns a CloudEvent's JSON with the id and extra top-level members.
func ev(id string, extra ...string) string {
	s := `{"specversion":"1.0","id":"` + id + `","source":"urn:test","type":"page_view","time":"2026-11-26T09:15:02Z","data":{}`
	for _, e := range extra {
		s += "," + e
	}
	return s + "}"
}

// failures returns the reported sequence numbers.
func failures(r events.KinesisEventResponse) []string {
	out := []string{}
	for _, f := range r.BatchItemFailures {
		out = append(out, f.ItemIdentifier)
	}
	return out
}

// TestHandle checks which records are reported failed and which records each execution gets.
func TestHandle(t *testing.T) {
	tests := []struct {
		name    string
		records []events.KinesisEventRecord
		output  func(b event.Batch) ([]byte, error)
		// want are the reported sequence numbers; wantExec the sequence numbers of each execution.
		want     []string
		wantExec [][]string
	}{
		{
			name:     "all ok",
			records:  []events.KinesisEventRecord{rec("1", ev("a")), rec("2", ev("b")), rec("3", ev("c"))},
			want:     []string{},
			wantExec: [][]string{{"1", "2", "3"}},
		},
		{
			name: "some failed",
			records: []events.KinesisEventRecord{rec("1", ev("a")), rec("2", ev("b", `"fail":true`)),
				rec("3", ev("c")), rec("4", ev("d", `"fail":true`))},
			want:     []string{"2", "4"},
			wantExec: [][]string{{"1", "2", "3", "4"}},
		},
		{
			name:     "execution error fails all its records",
			records:  []events.KinesisEventRecord{rec("1", ev("a")), rec("2", ev("b", `"crash":true`)), rec("3", ev("c"))},
			want:     []string{"1", "2", "3"},
			wantExec: [][]string{{"1", "2", "3"}},
		},
		{
			name: "invalid record data",
			records: []events.KinesisEventRecord{rec("1", ev("a")), rec("2", "not json"), rec("3", `[1,2]`),
				rec("4", `"a string"`), rec("5", `{"truncated":`), rec("6", ""), rec("7", ev("b")),
				rec("8", `{"a":1} {"b":2}`), rec("9", " \n"+ev("c")+"\n")},
			want:     []string{"2", "3", "4", "5", "6", "8"},
			wantExec: [][]string{{"1", "7", "9"}},
		},
		{
			name:     "only invalid records: no execution",
			records:  []events.KinesisEventRecord{rec("1", "{"), rec("2", "null")},
			want:     []string{"1", "2"},
			wantExec: nil,
		},
		{
			name:     "empty batch",
			records:  nil,
			want:     []string{},
			wantExec: nil,
		},
		{
			name:     "output that is not a batch result fails all",
			records:  []events.KinesisEventRecord{rec("1", ev("a")), rec("2", ev("b"))},
			output:   func(event.Batch) ([]byte, error) { return []byte(`"done"`), nil },
			want:     []string{"1", "2"},
			wantExec: [][]string{{"1", "2"}},
		},
		{
			name:    "output naming an unknown record fails all",
			records: []events.KinesisEventRecord{rec("1", ev("a")), rec("2", ev("b"))},
			output: func(event.Batch) ([]byte, error) {
				return []byte(`{"processed":1,"failed":[{"sequenceNumber":"99","error":"X"}]}`), nil
			},
			want:     []string{"1", "2"},
			wantExec: [][]string{{"1", "2"}},
		},
		{
			name:    "a failure reported twice is reported once",
			records: []events.KinesisEventRecord{rec("1", ev("a")), rec("2", ev("b"))},
			output: func(event.Batch) ([]byte, error) {
				return []byte(`{"processed":1,"failed":[{"sequenceNumber":"2","error":"X"},{"sequenceNumber":"2","error":"Y"}]}`), nil
			},
			want:     []string{"2"},
			wantExec: [][]string{{"1", "2"}},
		},
		{
			name: "records of two shards run in separate executions",
			records: []events.KinesisEventRecord{recOf("shardId-000000000001", "1", ev("a")),
				recOf("shardId-000000000002", "7", ev("b"))},
			want:     []string{},
			wantExec: [][]string{{"1"}, {"7"}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wf := &fakeWorkflow{output: tc.output}
			resp, err := consumer.New(wf).Handle(context.Background(), events.KinesisEvent{Records: tc.records})
			if err != nil {
				t.Fatalf("Handle returned an error: %v", err)
			}
			if resp.BatchItemFailures == nil {
				t.Error("BatchItemFailures is nil; want an empty list")
			}
			if got := failures(resp); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("failures = %v; want %v", got, tc.want)
			}
			var gotExec [][]string
			for _, b := range wf.batches(t) {
				var seqs []string
				for _, it := range b.Items {
					seqs = append(seqs, it.SequenceNumber)
				}
				gotExec = append(gotExec, seqs)
			}
			if !reflect.DeepEqual(gotExec, tc.wantExec) {
				t.Errorf("executions = %v; want %v", gotExec, tc.wantExec)
			}
		})
	}
}

// TestHandleBuildsTheBatch checks the execution input: batch id, shard, and each item's fields and event.
func TestHandleBuildsTheBatch(t *testing.T) {
	wf := &fakeWorkflow{}
	data := " " + ev("a") + "\n"
	recs := []events.KinesisEventRecord{rec("49590338271490256608559692538361571095921575989136588898", data),
		rec("49590338271490256608559692538361571095921575989136588899", ev("b"))}
	if _, err := consumer.New(wf).Handle(context.Background(), events.KinesisEvent{Records: recs}); err != nil {
		t.Fatal(err)
	}
	bs := wf.batches(t)
	if len(bs) != 1 {
		t.Fatalf("%d executions; want 1", len(bs))
	}
	b := bs[0]
	wantID := shard0 + ":49590338271490256608559692538361571095921575989136588898-49590338271490256608559692538361571095921575989136588899"
	if b.BatchID != wantID || b.ShardID != shard0 || len(b.Items) != 2 {
		t.Fatalf("batch = %q %q %d items; want %q %q 2", b.BatchID, b.ShardID, len(b.Items), wantID, shard0)
	}
	it := b.Items[0]
	if it.SequenceNumber != recs[0].Kinesis.SequenceNumber || it.PartitionKey != recs[0].Kinesis.PartitionKey ||
		!it.ArrivalTime.Equal(arrival) {
		t.Errorf("item = %+v", it)
	}
	var got, want map[string]any
	if err := json.Unmarshal(it.Event, &got); err != nil {
		t.Fatal(err)
	}
	_ = json.Unmarshal([]byte(data), &want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("event = %s; want %s", it.Event, data)
	}
}

// TestHandleSplitsLargeBatches checks that batches over the payload limit are split into executions within
// the limit that cover every record once, in order.
func TestHandleSplitsLargeBatches(t *testing.T) {
	pad := func(n int) string { return `"pad":"` + strings.Repeat("x", n) + `"` }
	tests := []struct {
		name  string
		limit int
		sizes []int // padding per record
		// wantTooLarge are the indexes of records larger than the limit on their own.
		wantTooLarge []int
		minExec      int
	}{
		{"many small records", 2000, repeat(40, 100), nil, 3},
		{"records of mixed sizes", 3000, []int{10, 2500, 10, 900, 900, 900, 10, 2000, 5}, nil, 4},
		{"a record over the limit alone", 1500, []int{10, 5000, 10, 10}, []int{1}, 1},
		{"the default limit", 0, repeat(30<<10, 10), nil, 3},
		{"a record near the limit", 0, []int{10, 96<<10 - 300, 10}, nil, 1},
		{"a record over the default limit", 0, []int{10, 96 << 10, 10}, []int{1}, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			limit := tc.limit
			var opts []consumer.Option
			if limit > 0 {
				opts = append(opts, consumer.WithMaxExecutionPayload(limit))
			} else {
				limit = consumer.DefaultMaxExecutionPayload
			}
			var recs []events.KinesisEventRecord
			for i, n := range tc.sizes {
				recs = append(recs, rec(fmt.Sprint(100+i), ev(fmt.Sprint("e", i), pad(n))))
			}
			wf := &fakeWorkflow{}
			resp, err := consumer.New(wf, opts...).Handle(context.Background(), events.KinesisEvent{Records: recs})
			if err != nil {
				t.Fatal(err)
			}
			wantFailed := []string{}
			tooLarge := map[string]bool{}
			for _, i := range tc.wantTooLarge {
				wantFailed = append(wantFailed, recs[i].Kinesis.SequenceNumber)
				tooLarge[recs[i].Kinesis.SequenceNumber] = true
			}
			if got := failures(resp); !reflect.DeepEqual(got, wantFailed) {
				t.Errorf("failures = %v; want %v", got, wantFailed)
			}
			if len(wf.inputs) < tc.minExec {
				t.Errorf("%d executions; want at least %d", len(wf.inputs), tc.minExec)
			}
			// Each input is within the limit, each record is in exactly one execution, and in order.
			var covered []string
			for i, b := range wf.batches(t) {
				if n := len(wf.inputs[i]); n > limit {
					t.Errorf("execution %d input is %d bytes; limit %d", i, n, limit)
				}
				first, last := b.Items[0].SequenceNumber, b.Items[len(b.Items)-1].SequenceNumber
				if want := shard0 + ":" + first + "-" + last; b.BatchID != want {
					t.Errorf("execution %d batchId = %q; want %q", i, b.BatchID, want)
				}
				for _, it := range b.Items {
					covered = append(covered, it.SequenceNumber)
				}
			}
			var want []string
			for _, r := range recs {
				if !tooLarge[r.Kinesis.SequenceNumber] {
					want = append(want, r.Kinesis.SequenceNumber)
				}
			}
			if !reflect.DeepEqual(covered, want) {
				t.Errorf("records covered by the executions = %v; want %v", covered, want)
			}
		})
	}
}

// TestHandleSplitPacksTightly checks that a split does not waste executions: each execution but the last
// would have gone over the limit with the next record.
func TestHandleSplitPacksTightly(t *testing.T) {
	var recs []events.KinesisEventRecord
	for i := range 50 {
		recs = append(recs, rec(fmt.Sprint(1000+i), ev(fmt.Sprint("e", i), `"pad":"`+strings.Repeat("y", 37*i)+`"`)))
	}
	const limit = 8000
	wf := &fakeWorkflow{}
	if _, err := consumer.New(wf, consumer.WithMaxExecutionPayload(limit)).Handle(context.Background(),
		events.KinesisEvent{Records: recs}); err != nil {
		t.Fatal(err)
	}
	bs := wf.batches(t)
	next := 0
	for i, b := range bs {
		next += len(b.Items)
		if i == len(bs)-1 {
			break
		}
		// Add the next record to this execution's batch and re-encode: it must not fit.
		r := recs[next].Kinesis
		b.Items = append(b.Items, event.BatchItem{SequenceNumber: r.SequenceNumber, PartitionKey: r.PartitionKey,
			ArrivalTime: r.ApproximateArrivalTimestamp.UTC(), Event: r.Data})
		b.BatchID = shard0 + ":" + b.Items[0].SequenceNumber + "-" + r.SequenceNumber
		grown, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		if len(grown) <= limit {
			t.Errorf("execution %d (%d bytes) had room for the next record (%d bytes with it)", i,
				len(wf.inputs[i]), len(grown))
		}
	}
}

// TestHandleCancelledContext checks that no execution starts after the context is done, and that the records
// are reported failed rather than the batch.
func TestHandleCancelledContext(t *testing.T) {
	wf := &fakeWorkflow{}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	resp, err := consumer.New(wf).Handle(ctx, events.KinesisEvent{Records: []events.KinesisEventRecord{
		rec("1", ev("a")), rec("2", ev("b"))}})
	if err != nil {
		t.Fatal(err)
	}
	if got := failures(resp); !reflect.DeepEqual(got, []string{"1", "2"}) || len(wf.inputs) != 0 {
		t.Errorf("with a cancelled context: failures %v, %d executions; want all failed, none run", got, len(wf.inputs))
	}
}

// TestHandleLimitIsInclusive checks the limit to the byte: an input of exactly the limit runs, one byte more
// does not.
func TestHandleLimitIsInclusive(t *testing.T) {
	recs := []events.KinesisEventRecord{rec("1", ev("a", `"pad":"`+strings.Repeat("z", 500)+`"`))}
	probe := &fakeWorkflow{}
	if _, err := consumer.New(probe).Handle(context.Background(), events.KinesisEvent{Records: recs}); err != nil {
		t.Fatal(err)
	}
	size := len(probe.inputs[0])
	tests := []struct {
		name       string
		limit      int
		wantFailed []string
	}{
		{"input of exactly the limit", size, []string{}},
		{"input one byte over the limit", size - 1, []string{"1"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wf := &fakeWorkflow{}
			resp, err := consumer.New(wf, consumer.WithMaxExecutionPayload(tc.limit)).Handle(context.Background(),
				events.KinesisEvent{Records: recs})
			if err != nil {
				t.Fatal(err)
			}
			if got := failures(resp); !reflect.DeepEqual(got, tc.wantFailed) {
				t.Errorf("failures = %v; want %v", got, tc.wantFailed)
			}
		})
	}
}

// workflowFunc adapts a function to consumer.Workflow.
type workflowFunc func(ctx context.Context, input []byte) ([]byte, error)

func (f workflowFunc) Execute(ctx context.Context, input []byte) ([]byte, error) {
	return f(ctx, input)
}

func repeat(n, times int) []int {
	out := make([]int, times)
	for i := range out {
		out[i] = n
	}
	return out
}

// BenchmarkHandle measures the consumer's own cost for a 100-record batch (the workflow does nothing).
func BenchmarkHandle(b *testing.B) {
	var recs []events.KinesisEventRecord
	for i := range 100 {
		recs = append(recs, rec(fmt.Sprint(1000+i), ev(fmt.Sprint("e", i), `"subject":"device-42"`)))
	}
	ok := []byte(`{"processed":100,"failed":[]}`)
	c := consumer.New(workflowFunc(func(context.Context, []byte) ([]byte, error) { return ok, nil }))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Handle(ctx, events.KinesisEvent{Records: recs}); err != nil {
			b.Fatal(err)
		}
	}
}

// validPageView returns a page_view event that passes its schema.
func validPageView(id string) string {
	return `{"specversion":"1.0","id":"` + id + `","source":"https://shop.example.com/web","type":"page_view",` +
		`"time":"2026-11-26T09:15:02Z","subject":"visitor-1","data":{"url":"https://shop.example.com/","session_id":"s-1"}}`
}

// TestWithValidator checks that records failing their schema are reported without reaching the workflow,
// and that the others still go through in order.
func TestWithValidator(t *testing.T) {
	reg, err := event.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	wf := &fakeWorkflow{}
	c := consumer.New(wf, consumer.WithValidator(reg))
	recs := []events.KinesisEventRecord{
		rec("101", validPageView("a")),
		rec("102", strings.Replace(validPageView("b"), `"session_id":"s-1"`, `"session_id":""`, 1)), // minLength
		rec("103", `{"specversion":"1.0","id":"c","type":"no_such_type"}`),
		rec("104", validPageView("d")),
		rec("105", `not json`),
	}
	resp, err := c.Handle(context.Background(), events.KinesisEvent{Records: recs})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := failures(resp), []string{"102", "103", "105"}; !reflect.DeepEqual(got, want) {
		t.Errorf("failures = %v, want %v", got, want)
	}
	bs := wf.batches(t)
	if len(bs) != 1 || len(bs[0].Items) != 2 || bs[0].Items[0].SequenceNumber != "101" || bs[0].Items[1].SequenceNumber != "104" {
		t.Fatalf("executions = %+v, want one with records 101 and 104", bs)
	}
}

// TestInvokeMatchesHandle checks that Invoke, which decodes the Lambda payload itself, answers as Handle does
// on the typed event, starts the same executions, and reuses its buffers safely across invocations.
func TestInvokeMatchesHandle(t *testing.T) {
	recs := []events.KinesisEventRecord{
		rec("201", ev("a")),
		rec("202", ev("b", `"fail":true`)),
		rec("203", `[1,2]`),
		recOf("shardId-000000000007", "204", ev("c", `"subject":"x\"y"`)),
	}
	payload, err := json.Marshal(events.KinesisEvent{Records: recs})
	if err != nil {
		t.Fatal(err)
	}
	typedWF, rawWF := &fakeWorkflow{}, &fakeWorkflow{}
	want, err := consumer.New(typedWF).Handle(context.Background(), events.KinesisEvent{Records: recs})
	if err != nil {
		t.Fatal(err)
	}
	c := consumer.New(rawWF)
	for range 3 {
		out, err := c.Invoke(context.Background(), payload)
		if err != nil {
			t.Fatalf("Invoke: %v", err)
		}
		var got events.KinesisEventResponse
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("response %s: %v", out, err)
		}
		if !reflect.DeepEqual(failures(got), failures(want)) {
			t.Errorf("Invoke failures = %v, Handle's = %v", failures(got), failures(want))
		}
	}
	if len(rawWF.inputs) != 3*len(typedWF.inputs) {
		t.Fatalf("Invoke started %d executions in 3 calls, Handle %d in one", len(rawWF.inputs), len(typedWF.inputs))
	}
	for i, in := range rawWF.inputs {
		if w := typedWF.inputs[i%len(typedWF.inputs)]; !bytes.Equal(in, w) {
			t.Errorf("execution %d input:\n%s\nwant:\n%s", i, in, w)
		}
	}
	for _, bad := range []string{`{"Records":"none"}`, `[`, `{"Records":[{"kinesis":{"data":"%%%"}}]}`} {
		if _, err := c.Invoke(context.Background(), []byte(bad)); err == nil || !strings.Contains(err.Error(), "not a Kinesis event") {
			t.Errorf("Invoke(%s) = %v, want an error saying it is not a Kinesis event", bad, err)
		}
	}
	out, err := c.Invoke(context.Background(), []byte(`{"Records":[]}`))
	if err != nil || string(out) != `{"batchItemFailures":[]}` {
		t.Errorf("empty batch: %s, %v", out, err)
	}
}
