package docgen

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// schemaBase is the URL prefix of the event schemas, which refer to each other relative to it.
const schemaBase = "https://schemas.sdp.dev/"

// eventSchemas holds the decoded event schemas and the reference validator compiled from them as the
// event registry compiles them (draft 2020-12, formats asserted).
type eventSchemas struct {
	res      Resources
	types    []string
	compiled map[string]*jsonschema.Schema
}

// loadEventSchemas reads the event schemas from the event package's schemas directory.
func loadEventSchemas(t testing.TB) *eventSchemas {
	t.Helper()
	files, err := filepath.Glob("../../schemas/*.json")
	if err != nil || len(files) == 0 {
		t.Fatalf("no event schemas in ../../schemas: %v", err)
	}
	es := &eventSchemas{res: Resources{}, compiled: map[string]*jsonschema.Schema{}}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		name := filepath.Base(f)
		es.res[schemaBase+name] = doc
		if err := c.AddResource(schemaBase+name, doc); err != nil {
			t.Fatal(err)
		}
		if name != "cloudevent.json" {
			es.types = append(es.types, strings.TrimSuffix(name, ".json"))
		}
	}
	sort.Strings(es.types)
	for _, typ := range es.types {
		sch, err := c.Compile(schemaBase + typ + ".json")
		if err != nil {
			t.Fatal(err)
		}
		es.compiled[typ] = sch
	}
	return es
}

// generator returns a Generator for the event type typ.
func (es *eventSchemas) generator(t testing.TB, typ string) *Generator {
	t.Helper()
	g, err := New(schemaBase+typ+".json", es.res)
	if err != nil {
		t.Fatalf("New(%s): %v", typ, err)
	}
	return g
}

// validate runs the reference validator; nil means valid.
func validate(sch *jsonschema.Schema, doc []byte) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return err
	}
	return sch.Validate(v)
}

// TestValidDocumentsPassTheReference checks that unmutated documents of every event type are valid for the
// reference validator, and that together they use every member the schemas name, and extension members.
func TestValidDocumentsPassTheReference(t *testing.T) {
	es := loadEventSchemas(t)
	const seeds = 1000
	for i, typ := range es.types {
		t.Run(typ, func(t *testing.T) {
			t.Parallel()
			g := es.generator(t, typ)
			seen := map[string]bool{}
			for seed := range uint64(seeds) {
				doc, err := g.Valid(rand.New(rand.NewPCG(seed, uint64(i))))
				if err != nil {
					t.Fatalf("seed %d: %v", seed, err)
				}
				if err := validate(es.compiled[typ], doc); err != nil {
					t.Fatalf("seed %d: generated document is invalid: %v\n%s", seed, err, doc)
				}
				var m map[string]any
				if err := json.Unmarshal(doc, &m); err != nil {
					t.Fatalf("seed %d: %v", seed, err)
				}
				for k := range m {
					seen[k] = true
				}
				if data, ok := m["data"].(map[string]any); ok {
					for k := range data {
						seen["data/"+k] = true
					}
				}
			}
			// Every member the schemas name appears in some document, and some extension member too.
			want := []string{"specversion", "id", "source", "type", "time", "subject", "datacontenttype", "dataschema", "data"}
			props := es.res[schemaBase+typ+".json"].(map[string]any)["properties"].(map[string]any)["data"].(map[string]any)["properties"].(map[string]any)
			for k := range props {
				want = append(want, "data/"+k)
			}
			for _, k := range want {
				if !seen[k] {
					t.Errorf("no document has member %s", k)
				}
			}
			extensions := 0
			for k := range seen {
				if !strings.HasPrefix(k, "data/") && !slices.Contains(want, k) {
					extensions++
				}
			}
			if extensions == 0 {
				t.Error("no document has an extension member")
			}
		})
	}
}

