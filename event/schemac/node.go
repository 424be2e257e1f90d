package schemac

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"regexp"
	"slices"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// kindMask is a set of JSON value kinds.
type kindMask uint8

// The kinds of JSON values.
const (
	kNull kindMask = 1 << iota
	kBool
	kNumber
	kString
	kArray
	kObject
	kAll = kNull | kBool | kNumber | kString | kArray | kObject
)

// node is one compiled schema of the reference's graph, translated. Only keywords that apply to the value the
// schema is applied to are kept here; $ref and allOf are resolved into closures, and node sets are merged into
// conjunctions (conj) for the fast pass.
type node struct {
	id    int
	sch   *jsonschema.Schema
	never bool // the false schema
	local bool // asserts something itself, beyond $ref and allOf

	typed   bool     // has "type"
	kinds   kindMask // kinds "type" admits (number when it names number or integer)
	intOnly bool     // "type" admits numbers only when they are integers

	constv *constVal
	enum   []constVal
	format *formatCheck

	minLen, maxLen int // -1 when absent
	pattern        *matcher

	nums       []numCheck
	multipleOf *numCheck

	hasObj         bool
	minProps       int // -1 when absent
	maxProps       int
	required       []string
	props          map[string]*node
	patterns       []patternProp
	addFalse       bool  // additionalProperties: false
	add            *node // additionalProperties as a schema
	propertyNames  *node
	depRequired    []depRequired
	depSchemas     []depSchema
	deps           []dependency // "dependencies", which the reference applies in every draft
	hasArr         bool
	minItems       int // -1 when absent
	maxItems       int
	unique         bool
	prefix         []*node
	items          *node
	contains       *node
	minContains    int // -1 when absent
	maxContains    int
	ref            *node
	allOf          []*node
	anyOf, oneOf   []*node
	not            *node
	ifn, then, els *node

	closure []*node // nodes that apply whenever this one does, sorted by id; nil for none
	neverC  bool    // the closure holds a false schema
	done    bool    // closure computed
}

// patternProp is one entry of patternProperties.
type patternProp struct {
	src    string
	re     *regexp.Regexp
	m      *matcher
	target *node
}

// depRequired is one entry of dependentRequired.
type depRequired struct {
	prop string
	need []string
}

// dependency is one entry of dependencies: a list of required names or a schema.
type dependency struct {
	prop   string
	need   []string
	target *node
}

// depSchema is one entry of dependentSchemas.
type depSchema struct {
	prop   string
	target *node
}

// numOp is a numeric bound.
type numOp uint8

// The numeric keywords, in the reference's order.
const (
	opMin numOp = iota
	opMax
	opExMin
	opExMax
	opMultipleOf
)

// numCheck is one numeric keyword: the bound as a decimal for the fast pass and as the reference's rational.
type numCheck struct {
	op  numOp
	kw  string
	rat *big.Rat
	dec decimal
	ok  bool // dec holds the bound exactly (always, for bounds written as JSON numbers)
}

// constVal is a value of const or enum.
type constVal struct {
	v     any      // as decoded, for the exact pass
	kind  kindMask // its kind
	str   string   // a string's value
	dec   decimal  // a number's value
	decOK bool
	raw   []byte // an array's or object's JSON text
}

// builder translates the reference's compiled graph and merges node sets. After Compile it is owned by the
// Schema, which may still build conjunctions lazily (patternProperties); mu guards that.
type builder struct {
	docs  map[string]any
	byRef map[*jsonschema.Schema]*node
	nodes []*node
	conjs map[string]*conj
	keys  []string // the keys of conjs, in the order they were added
	never *conj
	mu    sync.Mutex
}

// newBuilder returns a builder reading raw documents from docs.
func newBuilder(docs map[string]any) *builder {
	b := &builder{docs: docs, byRef: map[*jsonschema.Schema]*node{}, conjs: map[string]*conj{}}
	b.never = &conj{never: true, kinds: kAll}
	return b
}

