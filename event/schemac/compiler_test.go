package schemac

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// compileJSON compiles a schema given as JSON text under http://example.test/s.json, with extra resources.
func compileJSON(t *testing.T, schema string, extra map[string]string) (*Schema, error) {
	t.Helper()
	c := NewCompiler()
	for u, doc := range extra {
		if err := c.AddResource(u, decode(t, []byte(doc))); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.AddResource("http://example.test/s.json", decode(t, []byte(schema))); err != nil {
		t.Fatal(err)
	}
	return c.Compile("http://example.test/s.json")
}

// TestUnsupported checks that schemas using what the compiler does not reproduce fail with an
// *UnsupportedError naming the keyword and its location.
func TestUnsupported(t *testing.T) {
	t.Parallel()
	const loc = "http://example.test/s.json#"
	for _, tc := range []struct {
		name     string
		schema   string
		keyword  string
		location string
	}{
		{"unevaluatedProperties", `{"unevaluatedProperties": false}`, "unevaluatedProperties", loc + "/unevaluatedProperties"},
		{"nested unevaluatedItems", `{"properties": {"a": {"unevaluatedItems": false}}}`, "unevaluatedItems", loc + "/properties/a/unevaluatedItems"},
		{"$dynamicRef", `{"$dynamicAnchor": "x", "items": {"$dynamicRef": "#x"}}`, "$dynamicAnchor", loc + "/$dynamicAnchor"},
		{"$dynamicRef alone", `{"$defs": {"a": {"$dynamicRef": "#"}}, "items": {"$ref": "#/$defs/a"}}`, "$dynamicRef", loc + "/$defs/a/$dynamicRef"},
		{"an earlier draft", `{"$schema": "http://json-schema.org/draft-07/schema#", "type": "string"}`, "$schema", loc + "/$schema"},
		{"a custom metaschema", `{"$schema": "http://example.test/meta.json", "type": "string"}`, "$schema", loc + "/$schema"},
		{"$vocabulary", `{"$vocabulary": {"https://json-schema.org/draft/2020-12/vocab/core": true}}`, "$vocabulary", loc + "/$vocabulary"},
		{"$recursiveRef", `{"$recursiveRef": "#"}`, "$recursiveRef", loc + "/$recursiveRef"},
		{"a cycle that does not consume the instance", `{"$defs": {"a": {"anyOf": [{"type": "string"}, {"$ref": "#"}]}}, "$ref": "#/$defs/a"}`, "$ref", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			extra := map[string]string{"http://example.test/meta.json": `{"$schema": "https://json-schema.org/draft/2020-12/schema",
				"$id": "http://example.test/meta.json", "$vocabulary": {"https://json-schema.org/draft/2020-12/vocab/core": true},
				"$dynamicAnchor": "meta"}`}
			_, err := compileJSON(t, tc.schema, extra)
			var ue *UnsupportedError
			if !errors.As(err, &ue) {
				t.Fatalf("want an *UnsupportedError, got %v", err)
			}
			if ue.Keyword != tc.keyword || (tc.location != "" && ue.Location != tc.location) {
				t.Errorf("got %q at %q, want %q at %q", ue.Keyword, ue.Location, tc.keyword, tc.location)
			}
			if !strings.Contains(err.Error(), tc.keyword) {
				t.Errorf("message %q does not name the keyword", err)
			}
		})
	}
}

