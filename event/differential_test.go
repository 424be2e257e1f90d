package event

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/serverless-data-platform/sdp/event/internal/docgen"
)

// The differential test compares the two paths of Registry on generated documents: Validate (the compiled
// schema, with its fallbacks) and ValidateReference (the reference validator). They must agree on validity,
// on the pointer, rule and message of an error, and on the decoded envelope of a valid event. Where the
// reference's choice depends on the order of a Go map, the compiled path's message must be one of those the
// reference can give (see sameMessage).
//
// The documents come from event/internal/docgen: valid events of each type, then up to maxMutations
// mutations towards the edges of the schema (see that package). The seeds are fixed, so a failure replays:
// it prints the type, the seed and the document. The fuzz targets explore further: one on raw bytes
// (malformed JSON included), one on the generator's seed.

const (
	// differentialDocs is how many documents TestCompiledMatchesReference checks per event type: a fifth of
	// it under the race detector (which slows validation about sixfold, and has no goroutines to watch
	// here) or with -short; SDP_DIFFERENTIAL_DOCS sets another number, for longer runs.
	differentialDocs = 20000
	// coverageDocs is the fewest documents per type from which every rule is expected to be seen.
	coverageDocs = 4000
	// maxMutations is the most mutations applied to one generated document.
	maxMutations = 4
	// maxReported bounds the disagreements reported per event type before the test gives up on the type.
	maxReported = 10
)

// assertionKeywords are the JSON Schema keywords that can fail an instance, as Rule reports them.
var assertionKeywords = []string{"type", "const", "enum", "required", "additionalProperties", "minimum",
	"maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength", "pattern", "format",
	"minItems", "maxItems"}

// schemaResources decodes the embedded schemas, keyed by their URL, as the registry reads them.
func schemaResources(tb testing.TB) docgen.Resources {
	tb.Helper()
	sub, err := fs.Sub(schemaFS, "schemas")
	if err != nil {
		tb.Fatal(err)
	}
	names, err := fs.Glob(sub, "*.json")
	if err != nil {
		tb.Fatal(err)
	}
	res := docgen.Resources{}
	for _, n := range names {
		b, err := fs.ReadFile(sub, n)
		if err != nil {
			tb.Fatal(err)
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			tb.Fatalf("schema %s: %v", n, err)
		}
		res[schemaBase+n] = doc
	}
	return res
}

// generators returns a document generator per registered event type.
func generators(tb testing.TB, r *Registry, res docgen.Resources) map[string]*docgen.Generator {
	tb.Helper()
	gens := map[string]*docgen.Generator{}
	for _, typ := range r.Types() {
		// An event of one type may come to carry another type's name.
		g, err := docgen.New(schemaBase+typ+".json", res, docgen.WithNearMisses(r.Types()...))
		if err != nil {
			tb.Fatalf("generator for %s: %v", typ, err)
		}
		gens[typ] = g
	}
	return gens
}

// keywordsOf lists the assertion keywords used anywhere in the decoded schemas.
func keywordsOf(docs ...any) []string {
	seen := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for k, x := range v {
				if slices.Contains(assertionKeywords, k) {
					seen[k] = true
				}
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		}
	}
	for _, d := range docs {
		walk(d)
	}
	var out []string
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// outcome is what both paths said about one document: "valid", or the rule of their common error.
type outcome struct {
	rule string
	diff string // empty when the paths agree
}

