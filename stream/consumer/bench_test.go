package consumer_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/loadtest"
	"github.com/serverless-data-platform/sdp/stream/consumer"
)

// benchPayload returns the Lambda payload of the side-by-side benchmark (make bench): the Kinesis event in
// the file named by SDP_BENCH_RECORDS, or else 10,000 records of generated page_view events, 1% invalid.
func benchPayload(b *testing.B) (payload []byte, records int) {
	b.Helper()
	if path := os.Getenv("SDP_BENCH_RECORDS"); path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			b.Fatalf("SDP_BENCH_RECORDS: %v", err)
		}
		var ev events.KinesisEvent
		if err := json.Unmarshal(data, &ev); err != nil || len(ev.Records) == 0 {
			b.Fatalf("SDP_BENCH_RECORDS %s: %d records, %v", path, len(ev.Records), err)
		}
		return data, len(ev.Records)
	}
	g, err := loadtest.NewGenerator(loadtest.GenConfig{Types: []string{"page_view"}, InvalidRatio: 0.01, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	stamp := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	recs, _ := g.Records(1, 10000, stamp)
	var sb strings.Builder
	sb.WriteString(`{"Records":[`)
	for i, r := range recs {
		if i > 0 {
			sb.WriteByte(',')
		}
		seq := fmt.Sprintf("4963%052d", i)
		fmt.Fprintf(&sb, `{"kinesis":{"kinesisSchemaVersion":"1.0","partitionKey":%q,"sequenceNumber":%q,`+
			`"data":%q,"approximateArrivalTimestamp":%d.%03d},"eventSource":"aws:kinesis","eventVersion":"1.0",`+
			`"eventID":"shardId-000000000000:%s","eventName":"aws:kinesis:record",`+
			`"invokeIdentityArn":"arn:aws:iam::123456789012:role/consumer","awsRegion":"us-east-1",`+
			`"eventSourceARN":"arn:aws:kinesis:us-east-1:123456789012:stream/events"}`,
			r.PartitionKey, seq, base64.StdEncoding.EncodeToString(r.Data), stamp.Unix(), i%1000, seq)
	}
	sb.WriteString(`]}`)
	return []byte(sb.String()), len(recs)
}

// BenchmarkConsumerPath is the consumer's side of make bench: one operation is one invocation with the
// whole payload — decoding the Kinesis event, base64-decoding and validating every record against its
// schema, building the workflow inputs (each event with its sequence number, partition key and arrival
// time) and encoding the partial batch response. The workflow answers at once.
func BenchmarkConsumerPath(b *testing.B) {
	payload, n := benchPayload(b)
	reg, err := event.NewRegistry()
	if err != nil {
		b.Fatal(err)
	}
	ok := []byte(`{"processed":0,"failed":[]}`)
	c := consumer.New(workflowFunc(func(context.Context, []byte) ([]byte, error) { return ok, nil }), consumer.WithValidator(reg))
	ctx := context.Background()
	// One run first, to check the answer and warm the buffers.
	out, err := c.Invoke(ctx, payload)
	if err != nil {
		b.Fatal(err)
	}
	var resp events.KinesisEventResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		b.Fatalf("response %.200s: %v", out, err)
	}
	failures := len(resp.BatchItemFailures)
	if failures == 0 || failures > n/20 {
		b.Fatalf("%d of %d records reported failed; expected about 1%%", failures, n)
	}
	b.SetBytes(int64(len(payload)))
	before := mallocs()
	for b.Loop() {
		if _, err := c.Invoke(ctx, payload); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(mallocs()-before)/float64(b.N*n), "allocs/record")
	b.ReportMetric(float64(failures), "failures")
}

// mallocs returns the number of heap allocations so far.
func mallocs() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.Mallocs
}
