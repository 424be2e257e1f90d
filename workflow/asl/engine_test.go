package asl_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/serverless-data-platform/sdp/workflow/asl"
)

// testOptions are the resources the state tests use: test task handlers and a fake Lambda whose functions
// named "fail..." fail and the others echo their payload.
func testOptions() []asl.Option {
	return []asl.Option{
		asl.WithClock(newStepClock()),
		asl.WithRand(seqRand()),
		asl.WithTask("arn:aws:states:::test:double", taskOf(func(p any) (any, error) {
			v, _ := p.(map[string]any)["value"].(float64)
			return map[string]any{"value": v * 2}, nil
		})),
		asl.WithTask("arn:aws:states:::test:echo", taskOf(func(p any) (any, error) { return p, nil })),
		asl.WithTask("arn:aws:states:::test:fail", taskOf(func(any) (any, error) {
			return nil, &asl.Error{Name: "Custom.Error", Cause: "boom"}
		})),
		asl.WithTask("arn:aws:states:::test:plain", taskOf(func(any) (any, error) { return nil, errors.New("plain failure") })),
		asl.WithTask("arn:aws:states:::test:struct", taskOf(func(any) (any, error) {
			return struct {
				N int      `json:"n"`
				S []string `json:"s"`
			}{3, []string{"a"}}, nil
		})),
		asl.WithLambda(funcLambda{invoke: func(_ context.Context, fn string, payload []byte) ([]byte, error) {
			if strings.Contains(fn, "fail") {
				return nil, &asl.FunctionError{Type: "Oops", Message: "bad"}
			}
			if strings.Contains(fn, "missing") {
				return nil, &asl.Error{Name: asl.ErrorLambdaResourceNotFound, Cause: "no such function"}
			}
			return payload, nil
		}}),
	}
}

type engineCase struct {
	name   string
	def    string
	input  string
	opts   []asl.Option
	status asl.Status
	output string // when the execution succeeds
	err    string // error name when it does not
	cause  string // checked when not empty
}

func runEngineCases(t *testing.T, cases []engineCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opts := append(testOptions(), tc.opts...)
			m := parseMachine(t, tc.def, opts...)
			input := tc.input
			if input == "" {
				input = "{}"
			}
			res := execMachine(t, m, input)
			want := tc.status
			if want == "" {
				want = asl.StatusSucceeded
			}
			if res.Status != want {
				t.Fatalf("status %s (%s: %s), want %s", res.Status, res.Error, res.Cause, want)
			}
			if want == asl.StatusSucceeded && !jsonEqual(t, res.Output, tc.output) {
				t.Errorf("output %s, want %s", res.Output, tc.output)
			}
			if want != asl.StatusSucceeded {
				if res.Error != tc.err {
					t.Errorf("error %q (cause %q), want %q", res.Error, res.Cause, tc.err)
				}
				if tc.cause != "" && res.Cause != tc.cause {
					t.Errorf("cause %q, want %q", res.Cause, tc.cause)
				}
			}
		})
	}
}

