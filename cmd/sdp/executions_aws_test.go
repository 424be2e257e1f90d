package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/workflow/asl"
	"github.com/serverless-data-platform/sdp/workflow/history"
)

// fakeAWS answers the two calls `sdp executions` makes in AWS, in the services' JSON shapes: CloudWatch Logs
// FilterLogEvents from recorded Express execution log events (every event whose execution_arn the filter
// pattern names, or all; one page; time bounds not applied), and Step Functions StartSyncExecution, which
// it records and answers SUCCEEDED with the input as output.
type fakeAWS struct {
	t      *testing.T
	events []json.RawMessage
	mu     sync.Mutex
	starts []map[string]any
}

func (f *fakeAWS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if !strings.HasPrefix(r.Header.Get("Authorization"), "AWS4-HMAC-SHA256 ") {
		f.t.Errorf("%s: unsigned request", r.Header.Get("X-Amz-Target"))
	}
	var in map[string]any
	if err := json.Unmarshal(body, &in); err != nil {
		f.t.Errorf("request body %q: %v", body, err)
	}
	switch r.Header.Get("X-Amz-Target") {
	case "Logs_20140328.FilterLogEvents":
		if in["logGroupName"] != "sdp-workflow-logs" {
			f.t.Errorf("FilterLogEvents on log group %v", in["logGroupName"])
		}
		pattern, _ := in["filterPattern"].(string)
		var out []json.RawMessage
		for _, e := range f.events {
			var ev struct{ Message string }
			_ = json.Unmarshal(e, &ev)
			var msg struct {
				ARN string `json:"execution_arn"`
			}
			_ = json.Unmarshal([]byte(ev.Message), &msg)
			if pattern == "" || !strings.Contains(pattern, "execution_arn") || strings.Contains(pattern, msg.ARN) {
				out = append(out, e)
			}
		}
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_ = json.NewEncoder(w).Encode(map[string]any{"events": out, "searchedLogStreams": []any{}})
	case "AWSStepFunctions.StartSyncExecution":
		f.mu.Lock()
		f.starts = append(f.starts, in)
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"executionArn":    "arn:aws:states:us-east-1:123456789012:express:sdp-workflow:replay-1:00000000-0000-4000-8000-000000000001",
			"stateMachineArn": in["stateMachineArn"], "name": "replay-1", "status": "SUCCEEDED",
			"startDate": 1700000100.0, "stopDate": 1700000100.5, "input": in["input"], "output": in["input"],
		})
	default:
		f.t.Errorf("unexpected call %q", r.Header.Get("X-Amz-Target"))
		w.WriteHeader(http.StatusBadRequest)
	}
}

// TestExecutionsCommandsAWS runs `sdp executions ls|show|replay --log-group` against services that answer
// as CloudWatch Logs and Step Functions do: the listing and the timeline come from the execution log, and the
// replay starts the state machine with the logged input.
func TestExecutionsCommandsAWS(t *testing.T) {
	f, err := os.Open("../../workflow/sfn/testdata/express-logs.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fake := &fakeAWS{t: t}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		fake.events = append(fake.events, json.RawMessage(bytes.Clone(sc.Bytes())))
	}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "secret")
	t.Setenv("AWS_CONFIG_FILE", os.DevNull)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", os.DevNull)

	var out, errOut bytes.Buffer
	cli := func(args ...string) int {
		out.Reset()
		errOut.Reset()
		return run(context.Background(), append(args, "--endpoint-url", srv.URL, "--log-group", "sdp-workflow-logs"), &out, &errOut)
	}
	if code := cli("executions", "ls", "--output", "json", "--limit", "0"); code != 0 {
		t.Fatalf("sdp executions ls --log-group: exit %d: %s", code, errOut.String())
	}
	var listed []history.Record
	if err := json.Unmarshal(out.Bytes(), &listed); err != nil || len(listed) != 5 {
		t.Fatalf("listed %d executions (%v); want the 5 of the log:\n%s", len(listed), err, out.String())
	}
	var succeeded *history.Record
	for i := range listed {
		if strings.Contains(listed[i].ExecutionARN, ":batch-a:") {
			succeeded = &listed[i]
		}
	}
	if succeeded == nil || succeeded.Status != asl.StatusSucceeded {
		t.Fatalf("batch-a listed as %+v; want SUCCEEDED", succeeded)
	}

	if code := cli("executions", "show", succeeded.ExecutionARN); code != 0 {
		t.Fatalf("sdp executions show: exit %d: %s", code, errOut.String())
	}
	for _, want := range []string{"Status     SUCCEEDED", "ExecutionStarted", "ExecutionSucceeded"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("show lacks %q:\n%s", want, out.String())
		}
	}
	if code := cli("executions", "show", "batch-a"); code != 1 || !strings.Contains(errOut.String(), "by its ARN") {
		t.Errorf("show by name in AWS: exit %d, stderr %q; want a message asking for the ARN", code, errOut.String())
	}

	const sm = "arn:aws:states:us-east-1:123456789012:stateMachine:sdp-workflow"
	if code := cli("executions", "replay", succeeded.ExecutionARN, "--state-machine-arn", sm, "--output", "json"); code != 0 {
		t.Fatalf("sdp executions replay: exit %d: %s", code, errOut.String())
	}
	var replay history.Record
	if err := json.Unmarshal(out.Bytes(), &replay); err != nil || replay.Status != asl.StatusSucceeded ||
		replay.ReplayOf != succeeded.ExecutionARN {
		t.Fatalf("replay = %+v (%v)", replay, err)
	}
	fake.mu.Lock()
	defer fake.mu.Unlock()
	if len(fake.starts) != 1 || fake.starts[0]["stateMachineArn"] != sm ||
		!strings.Contains(fake.starts[0]["input"].(string), `"batchId":"b-1"`) {
		t.Errorf("StartSyncExecution calls = %v; want one with the logged input of batch-a", fake.starts)
	}
	if code := cli("executions", "replay", succeeded.ExecutionARN); code != 1 || !strings.Contains(errOut.String(), "--state-machine-arn") {
		t.Errorf("replay without --state-machine-arn: exit %d, stderr %q", code, errOut.String())
	}
}
