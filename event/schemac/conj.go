package schemac

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
)

// conj is the merge of every node that applies to one value: the fast pass checks a value against one conj,
// scanning it once. Conjunctions are shared: one exists per distinct set of nodes.
//
// Merging is sound because these nodes are in conjunction: the value must satisfy each of them, so bounds
// take the tightest of theirs, type takes the intersection, and the lists (patterns, formats, numeric
// bounds, value sets, applicators) are concatenated. A member's value, likewise, gets the conjunction of
// what every node applies to it. The exact pass does not use conjunctions: it follows the nodes one by one,
// in the reference's order, to report the reference's errors.
type conj struct {
	never bool // some node is the false schema

	kinds   kindMask // the kinds every "type" admits
	intOnly bool     // some "type" admits numbers only when integral

	strChecks      bool // a string's content must be read
	minLen, maxLen int  // tightest bounds, -1 when absent
	patterns       []*matcher
	formats        []*formatCheck

	numChecks bool // a number's value must be read
	nums      []numCheck
	multiples []numCheck

	valueSets [][]constVal // const and enum: the value must be in each set

	obj   *objConj
	arr   *arrConj
	conds []cond
}

// objConj holds the merged object keywords of a conj. Every property name any node mentions (properties,
// required, dependentRequired, dependentSchemas) has an entry; what depends only on the name is decided at
// compile time.
type objConj struct {
	minProps, maxProps int
	names              []string
	hash               nameHash
	entries            []objEntry
	words              int // uint64 words of the bitset of names seen
	required           []int32
	depReq             []depReqC
	depSchemas         []depSchemaC

	propNames *conj // merged propertyNames, checked on names without an entry
	nodes     []*node
	slots     []patSlot // every patternProperties entry of every node
	other     *conj     // subschema of names without an entry, when no node has patternProperties
	otherOK   bool      // whether such names are allowed at all (no additionalProperties: false)
	patCache  atomic.Pointer[map[uint64]patResult]
}

// objEntry is what applies to the value of a named member.
type objEntry struct {
	child *conj
	ok    bool // the name is allowed: by propertyNames and additionalProperties: false
}

// depReqC is a dependentRequired entry by name index.
type depReqC struct {
	trigger int32
	need    []int32
}

// depSchemaC is a dependentSchemas entry by name index.
type depSchemaC struct {
	trigger int32
	sub     *conj
}

// patSlot is a patternProperties entry of the node at index owner of objConj.nodes.
type patSlot struct {
	m      *matcher
	owner  int
	target *node
}

// patResult is what applies to a name without an entry, given the patterns it matches.
type patResult struct {
	child *conj
	ok    bool
	bail  bool // could not be built; the exact pass decides
}

// arrConj holds the merged array keywords of a conj.
type arrConj struct {
	minItems, maxItems int
	prefix             []*conj // subschema of each leading item
	rest               *conj   // subschema of the items after them
	unique             bool
	contains           []containsC
	spans              bool // item spans are kept (uniqueItems, contains)
}

// containsC is one node's contains with its bounds.
type containsC struct {
	sub      *conj
	min, max int // max -1 when absent
}

// condKind is an applicator that needs the value re-scanned.
type condKind uint8

// The applicators evaluated on a value's span.
const (
	cAnyOf condKind = iota
	cOneOf
	cNot
	cIf
)

// cond is one such applicator. A nil conj among subs, then or els means the true schema.
type cond struct {
	kind            condKind
	subs            []*conj
	ifc, then, elsc *conj
}

// maxConjs bounds the number of conjunctions one schema may need.
const maxConjs = 100_000

// maxSlots bounds the patternProperties entries merged into one conj.
const maxSlots = 64

// union returns the set of nodes applying when all of targets apply, and whether one is the false schema. The
// set is sorted by node id, which makes it a key for sharing conjunctions.
func union(targets []*node) ([]*node, bool) {
	var out []*node
	for _, t := range targets {
		if t == nil {
			continue
		}
		if t.neverC {
			return nil, true
		}
		out = append(out, t.closure...)
	}
	slices.SortFunc(out, func(a, b *node) int { return a.id - b.id })
	return slices.Compact(out), false
}