// node translates s and everything it reaches. The reference has resolved $ref, $id and anchors, validated
// the schema against its metaschema and compiled the regular expressions; what is left is to check that
// nothing unsupported is used and to copy each keyword into the node. Nodes are registered before their
// subschemas are translated, so cycles through $ref end on the registered node.
func (b *builder) node(s *jsonschema.Schema) (*node, error) {
	if s == nil {
		return nil, nil
	}
	if n, ok := b.byRef[s]; ok {
		return n, nil
	}
	if err := b.checkSupported(s); err != nil {
		return nil, err
	}
	n := &node{id: len(b.nodes), sch: s, minLen: -1, maxLen: -1, minProps: -1, maxProps: -1, minItems: -1,
		maxItems: -1, minContains: -1, maxContains: -1}
	b.byRef[s] = n
	b.nodes = append(b.nodes, n)
	// A boolean schema: true asserts nothing, false rejects everything.
	if s.Bool != nil {
		n.never = !*s.Bool
		n.local = n.never
		return n, nil
	}
	if err := b.scalarKeywords(n, s); err != nil {
		return nil, err
	}
	if err := b.objectKeywords(n, s); err != nil {
		return nil, err
	}
	if err := b.arrayKeywords(n, s); err != nil {
		return nil, err
	}
	return n, b.applicators(n, s)
}

// scalarKeywords translates the keywords of any type, strings and numbers.
func (b *builder) scalarKeywords(n *node, s *jsonschema.Schema) error {
	// type: "integer" is kept apart from "number" only when "number" is absent, since it is narrower.
	if s.Types != nil && !s.Types.IsEmpty() {
		n.typed = true
		var hasNum, hasInt bool
		for _, t := range s.Types.ToStrings() {
			switch t {
			case "null":
				n.kinds |= kNull
			case "boolean":
				n.kinds |= kBool
			case "number":
				hasNum = true
			case "integer":
				hasInt = true
			case "string":
				n.kinds |= kString
			case "array":
				n.kinds |= kArray
			case "object":
				n.kinds |= kObject
			}
		}
		if hasNum || hasInt {
			n.kinds |= kNumber
		}
		n.intOnly = hasInt && !hasNum
	}
	if s.Const != nil {
		cv, err := newConstVal(*s.Const)
		if err != nil {
			return unsupported(s, "const", err.Error())
		}
		n.constv = &cv
	}
	if s.Enum != nil {
		for _, v := range s.Enum.Values {
			cv, err := newConstVal(v)
			if err != nil {
				return unsupported(s, "enum", err.Error())
			}
			n.enum = append(n.enum, cv)
		}
	}
	if s.Format != nil {
		n.format = newFormatCheck(s.Format)
	}
	if s.MinLength != nil {
		n.minLen = *s.MinLength
	}
	if s.MaxLength != nil {
		n.maxLen = *s.MaxLength
	}
	if s.Pattern != nil {
		n.pattern = newMatcher(s.Pattern.(*regexp.Regexp))
	}
	// The numeric bounds, in the reference's order. The reference reads them with big.Rat from their JSON
	// text, so they are decimals; the fast pass compares decimals.
	for _, nb := range []struct {
		op  numOp
		kw  string
		rat *big.Rat
	}{{opMin, "minimum", s.Minimum}, {opMax, "maximum", s.Maximum}, {opExMin, "exclusiveMinimum", s.ExclusiveMinimum},
		{opExMax, "exclusiveMaximum", s.ExclusiveMaximum}, {opMultipleOf, "multipleOf", s.MultipleOf}} {
		if nb.rat == nil {
			continue
		}
		d, ok := ratDecimal(nb.rat)
		c := numCheck{op: nb.op, kw: nb.kw, rat: nb.rat, dec: d, ok: ok}
		if nb.op == opMultipleOf {
			n.multipleOf = &c
		} else {
			n.nums = append(n.nums, c)
		}
	}
	n.local = n.typed || n.constv != nil || n.enum != nil || n.format != nil || n.minLen >= 0 || n.maxLen >= 0 ||
		n.pattern != nil || len(n.nums) > 0 || n.multipleOf != nil
	return nil
}

