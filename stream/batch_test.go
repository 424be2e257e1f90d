package stream

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// kinesisEvent builds an event with one record per partition key; record i has sequence number "seq-i".
func kinesisEvent(keys ...string) events.KinesisEvent {
	var ev events.KinesisEvent
	for i, k := range keys {
		ev.Records = append(ev.Records, events.KinesisEventRecord{
			EventSourceArn: "arn:aws:kinesis:us-east-1:123456789012:stream/events",
			Kinesis:        events.KinesisRecord{PartitionKey: k, SequenceNumber: "seq-" + strconv.Itoa(i), Data: []byte(strconv.Itoa(i))},
		})
	}
	return ev
}

// recordIndex returns the index encoded in a test record's data.
func recordIndex(t *testing.T, data []byte) int {
	t.Helper()
	i, err := strconv.Atoi(string(data))
	if err != nil {
		t.Errorf("record data %q: %v", data, err)
	}
	return i
}

// calls records which items a handler ran, safely from many goroutines.
type calls struct {
	mu  sync.Mutex
	ran []int
}

func (c *calls) add(i int) {
	c.mu.Lock()
	c.ran = append(c.ran, i)
	c.mu.Unlock()
}

func (c *calls) has(i int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, r := range c.ran {
		if r == i {
			return true
		}
	}
	return false
}

// TestProcessKinesis covers failures, panics, stopping and cancellation, sequentially and concurrently.
func TestProcessKinesis(t *testing.T) {
	t.Parallel()
	// Each case names the records' partition keys (record i gets sequence number "seq-i"), which records fail
	// or panic, and what must be reported and must not run.
	tests := []struct {
		name      string
		keys      []string
		fail      []int // indexes whose handler returns an error
		panics    []int // indexes whose handler panics
		opts      []Option
		cancel    bool
		want      []string // reported sequence numbers
		notRun    []int    // indexes whose handler must not run
		wantPanic bool
	}{
		{name: "all succeed", keys: []string{"a", "b", "a"}, want: []string{}},
		{name: "empty batch", keys: nil, want: []string{}},
		{name: "each failure reported", keys: []string{"a", "b", "a", "b"}, fail: []int{1, 3}, want: []string{"seq-1", "seq-3"}},
		{name: "panic is a failure", keys: []string{"a", "b", "c"}, panics: []int{1}, want: []string{"seq-1"}, wantPanic: true},
		{
			name: "stop on first failure", keys: []string{"a", "b", "c", "d"}, fail: []int{1},
			opts: []Option{WithStopOnFirstFailure()}, want: []string{"seq-1", "seq-2", "seq-3"}, notRun: []int{2, 3},
		},
		{
			name: "stop on first panic", keys: []string{"a", "b", "c"}, panics: []int{0},
			opts: []Option{WithStopOnFirstFailure()}, want: []string{"seq-0", "seq-1", "seq-2"}, notRun: []int{1, 2}, wantPanic: true,
		},
		{
			name: "concurrent failures reported", keys: []string{"a", "b", "c", "a", "b", "c"}, fail: []int{0, 4},
			opts: []Option{WithConcurrency(3)}, want: []string{"seq-0", "seq-4"},
		},
		{
			name: "concurrent panic", keys: []string{"a", "b", "a", "b"}, panics: []int{3},
			opts: []Option{WithConcurrency(2)}, want: []string{"seq-3"}, wantPanic: true,
		},
		{
			name: "concurrent stop skips the rest of the failing key", keys: []string{"a", "a", "a"}, fail: []int{0},
			opts: []Option{WithConcurrency(4), WithStopOnFirstFailure()}, want: []string{"seq-0", "seq-1", "seq-2"}, notRun: []int{1, 2},
		},
		{name: "cancelled context", keys: []string{"a", "b"}, cancel: true, want: []string{"seq-0", "seq-1"}, notRun: []int{0, 1}},
		{
			name: "cancelled context concurrent", keys: []string{"a", "b"}, cancel: true, opts: []Option{WithConcurrency(2)},
			want: []string{"seq-0", "seq-1"}, notRun: []int{0, 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tt.cancel {
				cancel()
			}
			var ran calls
			h := func(_ context.Context, r *events.KinesisEventRecord) error {
				i := recordIndex(t, r.Kinesis.Data)
				ran.add(i)
				for _, p := range tt.panics {
					if p == i {
						panic(fmt.Sprintf("boom %d", i))
					}
				}
				for _, f := range tt.fail {
					if f == i {
						return fmt.Errorf("record %d failed", i)
					}
				}
				return nil
			}
			// WithOnFailure runs on this goroutine after the batch, so plain variables are safe here.
			var reported []string
			var sawPanic bool
			opts := append([]Option{WithOnFailure(func(id string, err error) {
				reported = append(reported, id)
				var pe *PanicError
				if errors.As(err, &pe) {
					sawPanic = true
					if !strings.Contains(err.Error(), "boom") || len(pe.Stack) == 0 {
						t.Errorf("panic error %q lacks the panic value or stack", err)
					}
				}
			})}, tt.opts...)
			resp := ProcessKinesis(ctx, kinesisEvent(tt.keys...), h, opts...)
			got := []string{}
			for _, f := range resp.BatchItemFailures {
				got = append(got, f.ItemIdentifier)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("failures = %v, want %v", got, tt.want)
			}
			if resp.BatchItemFailures == nil {
				t.Error("BatchItemFailures is nil, want an empty list")
			}
			if len(tt.want) > 0 && !reflect.DeepEqual(reported, tt.want) {
				t.Errorf("WithOnFailure saw %v, want %v", reported, tt.want)
			}
			if sawPanic != tt.wantPanic {
				t.Errorf("saw panic = %v, want %v", sawPanic, tt.wantPanic)
			}
			for _, i := range tt.notRun {
				if ran.has(i) {
					t.Errorf("handler ran record %d", i)
				}
			}
		})
	}
}

