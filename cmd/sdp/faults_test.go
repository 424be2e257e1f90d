package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/serverless-data-platform/sdp/analytics"
	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/internal/faults"
	"github.com/serverless-data-platform/sdp/stream/esm"
)

// faultProducer is a fake Producer: it calls put when set; otherwise it gives each record a sequence number
// from its data and remembers what it was given.
type faultProducer struct {
	calls [][]event.Record
	put   func(ctx context.Context, recs []event.Record) ([]event.PutResult, error)
}

func (p *faultProducer) PutRecords(ctx context.Context, recs []event.Record) ([]event.PutResult, error) {
	if p.put != nil {
		return p.put(ctx, recs)
	}
	p.calls = append(p.calls, append([]event.Record(nil), recs...))
	out := make([]event.PutResult, len(recs))
	for i, r := range recs {
		out[i] = event.PutResult{ShardID: "shardId-000000000000", SequenceNumber: "seq-" + string(r.Data)}
	}
	return out, nil
}

// written counts the records the fake took.
func (p *faultProducer) written() int {
	n := 0
	for _, c := range p.calls {
		n += len(c)
	}
	return n
}

// faultRecords returns n records whose data is their index.
func faultRecords(n int) []event.Record {
	recs := make([]event.Record, n)
	for i := range recs {
		recs[i] = event.Record{PartitionKey: "k" + strconv.Itoa(i), Data: []byte(strconv.Itoa(i))}
	}
	return recs
}

// TestFaultProducer checks the producer's throttles and lost answers at probabilities 0 and 1.
func TestFaultProducer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		spec        faults.Spec
		wantWritten int
		wantErr     bool
		wantCode    string // ErrorCode of every result
	}{
		{name: "throttle 0", spec: faults.Spec{faults.KinesisThrottle: 0, faults.KinesisTimeout: 0}, wantWritten: 5},
		{name: "throttle 1", spec: faults.Spec{faults.KinesisThrottle: 1}, wantCode: event.ErrCodeThroughputExceeded},
		{name: "timeout 1", spec: faults.Spec{faults.KinesisTimeout: 1}, wantWritten: 5, wantErr: true},
		{name: "wrapped, never fires", spec: faults.Spec{faults.KinesisTimeout: 0, faults.KinesisThrottle: 1e-12}, wantWritten: 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			inner := &faultProducer{}
			p := localFaults{faults.New(tt.spec, 1)}.producer(inner)
			res, err := p.PutRecords(context.Background(), faultRecords(5))
			if got := inner.written(); got != tt.wantWritten {
				t.Errorf("inner producer wrote %d records, want %d", got, tt.wantWritten)
			}
			if tt.wantErr {
				if !errors.Is(err, faults.ErrInjected) || !strings.Contains(err.Error(), "timed out") {
					t.Fatalf("PutRecords error = %v, want an injected timeout", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("PutRecords: %v", err)
			}
			if len(res) != 5 {
				t.Fatalf("got %d results, want 5", len(res))
			}
			for i, r := range res {
				if r.ErrorCode != tt.wantCode {
					t.Errorf("result %d ErrorCode = %q, want %q", i, r.ErrorCode, tt.wantCode)
				}
				if tt.wantCode == "" && r.SequenceNumber != "seq-"+strconv.Itoa(i) {
					t.Errorf("result %d SequenceNumber = %q, want seq-%d", i, r.SequenceNumber, i)
				}
				if tt.wantCode != "" && (r.SequenceNumber != "" || r.ErrorMessage == "") {
					t.Errorf("throttled result %d = %+v, want no sequence number and a message", i, r)
				}
			}
		})
	}
}

