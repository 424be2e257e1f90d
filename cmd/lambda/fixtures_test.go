package main

import (
	"encoding/json"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/workflow"
)

// The fixtures in testdata, and what the functions must answer to them.
const (
	// kinesisFixture is a Kinesis event as Lambda's event source mapping delivers it: three records of one
	// shard, the third of which is not JSON.
	kinesisFixture = "kinesis-event.json"
	// enrichFixture is the enrich function's input for a batch of three: a valid purchase, one from a test
	// source (which testRules quarantines) and an event without a time.
	enrichFixture = "enrich-batch.json"

	testWorkflowARN = "arn:aws:states:us-east-1:123456789012:stateMachine:sdp-Workflow-Ab12Cd34Ef56"
	testRegion      = "us-east-1"
	testAccessKey   = "AKIDEXAMPLE"
	// testRules and testReference are the enrich settings the enrich cases run with.
	testRules     = "block-test-sources:/source^=urn:test:"
	testReference = `{"currency": {"EUR": {"name": "Euro", "usd_rate": 2}}}`
)

// Sequence numbers of the first, second and third records (items) of both fixtures. In the Kinesis fixture
// they are a page view, a purchase from a test source and data that is not JSON.
const (
	seq1 = "49657839261742189301224781097354528940573286710243770386"
	seq2 = "49657839261742189301224781097355737866392901339418476562"
	seq3 = "49657839261742189301224781097356946792212515968593182738"
)

// readFixture returns the content of testdata/name.
func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("fixture: %v", err)
	}
	return b
}

// fakeSFN answers StartSyncExecution as Step Functions does (awsJson 1.0, dates in epoch seconds, the
// output as a JSON string): every execution succeeds, with an output reporting the purchase of the Kinesis
// fixture failed by the workflow. It records the requests it received.
type fakeSFN struct {
	t   *testing.T
	srv *httptest.Server

	mu       sync.Mutex
	requests []map[string]any
}

// newFakeSFN starts a fakeSFN on 127.0.0.1, stopped when the test ends.
func newFakeSFN(t *testing.T) *fakeSFN {
	f := &fakeSFN{t: t}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// URL is the endpoint to give the consumer (AWS_ENDPOINT_URL_SFN).
func (f *fakeSFN) URL() string { return f.srv.URL }

func (f *fakeSFN) serve(w http.ResponseWriter, r *http.Request) {
	t := f.t
	if got := r.Header.Get("X-Amz-Target"); got != "AWSStepFunctions.StartSyncExecution" {
		t.Errorf("X-Amz-Target = %q, want AWSStepFunctions.StartSyncExecution", got)
	}
	if got := r.Header.Get("Content-Type"); got != "application/x-amz-json-1.0" {
		t.Errorf("Content-Type = %q, want application/x-amz-json-1.0", got)
	}
	if auth := r.Header.Get("Authorization"); !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 Credential="+testAccessKey+"/") ||
		!strings.Contains(auth, "/"+testRegion+"/states/aws4_request") {
		t.Errorf("Authorization = %q, want a SigV4 signature for states in %s", auth, testRegion)
	}
	// The SDK puts "sync-" before the host of StartSyncExecution unless the prefix is turned off.
	if want := f.srv.Listener.Addr().String(); r.Host != want {
		t.Errorf("Host = %q, want %q (no sync- prefix)", r.Host, want)
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		t.Errorf("read body: %v", err)
	}
	var req map[string]any
	if err := json.Unmarshal(body, &req); err != nil {
		t.Errorf("body %q is not JSON: %v", body, err)
	}
	f.mu.Lock()
	f.requests = append(f.requests, req)
	f.mu.Unlock()

	in, _ := req["input"].(string)
	out, _ := json.Marshal(event.BatchResult{Processed: 1, Failed: []event.ItemFailure{{
		SequenceNumber: seq2, EventID: "7d0c1a52-3b9e-4f61-8a2d-5c4e3b2a1002",
		Error: workflow.ErrorRuleViolation, Cause: `rule "block-test-sources": /source starts with "urn:test:"`,
	}}})
	execARN := "arn:aws:states:us-east-1:123456789012:express:sdp-Workflow-Ab12Cd34Ef56:0f1e2d3c:5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d"
	resp, _ := json.Marshal(map[string]any{
		"billingDetails":  map[string]any{"billedDurationInMilliseconds": 200, "billedMemoryUsedInMB": 64},
		"executionArn":    execARN,
		"input":           in,
		"inputDetails":    map[string]any{"included": true},
		"name":            "0f1e2d3c",
		"output":          string(out),
		"outputDetails":   map[string]any{"included": true},
		"startDate":       1.764148572123e9,
		"stateMachineArn": testWorkflowARN,
		"status":          "SUCCEEDED",
		"stopDate":        1.764148572456e9,
	})
	w.Header().Set("Content-Type", "application/x-amz-json-1.0")
	w.Header().Set("X-Amzn-Requestid", "5c1c3b2a-0000-4000-8000-000000000001")
	_, _ = w.Write(resp)
}

// checkRequests checks that the consumer started one execution of the workflow, with the two JSON records of
// the Kinesis fixture.
func (f *fakeSFN) checkRequests(t *testing.T) {
	t.Helper()
	f.mu.Lock()
	reqs := append([]map[string]any(nil), f.requests...)
	f.mu.Unlock()
	if len(reqs) != 1 {
		t.Fatalf("StartSyncExecution calls = %d, want 1", len(reqs))
	}
	if got := reqs[0]["stateMachineArn"]; got != testWorkflowARN {
		t.Errorf("stateMachineArn = %v, want %s", got, testWorkflowARN)
	}
	in, _ := reqs[0]["input"].(string)
	var batch event.Batch
	if err := json.Unmarshal([]byte(in), &batch); err != nil {
		t.Fatalf("execution input %q is not a batch: %v", in, err)
	}
	wantID := "shardId-000000000001:" + seq1 + "-" + seq2
	if batch.BatchID != wantID || batch.ShardID != "shardId-000000000001" {
		t.Errorf("batch id, shard = %q, %q; want %q, shardId-000000000001", batch.BatchID, batch.ShardID, wantID)
	}
	if len(batch.Items) != 2 || batch.Items[0].SequenceNumber != seq1 || batch.Items[1].SequenceNumber != seq2 {
		t.Fatalf("batch items = %+v, want the page view and the purchase", batch.Items)
	}
	if batch.Items[1].PartitionKey != "customer-88213" || batch.Items[1].ArrivalTime.IsZero() {
		t.Errorf("purchase item = %+v, want its partition key and arrival time", batch.Items[1])
	}
	var ev event.Event
	if err := json.Unmarshal(batch.Items[0].Event, &ev); err != nil || ev.Type != "page_view" {
		t.Errorf("first item's event = %s (%v), want the page view CloudEvent", batch.Items[0].Event, err)
	}
}

// checkConsumerResponse checks the consumer's answer to the Kinesis fixture: the purchase (failed by the
// workflow) and the record that is not JSON (failed by the consumer), in record order.
func checkConsumerResponse(t *testing.T, body []byte) {
	t.Helper()
	var resp events.KinesisEventResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatalf("response %s is not a KinesisEventResponse: %v", body, err)
	}
	want := []string{seq2, seq3}
	var got []string
	for _, f := range resp.BatchItemFailures {
		got = append(got, f.ItemIdentifier)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("batchItemFailures = %v, want %v (response %s)", got, want, body)
	}
}

