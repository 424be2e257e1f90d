package asl

import (
	"strings"
	"testing"

	json "github.com/segmentio/encoding/json"
)

// TestJSONSize checks the computed size against the encoding.
func TestJSONSize(t *testing.T) {
	t.Parallel()
	big := make([]any, 40)
	for i := range big {
		big[i] = map[string]any{"i": float64(i), "s": strings.Repeat("é", i)}
	}
	cases := []struct {
		name string
		json string
	}{
		{"null", `null`},
		{"booleans", `[true,false]`},
		{"numbers", `[0,1,-1,1.5,123456789,1e21,1e-7,0.000001,-2.5e-8,12345678901234567890,3.14159]`},
		{"escapes", `"quote \" backslash \\ newline \n tab \t cr \r ctl \u0001 \u001f bs \b ff \f"`},
		{"unicode", `"héllo wörld ✓ 😀 \u2028 \u2029"`},
		{"html is not escaped", `"<a href='x'>&</a>"`},
		{"nested", `{"a":[1,{"b":null,"c":"d"}],"e":{},"f":[],"g":{"h":{"i":[[]]}}}`},
		{"empty key", `{"":""}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var v any
			if err := json.Unmarshal([]byte(tc.json), &v); err != nil {
				t.Fatal(err)
			}
			enc, err := json.Append(nil, v, 0)
			if err != nil {
				t.Fatal(err)
			}
			n, ok := jsonSize(v, 0, nil)
			if !ok || n != len(enc) {
				t.Errorf("size %d (ok %v), encoding %s has %d bytes", n, ok, enc, len(enc))
			}
		})
	}
	t.Run("invalid UTF-8", func(t *testing.T) {
		enc, _ := json.Append(nil, "a\xffb", 0)
		if n, _ := jsonSize("a\xffb", 0, nil); n != len(enc) {
			t.Errorf("size %d, encoding %q has %d bytes", n, enc, len(enc))
		}
	})
	t.Run("cache", func(t *testing.T) {
		cache := make(sizeCache)
		doc := map[string]any{"big": big, "s": strings.Repeat("x", 2000)}
		enc, _ := json.Append(nil, doc, 0)
		for i := range 2 {
			if n, _ := jsonSize(doc, 0, cache); n != len(enc) {
				t.Errorf("pass %d: size %d, want %d", i, n, len(enc))
			}
		}
		if len(cache) != 2 {
			t.Errorf("%d cached values, want 2 (the array and the string)", len(cache))
		}
		// A new document sharing the array is measured from the cache.
		doc2 := map[string]any{"big": big, "k": 1.0}
		enc2, _ := json.Append(nil, doc2, 0)
		if n, _ := jsonSize(doc2, 0, cache); n != len(enc2) {
			t.Errorf("size %d, want %d", n, len(enc2))
		}
	})
	t.Run("limit stops early", func(t *testing.T) {
		if n, _ := jsonSize(big, 50, nil); n <= 50 {
			t.Errorf("size %d, want over the limit", n)
		}
	})
	t.Run("other Go types", func(t *testing.T) {
		if _, ok := jsonSize(map[string]any{"a": 1}, 0, nil); ok {
			t.Error("an int is not decoded JSON")
		}
		v, err := normalize(map[string]any{"a": 1, "b": []string{"x"}})
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := jsonSize(v, 0, nil); !ok {
			t.Errorf("normalize gave %#v", v)
		}
	})
}

func TestMatchPattern(t *testing.T) {
	t.Parallel()
	cases := []struct {
		pattern, s string
		want       bool
	}{
		{"", "", true},
		{"", "a", false},
		{"*", "", true},
		{"*", "anything", true},
		{"a*", "abc", true},
		{"*c", "abc", true},
		{"*b*", "abc", true},
		{"a*b*c", "aXbYc", true},
		{"a*b*c", "aXcYb", false},
		{"a**c", "ac", true},
		{`a\*c`, "a*c", true},
		{`a\*c`, "abc", false},
		{`a\\*`, `a\bc`, true},
		{"ab*ab", "ab", false},
		{"ab*ab", "abab", true},
	}
	for _, tc := range cases {
		if got := matchPattern(compilePattern(tc.pattern), tc.s); got != tc.want {
			t.Errorf("%q matches %q: %v, want %v", tc.pattern, tc.s, got, tc.want)
		}
	}
}
