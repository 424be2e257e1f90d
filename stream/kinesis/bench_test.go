package kinesis_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/internal/emulator"
	"github.com/serverless-data-platform/sdp/stream/kinesis"
)

// BenchmarkProducerKinesalite measures the producer's throughput against kinesalite (addressed by stream
// name: kinesalite cannot take a StreamARN), with and without KPL aggregation: each operation is one
// PutRecords of 500 records of 200 bytes over 50 partition keys. The shard rate limiter is off: it would
// measure Kinesis's limits rather than the adapter.
func BenchmarkProducerKinesalite(b *testing.B) {
	s := emulator.Require(b, emulator.Kinesalite)
	c := newClient(b, s, nil)
	name, _ := newStream(b, c, 4)
	recs := make([]event.Record, event.MaxRecordsPerPut)
	for i := range recs {
		data := make([]byte, 200)
		copy(data, fmt.Sprintf(`{"id":"%d","type":"page_view"}`, i))
		recs[i] = event.Record{PartitionKey: fmt.Sprint("user-", i%50), Data: data}
	}
	for _, agg := range []bool{false, true} {
		b.Run(fmt.Sprintf("aggregation=%v", agg), func(b *testing.B) {
			p, err := kinesis.NewProducer(c, name, kinesis.WithShardRateLimit(0, 0), kinesis.WithAggregation(agg))
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			for b.Loop() {
				res, err := p.PutRecords(ctx, recs)
				if err != nil {
					b.Fatal(err)
				}
				if res[len(res)-1].SequenceNumber == "" {
					b.Fatalf("record not taken: %+v", res[len(res)-1])
				}
			}
			b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "records/s")
		})
	}
}
