package kinesis_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/stream/kinesis"
	"github.com/serverless-data-platform/sdp/stream/kinesis/kpl"
)

// recs returns n records with keys key-(i%keys) and data of size bytes.
func recs(n, keys, size int) []event.Record {
	out := make([]event.Record, n)
	for i := range out {
		d := bytes.Repeat([]byte{byte('a' + i%26)}, size)
		out[i] = event.Record{PartitionKey: fmt.Sprintf("key-%d", i%keys), Data: d}
	}
	return out
}

// fast is the options of a producer whose retries do not wait long and whose rate limiter is off.
func fast(extra ...kinesis.ProducerOption) []kinesis.ProducerOption {
	return append([]kinesis.ProducerOption{kinesis.WithBackoff(time.Millisecond, 2*time.Millisecond), kinesis.WithShardRateLimit(0, 0)}, extra...)
}

func TestProducerSplitsCalls(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		recs      []event.Record
		wantCalls []int // entries per call
	}{
		{"one call", recs(10, 3, 10), []int{10}},
		{"by record count", recs(1201, 7, 10), []int{500, 500, 201}},
		// Five records of 1 MiB - 10 bytes (with their keys) fill 5 MiB but for 50 bytes.
		{"by bytes", recs(12, 12, 1<<20-15), []int{5, 5, 2}},
		// Then records of 6 bytes: 8 more fit the first call.
		{"by bytes then count", append(recs(5, 5, 1<<20-15), recs(600, 3, 1)...), []int{13, 500, 92}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			m := newMemStream(2)
			p, err := kinesis.NewProducer(m, "events", fast()...)
			if err != nil {
				t.Fatal(err)
			}
			res, err := p.PutRecords(context.Background(), c.recs)
			if err != nil {
				t.Fatal(err)
			}
			var calls []int
			for _, keys := range m.putCalls {
				calls = append(calls, len(keys))
			}
			if fmt.Sprint(calls) != fmt.Sprint(c.wantCalls) {
				t.Errorf("calls carried %v entries, want %v", calls, c.wantCalls)
			}
			for i, r := range res {
				if r.SequenceNumber == "" {
					t.Fatalf("result %d = %+v", i, r)
				}
			}
			if m.listCalls != 0 {
				t.Errorf("ListShards called %d times with the limiter and aggregation off", m.listCalls)
			}
		})
	}
}

func TestProducerRetriesOnlyFailedEntries(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name        string
		attempts    int
		fail        func(call, j int, e types.PutRecordsRequestEntry) string
		wantCalls   []int
		wantFailed  int
		failedCode  string
		wantErrPart string
	}{
		{
			name: "throttled entries are sent again until taken", attempts: 5,
			// Entries of keys key-0 and key-3 fail on the first two calls.
			fail: func(call, _ int, e types.PutRecordsRequestEntry) string {
				if call < 2 && (aws.ToString(e.PartitionKey) == "key-0" || aws.ToString(e.PartitionKey) == "key-3") {
					return event.ErrCodeThroughputExceeded
				}
				return ""
			},
			wantCalls: []int{20, 8, 8},
		},
		{
			name: "internal failures are sent again", attempts: 5,
			fail: func(call, j int, _ types.PutRecordsRequestEntry) string {
				if call == 0 && j%2 == 0 {
					return event.ErrCodeInternalFailure
				}
				return ""
			},
			wantCalls: []int{20, 10},
		},
		{
			name: "attempts run out", attempts: 3,
			fail: func(_, j int, e types.PutRecordsRequestEntry) string {
				if aws.ToString(e.PartitionKey) == "key-1" {
					return event.ErrCodeThroughputExceeded
				}
				return ""
			},
			wantCalls: []int{20, 4, 4}, wantFailed: 4, failedCode: event.ErrCodeThroughputExceeded,
		},
		{
			name: "other codes are not retried", attempts: 5,
			fail: func(call, j int, _ types.PutRecordsRequestEntry) string {
				if j == 0 {
					return "KMSAccessDeniedException"
				}
				return ""
			},
			wantCalls: []int{20}, wantFailed: 1, failedCode: "KMSAccessDeniedException",
		},
		{
			name: "every entry throttled", attempts: 2,
			fail:      func(int, int, types.PutRecordsRequestEntry) string { return event.ErrCodeThroughputExceeded },
			wantCalls: []int{20, 20}, wantFailed: 20, failedCode: event.ErrCodeThroughputExceeded,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			m := newMemStream(2)
			m.failEntry = c.fail
			p, _ := kinesis.NewProducer(m, "arn:aws:kinesis:us-east-1:000000000000:stream/events", fast(kinesis.WithMaxAttempts(c.attempts))...)
			in := recs(20, 5, 8)
			res, err := p.PutRecords(context.Background(), in)
			if err != nil {
				t.Fatal(err)
			}
			var calls []int
			for _, keys := range m.putCalls {
				calls = append(calls, len(keys))
			}
			if fmt.Sprint(calls) != fmt.Sprint(c.wantCalls) {
				t.Errorf("calls carried %v entries, want %v", calls, c.wantCalls)
			}
			failed := 0
			for i, r := range res {
				if r.SequenceNumber == "" {
					failed++
					if r.ErrorCode != c.failedCode {
						t.Errorf("result %d has code %q, want %q", i, r.ErrorCode, c.failedCode)
					}
				}
			}
			if failed != c.wantFailed {
				t.Errorf("%d records not taken, want %d", failed, c.wantFailed)
			}
			// Every taken record is in the stream once.
			if n := stored(m); n != len(in)-failed {
				t.Errorf("the stream holds %d records, want %d", n, len(in)-failed)
			}
		})
	}
}

