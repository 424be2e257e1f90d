package main

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/encoding/json"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/internal/telemetry"
)

// TestTraceAcrossPipeline posts the sample events with an X-Ray trace header and follows the trace: the
// ingest span continues the caller's trace, the trace header travels in each event through the stream, and
// the consumer's batch, the workflow execution and its writes to the curated table and the aggregates are
// spans of the same trace, each the child of the one before.
func TestTraceAcrossPipeline(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp, err := telemetry.NewTracerProvider(context.Background(), telemetry.TraceConfig{ServiceName: "sdp", Exporter: exp})
	if err != nil {
		t.Fatal(err)
	}
	logs := &logLines{}
	base, s := startStack(t, stackConfig{Tracer: tp, Logger: slog.New(telemetry.NewHandler(logs, telemetry.HandlerOptions{Level: slog.LevelDebug}))})
	body, ids := sampleIDs(t)

	const caller = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
	req, err := http.NewRequest(http.MethodPost, base+"/v1/events", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", event.ContentTypeBatch)
	req.Header.Set("X-Amzn-Trace-Id", caller)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("POST: %s", resp.Status)
	}
	eventually(t, 30*time.Second, "the sample curated and counted", func() bool {
		c, err := s.curated.Count(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		spans := exp.GetSpans()
		return c == len(ids) && len(spansNamed(spans, "aggregates.apply")) > 0 && traceClosed(spans)
	})

	// The events in the stream carry the ingest span's trace header.
	wantTrace := "5759e988bd862e3fe1be46a994272793"
	spans := exp.GetSpans()
	ingestSpans := spansNamed(spans, "ingest")
	if len(ingestSpans) != 1 {
		t.Fatalf("%d ingest spans, want 1", len(ingestSpans))
	}
	ing := ingestSpans[0]
	if ing.SpanContext.TraceID().String() != wantTrace || ing.Parent.SpanID().String() != "53995c3f42cd8ad8" || !ing.Parent.IsRemote() {
		t.Errorf("ingest span %v (parent %v) does not continue the caller's trace", ing.SpanContext, ing.Parent)
	}
	for shard, recs := range readStreamData(t, s) {
		for _, data := range recs {
			sc, ok := telemetry.SpanContextFromHeader(telemetry.EventTraceHeader(data))
			if !ok || sc.TraceID() != ing.SpanContext.TraceID() || sc.SpanID() != ing.SpanContext.SpanID() {
				t.Errorf("record of %s carries trace header %q, want the ingest span's", shard, telemetry.EventTraceHeader(data))
			}
		}
	}
	// parentOf checks that every span named child has a parent span named parent in the same trace.
	byID := map[trace.SpanID]tracetest.SpanStub{}
	for _, sp := range spans {
		byID[sp.SpanContext.SpanID()] = sp
	}
	parentOf := func(child, parent string) {
		t.Helper()
		kids := spansNamed(spans, child)
		if len(kids) == 0 {
			t.Errorf("no %s span", child)
		}
		for _, k := range kids {
			p, ok := byID[k.Parent.SpanID()]
			if k.SpanContext.TraceID().String() != wantTrace || !ok || p.Name != parent {
				t.Errorf("%s span in trace %s has parent %q, want a %s span of trace %s", child, k.SpanContext.TraceID(), p.Name, parent, wantTrace)
			}
		}
	}
	parentOf("consumer", "ingest")
	parentOf("workflow", "consumer")
	parentOf("curated.put", "workflow")
	parentOf("aggregates.apply", "workflow")

	// The log lines of the run are JSON, and those of ingest's body and of the consumer's batch carry the trace.
	traced := map[string]bool{}
	for _, line := range logs.lines() {
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Errorf("log line is not JSON: %s", line)
			continue
		}
		if m[telemetry.KeyTraceID] == "1-5759e988-bd862e3fe1be46a994272793" {
			traced[m["message"].(string)] = true
		}
	}
	if !traced["ingest: body handled"] || !traced["consumer: batch handled"] {
		t.Errorf("log lines with the trace id: %v; want ingest's body and the consumer's batch among them", traced)
	}
	t.Logf("%d spans; log lines with the trace id: %v", len(spans), traced)
}

// traceClosed reports whether every exported span's parent has ended too, the caller's span aside: a span is
// exported when it ends, and the writes end before the workflow that makes them, which ends before the batch
// of the consumer that runs it.
func traceClosed(spans tracetest.SpanStubs) bool {
	ended := map[trace.SpanID]bool{}
	for _, sp := range spans {
		ended[sp.SpanContext.SpanID()] = true
	}
	for _, sp := range spans {
		if sp.Name != "ingest" && sp.Parent.IsValid() && !ended[sp.Parent.SpanID()] {
			return false
		}
	}
	return true
}

// spansNamed returns the spans called name.
func spansNamed(spans tracetest.SpanStubs, name string) []tracetest.SpanStub {
	var out []tracetest.SpanStub
	for _, sp := range spans {
		if sp.Name == name {
			out = append(out, sp)
		}
	}
	return out
}

// readStreamData returns the data of every record of the stack's stream, by shard.
func readStreamData(t *testing.T, s *stack) map[string][][]byte {
	t.Helper()
	out := map[string][][]byte{}
	for _, shard := range s.reader.ShardIDs() {
		recs, err := s.reader.ReadAfter(context.Background(), shard, "", 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			out[shard] = append(out[shard], bytes.Clone(r.Data))
		}
	}
	return out
}

// TestUpFaultsFlag checks that sdp up refuses a fault specification it cannot read before it opens anything,
// with an error that names the flag and what is wrong.
func TestUpFaultsFlag(t *testing.T) {
	for _, tt := range []struct{ spec, want string }{
		{"kinesis.throttle=0.2,disk.full=0.1", "disk.full"},
		{"table.throttle=1.5", "table.throttle"},
		{"workflow.fail", "workflow.fail"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), []string{"up", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--faults", tt.spec},
			&stdout, &stderr)
		if code != 1 || !strings.Contains(stderr.String(), "--faults") || !strings.Contains(stderr.String(), tt.want) {
			t.Errorf("--faults %s: exit %d, stderr %q; want 1 and an error naming --faults and %s", tt.spec, code, stderr.String(), tt.want)
		}
	}
}
