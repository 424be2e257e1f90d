package kinesis_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/stream"
	"github.com/serverless-data-platform/sdp/stream/kinesis"
	"github.com/serverless-data-platform/sdp/stream/kinesis/kpl"
)

// fill puts n records with one key on m and returns the shard id and the sequence numbers.
func fill(t *testing.T, m *memStream, n int) (string, []string) {
	t.Helper()
	p, _ := kinesis.NewProducer(m, "events", fast()...)
	res, err := p.PutRecords(context.Background(), recs(n, 1, 5))
	if err != nil {
		t.Fatal(err)
	}
	seqs := make([]string, n)
	for i, r := range res {
		seqs[i] = r.SequenceNumber
	}
	return res[0].ShardID, seqs
}

func newReader(t *testing.T, m *memStream, opts ...kinesis.ReaderOption) *kinesis.Reader {
	t.Helper()
	r, err := kinesis.NewReader(m, "events", append([]kinesis.ReaderOption{kinesis.WithReadRetries(4, time.Millisecond, time.Millisecond)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestReaderKeepsIterators(t *testing.T) {
	t.Parallel()
	m := newMemStream(2)
	shard, seqs := fill(t, m, 10)
	r := newReader(t, m)
	ctx := context.Background()
	steps := []struct {
		name      string
		after     string
		limit     int
		wantFirst int
		wantN     int
		wantIters int // GetShardIterator calls so far
	}{
		{"trim horizon", "", 4, 0, 4, 1},
		{"follow on", seqs[3], 4, 4, 4, 1},
		{"follow on to the end", seqs[7], 4, 8, 2, 1},
		{"caught up", seqs[9], 4, 0, 0, 1},
		{"caught up again", seqs[9], 4, 0, 0, 1},
		{"elsewhere", seqs[1], 3, 2, 3, 2},
		{"a retried position", seqs[1], 3, 2, 3, 3},
	}
	for _, s := range steps {
		got, err := r.ReadAfter(ctx, shard, s.after, s.limit)
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if len(got) != s.wantN {
			t.Fatalf("%s: %d records, want %d", s.name, len(got), s.wantN)
		}
		for j, g := range got {
			if g.SequenceNumber != seqs[s.wantFirst+j] || g.ShardID != shard || g.PartitionKey != "key-0" || g.ArrivalTime.IsZero() {
				t.Errorf("%s: record %d = %+v", s.name, j, g)
			}
		}
		if m.iterCalls != s.wantIters {
			t.Errorf("%s: %d GetShardIterator calls, want %d", s.name, m.iterCalls, s.wantIters)
		}
	}
	want := []types.ShardIteratorType{types.ShardIteratorTypeTrimHorizon, types.ShardIteratorTypeAfterSequenceNumber, types.ShardIteratorTypeAfterSequenceNumber}
	if fmt.Sprint(m.iterTypes) != fmt.Sprint(want) {
		t.Errorf("iterator types %v, want %v", m.iterTypes, want)
	}
	// ReadAt starts at the record itself.
	got, err := r.ReadAt(ctx, shard, seqs[5], 2)
	if err != nil || len(got) != 2 || got[0].SequenceNumber != seqs[5] {
		t.Fatalf("ReadAt = %+v, %v", got, err)
	}
	if typ := m.iterTypes[len(m.iterTypes)-1]; typ != types.ShardIteratorTypeAtSequenceNumber {
		t.Errorf("ReadAt used a %s iterator", typ)
	}
}

func TestReaderFailures(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		failGet   func(call int) error
		wantErr   string
		wantGets  int
		wantIters int
	}{
		{"expired iterator is renewed", func(call int) error {
			if call == 0 {
				return apiError("ExpiredIteratorException")
			}
			return nil
		}, "", 2, 2},
		{"throttling is retried", func(call int) error {
			if call < 3 {
				return apiError("ProvisionedThroughputExceededException")
			}
			return nil
		}, "", 4, 1},
		{"throttling beyond the attempts", func(int) error { return apiError("ProvisionedThroughputExceededException") },
			"ProvisionedThroughputExceededException", 4, 1},
		{"access denied is not retried", func(int) error { return apiError("AccessDeniedException") }, "AccessDeniedException", 1, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			m := newMemStream(2)
			shard, _ := fill(t, m, 3)
			m.failGet = c.failGet
			r := newReader(t, m)
			got, err := r.ReadAfter(context.Background(), shard, "", 10)
			if m.getCalls != c.wantGets || m.iterCalls != c.wantIters {
				t.Errorf("%d GetRecords and %d GetShardIterator calls, want %d and %d", m.getCalls, m.iterCalls, c.wantGets, c.wantIters)
			}
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) || !strings.Contains(err.Error(), "shard "+shard+" of stream events") {
					t.Fatalf("ReadAfter = %v; want an error naming the shard, the stream and %q", err, c.wantErr)
				}
				return
			}
			if err != nil || len(got) != 3 {
				t.Fatalf("ReadAfter = %d records, %v", len(got), err)
			}
		})
	}
}