// duplicateName returns the first member name that occurs twice in one object of doc, if any.
func duplicateName(doc []byte) (string, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	type frame struct {
		object bool
		names  map[string]bool
		key    bool // the next token of an object is a name
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return "", nil
		}
		if err != nil {
			return "", err
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.key {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:len(stack)-1]
				continue
			}
			name := tok.(string)
			if top.names[name] {
				return name, nil
			}
			top.names[name] = true
			top.key = false
			continue
		}
		if top != nil && top.object {
			top.key = true
		}
		if d, ok := tok.(json.Delim); ok {
			switch d {
			case '{':
				stack = append(stack, &frame{object: true, names: map[string]bool{}, key: true})
			case '[':
				stack = append(stack, &frame{})
			default:
				stack = stack[:len(stack)-1]
			}
		}
	}
}

// TestMutatedDocuments checks mutated documents of every event type: well-formed JSON in UTF-8, without
// duplicate member names, the same for the same seed; every mutation is applied somewhere; the mix of
// valid and invalid documents is not one-sided; and together they break every keyword of the schema.
func TestMutatedDocuments(t *testing.T) {
	es := loadEventSchemas(t)
	const seeds = 3000
	for i, typ := range es.types {
		t.Run(typ, func(t *testing.T) {
			t.Parallel()
			g := es.generator(t, typ)
			applied := map[string]int{}
			rules := map[string]int{}
			valid := 0
			for seed := range uint64(seeds) {
				d, err := g.Generate(rand.New(rand.NewPCG(seed, uint64(i))), 4)
				if err != nil {
					t.Fatalf("seed %d: %v", seed, err)
				}
				again, _ := g.Generate(rand.New(rand.NewPCG(seed, uint64(i))), 4)
				if !bytes.Equal(d.JSON, again.JSON) || !slices.Equal(d.Mutations, again.Mutations) {
					t.Fatalf("seed %d: two runs differ:\n%s\n%s", seed, d.JSON, again.JSON)
				}
				if !json.Valid(d.JSON) || !utf8.Valid(d.JSON) {
					t.Fatalf("seed %d: malformed JSON or UTF-8 after %q:\n%s", seed, d.Mutations, d.JSON)
				}
				if name, err := duplicateName(d.JSON); err != nil || name != "" {
					t.Fatalf("seed %d: duplicate member %q (%v) after %q:\n%s", seed, name, err, d.Mutations, d.JSON)
				}
				for _, m := range d.Mutations {
					applied[m[:strings.Index(m, ":")]]++
				}
				err = validate(es.compiled[typ], d.JSON)
				var ve *jsonschema.ValidationError
				switch {
				case err == nil:
					valid++
					if len(d.Mutations) == 0 {
						continue
					}
				case len(d.Mutations) == 0:
					t.Fatalf("seed %d: unmutated document is invalid: %v\n%s", seed, err, d.JSON)
				case errors.As(err, &ve):
					for _, k := range leafKeywords(ve) {
						rules[k]++
					}
				}
			}
			for _, mu := range mutations {
				if applied[mu.name] == 0 {
					t.Errorf("mutation %s never applied", mu.name)
				}
			}
			if valid < seeds/10 || valid > seeds*9/10 {
				t.Errorf("%d of %d documents valid, want between 10%% and 90%%", valid, seeds)
			}
			// Mutations reach every assertion keyword of the schema.
			for _, k := range []string{"type", "const", "enum", "required", "additionalProperties", "minimum",
				"maximum", "minLength", "maxLength", "pattern", "format"} {
				if rules[k] == 0 {
					t.Errorf("no document broke %s; broken: %v", k, rules)
				}
			}
			if typ == "purchase" && (rules["minItems"] == 0 || rules["maxItems"] == 0) {
				t.Errorf("no document broke minItems or maxItems; broken: %v", rules)
			}
			t.Logf("%d valid of %d; mutations %v; keywords broken %v", valid, seeds, applied, rules)
		})
	}
}

// leafKeywords returns the last keyword of the schema path of every leaf error.
func leafKeywords(ve *jsonschema.ValidationError) []string {
	if len(ve.Causes) == 0 {
		kp := ve.ErrorKind.KeywordPath()
		if len(kp) == 0 {
			return nil
		}
		return []string{kp[len(kp)-1]}
	}
	var out []string
	for _, c := range ve.Causes {
		out = append(out, leafKeywords(c)...)
	}
	return out
}

