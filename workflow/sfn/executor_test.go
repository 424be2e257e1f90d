package sfn_test

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awssfn "github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/aws-sdk-go-v2/service/sfn/types"
	"github.com/aws/smithy-go"

	"github.com/serverless-data-platform/sdp/workflow/asl"
	"github.com/serverless-data-platform/sdp/workflow/sfn"
)

const execARN = "arn:aws:states:us-east-1:123456789012:express:sdp-workflow:batch-7:3f1c2b4a-9e8d-4c7b-a6f5-0e1d2c3b4a59"

// Answers of StartSyncExecution, in the service's shape (dates are epoch seconds).
var (
	// succeeded is a sync execution that ended well: 200 with the output.
	succeeded = reply{status: 200, body: `{"billingDetails":{"billedDurationInMilliseconds":300,"billedMemoryUsedInMB":64},` +
		`"executionArn":"` + execARN + `","input":"{\"batchId\":\"b-7\"}","inputDetails":{"included":true},` +
		`"name":"batch-7","output":"{\"batchId\":\"b-7\",\"persisted\":3}","outputDetails":{"included":true},` +
		`"startDate":1.700000000123E9,"stateMachineArn":"` + machineARN + `","status":"SUCCEEDED",` +
		`"stopDate":1.700000000456E9}`}
	// failed and timedOut also answer 200: the status says the execution did not succeed.
	failed = reply{status: 200, body: `{"billingDetails":{"billedDurationInMilliseconds":100,"billedMemoryUsedInMB":64},` +
		`"cause":"{\"errorMessage\":\"table is gone\",\"errorType\":\"ResourceNotFound\"}","error":"States.TaskFailed",` +
		`"executionArn":"` + execARN + `","input":"{\"batchId\":\"b-7\"}","inputDetails":{"included":true},` +
		`"name":"batch-7","startDate":1.700000000123E9,"stateMachineArn":"` + machineARN + `","status":"FAILED",` +
		`"stopDate":1.7000000002E9}`}
	timedOut = reply{status: 200, body: `{"cause":"The execution timed out after 300 seconds.","error":"States.Timeout",` +
		`"executionArn":"` + execARN + `","input":"{}","inputDetails":{"included":true},"name":"batch-7",` +
		`"startDate":1.7E9,"stateMachineArn":"` + machineARN + `","status":"TIMED_OUT","stopDate":1.7000003E9}`}
	// noMachine and badInput are client errors; the real service namespaces some __type values.
	noMachine = reply{status: 400, body: `{"__type":"com.amazonaws.swf.service.v2.model#StateMachineDoesNotExist",` +
		`"message":"State Machine Does Not Exist: '` + machineARN + `'"}`}
	badInput = reply{status: 400, body: `{"__type":"InvalidExecutionInput","message":"Invalid State Machine Execution Input: 'Unexpected end-of-input'"}`}
	// throttled refuses the request; internal, gateway and reset leave unknown whether it ran.
	throttled = reply{status: 400, body: `{"__type":"ThrottlingException","message":"Rate exceeded"}`}
	internal  = reply{status: 500, body: `{"__type":"InternalFailure","message":"Internal failure"}`}
	gateway   = reply{status: 504, body: `{"message":"Gateway Timeout"}`}
	reset     = reply{reset: true}
)

