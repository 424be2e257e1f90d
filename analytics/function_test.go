package analytics_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/analytics"
	"github.com/serverless-data-platform/sdp/event"
)

// failingStore is a Store whose Apply fails.
type failingStore struct{ analytics.Store }

func (failingStore) Apply(context.Context, []event.Fact) (int, error) {
	return 0, errors.New("disk on fire")
}

// TestFunctionHandle checks the function's answer across deliveries: new facts are applied, a retried
// delivery is all duplicates, an overlapping batch is split between the two.
func TestFunctionHandle(t *testing.T) {
	ctx := context.Background()
	facts := sampleFacts(t)
	fn := analytics.NewFunction(newLocal(t))
	tests := []struct {
		name string
		in   event.FactBatch
		want analytics.Output
	}{
		{"first delivery", event.FactBatch{BatchID: "shardId-0:1-3", Events: facts[:3]},
			analytics.Output{Applied: 3}},
		{"retried delivery", event.FactBatch{BatchID: "shardId-0:1-3", Events: facts[:3]},
			analytics.Output{Duplicates: 3}},
		{"overlapping batch", event.FactBatch{BatchID: "shardId-0:2-5", Events: facts[1:]},
			analytics.Output{Applied: 2, Duplicates: 2}},
		{"empty batch", event.FactBatch{BatchID: "shardId-0:6-6"}, analytics.Output{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := fn.Handle(ctx, tc.in)
			if err != nil || got != tc.want {
				t.Fatalf("Handle = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

// TestFunctionAsLambdaHandler checks that Handle works behind lambda.NewHandler, JSON in and out, as the
// Lambda runtime and the local Invoke API call it.
func TestFunctionAsLambdaHandler(t *testing.T) {
	ctx := context.Background()
	h := lambda.NewHandler(analytics.NewFunction(newLocal(t)).Handle)
	payload, err := json.Marshal(event.FactBatch{BatchID: "b", Events: sampleFacts(t)})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []analytics.Output{{Applied: 5}, {Duplicates: 5}} {
		res, err := h.Invoke(ctx, payload)
		if err != nil {
			t.Fatalf("invoke %d: %v", i, err)
		}
		var got analytics.Output
		if err := json.Unmarshal(res, &got); err != nil || got != want {
			t.Fatalf("invoke %d = %s (%v); want %+v", i, res, err, want)
		}
	}
}

// TestFunctionHandleStoreError checks that a store failure is the function's error (so the caller retries)
// and names the batch.
func TestFunctionHandleStoreError(t *testing.T) {
	fn := analytics.NewFunction(failingStore{})
	_, err := fn.Handle(context.Background(), event.FactBatch{BatchID: "b-7", Events: sampleFacts(t)})
	// The Lambda runtime reports this error type as it is; it is what the workflow's Retry matches on.
	ive, ok := err.(messages.InvokeResponse_Error)
	if !ok || ive.Type != analytics.ErrorTypeStoreUnavailable || !strings.Contains(ive.Message, `"b-7"`) {
		t.Fatalf("Handle with a failing store = %#v; want a function error of type %s naming the batch", err,
			analytics.ErrorTypeStoreUnavailable)
	}
}