// compareValidators runs both paths on raw and describes any disagreement.
func compareValidators(r *Registry, raw []byte) outcome {
	fast, ferr := r.Validate(raw)
	ref, rerr := r.ValidateReference(raw)
	if rv := (*ValidationError)(nil); errors.As(rerr, &rv) && rv.Rule == RuleValidatorFailure {
		// The reference crashed (a number big.Rat cannot read): there is nothing to compare with, and the
		// compiled path must still answer.
		if ferr == nil {
			return outcome{rule: "valid"}
		}
		return outcome{rule: RuleValidatorFailure}
	}
	// Validity first, then the error's pointer, rule and message, or the decoded envelope.
	switch {
	case ferr == nil && rerr == nil:
		if d := eventDiff(fast, ref); d != "" {
			return outcome{rule: "valid", diff: "both valid, decoded events differ: " + d}
		}
		return outcome{rule: "valid"}
	case ferr == nil:
		return outcome{diff: fmt.Sprintf("compiled accepts, reference rejects: %v", rerr)}
	case rerr == nil:
		return outcome{diff: fmt.Sprintf("compiled rejects, reference accepts: %v", ferr)}
	}
	var fv, rv *ValidationError
	if !errors.As(ferr, &fv) || !errors.As(rerr, &rv) {
		return outcome{diff: fmt.Sprintf("not *ValidationError: compiled %T %v; reference %T %v", ferr, ferr, rerr, rerr)}
	}
	if fv.Pointer != rv.Pointer || fv.Rule != rv.Rule || !sameMessage(r, raw, fv, rv) {
		return outcome{rule: rv.Rule, diff: fmt.Sprintf("compiled %q (%s): %q; reference %q (%s): %q",
			fv.Pointer, fv.Rule, fv.Message, rv.Pointer, rv.Rule, rv.Message)}
	}
	return outcome{rule: rv.Rule}
}

// sameMessage reports whether the compiled path's message for raw is one the reference can give. The
// reference's leaf errors that rank first in the registry's selection may be several (the members of an
// object that propertyNames rejects, say), and it produces them in the order it ranges over a Go map, which
// is random; the compiled schema takes them in sorted order. So the compiled message must be the reference's,
// or the message of another of those first-ranked leaves with the same pointer and rule. The names that
// additionalProperties rejects are listed in map order too (on both paths, when Validate falls back to the
// reference), so they may come in any order.
func sameMessage(r *Registry, raw []byte, compiled, reference *ValidationError) bool {
	if compiled.Message == reference.Message {
		return true
	}
	for _, l := range firstLeaves(r, raw) {
		c := r.convert(l)
		if c.Pointer != compiled.Pointer || c.Rule != compiled.Rule {
			continue
		}
		if c.Message == compiled.Message {
			return true
		}
		if ap, ok := l.ErrorKind.(*kind.AdditionalProperties); ok && listsNames(compiled.Message, ap.Properties) {
			return true
		}
	}
	return false
}

// firstLeaves returns the reference's leaf errors for raw that rank first in the registry's selection, in
// the order the reference produced them. It returns nil when the schema does not decide (the registry's own
// checks do).
func firstLeaves(r *Registry, raw []byte) []*jsonschema.ValidationError {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil
	}
	obj, _ := doc.(map[string]any)
	typ, _ := obj["type"].(string)
	sch, ok := r.schemas[typ]
	if !ok {
		return nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(sch.Validate(doc), &ve) {
		return nil
	}
	var leaves []*jsonschema.ValidationError
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			leaves = append(leaves, e)
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	// The registry's order: the longest location first, then by the location joined with "/".
	joined := func(l *jsonschema.ValidationError) string { return strings.Join(l.InstanceLocation, "/") }
	sort.SliceStable(leaves, func(i, j int) bool {
		a, b := leaves[i], leaves[j]
		if len(a.InstanceLocation) != len(b.InstanceLocation) {
			return len(a.InstanceLocation) > len(b.InstanceLocation)
		}
		return joined(a) < joined(b)
	})
	n := 1
	for n < len(leaves) && len(leaves[n].InstanceLocation) == len(leaves[0].InstanceLocation) &&
		joined(leaves[n]) == joined(leaves[0]) {
		n++
	}
	return leaves[:n]
}

// additionalPrefix and additionalSuffix frame the reference's message for additionalProperties.
const additionalPrefix, additionalSuffix = "additional properties ", " not allowed"

