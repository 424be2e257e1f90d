package dataflow

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"
)

// rawOf returns the raw value of s for a test.
func rawOf(t testing.TB, s string) *Raw {
	t.Helper()
	r, ok := NewRaw([]byte(s))
	if !ok {
		t.Fatalf("NewRaw(%s) rejected valid JSON", s)
	}
	return r
}

// lazyEager returns the same scope twice: with every value raw, and decoded. In the raw one the input is a
// *Raw, the context object a decoded map whose members are raw, and the variables raw.
func lazyEager(t testing.TB) (lazy, eager Scope) {
	t.Helper()
	const ctx = `{"Execution": {"Id": "arn:exec", "Input": {"k": 1}}, "Map": {"Item": {"Index": 2, "Value": {"v": true}}}}`
	const order = `{"lines": [{"sku": "a", "qty": 2}, {"sku": "b", "qty": 1.50}], "tags": ["x", "y", "x"]}`
	ctxLazy := map[string]any{}
	for k, v := range decode(t, ctx).(map[string]any) {
		b, _ := json.Marshal(v)
		ctxLazy[k] = rawOf(t, string(b))
	}
	lazy = Scope{
		Input:   rawOf(t, storeJSON),
		Context: ctxLazy,
		Vars:    map[string]any{"order": rawOf(t, order), "n": rawOf(t, "3"), "s": rawOf(t, `"a\"b"`)},
	}
	eager = Scope{
		Input:   decode(t, storeJSON),
		Context: decode(t, ctx),
		Vars:    map[string]any{"order": decode(t, order), "n": 3.0, "s": `a"b`},
	}
	return lazy, eager
}

// sameResult checks that a result over raw data is the result over decoded data.
func sameResult(t testing.TB, what string, lazy, eager any) {
	t.Helper()
	if got := ResolveAll(lazy); !reflect.DeepEqual(got, eager) {
		g, _ := AppendJSON(nil, got)
		w, _ := AppendJSON(nil, eager)
		t.Fatalf("%s: over raw data %s, over decoded data %s", what, g, w)
	}
}

// TestNewRaw checks which texts are taken raw: exactly the JSON texts, in valid UTF-8, whose numbers fit a
// float64; whitespace is compacted away.
func TestNewRaw(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, text string
		ok         bool
		want       string // the raw text, when not the input
	}{
		{name: "object", text: `{"b":1,"a":[true,false,null]}`, ok: true},
		{name: "scalar string", text: `"x"`, ok: true},
		{name: "number", text: `-0.5e-3`, ok: true},
		{name: "escapes", text: `"\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00"`, ok: true},
		{name: "long plain string", text: `"` + strings.Repeat("abcdefgh", 20) + `"`, ok: true},
		{name: "multibyte", text: `{"k":"héllo €"}`, ok: true},
		{name: "surrounding blanks trimmed", text: " \n[1]\n", ok: true, want: `[1]`},
		{name: "inner blanks compacted", text: "{ \"a\" : [ 1 , \"b c\" ] }", ok: true, want: `{"a":[1,"b c"]}`},
		{name: "empty", text: ""},
		{name: "blanks only", text: "  "},
		{name: "two values", text: `1 2`},
		{name: "trailing comma", text: `[1,]`},
		{name: "unquoted key", text: `{a:1}`},
		{name: "missing colon", text: `{"a" 1}`},
		{name: "leading zero", text: `01`},
		{name: "bare minus", text: `-`},
		{name: "fraction without digits", text: `1.`},
		{name: "exponent without digits", text: `1e`},
		{name: "control character in string", text: "\"a\tb\""},
		{name: "control character after eight plain bytes", text: "\"abcdefghijk\x01\""},
		{name: "bad escape", text: `"\x"`},
		{name: "short unicode escape", text: `"\u12"`},
		{name: "unterminated string", text: `"abc`},
		{name: "unterminated array", text: `[1`},
		{name: "bad literal", text: `nul`},
		{name: "number out of range", text: `[1e400]`},
		{name: "invalid UTF-8", text: "\"\xff\""},
		{name: "too deep", text: strings.Repeat("[", maxRawDepth+2) + strings.Repeat("]", maxRawDepth+2)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, ok := NewRaw([]byte(tc.text))
			if ok != tc.ok {
				t.Fatalf("NewRaw(%q) ok = %v, want %v", tc.text, ok, tc.ok)
			}
			if !ok {
				return
			}
			want := tc.want
			if want == "" {
				want = tc.text
			}
			if string(r.Bytes()) != want || r.Len() != len(want) {
				t.Fatalf("raw text %s, want %s", r.Bytes(), want)
			}
		})
	}
}