func TestPassAndDataFlow(t *testing.T) {
	t.Parallel()
	runEngineCases(t, []engineCase{
		{
			name:   "Result at ResultPath",
			def:    `{"StartAt":"P","States":{"P":{"Type":"Pass","Result":{"x":1},"ResultPath":"$.r","End":true}}}`,
			input:  `{"a":1}`,
			output: `{"a":1,"r":{"x":1}}`,
		},
		{
			name:   "no fields passes the input",
			def:    `{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}`,
			input:  `{"a":[1,2,{"b":null}]}`,
			output: `{"a":[1,2,{"b":null}]}`,
		},
		{
			name: "Parameters with paths, context and intrinsics",
			def: `{"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":{"in.$":"$.a","name.$":"$$.State.Name",
				"const":"c","msg.$":"States.Format('n={}', $.a)"},"End":true}}}`,
			input:  `{"a":1}`,
			output: `{"in":1,"name":"P","const":"c","msg":"n=1"}`,
		},
		{
			name:   "InputPath null gives {}",
			def:    `{"StartAt":"P","States":{"P":{"Type":"Pass","InputPath":null,"End":true}}}`,
			input:  `{"a":1}`,
			output: `{}`,
		},
		{
			name:   "ResultPath null keeps the input",
			def:    `{"StartAt":"P","States":{"P":{"Type":"Pass","Result":"x","ResultPath":null,"End":true}}}`,
			input:  `{"a":1}`,
			output: `{"a":1}`,
		},
		{
			name:   "OutputPath null gives {}",
			def:    `{"StartAt":"P","States":{"P":{"Type":"Pass","OutputPath":null,"End":true}}}`,
			input:  `{"a":1}`,
			output: `{}`,
		},
		{
			name:   "InputPath then ResultPath into the raw input then OutputPath",
			def:    `{"StartAt":"P","States":{"P":{"Type":"Pass","InputPath":"$.in","ResultPath":"$.copy","OutputPath":"$.copy","End":true}}}`,
			input:  `{"in":{"v":1},"other":2}`,
			output: `{"v":1}`,
		},
		{
			name:   "InputPath that selects nothing is States.Runtime",
			def:    `{"StartAt":"P","States":{"P":{"Type":"Pass","InputPath":"$.missing","End":true}}}`,
			input:  `{"a":1}`,
			status: asl.StatusFailed,
			err:    asl.ErrorRuntime,
		},
		{
			name:   "ResultPath into a string is States.ResultPathMatchFailure",
			def:    `{"StartAt":"P","States":{"P":{"Type":"Pass","Result":1,"ResultPath":"$.a.b","End":true}}}`,
			input:  `{"a":"text"}`,
			status: asl.StatusFailed,
			err:    asl.ErrorResultPathMatchFailure,
		},
		{
			name: "states chain through Next",
			def: `{"StartAt":"A","States":{"A":{"Type":"Pass","Result":1,"ResultPath":"$.a","Next":"B"},
				"B":{"Type":"Pass","Result":2,"ResultPath":"$.b","End":true}}}`,
			output: `{"a":1,"b":2}`,
		},
	})
}

func TestTaskStates(t *testing.T) {
	t.Parallel()
	runEngineCases(t, []engineCase{
		{
			name: "handler with InputPath, Parameters, ResultSelector, ResultPath, OutputPath",
			def: `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::test:double","InputPath":"$.in",
				"Parameters":{"value.$":"$.v"},"ResultSelector":{"doubled.$":"$.value"},"ResultPath":"$.out",
				"OutputPath":"$.out","End":true}}}`,
			input:  `{"in":{"v":21},"keep":true}`,
			output: `{"doubled":42}`,
		},
		{
			name:   "handler result that is not decoded JSON is normalised",
			def:    `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::test:struct","End":true}}}`,
			output: `{"n":3,"s":["a"]}`,
		},
		{
			name: "lambda:invoke wraps the payload",
			def: `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke",
				"Parameters":{"FunctionName":"echo","Payload.$":"$"},
				"ResultSelector":{"code.$":"$.StatusCode","p.$":"$.Payload","v.$":"$.ExecutedVersion",
				"h.$":"$.SdkHttpMetadata.HttpStatusCode"},"End":true}}}`,
			input:  `{"a":[1,"x"]}`,
			output: `{"code":200,"p":{"a":[1,"x"]},"v":"$LATEST","h":200}`,
		},
		{
			name: "lambda:invoke with a Qualifier",
			def: `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke",
				"Parameters":{"FunctionName":"echo","Qualifier":"7","Payload":{"k":1}},"OutputPath":"$.ExecutedVersion","End":true}}}`,
			output: `"7"`,
		},
		{
			name:   "plain function ARN gets the effective input and returns the payload",
			def:    `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:123456789012:function:echo:live","End":true}}}`,
			input:  `{"a":1}`,
			output: `{"a":1}`,
		},
		{
			name: "function error is named by its type with the error payload as cause",
			def: `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke",
				"Parameters":{"FunctionName":"fail"},"End":true}}}`,
			status: asl.StatusFailed,
			err:    "Oops",
			cause:  `{"errorMessage":"bad","errorType":"Oops"}`,
		},
		{
			name: "a Lambda port error keeps its name",
			def: `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:123456789012:function:missing",
				"End":true}}}`,
			status: asl.StatusFailed,
			err:    asl.ErrorLambdaResourceNotFound,
		},
		{
			name:   "a handler's plain error is States.TaskFailed",
			def:    `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::test:plain","End":true}}}`,
			status: asl.StatusFailed,
			err:    asl.ErrorTaskFailed,
			cause:  "plain failure",
		},
	})
}

