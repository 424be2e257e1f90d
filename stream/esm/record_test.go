package esm

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/event"
)

// TestRecordSize checks that the size estimate of a record is never below its real JSON size within an
// event, whatever its partition key and data.
func TestRecordSize(t *testing.T) {
	t.Parallel()
	cfg, err := testConfig().withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	b, err := newRecordBuilder(&cfg, shard0)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		pk   string
		data []byte
	}{
		{name: "empty", pk: "", data: nil},
		{name: "ascii", pk: "user-42", data: []byte(`{"a":1}`)},
		{name: "html and quotes", pk: `<a href="x">&`, data: []byte("x")},
		{name: "control characters", pk: "a\x00\x01\n\t", data: []byte{0, 1, 2}},
		{name: "unicode", pk: "Zürich-東京-\u2028", data: []byte("ü")},
		{name: "invalid utf-8", pk: "a\xff\xfeb", data: []byte{0xff}},
		{name: "large data", pk: "k", data: []byte(strings.Repeat("x", 100_000))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			sr := []event.StreamRecord{{
				SequenceNumber: "49590338271490256608559692538361571095921575989136588898",
				PartitionKey:   tt.pk, Data: tt.data, ArrivalTime: time.Now(),
			}}
			recs := b.appendRecords(nil, sr)
			one, err := json.Marshal(events.KinesisEvent{Records: recs})
			if err != nil {
				t.Fatal(err)
			}
			if est := envelopeBytes + b.size(&recs[0]); est < len(one) {
				t.Errorf("estimate %d is below the real size %d", est, len(one))
			}
		})
	}
}

// benchRecords returns n stream records of about 200 bytes each.
func benchRecords(n int) []event.StreamRecord {
	recs := make([]event.StreamRecord, n)
	now := time.Now()
	for i := range recs {
		recs[i] = event.StreamRecord{
			ShardID:        shard0,
			SequenceNumber: fmt.Sprintf("4959033827149025660855969253836157109592157598913658%04d", i),
			PartitionKey:   fmt.Sprintf("user-%d", i),
			Data:           []byte(`{"specversion":"1.0","id":"` + fmt.Sprint(i) + `","source":"bench","type":"page_view","time":"2024-01-01T00:00:00Z","data":{"url":"/home"}}`),
			ArrivalTime:    now,
		}
	}
	return recs
}

// BenchmarkBuildEvent measures building the KinesisEvent of a batch of 100 records into a reused slice,
// with the payload-limit sizing of the batch.
func BenchmarkBuildEvent(b *testing.B) {
	cfg, err := testConfig().withDefaults()
	if err != nil {
		b.Fatal(err)
	}
	rb, err := newRecordBuilder(&cfg, shard0)
	if err != nil {
		b.Fatal(err)
	}
	recs := benchRecords(100)
	var buf []events.KinesisEventRecord
	b.ReportAllocs()
	for b.Loop() {
		buf = rb.appendRecords(buf[:0], recs)
		if n := rb.batchLen(buf, cfg.BatchSize, cfg.MaxPayloadBytes); n != 100 {
			b.Fatalf("batch of %d records", n)
		}
	}
	_ = events.KinesisEvent{Records: buf}
}

// BenchmarkBuildEventJSON adds the JSON encoding of the event, the cost an out-of-process invoke would pay.
func BenchmarkBuildEventJSON(b *testing.B) {
	cfg, err := testConfig().withDefaults()
	if err != nil {
		b.Fatal(err)
	}
	rb, err := newRecordBuilder(&cfg, shard0)
	if err != nil {
		b.Fatal(err)
	}
	recs := benchRecords(100)
	var buf []events.KinesisEventRecord
	b.ReportAllocs()
	for b.Loop() {
		buf = rb.appendRecords(buf[:0], recs)
		if _, err := json.Marshal(events.KinesisEvent{Records: buf}); err != nil {
			b.Fatal(err)
		}
	}
}