// TestFaultProducerPartial checks, with half the records throttled, that the inner producer gets exactly the
// others in their order and that every answer lands on its record.
func TestFaultProducerPartial(t *testing.T) {
	t.Parallel()
	inner := &faultProducer{}
	in := faults.New(faults.Spec{faults.KinesisThrottle: 0.5}, 11)
	p := localFaults{in}.producer(inner)
	recs := faultRecords(200)
	res, err := p.PutRecords(context.Background(), recs)
	if err != nil {
		t.Fatalf("PutRecords: %v", err)
	}
	if len(res) != len(recs) || len(inner.calls) != 1 {
		t.Fatalf("got %d results and %d inner calls, want %d and 1", len(res), len(inner.calls), len(recs))
	}
	var want []string
	throttled := 0
	for i, r := range res {
		switch {
		case r.SequenceNumber == "seq-"+strconv.Itoa(i) && r.ErrorCode == "":
			want = append(want, strconv.Itoa(i))
		case r.SequenceNumber == "" && r.ErrorCode == event.ErrCodeThroughputExceeded:
			throttled++
		default:
			t.Fatalf("result %d = %+v: neither its own sequence number nor the throttle code", i, r)
		}
	}
	var got []string
	for _, r := range inner.calls[0] {
		got = append(got, string(r.Data))
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("inner producer got %v, want the unthrottled records %v", got, want)
	}
	if int64(throttled) != in.Injected()[faults.KinesisThrottle] || throttled == 0 || throttled == len(recs) {
		t.Fatalf("%d records throttled, injector counted %d", throttled, in.Injected()[faults.KinesisThrottle])
	}
}

// TestFaultProducerInnerError checks that an error of the stream is passed on as it is.
func TestFaultProducerInnerError(t *testing.T) {
	t.Parallel()
	boom := errors.New("stream closed")
	inner := &faultProducer{put: func(context.Context, []event.Record) ([]event.PutResult, error) { return nil, boom }}
	p := localFaults{faults.New(faults.Spec{faults.KinesisTimeout: 1}, 1)}.producer(inner)
	if _, err := p.PutRecords(context.Background(), faultRecords(2)); !errors.Is(err, boom) {
		t.Fatalf("PutRecords error = %v, want the stream's", err)
	}
}

// faultReader is a fake Reader.
type faultReader struct {
	reads atomic.Int64
}

func (r *faultReader) ShardIDs() []string { return []string{"shardId-000000000000"} }

func (r *faultReader) ReadAfter(ctx context.Context, shardID, afterSeq string, limit int) ([]event.StreamRecord, error) {
	r.reads.Add(1)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return []event.StreamRecord{{ShardID: shardID, SequenceNumber: afterSeq + "1"}}, nil
}

// faultWaitReader is a fake Reader that can wait.
type faultWaitReader struct {
	faultReader
	waits atomic.Int64
}

func (r *faultWaitReader) Wait(ctx context.Context, shardID, afterSeq string) error {
	r.waits.Add(1)
	return nil
}

// TestFaultReader checks that a throttled read waits and still reads, and that Wait is kept, not added.
func TestFaultReader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		p        float64
		waiter   bool
		wantSlow bool
	}{
		{name: "throttle 1", p: 1, wantSlow: true},
		{name: "throttle 1 with waiter", p: 1, waiter: true, wantSlow: true},
		{name: "throttle 0", p: 0},
		{name: "throttle 0 with waiter", p: 0, waiter: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var inner esm.Reader = &faultReader{}
			if tt.waiter {
				inner = &faultWaitReader{}
			}
			in := faults.New(faults.Spec{faults.KinesisThrottle: tt.p}, 1)
			r := localFaults{in}.reader(inner)
			if _, ok := r.(esm.Waiter); ok != tt.waiter {
				t.Fatalf("wrapped reader is a Waiter: %v, want %v", ok, tt.waiter)
			}
			if tt.waiter {
				if err := r.(esm.Waiter).Wait(context.Background(), "s", ""); err != nil {
					t.Fatal(err)
				}
				if n := inner.(*faultWaitReader).waits.Load(); n != 1 {
					t.Fatalf("inner Wait called %d times, want 1", n)
				}
			}
			if ids := r.ShardIDs(); len(ids) != 1 || ids[0] != "shardId-000000000000" {
				t.Fatalf("ShardIDs() = %v", ids)
			}
			start := time.Now()
			recs, err := r.ReadAfter(context.Background(), "s", "4", 10)
			elapsed := time.Since(start)
			if err != nil || len(recs) != 1 || recs[0].SequenceNumber != "41" {
				t.Fatalf("ReadAfter = %v, %v; want the inner reader's record", recs, err)
			}
			// A lower bound only: the throttled read must have waited at least the minimum.
			if tt.wantSlow && elapsed < throttledReadMin {
				t.Errorf("throttled read took %v, want at least %v", elapsed, throttledReadMin)
			}
			if got := in.Injected()[faults.KinesisThrottle]; got != map[bool]int64{true: 1}[tt.wantSlow] {
				t.Errorf("throttles counted = %d", got)
			}
		})
	}
}