// objectKeywords translates the keywords of objects.
func (b *builder) objectKeywords(n *node, s *jsonschema.Schema) error {
	var err error
	if s.MinProperties != nil {
		n.minProps = *s.MinProperties
	}
	if s.MaxProperties != nil {
		n.maxProps = *s.MaxProperties
	}
	n.required = s.Required
	if len(s.Properties) > 0 {
		n.props = make(map[string]*node, len(s.Properties))
		for _, k := range sortedKeys(s.Properties) {
			if n.props[k], err = b.node(s.Properties[k]); err != nil {
				return err
			}
		}
	}
	// patternProperties comes as a map; it is sorted by pattern so that compilation is deterministic.
	for re, ps := range s.PatternProperties {
		t, err := b.node(ps)
		if err != nil {
			return err
		}
		gore := re.(*regexp.Regexp)
		n.patterns = append(n.patterns, patternProp{src: re.String(), re: gore, m: newMatcher(gore), target: t})
	}
	slices.SortFunc(n.patterns, func(a, b patternProp) int {
		if a.src < b.src {
			return -1
		}
		if a.src > b.src {
			return 1
		}
		return 0
	})
	// additionalProperties is nil, a boolean or a schema.
	switch a := s.AdditionalProperties.(type) {
	case bool:
		n.addFalse = !a
	case *jsonschema.Schema:
		if n.add, err = b.node(a); err != nil {
			return err
		}
	}
	if n.propertyNames, err = b.node(s.PropertyNames); err != nil {
		return err
	}
	for _, k := range sortedKeys(s.DependentRequired) {
		n.depRequired = append(n.depRequired, depRequired{prop: k, need: s.DependentRequired[k]})
	}
	for _, k := range sortedKeys(s.DependentSchemas) {
		t, err := b.node(s.DependentSchemas[k])
		if err != nil {
			return err
		}
		n.depSchemas = append(n.depSchemas, depSchema{prop: k, target: t})
	}
	for _, k := range sortedKeys(s.Dependencies) {
		d := dependency{prop: k}
		switch v := s.Dependencies[k].(type) {
		case []string:
			d.need = v
		case *jsonschema.Schema:
			if d.target, err = b.node(v); err != nil {
				return err
			}
		}
		n.deps = append(n.deps, d)
	}
	n.hasObj = n.deps != nil || n.minProps >= 0 || n.maxProps >= 0 || len(n.required) > 0 || n.props != nil || n.patterns != nil ||
		n.addFalse || n.add != nil || n.propertyNames != nil || n.depRequired != nil || n.depSchemas != nil
	n.local = n.local || n.hasObj
	return nil
}

// arrayKeywords translates the keywords of arrays.
func (b *builder) arrayKeywords(n *node, s *jsonschema.Schema) error {
	var err error
	if s.MinItems != nil {
		n.minItems = *s.MinItems
	}
	if s.MaxItems != nil {
		n.maxItems = *s.MaxItems
	}
	n.unique = s.UniqueItems
	for _, p := range s.PrefixItems {
		t, err := b.node(p)
		if err != nil {
			return err
		}
		n.prefix = append(n.prefix, t)
	}
	if n.items, err = b.node(s.Items2020); err != nil {
		return err
	}
	if n.contains, err = b.node(s.Contains); err != nil {
		return err
	}
	if s.MinContains != nil {
		n.minContains = *s.MinContains
	}
	if s.MaxContains != nil {
		n.maxContains = *s.MaxContains
	}
	n.hasArr = n.minItems >= 0 || n.maxItems >= 0 || n.unique || n.prefix != nil || n.items != nil || n.contains != nil
	n.local = n.local || n.hasArr
	return nil
}

