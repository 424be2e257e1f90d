package dataflow

import (
	"errors"
	"reflect"
	"regexp"
	"strings"
	"testing"
)

// TestIntrinsicExamples runs every example of the AWS intrinsic functions page and of the specification, plus
// the argument forms and edge cases of each function.
func TestIntrinsicExamples(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, input, call, want string
	}{
		// https://docs.aws.amazon.com/step-functions/latest/dg/intrinsic-functions.html#asl-intrsc-func-generic
		{name: "doc: States.Format with a literal template", input: `{"name": "Arnav", "template": "Hello, my name is {}."}`,
			call: `States.Format('Hello, my name is {}.', $.name)`, want: `"Hello, my name is Arnav."`},
		// https://docs.aws.amazon.com/step-functions/latest/dg/intrinsic-functions.html#asl-intrsc-func-generic
		{name: "doc: States.Format with a template path", input: `{"name": "Arnav", "template": "Hello, my name is {}."}`,
			call: `States.Format($.template, $.name)`, want: `"Hello, my name is Arnav."`},
		// https://docs.aws.amazon.com/step-functions/latest/dg/intrinsic-functions.html (nine nested functions; the page's
		// format string has three {} for two values, so it is given two here)
		{name: "doc: nine nested intrinsic functions",
			input: `{"ImageRecipe": {"Arn": "arn:aws:imagebuilder:us-east-1:123456789012:image-recipe/my-recipe/1.0.2"}}`,
			call:  `States.Format('{}.{}', States.ArrayGetItem(States.StringSplit(States.ArrayGetItem(States.StringSplit($.ImageRecipe.Arn, '/'), 2), '.'), 0), States.ArrayGetItem(States.StringSplit(States.ArrayGetItem(States.StringSplit($.ImageRecipe.Arn, '/'), 2), '.'), 1))`,
			want:  `"1.0"`},
		// https://docs.aws.amazon.com/step-functions/latest/dg/intrinsic-functions.html#asl-intrsc-func-arrays
		{name: "doc: States.Array", input: `{"Id": 123456}`, call: `States.Array($.Id)`, want: `[123456]`},
		// https://docs.aws.amazon.com/step-functions/latest/dg/intrinsic-functions.html#asl-intrsc-func-arrays
		{name: "doc: States.ArrayPartition", input: `{"inputArray": [1,2,3,4,5,6,7,8,9]}`,
			call: `States.ArrayPartition($.inputArray,4)`, want: `[[1,2,3,4],[5,6,7,8],[9]]`},
		// https://docs.aws.amazon.com/step-functions/latest/dg/intrinsic-functions.html#asl-intrsc-func-arrays
		{name: "doc: States.ArrayContains", input: `{"inputArray": [1,2,3,4,5,6,7,8,9], "lookingFor": 5}`,
			call: `States.ArrayContains($.inputArray, $.lookingFor)`, want: `true`},
		// https://docs.aws.amazon.com/step-functions/latest/dg/intrinsic-functions.html#asl-intrsc-func-arrays
		{name: "doc: States.ArrayRange", input: `{}`, call: `States.ArrayRange(1, 9, 2)`, want: `[1,3,5,7,9]`},
		// https://docs.aws.amazon.com/step-functions/latest/dg/intrinsic-functions.html#asl-intrsc-func-arrays
		{name: "doc: States.ArrayGetItem", input: `{"inputArray": [1,2,3,4,5,6,7,8,9], "index": 5}`,
			call: `States.ArrayGetItem($.inputArray, $.index)`, want: `6`},
		// https://docs.aws.amazon.com/step-functions/latest/dg/intrinsic-functions.html#asl-intrsc-func-arrays
		{name: "doc: States.ArrayLength", input: `{"inputArray": [1,2,3,4,5,6,7,8,9]}`,
			call: `States.ArrayLength($.inputArray)`, want: `9`},
		// https://docs.aws.amazon.com/step-functions/latest/dg/intrinsic-functions.html#asl-intrsc-func-arrays
		{name: "doc: States.ArrayUnique", input: `{"inputArray": [1,2,3,3,3,3,3,3,4]}`,
			call: `States.ArrayUnique($.inputArray)`, want: `[1,2,3,4]`},
		// https://docs.aws.amazon.com/step-functions/latest/dg/intrinsic-functions.html#asl-intrsc-func-data-encode-decode
		{name: "doc: States.Base64Encode", input: `{"input": "Data to encode"}`,
			call: `States.Base64Encode($.input)`, want: `"RGF0YSB0byBlbmNvZGU="`},
		// https://docs.aws.amazon.com/step-functions/latest/dg/intrinsic-functions.html#asl-intrsc-func-data-encode-decode
		// (the page shows "Decoded data", but the Base64 text it decodes is "Data to encode")
		{name: "doc: States.Base64Decode", input: `{"base64": "RGF0YSB0byBlbmNvZGU="}`,
			call: `States.Base64Decode($.base64)`, want: `"Data to encode"`},
		// https://docs.aws.amazon.com/step-functions/latest/dg/intrinsic-functions.html#asl-intrsc-func-hash-calc
		// (the page drops one digit of the SHA-1 digest: aaff4a450a104cd177d28d18d7485e8cae074b7)
		{name: "doc: States.Hash", input: `{"Data": "input data", "Algorithm": "SHA-1"}`,
			call: `States.Hash($.Data, $.Algorithm)`, want: `"aaff4a450a104cd177d28d18d74485e8cae074b7"`},
		// https://docs.aws.amazon.com/step-functions/latest/dg/intrinsic-functions.html#asl-intrsc-func-json-manipulate
		{name: "doc: States.JsonMerge", input: `{"json1": {"a": {"a1": 1, "a2": 2}, "b": 2}, "json2": {"a": {"a3": 1, "a4": 2}, "c": 3}}`,
			call: `States.JsonMerge($.json1, $.json2, false)`, want: `{"a": {"a3": 1, "a4": 2}, "b": 2, "c": 3}`},
		// https://docs.aws.amazon.com/step-functions/latest/dg/intrinsic-functions.html#asl-intrsc-func-json-manipulate
		{name: "doc: States.StringToJson", input: `{"escapedJsonString": "{\"foo\": \"bar\"}"}`,
			call: `States.StringToJson($.escapedJsonString)`, want: `{"foo": "bar"}`},
		// https://docs.aws.amazon.com/step-functions/latest/dg/intrinsic-functions.html#asl-intrsc-func-json-manipulate
		{name: "doc: States.JsonToString", input: `{"unescapedJson": {"foo": "bar"}}`,
			call: `States.JsonToString($.unescapedJson)`, want: `"{\"foo\":\"bar\"}"`},
		// https://docs.aws.amazon.com/step-functions/latest/dg/intrinsic-functions.html#asl-intrsc-func-math-operation
		{name: "doc: States.MathAdd", input: `{"value1": 111, "step": -1}`,
			call: `States.MathAdd($.value1, $.step)`, want: `110`},
		// https://docs.aws.amazon.com/step-functions/latest/dg/intrinsic-functions.html#asl-intrsc-func-string-operation
		{name: "doc: States.StringSplit with one delimiter", input: `{"inputString": "1,2,3,4,5", "splitter": ","}`,
			call: `States.StringSplit($.inputString, $.splitter)`, want: `["1","2","3","4","5"]`},
		// https://docs.aws.amazon.com/step-functions/latest/dg/intrinsic-functions.html#asl-intrsc-func-string-operation
		{name: "doc: States.StringSplit with several delimiters", input: `{"inputString": "This.is+a,test=string", "splitter": ".+,="}`,
			call: `States.StringSplit($.inputString, $.splitter)`, want: `["This","is","a","test","string"]`},

		// Examples of the Amazon States Language specification, Appendix B (https://states-language.net/spec.html).
		{name: "spec: States.Format with a number literal", input: `{"name": "Foo", "zebra": "stripe"}`,
			call: `States.Format('Your name is {}, we are in the year {}', $.name, 2020)`, want: `"Your name is Foo, we are in the year 2020"`},
		{name: "spec: States.Array of mixed arguments", input: `{"someJson": {"random": "abcdefg"}, "zebra": "stripe"}`,
			call: `States.Array('Foo', 2020, $.someJson, null)`, want: `["Foo", 2020, {"random": "abcdefg"}, null]`},
		{name: "spec: States.StringToJson", input: `{"someString": "{\"number\": 20}", "zebra": "stripe"}`,
			call: `States.StringToJson($.someString)`, want: `{"number": 20}`},
		{name: "spec: States.JsonToString", input: `{"someJson": {"name": "Foo", "year": 2020}, "zebra": "stripe"}`,
			call: `States.JsonToString($.someJson)`, want: `"{\"name\":\"Foo\",\"year\":2020}"`},

		// Argument forms and rendering.
		{name: "format escapes", input: `{"n": "x"}`, call: `States.Format('\{\} {} \'q\' \\ {', $.n)`, want: `"{} x 'q' \\ {"`},
		{name: "format renders each type", input: `{"o": {"b": [1, "s"], "a": null}, "f": 1.5, "t": true, "z": null, "l": [1, {"k": "v"}]}`,
			call: `States.Format('{}|{}|{}|{}|{}', $.o, $.f, $.t, $.z, $.l)`, want: `"{a=null, b=[1, s]}|1.5|true|null|[1, {k=v}]"`},
		{name: "format with no placeholders", input: `{}`, call: `States.Format('plain')`, want: `"plain"`},
		{name: "format template from a path is not unescaped", input: `{"t": "a\\{}b{}"}`, call: `States.Format($.t, 1, 2)`, want: `"a\\1b2"`},
		{name: "blanks around arguments", input: `{"a": [1]}`, call: ` States.ArrayLength (  $.a  ) `, want: `1`},
		{name: "bracket path argument with comma", input: `{"a,b": [1, 2]}`, call: `States.ArrayLength($['a,b'])`, want: `2`},
		{name: "filter path argument", input: `{"a": [{"x": 1}, {"x": 5}]}`, call: `States.ArrayLength($.a[?(@.x > 2)])`, want: `1`},
		{name: "whole input argument", input: `{"k": 1}`, call: `States.JsonToString($)`, want: `"{\"k\":1}"`},
		{name: "context argument", input: `{}`, call: `States.Format('{}', $$.Execution.Name)`, want: `"exec-1"`},
		{name: "variable argument", input: `{}`, call: `States.MathAdd($counter, 1)`, want: `42`},
		{name: "json text does not escape HTML", input: `{"h": "<a&b>"}`, call: `States.JsonToString($.h)`, want: `"\"<a&b>\""`},
		{name: "empty array", input: `{}`, call: `States.Array()`, want: `[]`},
		{name: "string literal with comma and parenthesis", input: `{}`, call: `States.Array('a, b)', -1.5e2, true, false)`, want: `["a, b)", -150, true, false]`},

		// Array functions.
		{name: "partition of an empty array", input: `{"a": []}`, call: `States.ArrayPartition($.a, 3)`, want: `[]`},
		{name: "partition chunk larger than array", input: `{"a": [1, 2]}`, call: `States.ArrayPartition($.a, 5)`, want: `[[1, 2]]`},
		{name: "partition chunk rounded", input: `{"a": [1, 2, 3]}`, call: `States.ArrayPartition($.a, 1.5)`, want: `[[1, 2], [3]]`},
		{name: "contains object", input: `{"a": [{"x": [1]}, 2], "v": {"x": [1]}}`, call: `States.ArrayContains($.a, $.v)`, want: `true`},
		{name: "contains missing", input: `{"a": [1, "1", null]}`, call: `States.ArrayContains($.a, true)`, want: `false`},
		{name: "contains null", input: `{"a": [1, null]}`, call: `States.ArrayContains($.a, null)`, want: `true`},
		{name: "range descending", input: `{}`, call: `States.ArrayRange(5, 1, -2)`, want: `[5, 3, 1]`},
		{name: "range end not on step", input: `{}`, call: `States.ArrayRange(0, 10, 3)`, want: `[0, 3, 6, 9]`},
		{name: "range wrong direction is empty", input: `{}`, call: `States.ArrayRange(5, 1, 1)`, want: `[]`},
		{name: "range rounds arguments", input: `{}`, call: `States.ArrayRange(0.6, 2.4, 1)`, want: `[1, 2]`},
		{name: "range of 1000 items", input: `{}`, call: `States.ArrayLength(States.ArrayRange(1, 1000, 1))`, want: `1000`},
		{name: "get item rounds the index", input: `{"a": [10, 20, 30]}`, call: `States.ArrayGetItem($.a, 1.4)`, want: `20`},
		{name: "unique keeps first occurrences of any type", input: `{"a": [null, null, true, true, 1, 1, 1.1, 0, -0, "1", "1", [], [], {"a": 1, "b": 2}, {"b": 2, "a": 1}, {"a": 1}]}`,
			call: `States.ArrayUnique($.a)`, want: `[null, true, 1, 1.1, 0, "1", [], {"a": 1, "b": 2}, {"a": 1}]`},

		// Encoding, hashing, JSON.
		{name: "base64 round trip of unicode", input: `{"s": "héllo ✓"}`, call: `States.Base64Decode(States.Base64Encode($.s))`, want: `"héllo ✓"`},
		{name: "base64 decode without padding", input: `{}`, call: `States.Base64Decode('aGk')`, want: `"hi"`},
		{name: "base64 decode with line breaks", input: `{"s": "RGF0YSB0\r\nbyBlbmNvZGU="}`, call: `States.Base64Decode($.s)`, want: `"Data to encode"`},
		{name: "hash MD5", input: `{}`, call: `States.Hash('input data', 'MD5')`, want: `"812f45842bc6d66ee14572ce20db8e86"`},
		{name: "hash SHA-256", input: `{}`, call: `States.Hash('input data', 'SHA-256')`,
			want: `"b4a697a057313163aee33cd8d40c66e9f0f177e00cac2de32475ffff6169c3e3"`},
		{name: "hash SHA-384", input: `{}`, call: `States.Hash('input data', 'SHA-384')`,
			want: `"d28a7d5cf25a74f11a50a18452b75e04bb3d70c9dd0510d6123aa008c756511b87525bdc835ebb27e1fb9e9374a15562"`},
		{name: "hash SHA-512", input: `{}`, call: `States.Hash('input data', 'SHA-512')`,
			want: `"6ce4adb348546d4f449c4d25aad9a7c9cb711d9e91982d3f0b29ca2f3f47d4ce2deba23bf2954f0f1d593fc50283731a533d30d425402d4f91316d871303aac4"`},
		{name: "string to json of a scalar", input: `{}`, call: `States.StringToJson(' [1, "a"] ')`, want: `[1, "a"]`},
		{name: "math add rounds", input: `{}`, call: `States.MathAdd(1.5, 2.4)`, want: `4`},
		{name: "math add at the int32 bounds", input: `{}`, call: `States.MathAdd(2147483647, -2147483648)`, want: `-1`},
		{name: "split drops empty tokens", input: `{}`, call: `States.StringSplit(',a,,b,', ',')`, want: `["a", "b"]`},
		{name: "split of an empty string", input: `{}`, call: `States.StringSplit('', ',')`, want: `[]`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := ParseCall(tc.call)
			if err != nil {
				t.Fatalf("ParseCall: %v", err)
			}
			if c.String() != strings.TrimSpace(tc.call) {
				t.Errorf("String() = %q", c.String())
			}
			in := decode(t, tc.input)
			before := snapshot(t, in)
			got, err := c.Eval(Scope{
				Input:   in,
				Context: map[string]any{"Execution": map[string]any{"Name": "exec-1"}},
				Vars:    map[string]any{"counter": 41.0},
			})
			if err != nil {
				t.Fatalf("Eval: %v", err)
			}
			assertJSON(t, got, tc.want)
			if !reflect.DeepEqual(in, before) {
				t.Fatal("Eval modified its input")
			}
		})
	}
}