// TestFaultReaderCanceled checks that a throttled read gives up its wait when ctx ends and reports no
// throttle error of its own.
func TestFaultReaderCanceled(t *testing.T) {
	t.Parallel()
	inner := &faultReader{}
	r := localFaults{faults.New(faults.Spec{faults.KinesisThrottle: 1}, 1)}.reader(inner)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := r.ReadAfter(ctx, "s", "", 10)
	if !errors.Is(err, context.Canceled) || errors.Is(err, faults.ErrInjected) {
		t.Fatalf("ReadAfter error = %v, want the inner reader's context error", err)
	}
}

// faultTable is a fake curatedTable.
type faultTable struct {
	items map[string]event.Curated
	put   func(ctx context.Context, items []event.Curated) error
}

func (f *faultTable) Put(ctx context.Context, items []event.Curated) error {
	if f.put != nil {
		return f.put(ctx, items)
	}
	for _, it := range items {
		f.items[it.ID] = it
	}
	return nil
}

func (f *faultTable) Get(_ context.Context, id string) (event.Curated, bool, error) {
	it, ok := f.items[id]
	return it, ok, nil
}

func (f *faultTable) Count(context.Context) (int, error) { return len(f.items), nil }

func (f *faultTable) Scan(_ context.Context, fn func(event.Curated) bool) error {
	for _, it := range f.items {
		if !fn(it) {
			break
		}
	}
	return nil
}

// TestFaultCurated checks the table faults on Put, and that reads are the table's own.
func TestFaultCurated(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		spec      faults.Spec
		wantCount int
		wantErr   string
	}{
		{name: "throttle 1", spec: faults.Spec{faults.TableThrottle: 1}, wantCount: 0, wantErr: "ProvisionedThroughputExceededException"},
		{name: "timeout 1", spec: faults.Spec{faults.TableTimeout: 1}, wantCount: 2, wantErr: "timed out"},
		{name: "wrapped, never fires", spec: faults.Spec{faults.TableThrottle: 0, faults.TableTimeout: 1e-12}, wantCount: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			inner := &faultTable{items: map[string]event.Curated{}}
			tbl := localFaults{faults.New(tt.spec, 1)}.curated(inner)
			err := tbl.Put(context.Background(), []event.Curated{{ID: "a"}, {ID: "b"}})
			if tt.wantErr == "" && err != nil {
				t.Fatalf("Put: %v", err)
			}
			if tt.wantErr != "" && (!errors.Is(err, faults.ErrInjected) || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Fatalf("Put error = %v, want an injected one saying %q", err, tt.wantErr)
			}
			if n, _ := tbl.Count(context.Background()); n != tt.wantCount {
				t.Fatalf("table holds %d items, want %d", n, tt.wantCount)
			}
			if _, ok, _ := tbl.Get(context.Background(), "a"); ok != (tt.wantCount > 0) {
				t.Fatalf("Get(a) found = %v", ok)
			}
		})
	}
}

// TestFaultCuratedInnerError checks that the table's own error comes back untouched, with no lost answer
// rolled on top.
func TestFaultCuratedInnerError(t *testing.T) {
	t.Parallel()
	boom := errors.New("disk full")
	inner := &faultTable{put: func(context.Context, []event.Curated) error { return boom }}
	in := faults.New(faults.Spec{faults.TableTimeout: 1}, 1)
	if err := (localFaults{in}).curated(inner).Put(context.Background(), nil); !errors.Is(err, boom) {
		t.Fatalf("Put error = %v, want the table's", err)
	}
	if n := in.Injected()[faults.TableTimeout]; n != 0 {
		t.Fatalf("%d timeouts injected on a failed Put", n)
	}
}

// faultAggregates is a fake analytics.Store that counts each fact id once.
type faultAggregates struct {
	seen map[string]bool
}

