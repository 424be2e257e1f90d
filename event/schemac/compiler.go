package schemac

import (
	"fmt"
	gourl "net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// Compiler compiles JSON Schema (draft 2020-12) resources into validators. It is not safe for concurrent use;
// the validators it returns are.
type Compiler struct {
	ref  *jsonschema.Compiler
	docs map[string]any // the documents added, by the URL the reference keys them with
}

// NewCompiler returns a compiler with no resources. Schemas without $schema are read as draft 2020-12 and
// formats are asserted, as in the event registry.
func NewCompiler() *Compiler {
	ref := jsonschema.NewCompiler()
	ref.DefaultDraft(jsonschema.Draft2020)
	ref.AssertFormat()
	ref.UseLoader(addedOnly{})
	return &Compiler{ref: ref, docs: map[string]any{}}
}

// addedOnly is the loader of a Compiler: every resource must be added with AddResource, so a reference to
// anything else fails instead of reading files or the network.
type addedOnly struct{}

// Load implements jsonschema.URLLoader.
func (addedOnly) Load(url string) (any, error) {
	return nil, fmt.Errorf("resource %s was not added to the compiler", url)
}

// AddResource registers a schema document under its URL. doc is decoded as jsonschema.UnmarshalJSON
// (github.com/santhosh-tekuri/jsonschema/v6) decodes it: map[string]any, []any, json.Number, string, bool, nil.
func (c *Compiler) AddResource(url string, doc any) error {
	if err := c.ref.AddResource(url, doc); err != nil {
		return fmt.Errorf("schemac: add resource %s: %w", url, err)
	}
	c.docs[resourceKey(url)] = doc
	return nil
}

// resourceKey is the URL under which the reference files a resource: without its fragment, and a file URL for a
// path.
func resourceKey(url string) string {
	u, _, _ := strings.Cut(url, "#")
	if pu, err := gourl.Parse(u); err == nil && pu.IsAbs() {
		return u
	}
	if abs, err := filepath.Abs(u); err == nil {
		u = abs
	}
	if !strings.HasPrefix(u, "/") {
		u = "/" + u
	}
	return "file://" + filepath.ToSlash(u)
}

// Compile returns the validator of the schema at url (a resource URL, optionally with a #fragment: JSON
// pointer or anchor). When the schema (or anything it references) uses a keyword or format the compiler does
// not support, the error wraps an *UnsupportedError and the caller falls back to the reference validator.
func (c *Compiler) Compile(url string) (*Schema, error) {
	// The reference compiles first: what it rejects (a schema its metaschema rejects, a reference that does
	// not resolve, a bad regular expression) is rejected here with its error.
	rs, err := c.ref.Compile(url)
	if err != nil {
		return nil, fmt.Errorf("schemac: compile %s: %w", url, err)
	}
	// Then the graph is translated into nodes, checked, and merged from the root into conjunctions.
	b := newBuilder(c.docs)
	root, err := b.node(rs)
	if err != nil {
		return nil, fmt.Errorf("schemac: compile %s: %w", url, err)
	}
	if err := b.checkCycles(); err != nil {
		return nil, fmt.Errorf("schemac: compile %s: %w", url, err)
	}
	for _, n := range b.nodes {
		b.closure(n)
	}
	rc, err := b.one(root)
	if err != nil {
		return nil, fmt.Errorf("schemac: compile %s: %w", url, err)
	}
	return newSchema(root, rc, b), nil
}

// unsupported builds the error for keyword kw of the schema s.
func unsupported(s *jsonschema.Schema, kw, detail string) error {
	return &UnsupportedError{Keyword: kw, Location: s.Location + "/" + escapeToken(kw), Detail: detail}
}

// escapeToken escapes a JSON pointer token.
func escapeToken(t string) string {
	return strings.ReplaceAll(strings.ReplaceAll(t, "~", "~0"), "/", "~1")
}

// rawObject returns the object a compiled schema was compiled from, when it comes from an added document. The
// schema's location is the document's URL and a JSON pointer, path-escaped token by token.
func (b *builder) rawObject(s *jsonschema.Schema) (map[string]any, bool) {
	u, frag, ok := strings.Cut(s.Location, "#")
	if !ok {
		return nil, false
	}
	doc, ok := b.docs[u]
	if !ok {
		return nil, false
	}
	ptr, err := gourl.PathUnescape(frag)
	if err != nil {
		return nil, false
	}
	v := doc
	if ptr != "" {
		for _, tok := range strings.Split(ptr, "/")[1:] {
			tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
			switch x := v.(type) {
			case map[string]any:
				if v, ok = x[tok]; !ok {
					return nil, false
				}
			case []any:
				i, err := strconv.Atoi(tok)
				if err != nil || i < 0 || i >= len(x) {
					return nil, false
				}
				v = x[i]
			default:
				return nil, false
			}
		}
	}
	m, ok := v.(map[string]any)
	return m, ok
}

// is2020 reports whether a $schema value names draft 2020-12, as the reference reads it.
func is2020(v string) bool {
	u, frag, _ := strings.Cut(v, "#")
	if frag != "" {
		return false
	}
	if s, ok := strings.CutPrefix(u, "http://"); ok {
		u = s
	} else {
		u, _ = strings.CutPrefix(u, "https://")
	}
	return u == "json-schema.org/draft/2020-12/schema" || u == "json-schema.org/schema"
}

// checkSupported rejects what the validators do not reproduce. Most of it shows in the compiled schema; a
// metaschema other than draft 2020-12's, and keywords the reference ignores in draft 2020-12 but that the
// caller may expect to act ($recursiveRef, $vocabulary), show only in the document.
func (b *builder) checkSupported(s *jsonschema.Schema) error {
	switch {
	case s.DraftVersion != 2020:
		return unsupported(s, "$schema", fmt.Sprintf("draft %d; only draft 2020-12 is compiled", s.DraftVersion))
	case s.DynamicRef != nil:
		return unsupported(s, "$dynamicRef", "")
	case s.DynamicAnchor != "":
		return unsupported(s, "$dynamicAnchor", "")
	case s.RecursiveRef != nil:
		return unsupported(s, "$recursiveRef", "")
	case s.RecursiveAnchor:
		return unsupported(s, "$recursiveAnchor", "")
	case s.UnevaluatedProperties != nil:
		return unsupported(s, "unevaluatedProperties", "")
	case s.UnevaluatedItems != nil:
		return unsupported(s, "unevaluatedItems", "")
	case s.ContentEncoding != nil:
		return unsupported(s, "contentEncoding", "content assertions")
	case s.ContentMediaType != nil:
		return unsupported(s, "contentMediaType", "content assertions")
	case s.ContentSchema != nil:
		return unsupported(s, "contentSchema", "content assertions")
	case len(s.Extensions) > 0:
		return unsupported(s, "$vocabulary", "vocabulary extensions")
	case s.Items != nil || s.AdditionalItems != nil:
		return unsupported(s, "$schema", "keywords of an earlier draft")
	}
	if s.Pattern != nil {
		if _, ok := s.Pattern.(*regexp.Regexp); !ok {
			return unsupported(s, "pattern", "regular expressions other than Go's regexp")
		}
	}
	for re := range s.PatternProperties {
		if _, ok := re.(*regexp.Regexp); !ok {
			return unsupported(s, "patternProperties", "regular expressions other than Go's regexp")
		}
	}
	if raw, ok := b.rawObject(s); ok {
		if v, ok := raw["$schema"]; ok {
			if str, _ := v.(string); !is2020(str) {
				return unsupported(s, "$schema", fmt.Sprintf("metaschema %v", v))
			}
		}
		for _, kw := range []string{"$vocabulary", "$recursiveRef", "$recursiveAnchor", "$dynamicRef", "$dynamicAnchor"} {
			if _, ok := raw[kw]; ok {
				return unsupported(s, kw, "")
			}
		}
	}
	return nil
}

// tooComplex explains the UnsupportedError of schemas whose merging would produce too many distinct
// combinations of subschemas.
const tooComplex = "too many distinct combinations of subschemas to merge"

// sortedKeys returns the keys of a map in order.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