func TestChoiceWaitSucceedFail(t *testing.T) {
	t.Parallel()
	choice := `{"StartAt":"C","States":{
		"C":{"Type":"Choice","Choices":[
			{"Variable":"$.n","NumericGreaterThan":10,"Next":"Big"},
			{"And":[{"Variable":"$.s","IsPresent":true},{"Variable":"$.s","StringMatches":"a*"}],"Next":"A"}],
		"Default":"Other"},
		"Big":{"Type":"Pass","Result":"big","End":true},
		"A":{"Type":"Pass","Result":"a","End":true},
		"Other":{"Type":"Pass","Result":"other","End":true}}}`
	runEngineCases(t, []engineCase{
		{name: "choice first rule", def: choice, input: `{"n":11}`, output: `"big"`},
		{name: "choice second rule", def: choice, input: `{"n":1,"s":"abc"}`, output: `"a"`},
		{name: "choice default", def: choice, input: `{"n":1}`, output: `"other"`},
		{
			name: "choice without a match or Default",
			def: `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.n","NumericEquals":1,"Next":"X"}]},
				"X":{"Type":"Succeed"}}}`,
			input:  `{"n":2}`,
			status: asl.StatusFailed,
			err:    asl.ErrorNoChoiceMatched,
		},
		{
			name: "choice InputPath and OutputPath",
			def: `{"StartAt":"C","States":{"C":{"Type":"Choice","InputPath":"$.in","OutputPath":"$.v",
				"Choices":[{"Variable":"$.v","IsNumeric":true,"Next":"X"}]},"X":{"Type":"Succeed"}}}`,
			input:  `{"in":{"v":5}}`,
			output: `5`,
		},
		{
			name:   "wait seconds passes its input",
			def:    `{"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":5,"End":true}}}`,
			input:  `{"a":1}`,
			output: `{"a":1}`,
		},
		{
			name:   "wait SecondsPath that is not a number",
			def:    `{"StartAt":"W","States":{"W":{"Type":"Wait","SecondsPath":"$.s","End":true}}}`,
			input:  `{"s":"x"}`,
			status: asl.StatusFailed,
			err:    asl.ErrorRuntime,
		},
		{
			name:   "succeed with OutputPath",
			def:    `{"StartAt":"S","States":{"S":{"Type":"Succeed","InputPath":"$.a","OutputPath":"$.b"}}}`,
			input:  `{"a":{"b":[1]}}`,
			output: `[1]`,
		},
		{
			name:   "fail with Error and Cause",
			def:    `{"StartAt":"F","States":{"F":{"Type":"Fail","Error":"My.Error","Cause":"because"}}}`,
			status: asl.StatusFailed,
			err:    "My.Error",
			cause:  "because",
		},
		{
			name:   "fail with ErrorPath and an intrinsic CausePath",
			def:    `{"StartAt":"F","States":{"F":{"Type":"Fail","ErrorPath":"$.e","CausePath":"States.Format('bad {}', $.n)"}}}`,
			input:  `{"e":"From.Input","n":3}`,
			status: asl.StatusFailed,
			err:    "From.Input",
			cause:  "bad 3",
		},
	})
}

