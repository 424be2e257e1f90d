package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/analytics"
	"github.com/serverless-data-platform/sdp/ingest"
	"github.com/serverless-data-platform/sdp/stream/esm"
)

// startStack runs a local stack in-process on a loopback port and stops it when the test ends.
func startStack(t *testing.T, cfg stackConfig) (string, *stack) {
	t.Helper()
	base, s, _ := runStack(t, cfg)
	return base, s
}

// runStack is startStack that also returns a function that stops the stack before the test ends (it is
// called at cleanup too; calling it again does nothing).
func runStack(t *testing.T, cfg stackConfig) (string, *stack, func()) {
	t.Helper()
	if cfg.DataDir == "" {
		cfg.DataDir = t.TempDir()
	}
	cfg.Addr = "127.0.0.1:0"
	if cfg.Windowing.AllowedLateness == 0 {
		// The tests' events are dated on fixed days: their windows stay open unless a test says otherwise.
		cfg.Windowing.AllowedLateness = 100 * 365 * 24 * time.Hour
	}
	s, err := openStack(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	addr := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, func(a string) { addr <- a }) }()
	var base string
	select {
	case a := <-addr:
		base = "http://" + a
	case err := <-done:
		t.Fatalf("stack stopped before it was ready: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("stack not ready after 10s")
	}
	stopped := false
	stop := func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("stack stopped with an error: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Error("stack did not stop within 30s of cancellation")
		}
	}
	t.Cleanup(stop)
	return base, s, stop
}

func postEvents(t testing.TB, base, contentType string, body []byte) (int, ingest.Response) {
	t.Helper()
	resp, err := http.Post(base+"/v1/events", contentType, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var r ingest.Response
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatalf("decoding the ingest answer (%s): %v", resp.Status, err)
	}
	return resp.StatusCode, r
}

// getJSON fetches a URL and decodes a JSON answer into v; it returns the status.
func getJSON(t testing.TB, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if v != nil && resp.StatusCode == http.StatusOK {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("GET %s: %v in %s", url, err, b)
		}
	}
	return resp.StatusCode
}

// eventually polls cond every 20ms until it holds or the timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func sampleIDs(t testing.TB) ([]byte, map[string]string) {
	t.Helper()
	body, err := os.ReadFile("../../events/sample.json")
	if err != nil {
		t.Fatal(err)
	}
	var evs []struct{ ID, Type string }
	if err := json.Unmarshal(body, &evs); err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for _, e := range evs {
		ids[e.ID] = e.Type
	}
	return body, ids
}

