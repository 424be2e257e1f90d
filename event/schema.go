package event

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	segjson "github.com/segmentio/encoding/json"
	"golang.org/x/text/language"
	"golang.org/x/text/message"

	"github.com/serverless-data-platform/sdp/event/schemac"
)

//go:embed schemas/*.json
var schemaFS embed.FS

// envelopeSchema is the file every event type's schema refers to; it is not an event type itself.
const envelopeSchema = "cloudevent.json"

// schemaBase is the $id prefix of the embedded schemas.
const schemaBase = "https://schemas.sdp.dev/"

// ValidationError says why one event was rejected: where in the event (a JSON pointer, empty for the event
// as a whole), which rule (the JSON Schema keyword, or one of ingest's own: json, utf8, maxDepth,
// maxEventBytes, duplicateId, unknownType) and a message for a person.
type ValidationError struct {
	Pointer string
	Rule    string
	Message string
}

// Error renders the error as "<pointer>: <message> (<rule>)".
func (e *ValidationError) Error() string {
	p := e.Pointer
	if p == "" {
		p = "(event)"
	}
	return p + ": " + e.Message + " (" + e.Rule + ")"
}

// RuleValidatorFailure is the rule of a ValidationError for an event the reference validator could not
// check (it failed internally, on a number too large for it, say).
const RuleValidatorFailure = "validatorFailure"

// Validator checks one event's raw JSON against its type's schema and decodes its envelope. Implementations
// are safe for concurrent use. A faster, schema-compiled implementation can replace the default one.
type Validator interface {
	// Validate returns the decoded envelope, or a *ValidationError naming the field and rule broken.
	Validate(raw []byte) (Event, error)
}

// Registry holds the JSON Schema (draft 2020-12) of every event type, compiled once. It implements Validator.
//
// Each schema is compiled twice: by the schema compiler (package schemac) into a validator that checks the
// JSON text in one pass without decoding it, which Validate uses, and by the reference validator
// (santhosh-tekuri/jsonschema, which passes the whole official test suite), which ValidateReference uses and
// which Validate falls back to for a schema that uses something the compiler does not support (Fallbacks
// says which). Both paths accept the same events and report the same pointer and rule.
type Registry struct {
	schemas  map[string]*jsonschema.Schema
	compiled map[string]compiledType
	// fallbacks says why a type's schema is not compiled; its events use the reference validator.
	fallbacks map[string]error
	measures  map[string][]string
	types     []string
	printer   *message.Printer
}

var _ Validator = (*Registry)(nil)

// NewRegistry compiles the embedded schemas (one file per event type, named after the type).
func NewRegistry() (*Registry, error) {
	sub, err := fs.Sub(schemaFS, "schemas")
	if err != nil {
		return nil, err
	}
	return NewRegistryFS(sub)
}

// NewRegistryFS compiles the schemas of an fs.FS holding <type>.json files and cloudevent.json, the
// envelope they refer to.
func NewRegistryFS(fsys fs.FS) (*Registry, error) {
	names, err := fs.Glob(fsys, "*.json")
	if err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	cc := schemac.NewCompiler()
	docs := map[string]map[string]any{}
	for _, n := range names {
		b, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, err
		}
		doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("schema %s: %w", n, err)
		}
		m, ok := doc.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("schema %s: not a JSON object", n)
		}
		if err := c.AddResource(schemaBase+n, doc); err != nil {
			return nil, fmt.Errorf("schema %s: %w", n, err)
		}
		if err := cc.AddResource(schemaBase+n, doc); err != nil {
			return nil, fmt.Errorf("schema %s: %w", n, err)
		}
		docs[n] = m
	}
	r := &Registry{
		schemas:   map[string]*jsonschema.Schema{},
		compiled:  map[string]compiledType{},
		fallbacks: map[string]error{},
		measures:  map[string][]string{},
		printer:   message.NewPrinter(language.English),
	}
	for _, n := range names {
		if n == envelopeSchema {
			continue
		}
		typ := strings.TrimSuffix(path.Base(n), ".json")
		sch, err := c.Compile(schemaBase + n)
		if err != nil {
			return nil, fmt.Errorf("schema %s: %w", n, err)
		}
		r.schemas[typ] = sch
		r.types = append(r.types, typ)
		fast, err := cc.Compile(schemaBase + n)
		var unsupported *schemac.UnsupportedError
		switch {
		case err == nil:
			r.compiled[typ] = compiledType{name: typ, schema: fast}
		case errors.As(err, &unsupported):
			r.fallbacks[typ] = err
		default:
			// The reference compiled the schema, so the compiler's refusal is a fault of its own: the
			// reference serves the type, and Fallbacks tells.
			r.fallbacks[typ] = fmt.Errorf("schema %s: %w", n, err)
		}
		if ms, ok := docs[n]["x-measures"].([]any); ok {
			for _, m := range ms {
				if s, ok := m.(string); ok {
					r.measures[typ] = append(r.measures[typ], s)
				}
			}
		}
	}
	if len(r.types) == 0 {
		return nil, errors.New("no event type schemas found")
	}
	sort.Strings(r.types)
	return r, nil
}

// Types lists the registered event types, sorted.
func (r *Registry) Types() []string { return slices.Clone(r.types) }

// MeasuresByType returns, per registered type, the numeric fields of its data that analytics aggregates (the
// schema's "x-measures" keyword).
func (r *Registry) MeasuresByType() map[string][]string {
	out := make(map[string][]string, len(r.measures))
	for typ, ms := range r.measures {
		out[typ] = slices.Clone(ms)
	}
	return out
}

