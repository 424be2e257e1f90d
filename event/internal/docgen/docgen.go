// Package docgen makes random JSON documents from a JSON Schema (draft 2020-12), for differential tests of
// validators: a document valid against the schema, then a few mutations chosen at random that push it to
// the edges of the schema (members dropped or added, wrong types, numbers at and just past their bounds,
// strings at and past their lengths in multi-byte UTF-8, escapes, near misses of patterns, formats and
// enums, arrays resized, the document replaced, members reordered).
//
// The documents are written by hand, so that the spelling of numbers (1.0, 1e2, -0, 1e400, many digits)
// and of strings (\u00e9, \ud83d\ude00, \/, unpaired surrogates) is chosen rather than left to an encoder.
// Every document is well-formed JSON in UTF-8, and no object has two members of the same name (validators
// may legitimately differ on those).
//
// The generator understands the keywords the event schemas use: type, const, enum, required, properties,
// additionalProperties, propertyNames, items, minItems, maxItems, minimum, maximum, exclusiveMinimum,
// exclusiveMaximum, minLength, maxLength, pattern (the regular expressions of Go's regexp, without word
// boundaries or multi-line anchors), format (date-time, date, time, uri, uri-reference, uuid), allOf and
// $ref (to a resource, or a JSON pointer within one). Annotations and x- keywords are ignored; any other
// keyword makes New fail, rather than produce documents wrongly believed valid.
package docgen

import (
	"errors"
	"fmt"
	"math/rand/v2"
)

// Generator makes documents for one schema. It is read-only once made, so one Generator may serve several
// goroutines, each with its own *rand.Rand.
type Generator struct {
	root   set
	others []string
}

// Option configures a Generator.
type Option func(*Generator)

// WithNearMisses adds strings that the enum mutation may put in place of a string const or enum value:
// say, the other event types' names for the "type" member, so that an event of one type carries another's
// name.
func WithNearMisses(values ...string) Option {
	return func(g *Generator) { g.others = append(g.others, values...) }
}

// Document is one generated document: its JSON text and a description of each mutation applied to the
// valid document it started as (none for a document valid by construction).
type Document struct {
	JSON      []byte
	Mutations []string
}

// New loads the schema at the absolute URL url, and every schema it refers to, through res.
func New(url string, res Resolver, opts ...Option) (*Generator, error) {
	if res == nil {
		return nil, errors.New("docgen: nil Resolver")
	}
	l := &loader{res: res, resources: map[string]any{}, refs: map[string]*schema{}}
	s, err := l.load(url)
	if err != nil {
		return nil, fmt.Errorf("docgen: %w", err)
	}
	g := &Generator{root: flatten(s)}
	for _, o := range opts {
		o(g)
	}
	return g, nil
}

// Valid returns a document valid against the schema. The same state of r gives the same document.
func (g *Generator) Valid(r *rand.Rand) ([]byte, error) {
	d, err := g.Generate(r, 0)
	return d.JSON, err
}

// Generate returns a document made valid, then changed by 0 to maxMutations mutations (as many as r picks).
// A mutation may leave the document valid (a different spelling, a reordering, an allowed extension). The
// same state of r gives the same document. It fails only when the schema cannot be satisfied.
func (g *Generator) Generate(r *rand.Rand, maxMutations int) (Document, error) {
	b := &builder{r: r}
	root, err := b.value(g.root, 0)
	if err != nil {
		return Document{}, fmt.Errorf("docgen: %w", err)
	}
	var d Document
	if maxMutations > 0 {
		m := &mutator{r: r, b: b, others: g.others}
		for range r.IntN(maxMutations + 1) {
			if desc, ok := m.mutate(root); ok {
				d.Mutations = append(d.Mutations, desc)
			}
		}
	}
	w := writer{r: r, spaced: r.IntN(4) == 0}
	w.value(root)
	d.JSON = w.buf
	return d, nil
}
