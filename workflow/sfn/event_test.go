package sfn

import (
	"encoding/json"
	"testing"
	"time"
)

// TestParseLogEvent checks the conversion of single log messages, including the forms the recorded file
// does not hold.
func TestParseLogEvent(t *testing.T) {
	t.Parallel()
	fallback := time.UnixMilli(1700000009999)
	tests := []struct {
		name    string
		message string
		// wantErr is set for messages that are not history events; check inspects the converted fields.
		wantErr bool
		check   func(t *testing.T, arn string, id, prev int64, ts time.Time, index *int, input, output, cause, resource string)
	}{{
		name: "numbers as strings",
		message: `{"id":"7","type":"TaskStateExited","details":{"name":"Enrich","output":"[1,2]","outputDetails":{"truncated":false}},` +
			`"previous_event_id":"6","event_timestamp":"1700000000123","execution_arn":"arn:x","redrive_count":"0"}`,
		check: func(t *testing.T, arn string, id, prev int64, ts time.Time, _ *int, _, output, _, _ string) {
			if arn != "arn:x" || id != 7 || prev != 6 || !ts.Equal(time.UnixMilli(1700000000123)) || output != "[1,2]" {
				t.Errorf("got arn %s id %d prev %d ts %v output %s", arn, id, prev, ts, output)
			}
		},
	}, {
		name:    "numbers as numbers, no timestamp",
		message: `{"id":3,"type":"MapIterationStarted","details":{"index":2,"name":"Persist"},"previous_event_id":1,"execution_arn":"arn:x"}`,
		check: func(t *testing.T, _ string, id, prev int64, ts time.Time, index *int, _, _, _, _ string) {
			if id != 3 || prev != 1 || !ts.Equal(fallback) || index == nil || *index != 2 {
				t.Errorf("got id %d prev %d ts %v index %v", id, prev, ts, index)
			}
		},
	}, {
		name:    "index of a non-iteration event is ignored",
		message: `{"id":"3","type":"MapStateStarted","details":{"index":"4"},"execution_arn":"arn:x"}`,
		check: func(t *testing.T, _ string, _, _ int64, _ time.Time, index *int, _, _, _, _ string) {
			if index != nil {
				t.Errorf("index = %d, want none", *index)
			}
		},
	}, {
		name:    "output not valid JSON is kept as a string and noted",
		message: `{"id":"9","type":"ExecutionSucceeded","details":{"output":"{\"a\":"},"execution_arn":"arn:x"}`,
		check: func(t *testing.T, _ string, _, _ int64, _ time.Time, _ *int, _, output, cause, _ string) {
			if output != `"{\"a\":"` || cause != TruncatedOutput {
				t.Errorf("output %s cause %q", output, cause)
			}
		},
	}, {
		name:    "plain Lambda ARN resource is kept",
		message: `{"id":"3","type":"LambdaFunctionScheduled","details":{"input":"{}","resource":"arn:aws:lambda:us-east-1:1:function:f"},"execution_arn":"arn:x"}`,
		check: func(t *testing.T, _ string, _, _ int64, _ time.Time, _ *int, input, _, _, resource string) {
			if resource != "arn:aws:lambda:us-east-1:1:function:f" || input != "{}" {
				t.Errorf("resource %s input %s", resource, input)
			}
		},
	}, {
		name:    "optimised integration resource becomes its ARN",
		message: `{"id":"3","type":"TaskScheduled","details":{"resource":"putItem","resourceType":"dynamodb","region":"us-east-1"},"execution_arn":"arn:x"}`,
		check: func(t *testing.T, _ string, _, _ int64, _ time.Time, _ *int, _, _, _, resource string) {
			if resource != "arn:aws:states:::dynamodb:putItem" {
				t.Errorf("resource %s", resource)
			}
		},
	}, {
		name:    "not JSON",
		message: `Permissions are set correctly to allow AWS CloudWatch Logs to write into your logs while creating a subscription.`,
		wantErr: true,
	}, {
		name:    "JSON without an execution ARN",
		message: `{"level":"INFO","msg":"something else"}`,
		wantErr: true,
	}, {
		name:    "bad number",
		message: `{"id":"x1","type":"TaskStarted","execution_arn":"arn:x"}`,
		wantErr: true,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			arn, ev, err := parseLogEvent(tt.message, fallback)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v, want error %v", err, tt.wantErr)
			}
			if tt.check != nil {
				tt.check(t, arn, ev.ID, ev.PreviousID, ev.Timestamp, ev.Index, string(ev.Input), string(ev.Output), ev.Cause, ev.Resource)
			}
		})
	}
}

// TestExecutionName checks the name taken from Express and Standard execution ARNs.
func TestExecutionName(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, arn, want string
	}{
		{name: "express", arn: "arn:aws:states:us-east-1:123456789012:express:sm:batch-1:2f0c1d9e-0000-4000-8000-000000000000", want: "batch-1"},
		{name: "standard", arn: "arn:aws:states:us-east-1:123456789012:execution:sm:batch-1", want: "batch-1"},
		{name: "not an execution ARN", arn: "batch-1", want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := executionName(tt.arn); got != tt.want {
				t.Errorf("executionName = %q, want %q", got, tt.want)
			}
		})
	}
}

// FuzzParseLogEvent checks that no message makes the parser panic and that every event it returns encodes.
func FuzzParseLogEvent(f *testing.F) {
	f.Add(`{"id":"1","type":"ExecutionStarted","details":{"input":"{}","inputDetails":{"truncated":true}},"previous_event_id":"0","event_timestamp":"1700000000000","execution_arn":"arn:x"}`)
	f.Add(`{"id":2,"type":"MapIterationStarted","details":{"index":"1"},"execution_arn":"arn:x"}`)
	f.Add(`{"id":"3","type":"TaskScheduled","details":{"parameters":"[","resource":"invoke","resourceType":"lambda"},"execution_arn":"a"}`)
	f.Fuzz(func(t *testing.T, message string) {
		_, ev, err := parseLogEvent(message, time.UnixMilli(0))
		if err != nil {
			return
		}
		if _, err := json.Marshal(ev); err != nil {
			t.Errorf("event of %q does not encode: %v", message, err)
		}
	})
}
