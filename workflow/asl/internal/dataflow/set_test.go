package dataflow

import (
	"errors"
	"reflect"
	"testing"
)

// The ResultPath examples come from
// https://docs.aws.amazon.com/step-functions/latest/dg/input-output-resultpath.html
const resultPathInput = `{
	"comment": "This is a test of the input and output of a Task state.",
	"details": "Default example",
	"who": "AWS Step Functions"
}`

// TestSet places results as ResultPath does, and checks that the input is left as it was.
func TestSet(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, doc, path, value, want string
	}{
		{name: "doc: ResultPath $ replaces the input", doc: resultPathInput, path: "$",
			value: `"Hello, AWS Step Functions!"`, want: `"Hello, AWS Step Functions!"`},
		{name: "doc: ResultPath $.taskresult includes the result with the input", doc: resultPathInput, path: "$.taskresult",
			value: `"Hello, AWS Step Functions!"`, want: `{
				"comment": "This is a test of the input and output of a Task state.",
				"details": "Default example",
				"who": "AWS Step Functions",
				"taskresult": "Hello, AWS Step Functions!"}`},
		{name: "doc: ResultPath $.strings.lambdaresult inserts into a child node",
			doc:   `{"comment": "An input comment.", "strings": {"string1": "foo", "string2": "bar", "string3": "baz"}, "who": "AWS Step Functions"}`,
			path:  "$.strings.lambdaresult",
			value: `"Hello, AWS Step Functions!"`,
			want: `{"comment": "An input comment.", "strings": {"string1": "foo", "string2": "bar", "string3": "baz",
				"lambdaresult": "Hello, AWS Step Functions!"}, "who": "AWS Step Functions"}`},
		{name: "doc: ResultPath $.comment updates a node", doc: resultPathInput, path: "$.comment",
			value: `"Hello, AWS Step Functions!"`, want: `{
				"comment": "Hello, AWS Step Functions!",
				"details": "Default example",
				"who": "AWS Step Functions"}`},
		{name: "doc: Catch ResultPath $.error keeps the input with the error", doc: `{"foo": "bar"}`, path: "$.error",
			value: `{"Error": "Error here"}`, want: `{"foo": "bar", "error": {"Error": "Error here"}}`},
		{name: "creates missing objects", doc: `{"a": 1}`, path: "$.x.y.z", value: `true`,
			want: `{"a": 1, "x": {"y": {"z": true}}}`},
		{name: "quoted name", doc: `{}`, path: "$['a b']", value: `1`, want: `{"a b": 1}`},
		{name: "into array element", doc: `{"list": [{"a": 1}, {"a": 2}]}`, path: "$.list[1].b", value: `3`,
			want: `{"list": [{"a": 1}, {"a": 2, "b": 3}]}`},
		{name: "replace array element", doc: `{"list": [1, 2, 3]}`, path: "$.list[0]", value: `"x"`,
			want: `{"list": ["x", 2, 3]}`},
		{name: "negative index", doc: `{"list": [1, 2, 3]}`, path: "$.list[-1]", value: `"x"`,
			want: `{"list": [1, 2, "x"]}`},
		{name: "null value", doc: `{"a": 1}`, path: "$.a", value: `null`, want: `{"a": null}`},
		{name: "root of non-object doc", doc: `[1, 2]`, path: "$", value: `{"r": 1}`, want: `{"r": 1}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			doc := decode(t, tc.doc)
			before := snapshot(t, doc)
			p, err := ParseReferencePath(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Set(doc, p, decode(t, tc.value))
			if err != nil {
				t.Fatalf("Set: %v", err)
			}
			assertJSON(t, got, tc.want)
			if !reflect.DeepEqual(doc, before) {
				t.Fatal("Set modified its input")
			}
		})
	}
}

// TestSetFailures covers every way a reference path cannot be applied to an input.
func TestSetFailures(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, doc, path, cause string
	}{
		{name: "name into a string input", doc: `"hello"`, path: "$.taskresult",
			cause: `Unable to apply ReferencePath $.taskresult to input "hello"`},
		{name: "name into an array input", doc: `[1, 2]`, path: "$.error",
			cause: `Unable to apply ReferencePath $.error to input [1,2]`},
		{name: "name into a nested number", doc: `{"a": {"b": 1}}`, path: "$.a.b.c",
			cause: `Unable to apply ReferencePath $.a.b.c to input {"a":{"b":1}}`},
		{name: "name into null", doc: `{"a": null}`, path: "$.a.b",
			cause: `Unable to apply ReferencePath $.a.b to input {"a":null}`},
		{name: "index into an object", doc: `{"a": {}}`, path: "$.a[0]",
			cause: `Unable to apply ReferencePath $.a[0] to input {"a":{}}`},
		{name: "index out of range", doc: `{"a": [1]}`, path: "$.a[1]",
			cause: `Unable to apply ReferencePath $.a[1] to input {"a":[1]}`},
		{name: "index into a missing member", doc: `{}`, path: "$.a[0]",
			cause: `Unable to apply ReferencePath $.a[0] to input {}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := ParseReferencePath(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Set(decode(t, tc.doc), p, "result")
			assertError(t, err, StatesResultPathMatchFailure, tc.cause)
		})
	}
}

// TestSetRejectsNonReferencePaths checks that Set refuses paths ParseReferencePath would reject.
func TestSetRejectsNonReferencePaths(t *testing.T) {
	t.Parallel()
	for _, src := range []string{"$$.Execution", "$.a[*]", "$v.a"} {
		p, err := ParsePath(src)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Set(map[string]any{}, p, 1.0); !errors.Is(err, ErrSyntax) {
			t.Fatalf("Set with %s: %v, want ErrSyntax", src, err)
		}
	}
}

// TestSetSharesUntouchedValues checks that values off the path are shared, not copied.
func TestSetSharesUntouchedValues(t *testing.T) {
	t.Parallel()
	doc := decode(t, `{"big": [1, 2, 3], "a": {"b": 1}}`).(map[string]any)
	p, err := ParseReferencePath("$.a.c")
	if err != nil {
		t.Fatal(err)
	}
	out, err := Set(doc, p, 2.0)
	if err != nil {
		t.Fatal(err)
	}
	big := out.(map[string]any)["big"].([]any)
	if &big[0] != &doc["big"].([]any)[0] {
		t.Fatal("members off the path were copied")
	}
}
