package event

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	segjson "github.com/segmentio/encoding/json"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
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

// Validator checks one event's raw JSON against its type's schema and decodes its envelope. Implementations
// are safe for concurrent use. A faster, schema-compiled implementation can replace the default one.
type Validator interface {
	// Validate returns the decoded envelope, or a *ValidationError naming the field and rule broken.
	Validate(raw []byte) (Event, error)
}

// Registry holds the JSON Schema (draft 2020-12) of every event type, compiled once. It implements Validator.
type Registry struct {
	schemas  map[string]*jsonschema.Schema
	measures map[string][]string
	types    []string
	printer  *message.Printer
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
		docs[n] = m
	}
	r := &Registry{
		schemas:  map[string]*jsonschema.Schema{},
		measures: map[string][]string{},
		printer:  message.NewPrinter(language.English),
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

// Validate implements Validator.
func (r *Registry) Validate(raw []byte) (Event, error) {
	var ev Event
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
