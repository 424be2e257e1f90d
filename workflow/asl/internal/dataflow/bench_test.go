package dataflow

import (
	"fmt"
	"testing"
)

// batchDoc is a state input like the workflow's: a batch of 500 events plus metadata.
func batchDoc(b *testing.B) map[string]any {
	b.Helper()
	items := make([]any, 500)
	for i := range items {
		items[i] = map[string]any{
			"id":      fmt.Sprintf("evt-%04d", i),
			"type":    "click",
			"value":   float64(i),
			"payload": map[string]any{"user": fmt.Sprintf("u%d", i%37), "tags": []any{"a", "b"}},
		}
	}
	return map[string]any{
		"batchId": "b-1",
		"source":  map[string]any{"stream": "events", "shard": "shardId-000"},
		"items":   items,
	}
}

// BenchmarkTemplateEval evaluates a typical Task Parameters template over a 500-event batch.
func BenchmarkTemplateEval(b *testing.B) {
	doc := batchDoc(b)
	tmpl, err := ParseTemplate(decode(b, `{
		"FunctionName": "enrich",
		"Payload": {
			"batch.$": "$.batchId",
			"records.$": "$.items",
			"stream.$": "$.source.stream",
			"execution.$": "$$.Execution.Id",
			"key.$": "States.Format('{}#{}', $.source.stream, $.batchId)",
			"count.$": "States.ArrayLength($.items)",
			"static": {"version": 2}
		}
	}`))
	if err != nil {
		b.Fatal(err)
	}
	scope := Scope{Input: doc, Context: map[string]any{"Execution": map[string]any{"Id": "arn:exec"}}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tmpl.Eval(scope); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTemplateEvalIndefinite evaluates wildcard and filter paths over the 500 events.
func BenchmarkTemplateEvalIndefinite(b *testing.B) {
	doc := batchDoc(b)
	tmpl, err := ParseTemplate(decode(b, `{"ids.$": "$.items[*].id", "big.$": "$.items[?(@.value > 400)].id"}`))
	if err != nil {
		b.Fatal(err)
	}
	scope := Scope{Input: doc}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := tmpl.Eval(scope); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSet places a task result into the 500-event batch at ResultPaths of increasing depth.
func BenchmarkSet(b *testing.B) {
	doc := batchDoc(b)
	result := map[string]any{"StatusCode": 200.0, "Payload": map[string]any{"ok": true}}
	for _, path := range []string{"$", "$.taskresult", "$.source.enriched.result"} {
		p, err := ParseReferencePath(path)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(path, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Set(doc, p, result); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPathSelect evaluates a definite path into the batch.
func BenchmarkPathSelect(b *testing.B) {
	doc := batchDoc(b)
	p, err := ParsePath("$.items[499].payload.user")
	if err != nil {
		b.Fatal(err)
	}
	scope := Scope{Input: doc}
	b.ReportAllocs()
	for b.Loop() {
		if _, found, _ := p.Select(scope); !found {
			b.Fatal("not found")
		}
	}
}