// applicators translates the in-place applicators.
func (b *builder) applicators(n *node, s *jsonschema.Schema) error {
	var err error
	if n.ref, err = b.node(s.Ref); err != nil {
		return err
	}
	list := func(ss []*jsonschema.Schema) ([]*node, error) {
		var out []*node
		for _, x := range ss {
			t, err := b.node(x)
			if err != nil {
				return nil, err
			}
			out = append(out, t)
		}
		return out, nil
	}
	if n.allOf, err = list(s.AllOf); err != nil {
		return err
	}
	if n.anyOf, err = list(s.AnyOf); err != nil {
		return err
	}
	if n.oneOf, err = list(s.OneOf); err != nil {
		return err
	}
	if n.not, err = b.node(s.Not); err != nil {
		return err
	}
	if n.ifn, err = b.node(s.If); err != nil {
		return err
	}
	if n.then, err = b.node(s.Then); err != nil {
		return err
	}
	if n.els, err = b.node(s.Else); err != nil {
		return err
	}
	n.local = n.local || n.anyOf != nil || n.oneOf != nil || n.not != nil || n.ifn != nil
	return nil
}

// checkCycles rejects cycles of in-place applicators: the reference reports them as errors when it meets them
// while validating, which this package does not reproduce. Cycles that go through a member or an item (a
// recursive tree schema) consume the instance and are fine.
func (b *builder) checkCycles() error {
	const (
		white = iota
		grey
		black
	)
	color := make([]int, len(b.nodes))
	var visit func(n *node) error
	visit = func(n *node) error {
		switch color[n.id] {
		case grey:
			return unsupported(n.sch, "$ref", "a cycle of references that does not consume the instance")
		case black:
			return nil
		}
		color[n.id] = grey
		for _, t := range inPlace(n) {
			if err := visit(t); err != nil {
				return err
			}
		}
		color[n.id] = black
		return nil
	}
	for _, n := range b.nodes {
		if err := visit(n); err != nil {
			return err
		}
	}
	return nil
}

// inPlace lists the subschemas applied to the same value as n.
func inPlace(n *node) []*node {
	var out []*node
	if n.ref != nil {
		out = append(out, n.ref)
	}
	out = append(out, n.allOf...)
	out = append(out, n.anyOf...)
	out = append(out, n.oneOf...)
	for _, t := range []*node{n.not, n.ifn, n.then, n.els} {
		if t != nil {
			out = append(out, t)
		}
	}
	for _, d := range n.depSchemas {
		out = append(out, d.target)
	}
	for _, d := range n.deps {
		if d.target != nil {
			out = append(out, d.target)
		}
	}
	return out
}

// closure computes the nodes that apply whenever n does: n, its $ref and allOf members, transitively, keeping
// those that assert something.
func (b *builder) closure(n *node) {
	if n.done {
		return
	}
	set := map[*node]bool{}
	never := false
	var walk func(x *node)
	walk = func(x *node) {
		if set[x] {
			return
		}
		set[x] = true
		never = never || x.never
		if x.ref != nil {
			walk(x.ref)
		}
		for _, a := range x.allOf {
			walk(a)
		}
	}
	walk(n)
	// Nodes that assert nothing of their own ($ref or allOf alone, true, annotations) are left out.
	var out []*node
	for x := range set {
		if x.local && !x.never {
			out = append(out, x)
		}
	}
	slices.SortFunc(out, func(a, b *node) int { return a.id - b.id })
	n.closure, n.neverC, n.done = out, never, true
}

// newConstVal prepares a value of const or enum for comparison with JSON text: strings by their value,
// numbers as decimals, arrays and objects as JSON text that the fast pass compares structurally.
func newConstVal(v any) (constVal, error) {
	cv := constVal{v: v}
	switch x := v.(type) {
	case nil:
		cv.kind = kNull
	case bool:
		cv.kind = kBool
	case string:
		cv.kind, cv.str = kString, x
	case json.Number, float32, float64, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		cv.kind = kNumber
		r, ok := new(big.Rat).SetString(fmt.Sprint(x))
		if !ok {
			return cv, fmt.Errorf("number %v", x)
		}
		cv.dec, cv.decOK = ratDecimal(r)
	case []any, map[string]any:
		cv.kind = kArray
		if _, ok := x.(map[string]any); ok {
			cv.kind = kObject
		}
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(x); err != nil {
			return cv, fmt.Errorf("value %v: %w", x, err)
		}
		cv.raw = bytes.TrimSpace(buf.Bytes())
	default:
		return cv, fmt.Errorf("value of type %T", v)
	}
	return cv, nil
}