// TestProcessKinesisOrderPerKey checks that under concurrency each key's records run in stream order, one at a
// time, while different keys overlap.
func TestProcessKinesisOrderPerKey(t *testing.T) {
	t.Parallel()
	// 200 records over 4 keys, interleaved irregularly so that each key's records are spread over the batch.
	keys := []string{"k0", "k1", "k2", "k3"}
	var all []string
	for i := 0; i < 200; i++ {
		all = append(all, keys[(i*7+i/5)%len(keys)])
	}
	ev := kinesisEvent(all...)

	// seen records the order each key ran in; inFlight and running detect overlap within and across keys.
	var mu sync.Mutex
	seen := map[string][]int{}
	inFlight := map[string]int{}
	overlap := false // two keys ran at the same time
	running := 0
	h := func(_ context.Context, r *events.KinesisEventRecord) error {
		i := recordIndex(t, r.Kinesis.Data)
		k := r.Kinesis.PartitionKey
		mu.Lock()
		inFlight[k]++
		running++
		if inFlight[k] > 1 {
			t.Errorf("key %s has %d records in flight", k, inFlight[k])
		}
		if running > 1 {
			overlap = true
		}
		seen[k] = append(seen[k], i)
		mu.Unlock()
		time.Sleep(50 * time.Microsecond) // widen the window in which records could overlap
		mu.Lock()
		inFlight[k]--
		running--
		mu.Unlock()
		return nil
	}
	resp := ProcessKinesis(context.Background(), ev, h, WithConcurrency(4))
	if len(resp.BatchItemFailures) != 0 {
		t.Fatalf("unexpected failures %v", resp.BatchItemFailures)
	}
	for _, k := range keys {
		var want []int
		for i, rk := range all {
			if rk == k {
				want = append(want, i)
			}
		}
		if !reflect.DeepEqual(seen[k], want) {
			t.Errorf("key %s ran %v, want %v", k, seen[k], want)
		}
	}
	if !overlap {
		t.Error("no two keys ever ran at the same time under WithConcurrency(4)")
	}
}

// TestProcessKinesisKeysInParallel proves keys run in parallel: the first record of each key waits for the
// other key's first record to start, which only a parallel run can satisfy.
func TestProcessKinesisKeysInParallel(t *testing.T) {
	t.Parallel()
	started := map[string]chan struct{}{"a": make(chan struct{}), "b": make(chan struct{})}
	other := map[string]string{"a": "b", "b": "a"}
	h := func(_ context.Context, r *events.KinesisEventRecord) error {
		k := r.Kinesis.PartitionKey
		if recordIndex(t, r.Kinesis.Data) > 1 {
			return nil
		}
		close(started[k])
		select {
		case <-started[other[k]]:
			return nil
		case <-time.After(10 * time.Second):
			return errors.New("the other key never started")
		}
	}
	resp := ProcessKinesis(context.Background(), kinesisEvent("a", "b", "a", "b"), h, WithConcurrency(2))
	if len(resp.BatchItemFailures) != 0 {
		t.Fatalf("failures %v: keys did not run in parallel", resp.BatchItemFailures)
	}
}

