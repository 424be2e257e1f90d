package asl_test

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"github.com/serverless-data-platform/sdp/workflow/asl"
)

// fixedLambda is a Lambda port whose functions return fixed results, whatever their payload.
func fixedLambda(results map[string]string) funcLambda {
	return funcLambda{invoke: func(_ context.Context, fn string, _ []byte) ([]byte, error) {
		r, ok := results[fn]
		if !ok {
			return nil, fmt.Errorf("no function %s", fn)
		}
		return []byte(r), nil
	}}
}

// runLazy parses def with the Lambda port and runs it with input; the execution must succeed.
func runLazy(t *testing.T, def string, lambda funcLambda, input string, opts ...asl.Option) *asl.Result {
	t.Helper()
	m, err := asl.Parse([]byte(def), append([]asl.Option{asl.WithLambda(lambda)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	res, err := m.Execute(context.Background(), []byte(input))
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != asl.StatusSucceeded {
		t.Fatalf("status %s: %s: %s", res.Status, res.Error, res.Cause)
	}
	return res
}

// TestDataPassedThroughIsVerbatim checks that data a function returns, or the execution input, and that the
// states only pass on, reaches the output and the next function byte for byte (member order, number text,
// escapes), compacted.
func TestDataPassedThroughIsVerbatim(t *testing.T) {
	t.Parallel()
	const body = `{"zeta":{"b":1.50,"a":[1E2,"\u00e9\/"]},"alpha":-0.0}`
	def := `{"StartAt":"F","States":{
		"F":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"FunctionName":"f","Payload.$":"$"},
			"ResultSelector":{"body.$":"$.Payload"},"ResultPath":"$.f","Next":"G"},
		"G":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:123456789012:function:g","InputPath":"$.f.body","ResultPath":null,"Next":"Out"},
		"Out":{"Type":"Pass","Parameters":{"fromF.$":"$.f.body","input.$":"$.in"},"End":true}}}`
	var gotPayload []byte
	lambda := funcLambda{invoke: func(_ context.Context, fn string, payload []byte) ([]byte, error) {
		if fn == "f" {
			return []byte(" {\"zeta\": {\"b\": 1.50, \"a\": [1E2, \"\\u00e9\\/\"]},\n \"alpha\": -0.0}\n"), nil
		}
		gotPayload = payload
		return []byte(`{}`), nil
	}}
	res := runLazy(t, def, lambda, `{"in":{"y":1.0,"x":"\u0041"}}`)
	if want := `{"fromF":` + body + `,"input":{"y":1.0,"x":"\u0041"}}`; string(res.Output) != want {
		t.Fatalf("output %s\nwant   %s", res.Output, want)
	}
	if string(gotPayload) != body {
		t.Fatalf("payload of g %s, want %s", gotPayload, body)
	}
}

// TestChoiceOnFunctionResults runs Choice Rules on the scalars, objects and arrays of a function's result.
func TestChoiceOnFunctionResults(t *testing.T) {
	t.Parallel()
	const result = `{"s":"a\"b","n":2.50,"big":1E3,"t":true,"z":null,"ts":"2025-03-04T05:06:07Z","o":{"k":1},"a":[1,2],"e":[]}`
	for _, tc := range []struct {
		name, rule string
		match      bool
	}{
		{"string with escapes", `"Variable":"$.s","StringEquals":"a\"b"`, true},
		{"string pattern", `"Variable":"$.s","StringMatches":"a*b"`, true},
		{"number text", `"Variable":"$.n","NumericEquals":2.5`, true},
		{"exponent", `"Variable":"$.big","NumericGreaterThan":999`, true},
		{"boolean", `"Variable":"$.t","BooleanEquals":true`, true},
		{"null", `"Variable":"$.z","IsNull":true`, true},
		{"not null", `"Variable":"$.n","IsNull":true`, false},
		{"timestamp", `"Variable":"$.ts","TimestampLessThan":"2026-01-01T00:00:00Z"`, true},
		{"is string of an object", `"Variable":"$.o","IsString":true`, false},
		{"is numeric", `"Variable":"$.a[1]","IsNumeric":true`, true},
		{"present element", `"Variable":"$.a[0]","IsPresent":true`, true},
		{"absent element", `"Variable":"$.e[0]","IsPresent":true`, false},
		{"path comparison", `"Variable":"$.a[1]","NumericLessThanPath":"$.n"`, true},
		{"string against a number", `"Variable":"$.n","StringEquals":"2.50"`, false},
		{"and", `"And":[{"Variable":"$.o.k","NumericEquals":1},{"Not":{"Variable":"$.t","BooleanEquals":false}}]`, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			def := `{"StartAt":"F","States":{
				"F":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke","Parameters":{"FunctionName":"f"},
					"OutputPath":"$.Payload","Next":"C"},
				"C":{"Type":"Choice","Choices":[{` + tc.rule + `,"Next":"Yes"}],"Default":"No"},
				"Yes":{"Type":"Pass","Result":"yes","End":true},
				"No":{"Type":"Pass","Result":"no","End":true}}}`
			res := runLazy(t, def, fixedLambda(map[string]string{"f": result}), `{}`)
			want := map[bool]string{true: `"yes"`, false: `"no"`}[tc.match]
			if string(res.Output) != want {
				t.Fatalf("output %s, want %s", res.Output, want)
			}
		})
	}
}

// TestMapOverFunctionResult runs a Map state over an array a function returned, with an ItemSelector, a
// Choice and intrinsics in the iterations, and a ResultPath into the function's raw result.
func TestMapOverFunctionResult(t *testing.T) {
	t.Parallel()
	def := `{"StartAt":"F","States":{
		"F":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:123456789012:function:f","Next":"M"},
		"M":{"Type":"Map","ItemsPath":"$.items","MaxConcurrency":3,
			"ItemSelector":{"i.$":"$$.Map.Item.Index","v.$":"$$.Map.Item.Value","tag.$":"$.tag"},
			"ItemProcessor":{"StartAt":"C","States":{
				"C":{"Type":"Choice","Choices":[{"Variable":"$.v.qty","NumericGreaterThan":1,"Next":"Many"}],"Default":"One"},
				"Many":{"Type":"Pass","Parameters":{"sku.$":"$.v.sku","n.$":"States.ArrayLength($.v.parts)","tag.$":"$.tag"},"End":true},
				"One":{"Type":"Pass","Parameters":{"sku.$":"$.v.sku","first.$":"States.ArrayGetItem($.v.parts, 0)"},"End":true}}},
			"ResultPath":"$.out","Next":"Count"},
		"Count":{"Type":"Pass","Parameters":{"n.$":"States.ArrayLength($.items)","out.$":"$.out","tag.$":"$.tag"},"End":true}}}`
	result := `{"tag":"t","items":[{"sku":"a","qty":2,"parts":[1,2,3]},{"sku":"b","qty":1,"parts":["p"]},{"sku":"c","qty":5,"parts":[]}]}`
	res := runLazy(t, def, fixedLambda(map[string]string{"arn:aws:lambda:us-east-1:123456789012:function:f": result}), `{}`)
	want := `{"n":3,"out":[{"n":3,"sku":"a","tag":"t"},{"first":"p","sku":"b"},{"n":0,"sku":"c","tag":"t"}],"tag":"t"}`
	if string(res.Output) != want {
		t.Fatalf("output %s\nwant   %s", res.Output, want)
	}
}

// TestResultsTheRawFormDoesNotTake checks function results that are decoded at once: invalid UTF-8 is
// replaced as the decoder does, and text that is not JSON is a string.
func TestResultsTheRawFormDoesNotTake(t *testing.T) {
	t.Parallel()
	def := `{"StartAt":"F","States":{"F":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke",
		"Parameters":{"FunctionName":"f"},"OutputPath":"$.Payload","End":true}}}`
	for _, tc := range []struct{ name, result, want string }{
		{"invalid UTF-8", "{\"s\":\"a\xffb\"}", "{\"s\":\"a\ufffdb\"}"},
		{"not JSON", `not json`, `"not json"`},
		{"empty", ``, `null`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := runLazy(t, def, fixedLambda(map[string]string{"f": tc.result}), `{}`)
			if string(res.Output) != tc.want {
				t.Fatalf("output %s, want %s", res.Output, tc.want)
			}
		})
	}
}

// TestTaskHandlersGetDecodedJSON checks that a TaskHandler is given decoded JSON even when its parameters come
// from raw data.
func TestTaskHandlersGetDecodedJSON(t *testing.T) {
	t.Parallel()
	def := `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::test:task",
		"Parameters":{"items.$":"$.items","first.$":"$.items[0]","all.$":"$"},"End":true}}}`
	var got any
	task := asl.TaskFunc(func(_ context.Context, params any) (any, error) {
		got = params
		return map[string]any{"ok": true}, nil
	})
	runLazy(t, def, echoLambda, `{"items":[{"a":1}],"x":"y"}`, asl.WithTask("arn:aws:states:::test:task", task))
	var want any
	if err := json.Unmarshal([]byte(`{"items":[{"a":1}],"first":{"a":1},"all":{"items":[{"a":1}],"x":"y"}}`), &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("the handler got %#v", got)
	}
}

// TestPayloadLimitCountsRawBytes checks that the size of data passed through is the size of its text.
func TestPayloadLimitCountsRawBytes(t *testing.T) {
	t.Parallel()
	def := `{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}`
	m, err := asl.Parse([]byte(def), asl.WithPayloadLimit(40))
	if err != nil {
		t.Fatal(err)
	}
	// 38 bytes of text: within the limit as written.
	in := `{"n":[1.000000000000,2.00000000000000]}`
	res, err := m.Execute(context.Background(), []byte(in))
	if err != nil || res.Status != asl.StatusSucceeded || string(res.Output) != in {
		t.Fatalf("%v %v %s", err, res.Status, res.Output)
	}
}