// stored counts the records of every shard.
func stored(m *memStream) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, s := range m.shards {
		n += len(s)
	}
	return n
}

func TestProducerCallErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		recs      []event.Record
		failCall  func(call int) error
		wantErr   string // "" when the call returns results
		wantCalls int
		wantCodes map[int]string // results that carry an error code, by index
	}{
		{"stream not found", recs(3, 3, 1), func(int) error { return apiError("ResourceNotFoundException") },
			"ResourceNotFoundException", 1, nil},
		{"throttled call is retried", recs(3, 3, 1), func(call int) error {
			if call < 2 {
				return apiError("ProvisionedThroughputExceededException")
			}
			return nil
		}, "", 3, nil},
		{"second call fails after the first was taken", recs(501, 3, 1), func(call int) error {
			if call == 1 {
				return apiError("AccessDeniedException")
			}
			return nil
		}, "", 2, map[int]string{500: event.ErrCodeInternalFailure}},
		{"invalid record refused before sending", []event.Record{{PartitionKey: "k", Data: make([]byte, 1<<20)}}, nil,
			"record 0: 1048577 bytes of data and partition key", 0, nil},
		{"empty call refused", nil, nil, "no records", 0, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			m := newMemStream(2)
			m.failCall = c.failCall
			p, _ := kinesis.NewProducer(m, "events", fast(kinesis.WithMaxAttempts(4))...)
			res, err := p.PutRecords(context.Background(), c.recs)
			if len(m.putCalls) != c.wantCalls {
				t.Errorf("%d calls, want %d", len(m.putCalls), c.wantCalls)
			}
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) || !strings.Contains(err.Error(), "stream events") || res != nil {
					t.Fatalf("PutRecords = %d results, %v; want an error naming the stream and %q", len(res), err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for i, r := range res {
				if code := c.wantCodes[i]; r.ErrorCode != code || (code == "") != (r.SequenceNumber != "") {
					t.Errorf("result %d = %+v, want code %q", i, r, code)
				}
			}
		})
	}
	var invalid *kinesis.Producer
	if _, err := kinesis.NewProducer(nil, "events"); !errors.Is(err, kinesis.ErrInvalidArgument) {
		t.Errorf("NewProducer(nil) = %v, %v", invalid, err)
	}
}