func (s *faultAggregates) Apply(_ context.Context, facts []event.Fact) (int, error) {
	n := 0
	for _, f := range facts {
		if !s.seen[f.ID] {
			s.seen[f.ID] = true
			n++
		}
	}
	return n, nil
}

func (s *faultAggregates) Query(context.Context, analytics.Query) ([]analytics.Window, error) {
	return nil, nil
}

// TestFaultAggregates checks the table faults on Apply.
func TestFaultAggregates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		spec    faults.Spec
		wantN   int
		wantErr bool
		wantSet int // facts the store counted
	}{
		{name: "throttle 1", spec: faults.Spec{faults.TableThrottle: 1}, wantErr: true, wantSet: 0},
		{name: "timeout 1", spec: faults.Spec{faults.TableTimeout: 1}, wantErr: true, wantSet: 3},
		{name: "wrapped, never fires", spec: faults.Spec{faults.TableThrottle: 0, faults.TableTimeout: 1e-12}, wantN: 3, wantSet: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			inner := &faultAggregates{seen: map[string]bool{}}
			s := localFaults{faults.New(tt.spec, 1)}.aggregates(inner)
			n, err := s.Apply(context.Background(), []event.Fact{{ID: "a"}, {ID: "b"}, {ID: "c"}})
			if (err != nil) != tt.wantErr || (err != nil && !errors.Is(err, faults.ErrInjected)) {
				t.Fatalf("Apply error = %v, want an injected one: %v", err, tt.wantErr)
			}
			if n != tt.wantN {
				t.Errorf("Apply counted %d, want %d", n, tt.wantN)
			}
			if len(inner.seen) != tt.wantSet {
				t.Errorf("store counted %d facts, want %d", len(inner.seen), tt.wantSet)
			}
			if _, err := s.Query(context.Background(), analytics.Query{}); err != nil {
				t.Errorf("Query: %v", err)
			}
		})
	}
}

// faultWorkflow is a fake Workflow that counts its executions.
type faultWorkflow struct {
	runs    atomic.Int64
	execute func(ctx context.Context, input []byte) ([]byte, error)
}

func (w *faultWorkflow) Execute(ctx context.Context, input []byte) ([]byte, error) {
	w.runs.Add(1)
	if w.execute != nil {
		return w.execute(ctx, input)
	}
	return append([]byte("out:"), input...), nil
}

// TestFaultWorkflow checks failed and timed-out executions.
func TestFaultWorkflow(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		spec    faults.Spec
		wantErr string
	}{
		{name: "wrapped, never fires", spec: faults.Spec{faults.WorkflowFail: 0, faults.WorkflowTimeout: 1e-12}},
		{name: "timeout 1", spec: faults.Spec{faults.WorkflowTimeout: 1}, wantErr: "timed out"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			inner := &faultWorkflow{}
			w := localFaults{faults.New(tt.spec, 1)}.workflow(inner)
			out, err := w.Execute(context.Background(), []byte("in"))
			if inner.runs.Load() != 1 {
				t.Fatalf("inner workflow ran %d times, want 1", inner.runs.Load())
			}
			if tt.wantErr == "" {
				if err != nil || string(out) != "out:in" {
					t.Fatalf("Execute = %q, %v; want the inner output", out, err)
				}
				return
			}
			if out != nil || !errors.Is(err, faults.ErrInjected) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Execute = %q, %v; want no output and an injected error saying %q", out, err, tt.wantErr)
			}
		})
	}
}

// TestFaultWorkflowFail checks that failed executions fail both before running and after, and never hand
// back output.
func TestFaultWorkflowFail(t *testing.T) {
	t.Parallel()
	inner := &faultWorkflow{}
	w := localFaults{faults.New(faults.Spec{faults.WorkflowFail: 1}, 1)}.workflow(inner)
	const calls = 64
	for i := range calls {
		out, err := w.Execute(context.Background(), []byte("in"))
		if out != nil || !errors.Is(err, faults.ErrInjected) || !strings.Contains(err.Error(), "execution failed") {
			t.Fatalf("call %d: Execute = %q, %v; want a failed execution", i, out, err)
		}
	}
	// With a fair coin, 64 calls all on one side happen with probability 2^-63; the seed makes it fixed.
	if runs := inner.runs.Load(); runs == 0 || runs == calls {
		t.Fatalf("inner workflow ran in %d of %d failed executions, want some but not all", runs, calls)
	}
}