// TestIntrinsicRuntimeErrors checks the errors of arguments only known to be wrong at run time.
func TestIntrinsicRuntimeErrors(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("x", 10001)
	for _, tc := range []struct {
		name, input, call, errName, cause string
	}{
		{name: "path argument selecting nothing", input: `{"a": 1}`, call: `States.Array($.b)`, errName: StatesRuntime,
			cause: `The function 'States.Array($.b)' had the following error: The JsonPath argument for the field '$.b' could not be found in the input '{"a":1}'`},
		{name: "wrong argument type", input: `{"s": "abc"}`, call: `States.ArrayLength($.s)`, errName: StatesIntrinsicFailure,
			cause: `The function 'States.ArrayLength($.s)' had the following error: The value of argument 1 must be an array, but was string`},
		{name: "nested call failure", input: `{}`, call: `States.Array(States.ArrayGetItem(States.Array(), 0))`, errName: StatesIntrinsicFailure,
			cause: `The function 'States.ArrayGetItem(States.Array(), 0)' had the following error: The index 0 is out of bounds for an array of 0 items`},
		{name: "format template from a path with too few values", input: `{"t": "{} {}"}`, call: `States.Format($.t, 1)`, errName: StatesIntrinsicFailure,
			cause: `The function 'States.Format($.t, 1)' had the following error: The format string has 2 placeholders but 1 values were given`},
		{name: "format template that is not a string", input: `{"t": 1}`, call: `States.Format($.t)`, errName: StatesIntrinsicFailure},
		{name: "string to json of invalid text", input: `{"s": "{nope"}`, call: `States.StringToJson($.s)`, errName: StatesIntrinsicFailure},
		{name: "string to json of a number", input: `{"s": 1}`, call: `States.StringToJson($.s)`, errName: StatesIntrinsicFailure},
		{name: "partition chunk zero", input: `{"a": [1], "n": 0}`, call: `States.ArrayPartition($.a, $.n)`, errName: StatesIntrinsicFailure},
		{name: "partition of an object", input: `{"a": {}}`, call: `States.ArrayPartition($.a, 1)`, errName: StatesIntrinsicFailure},
		{name: "range step zero", input: `{"s": 0}`, call: `States.ArrayRange(1, 2, $.s)`, errName: StatesIntrinsicFailure},
		{name: "range over 1000 items", input: `{"e": 1001}`, call: `States.ArrayRange(1, $.e, 1)`, errName: StatesIntrinsicFailure,
			cause: `The function 'States.ArrayRange(1, $.e, 1)' had the following error: The array cannot contain more than 1000 items, but would contain 1001`},
		{name: "range of strings", input: `{"e": "9"}`, call: `States.ArrayRange(1, $.e, 1)`, errName: StatesIntrinsicFailure},
		{name: "get item negative index", input: `{"a": [1], "i": -1}`, call: `States.ArrayGetItem($.a, $.i)`, errName: StatesIntrinsicFailure},
		{name: "base64 encode too long", input: `{"s": "` + long + `"}`, call: `States.Base64Encode($.s)`, errName: StatesIntrinsicFailure},
		{name: "base64 decode too long", input: `{"s": "` + long + `"}`, call: `States.Base64Decode($.s)`, errName: StatesIntrinsicFailure},
		{name: "base64 decode invalid", input: `{"s": "!!!"}`, call: `States.Base64Decode($.s)`, errName: StatesIntrinsicFailure},
		{name: "hash unknown algorithm", input: `{"a": "SHA-3"}`, call: `States.Hash('x', $.a)`, errName: StatesIntrinsicFailure,
			cause: `The function 'States.Hash('x', $.a)' had the following error: The hash algorithm 'SHA-3' is not supported; use one of MD5, SHA-1, SHA-256, SHA-384, SHA-512`},
		{name: "hash input too long", input: `{"s": "` + long + `"}`, call: `States.Hash($.s, 'MD5')`, errName: StatesIntrinsicFailure},
		{name: "hash of an object", input: `{"o": {}}`, call: `States.Hash($.o, 'MD5')`, errName: StatesIntrinsicFailure},
		{name: "merge deep requested", input: `{"d": true}`, call: `States.JsonMerge($, $, $.d)`, errName: StatesIntrinsicFailure},
		{name: "merge of an array", input: `{"a": []}`, call: `States.JsonMerge($.a, $, false)`, errName: StatesIntrinsicFailure},
		{name: "random start not below end", input: `{}`, call: `States.MathRandom(5, 5)`, errName: StatesIntrinsicFailure},
		{name: "math add above int32", input: `{"n": 2147483648}`, call: `States.MathAdd($.n, 1)`, errName: StatesIntrinsicFailure},
		{name: "split of a number", input: `{"n": 1}`, call: `States.StringSplit($.n, ',')`, errName: StatesIntrinsicFailure},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := ParseCall(tc.call)
			if err != nil {
				t.Fatalf("ParseCall: %v", err)
			}
			_, err = c.Eval(Scope{Input: decode(t, tc.input)})
			assertError(t, err, tc.errName, tc.cause)
		})
	}
}

