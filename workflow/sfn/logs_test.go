package sfn_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"

	"github.com/serverless-data-platform/sdp/workflow/asl"
	"github.com/serverless-data-platform/sdp/workflow/sfn"
)

// The executions recorded in testdata/express-logs.jsonl.
const (
	logGroup = "/aws/vendedlogs/states/sdp-workflow-Logs"
	arnPre   = "arn:aws:states:us-east-1:123456789012:express:sdp-workflow:"
	arnA     = arnPre + "batch-a:0b9a8c4e-1f2d-4c3b-9a8e-7d6c5b4a3f21" // succeeded, task and Map
	arnB     = arnPre + "batch-b:5e4d3c2b-1a09-4f8e-8d7c-6b5a49382716" // failed in a Lambda function
	arnC     = arnPre + "batch-c:9f8e7d6c-5b4a-4392-8170-6f5e4d3c2b1a" // timed out
	arnD     = arnPre + "batch-d:1b2c3d4e-5f60-4718-a9b0-c1d2e3f4a5b6" // still running
	arnE     = arnPre + "batch-e:7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d" // input truncated
	t0       = 1700000000000                                           // ms
)

// at returns the time ms milliseconds after t0, when the recorded events happen.
func at(ms int64) time.Time { return time.UnixMilli(t0 + ms).UTC() }

// byName is the request field of a log group given by name.
var byName = map[string]string{"logGroupName": logGroup}

// TestList checks which executions List returns, in which order, for windows and limits, and that it pages
// through the service's answers.
func TestList(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// group is the log group given to NewLogs, wantGroup the field the request must name it in.
		group     string
		wantGroup map[string]string
		// since, until and limit are List's arguments.
		since, until time.Time
		limit        int
		want         []string // execution ARNs, newest first
	}{{
		name: "all executions newest first",
		want: []string{arnE, arnD, arnC, arnB, arnA},
	}, {
		name:  "limit keeps the newest",
		limit: 2,
		want:  []string{arnE, arnD},
	}, {
		name:  "window by start and stop",
		since: at(2000), until: at(8001),
		want: []string{arnC, arnB},
	}, {
		name:  "execution started before the window is listed by its end",
		since: at(8000), until: at(9500),
		want: []string{arnD, arnC},
	}, {
		name:      "log group given as the ARN of a logging configuration",
		group:     "arn:aws:logs:us-east-1:123456789012:log-group:" + logGroup + ":*",
		wantGroup: map[string]string{"logGroupIdentifier": "arn:aws:logs:us-east-1:123456789012:log-group:" + logGroup},
		limit:     1,
		want:      []string{arnE},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			group, wantGroup := logGroup, byName
			if tt.group != "" {
				group, wantGroup = tt.group, tt.wantGroup
			}
			srv := newLogsServer(t, wantGroup)
			got, err := sfn.NewLogs(srv.client(), group).List(context.Background(), tt.since, tt.until, tt.limit)
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			// Compare the order of ARNs: each result's content is checked by TestListResults.
			var arns []string
			for _, r := range got {
				arns = append(arns, r.ExecutionARN)
			}
			if strings.Join(arns, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("executions =\n%s\nwant\n%s", strings.Join(arns, "\n"), strings.Join(tt.want, "\n"))
			}
			calls := srv.calls()
			if len(calls) < 2 {
				t.Errorf("%d requests: the first page is empty, List must follow nextToken", len(calls))
			}
			for _, req := range calls {
				if p, _ := req["filterPattern"].(string); !strings.Contains(p, `$.type = "ExecutionStarted"`) {
					t.Errorf("filterPattern = %q, want execution-level events only", p)
				}
				if _, ok := req["startTime"]; ok == tt.since.IsZero() {
					t.Errorf("startTime present = %v, want %v", ok, !tt.since.IsZero())
				}
			}
		})
	}
}

// TestListResults checks each execution's result as List builds it.
func TestListResults(t *testing.T) {
	t.Parallel()
	srv := newLogsServer(t, byName)
	got, err := sfn.NewLogs(srv.client(), logGroup).List(context.Background(), time.Time{}, time.Time{}, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The results by execution ARN.
	results := map[string]asl.Result{}
	for _, r := range got {
		results[r.ExecutionARN] = r
	}
	tests := []struct {
		name string
		arn  string
		want asl.Result
	}{{
		name: "succeeded",
		arn:  arnA,
		want: asl.Result{ExecutionARN: arnA, Name: "batch-a", Status: asl.StatusSucceeded,
			Input:     json.RawMessage(`{"batchId":"b-1","events":[{"id":"e1"},{"id":"e2"}]}`),
			Output:    json.RawMessage(`{"batchId":"b-1","persisted":2}`),
			StartDate: at(1000), StopDate: at(1170)},
	}, {
		name: "failed",
		arn:  arnB,
		want: asl.Result{ExecutionARN: arnB, Name: "batch-b", Status: asl.StatusFailed,
			Input: json.RawMessage(`{"batchId":"b-2","events":[]}`), Error: "EmptyBatch",
			Cause:     `{"errorMessage":"no events","errorType":"EmptyBatch"}`,
			StartDate: at(2000), StopDate: at(2051)},
	}, {
		name: "timed out",
		arn:  arnC,
		want: asl.Result{ExecutionARN: arnC, Name: "batch-c", Status: asl.StatusTimedOut,
			Input: json.RawMessage(`{"batchId":"b-3"}`), Error: "States.Timeout",
			Cause: "The execution timed out after 5 seconds.", StartDate: at(3000), StopDate: at(8001)},
	}, {
		name: "running",
		arn:  arnD,
		want: asl.Result{ExecutionARN: arnD, Name: "batch-d", Status: sfn.StatusRunning,
			Input: json.RawMessage(`{"batchId":"b-4"}`), StartDate: at(9000)},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if r := results[tt.arn]; !sameResult(r, tt.want) {
				t.Errorf("result = %+v\nwant     %+v", r, tt.want)
			}
		})
	}
}