// listsNames reports whether msg is the reference's additionalProperties message for names, in any order.
// Each name is quoted as the reference quotes it; the reference's quoting is not always reversible (a name
// that ends with a backslash loses the escape of that backslash), so the message is matched against the
// quoted names rather than parsed.
func listsNames(msg string, names []string) bool {
	p := message.NewPrinter(language.English)
	quoted := make([]string, len(names))
	for i, n := range names {
		one := (&kind.AdditionalProperties{Properties: []string{n}}).LocalizedString(p)
		quoted[i] = strings.TrimSuffix(strings.TrimPrefix(one, additionalPrefix), additionalSuffix)
	}
	list, ok := strings.CutPrefix(msg, additionalPrefix)
	if !ok {
		return false
	}
	if list, ok = strings.CutSuffix(list, additionalSuffix); !ok {
		return false
	}
	// match consumes rest with the names not yet used, backtracking where two quoted names share a prefix.
	used := make([]bool, len(quoted))
	var match func(rest string, left int) bool
	match = func(rest string, left int) bool {
		if left == 0 {
			return rest == ""
		}
		if left < len(quoted) {
			var sep bool
			if rest, sep = strings.CutPrefix(rest, ", "); !sep {
				return false
			}
		}
		for i, q := range quoted {
			if !used[i] && strings.HasPrefix(rest, q) {
				used[i] = true
				if match(rest[len(q):], left-1) {
					return true
				}
				used[i] = false
			}
		}
		return false
	}
	return len(names) > 0 && match(list, len(names))
}