// TestCompile checks compilation: fragments, references across resources, and schemas that cannot compile.
func TestCompile(t *testing.T) {
	t.Parallel()
	extra := map[string]string{"http://example.test/defs.json": `{"$defs": {"pos": {"type": "integer", "exclusiveMinimum": 0}},
		"$anchor": "root", "properties": {"n": {"$anchor": "n", "type": "number"}}}`}
	for _, tc := range []struct {
		name    string
		schema  string
		url     string // compiled instead of the schema's URL when set
		valid   []string
		invalid []string
		err     bool
	}{
		{name: "remote reference", schema: `{"items": {"$ref": "defs.json#/$defs/pos"}}`, valid: []string{`[1,2]`, `"x"`}, invalid: []string{`[0]`, `[1.5]`}},
		{name: "anchor reference", schema: `{"$ref": "defs.json#n"}`, valid: []string{`1.5`}, invalid: []string{`"1"`}},
		{name: "pointer fragment", schema: `{}`, url: "http://example.test/defs.json#/$defs/pos", valid: []string{`3`}, invalid: []string{`0`}},
		{name: "anchor fragment", schema: `{}`, url: "http://example.test/defs.json#n", valid: []string{`3.5`}, invalid: []string{`null`}},
		{name: "recursive schema", schema: `{"type": "object", "properties": {"kids": {"type": "array", "items": {"$ref": "#"}}}, "required": ["name"]}`,
			valid: []string{`{"name":1,"kids":[{"name":2,"kids":[]}]}`}, invalid: []string{`{"name":1,"kids":[{"kids":[]}]}`}},
		{name: "not a schema", schema: `{"minLength": -1}`, err: true},
		{name: "invalid pattern", schema: `{"pattern": "("}`, err: true},
		{name: "missing resource", schema: `{"$ref": "nowhere.json"}`, err: true},
		{name: "missing fragment", schema: `{}`, url: "http://example.test/defs.json#/$defs/none", err: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := NewCompiler()
			for u, doc := range extra {
				if err := c.AddResource(u, decode(t, []byte(doc))); err != nil {
					t.Fatal(err)
				}
			}
			if err := c.AddResource("http://example.test/s.json", decode(t, []byte(tc.schema))); err != nil {
				t.Fatal(err)
			}
			url := "http://example.test/s.json"
			if tc.url != "" {
				url = tc.url
			}
			s, err := c.Compile(url)
			var ue *UnsupportedError
			if tc.err {
				if err == nil || errors.As(err, &ue) {
					t.Fatalf("want a compile error that is not *UnsupportedError, got %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range tc.valid {
				if err := s.Validate([]byte(v)); err != nil {
					t.Errorf("%s: %v", v, err)
				}
			}
			for _, v := range tc.invalid {
				if err := s.Validate([]byte(v)); err == nil {
					t.Errorf("%s: valid", v)
				}
			}
		})
	}
	t.Run("resource added twice", func(t *testing.T) {
		c := NewCompiler()
		if err := c.AddResource("http://example.test/a.json", true); err != nil {
			t.Fatal(err)
		}
		if err := c.AddResource("http://example.test/a.json", true); err == nil {
			t.Error("want an error")
		}
	})
}

// TestConcurrent validates from many goroutines at once, including names that build patternProperties
// results on first use.
func TestConcurrent(t *testing.T) {
	t.Parallel()
	s, err := compileJSON(t, `{"type": "object", "patternProperties": {"^x": {"type": "integer"}, "y$": {"minimum": 0}},
		"additionalProperties": false, "propertyNames": {"maxLength": 8}}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string]bool{`{"x1":1,"ay":2}`: true, `{"xy":-1}`: false, `{"xy":1}`: true, `{"b":1}`: false,
		`{"x":1.5}`: false, `{"xxxxxxxxx":1}`: false, `{}`: true}
	pv, _ := compileEvent(t, eventSchemas(t), "page_view")
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				for doc, valid := range docs {
					if got := s.Validate([]byte(doc)); (got == nil) != valid {
						errs <- fmt.Errorf("%s: got %v, want valid=%v", doc, got, valid)
						return
					}
				}
				if err := pv.Validate(pageView); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestErrorStrings checks the messages of the error types.
func TestErrorStrings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"validation", &ValidationError{InstanceLocation: []string{"data", "a/b~c"}, Keyword: "type", Message: "want string"},
			"/data/a~1b~0c: want string (type)"},
		{"validation at the root", &ValidationError{Keyword: "required", Message: "missing"}, "(document): missing (required)"},
		{"syntax", &SyntaxError{Offset: 3, Msg: "unexpected end of JSON input"}, "unexpected end of JSON input"},
		{"unsupported", &UnsupportedError{Keyword: "unevaluatedItems", Location: "u#/x", Detail: "d"},
			`unsupported keyword "unevaluatedItems" at u#/x: d`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.err.Error(); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
