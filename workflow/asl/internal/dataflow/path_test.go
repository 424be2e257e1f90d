package dataflow

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

const storeJSON = `{
	"store": {
		"book": [
			{"category": "reference", "author": "Nigel Rees", "title": "Sayings of the Century", "price": 8.95},
			{"category": "fiction", "author": "Evelyn Waugh", "title": "Sword of Honour", "price": 12.99},
			{"category": "fiction", "author": "Herman Melville", "title": "Moby Dick", "isbn": "0-553-21311-3", "price": 8.99},
			{"category": "fiction", "author": "J. R. R. Tolkien", "title": "The Lord of the Rings", "isbn": "0-395-19395-8", "price": 22.99}
		],
		"bicycle": {"color": "red", "price": 19.95}
	},
	"a b": 1,
	"foo-bar": {"x": 2},
	"empty": [],
	"nothing": null,
	"text": "héllo"
}`

// TestPathSelect covers definite and indefinite paths over the input, the context object and variables,
// including the Jayway forms Step Functions accepts and the cases that select nothing.
func TestPathSelect(t *testing.T) {
	t.Parallel()
	scope := Scope{
		Input:   decode(t, storeJSON),
		Context: decode(t, `{"Execution": {"Id": "arn:exec", "Input": {"k": 1}}, "Map": {"Item": {"Index": 2, "Value": {"v": true}}}}`),
		Vars:    map[string]any{"count": 3.0, "order": decode(t, `{"lines": [{"sku": "a"}, {"sku": "b"}]}`), "_tmp": "t"},
	}
	for _, tc := range []struct {
		name, path string
		definite   bool
		found      bool
		want       string // JSON of the value
	}{
		{name: "root", path: "$", definite: true, found: true, want: storeJSON},
		{name: "dotted names", path: "$.store.bicycle.color", definite: true, found: true, want: `"red"`},
		{name: "index", path: "$.store.book[0].author", definite: true, found: true, want: `"Nigel Rees"`},
		{name: "negative index", path: "$.store.book[-1].title", definite: true, found: true, want: `"The Lord of the Rings"`},
		{name: "quoted name with blank", path: "$['a b']", definite: true, found: true, want: `1`},
		{name: "double-quoted name", path: `$["a b"]`, definite: true, found: true, want: `1`},
		{name: "Jayway dot before bracket", path: "$.store.['bicycle'].color", definite: true, found: true, want: `"red"`},
		{name: "Jayway name with dash", path: "$.foo-bar.x", definite: true, found: true, want: `2`},
		{name: "null value is found", path: "$.nothing", definite: true, found: true, want: `null`},
		{name: "missing name", path: "$.store.car", definite: true},
		{name: "name of a non-object", path: "$.store.bicycle.color.shade", definite: true},
		{name: "index out of range", path: "$.store.book[4]", definite: true},
		{name: "index of a non-array", path: "$.store.bicycle[0]", definite: true},
		{name: "wildcard", path: "$.store.book[*].author", found: true,
			want: `["Nigel Rees", "Evelyn Waugh", "Herman Melville", "J. R. R. Tolkien"]`},
		{name: "filter", path: "$.store.book[?(@.price > 10)].title", found: true, want: `["Sword of Honour", "The Lord of the Rings"]`},
		{name: "filter without parentheses", path: "$.store.book[?@.price < 9].price", found: true, want: `[8.95, 8.99]`},
		{name: "filter on existence", path: "$.store.book[?(@.isbn)].isbn", found: true, want: `["0-553-21311-3", "0-395-19395-8"]`},
		{name: "filter string equality", path: "$.store.book[?(@.category == 'reference')].author", found: true, want: `["Nigel Rees"]`},
		{name: "slice from end", path: "$.store.book[-1:].price", found: true, want: `[22.99]`},
		{name: "slice", path: "$.store.book[0:2].price", found: true, want: `[8.95, 12.99]`},
		{name: "union", path: "$.store.book[0,2].price", found: true, want: `[8.95, 8.99]`},
		{name: "descendant", path: "$..price", found: true, want: `[19.95, 8.95, 12.99, 8.99, 22.99]`},
		{name: "descendant with bracket", path: "$..['color']", found: true, want: `["red"]`},
		{name: "wildcard over object members sorted by name", path: "$.store.bicycle.*", found: true, want: `["red", 19.95]`},
		{name: "indefinite selecting nothing", path: "$..nope", found: true, want: `[]`},
		{name: "filter selecting nothing", path: "$.store.book[?(@.price > 100)]", found: true, want: `[]`},
		{name: "length of array", path: "$.store.book.length()", definite: true, found: true, want: `4`},
		{name: "length of string", path: "$.text.length()", definite: true, found: true, want: `5`},
		{name: "length of indefinite", path: "$..isbn.length()", definite: true, found: true, want: `2`},
		{name: "length of missing", path: "$.nope.length()", definite: true},
		{name: "context root", path: "$$", definite: true, found: true,
			want: `{"Execution": {"Id": "arn:exec", "Input": {"k": 1}}, "Map": {"Item": {"Index": 2, "Value": {"v": true}}}}`},
		{name: "context field", path: "$$.Execution.Id", definite: true, found: true, want: `"arn:exec"`},
		{name: "context map item", path: "$$.Map.Item.Value", definite: true, found: true, want: `{"v": true}`},
		{name: "context missing", path: "$$.Task.Token", definite: true},
		{name: "context indefinite", path: "$$..Index", found: true, want: `[2]`},
		{name: "variable", path: "$count", definite: true, found: true, want: `3`},
		{name: "variable field", path: "$order.lines[1].sku", definite: true, found: true, want: `"b"`},
		{name: "variable indefinite", path: "$order.lines[*].sku", found: true, want: `["a", "b"]`},
		{name: "variable starting with underscore", path: "$_tmp", definite: true, found: true, want: `"t"`},
		{name: "undefined variable", path: "$missing.x", definite: true},
		{name: "undefined variable indefinite", path: "$missing[*]", found: true, want: `[]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := ParsePath(tc.path)
			if err != nil {
				t.Fatalf("ParsePath(%q): %v", tc.path, err)
			}
			if p.String() != tc.path {
				t.Errorf("String() = %q", p.String())
			}
			if p.Definite() != tc.definite {
				t.Errorf("Definite() = %v, want %v", p.Definite(), tc.definite)
			}
			if p.IsContext() != strings.HasPrefix(tc.path, "$$") {
				t.Errorf("IsContext() = %v", p.IsContext())
			}
			v, found, err := p.Select(scope)
			if err != nil {
				t.Fatalf("Select: %v", err)
			}
			if found != tc.found {
				t.Fatalf("found = %v, want %v (value %v)", found, tc.found, v)
			}
			if found {
				assertJSON(t, v, tc.want)
			} else if v != nil {
				t.Fatalf("value %v with found = false", v)
			}
		})
	}
}

// TestPathSelectDoesNotModifyInput checks that the arrays Select returns do not alias the input.
func TestPathSelectDoesNotModifyInput(t *testing.T) {
	t.Parallel()
	in := decode(t, storeJSON)
	before := snapshot(t, in)
	for _, src := range []string{"$.store.book[*]", "$..price", "$.store.book[?(@.price > 10)]", "$.store.book[1:]"} {
		p, err := ParsePath(src)
		if err != nil {
			t.Fatal(err)
		}
		v, _, _ := p.Select(Scope{Input: in})
		if arr, ok := v.([]any); ok && len(arr) > 0 {
			arr[0] = "clobbered" // the result must not alias the input
		}
	}
	if !reflect.DeepEqual(in, before) {
		t.Fatal("input modified")
	}
}

// TestPathLookup checks the States.Runtime error of a path that selects nothing.
func TestPathLookup(t *testing.T) {
	t.Parallel()
	scope := Scope{Input: decode(t, `{"a": {"b": 1}}`), Context: decode(t, `{"Execution": {"Id": "x"}}`)}
	for _, tc := range []struct {
		name, path, want, cause string
	}{
		{name: "found", path: "$.a.b", want: `1`},
		{name: "indefinite never fails", path: "$..zzz", want: `[]`},
		{name: "not found", path: "$.a.c",
			cause: `The JSONPath '$.a.c' could not be found in the input '{"a":{"b":1}}'`},
		{name: "context not found", path: "$$.Task.Token",
			cause: `The JSONPath '$$.Task.Token' could not be found in the input '{"Execution":{"Id":"x"}}'`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := ParsePath(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			v, err := p.Lookup(scope)
			if tc.cause != "" {
				assertError(t, err, StatesRuntime, tc.cause)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			assertJSON(t, v, tc.want)
		})
	}
}

// TestLookupTruncatesInput checks that error messages quote at most about 1KB of the input.
func TestLookupTruncatesInput(t *testing.T) {
	t.Parallel()
	p, err := ParsePath("$.missing")
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Lookup(Scope{Input: map[string]any{"big": strings.Repeat("é", 5000)}})
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("got %v", err)
	}
	if len(e.Cause) > 1200 || !strings.Contains(e.Cause, "...") {
		t.Fatalf("cause not truncated: %d bytes", len(e.Cause))
	}
}

// TestParsePathErrors lists paths that do not compile.
func TestParsePathErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, path string }{
		{"empty", ""},
		{"no root", "a.b"},
		{"empty name", "$.a..."},
		{"trailing dot", "$.a."},
		{"unclosed bracket", "$.a[0"},
		{"unterminated quote", "$['a]"},
		{"unknown function", "$.a.min()"},
		{"length not last", "$.a.length().b"},
		{"Jayway regex operator", "$.a[?(@.x =~ /a.*/)]"},
		{"Jayway in operator", "$.a[?(@.x in ['a'])]"},
		{"garbage after root", "$a b"},
		{"bad index", "$.a[x]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if p, err := ParsePath(tc.path); !errors.Is(err, ErrSyntax) {
				t.Fatalf("ParsePath(%q) = %v, %v; want ErrSyntax", tc.path, p, err)
			}
		})
	}
}

// TestParseReferencePath lists the accepted and rejected forms of ResultPath.
func TestParseReferencePath(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, path string
		ok         bool
	}{
		{"root", "$", true},
		{"name", "$.taskresult", true},
		{"nested names", "$.strings.lambdaresult", true},
		{"quoted name", "$['a b'].c", true},
		{"index", "$.a[0]", true},
		{"index then name", "$.a[0].b", true},
		{"Jayway dotted bracket", "$.a.['b']", true},
		{"wildcard", "$.a[*]", false},
		{"dot wildcard", "$.a.*", false},
		{"filter", "$.a[?(@.x > 1)]", false},
		{"slice", "$.a[1:]", false},
		{"union", "$.a[0,1]", false},
		{"descendant", "$..a", false},
		{"context", "$$.Execution", false},
		{"context root", "$$", false},
		{"variable", "$v.a", false},
		{"function", "$.a.length()", false},
		{"not a path", "a", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := ParseReferencePath(tc.path)
			if tc.ok {
				if err != nil {
					t.Fatalf("ParseReferencePath(%q): %v", tc.path, err)
				}
				if !p.Definite() || p.String() != tc.path {
					t.Fatalf("Definite %v, String %q", p.Definite(), p.String())
				}
				return
			}
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("ParseReferencePath(%q) = %v, want ErrSyntax", tc.path, err)
			}
		})
	}
}

// FuzzParsePath checks that any text either compiles to a path that evaluates, or fails with ErrSyntax.
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{"$", "$.a[?(@.x > 10)]", "$.a[-1:]", "$..b", "$['a b']", "$$.Map.Item", "$v.a[0]", "$.a.length()"} {
		f.Add(s)
	}
	input := map[string]any{"a": []any{map[string]any{"x": 11.0, "b": "c"}}, "b": 1.0}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePath(s)
		if err != nil {
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("error %v does not wrap ErrSyntax", err)
			}
			return
		}
		v, found, err := p.Select(Scope{Input: input, Vars: map[string]any{"v": input}})
		if err != nil {
			t.Fatal(err)
		}
		if !p.Definite() && (!found || v == nil) {
			t.Fatalf("indefinite path %q gave %v, %v", s, v, found)
		}
	})
}
