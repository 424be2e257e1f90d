package dataflow

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// TestTemplateEval evaluates payload templates with paths, context, variables, intrinsics and nesting.
func TestTemplateEval(t *testing.T) {
	t.Parallel()
	scope := Scope{
		Input: decode(t, `{
			"comment": "Example for Parameters.",
			"product": {
				"details": {"color": "blue", "size": "small", "material": "cotton"},
				"availability": "in stock", "sku": "2317", "cost": "$23"
			},
			"items": [{"id": 1}, {"id": 2}],
			"name": "Arnav"
		}`),
		Context: decode(t, `{"Execution": {"Id": "arn:aws:states:us-east-1:1:execution:m:e"}, "Map": {"Item": {"Index": 0}}}`),
		Vars:    map[string]any{"total": 7.0},
	}
	for _, tc := range []struct {
		name, template, want string
	}{
		// https://docs.aws.amazon.com/step-functions/latest/dg/input-output-inputpath-params.html (Parameters example)
		{name: "doc: Parameters selecting nested values",
			template: `{"comment": "Selecting what I care about.", "MyDetails": {"size.$": "$.product.details.size", "exists.$": "$.product.availability", "StaticValue": "foo"}}`,
			want:     `{"comment": "Selecting what I care about.", "MyDetails": {"size": "small", "exists": "in stock", "StaticValue": "foo"}}`},
		{name: "context object", template: `{"execution.$": "$$.Execution.Id", "index.$": "$$.Map.Item.Index"}`,
			want: `{"execution": "arn:aws:states:us-east-1:1:execution:m:e", "index": 0}`},
		{name: "whole context and input", template: `{"ctx.$": "$$.Map", "in.$": "$.items"}`,
			want: `{"ctx": {"Item": {"Index": 0}}, "in": [{"id": 1}, {"id": 2}]}`},
		{name: "variable", template: `{"t.$": "$total"}`, want: `{"t": 7}`},
		{name: "indefinite path gives an array", template: `{"ids.$": "$.items[*].id"}`, want: `{"ids": [1, 2]}`},
		{name: "indefinite path selecting nothing gives []", template: `{"ids.$": "$.items[*].nope"}`, want: `{"ids": []}`},
		{name: "intrinsic call", template: `{"greeting.$": "States.Format('Hello, my name is {}.', $.name)"}`,
			want: `{"greeting": "Hello, my name is Arnav."}`},
		{name: "plain strings starting with $ stay strings", template: `{"a": "$.name", "b": "$$.Execution.Id", "c": "States.UUID()"}`,
			want: `{"a": "$.name", "b": "$$.Execution.Id", "c": "States.UUID()"}`},
		{name: "arrays of objects are templates", template: `{"list": [{"n.$": "$.name"}, "plain", 1, [{"s.$": "$.product.sku"}]]}`,
			want: `{"list": [{"n": "Arnav"}, "plain", 1, [{"s": "2317"}]]}`},
		{name: "top-level array", template: `[{"n.$": "$.name"}, null]`, want: `[{"n": "Arnav"}, null]`},
		{name: "constant template", template: `{"a": {"b": [1, 2]}, "c": null}`, want: `{"a": {"b": [1, 2]}, "c": null}`},
		{name: "scalar template", template: `"just a string"`, want: `"just a string"`},
		{name: "key that is only .$", template: `{".$": "$.name"}`, want: `{"": "Arnav"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tmpl, err := ParseTemplate(decode(t, tc.template))
			if err != nil {
				t.Fatalf("ParseTemplate: %v", err)
			}
			before := snapshot(t, scope.Input)
			got, err := tmpl.Eval(scope)
			if err != nil {
				t.Fatalf("Eval: %v", err)
			}
			assertJSON(t, got, tc.want)
			if !reflect.DeepEqual(scope.Input, before) {
				t.Fatal("Eval modified the input")
			}
		})
	}
}

// TestTemplateEvalErrors checks the error names and causes of templates that fail at run time.
func TestTemplateEvalErrors(t *testing.T) {
	t.Parallel()
	scope := Scope{Input: decode(t, `{"a": 1, "list": [1, 2]}`)}
	for _, tc := range []struct {
		name, template, errName, cause string
	}{
		{name: "path selecting nothing", template: `{"a.$": "$.x"}`, errName: StatesRuntime,
			cause: `The JSONPath '$.x' specified for the field 'a.$' could not be found in the input '{"a":1,"list":[1,2]}'`},
		{name: "nested path selecting nothing", template: `{"outer": [{"deep.$": "$.a.b"}]}`, errName: StatesRuntime,
			cause: `The JSONPath '$.a.b' specified for the field 'deep.$' could not be found in the input '{"a":1,"list":[1,2]}'`},
		{name: "undefined variable", template: `{"v.$": "$nope"}`, errName: StatesRuntime,
			cause: `The JSONPath '$nope' specified for the field 'v.$' could not be found in the input 'null'`},
		{name: "intrinsic failure", template: `{"i.$": "States.ArrayGetItem($.list, 5)"}`, errName: StatesIntrinsicFailure,
			cause: `The function 'States.ArrayGetItem($.list, 5)' had the following error: The index 5 is out of bounds for an array of 2 items`},
		{name: "intrinsic path argument selecting nothing", template: `{"f.$": "States.Format('{}', $.x)"}`, errName: StatesRuntime,
			cause: `The function 'States.Format('{}', $.x)' had the following error: The JsonPath argument for the field '$.x' could not be found in the input '{"a":1,"list":[1,2]}'`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tmpl, err := ParseTemplate(decode(t, tc.template))
			if err != nil {
				t.Fatalf("ParseTemplate: %v", err)
			}
			_, err = tmpl.Eval(scope)
			assertError(t, err, tc.errName, tc.cause)
		})
	}
}

// TestParseTemplateErrors checks that compile errors wrap ErrSyntax and name the field at fault.
func TestParseTemplateErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, template, field string
	}{
		{name: "number value", template: `{"a.$": 1}`, field: `field "a.$"`},
		{name: "object value", template: `{"a.$": {"b": 1}}`, field: `field "a.$"`},
		{name: "null value", template: `{"a.$": null}`, field: `field "a.$"`},
		{name: "neither path nor call", template: `{"a.$": "hello"}`, field: `field "a.$"`},
		{name: "malformed path", template: `{"a.$": "$.b["}`, field: `field "a.$"`},
		{name: "unknown function", template: `{"a.$": "States.Nope(1)"}`, field: `field "a.$"`},
		{name: "wrong argument count", template: `{"a.$": "States.ArrayLength()"}`, field: `field "a.$"`},
		{name: "nested field named by location", template: `{"outer": {"inner": [0, {"a.$": 5}]}}`, field: `field "outer.inner[1].a.$"`},
		{name: "duplicate output key", template: `{"a": 1, "a.$": "$.b"}`, field: `field "a.$"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseTemplate(decode(t, tc.template))
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("got %v, want ErrSyntax", err)
			}
			if !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("error %q does not name %s", err, tc.field)
			}
		})
	}
}

