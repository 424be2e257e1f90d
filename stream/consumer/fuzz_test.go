package consumer_test

import (
	"context"
	stdjson "encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/serverless-data-platform/sdp/stream/consumer"
)

// FuzzInvoke checks the consumer's own payload decoder against the Lambda runtime's: no payload panics
// Invoke; its answer is a partial batch response that names only sequence numbers of the batch; and on a
// payload that both decoders accept, it reports the same failures as Handle on the runtime's decoding.
func FuzzInvoke(f *testing.F) {
	fixture, err := os.ReadFile(filepath.Join("..", "..", "cmd", "lambda", "testdata", "kinesis-event.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(fixture)
	// eyJpZCI6ImEiLCJmYWlsIjp0cnVlfQ== is {"id":"a","fail":true}; eyJjcmFzaCI6dHJ1ZX0= is {"crash":true}.
	f.Add([]byte(`{"Records":[{"eventID":"shardId-000000000000:1","kinesis":{"partitionKey":"p","sequenceNumber":"1",` +
		`"data":"eyJpZCI6ImEiLCJmYWlsIjp0cnVlfQ==","approximateArrivalTimestamp":1764148502.12}},` +
		`{"eventID":"shardId-000000000000:2","kinesis":{"partitionKey":"p","sequenceNumber":"2","data":"eyJjcmFzaCI6dHJ1ZX0="}},` +
		`{"eventID":"shardId-000000000000:3","kinesis":{"partitionKey":"q","sequenceNumber":"3","data":"WzFd"}}]}`))
	f.Add([]byte(`{"Records":[]}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		ctx := context.Background()
		out, err := consumer.New(&fakeWorkflow{}).Invoke(ctx, payload)
		if err != nil {
			return
		}
		var got events.KinesisEventResponse
		if err := stdjson.Unmarshal(out, &got); err != nil {
			t.Fatalf("Invoke answered %q: %v", out, err)
		}
		var ev events.KinesisEvent
		if err := stdjson.Unmarshal(payload, &ev); err != nil {
			return
		}
		want, err := consumer.New(&fakeWorkflow{}).Handle(ctx, ev)
		if err != nil {
			t.Fatalf("Handle: %v", err)
		}
		seqs := make(map[string]bool, len(ev.Records))
		for _, r := range ev.Records {
			seqs[r.Kinesis.SequenceNumber] = true
		}
		for _, f := range got.BatchItemFailures {
			if !seqs[f.ItemIdentifier] {
				t.Fatalf("failure %q is no sequence number of the batch", f.ItemIdentifier)
			}
		}
		if g, w := identifiers(got), identifiers(want); !slices.Equal(g, w) {
			t.Fatalf("Invoke reported %q; Handle %q", g, w)
		}
	})
}

// identifiers lists the sequence numbers a response reports.
func identifiers(r events.KinesisEventResponse) []string {
	ids := make([]string, len(r.BatchItemFailures))
	for i, f := range r.BatchItemFailures {
		ids[i] = f.ItemIdentifier
	}
	return ids
}