// FuzzNewRaw checks NewRaw against encoding/json: it takes what json.Valid takes (in valid UTF-8 and without
// numbers out of range), its text is the compacted input, and its full decoding is the decoder's.
func FuzzNewRaw(f *testing.F) {
	for _, s := range []string{`{"a":[1,2.5e3,"x\n"]}`, ` [ true , null ] `, `"\u00e9"`, `{"a":}`, `[1e999]`, `-0`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, text []byte) {
		r, ok := NewRaw(text)
		var want any
		decodes := json.Unmarshal(text, &want) == nil
		if ok != (decodes && utf8.Valid(text)) && !bytes.Contains(text, []byte("[[[[[[[[")) {
			t.Fatalf("NewRaw(%q) ok = %v, decodes %v", text, ok, decodes)
		}
		if !ok {
			return
		}
		var compact bytes.Buffer
		if err := json.Compact(&compact, text); err != nil || !bytes.Equal(compact.Bytes(), r.Bytes()) {
			t.Fatalf("raw text %s, want %s", r.Bytes(), compact.Bytes())
		}
		sameResult(t, "decoding", r, want)
	})
}

// TestAppendJSON checks that the encoding of decoded values is encoding/json's (sorted keys, no HTML
// escaping) and that raw values are written as they are.
func TestAppendJSON(t *testing.T) {
	t.Parallel()
	values := map[string]any{
		"strings":  []any{"plain", `q"b\s/`, "\b\f\n\r\t\x00\x1f", "<&>", "héllo", "\u2028\u2029", "bad\xffutf8"},
		"numbers":  []any{0.0, math.Copysign(0, -1), 1.0, -1.5, 1e20, 1e21, 1e-6, 1e-7, 123456789.125, math.MaxFloat64, math.SmallestNonzeroFloat64},
		"literals": []any{true, false, nil},
		"nested":   map[string]any{"z": map[string]any{}, "a": []any{}, "m": map[string]any{"b": 1.0, "a": 2.0}},
	}
	var want bytes.Buffer
	enc := json.NewEncoder(&want)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(values); err != nil {
		t.Fatal(err)
	}
	got, err := AppendJSON(nil, values)
	if err != nil || string(got) != strings.TrimSuffix(want.String(), "\n") {
		t.Fatalf("AppendJSON = %s, %v\nencoding/json  %s", got, err, want.String())
	}

	mixed := map[string]any{"b": rawOf(t, `{"z":1.50,"a":"\u00e9"}`), "a": []any{rawOf(t, `1E2`), "x"}}
	got, err = AppendJSON(nil, mixed)
	if want := `{"a":[1E2,"x"],"b":{"z":1.50,"a":"\u00e9"}}`; err != nil || string(got) != want {
		t.Fatalf("AppendJSON = %s, %v, want %s", got, err, want)
	}
	if _, err := AppendJSON(nil, []any{math.NaN()}); err == nil {
		t.Fatal("AppendJSON encoded NaN")
	}
}