// TestParseCallErrors checks that malformed calls and literal arguments a function cannot take fail to
// compile with ErrSyntax.
func TestParseCallErrors(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat("States.Array(", 11) + strings.Repeat(")", 11)
	for _, tc := range []struct{ name, call string }{
		{"empty", ""},
		{"unknown function", "States.Nope()"},
		{"lower-case name", "States.format('x')"},
		{"missing parenthesis", "States.UUID"},
		{"unclosed call", "States.Array(1, 2"},
		{"trailing text", "States.UUID() x"},
		{"unterminated string", "States.Array('abc)"},
		{"open escape", `States.Array('a\nb')`},
		{"trailing escape", `States.Array('a\`},
		{"malformed number", "States.Array(1.2.3)"},
		{"bare word", "States.Array(abc)"},
		{"malformed path", "States.Array($.a[)"},
		{"empty argument", "States.Array(1,,2)"},
		{"too deep", deep},
		{"format without arguments", "States.Format()"},
		{"format template not a string", "States.Format(1)"},
		{"format too few values", "States.Format('{} {}', 1)"},
		{"format too many values", "States.Format('{}', 1, 2)"},
		{"format escaped braces are not placeholders", `States.Format('\{}', 1)`},
		{"string to json of a number", "States.StringToJson(1)"},
		{"json to string of a literal", "States.JsonToString('x')"},
		{"array function of a literal", "States.ArrayLength('abc')"},
		{"partition argument count", "States.ArrayPartition($.a)"},
		{"partition chunk zero", "States.ArrayPartition($.a, 0)"},
		{"partition chunk string", "States.ArrayPartition($.a, '2')"},
		{"contains argument count", "States.ArrayContains($.a)"},
		{"range argument count", "States.ArrayRange(1, 2)"},
		{"range step zero", "States.ArrayRange(1, 9, 0)"},
		{"range step rounds to zero", "States.ArrayRange(1, 9, 0.4)"},
		{"range over 1000 items", "States.ArrayRange(0, 1000, 1)"},
		{"get item negative index", "States.ArrayGetItem($.a, -1)"},
		{"unique argument count", "States.ArrayUnique($.a, $.b)"},
		{"base64 encode too long", "States.Base64Encode('" + strings.Repeat("a", 10001) + "')"},
		{"base64 decode of a number", "States.Base64Decode(1)"},
		{"hash unknown algorithm", "States.Hash('x', 'SHA-3')"},
		{"hash algorithm lower case", "States.Hash('x', 'sha-256')"},
		{"hash argument count", "States.Hash('x')"},
		{"merge deep", "States.JsonMerge($.a, $.b, true)"},
		{"merge flag not boolean", "States.JsonMerge($.a, $.b, 'false')"},
		{"merge argument count", "States.JsonMerge($.a, $.b)"},
		{"random argument count", "States.MathRandom(1)"},
		{"random too many arguments", "States.MathRandom(1, 2, 3, 4)"},
		{"math add out of int32", "States.MathAdd(2147483648, 1)"},
		{"math add of a string", "States.MathAdd('1', 1)"},
		{"split argument count", "States.StringSplit('a')"},
		{"uuid with an argument", "States.UUID(1)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if c, err := ParseCall(tc.call); !errors.Is(err, ErrSyntax) {
				t.Fatalf("ParseCall(%q) = %v, %v; want ErrSyntax", tc.call, c, err)
			}
		})
	}
}

// TestIsCall tells intrinsic calls from paths.
func TestIsCall(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		s    string
		want bool
	}{
		{"States.Format('x')", true},
		{" States.UUID ()", true},
		{"States.Nope(1)", true},
		{"$.a", false},
		{"$.a.length()", false},
		{"$$.Execution.Id", false},
		{"$var", false},
		{"States.UUID", false},
		{"hello", false},
		{"", false},
		{"(1)", false},
	} {
		if got := IsCall(tc.s); got != tc.want {
			t.Errorf("IsCall(%q) = %v, want %v", tc.s, got, tc.want)
		}
	}
}

// counter returns a Scope.Rand that yields n, n+1, ...
func counter(n uint64) func() uint64 {
	return func() uint64 { n++; return n - 1 }
}

// TestUUID checks the shape of States.UUID and that it draws its bits from Scope.Rand.
func TestUUID(t *testing.T) {
	t.Parallel()
	c, err := ParseCall("States.UUID()")
	if err != nil {
		t.Fatal(err)
	}
	v4 := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	for _, tc := range []struct {
		name string
		rand func() uint64
		want string
	}{
		// The documented output is random: https://docs.aws.amazon.com/step-functions/latest/dg/intrinsic-functions.html#asl-intrsc-func-uuid-generate
		{name: "process-wide source"},
		{name: "from Scope.Rand", rand: counter(0x0123456789abcdef), want: "01234567-89ab-4def-8123-456789abcdf0"},
		{name: "all bits set", rand: func() uint64 { return ^uint64(0) }, want: "ffffffff-ffff-4fff-bfff-ffffffffffff"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := c.Eval(Scope{Rand: tc.rand})
			if err != nil {
				t.Fatal(err)
			}
			s, _ := got.(string)
			if !v4.MatchString(s) {
				t.Fatalf("%q is not a v4 UUID", s)
			}
			if tc.want != "" && s != tc.want {
				t.Fatalf("got %s, want %s", s, tc.want)
			}
		})
	}
}

// TestMathRandom checks that States.MathRandom stays within [start, end).
func TestMathRandom(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, call string
		rand       func() uint64
		low, high  float64 // the result is in [low, high)
	}{
		// https://docs.aws.amazon.com/step-functions/latest/dg/intrinsic-functions.html#asl-intrsc-func-math-operation
		{name: "doc: States.MathRandom between 1 and 999", call: "States.MathRandom($.start, $.end)", low: 1, high: 999},
		{name: "from Scope.Rand", call: "States.MathRandom(-5, 5)", rand: counter(7), low: -5, high: 5},
		{name: "single value", call: "States.MathRandom(3, 4)", low: 3, high: 4},
		{name: "rounded bounds", call: "States.MathRandom(0.6, 2.4)", low: 1, high: 2},
		{name: "seeded", call: "States.MathRandom(0, 1000000, 42)", low: 0, high: 1000000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c, err := ParseCall(tc.call)
			if err != nil {
				t.Fatal(err)
			}
			scope := Scope{Input: map[string]any{"start": 1.0, "end": 999.0}, Rand: tc.rand}
			for range 50 {
				v, err := c.Eval(scope)
				if err != nil {
					t.Fatal(err)
				}
				f := v.(float64)
				if f < tc.low || f >= tc.high || f != float64(int64(f)) {
					t.Fatalf("%v not an integer in [%v, %v)", f, tc.low, tc.high)
				}
			}
		})
	}
}

// TestMathRandomSeedIsDeterministic checks that a seed fixes the result whatever Scope.Rand is.
func TestMathRandomSeedIsDeterministic(t *testing.T) {
	t.Parallel()
	c, err := ParseCall("States.MathRandom(0, 1000000000, 7)")
	if err != nil {
		t.Fatal(err)
	}
	first, err := c.Eval(Scope{})
	if err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if v, _ := c.Eval(Scope{Rand: counter(1)}); v != first {
			t.Fatalf("seeded results differ: %v and %v", v, first)
		}
	}
	other, _ := ParseCall("States.MathRandom(0, 1000000000, 8)")
	if v, _ := other.Eval(Scope{}); v == first {
		t.Fatalf("different seeds gave the same result %v", v)
	}
}

// FuzzParseCall checks that any text either compiles to a call whose failures are *Error values, or fails
// with ErrSyntax.
func FuzzParseCall(f *testing.F) {
	for _, s := range []string{
		"States.Format('Hello, my name is {}.', $.name)",
		"States.ArrayRange(1, 9, 2)",
		`States.Format('\{\} {}', States.Array($['a,b'], null, true, -1.5))`,
		"States.Hash($.Data, 'SHA-1')",
		"States.UUID()",
	} {
		f.Add(s)
	}
	input := map[string]any{"name": "n", "a,b": []any{1.0}, "Data": "d"}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCall(s)
		if err != nil {
			if !errors.Is(err, ErrSyntax) {
				t.Fatalf("error %v does not wrap ErrSyntax", err)
			}
			return
		}
		if _, err := c.Eval(Scope{Input: input, Rand: counter(0)}); err != nil {
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("Eval error %v is not an *Error", err)
			}
		}
	})
}
