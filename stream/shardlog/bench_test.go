package shardlog

import (
	"context"
	"strconv"
	"testing"

	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/stream"
)

// benchRecords returns 100 records of 512 bytes on varied keys.
func benchRecords() []event.Record {
	recs := make([]event.Record, 100)
	payload := make([]byte, 512)
	for i := range payload {
		payload[i] = 'a' + byte(i%26)
	}
	for i := range recs {
		recs[i] = event.Record{PartitionKey: "subject-" + strconv.Itoa(i), Data: payload}
	}
	return recs
}

// BenchmarkPutRecords measures durable puts of 100 records of 512 bytes on 4 shards: from one caller (each
// call waits for its own commit and the database's MaxBatchDelay) and from parallel callers sharing commits.
func BenchmarkPutRecords(b *testing.B) {
	recs := benchRecords()
	b.Run("serial", func(b *testing.B) {
		db, _ := openDB(b)
		l := mustOpen(b, db, Options{StreamName: "bench", Shards: 4})
		b.ReportAllocs()
		b.SetBytes(int64(len(recs) * 512))
		for b.Loop() {
			if _, err := l.PutRecords(context.Background(), recs); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "records/s")
	})
	b.Run("parallel", func(b *testing.B) {
		db, _ := openDB(b)
		l := mustOpen(b, db, Options{StreamName: "bench", Shards: 4})
		b.ReportAllocs()
		b.SetBytes(int64(len(recs) * 512))
		b.SetParallelism(16)
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := l.PutRecords(context.Background(), recs); err != nil {
					b.Error(err)
					return
				}
			}
		})
		b.ReportMetric(float64(b.N*len(recs))/b.Elapsed().Seconds(), "records/s")
	})
}

// BenchmarkRead measures reading 100 records of 512 bytes from a shard.
func BenchmarkRead(b *testing.B) {
	db, _ := openDB(b)
	l := mustOpen(b, db, Options{StreamName: "bench", Shards: 1})
	for i := 0; i < 20; i++ {
		mustPut(b, l, benchRecords())
	}
	// Read the same 100 records each time, from the shard's first record.
	shard := stream.ShardID(0)
	first, err := l.Read(context.Background(), shard, Position{}, 1)
	if err != nil {
		b.Fatal(err)
	}
	pos := Position{Type: AtSequenceNumber, SequenceNumber: first[0].SequenceNumber}
	b.ReportAllocs()
	for b.Loop() {
		recs, err := l.Read(context.Background(), shard, pos, 100)
		if err != nil || len(recs) != 100 {
			b.Fatal(len(recs), err)
		}
	}
	b.ReportMetric(float64(b.N*100)/b.Elapsed().Seconds(), "records/s")
}