// TestExecute runs Execute against each kind of answer and checks the request the service received.
func TestExecute(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		replies []reply
		// input is what Execute is given.
		input string
		// wantInput is the input field of the request.
		wantInput string
		// wantOut is the output of a successful call; check inspects the error of a failed one.
		wantOut string
		check   func(t *testing.T, err error)
	}{{
		name:      "succeeded returns the output",
		replies:   []reply{succeeded},
		input:     `{"batchId":"b-7"}`,
		wantInput: `{"batchId":"b-7"}`,
		wantOut:   `{"batchId":"b-7","persisted":3}`,
	}, {
		name:      "empty input is sent as an empty object",
		replies:   []reply{succeeded},
		wantInput: `{}`,
		wantOut:   `{"batchId":"b-7","persisted":3}`,
	}, {
		name:      "failed is an ExecutionError with the error and cause",
		replies:   []reply{failed},
		input:     `{"batchId":"b-7"}`,
		wantInput: `{"batchId":"b-7"}`,
		check: func(t *testing.T, err error) {
			var ee *sfn.ExecutionError
			if !errors.As(err, &ee) {
				t.Fatalf("error %v is not an *ExecutionError", err)
			}
			want := sfn.ExecutionError{ARN: execARN, Status: asl.StatusFailed, ErrorName: "States.TaskFailed",
				Cause: `{"errorMessage":"table is gone","errorType":"ResourceNotFound"}`}
			if *ee != want {
				t.Errorf("error = %+v, want %+v", *ee, want)
			}
			var ae *asl.Error
			if !errors.As(err, &ae) || ae.Name != "States.TaskFailed" {
				t.Errorf("error %v does not unwrap to the asl.Error States.TaskFailed", err)
			}
			if msg := err.Error(); !strings.Contains(msg, execARN) || !strings.Contains(msg, "FAILED: States.TaskFailed: ") {
				t.Errorf("Error() = %q, want the ARN, status, error and cause", msg)
			}
		},
	}, {
		name:      "timed out is an ExecutionError",
		replies:   []reply{timedOut},
		input:     `{}`,
		wantInput: `{}`,
		check: func(t *testing.T, err error) {
			var ee *sfn.ExecutionError
			if !errors.As(err, &ee) || ee.Status != asl.StatusTimedOut || ee.ErrorName != "States.Timeout" {
				t.Fatalf("error = %v, want a TIMED_OUT ExecutionError with States.Timeout", err)
			}
		},
	}, {
		name:      "missing state machine is a wrapped API error",
		replies:   []reply{noMachine},
		input:     `{}`,
		wantInput: `{}`,
		check: func(t *testing.T, err error) {
			var nf *types.StateMachineDoesNotExist
			if !errors.As(err, &nf) {
				t.Fatalf("error %v is not a StateMachineDoesNotExist", err)
			}
			if msg := err.Error(); !strings.Contains(msg, "StartSyncExecution") || !strings.Contains(msg, machineARN) {
				t.Errorf("Error() = %q, want the operation and the state machine ARN", msg)
			}
			var ee *sfn.ExecutionError
			if errors.As(err, &ee) {
				t.Error("an API error is not an ExecutionError")
			}
		},
	}, {
		name:      "invalid input is a wrapped API error",
		replies:   []reply{badInput},
		input:     `{"batchId":`,
		wantInput: `{"batchId":`,
		check: func(t *testing.T, err error) {
			var apiErr smithy.APIError
			if !errors.As(err, &apiErr) || apiErr.ErrorCode() != "InvalidExecutionInput" {
				t.Fatalf("error = %v, want InvalidExecutionInput", err)
			}
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newSFNServer(t, tt.replies...)
			e := sfn.New(srv.client(), machineARN)
			out, err := e.Execute(context.Background(), []byte(tt.input))
			if tt.check == nil {
				if err != nil {
					t.Fatalf("Execute: %v", err)
				}
				if string(out) != tt.wantOut {
					t.Errorf("output = %s, want %s", out, tt.wantOut)
				}
			} else {
				if err == nil {
					t.Fatalf("Execute returned %s, want an error", out)
				}
				tt.check(t, err)
			}
			calls := srv.calls()
			if len(calls) != 1 {
				t.Fatalf("%d requests, want 1", len(calls))
			}
			req := calls[0]
			if req["stateMachineArn"] != machineARN || req["input"] != tt.wantInput {
				t.Errorf("request = %v, want stateMachineArn %s and input %s", req, machineARN, tt.wantInput)
			}
			if _, ok := req["name"]; ok {
				t.Errorf("request has a name %v; Execute lets the service name the execution", req["name"])
			}
		})
	}
}

// TestStart checks the full result of each final status, as replay reads it.
func TestStart(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// execName is the name given to Start ("" lets the service name the execution).
		execName string
		reply    reply
		want     asl.Result
	}{{
		name:     "named succeeded execution",
		execName: "batch-7",
		reply:    succeeded,
		want: asl.Result{
			ExecutionARN: execARN, Name: "batch-7", Status: asl.StatusSucceeded,
			Input: json.RawMessage(`{"batchId":"b-7"}`), Output: json.RawMessage(`{"batchId":"b-7","persisted":3}`),
			StartDate: time.UnixMilli(1700000000123), StopDate: time.UnixMilli(1700000000456),
		},
	}, {
		name:  "failed execution is a result, not an error",
		reply: failed,
		want: asl.Result{
			ExecutionARN: execARN, Name: "batch-7", Status: asl.StatusFailed,
			Input: json.RawMessage(`{"batchId":"b-7"}`), Error: "States.TaskFailed",
			Cause:     `{"errorMessage":"table is gone","errorType":"ResourceNotFound"}`,
			StartDate: time.UnixMilli(1700000000123), StopDate: time.UnixMilli(1700000000200),
		},
	}, {
		name:  "timed out execution",
		reply: timedOut,
		want: asl.Result{
			ExecutionARN: execARN, Name: "batch-7", Status: asl.StatusTimedOut, Input: json.RawMessage(`{}`),
			Error: "States.Timeout", Cause: "The execution timed out after 300 seconds.",
			StartDate: time.Unix(1700000000, 0), StopDate: time.Unix(1700000300, 0),
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newSFNServer(t, tt.reply)
			res, err := sfn.New(srv.client(), machineARN).Start(context.Background(), tt.execName, []byte(`{"batchId":"b-7"}`))
			if err != nil {
				t.Fatalf("Start: %v", err)
			}
			if !sameResult(*res, tt.want) {
				t.Errorf("result = %+v\nwant     %+v", *res, tt.want)
			}
			req := srv.calls()[0]
			if name, ok := req["name"]; (tt.execName != "") != ok || (ok && name != tt.execName) {
				t.Errorf("request name = %v, want %q", name, tt.execName)
			}
		})
	}
}