// TestRawPaths evaluates paths over raw data at every position (the input, members of the context object,
// variables) and checks that each result is the one over decoded data.
func TestRawPaths(t *testing.T) {
	t.Parallel()
	lazy, eager := lazyEager(t)
	for _, path := range []string{
		"$", "$.store", "$.store.bicycle.color", "$.store.book[0].author", "$.store.book[-1].title", "$.store.book[3].price",
		"$['a b']", "$.foo-bar.x", "$.nothing", "$.text", "$.store.car", "$.store.bicycle.color.shade", "$.store.book[4]",
		"$.store.book[-5]", "$.store.bicycle[0]", "$.empty[0]", "$.text.length()", "$.store.book.length()", "$.store.length()",
		"$.empty.length()", "$.store.book[*].author", "$.store.*", "$..price", "$..book[1:3].title", "$.store.book[0,2].title",
		"$.store.book[?(@.price > 10)].title", "$..[?(@.isbn)].isbn", "$.store.book[*].length()",
		"$$.Execution.Input.k", "$$.Map.Item.Value", "$$.Execution.*",
		"$order.lines[1].qty", "$order.lines[*].sku", "$order.tags[-1]", "$n", "$s", "$missing",
	} {
		t.Run(path, func(t *testing.T) {
			t.Parallel()
			p, err := ParsePath(path)
			if err != nil {
				t.Fatal(err)
			}
			lv, lfound, _ := p.Select(lazy)
			ev, efound, _ := p.Select(eager)
			if lfound != efound {
				t.Fatalf("found %v over raw data, %v over decoded data", lfound, efound)
			}
			sameResult(t, path, lv, ev)
		})
	}
}

// TestRawNavigationDecodesOnlyThePath checks that a definite path into raw data leaves the values beside the
// path raw, and that the selected value is the raw text of the input, byte for byte.
func TestRawNavigationDecodesOnlyThePath(t *testing.T) {
	t.Parallel()
	in := rawOf(t, `{"big":[{"n":1.50},{"n":2}],"other":{"k":"v"}}`)
	p, _ := ParsePath("$.big[1]")
	v, found, _ := p.Select(Scope{Input: in})
	r, ok := v.(*Raw)
	if !found || !ok || string(r.Bytes()) != `{"n":2}` {
		t.Fatalf("selected %#v", v)
	}
	top := Resolve(in).(map[string]any)
	if _, raw := top["other"].(*Raw); !raw {
		t.Fatalf("a member beside the path was decoded: %#v", top["other"])
	}
	if big := top["big"].(*Raw); big.level.Load() != nil {
		t.Fatal("an index into an array decoded the whole array")
	}
	p, _ = ParsePath("$.big[0].n")
	v, _, _ = p.Select(Scope{Input: in})
	if string(v.(*Raw).Bytes()) != "1.50" || Scalar(v) != 1.5 {
		t.Fatalf("number: %#v", v)
	}
}

// TestRawIntrinsics applies the intrinsic functions to raw arguments and checks each result and error against
// the one over decoded data.
func TestRawIntrinsics(t *testing.T) {
	t.Parallel()
	lazy, eager := lazyEager(t)
	for _, call := range []string{
		"States.ArrayLength($order.lines)", "States.ArrayLength($.store.book)", "States.ArrayLength($.empty)",
		"States.ArrayGetItem($order.lines, 1)", "States.ArrayGetItem($order.tags, $n)",
		"States.ArrayContains($order.tags, 'y')", "States.ArrayContains($order.lines, $order.lines[1])",
		"States.ArrayContains($.store.book[*].price, 8.99)",
		"States.ArrayUnique($order.tags)", "States.ArrayPartition($.store.book, 3)",
		"States.ArrayPartition($.store.book[*].price, 2)",
		"States.JsonMerge($.store.bicycle, $order, false)",
		"States.Format('{} {} {} {}', $s, $n, $order.lines, $.nothing)",
		"States.JsonToString($order)", "States.JsonToString($.store.bicycle)",
		"States.Array($n, $s, $order.tags)", "States.MathAdd($n, $order.lines[0].qty)",
		"States.StringSplit($.store.book[2].isbn, '-')", "States.Hash($.text, 'SHA-256')",
		"States.Base64Encode($.store.bicycle.color)", "States.StringToJson(States.JsonToString($order))",
		// Failures name the type of the raw value.
		"States.ArrayLength($order)", "States.ArrayLength($.text)", "States.ArrayGetItem($order.tags, 9)",
		"States.JsonMerge($order.tags, $order, false)", "States.MathAdd($s, 1)", "States.ArrayLength($.absent)",
	} {
		t.Run(call, func(t *testing.T) {
			t.Parallel()
			c, err := ParseCall(call)
			if err != nil {
				t.Fatal(err)
			}
			lv, lerr := c.Eval(lazy)
			ev, eerr := c.Eval(eager)
			if (lerr == nil) != (eerr == nil) || (lerr != nil && lerr.Error() != eerr.Error()) {
				t.Fatalf("error %v over raw data, %v over decoded data", lerr, eerr)
			}
			sameResult(t, call, lv, ev)
		})
	}
}