func TestParallelAndMap(t *testing.T) {
	t.Parallel()
	iterFails := `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$","NumericEquals":2,"Next":"F"}],
		"Default":"OK"},"F":{"Type":"Fail","Error":"Item.Bad","Cause":"two"},"OK":{"Type":"Pass","End":true}}}`
	runEngineCases(t, []engineCase{
		{
			name: "parallel output is the array of branch outputs",
			def: `{"StartAt":"P","States":{"P":{"Type":"Parallel","End":true,"Branches":[
				{"StartAt":"A","States":{"A":{"Type":"Pass","Result":"a","End":true}}},
				{"StartAt":"B","States":{"B":{"Type":"Pass","InputPath":"$.x","End":true}}}]}}}`,
			input:  `{"x":[1]}`,
			output: `["a",[1]]`,
		},
		{
			name: "parallel Parameters, ResultSelector and ResultPath",
			def: `{"StartAt":"P","States":{"P":{"Type":"Parallel","Parameters":{"v.$":"$.x"},"ResultSelector":{"first.$":"$[0].v"},
				"ResultPath":"$.r","End":true,"Branches":[{"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}}]}}}`,
			input:  `{"x":3}`,
			output: `{"x":3,"r":{"first":3}}`,
		},
		{
			name: "a failed branch fails the parallel state with its error",
			def: `{"StartAt":"P","States":{"P":{"Type":"Parallel","End":true,"Branches":[
				{"StartAt":"A","States":{"A":{"Type":"Pass","End":true}}},
				{"StartAt":"B","States":{"B":{"Type":"Fail","Error":"Branch.Failed","Cause":"b"}}}]}}}`,
			status: asl.StatusFailed,
			err:    "Branch.Failed",
			cause:  "b",
		},
		{
			name: "a caught branch failure",
			def: `{"StartAt":"P","States":{"P":{"Type":"Parallel","Next":"Done","Branches":[
				{"StartAt":"B","States":{"B":{"Type":"Fail","Error":"Branch.Failed","Cause":"b"}}}],
				"Catch":[{"ErrorEquals":["Branch.Failed"],"ResultPath":"$.error","Next":"Done"}]},"Done":{"Type":"Succeed"}}}`,
			input:  `{"a":1}`,
			output: `{"a":1,"error":{"Error":"Branch.Failed","Cause":"b"}}`,
		},
		{
			name: "map ItemsPath and ItemSelector with the item context",
			def: `{"StartAt":"M","States":{"M":{"Type":"Map","ItemsPath":"$.items","End":true,
				"ItemSelector":{"i.$":"$$.Map.Item.Index","v.$":"$$.Map.Item.Value","k.$":"$.k"},
				"ItemProcessor":{"ProcessorConfig":{"Mode":"INLINE"},"StartAt":"I","States":{"I":{"Type":"Pass","End":true}}}}}}`,
			input:  `{"items":["a","b"],"k":1}`,
			output: `[{"i":0,"v":"a","k":1},{"i":1,"v":"b","k":1}]`,
		},
		{
			name: "map with the legacy Iterator and Parameters",
			def: `{"StartAt":"M","States":{"M":{"Type":"Map","End":true,"Parameters":{"x.$":"$$.Map.Item.Value"},
				"Iterator":{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::test:double",
				"Parameters":{"value.$":"$.x"},"OutputPath":"$.value","End":true}}}}}}`,
			input:  `[1,2,3]`,
			output: `[2,4,6]`,
		},
		{
			name: "map over an empty array",
			def: `{"StartAt":"M","States":{"M":{"Type":"Map","End":true,
				"ItemProcessor":{"StartAt":"I","States":{"I":{"Type":"Pass","End":true}}}}}}`,
			input:  `[]`,
			output: `[]`,
		},
		{
			name: "map items that are not an array",
			def: `{"StartAt":"M","States":{"M":{"Type":"Map","End":true,
				"ItemProcessor":{"StartAt":"I","States":{"I":{"Type":"Pass","End":true}}}}}}`,
			input:  `{"a":1}`,
			status: asl.StatusFailed,
			err:    asl.ErrorRuntime,
		},
		{
			name:   "a failed iteration fails the map",
			def:    `{"StartAt":"M","States":{"M":{"Type":"Map","End":true,"ItemProcessor":` + iterFails + `}}}`,
			input:  `[1,2,3]`,
			status: asl.StatusFailed,
			err:    "Item.Bad",
			cause:  "two",
		},
		{
			name:   "tolerated failure count",
			def:    `{"StartAt":"M","States":{"M":{"Type":"Map","End":true,"ToleratedFailureCount":1,"ItemProcessor":` + iterFails + `}}}`,
			input:  `[1,2,3]`,
			output: `[1,{"Error":"Item.Bad","Cause":"two"},3]`,
		},
		{
			name:   "tolerated failure percentage from a path",
			def:    `{"StartAt":"M","States":{"M":{"Type":"Map","ItemsPath":"$.items","End":true,"ToleratedFailurePercentagePath":"$.pct","ItemProcessor":` + iterFails + `}}}`,
			input:  `{"items":[1,2,3,4],"pct":25}`,
			output: `[1,{"Error":"Item.Bad","Cause":"two"},3,4]`,
		},
		{
			name:   "tolerated failure threshold exceeded",
			def:    `{"StartAt":"M","States":{"M":{"Type":"Map","End":true,"ToleratedFailurePercentage":20,"ItemProcessor":` + iterFails + `}}}`,
			input:  `[1,2,3,4]`,
			status: asl.StatusFailed,
			err:    asl.ErrorExceedToleratedFailure,
		},
		{
			name: "nested map in parallel",
			def: `{"StartAt":"P","States":{"P":{"Type":"Parallel","End":true,"Branches":[{"StartAt":"M","States":{
				"M":{"Type":"Map","MaxConcurrency":1,"End":true,"ItemProcessor":{"StartAt":"D","States":{
				"D":{"Type":"Task","Resource":"arn:aws:states:::test:double","Parameters":{"value.$":"$"},"OutputPath":"$.value","End":true}}}}}}]}}}`,
			input:  `[5,6]`,
			output: `[[10,12]]`,
		},
	})
}