func TestProducerStopsWhenContextEnds(t *testing.T) {
	t.Parallel()
	m := newMemStream(2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m.failEntry = func(call, j int, _ types.PutRecordsRequestEntry) string {
		if call == 2 {
			cancel()
		}
		if j < 3 {
			return event.ErrCodeThroughputExceeded
		}
		return ""
	}
	p, _ := kinesis.NewProducer(m, "events", kinesis.WithBackoff(time.Hour, time.Hour), kinesis.WithShardRateLimit(0, 0), kinesis.WithMaxAttempts(100))
	done := make(chan struct{})
	var res []event.PutResult
	var err error
	go func() {
		res, err = p.PutRecords(ctx, recs(10, 10, 1))
		close(done)
	}()
	// The first retry waits an hour unless ctx ends: end it.
	cancel()
	<-done
	if err != nil {
		t.Fatal(err)
	}
	if len(m.putCalls) != 1 {
		t.Errorf("%d calls after ctx ended, want the first only", len(m.putCalls))
	}
	for i, r := range res {
		if (i < 3) != (r.ErrorCode == event.ErrCodeThroughputExceeded) {
			t.Errorf("result %d = %+v", i, r)
		}
	}
}

func TestProducerAggregation(t *testing.T) {
	t.Parallel()
	m := newMemStream(3)
	p, _ := kinesis.NewProducer(m, "events", fast(kinesis.WithAggregation(true))...)
	in := recs(300, 17, 100)
	res, err := p.PutRecords(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.putCalls) != 1 || len(m.putCalls[0]) != 3 {
		t.Fatalf("calls %v; want one call of one aggregated record per shard", m.putCalls)
	}
	// De-aggregating the entries gives back every record, each on the shard of its own key.
	byShard := map[string]string{}
	var got []kpl.Record
	for _, e := range m.entries {
		sub, err := kpl.Deaggregate(aws.ToString(e.PartitionKey), e.Data)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, sub...)
	}
	if len(got) != len(in) {
		t.Fatalf("%d sub-records, want %d", len(got), len(in))
	}
	for i, r := range res {
		if r.SequenceNumber == "" {
			t.Fatalf("result %d = %+v", i, r)
		}
		if prev, ok := byShard[r.ShardID]; ok && prev != r.SequenceNumber {
			t.Errorf("records of shard %s have sequence numbers %s and %s; an aggregate shares one", r.ShardID, prev, r.SequenceNumber)
		}
		byShard[r.ShardID] = r.SequenceNumber
	}
	// A record too large to aggregate goes alone, as a plain record.
	big := []event.Record{{PartitionKey: "k", Data: make([]byte, 1<<20-1)}, {PartitionKey: "k", Data: []byte("small")}}
	if res, err := p.PutRecords(context.Background(), big); err != nil || res[0].SequenceNumber == "" || res[1].SequenceNumber == "" {
		t.Fatalf("PutRecords(big) = %+v, %v", res, err)
	}
	last := m.entries[len(m.entries)-2]
	if kpl.IsAggregated(last.Data) || len(last.Data) != 1<<20-1 {
		t.Errorf("the large record was sent aggregated (%d bytes)", len(last.Data))
	}
}

func TestProducerRateLimitWaits(t *testing.T) {
	t.Parallel()
	m := newMemStream(2)
	// A shard takes 20 records per second with a burst of 20: 40 records of one key need about a second.
	p, _ := kinesis.NewProducer(m, "events", kinesis.WithShardRateLimit(20, 1<<20), kinesis.WithBackoff(time.Millisecond, time.Millisecond))
	start := time.Now()
	for range 4 {
		res, err := p.PutRecords(context.Background(), recs(10, 1, 10))
		if err != nil {
			t.Fatal(err)
		}
		for i, r := range res {
			if r.SequenceNumber == "" {
				t.Fatalf("result %d = %+v: a hot key must wait, not fail", i, r)
			}
		}
	}
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Errorf("40 records on a shard limited to 20/s took %v; the limiter did not hold them back", d)
	}
	if m.listCalls != 2 {
		t.Errorf("ListShards made %d calls for two pages, want 2 (the shard map is cached)", m.listCalls)
	}
	// A wait that cannot end before ctx's deadline fails the records with the throttling code.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := p.PutRecords(ctx, recs(25, 1, 10)); err == nil || !strings.Contains(err.Error(), "write capacity") {
		t.Errorf("PutRecords beyond the deadline = %v, want the rate wait's error", err)
	}
}