// TestProcessKinesisConcurrentStop checks that with concurrency and stop on first failure, the reported
// records are exactly those from the first failure on, and the failing key's later records do not run.
func TestProcessKinesisConcurrentStop(t *testing.T) {
	t.Parallel()
	// 0:a ok, 1:b ok, 2:a fails (after 1 is done), 3:b, 4:a (must not run), 5:b.
	ev := kinesisEvent("a", "b", "a", "b", "a", "b")
	oneDone := make(chan struct{})
	var ran calls
	h := func(_ context.Context, r *events.KinesisEventRecord) error {
		i := recordIndex(t, r.Kinesis.Data)
		ran.add(i)
		switch i {
		case 1:
			close(oneDone)
		case 2:
			select {
			case <-oneDone:
			case <-time.After(10 * time.Second):
				t.Error("record 1 never finished")
			}
			return errors.New("fail")
		}
		return nil
	}
	resp := ProcessKinesis(context.Background(), ev, h, WithConcurrency(2), WithStopOnFirstFailure())
	var got []string
	for _, f := range resp.BatchItemFailures {
		got = append(got, f.ItemIdentifier)
	}
	if want := []string{"seq-2", "seq-3", "seq-4", "seq-5"}; !reflect.DeepEqual(got, want) {
		t.Errorf("failures = %v, want %v", got, want)
	}
	if ran.has(4) {
		t.Error("record 4 ran after an earlier record of its key failed")
	}
}

// sqsEvent builds an event with n messages "m0".."mn-1" from the given queue ARN.
func sqsEvent(arn string, n int) events.SQSEvent {
	var ev events.SQSEvent
	for i := 0; i < n; i++ {
		ev.Records = append(ev.Records, events.SQSMessage{
			MessageId:      "m" + strconv.Itoa(i),
			Body:           strconv.Itoa(i),
			EventSourceARN: arn,
			Attributes:     map[string]string{"MessageGroupId": "g" + strconv.Itoa(i%2)},
		})
	}
	return ev
}

// TestProcessSQS covers standard and FIFO queues.
func TestProcessSQS(t *testing.T) {
	t.Parallel()
	const (
		standard = "arn:aws:sqs:us-east-1:123456789012:work"
		fifo     = "arn:aws:sqs:us-east-1:123456789012:work.fifo"
	)
	tests := []struct {
		name   string
		arn    string
		n      int
		fail   []int
		panics []int
		opts   []Option
		want   []string
		notRun []int
	}{
		{name: "all succeed", arn: standard, n: 3, want: []string{}},
		{name: "standard reports each failure", arn: standard, n: 4, fail: []int{0, 2}, want: []string{"m0", "m2"}},
		{name: "standard concurrent", arn: standard, n: 6, fail: []int{5}, opts: []Option{WithConcurrency(3)}, want: []string{"m5"}},
		{name: "standard panic", arn: standard, n: 3, panics: []int{2}, want: []string{"m2"}},
		// FIFO queues stop at the first failure whatever the options say.
		{name: "fifo stops at first failure", arn: fifo, n: 5, fail: []int{2, 4}, want: []string{"m2", "m3", "m4"}, notRun: []int{3, 4}},
		{
			name: "fifo ignores concurrency", arn: fifo, n: 5, fail: []int{1}, opts: []Option{WithConcurrency(4)},
			want: []string{"m1", "m2", "m3", "m4"}, notRun: []int{2, 3, 4},
		},
		{name: "fifo panic stops", arn: fifo, n: 3, panics: []int{0}, want: []string{"m0", "m1", "m2"}, notRun: []int{1, 2}},
		{name: "fifo all succeed", arn: fifo, n: 3, want: []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var ran calls
			var order []int // only appended to in FIFO cases, which run sequentially
			h := func(_ context.Context, m *events.SQSMessage) error {
				i, _ := strconv.Atoi(m.Body)
				ran.add(i)
				if tt.arn == fifo {
					order = append(order, i)
				}
				for _, p := range tt.panics {
					if p == i {
						panic("boom")
					}
				}
				for _, f := range tt.fail {
					if f == i {
						return errors.New("fail")
					}
				}
				return nil
			}
			resp := ProcessSQS(context.Background(), sqsEvent(tt.arn, tt.n), h, tt.opts...)
			got := []string{}
			for _, f := range resp.BatchItemFailures {
				got = append(got, f.ItemIdentifier)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("failures = %v, want %v", got, tt.want)
			}
			for _, i := range tt.notRun {
				if ran.has(i) {
					t.Errorf("handler ran message %d", i)
				}
			}
			for j := 1; j < len(order); j++ {
				if order[j] != order[j-1]+1 {
					t.Errorf("FIFO messages ran out of order: %v", order)
				}
			}
		})
	}
}

// BenchmarkProcessKinesis measures the processor's own cost on a 100-record batch with a no-op handler.
func BenchmarkProcessKinesis(b *testing.B) {
	keys := make([]string, 100)
	for i := range keys {
		keys[i] = "k" + strconv.Itoa(i%10)
	}
	ev := kinesisEvent(keys...)
	h := func(context.Context, *events.KinesisEventRecord) error { return nil }
	for _, c := range []int{1, 4} {
		b.Run("concurrency="+strconv.Itoa(c), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				ProcessKinesis(context.Background(), ev, h, WithConcurrency(c))
			}
		})
	}
}