func TestVariables(t *testing.T) {
	t.Parallel()
	runEngineCases(t, []engineCase{
		{
			name: "Assign then read in a later state",
			def: `{"StartAt":"A","States":{"A":{"Type":"Pass","Assign":{"x.$":"$.a","y":2},"Next":"B"},
				"B":{"Type":"Pass","Parameters":{"x.$":"$x","y.$":"$y"},"End":true}}}`,
			input:  `{"a":"one"}`,
			output: `{"x":"one","y":2}`,
		},
		{
			name: "Assign sees the task result and the entry values",
			def: `{"StartAt":"A","States":{"A":{"Type":"Pass","Assign":{"n":1},"Next":"T"},
				"T":{"Type":"Task","Resource":"arn:aws:states:::test:double","Parameters":{"value":4},
				"Assign":{"n.$":"$.value","old.$":"$n"},"ResultPath":null,"Next":"B"},
				"B":{"Type":"Pass","Parameters":{"n.$":"$n","old.$":"$old"},"End":true}}}`,
			output: `{"n":8,"old":1}`,
		},
		{
			name: "Choice rule and state Assign",
			def: `{"StartAt":"C","States":{"C":{"Type":"Choice","Assign":{"s":"state"},
				"Choices":[{"Variable":"$.v","BooleanEquals":true,"Assign":{"r":"rule"},"Next":"B"}]},
				"B":{"Type":"Pass","Parameters":{"s.$":"$s","r.$":"$r"},"End":true}}}`,
			input:  `{"v":true}`,
			output: `{"s":"state","r":"rule"}`,
		},
		{
			name: "Catch Assign gets the error output",
			def: `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::test:fail","Next":"B",
				"Catch":[{"ErrorEquals":["States.ALL"],"Assign":{"e.$":"$.Error"},"Next":"B"}]},
				"B":{"Type":"Pass","Parameters":{"e.$":"$e"},"End":true}}}`,
			output: `{"e":"Custom.Error"}`,
		},
		{
			name: "iterations read outer variables",
			def: `{"StartAt":"A","States":{"A":{"Type":"Pass","Assign":{"k":10},"Next":"M"},
				"M":{"Type":"Map","End":true,"ItemProcessor":{"StartAt":"I","States":{
				"I":{"Type":"Pass","Assign":{"inner.$":"$"},"Next":"J"},
				"J":{"Type":"Pass","Parameters":{"k.$":"$k","i.$":"$inner"},"End":true}}}}}}`,
			input:  `[1,2]`,
			output: `[{"k":10,"i":1},{"k":10,"i":2}]`,
		},
		{
			name:   "an unassigned variable is States.Runtime",
			def:    `{"StartAt":"B","States":{"B":{"Type":"Pass","Parameters":{"x.$":"$nope"},"End":true}}}`,
			status: asl.StatusFailed,
			err:    asl.ErrorRuntime,
		},
	})
}

