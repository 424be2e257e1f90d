package workflow

import (
	"bytes"
	stdjson "encoding/json"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// doc is a document with nesting, arrays, escapes and white space.
const doc = `{
  "id" : "e1",
  "subject":"dev\"ice",
  "a/b": 1, "m~n": 2,
  "esc\u0041ped": "yes",
  "data": { "device_id": "d-1", "value": -12.5e1, "ok": true, "none": null,
            "tags": [ "x", {"k": "v"}, [1, 2] ], "obj": {"s": "}]\\\"{"} },
  "last": "end"
}`

// TestValueAt checks the raw JSON Pointer lookup on a document with nesting, arrays and escapes.
func TestValueAt(t *testing.T) {
	tests := []struct {
		pointer string
		want    string // the scalar text; "" with ok false for absent or non-scalar values
		ok      bool
	}{
		{"/id", "e1", true},
		{"/subject", `dev"ice`, true},
		{"/a~1b", "1", true},
		{"/m~0n", "2", true},
		{"/escAped", "yes", true},
		{"/data/device_id", "d-1", true},
		{"/data/value", "-12.5e1", true},
		{"/data/ok", "true", true},
		{"/data/none", "null", true},
		{"/data/tags/0", "x", true},
		{"/data/tags/1/k", "v", true},
		{"/data/tags/2/1", "2", true},
		{"/data/obj/s", `}]\"{`, true},
		{"/last", "end", true},
		{"/data", "", false},
		{"/data/tags", "", false},
		{"/data/tags/3", "", false},
		{"/data/tags/01", "", false},
		{"/data/tags/-1", "", false},
		{"/data/tags/x", "", false},
		{"/nope", "", false},
		{"/id/x", "", false},
		{"/data/device_id/0", "", false},
		{"id", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.pointer, func(t *testing.T) {
			raw, found := valueAt([]byte(doc), tc.pointer)
			got, ok := "", false
			if found {
				got, ok = scalar(raw)
			}
			if got != tc.want || ok != tc.ok {
				t.Fatalf("valueAt(%q) = %q, %v; want %q, %v", tc.pointer, got, ok, tc.want, tc.ok)
			}
		})
	}
}

// TestValueAtMalformed checks that malformed documents never panic, and that a value the malformed part keeps
// from being reached is absent. (Input is validated before; the lookup does not validate again.)
func TestValueAtMalformed(t *testing.T) {
	absent := []struct{ doc, pointer string }{
		{"", "/a"}, {"{", "/a"}, {`{"a"`, "/a"}, {`{"a":`, "/a"}, {`{"a":"x`, "/a"}, {`{"a" 1}`, "/a"},
		{`{"b":1 "a":2}`, "/a"}, {`[1,`, "/1"}, {`nul`, "/a"}, {`{"a":[1,2}`, "/b"}, {`{"a":{"b":1]`, "/a/c"},
	}
	for _, tc := range absent {
		if raw, ok := valueAt([]byte(tc.doc), tc.pointer); ok {
			t.Errorf("valueAt(%q, %q) = %q; want absent", tc.doc, tc.pointer, raw)
		}
	}
}

// TestNumberAt checks reading measures from raw data.
func TestNumberAt(t *testing.T) {
	data := []byte(` {"a": 1.5, "b": "2", "c": -3, "d": null, "e": 1e400}`)
	tests := []struct {
		name string
		want float64
		ok   bool
	}{{"a", 1.5, true}, {"b", 0, false}, {"c", -3, true}, {"d", 0, false}, {"e", 0, false}, {"z", 0, false}}
	for _, tc := range tests {
		if got, ok := numberAt(data, tc.name); got != tc.want || ok != tc.ok {
			t.Errorf("numberAt(%q) = %v, %v; want %v, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

// FuzzValueAt compares valueAt with a reference that decodes the whole document, on valid documents.
func FuzzValueAt(f *testing.F) {
	f.Add(doc, "/data/tags/1/k")
	f.Add(`{"a":[{"b":"c"}]}`, "/a/0/b")
	f.Add(`[1,[2,{"x~":3}]]`, "/1/1/x~0")
	f.Fuzz(func(t *testing.T, d, pointer string) {
		var v any
		if stdjson.Unmarshal([]byte(d), &v) != nil || !strings.HasPrefix(pointer, "/") || hasDuplicateKeys(d) {
			return
		}
		want, wantOK := reference(v, pointer)
		raw, ok := valueAt([]byte(d), pointer)
		if ok != wantOK {
			t.Fatalf("valueAt(%q, %q) found %v; reference %v", d, pointer, ok, wantOK)
		}
		if !ok {
			return
		}
		var got any
		if err := stdjson.Unmarshal(raw, &got); err != nil {
			t.Fatalf("valueAt(%q, %q) = %q, not JSON: %v", d, pointer, raw, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("valueAt(%q, %q) = %v; reference %v", d, pointer, got, want)
		}
	})
}

// reference resolves a JSON Pointer on a decoded document.
func reference(v any, pointer string) (any, bool) {
	for tok := range strings.SplitSeq(pointer[1:], "/") {
		tok = unescapeToken(tok)
		switch c := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = c[tok]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) || (len(tok) > 1 && tok[0] == '0') || tok[0] == '+' {
				return nil, false
			}
			v = c[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// hasDuplicateKeys reports whether an object of the valid JSON document d has a key twice: valueAt finds the
// first, encoding/json keeps the last, and RFC 8259 leaves it open.
func hasDuplicateKeys(d string) bool {
	dec := stdjson.NewDecoder(bytes.NewReader([]byte(d)))
	type frame struct {
		keys   map[string]bool
		object bool
		// expectKey is true where the next string token of an object is a key.
		expectKey bool
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		isKey := top != nil && top.object && top.expectKey
		switch v := tok.(type) {
		case stdjson.Delim:
			switch v {
			case '{':
				if top != nil && top.object {
					top.expectKey = true
				}
				stack = append(stack, &frame{keys: map[string]bool{}, object: true, expectKey: true})
				continue
			case '[':
				if top != nil && top.object {
					top.expectKey = true
				}
				stack = append(stack, &frame{})
				continue
			default:
				stack = stack[:len(stack)-1]
				continue
			}
		case string:
			if isKey {
				if top.keys[v] {
					return true
				}
				top.keys[v] = true
				top.expectKey = false
				continue
			}
		}
		if top != nil && top.object {
			top.expectKey = true
		}
	}
}