// checkEnrichOutput checks the enrich function's answer to the enrich fixture under testRules and
// testReference.
func checkEnrichOutput(t *testing.T, body []byte) {
	t.Helper()
	var out workflow.EnrichOutput
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("output %s is not an EnrichOutput: %v", body, err)
	}
	if len(out.Curated) != 1 || len(out.Facts) != 1 {
		t.Fatalf("curated %d, facts %d; want 1 and 1 (output %s)", len(out.Curated), len(out.Facts), body)
	}
	c := out.Curated[0]
	if c.ID != "7d0c1a52-3b9e-4f61-8a2d-5c4e3b2a2001" || c.ShardID != "shardId-000000000001" || c.SequenceNumber != seq1 {
		t.Errorf("curated = %+v, want the valid purchase with its shard and sequence number", c)
	}
	// REFERENCE_DATA's rate (2), not the built-in one, prices the purchase.
	if usd, _ := c.Enriched["amount_usd"].(float64); math.Abs(usd-379.8) > 1e-9 {
		t.Errorf("enriched.amount_usd = %v, want 379.8 (189.9 × 2)", c.Enriched["amount_usd"])
	}
	if out.Facts[0].ID != c.ID {
		t.Errorf("fact id = %q, want %q", out.Facts[0].ID, c.ID)
	}
	if amount := out.Facts[0].Measures["amount"]; amount != 189.9 {
		t.Errorf("fact measures = %v, want amount 189.9 (the schema's measures)", out.Facts[0].Measures)
	}
	want := []event.ItemFailure{
		{SequenceNumber: seq2, EventID: "7d0c1a52-3b9e-4f61-8a2d-5c4e3b2a2002", Error: workflow.ErrorRuleViolation},
		{SequenceNumber: seq3, EventID: "7d0c1a52-3b9e-4f61-8a2d-5c4e3b2a2003", Error: workflow.ErrorInvalidEvent},
	}
	if len(out.Failed) != len(want) {
		t.Fatalf("failed = %+v, want %d failures", out.Failed, len(want))
	}
	for i, w := range want {
		g := out.Failed[i]
		if g.SequenceNumber != w.SequenceNumber || g.EventID != w.EventID || g.Error != w.Error || g.Cause == "" {
			t.Errorf("failed[%d] = %+v, want %+v with a cause", i, g, w)
		}
	}
}