// TestHistory checks the history of the recorded successful execution, event by event.
func TestHistory(t *testing.T) {
	t.Parallel()
	srv := newLogsServer(t, byName)
	logs := sfn.NewLogs(srv.client(), logGroup)
	res, events, err := logs.History(context.Background(), arnA)
	if err != nil {
		t.Fatalf("History: %v", err)
	}
	want := asl.Result{ExecutionARN: arnA, Name: "batch-a", Status: asl.StatusSucceeded,
		Input:     json.RawMessage(`{"batchId":"b-1","events":[{"id":"e1"},{"id":"e2"}]}`),
		Output:    json.RawMessage(`{"batchId":"b-1","persisted":2}`),
		StartDate: at(1000), StopDate: at(1170)}
	if !sameResult(*res, want) {
		t.Errorf("result = %+v\nwant     %+v", *res, want)
	}
	if len(events) != 15 {
		t.Fatalf("%d events, want 15 (the duplicate dropped)", len(events))
	}
	for i, ev := range events {
		if ev.ID != int64(i+1) {
			t.Fatalf("event %d has ID %d: not in ID order", i, ev.ID)
		}
	}
	// idx returns a Map iteration index.
	idx := func(i int) *int { return &i }
	tests := []struct {
		name string
		id   int64
		want asl.HistoryEvent
	}{{
		name: "execution started",
		id:   1,
		want: asl.HistoryEvent{ID: 1, Timestamp: at(1000), Type: "ExecutionStarted",
			Input: json.RawMessage(`{"batchId":"b-1","events":[{"id":"e1"},{"id":"e2"}]}`)},
	}, {
		name: "state entered has the state name and input",
		id:   2,
		want: asl.HistoryEvent{ID: 2, Timestamp: at(1010), Type: "TaskStateEntered", State: "Enrich",
			Input: json.RawMessage(`{"batchId":"b-1","events":[{"id":"e1"},{"id":"e2"}]}`)},
	}, {
		name: "task scheduled has the resource and its parameters",
		id:   3,
		want: asl.HistoryEvent{ID: 3, PreviousID: 2, Timestamp: at(1011), Type: "TaskScheduled",
			Resource: "arn:aws:states:::lambda:invoke",
			Input:    json.RawMessage(`{"FunctionName":"enrich","Payload":{"batchId":"b-1","events":[{"id":"e1"},{"id":"e2"}]}}`)},
	}, {
		name: "task succeeded has the output",
		id:   5,
		want: asl.HistoryEvent{ID: 5, PreviousID: 4, Timestamp: at(1090), Type: "TaskSucceeded",
			Resource: "arn:aws:states:::lambda:invoke",
			Output:   json.RawMessage(`{"ExecutedVersion":"$LATEST","Payload":{"batchId":"b-1","events":[{"id":"e1","n":1},{"id":"e2","n":2}]},"StatusCode":200}`)},
	}, {
		name: "map iteration has its index",
		id:   10,
		want: asl.HistoryEvent{ID: 10, PreviousID: 8, Timestamp: at(1094), Type: "MapIterationStarted",
			State: "Persist", Index: idx(1)},
	}, {
		name: "execution succeeded has the output",
		id:   15,
		want: asl.HistoryEvent{ID: 15, PreviousID: 14, Timestamp: at(1170), Type: "ExecutionSucceeded",
			Output: json.RawMessage(`{"batchId":"b-1","persisted":2}`)},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := events[tt.id-1]; !sameEvent(got, tt.want) {
				t.Errorf("event = %s\nwant    %s", mustJSON(t, got), mustJSON(t, tt.want))
			}
		})
	}
	// Every page is requested with the pattern that selects the execution.
	for _, req := range srv.calls() {
		if p := req["filterPattern"]; p != `{ $.execution_arn = "`+arnA+`" }` {
			t.Errorf("filterPattern = %v, want the execution ARN", p)
		}
	}
}