// TestListsNames checks that a message of the reference's for additionalProperties is recognised as listing
// its names in any order, whatever the names hold (quotes, commas, backslashes, control characters), and
// that other names are not.
func TestListsNames(t *testing.T) {
	t.Parallel()
	p := message.NewPrinter(language.English)
	render := func(names ...string) string {
		return (&kind.AdditionalProperties{Properties: names}).LocalizedString(p)
	}
	tests := []struct {
		name  string
		msg   string
		names []string
		want  bool
	}{
		{"one name", render("x"), []string{"x"}, true},
		{"two orders", render("b", "a"), []string{"a", "b"}, true},
		{"quote and comma in a name", render("a', 'b", "c"), []string{"c", "a', 'b"}, true},
		{"quote and comma are not a separator", render("a', 'b"), []string{"a", "b"}, false},
		{"backslashes", render(`a\`, `'`, "z"), []string{"z", `'`, `a\`}, true},
		{"control characters and non-ASCII", render("\n\x00", "é"), []string{"é", "\n\x00"}, true},
		{"a name missing", render("a", "b"), []string{"a"}, false},
		{"a name too many", render("a"), []string{"a", "b"}, false},
		{"different names", render("a", "b"), []string{"a", "c"}, false},
		{"another message", "'a' does not match pattern '^b$'", []string{"a"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := listsNames(tt.msg, tt.names); got != tt.want {
				t.Errorf("listsNames(%q, %q) = %v, want %v", tt.msg, tt.names, got, tt.want)
			}
		})
	}
}

// eventDiff compares two decoded envelopes field by field (times as instants with their offsets, data as
// bytes), and describes the first difference.
func eventDiff(a, b Event) string {
	fields := []struct {
		name string
		x, y string
	}{
		{"specversion", a.SpecVersion, b.SpecVersion}, {"id", a.ID, b.ID}, {"source", a.Source, b.Source},
		{"type", a.Type, b.Type}, {"subject", a.Subject, b.Subject},
		{"datacontenttype", a.DataContentType, b.DataContentType}, {"dataschema", a.DataSchema, b.DataSchema},
		{"data", string(a.Data), string(b.Data)},
	}
	for _, f := range fields {
		if f.x != f.y {
			return fmt.Sprintf("%s: compiled %q, reference %q", f.name, f.x, f.y)
		}
	}
	_, ao := a.Time.Zone()
	_, bo := b.Time.Zone()
	if !a.Time.Equal(b.Time) || ao != bo {
		return fmt.Sprintf("time: compiled %v, reference %v", a.Time, b.Time)
	}
	return ""
}

// excerpt returns a document for a failure report: whole up to 4 KiB (the seed replays a longer one).
func excerpt(doc []byte) string {
	const most = 4 << 10
	if len(doc) <= most {
		return string(doc)
	}
	return fmt.Sprintf("%s... (%d bytes in all)", doc[:most], len(doc))
}

// histogram renders counts sorted by key.
func histogram(counts map[string]int) string {
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var sb strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&sb, " %s=%d", k, counts[k])
	}
	return sb.String()
}

// TestCompiledMatchesReference checks both validation paths on generated documents for every registered
// type: valid ones and ones mutated towards the edges of the schema. Seeds are fixed, so a failure replays.
func TestCompiledMatchesReference(t *testing.T) {
	r, err := NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	res := schemaResources(t)
	gens := generators(t, r, res)
	n := differentialDocs
	if testing.Short() || raceDetector() {
		n /= 5
	}
	if s := os.Getenv("SDP_DIFFERENTIAL_DOCS"); s != "" {
		if n, err = strconv.Atoi(s); err != nil || n <= 0 {
			t.Fatalf("SDP_DIFFERENTIAL_DOCS=%q: want a positive number", s)
		}
	}
	for ti, typ := range r.Types() {
		t.Run(typ, func(t *testing.T) {
			// The registry and the generators are safe for concurrent use; each type has its own seeds.
			t.Parallel()
			g := gens[typ]
			rules := map[string]int{}
			reported := 0
			for i := range n {
				seed := uint64(i)
				d, err := g.Generate(rand.New(rand.NewPCG(seed, uint64(ti))), maxMutations)
				if err != nil {
					t.Fatalf("seed %d: %v", seed, err)
				}
				// rules counts "valid" and each rule, as the reference reports it.
				o := compareValidators(r, d.JSON)
				rules[o.rule]++
				if o.diff == "" {
					continue
				}
				reported++
				t.Errorf("%s, seed %d (rand.NewPCG(%d, %d), %d mutations at most): %s\nmutations: %q\ndocument: %s",
					typ, seed, seed, ti, maxMutations, o.diff, d.Mutations, excerpt(d.JSON))
				if reported == maxReported {
					t.Fatalf("%s: stopping after %d disagreements", typ, reported)
				}
			}
			valid := rules["valid"]
			delete(rules, "valid")
			t.Logf("%s: %d documents, %d valid, %d invalid; rules:%s", typ, n, valid, n-valid, histogram(rules))
			if valid == 0 || valid == n {
				t.Errorf("%s: %d of %d documents valid: the mix is one-sided", typ, valid, n)
			}
			if n < coverageDocs {
				return
			}
			// The mutations reach every rule the schema can break, and the registry's own: unknownType, and
			// json for an event the schema accepts but the envelope decoder does not (a leap second).
			want := append(keywordsOf(res[schemaBase+typ+".json"], res[schemaBase+envelopeSchema]), "unknownType", "json")
			for _, k := range want {
				if rules[k] == 0 {
					t.Errorf("%s: no document broke rule %s", typ, k)
				}
			}
		})
	}
}

// raceDetector reports whether the test binary was built with -race.
func raceDetector() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" {
			return s.Value == "true"
		}
	}
	return false
}

// fuzzSeeds returns the documents the fuzz targets start from: generated ones for every type, the event
// tests' own, events/sample.json, and ingest's captured payloads with the events their bodies carry.
func fuzzSeeds(tb testing.TB, r *Registry) [][]byte {
	tb.Helper()
	seeds := [][]byte{[]byte(validPageView), []byte(`[1]`), []byte(`{}`), []byte(`{"type":"page_view"}`)}
	gens := generators(tb, r, schemaResources(tb))
	// A few generated documents per type, with 0 to 3 mutations.
	for ti, typ := range r.Types() {
		for i := range uint64(24) {
			d, err := gens[typ].Generate(rand.New(rand.NewPCG(i, uint64(ti))), int(i%4))
			if err != nil {
				tb.Fatal(err)
			}
			seeds = append(seeds, d.JSON)
		}
	}
	// split adds the events of a body (one event, a JSON array or NDJSON), as ingest would cut it.
	split := func(name string, body []byte) {
		err := Split(FormatAuto, body, Limits{}, func(_ int, raw []byte, err error) {
			if err == nil {
				seeds = append(seeds, bytes.Clone(raw))
			}
		})
		if err != nil {
			tb.Fatalf("%s: %v", name, err)
		}
	}
	sample, err := os.ReadFile("../events/sample.json")
	if err != nil {
		tb.Fatalf("the sample events are part of the repository: %v", err)
	}
	split("events/sample.json", sample)
	fixtures, err := filepath.Glob("../ingest/testdata/*.json")
	if err != nil || len(fixtures) == 0 {
		tb.Fatalf("ingest's captured payloads (ingest/testdata/*.json) are part of the repository: %v", err)
	}
	for _, f := range fixtures {
		b, err := os.ReadFile(f)
		if err != nil {
			tb.Fatal(err)
		}
		// The payload as a whole (not an event: both paths must reject it alike), then the events of an
		// API Gateway body.
		seeds = append(seeds, b)
		var payload struct {
			Body            string `json:"body"`
			IsBase64Encoded bool   `json:"isBase64Encoded"`
		}
		if json.Unmarshal(b, &payload) == nil && payload.Body != "" && !payload.IsBase64Encoded {
			split(f, []byte(payload.Body))
		}
	}
	return seeds
}

// inScope reports whether raw is something a validator is given: Split rejects an event that is not valid
// UTF-8 (rule utf8) or nests deeper than the limit (rule maxDepth) before validation, so the two paths need
// not agree on those (they do differ: the reference decoder turns invalid UTF-8 into U+FFFD).
func inScope(raw []byte) bool {
	if !utf8.Valid(raw) {
		return false
	}
	d, err := Depth(raw)
	return err != nil || d <= DefaultLimits.MaxDepth
}

// FuzzCompiledMatchesReference feeds both validation paths the same bytes, which the fuzzer mutates freely
// (malformed JSON included: then both must report rule json). They must agree on validity, on pointer, rule
// and message, and on the decoded envelope, for every input Split would pass on (see inScope).
func FuzzCompiledMatchesReference(f *testing.F) {
	r, err := NewRegistry()
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range fuzzSeeds(f, r) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if !inScope(raw) {
			t.Skip("not valid UTF-8, or nested too deeply: Split rejects it before validation")
		}
		if o := compareValidators(r, raw); o.diff != "" {
			t.Fatalf("%s\ndocument: %q", o.diff, raw)
		}
	})
}

// FuzzGeneratedMatchesReference lets the fuzzer pick the generator's seed and the number of mutations, so
// that it explores schema-shaped documents rather than bytes. The paths must agree as in
// FuzzCompiledMatchesReference.
func FuzzGeneratedMatchesReference(f *testing.F) {
	r, err := NewRegistry()
	if err != nil {
		f.Fatal(err)
	}
	gens := generators(f, r, schemaResources(f))
	types := r.Types()
	for i := range uint64(16) {
		f.Add(i, uint8(i%8))
	}
	f.Fuzz(func(t *testing.T, seed uint64, mutations uint8) {
		// The seed picks the type too; up to 15 mutations, more than the fixed test applies.
		typ := types[seed%uint64(len(types))]
		d, err := gens[typ].Generate(rand.New(rand.NewPCG(seed, uint64(mutations))), int(mutations%16))
		if err != nil {
			t.Fatalf("%s seed %d: %v", typ, seed, err)
		}
		if o := compareValidators(r, d.JSON); o.diff != "" {
			t.Fatalf("%s seed %d, %d mutations at most: %s\nmutations: %q\ndocument: %s",
				typ, seed, mutations%16, o.diff, d.Mutations, excerpt(d.JSON))
		}
	})
}