// compileOne compiles a single schema document with the reference validator.
func compileOne(t *testing.T, url string, doc any) *jsonschema.Schema {
	// As the event registry compiles: draft 2020-12, formats asserted.
	t.Helper()
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(url, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(url)
	if err != nil {
		t.Fatal(err)
	}
	return sch
}

// decode reads a JSON text as the reference validator does (numbers as json.Number).
func decode(t *testing.T, s string) any {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(s))
	if err != nil {
		t.Fatalf("%s: %v", s, err)
	}
	return v
}

// TestValidDocumentsOfOtherSchemas checks valid documents of schemas using what the event schemas do not:
// exclusive bounds, narrow ranges, intersections of enums, type lists, nested arrays, pointer references,
// other formats and patterns.
func TestValidDocumentsOfOtherSchemas(t *testing.T) {
	tests := []struct {
		name   string
		schema string
	}{
		// Only fractions fit: the generator must not insist on integers for "number".
		{"exclusive bounds", `{"type":"number","exclusiveMinimum":0,"exclusiveMaximum":0.03}`},
		// Only -2 fits.
		{"integer between fractions", `{"type":"integer","minimum":-2.5,"maximum":-1.5}`},
		// Only "b" is in every enum and equal to the const; 1 and 1.0 are equal too, but not to "b".
		{"enum and const agree", `{"allOf":[{"enum":["a","b",1,{"x":[1,2]}]},{"enum":[1.0,"b"]}],"const":"b"}`},
		{"enum of mixed types", `{"enum":[null,true,2,"x",[1],{"k":"v"}]}`},
		{"typed list", `{"type":["string","null"],"minLength":2,"maxLength":2}`},
		{"nested arrays", `{"type":"array","minItems":2,"maxItems":3,"items":{"type":"array","items":{"type":"integer"}}}`},
		// A $ref to a JSON pointer within the same resource.
		{"pointer ref", `{"$defs":{"code":{"type":"string","pattern":"^[A-Z]{2}-\\d{3}$"}},"type":"object",` +
			`"required":["c"],"properties":{"c":{"$ref":"#/$defs/code"}},"additionalProperties":false}`},
		// Extension members named after propertyNames, with additionalProperties' type.
		{"property names", `{"type":"object","propertyNames":{"pattern":"^x_[a-z]{1,3}$"},"additionalProperties":{"type":"boolean"}}`},
		{"unconstrained", `{}`},
		{"true schema", `true`},
		{"formats", `{"type":"array","items":{"type":"string","format":"date"},"minItems":1,"maxItems":1}`},
		{"time and uuid", `{"type":"object","required":["t","u"],"properties":{"t":{"format":"time","type":"string"},` +
			`"u":{"type":"string","format":"uuid"}}}`},
		{"alternation and case folding", `{"type":"string","pattern":"^(?i:ab|cd)+$","maxLength":8}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			const url = "https://example.com/s.json"
			doc := decode(t, tt.schema)
			sch := compileOne(t, url, doc)
			g, err := New(url, Resources{url: doc})
			if err != nil {
				t.Fatal(err)
			}
			for seed := range uint64(300) {
				d, err := g.Valid(rand.New(rand.NewPCG(seed, 1)))
				if err != nil {
					t.Fatalf("seed %d: %v", seed, err)
				}
				if err := validate(sch, d); err != nil {
					t.Fatalf("seed %d: %s is invalid: %v", seed, d, err)
				}
				// Mutated documents stay well-formed.
				m, err := g.Generate(rand.New(rand.NewPCG(seed, 2)), 6)
				if err != nil || !json.Valid(m.JSON) {
					t.Fatalf("seed %d: %v %q after %q", seed, err, m.JSON, m.Mutations)
				}
			}
		})
	}
}

// TestNewRefusesWhatItCannotGenerate checks that schemas the generator does not understand are refused by
// New, and that unsatisfiable ones make Generate fail rather than emit invalid documents or loop.
func TestNewRefusesWhatItCannotGenerate(t *testing.T) {
	const url = "https://example.com/s.json"
	tests := []struct {
		name   string
		res    Resources
		newErr string // expected in New's error
		genErr string // else expected in Generate's error
	}{
		{"unsupported keyword", Resources{url: map[string]any{"oneOf": []any{true}}}, "oneOf", ""},
		{"unsupported format", Resources{url: map[string]any{"format": "email"}}, "email", ""},
		{"missing resource", Resources{url: map[string]any{"$ref": "other.json"}}, "https://example.com/other.json", ""},
		{"missing pointer target", Resources{url: map[string]any{"$ref": "#/$defs/x"}}, "no such location", ""},
		{"anchor", Resources{url: map[string]any{"$ref": "#a"}}, "JSON pointer", ""},
		{"bad pattern", Resources{url: map[string]any{"pattern": "("}}, "pattern", ""},
		{"word boundary", Resources{url: map[string]any{"pattern": `\bx`}}, "not supported", ""},
		{"multi-line anchor", Resources{url: map[string]any{"pattern": `(?m)^x$`}}, "not supported", ""},
		{"not a schema", Resources{url: "x"}, "must be an object or a boolean", ""},
		{"false schema", Resources{url: false}, "", "false schema"},
		{"lengths cross", Resources{url: decodeAny(`{"type":"string","minLength":3,"maxLength":2}`)}, "", "no string"},
		{"types cross", Resources{url: decodeAny(`{"allOf":[{"type":"string"},{"type":"null"}]}`)}, "", "exclude"},
		{"enum against type", Resources{url: decodeAny(`{"type":"string","enum":[1,2]}`)}, "", "conflict"},
		{"empty range", Resources{url: decodeAny(`{"type":"integer","minimum":1.2,"maximum":1.8}`)}, "", "empty numeric range"},
		{"endless recursion", Resources{url: decodeAny(`{"type":"object","required":["a"],"properties":{"a":{"$ref":"#"}}}`)}, "", "nesting"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := New(url, tt.res)
			if tt.newErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.newErr) {
					t.Fatalf("New error = %v, want it to mention %q", err, tt.newErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			_, err = g.Generate(rand.New(rand.NewPCG(1, 1)), 3)
			if err == nil || !strings.Contains(err.Error(), tt.genErr) {
				t.Fatalf("Generate error = %v, want it to mention %q", err, tt.genErr)
			}
		})
	}
	if _, err := New(url, nil); err == nil {
		t.Error("New accepted a nil Resolver")
	}
}

// decodeAny is decode for table literals.
func decodeAny(s string) any {
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(s))
	if err != nil {
		panic(fmt.Sprintf("%s: %v", s, err))
	}
	return v
}

// TestResolverFunc checks that references are resolved relative to the referring resource, and each
// resource fetched once.
func TestResolverFunc(t *testing.T) {
	calls := 0
	res := ResolverFunc(func(url string) (any, error) {
		calls++
		if url != "https://example.com/a.json" && url != "https://example.com/b.json" {
			return nil, fmt.Errorf("unexpected %s", url)
		}
		if strings.HasSuffix(url, "a.json") {
			return decodeAny(`{"type":"array","items":{"$ref":"b.json"},"minItems":1}`), nil
		}
		return decodeAny(`{"const":"b"}`), nil
	})
	g, err := New("https://example.com/a.json", res)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := g.Valid(rand.New(rand.NewPCG(3, 3)))
	if err != nil {
		t.Fatal(err)
	}
	var items []string
	if err := json.Unmarshal(doc, &items); err != nil || len(items) == 0 || slices.ContainsFunc(items, func(s string) bool { return s != "b" }) {
		t.Errorf("document = %s (%v), want an array of \"b\"", doc, err)
	}
	if calls != 2 {
		t.Errorf("resolver called %d times, want once per resource", calls)
	}
}