// Fallbacks returns, per event type whose schema the compiler could not compile, why: those types are
// validated by the reference validator (about five times slower). Callers say so at start-up. Empty when
// every schema is compiled.
func (r *Registry) Fallbacks() map[string]error {
	return maps.Clone(r.fallbacks)
}

// Validate implements Validator: it finds the event's type, checks the event with the type's compiled
// schema straight from raw, and decodes the envelope from the same bytes. The returned Event's Data aliases
// raw. An event without a readable type, of an unknown type, or of a type whose schema is not compiled takes
// the reference path, which reports the same errors.
func (r *Registry) Validate(raw []byte) (Event, error) {
	var env envelope
	if !env.scan(raw) {
		return r.ValidateReference(raw)
	}
	v := env.fields[fieldType]
	if len(v) < 2 || v[0] != '"' || bytes.IndexByte(v, '\\') >= 0 {
		return r.ValidateReference(raw)
	}
	ct, ok := r.compiled[string(v[1:len(v)-1])]
	if !ok {
		return r.ValidateReference(raw)
	}
	if err := ct.schema.Validate(raw); err != nil {
		var ve *schemac.ValidationError
		if errors.As(err, &ve) {
			loc := ve.InstanceLocation
			if ve.Missing != "" {
				loc = append(slices.Clip(loc), ve.Missing)
			}
			return Event{}, &ValidationError{Pointer: pointer(loc), Rule: ve.Keyword, Message: ve.Message}
		}
		return Event{}, &ValidationError{Rule: "json", Message: "malformed JSON: " + err.Error()}
	}
	ev, err := env.decode(raw, ct.name)
	if err != nil {
		return Event{}, &ValidationError{Rule: "json", Message: "cannot decode the envelope: " + err.Error()}
	}
	return ev, nil
}

// compiledType is a type's compiled schema, with the type's name to hand out without allocating.
type compiledType struct {
	name   string
	schema *schemac.Schema
}

// ValidateReference is Validate on the reference validator alone: the event is decoded into Go values and
// checked by the interpreting validator. It is the yardstick the compiled path is tested against.
func (r *Registry) ValidateReference(raw []byte) (ev Event, err error) {
	defer func() {
		// The reference validator panics on some valid JSON (a number such as 1e100000000, which big.Rat
		// cannot read); the event is refused rather than the process brought down.
		if p := recover(); p != nil {
			ev, err = Event{}, &ValidationError{Rule: RuleValidatorFailure,
				Message: fmt.Sprintf("the reference validator failed on this event: %v", p)}
		}
	}()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return ev, &ValidationError{Rule: "json", Message: "malformed JSON: " + err.Error()}
	}
	obj, ok := doc.(map[string]any)
	if !ok {
		return ev, &ValidationError{Rule: "type", Message: "an event must be a JSON object"}
	}
	typ, ok := obj["type"].(string)
	if !ok {
		if _, present := obj["type"]; !present {
			return ev, &ValidationError{Pointer: "/type", Rule: "required", Message: "missing property 'type'"}
		}
		return ev, &ValidationError{Pointer: "/type", Rule: "type", Message: "must be a string"}
	}
	sch, ok := r.schemas[typ]
	if !ok {
		return ev, &ValidationError{Pointer: "/type", Rule: "unknownType",
			Message: fmt.Sprintf("unknown event type %q; registered types: %s", typ, strings.Join(r.types, ", "))}
	}
	if err := sch.Validate(doc); err != nil {
		var ve *jsonschema.ValidationError
		if errors.As(err, &ve) {
			return ev, r.convert(ve)
		}
		return ev, &ValidationError{Rule: "schema", Message: err.Error()}
	}
	if err := segjson.Unmarshal(raw, &ev); err != nil {
		return ev, &ValidationError{Rule: "json", Message: "cannot decode the envelope: " + err.Error()}
	}
	return ev, nil
}

// convert picks the most specific cause of a schema failure: the deepest leaf, first by instance location.
func (r *Registry) convert(ve *jsonschema.ValidationError) *ValidationError {
	var leaves []*jsonschema.ValidationError
	var walk func(e *jsonschema.ValidationError)
	walk = func(e *jsonschema.ValidationError) {
		if len(e.Causes) == 0 {
			leaves = append(leaves, e)
			return
		}
		for _, c := range e.Causes {
			walk(c)
		}
	}
	walk(ve)
	sort.SliceStable(leaves, func(i, j int) bool {
		a, b := leaves[i].InstanceLocation, leaves[j].InstanceLocation
		if len(a) != len(b) {
			return len(a) > len(b)
		}
		return strings.Join(a, "/") < strings.Join(b, "/")
	})
	leaf := leaves[0]
	rule := "schema"
	if kp := leaf.ErrorKind.KeywordPath(); len(kp) > 0 {
		rule = kp[len(kp)-1]
	}
	loc := leaf.InstanceLocation
	if req, ok := leaf.ErrorKind.(*kind.Required); ok && len(req.Missing) > 0 {
		// Point at the missing field itself, not at the object that lacks it.
		loc = append(slices.Clip(loc), req.Missing[0])
	}
	return &ValidationError{
		Pointer: pointer(loc),
		Rule:    rule,
		Message: leaf.ErrorKind.LocalizedString(r.printer),
	}
}

func pointer(tokens []string) string {
	var sb strings.Builder
	for _, t := range tokens {
		sb.WriteByte('/')
		t = strings.ReplaceAll(t, "~", "~0")
		sb.WriteString(strings.ReplaceAll(t, "/", "~1"))
	}
	return sb.String()
}