// TestFaultConsumer checks that a crash comes after the function ran and drops its response.
func TestFaultConsumer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		p         float64
		wantCrash bool
	}{
		{name: "crash 1", p: 1, wantCrash: true},
		{name: "crash 0", p: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var ran atomic.Int64
			fn := func(ctx context.Context, ev events.KinesisEvent) (events.KinesisEventResponse, error) {
				ran.Add(1)
				return events.KinesisEventResponse{BatchItemFailures: []events.KinesisBatchItemFailure{{ItemIdentifier: "9"}}}, nil
			}
			wrapped := localFaults{faults.New(faults.Spec{faults.ConsumerCrash: tt.p}, 1)}.consumer(fn)
			ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "req-1"})
			resp, err := wrapped(ctx, events.KinesisEvent{})
			if ran.Load() != 1 {
				t.Fatalf("function ran %d times, want 1", ran.Load())
			}
			if !tt.wantCrash {
				if err != nil || len(resp.BatchItemFailures) != 1 {
					t.Fatalf("invoke = %+v, %v; want the function's response", resp, err)
				}
				return
			}
			if len(resp.BatchItemFailures) != 0 {
				t.Errorf("crashed invoke returned a response: %+v", resp)
			}
			if !errors.Is(err, faults.ErrInjected) || !strings.Contains(err.Error(), "Runtime.ExitError") ||
				!strings.Contains(err.Error(), "RequestId: req-1") {
				t.Fatalf("crash error = %v, want Runtime.ExitError naming the request", err)
			}
		})
	}
}

// TestFaultNoWrapper checks that every wrapper returns its argument itself when no point it handles can
// fire: with a nil Injector, an empty one, or one whose points concern other wrappers.
func TestFaultNoWrapper(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   *faults.Injector
	}{
		{name: "nil", in: nil},
		{name: "zero", in: &faults.Injector{}},
		{name: "empty spec", in: faults.New(faults.Spec{}, 1)},
		{name: "all zero", in: faults.New(faults.Spec{faults.KinesisThrottle: 0, faults.KinesisTimeout: 0,
			faults.TableThrottle: 0, faults.TableTimeout: 0, faults.WorkflowFail: 0, faults.WorkflowTimeout: 0,
			faults.ConsumerCrash: 0}, 1)},
		{name: "only queue", in: faults.New(faults.Spec{faults.QueueThrottle: 1}, 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := localFaults{tt.in}
			var (
				prod = &faultProducer{}
				rd   = &faultWaitReader{}
				tbl  = &faultTable{}
				agg  = &faultAggregates{}
				wf   = &faultWorkflow{}
			)
			fn := esm.Function(func(context.Context, events.KinesisEvent) (events.KinesisEventResponse, error) {
				return events.KinesisEventResponse{}, nil
			})
			checks := []struct {
				what      string
				got, want any
			}{
				{"producer", f.producer(prod), prod},
				{"reader", f.reader(rd), rd},
				{"curated", f.curated(tbl), tbl},
				{"aggregates", f.aggregates(agg), agg},
				{"workflow", f.workflow(wf), wf},
			}
			for _, c := range checks {
				if c.got != c.want {
					t.Errorf("%s was wrapped: %T", c.what, c.got)
				}
			}
			// Functions do not compare: the same function is one that runs the original.
			if got := f.consumer(fn); fmt.Sprintf("%p", got) != fmt.Sprintf("%p", fn) {
				t.Errorf("consumer was wrapped")
			}
		})
	}
}

// BenchmarkFaultProducer measures the producer wrapper on a full PutRecords call with a few throttles.
func BenchmarkFaultProducer(b *testing.B) {
	inner := &faultProducer{put: func(_ context.Context, recs []event.Record) ([]event.PutResult, error) {
		return make([]event.PutResult, len(recs)), nil
	}}
	p := localFaults{faults.New(faults.Spec{faults.KinesisThrottle: 0.01}, 1)}.producer(inner)
	recs := faultRecords(event.MaxRecordsPerPut)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := p.PutRecords(ctx, recs); err != nil {
			b.Fatal(err)
		}
	}
}
