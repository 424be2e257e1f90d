package asl_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/serverless-data-platform/sdp/workflow/asl"
)

// benchBatch is a consumer batch like the real workload's: 500 events, about 250 KiB of JSON.
func benchBatch(b *testing.B) []byte {
	b.Helper()
	events := make([]any, 500)
	for i := range events {
		events[i] = map[string]any{
			"specversion": "1.0",
			"id":          fmt.Sprintf("evt-%06d", i),
			"type":        "order.created",
			"source":      "shop/web",
			"subject":     fmt.Sprintf("customer-%d", i%50),
			"time":        "2025-03-04T05:06:07Z",
			"data": map[string]any{
				"orderId":  fmt.Sprintf("o-%d", i),
				"amount":   float64(i) * 1.25,
				"currency": "EUR",
				"items":    []any{map[string]any{"sku": "sku-1", "qty": 1.0}, map[string]any{"sku": "sku-2", "qty": 3.0}},
				"note":     strings.Repeat("n", 180),
			},
		}
	}
	in, err := json.Marshal(map[string]any{"batchId": "b-1", "shardId": "shardId-000000000000", "events": events})
	if err != nil {
		b.Fatal(err)
	}
	return in
}

// BenchmarkExecute runs the shape of the project's workflow on a 500-event batch: a Pass, a lambda:invoke
// enrichment, a Choice, a service task that persists and a function ARN for analytics. The fake enrich
// function returns its payload, so the figures are the interpreter's own cost plus the encoding every Lambda call
// needs.
func BenchmarkExecute(b *testing.B) {
	def := `{"StartAt":"Prepare","States":{
		"Prepare":{"Type":"Pass","Parameters":{"batchId.$":"$.batchId","events.$":"$.events","execution.$":"$$.Execution.Name"},"Next":"Enrich"},
		"Enrich":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"FunctionName":"enrich","Payload.$":"$"},
			"ResultSelector":{"batchId.$":"$.Payload.batchId","events.$":"$.Payload.events"},
			"Retry":[{"ErrorEquals":["Lambda.TooManyRequestsException"],"IntervalSeconds":1,"MaxAttempts":3}],"Next":"Any"},
		"Any":{"Type":"Choice","Choices":[{"Variable":"$.events[0]","IsPresent":true,"Next":"Persist"}],"Default":"Done"},
		"Persist":{"Type":"Task","Resource":"arn:aws:states:::dynamodb:batchWriteItem","Parameters":{"items.$":"$.events"},
			"ResultPath":null,"Next":"Analytics"},
		"Analytics":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:123456789012:function:analytics","ResultPath":"$.counted","Next":"Done"},
		"Done":{"Type":"Pass","Parameters":{"batchId.$":"$.batchId","failures":[],"counted.$":"$.counted.batchId"},"End":true}}}`
	persist := asl.TaskFunc(func(_ context.Context, p any) (any, error) {
		return map[string]any{"UnprocessedItems": map[string]any{}}, nil
	})
	lambda := funcLambda{invoke: func(_ context.Context, fn string, payload []byte) ([]byte, error) {
		if strings.HasSuffix(fn, ":analytics") {
			return []byte(`{"batchId":"b-1","counted":500}`), nil
		}
		return payload, nil
	}}
	m, err := asl.Parse([]byte(def), asl.WithLambda(lambda), asl.WithTask("arn:aws:states:::dynamodb:batchWriteItem", persist))
	if err != nil {
		b.Fatal(err)
	}
	in := benchBatch(b)
	for _, obs := range []struct {
		name string
		opts []asl.ExecOption
	}{
		{"no observer", nil},
		{"observer without data", []asl.ExecOption{asl.WithObserver(&discard{})}},
		{"observer with data", []asl.ExecOption{asl.WithObserver(&discard{data: true})}},
	} {
		b.Run(obs.name, func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			b.ReportAllocs()
			for b.Loop() {
				res, err := m.Execute(context.Background(), in, obs.opts...)
				if err != nil || res.Status != asl.StatusSucceeded {
					b.Fatalf("%v %v %s %s", err, res.Status, res.Error, res.Cause)
				}
			}
		})
	}
}

// BenchmarkPassStates is the interpreter's overhead alone: ten Pass and Choice states over the batch, with no
// task.
func BenchmarkPassStates(b *testing.B) {
	var states strings.Builder
	for i := range 5 {
		fmt.Fprintf(&states, `"P%d":{"Type":"Pass","Next":"C%d"},"C%d":{"Type":"Choice","Choices":[{"Variable":"$.events[0].id","IsString":true,"Next":"%s"}]},`,
			i, i, i, benchNext(i))
	}
	def := `{"StartAt":"P0","States":{` + states.String() + `"End":{"Type":"Succeed"}}}`
	m, err := asl.Parse([]byte(def))
	if err != nil {
		b.Fatal(err)
	}
	in := benchBatch(b)
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	for b.Loop() {
		if res, err := m.Execute(context.Background(), in); err != nil || res.Status != asl.StatusSucceeded {
			b.Fatal(err, res.Status)
		}
	}
}

func benchNext(i int) string {
	if i == 4 {
		return "End"
	}
	return fmt.Sprintf("P%d", i+1)
}

// discard is an Observer that drops the events.
type discard struct{ data bool }

func (d *discard) IncludeData() bool              { return d.data }
func (d *discard) Event(string, asl.HistoryEvent) {}