func TestReaderShards(t *testing.T) {
	t.Parallel()
	m := newMemStream(4)
	m.closed[0] = true
	r := newReader(t, m)
	if got := r.ShardIDs(); len(got) != 4 || got[3] != stream.ShardID(3) {
		t.Fatalf("ShardIDs() = %v", got)
	}
	if _, err := r.ReadAfter(context.Background(), stream.ShardID(9), "", 1); !errors.Is(err, kinesis.ErrShardNotFound) {
		t.Errorf("ReadAfter of an unknown shard = %v, want ErrShardNotFound", err)
	}
	// A closed shard reads to its end, then reads empty without more calls.
	p, _ := kinesis.NewProducer(m, "events", fast()...)
	var onZero []event.Record
	for i := 0; len(onZero) < 3; i++ {
		k := fmt.Sprint("k", i)
		if stream.ShardFor(stream.EvenRanges(4), stream.PartitionHash(k)) == 0 {
			onZero = append(onZero, event.Record{PartitionKey: k, Data: []byte(k)})
		}
	}
	if _, err := p.PutRecords(context.Background(), onZero); err != nil {
		t.Fatal(err)
	}
	got, err := r.ReadAfter(context.Background(), stream.ShardID(0), "", 10)
	if err != nil || len(got) != 3 {
		t.Fatalf("ReadAfter of the closed shard = %d records, %v", len(got), err)
	}
	calls := m.getCalls
	for range 2 {
		if more, err := r.ReadAfter(context.Background(), stream.ShardID(0), got[2].SequenceNumber, 10); err != nil || len(more) != 0 {
			t.Fatalf("ReadAfter past the end of a closed shard = %d records, %v", len(more), err)
		}
	}
	if m.getCalls != calls {
		t.Errorf("%d GetRecords calls on a drained closed shard", m.getCalls-calls)
	}
}

func TestReaderDeaggregation(t *testing.T) {
	t.Parallel()
	m := newMemStream(1)
	p, _ := kinesis.NewProducer(m, "events", fast(kinesis.WithAggregation(true))...)
	// Three calls: three aggregated records of 4 user records each.
	var want []event.Record
	for call := range 3 {
		in := recs(4, 4, 3)
		for i := range in {
			in[i].Data = fmt.Appendf(nil, "c%d-r%d", call, i)
		}
		want = append(want, in...)
		if _, err := p.PutRecords(context.Background(), in); err != nil {
			t.Fatal(err)
		}
	}
	cases := []struct {
		name  string
		limit int
		reads []int // user records per read
	}{
		{"all at once", 12, []int{12}},
		{"whole aggregates within the limit", 10, []int{8, 4}},
		{"limit of one aggregate", 5, []int{4, 4, 4}},
		{"limit below an aggregate returns it whole", 2, []int{4, 4, 4}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := newReader(t, m, kinesis.WithDeaggregation(true))
			var got []event.StreamRecord
			var reads []int
			after := ""
			for {
				page, err := r.ReadAfter(context.Background(), stream.ShardID(0), after, c.limit)
				if err != nil {
					t.Fatal(err)
				}
				if len(page) == 0 {
					break
				}
				reads = append(reads, len(page))
				got = append(got, page...)
				after = page[len(page)-1].SequenceNumber
			}
			if fmt.Sprint(reads) != fmt.Sprint(c.reads) {
				t.Errorf("reads of %v user records, want %v", reads, c.reads)
			}
			for i, g := range got {
				if g.PartitionKey != want[i].PartitionKey || string(g.Data) != string(want[i].Data) {
					t.Errorf("record %d = %q %q, want %q %q", i, g.PartitionKey, g.Data, want[i].PartitionKey, want[i].Data)
				}
			}
		})
	}
	// A corrupt aggregated record fails the read with ErrCorrupt.
	bad := append([]byte(kpl.Magic), make([]byte, 20)...)
	m.shards[0] = append(m.shards[0], types.Record{SequenceNumber: aws.String(seq(0, len(m.shards[0]))), PartitionKey: aws.String("x"), Data: bad})
	r := newReader(t, m, kinesis.WithDeaggregation(true))
	if _, err := r.ReadAfter(context.Background(), stream.ShardID(0), "", 100); !errors.Is(err, kpl.ErrCorrupt) {
		t.Errorf("read of a corrupt aggregate = %v, want ErrCorrupt", err)
	}
}