// TestRawSetAndTemplates places results into raw documents and evaluates templates over raw data: the results
// are the ones over decoded data, and the raw input is left as it was.
func TestRawSetAndTemplates(t *testing.T) {
	t.Parallel()
	lazy, eager := lazyEager(t)
	before := string(lazy.Input.(*Raw).Bytes())
	result := rawOf(t, `{"r":[1,2]}`)
	for _, path := range []string{"$", "$.new", "$.store.bicycle.color", "$.store.book[1].extra", "$.store.book[-1]",
		"$.a.b.c", "$.nothing.x", "$.text.x", "$.store.book[9]"} {
		t.Run("set "+path, func(t *testing.T) {
			t.Parallel()
			p, err := ParseReferencePath(path)
			if err != nil {
				t.Fatal(err)
			}
			lv, lerr := Set(lazy.Input, p, result)
			ev, eerr := Set(eager.Input, p, ResolveAll(result))
			if (lerr == nil) != (eerr == nil) || (lerr != nil && lerr.Error() != eerr.Error()) {
				t.Fatalf("error %v over raw data, %v over decoded data", lerr, eerr)
			}
			sameResult(t, path, lv, ev)
		})
	}
	tpl, err := ParseTemplate(decode(t, `{"first.$": "$.store.book[0]", "all.$": "$..author", "n.$": "States.ArrayLength($order.lines)",
		"nested": {"ctx.$": "$$.Map.Item.Value", "k": [1, {"v.$": "$s"}]}, "missing.$": "$.store.bicycle.color"}`))
	if err != nil {
		t.Fatal(err)
	}
	lv, lerr := tpl.Eval(lazy)
	ev, eerr := tpl.Eval(eager)
	if lerr != nil || eerr != nil {
		t.Fatalf("errors %v, %v", lerr, eerr)
	}
	sameResult(t, "template", lv, ev)
	if after := string(lazy.Input.(*Raw).Bytes()); after != before {
		t.Fatal("the raw input was modified")
	}
}

// TestRawPassThroughIsVerbatim checks that data a template passes on is encoded as it came: member order,
// number text and escapes.
func TestRawPassThroughIsVerbatim(t *testing.T) {
	t.Parallel()
	const payload = `{"zeta":{"b":1.50,"a":[1E2,"\u00e9\/"]},"alpha":-0.0}`
	in := rawOf(t, `{"Payload":`+payload+`,"StatusCode":200}`)
	tpl, err := ParseTemplate(decode(t, `{"p.$": "$.Payload", "z.$": "$.Payload.zeta.a"}`))
	if err != nil {
		t.Fatal(err)
	}
	v, err := tpl.Eval(Scope{Input: in})
	if err != nil {
		t.Fatal(err)
	}
	got, err := AppendJSON(nil, v)
	if want := `{"p":` + payload + `,"z":[1E2,"\u00e9\/"]}`; err != nil || string(got) != want {
		t.Fatalf("encoded %s, want %s", got, want)
	}
}

// TestRawConcurrentDecoding decodes the same raw values from many goroutines (run with -race): all see the
// same read-only decoding.
func TestRawConcurrentDecoding(t *testing.T) {
	t.Parallel()
	in := rawOf(t, `{"items":[{"id":1},{"id":2},{"id":3}],"name":"x"}`)
	p, _ := ParsePath("$.items[-1].id")
	var wg sync.WaitGroup
	results := make([]any, 16)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, _, _ := p.Select(Scope{Input: in})
			results[i] = Scalar(v)
			_ = ResolveAll(in)
		}()
	}
	wg.Wait()
	for i, v := range results {
		if v != 3.0 {
			t.Fatalf("goroutine %d selected %v", i, v)
		}
	}
	a := Resolve(in).(map[string]any)["items"]
	b := Resolve(in).(map[string]any)["items"]
	if a != b {
		t.Fatal("the decoding of a raw object is not shared")
	}
}