func TestCatch(t *testing.T) {
	t.Parallel()
	runEngineCases(t, []engineCase{
		{
			name: "Catch ResultPath keeps the input",
			def: `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::test:fail","Next":"Done",
				"Catch":[{"ErrorEquals":["States.ALL"],"ResultPath":"$.err","Next":"Done"}]},"Done":{"Type":"Succeed"}}}`,
			input:  `{"a":1}`,
			output: `{"a":1,"err":{"Error":"Custom.Error","Cause":"boom"}}`,
		},
		{
			name: "Catch without ResultPath replaces the input with the error output",
			def: `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::test:fail","Next":"Done",
				"Catch":[{"ErrorEquals":["States.ALL"],"Next":"Done"}]},"Done":{"Type":"Succeed"}}}`,
			input:  `{"a":1}`,
			output: `{"Error":"Custom.Error","Cause":"boom"}`,
		},
		{
			name: "the first catcher that matches wins",
			def: `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::test:fail","End":true,
				"Catch":[{"ErrorEquals":["Other"],"Next":"X"},{"ErrorEquals":["Custom.Error","Another"],"Next":"Y"},
				{"ErrorEquals":["States.ALL"],"Next":"X"}]},
				"X":{"Type":"Pass","Result":"x","End":true},"Y":{"Type":"Pass","Result":"y","End":true}}}`,
			output: `"y"`,
		},
		{
			name: "States.TaskFailed matches a handler's error",
			def: `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::test:plain","End":true,
				"Catch":[{"ErrorEquals":["States.TaskFailed"],"ResultPath":"$.e","Next":"X"}]},"X":{"Type":"Succeed","OutputPath":"$.e.Error"}}}`,
			output: `"States.TaskFailed"`,
		},
		{
			name: "States.ALL does not catch States.Runtime",
			def: `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::test:echo","InputPath":"$.missing","End":true,
				"Catch":[{"ErrorEquals":["States.ALL"],"Next":"X"}]},"X":{"Type":"Succeed"}}}`,
			status: asl.StatusFailed,
			err:    asl.ErrorRuntime,
		},
		{
			name: "States.DataLimitExceeded is never caught",
			def: `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::test:echo","Parameters":{"s.$":"$.s","t.$":"$.s"},
				"End":true,"Catch":[{"ErrorEquals":["States.ALL"],"Next":"X"}]},"X":{"Type":"Succeed"}}}`,
			input:  `{"s":"` + strings.Repeat("x", 80) + `"}`,
			opts:   []asl.Option{asl.WithPayloadLimit(120)},
			status: asl.StatusFailed,
			err:    asl.ErrorDataLimitExceeded,
		},
		{
			name:   "a state output over the limit",
			def:    `{"StartAt":"P","States":{"P":{"Type":"Pass","Result":"` + strings.Repeat("y", 100) + `","End":true}}}`,
			opts:   []asl.Option{asl.WithPayloadLimit(64)},
			status: asl.StatusFailed,
			err:    asl.ErrorDataLimitExceeded,
		},
		{
			name:   "a payload limit of 0 disables the check",
			def:    `{"StartAt":"P","States":{"P":{"Type":"Pass","Result":"` + strings.Repeat("y", 100) + `","OutputPath":null,"End":true}}}`,
			opts:   []asl.Option{asl.WithPayloadLimit(0)},
			output: `{}`,
		},
	})
}