// TestTemplateSharesConstants checks that constant parts of a template are returned, not copied.
func TestTemplateSharesConstants(t *testing.T) {
	t.Parallel()
	constant := decode(t, `{"c": [1, 2]}`).(map[string]any)
	tmpl, err := ParseTemplate(map[string]any{"k": constant, "d.$": "$"})
	if err != nil {
		t.Fatal(err)
	}
	got, err := tmpl.Eval(Scope{Input: 1.0})
	if err != nil {
		t.Fatal(err)
	}
	if reflect.ValueOf(got.(map[string]any)["k"]).Pointer() != reflect.ValueOf(constant).Pointer() {
		t.Fatal("constant part copied")
	}
}

// TestTemplateFields checks the output keys a template reports.
func TestTemplateFields(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, template string
		want           []string
	}{
		{"dynamic object", `{"b.$": "$.x", "a": 1}`, []string{"a", "b"}},
		{"constant object", `{"y": 1, "x": 2}`, []string{"x", "y"}},
		{"array", `[{"a.$": "$"}]`, nil},
		{"scalar", `3`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tmpl, err := ParseTemplate(decode(t, tc.template))
			if err != nil {
				t.Fatal(err)
			}
			if got := tmpl.Fields(); !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Fields() = %v, want %v", got, tc.want)
			}
		})
	}
}