// sameResult compares results, times by instant.
func sameResult(a, b asl.Result) bool {
	return a.ExecutionARN == b.ExecutionARN && a.Name == b.Name && a.Status == b.Status &&
		string(a.Input) == string(b.Input) && string(a.Output) == string(b.Output) && a.Error == b.Error &&
		a.Cause == b.Cause && a.StartDate.Equal(b.StartDate) && a.StopDate.Equal(b.StopDate)
}

// TestAtMostOnce checks that a call is sent again only when the service surely did not run it.
func TestAtMostOnce(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// replies are the answers in turn; wantCalls is how many requests reach the service.
		replies   []reply
		wantCalls int
		wantErr   bool
	}{
		{name: "throttled call is retried", replies: []reply{throttled, succeeded}, wantCalls: 2},
		{name: "throttling until attempts run out", replies: []reply{throttled}, wantCalls: 3, wantErr: true},
		{name: "internal failure is not retried", replies: []reply{internal, succeeded}, wantCalls: 1, wantErr: true},
		{name: "gateway timeout is not retried", replies: []reply{gateway, succeeded}, wantCalls: 1, wantErr: true},
		{name: "connection reset after the request is not retried", replies: []reply{reset, succeeded}, wantCalls: 1, wantErr: true},
		{name: "client error is not retried", replies: []reply{noMachine, succeeded}, wantCalls: 1, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newSFNServer(t, tt.replies...)
			_, err := sfn.New(srv.client(), machineARN).Execute(context.Background(), []byte(`{}`))
			if (err != nil) != tt.wantErr {
				t.Errorf("Execute error = %v, want error %v", err, tt.wantErr)
			}
			if n := len(srv.calls()); n != tt.wantCalls {
				t.Errorf("%d requests, want %d", n, tt.wantCalls)
			}
		})
	}
}

// TestAtMostOnceWithoutPolicy shows why the policy exists: the SDK's own retryer sends again a request
// that may have started an execution.
func TestAtMostOnceWithoutPolicy(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		first reply
	}{
		{name: "internal failure", first: internal},
		{name: "gateway timeout", first: gateway},
		{name: "connection reset", first: reset},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newSFNServer(t, tt.first, succeeded)
			_, err := srv.client().StartSyncExecution(context.Background(), &awssfn.StartSyncExecutionInput{
				StateMachineArn: aws.String(machineARN), Input: aws.String("{}"),
			})
			if err != nil || len(srv.calls()) != 2 {
				t.Errorf("plain client: error %v after %d requests, want success after 2", err, len(srv.calls()))
			}
		})
	}
}

// TestUnreachableIsRetried checks that a connection that cannot be opened is retried: nothing was sent.
func TestUnreachableIsRetried(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + l.Addr().String()
	_ = l.Close()
	c := sfn.NewClient(testConfig(), url, func(o *awssfn.Options) { o.Retryer = fastRetryer() })
	_, err = sfn.New(c, machineARN).Execute(context.Background(), []byte(`{}`))
	var maxErr *retry.MaxAttemptsError
	if !errors.As(err, &maxErr) || maxErr.Attempt != 3 {
		t.Errorf("error = %v, want the attempts exhausted after 3 dials", err)
	}
}

// TestNewClientEndpoint checks that only an explicit endpoint replaces the SDK's endpoint resolution.
func TestNewClientEndpoint(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		endpoint string
		want     *string
	}{
		{name: "default endpoints", endpoint: "", want: nil},
		{name: "custom endpoint", endpoint: "http://127.0.0.1:4599", want: aws.String("http://127.0.0.1:4599")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := sfn.NewClient(testConfig(), tt.endpoint).Options().BaseEndpoint
			if aws.ToString(got) != aws.ToString(tt.want) || (got == nil) != (tt.want == nil) {
				t.Errorf("BaseEndpoint = %v, want %v", aws.ToString(got), aws.ToString(tt.want))
			}
		})
	}
}

// TestStartCanceled checks that a canceled context sends nothing.
func TestStartCanceled(t *testing.T) {
	t.Parallel()
	srv := newSFNServer(t, succeeded)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := sfn.New(srv.client(), machineARN).Start(ctx, "", nil)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v, want context.Canceled", err)
	}
	if n := len(srv.calls()); n != 0 {
		t.Errorf("%d requests after cancel, want 0", n)
	}
}