// TestSampleThroughReadAPI is the README's first use: post events/sample.json, then read the curated items
// and the aggregates back through the read API within 2 s.
func TestSampleThroughReadAPI(t *testing.T) {
	base, _ := startStack(t, stackConfig{})
	body, ids := sampleIDs(t)

	for _, path := range []string{"/v1/events/" + "9b2f6f0e-4d0a-4c55-9a51-1f2e7f0c0001", "/v1/events/no-such-event"} {
		if code := getJSON(t, base+path, nil); code != http.StatusNotFound {
			t.Fatalf("GET %s before posting = %d, want 404", path, code)
		}
	}
	posted := time.Now()
	status, r := postEvents(t, base, "application/json", body)
	if status != http.StatusAccepted || r.Accepted != len(ids) || r.Rejected != 0 || len(r.Errors) != 0 {
		t.Fatalf("POST sample = %d %+v, want 202 with %d accepted", status, r, len(ids))
	}
	wantCounts := map[string]int64{}
	for _, typ := range ids {
		wantCounts[typ]++
	}
	eventually(t, 2*time.Second, "curated items and aggregates readable", func() bool {
		for id, typ := range ids {
			var item struct{ ID, Type string }
			if getJSON(t, base+"/v1/events/"+id, &item) != http.StatusOK {
				return false
			}
			if item.ID != id || item.Type != typ {
				t.Fatalf("GET /v1/events/%s = %+v", id, item)
			}
		}
		for typ, want := range wantCounts {
			var agg struct{ Windows []analytics.Window }
			if getJSON(t, base+"/v1/aggregates?type="+typ, &agg) != http.StatusOK {
				return false
			}
			var n int64
			for _, w := range agg.Windows {
				if w.Type != typ {
					t.Fatalf("aggregates?type=%s returned a %s window", typ, w.Type)
				}
				n += w.Count
			}
			if n != want {
				return false
			}
		}
		return true
	})
	t.Logf("5 sample events curated and aggregated %v after the POST was answered", time.Since(posted).Round(time.Millisecond))

	// The same, through the CLI.
	var out, errOut bytes.Buffer
	cli := func(args ...string) int {
		out.Reset()
		errOut.Reset()
		return run(context.Background(), append(args, "--endpoint-url", base), &out, &errOut)
	}
	if code := cli("event", "9b2f6f0e-4d0a-4c55-9a51-1f2e7f0c0003"); code != 0 || !strings.Contains(out.String(), `"order_id": "ord-2026-118842"`) {
		t.Errorf("sdp event: exit %d, %s %s", code, out.String(), errOut.String())
	}
	if code := cli("event", "nope"); code != 1 || !strings.Contains(errOut.String(), `404 Not Found: event "nope" is not curated (yet)`) {
		t.Errorf("sdp event nope: exit %d, stderr %q", code, errOut.String())
	}
	if code := cli("aggregates", "--type", "page_view", "--from", "2026-11-26T09:00:00Z"); code != 0 ||
		!strings.Contains(out.String(), "2026-11-26T09:15:00Z  page_view  https://shop.example.com/web  2      0     1        duration_ms=39355/30647.1/30647.1 scroll_depth=0.91/0.826913/0.826913") {
		t.Errorf("sdp aggregates: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	if code := cli("aggregates", "--by", "type", "--from", "2026-11-26T09:00:00Z"); code != 0 ||
		!strings.Contains(out.String(), "2026-11-26T09:15:00Z  page_view       (all)   2      0     1") {
		t.Errorf("sdp aggregates --by type: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	if code := cli("aggregates", "--output", "json", "--from", "2026-11-26T09:00:00Z"); code != 0 || strings.Count(out.String(), `"start":`) != 3 {
		t.Errorf("sdp aggregates --output json: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	if code := cli("aggregates", "--from", "soon"); code != 1 || !strings.Contains(errOut.String(), "400 Bad Request: from:") {
		t.Errorf("sdp aggregates --from soon: exit %d, stderr %q", code, errOut.String())
	}
	if code := cli("status"); code != 0 || !strings.Contains(out.String(), "5 events curated; DLQ depth 0") || !strings.Contains(out.String(), "shardId-000000000001") {
		t.Errorf("sdp status: exit %d\n%s%s", code, out.String(), errOut.String())
	}

	var dlqAnswer struct {
		Depth    int
		Messages []json.RawMessage
	}
	if getJSON(t, base+"/v1/dlq", &dlqAnswer) != http.StatusOK || dlqAnswer.Depth != 0 {
		t.Fatalf("GET /v1/dlq = %+v, want an empty queue", dlqAnswer)
	}
	if code := getJSON(t, base+"/v1/aggregates?from=yesterday", nil); code != http.StatusBadRequest {
		t.Errorf("GET /v1/aggregates?from=yesterday = %d, want 400", code)
	}
}

// TestSendCommand posts the sample file through `sdp send` and checks its summary and exit codes.
func TestSendCommand(t *testing.T) {
	base, _ := startStack(t, stackConfig{})
	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"send", "--endpoint-url", base, "--output", "json", "../../events/sample.json"}, &out, &errOut)
	if code != 0 {
		t.Fatalf("sdp send exited %d: %s %s", code, out.String(), errOut.String())
	}
	var sum sendSummary
	if err := json.Unmarshal(out.Bytes(), &sum); err != nil || sum.Accepted != 5 || sum.Rejected != 0 {
		t.Fatalf("sdp send output %s (%v), want 5 accepted", out.String(), err)
	}

	bad := filepath.Join(t.TempDir(), "bad.ndjson")
	sample, _ := sampleIDs(t)
	var evs []json.RawMessage
	if err := json.Unmarshal(sample, &evs); err != nil {
		t.Fatal(err)
	}
	lines := string(evs[0]) + "\n" + `{"specversion":"1.0","id":"x","source":"s","type":"nope","time":"2026-11-26T00:00:00Z","data":{}}` + "\n"
	if err := os.WriteFile(bad, []byte(strings.ReplaceAll(lines, "\n  ", "")), 0o644); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	errOut.Reset()
	code = run(context.Background(), []string{"send", "--endpoint-url", base, bad}, &out, &errOut)
	if code != 1 || !strings.Contains(out.String(), `event 1 (id "x"): /type: unknown event type "nope"`) ||
		!strings.Contains(errOut.String(), "some events were rejected") {
		t.Fatalf("sdp send of a bad file: exit %d, stdout %q, stderr %q", code, out.String(), errOut.String())
	}

	code = run(context.Background(), []string{"send", "--endpoint-url", "http://127.0.0.1:1", "../../events/sample.json"}, &out, &errOut)
	if code != 1 || !strings.Contains(errOut.String(), "is `sdp up` running?") {
		t.Fatalf("sdp send to nothing: exit %d, stderr %q", code, errOut.String())
	}
}

// awsCLI returns the AWS CLI v2 path, failing under `make test` (SDP_REQUIRE_AWSCLI=1) when it is missing.
func awsCLI(t *testing.T) string {
	t.Helper()
	const path = "/usr/bin/aws"
	if out, err := exec.Command(path, "--version").CombinedOutput(); err != nil || !strings.HasPrefix(string(out), "aws-cli/2") {
		msg := "the AWS CLI v2 is not at /usr/bin/aws (make test installs the Debian package awscli)"
		if os.Getenv("SDP_REQUIRE_AWSCLI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg + "; run make test")
	}
	return path
}

// TestAWSCLIInvoke uses the AWS CLI v2 as a real client of the local Lambda Invoke API, as the README does.
func TestAWSCLIInvoke(t *testing.T) {
	aws := awsCLI(t)
	base, _ := startStack(t, stackConfig{})
	dir := t.TempDir()
	sample, err := filepath.Abs("../../events/sample.json")
	if err != nil {
		t.Fatal(err)
	}
	apigw, err := filepath.Abs("../../events/apigateway-v2.json")
	if err != nil {
		t.Fatal(err)
	}
	invoke := func(args ...string) (string, string, error) {
		cmd := exec.Command(aws, append([]string{"lambda", "invoke", "--endpoint-url", base, "--cli-binary-format", "raw-in-base64-out"}, args...)...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "AWS_ACCESS_KEY_ID=x", "AWS_SECRET_ACCESS_KEY=x", "AWS_REGION=us-east-1",
			"AWS_CONFIG_FILE=/dev/null", "AWS_SHARED_CREDENTIALS_FILE=/dev/null", "AWS_PAGER=")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		return stdout.String(), stderr.String(), err
	}
	readOut := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}

	stdout, stderr, err := invoke("--function-name", "ingest", "--payload", "file://"+sample, "out.json")
	if err != nil {
		t.Fatalf("aws lambda invoke: %v\n%s\n%s", err, stdout, stderr)
	}
	if !strings.Contains(stdout, `"StatusCode": 200`) || strings.Contains(stdout, "FunctionError") {
		t.Errorf("aws lambda invoke printed %s", stdout)
	}
	var r ingest.Response
	if err := json.Unmarshal([]byte(readOut("out.json")), &r); err != nil || r.Accepted != 5 || r.Rejected != 0 {
		t.Fatalf("out.json = %s (%v), want the per-event results with 5 accepted", readOut("out.json"), err)
	}

	// An API Gateway HTTP API event to the same function, by ARN.
	if _, stderr, err := invoke("--function-name", "arn:aws:lambda:us-east-1:000000000000:function:ingest",
		"--payload", "file://"+apigw, "apigw.json"); err != nil {
		t.Fatalf("invoke with an API Gateway event: %v: %s", err, stderr)
	}
	var gw struct {
		StatusCode int
		Body       string
	}
	if err := json.Unmarshal([]byte(readOut("apigw.json")), &gw); err != nil || gw.StatusCode != 202 || !strings.Contains(gw.Body, `"accepted":5`) {
		t.Fatalf("apigw.json = %s", readOut("apigw.json"))
	}

	// A function error is reported as Lambda reports it.
	stdout, _, err = invoke("--function-name", "ingest", "--payload", "[]", "err.json")
	if err != nil || !strings.Contains(stdout, `"FunctionError": "Unhandled"`) || !strings.Contains(readOut("err.json"), `"errorMessage":`) {
		t.Fatalf("function error: %v, stdout %s, payload %s", err, stdout, readOut("err.json"))
	}

	// An unknown function is the service's ResourceNotFoundException, and the CLI exits non-zero.
	_, stderr, err = invoke("--function-name", "nope", "--payload", "{}", "nope.json")
	if err == nil || !strings.Contains(stderr, "ResourceNotFoundException") {
		t.Fatalf("unknown function: %v, stderr %s", err, stderr)
	}
}

// TestInvokeAPIFunctions invokes the consumer and analytics functions through the Lambda Invoke API with the
// payloads Lambda would give them, and checks the Invoke API's own errors.
func TestInvokeAPIFunctions(t *testing.T) {
	base, s := startStack(t, stackConfig{})
	invoke := func(name string, header http.Header, payload string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, base+"/2015-03-31/functions/"+name+"/invocations", strings.NewReader(payload))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range header {
			req.Header[k] = v
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}

	// A Kinesis batch for the consumer: records carry the sample events, base64 as in Lambda's JSON.
	sample, ids := sampleIDs(t)
	var evs []json.RawMessage
	if err := json.Unmarshal(sample, &evs); err != nil {
		t.Fatal(err)
	}
	var kev events.KinesisEvent
	for i, ev := range evs {
		seq := fmt.Sprintf("%056d", i+1)
		kev.Records = append(kev.Records, events.KinesisEventRecord{
			EventID: "shardId-000000000000:" + seq, EventSource: "aws:kinesis", EventName: "aws:kinesis:record",
			Kinesis: events.KinesisRecord{PartitionKey: "k", SequenceNumber: seq, Data: ev, KinesisSchemaVersion: "1.0"},
		})
	}
	kev.Records = append(kev.Records, events.KinesisEventRecord{EventID: "shardId-000000000000:" + fmt.Sprintf("%056d", 99),
		Kinesis: events.KinesisRecord{PartitionKey: "k", SequenceNumber: fmt.Sprintf("%056d", 99), Data: []byte("not json")}})
	payload, err := json.Marshal(kev)
	if err != nil {
		t.Fatal(err)
	}
	resp, body := invoke("consumer", nil, string(payload))
	if resp.StatusCode != 200 || resp.Header.Get("X-Amz-Function-Error") != "" ||
		body != `{"batchItemFailures":[{"itemIdentifier":"`+fmt.Sprintf("%056d", 99)+`"}]}` {
		t.Fatalf("consumer answered %d %q", resp.StatusCode, body)
	}
	for id := range ids {
		if _, ok, err := s.curated.Get(context.Background(), id); err != nil || !ok {
			t.Fatalf("%s not curated by the consumer invocation (%v)", id, err)
		}
	}

	// The analytics function counts a fact once, however often it is invoked with it.
	facts := `{"batchId":"b1","events":[{"id":"f1","type":"page_view","source":"s","time":"2026-11-26T10:00:05Z","measures":{"duration_ms":10}}]}`
	for i, want := range []string{`{"applied":1,"duplicates":0}`, `{"applied":0,"duplicates":1}`} {
		if resp, body := invoke("analytics", nil, facts); resp.StatusCode != 200 || body != want {
			t.Fatalf("analytics invocation %d answered %d %s, want %s", i, resp.StatusCode, body, want)
		}
	}

	tests := []struct {
		name, function, payload string
		header                  http.Header
		wantStatus              int
		wantType                string // X-Amzn-ErrorType, or X-Amz-Function-Error when a function error
		wantBody                string
	}{
		{"function error", "analytics", `{"events":[{"id":""}]}`, nil, 200, "Unhandled", `"errorMessage":`},
		{"unknown function", "nope", `{}`, nil, 404, "ResourceNotFoundException", "Function not found: arn:aws:lambda:us-east-1:000000000000:function:nope"},
		{"by ARN with a qualifier", "arn:aws:lambda:us-east-1:000000000000:function:analytics:$LATEST", `{"events":[]}`, nil, 200, "", `{"applied":0,"duplicates":0}`},
		{"not JSON", "ingest", `{oops`, nil, 400, "InvalidRequestContentException", "Could not parse request body into json"},
		{"too large", "ingest", `"` + strings.Repeat("x", maxInvokePayload) + `"`, nil, 413, "RequestTooLargeException", "6291456 bytes"},
		{"dry run", "ingest", `{}`, http.Header{"X-Amz-Invocation-Type": {"DryRun"}}, 204, "", ""},
		{"event invocation", "analytics", `{"events":[]}`, http.Header{"X-Amz-Invocation-Type": {"Event"}}, 202, "", ""},
		{"bad invocation type", "ingest", `{}`, http.Header{"X-Amz-Invocation-Type": {"Sometimes"}}, 400, "InvalidParameterValueException", "RequestResponse, Event or DryRun"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := invoke(tt.function, tt.header, tt.payload)
			if resp.StatusCode != tt.wantStatus || !strings.Contains(body, tt.wantBody) {
				t.Fatalf("answered %d %q, want %d containing %q", resp.StatusCode, body, tt.wantStatus, tt.wantBody)
			}
			got := resp.Header.Get("X-Amzn-ErrorType")
			if tt.wantType == "Unhandled" {
				got = resp.Header.Get("X-Amz-Function-Error")
			}
			if got != tt.wantType {
				t.Errorf("error type %q, want %q", got, tt.wantType)
			}
		})
	}
}

// TestNoConsumer checks that sdp up --no-consumer takes events into the stream without invoking the consumer,
// and that the next sdp up on the same data directory consumes them from the last checkpoint.
func TestNoConsumer(t *testing.T) {
	dir := t.TempDir()
	body, ids := sampleIDs(t)
	var calls atomic.Int64
	observe := func(fn esm.Function) esm.Function {
		return func(ctx context.Context, ev events.KinesisEvent) (events.KinesisEventResponse, error) {
			calls.Add(1)
			return fn(ctx, ev)
		}
	}
	base, _, stop := runStack(t, stackConfig{DataDir: dir, NoConsumer: true, Observe: observe})
	if status, r := postEvents(t, base, "application/json", body); status != http.StatusAccepted || r.Accepted != len(ids) {
		t.Fatalf("POST sample = %d %+v, want 202 with %d accepted", status, r, len(ids))
	}
	stop()
	if n := calls.Load(); n != 0 {
		t.Fatalf("the consumer was invoked %d times with --no-consumer", n)
	}

	base, _ = startStack(t, stackConfig{DataDir: dir})
	for id := range ids {
		eventually(t, 10*time.Second, "event "+id+" curated", func() bool {
			return getJSON(t, base+"/v1/events/"+id, nil) == http.StatusOK
		})
	}
}