// conjOf returns the conjunction of targets: nil when nothing is asserted. The caller holds b.mu once the
// schema is in use.
func (b *builder) conjOf(targets []*node) (*conj, error) {
	set, never := union(targets)
	if never {
		return b.never, nil
	}
	if len(set) == 0 {
		return nil, nil
	}
	var key strings.Builder
	for _, n := range set {
		key.WriteString(strconv.Itoa(n.id))
		key.WriteByte(',')
	}
	if c, ok := b.conjs[key.String()]; ok {
		return c, nil
	}
	if len(b.conjs) >= maxConjs {
		return nil, &UnsupportedError{Keyword: "$ref", Location: set[0].sch.Location, Detail: tooComplex}
	}
	// The conj is registered before its children are built, so recursive schemas refer back to it.
	c := &conj{kinds: kAll, minLen: -1, maxLen: -1}
	b.conjs[key.String()] = c
	b.keys = append(b.keys, key.String())
	var objNodes, arrNodes []*node
	for _, n := range set {
		if err := b.mergeScalar(c, n); err != nil {
			return nil, err
		}
		if n.hasObj {
			objNodes = append(objNodes, n)
		}
		if n.hasArr {
			arrNodes = append(arrNodes, n)
		}
	}
	var err error
	if objNodes != nil {
		if c.obj, err = b.objConj(objNodes); err != nil {
			return nil, err
		}
	}
	if arrNodes != nil {
		if c.arr, err = b.arrConj(arrNodes); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// one is conjOf for a single target.
func (b *builder) one(t *node) (*conj, error) {
	if t == nil {
		return nil, nil
	}
	return b.conjOf([]*node{t})
}

// mergeScalar adds the keywords of n that are not about objects or arrays.
func (b *builder) mergeScalar(c *conj, n *node) error {
	if n.typed {
		c.kinds &= n.kinds
		c.intOnly = c.intOnly || n.intOnly
	}
	if n.constv != nil {
		c.valueSets = append(c.valueSets, []constVal{*n.constv})
	}
	if n.enum != nil {
		c.valueSets = append(c.valueSets, n.enum)
	}
	if n.format != nil {
		c.formats = append(c.formats, n.format)
	}
	if n.minLen >= 0 {
		c.minLen = max(c.minLen, n.minLen)
	}
	if n.maxLen >= 0 && (c.maxLen < 0 || n.maxLen < c.maxLen) {
		c.maxLen = n.maxLen
	}
	if n.pattern != nil {
		c.patterns = append(c.patterns, n.pattern)
	}
	c.nums = append(c.nums, n.nums...)
	if n.multipleOf != nil {
		c.multiples = append(c.multiples, *n.multipleOf)
	}
	c.strChecks = c.minLen > 0 || c.maxLen >= 0 || len(c.patterns) > 0 || len(c.formats) > 0 || len(c.valueSets) > 0
	c.numChecks = c.intOnly || len(c.nums) > 0 || len(c.multiples) > 0 || len(c.valueSets) > 0
	var err error
	for _, ap := range []struct {
		kind condKind
		subs []*node
	}{{cAnyOf, n.anyOf}, {cOneOf, n.oneOf}} {
		if ap.subs == nil {
			continue
		}
		cd := cond{kind: ap.kind}
		for _, s := range ap.subs {
			sc, err := b.one(s)
			if err != nil {
				return err
			}
			cd.subs = append(cd.subs, sc)
		}
		c.conds = append(c.conds, cd)
	}
	if n.not != nil {
		cd := cond{kind: cNot}
		sc, err := b.one(n.not)
		if err != nil {
			return err
		}
		cd.subs = []*conj{sc}
		c.conds = append(c.conds, cd)
	}
	if n.ifn != nil {
		cd := cond{kind: cIf}
		if cd.ifc, err = b.one(n.ifn); err != nil {
			return err
		}
		if cd.then, err = b.one(n.then); err != nil {
			return err
		}
		if cd.elsc, err = b.one(n.els); err != nil {
			return err
		}
		c.conds = append(c.conds, cd)
	}
	return nil
}

// objConj merges the object keywords of nodes. Every name any node mentions gets an index; the bitset of
// names seen, required, dependentRequired and dependentSchemas then work on indexes.
func (b *builder) objConj(nodes []*node) (*objConj, error) {
	o := &objConj{minProps: -1, maxProps: -1, nodes: nodes}
	index := map[string]int32{}
	add := func(name string) int32 {
		if k, ok := index[name]; ok {
			return k
		}
		k := int32(len(o.names))
		index[name] = k
		o.names = append(o.names, name)
		return k
	}
	var propNames []*node
	for _, n := range nodes {
		if n.minProps >= 0 {
			o.minProps = max(o.minProps, n.minProps)
		}
		if n.maxProps >= 0 && (o.maxProps < 0 || n.maxProps < o.maxProps) {
			o.maxProps = n.maxProps
		}
		for _, k := range sortedKeys(n.props) {
			add(k)
		}
		for _, r := range n.required {
			o.required = append(o.required, add(r))
		}
		for _, d := range n.depRequired {
			dr := depReqC{trigger: add(d.prop)}
			for _, r := range d.need {
				dr.need = append(dr.need, add(r))
			}
			o.depReq = append(o.depReq, dr)
		}
		for _, p := range n.patterns {
			o.slots = append(o.slots, patSlot{m: p.m, owner: slices.Index(nodes, n), target: p.target})
		}
		if n.propertyNames != nil {
			propNames = append(propNames, n.propertyNames)
		}
	}
	if len(o.slots) > maxSlots {
		return nil, &UnsupportedError{Keyword: "patternProperties", Location: nodes[0].sch.Location,
			Detail: fmt.Sprintf("more than %d patterns apply to one object", maxSlots)}
	}
	var err error
	// Entries for dependentSchemas triggers are needed before the subschemas are built.
	type pendingDep struct {
		trigger int32
		target  *node
	}
	var deps []pendingDep
	for _, n := range nodes {
		for _, d := range n.depSchemas {
			deps = append(deps, pendingDep{add(d.prop), d.target})
		}
		for _, d := range n.deps {
			if d.target != nil {
				deps = append(deps, pendingDep{add(d.prop), d.target})
				continue
			}
			dr := depReqC{trigger: add(d.prop)}
			for _, r := range d.need {
				dr.need = append(dr.need, add(r))
			}
			o.depReq = append(o.depReq, dr)
		}
	}
	if o.propNames, err = b.conjOf(propNames); err != nil {
		return nil, err
	}
	o.entries = make([]objEntry, len(o.names))
	for k, name := range o.names {
		if o.entries[k], err = b.entry(nodes, name); err != nil {
			return nil, err
		}
	}
	for _, d := range deps {
		sc, err := b.one(d.target)
		if err != nil {
			return nil, err
		}
		o.depSchemas = append(o.depSchemas, depSchemaC{trigger: d.trigger, sub: sc})
	}
	// Without patterns, every unknown name gets the same subschema: the merge of additionalProperties.
	if len(o.slots) == 0 {
		o.otherOK = true
		var adds []*node
		for _, n := range nodes {
			if n.addFalse {
				o.otherOK = false
			}
			if n.add != nil {
				adds = append(adds, n.add)
			}
		}
		if o.other, err = b.conjOf(adds); err != nil {
			return nil, err
		}
	}
	o.words = (len(o.names) + 63) / 64
	o.hash = newNameHash(o.names)
	return o, nil
}

// entry decides, for a known name, which subschemas apply to its value and whether the name is allowed. It
// follows the reference's rules for one member, node by node: properties and every matching
// patternProperties apply; additionalProperties applies only when neither does, and false forbids the name;
// propertyNames, which depends only on the name, is evaluated here once and for all with the exact pass.
func (b *builder) entry(nodes []*node, name string) (objEntry, error) {
	e := objEntry{ok: true}
	var targets []*node
	for _, n := range nodes {
		evaluated := false
		if t, ok := n.props[name]; ok {
			targets = append(targets, t)
			evaluated = true
		}
		for _, p := range n.patterns {
			if p.re.MatchString(name) {
				targets = append(targets, p.target)
				evaluated = true
			}
		}
		if !evaluated {
			if n.addFalse {
				e.ok = false
			} else if n.add != nil {
				targets = append(targets, n.add)
			}
		}
		if n.propertyNames != nil && !nameValid(n.propertyNames, name) {
			e.ok = false
		}
	}
	var err error
	e.child, err = b.conjOf(targets)
	return e, err
}

// nameValid reports whether the propertyNames schema t accepts name.
func nameValid(t *node, name string) bool {
	var cl collector
	return cl.validate(t, name, false)
}

// patResult returns what applies to a name without an entry that matches the slots in mask, building it on
// first use. Readers take the published map without locking; writers copy it under b.mu and publish the
// copy, so that steady-state validation neither locks nor allocates.
func (b *builder) patResult(o *objConj, mask uint64) patResult {
	if m := o.patCache.Load(); m != nil {
		if r, ok := (*m)[mask]; ok {
			return r
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	old := o.patCache.Load()
	if old != nil {
		if r, ok := (*old)[mask]; ok {
			return r
		}
	}
	r := patResult{ok: true}
	var targets []*node
	for k, n := range o.nodes {
		matched := false
		for j, s := range o.slots {
			if s.owner == k && mask&(1<<j) != 0 {
				targets = append(targets, s.target)
				matched = true
			}
		}
		if !matched {
			if n.addFalse {
				r.ok = false
			} else if n.add != nil {
				targets = append(targets, n.add)
			}
		}
	}
	before := len(b.keys)
	child, err := b.conjOf(targets)
	if err != nil {
		// Forget the conjunctions left half-built; the exact pass will decide such names.
		for _, k := range b.keys[before:] {
			delete(b.conjs, k)
		}
		b.keys = b.keys[:before]
		r.bail = true
	}
	r.child = child
	m := make(map[uint64]patResult, 1)
	if old != nil {
		for k, v := range *old {
			m[k] = v
		}
	}
	m[mask] = r
	o.patCache.Store(&m)
	return r
}

// arrConj merges the array keywords of nodes. Position i is governed, in each node, by prefixItems[i] when
// the node has that many, else by its items; so the merged subschema differs per position up to the longest
// prefixItems, and is the merge of every items after it.
func (b *builder) arrConj(nodes []*node) (*arrConj, error) {
	a := &arrConj{minItems: -1, maxItems: -1}
	maxPrefix := 0
	var items []*node
	for _, n := range nodes {
		if n.minItems >= 0 {
			a.minItems = max(a.minItems, n.minItems)
		}
		if n.maxItems >= 0 && (a.maxItems < 0 || n.maxItems < a.maxItems) {
			a.maxItems = n.maxItems
		}
		a.unique = a.unique || n.unique
		maxPrefix = max(maxPrefix, len(n.prefix))
		if n.items != nil {
			items = append(items, n.items)
		}
		if n.contains != nil {
			sc, err := b.one(n.contains)
			if err != nil {
				return nil, err
			}
			cc := containsC{sub: sc, min: 1, max: n.maxContains}
			if n.minContains >= 0 {
				cc.min = n.minContains
			}
			a.contains = append(a.contains, cc)
		}
	}
	for i := 0; i < maxPrefix; i++ {
		var targets []*node
		for _, n := range nodes {
			if i < len(n.prefix) {
				targets = append(targets, n.prefix[i])
			} else if n.items != nil {
				targets = append(targets, n.items)
			}
		}
		pc, err := b.conjOf(targets)
		if err != nil {
			return nil, err
		}
		a.prefix = append(a.prefix, pc)
	}
	var err error
	if a.rest, err = b.conjOf(items); err != nil {
		return nil, err
	}
	a.spans = a.unique || len(a.contains) > 0
	return a, nil
}