// TestHistoryOutcomes checks History on the other recorded executions and on ARNs it cannot serve.
func TestHistoryOutcomes(t *testing.T) {
	t.Parallel()
	lambdaARN := "arn:aws:lambda:us-east-1:123456789012:function:enrich"
	tests := []struct {
		name string
		arn  string
		// check inspects a successful answer; wantErr tells whether the error is the expected one.
		check   func(t *testing.T, res *asl.Result, events []asl.HistoryEvent)
		wantErr func(error) bool
		// wantCalls < 0 means no request may be sent.
		wantCalls int
	}{{
		name: "failed in a plain Lambda function",
		arn:  arnB,
		check: func(t *testing.T, res *asl.Result, events []asl.HistoryEvent) {
			if res.Status != asl.StatusFailed || res.Error != "EmptyBatch" {
				t.Errorf("result = %+v, want FAILED with EmptyBatch", res)
			}
			if ev := events[2]; ev.Type != "LambdaFunctionScheduled" || ev.Resource != lambdaARN || string(ev.Input) != `{"batchId":"b-2","events":[]}` {
				t.Errorf("scheduled event = %s", mustJSON(t, ev))
			}
			if ev := events[4]; ev.Type != "LambdaFunctionFailed" || ev.Error != "EmptyBatch" ||
				ev.Cause != `{"errorMessage":"no events","errorType":"EmptyBatch"}` {
				t.Errorf("failed event = %s", mustJSON(t, ev))
			}
		},
	}, {
		name: "running has no terminal event",
		arn:  arnD,
		check: func(t *testing.T, res *asl.Result, events []asl.HistoryEvent) {
			if res.Status != sfn.StatusRunning || !res.StopDate.IsZero() || len(events) != 2 {
				t.Errorf("result = %+v with %d events, want RUNNING with 2", res, len(events))
			}
		},
	}, {
		name: "truncated input is kept as text and noted",
		arn:  arnE,
		check: func(t *testing.T, res *asl.Result, events []asl.HistoryEvent) {
			if res.Status != asl.StatusSucceeded || res.Cause != sfn.TruncatedInput {
				t.Errorf("result status %s cause %q, want SUCCEEDED noted %q", res.Status, res.Cause, sfn.TruncatedInput)
			}
			var text string
			if err := json.Unmarshal(res.Input, &text); err != nil || !strings.HasPrefix(text, `{"batchId":"b-5","events":[`) {
				t.Errorf("input = %s, want the logged text as a JSON string", res.Input)
			}
			if events[0].Cause != sfn.TruncatedInput {
				t.Errorf("ExecutionStarted cause = %q, want %q", events[0].Cause, sfn.TruncatedInput)
			}
			if _, err := json.Marshal(events); err != nil {
				t.Errorf("events do not encode: %v", err)
			}
		},
	}, {
		name:    "unknown execution is not found",
		arn:     arnPre + "batch-z:00000000-0000-4000-8000-000000000000",
		wantErr: func(err error) bool { return errors.Is(err, sfn.ErrNotFound) },
	}, {
		name:      "an ARN that would break the pattern is refused",
		arn:       `arn:aws:states:x" || $.type = "y`,
		wantErr:   func(err error) bool { return err != nil && !errors.Is(err, sfn.ErrNotFound) },
		wantCalls: -1,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newLogsServer(t, byName)
			res, events, err := sfn.NewLogs(srv.client(), logGroup).History(context.Background(), tt.arn)
			if tt.wantErr != nil {
				if !tt.wantErr(err) {
					t.Errorf("error = %v", err)
				}
			} else if err != nil {
				t.Fatalf("History: %v", err)
			} else {
				tt.check(t, res, events)
			}
			if n := len(srv.calls()); tt.wantCalls < 0 && n != 0 {
				t.Errorf("%d requests, want none", n)
			}
		})
	}
}

// TestLogsAPIError checks that a service error is returned wrapped with the log group.
func TestLogsAPIError(t *testing.T) {
	t.Parallel()
	srv := newLogsServer(t, byName)
	srv.status = 400
	srv.errBody = `{"__type":"ResourceNotFoundException","message":"The specified log group does not exist."}`
	logs := sfn.NewLogs(srv.client(), logGroup)
	tests := []struct {
		name string
		call func() error
	}{
		{name: "List", call: func() error {
			_, err := logs.List(context.Background(), time.Time{}, time.Time{}, 10)
			return err
		}},
		{name: "History", call: func() error {
			_, _, err := logs.History(context.Background(), arnA)
			return err
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := tt.call()
			var nf *types.ResourceNotFoundException
			if !errors.As(err, &nf) || !strings.Contains(err.Error(), logGroup) {
				t.Errorf("error = %v, want a ResourceNotFoundException naming the log group", err)
			}
		})
	}
}

// sameEvent compares events, times by instant.
func sameEvent(a, b asl.HistoryEvent) bool {
	ai, bi := -1, -1
	if a.Index != nil {
		ai = *a.Index
	}
	if b.Index != nil {
		bi = *b.Index
	}
	return a.ID == b.ID && a.PreviousID == b.PreviousID && a.Timestamp.Equal(b.Timestamp) && a.Type == b.Type &&
		a.State == b.State && a.Resource == b.Resource && ai == bi && string(a.Input) == string(b.Input) &&
		string(a.Output) == string(b.Output) && a.Error == b.Error && a.Cause == b.Cause && a.RetryCount == b.RetryCount
}

// mustJSON encodes v for messages.
func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
