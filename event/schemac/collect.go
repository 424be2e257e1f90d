package schemac

import (
	"fmt"
	"math/big"
	"slices"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/message"
)

// collector is the exact pass: it walks the nodes over a decoded document in the reference's order, and
// records the leaf errors the reference would report, in the order it would report them.
type collector struct {
	leaves []leaf
	loc    []string
}

// leaf is one leaf error: where, and the reference's error kind with the field values the reference would
// give it, from which the keyword, the missing property and the message derive. Only the selected leaf's
// message is rendered.
type leaf struct {
	loc  []string
	kind jsonschema.ErrorKind
}

// fail records a leaf error at the current location when errors are wanted.
func (cl *collector) fail(emit bool, k jsonschema.ErrorKind) {
	if emit {
		cl.leaves = append(cl.leaves, leaf{loc: slices.Clone(cl.loc), kind: k})
	}
}

// selectLeaf picks the error the registry reports: the deepest location first, then the smallest joined
// location, then the first produced. The sort is stable, so that among errors at the same location the one
// the reference produces first wins, as it does in the registry's selection over the reference's tree (whose
// leaves, read depth first, come in the order the reference produced them).
func (cl *collector) selectLeaf(p *message.Printer) *ValidationError {
	if len(cl.leaves) == 0 {
		return nil
	}
	sort.SliceStable(cl.leaves, func(i, j int) bool {
		a, b := cl.leaves[i].loc, cl.leaves[j].loc
		if len(a) != len(b) {
			return len(a) > len(b)
		}
		return strings.Join(a, "/") < strings.Join(b, "/")
	})
	l := cl.leaves[0]
	loc := l.loc
	if loc == nil {
		loc = []string{}
	}
	ve := &ValidationError{InstanceLocation: loc, Keyword: "schema", Message: l.kind.LocalizedString(p)}
	if kp := l.kind.KeywordPath(); len(kp) > 0 {
		ve.Keyword = kp[len(kp)-1]
	}
	if req, ok := l.kind.(*kind.Required); ok {
		ve.Missing = req.Missing[0]
	}
	return ve
}

// at runs f with tok appended to the location.
func (cl *collector) at(tok string, f func() bool) bool {
	cl.loc = append(cl.loc, tok)
	ok := f()
	cl.loc = cl.loc[:len(cl.loc)-1]
	return ok
}

// kindOf returns the kind of a decoded value.
func kindOf(v any) kindMask {
	switch v.(type) {
	case nil:
		return kNull
	case bool:
		return kBool
	case string:
		return kString
	case []any:
		return kArray
	case map[string]any:
		return kObject
	}
	return kNumber
}

// ratOf reads a decoded number as the reference does.
func ratOf(v any) (*big.Rat, bool) {
	return new(big.Rat).SetString(fmt.Sprint(v))
}

// equalValues compares decoded values as the reference does: numbers by their exact value (so 1 equals 1.0),
// objects as maps, arrays item by item, everything else by kind and value.
func equalValues(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok || !equalValues(xv, yv) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equalValues(x[i], y[i]) {
				return false
			}
		}
		return true
	case nil:
		return b == nil
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case string:
		y, ok := b.(string)
		return ok && x == y
	}
	if kindOf(b) != kNumber {
		return false
	}
	ra, ok1 := ratOf(a)
	rb, ok2 := ratOf(b)
	return ok1 && ok2 && ra.Cmp(rb) == 0
}

// validate reports whether v satisfies n, recording leaves when emit is set. The order is the reference's:
// the false schema; type, const, enum and format, each of which ends the validation of this schema when it
// fails; $ref; the keywords of the value's kind; then not, allOf, anyOf, oneOf and if. When emit is false
// (not, if, and the branches of oneOf after the first match, whose errors the reference discards) only the
// answer matters and the walk stops at the first failure.
func (cl *collector) validate(n *node, v any, emit bool) bool {
	if n.sch.Bool != nil {
		if n.never {
			cl.fail(emit, &kind.FalseSchema{})
		}
		return !n.never
	}
	// type: "integer" admits numbers whose value is whole, whatever their spelling (1.0, 1e2).
	k := kindOf(v)
	if n.typed {
		ok := n.kinds&k != 0
		if ok && k == kNumber && n.intOnly {
			r, good := ratOf(v)
			ok = good && r.IsInt()
		}
		if !ok {
			cl.fail(emit, &kind.Type{Got: typeName(v), Want: n.sch.Types.ToStrings()})
			return false
		}
	}
	if n.constv != nil && !equalValues(v, n.constv.v) {
		cl.fail(emit, &kind.Const{Got: v, Want: n.constv.v})
		return false
	}
	if n.enum != nil {
		found := false
		for _, e := range n.enum {
			if equalValues(v, e.v) {
				found = true
				break
			}
		}
		if !found {
			cl.fail(emit, &kind.Enum{Got: v, Want: n.sch.Enum.Values})
			return false
		}
	}
	if n.format != nil {
		if err := n.format.ref(v); err != nil {
			cl.fail(emit, &kind.Format{Got: v, Want: n.format.name, Err: err})
			return false
		}
	}
	// From here on failures accumulate: $ref's errors come first, then the kind's, then the applicators'.
	valid := true
	if n.ref != nil && !cl.validate(n.ref, v, emit) {
		valid = false
	}
	switch x := v.(type) {
	case map[string]any:
		valid = cl.object(n, x, emit) && valid
	case []any:
		valid = cl.array(n, x, emit) && valid
	case string:
		valid = cl.str(n, x, emit) && valid
	case bool, nil:
	default:
		valid = cl.number(n, v, emit) && valid
	}
	if !valid && !emit {
		return false
	}
	return cl.conds(n, v, emit) && valid
}

// typeName names the JSON type of a decoded value.
func typeName(v any) string {
	switch kindOf(v) {
	case kNull:
		return "null"
	case kBool:
		return "boolean"
	case kString:
		return "string"
	case kArray:
		return "array"
	case kObject:
		return "object"
	}
	return "number"
}

// object applies the object keywords in the reference's order: minProperties, maxProperties, required,
// dependencies, then for each member properties, patternProperties and additionalProperties (one error for
// all the names additionalProperties: false rejects, at the object), then propertyNames, dependentSchemas and
// dependentRequired. Where the reference ranges over a Go map, sorted order is used.
func (cl *collector) object(n *node, obj map[string]any, emit bool) bool {
	valid := true
	if n.minProps >= 0 && len(obj) < n.minProps {
		cl.fail(emit, &kind.MinProperties{Got: len(obj), Want: n.minProps})
		valid = false
	}
	if n.maxProps >= 0 && len(obj) > n.maxProps {
		cl.fail(emit, &kind.MaxProperties{Got: len(obj), Want: n.maxProps})
		valid = false
	}
	if missing := findMissing(obj, n.required, emit); missing != nil {
		cl.fail(emit, &kind.Required{Missing: missing})
		valid = false
	}
	if !valid && !emit {
		return false
	}
	for _, d := range n.deps {
		if _, ok := obj[d.prop]; !ok {
			continue
		}
		if d.target != nil {
			valid = cl.validate(d.target, obj, emit) && valid
			continue
		}
		if missing := findMissing(obj, d.need, emit); missing != nil {
			// The reference's keyword path is dependency/<prop>.
			cl.fail(emit, &kind.Dependency{Prop: d.prop, Missing: missing})
			valid = false
		}
	}
	names := sortedKeys(obj)
	var additional []string
	for _, name := range names {
		pv := obj[name]
		evaluated := false
		if t, ok := n.props[name]; ok {
			evaluated = true
			valid = cl.at(name, func() bool { return cl.validate(t, pv, emit) }) && valid
		}
		for _, p := range n.patterns {
			if p.re.MatchString(name) {
				evaluated = true
				valid = cl.at(name, func() bool { return cl.validate(p.target, pv, emit) }) && valid
			}
		}
		if !evaluated {
			if n.addFalse {
				additional = append(additional, name)
			} else if n.add != nil {
				valid = cl.at(name, func() bool { return cl.validate(n.add, pv, emit) }) && valid
			}
		}
		if !valid && !emit {
			return false
		}
	}
	if len(additional) > 0 {
		cl.fail(emit, &kind.AdditionalProperties{Properties: additional})
		valid = false
	}
	// propertyNames: the reference validates each name as a document of its own and keeps that validation's
	// errors as the causes of its own; their instance locations are therefore empty.
	if n.propertyNames != nil {
		saved := cl.loc
		cl.loc = nil // the reference validates each name as a document of its own
		for _, name := range names {
			valid = cl.validate(n.propertyNames, name, emit) && valid
		}
		cl.loc = saved
	}
	for _, d := range n.depSchemas {
		if _, ok := obj[d.prop]; ok {
			valid = cl.validate(d.target, obj, emit) && valid
		}
	}
	for _, d := range n.depRequired {
		if _, ok := obj[d.prop]; !ok {
			continue
		}
		if missing := findMissing(obj, d.need, emit); missing != nil {
			// The reference's keyword path is dependentRequired/<prop>.
			cl.fail(emit, &kind.DependentRequired{Prop: d.prop, Missing: missing})
			valid = false
		}
	}
	return valid
}

// findMissing returns the names of need that obj lacks, in need's order, or nil when it has them all. When
// errors are not wanted, the first missing name is enough.
func findMissing(obj map[string]any, need []string, emit bool) []string {
	var missing []string
	for _, r := range need {
		if _, ok := obj[r]; !ok {
			missing = append(missing, r)
			if !emit {
				break
			}
		}
	}
	return missing
}

// array applies the array keywords in the reference's order: minItems, maxItems, uniqueItems, prefixItems and
// items, then contains with minContains and maxContains. The errors of the items that do not match contains
// are the causes of its error, so they are kept only when contains fails; without them the error is a leaf.
func (cl *collector) array(n *node, arr []any, emit bool) bool {
	valid := true
	if n.minItems >= 0 && len(arr) < n.minItems {
		cl.fail(emit, &kind.MinItems{Got: len(arr), Want: n.minItems})
		valid = false
	}
	if n.maxItems >= 0 && len(arr) > n.maxItems {
		cl.fail(emit, &kind.MaxItems{Got: len(arr), Want: n.maxItems})
		valid = false
	}
	// uniqueItems: one error for the first pair found, at the array.
	if n.unique && len(arr) > 1 {
	dup:
		for i := 1; i < len(arr); i++ {
			for j := 0; j < i; j++ {
				if equalValues(arr[i], arr[j]) {
					cl.fail(emit, &kind.UniqueItems{Duplicates: [2]int{j, i}})
					valid = false
					break dup
				}
			}
		}
	}
	for i, item := range arr {
		var t *node
		switch {
		case i < len(n.prefix):
			t = n.prefix[i]
		case n.items != nil:
			t = n.items
		default:
			continue
		}
		valid = cl.at(strconv.Itoa(i), func() bool { return cl.validate(t, item, emit) }) && valid
		if !valid && !emit {
			return false
		}
	}
	if n.contains != nil {
		mark := len(cl.leaves)
		// matched lists the indexes of the items that match, which the reference's messages name.
		var matched []int
		for i, item := range arr {
			if cl.at(strconv.Itoa(i), func() bool { return cl.validate(n.contains, item, emit) }) {
				matched = append(matched, i)
			}
		}
		switch {
		case n.minContains >= 0 && len(matched) < n.minContains:
			if len(cl.leaves) == mark {
				cl.fail(emit, &kind.MinContains{Got: matched, Want: n.minContains})
			}
			valid = false
		case n.minContains < 0 && len(matched) == 0:
			if len(cl.leaves) == mark {
				cl.fail(emit, &kind.Contains{})
			}
			valid = false
		default:
			cl.leaves = cl.leaves[:mark]
		}
		if n.maxContains >= 0 && len(matched) > n.maxContains {
			cl.fail(emit, &kind.MaxContains{Got: matched, Want: n.maxContains})
			valid = false
		}
	}
	return valid
}

// str applies the string keywords.
func (cl *collector) str(n *node, s string, emit bool) bool {
	valid := true
	if n.minLen >= 0 || n.maxLen >= 0 {
		l := utf8.RuneCountInString(s)
		if n.minLen >= 0 && l < n.minLen {
			cl.fail(emit, &kind.MinLength{Got: l, Want: n.minLen})
			valid = false
		}
		if n.maxLen >= 0 && l > n.maxLen {
			cl.fail(emit, &kind.MaxLength{Got: l, Want: n.maxLen})
			valid = false
		}
	}
	if n.pattern != nil && !n.pattern.re.MatchString(s) {
		cl.fail(emit, &kind.Pattern{Got: s, Want: n.sch.Pattern.String()})
		valid = false
	}
	return valid
}

// number applies the numeric keywords with big.Rat, as the reference does. Where big.Rat cannot read the
// literal (exponents beyond a million) the reference panics; here compareUnreadable places it, and
// multipleOf fails.
func (cl *collector) number(n *node, v any, emit bool) bool {
	if len(n.nums) == 0 && n.multipleOf == nil {
		return true
	}
	valid := true
	x, ok := ratOf(v)
	for i := range n.nums {
		c := &n.nums[i]
		var r int
		if ok {
			r = x.Cmp(c.rat)
		} else {
			r = compareUnreadable(v, c.rat)
		}
		var pass bool
		switch c.op {
		case opMin:
			pass = r >= 0
		case opMax:
			pass = r <= 0
		case opExMin:
			pass = r > 0
		default:
			pass = r < 0
		}
		if !pass {
			cl.fail(emit, numberKind(c, v, x, ok))
			valid = false
		}
	}
	if c := n.multipleOf; c != nil {
		if !ok || !new(big.Rat).Quo(x, c.rat).IsInt() {
			cl.fail(emit, numberKind(c, v, x, ok))
			valid = false
		}
	}
	return valid
}

// conds applies not, allOf, anyOf, oneOf and if/then/else, in the reference's order. The errors of anyOf's
// branches are kept only when none matches; those of oneOf only when none matches, and when two match the
// one error is oneOf's own; the reference stops anyOf at the first match and oneOf at the second.
func (cl *collector) conds(n *node, v any, emit bool) bool {
	valid := true
	if n.not != nil && cl.validate(n.not, v, false) {
		cl.fail(emit, &kind.Not{})
		valid = false
	}
	for _, a := range n.allOf {
		if !cl.validate(a, v, emit) {
			valid = false
			if !emit {
				return false
			}
		}
	}
	if len(n.anyOf) > 0 {
		mark := len(cl.leaves)
		matched := false
		for _, a := range n.anyOf {
			if cl.validate(a, v, emit) {
				matched = true
				break
			}
		}
		if matched {
			cl.leaves = cl.leaves[:mark]
		} else {
			valid = false
		}
	}
	// oneOf: matched is the first branch that passes, -1 while none has, -2 once a second one has.
	if len(n.oneOf) > 0 {
		mark := len(cl.leaves)
		matched := -1
		for i, a := range n.oneOf {
			if matched == -1 {
				if cl.validate(a, v, emit) {
					matched = i
				}
				continue
			}
			if cl.validate(a, v, false) {
				cl.leaves = cl.leaves[:mark]
				cl.fail(emit, &kind.OneOf{Subschemas: []int{matched, i}})
				valid, matched = false, -2
				break
			}
		}
		switch matched {
		case -1:
			valid = false
		case -2:
		default:
			cl.leaves = cl.leaves[:mark]
		}
	}
	if n.ifn != nil {
		if cl.validate(n.ifn, v, false) {
			if n.then != nil {
				valid = cl.validate(n.then, v, emit) && valid
			}
		} else if n.els != nil {
			valid = cl.validate(n.els, v, emit) && valid
		}
	}
	return valid
}

// numberKind returns the reference's error kind for the numeric keyword c failed by v, read as x (ok is false
// when big.Rat cannot read it: the reference then panics, and the error says what the value was).
func numberKind(c *numCheck, v any, x *big.Rat, ok bool) jsonschema.ErrorKind {
	if !ok {
		return &unreadableNumber{keyword: c.kw, got: v, want: c.rat}
	}
	switch c.op {
	case opMin:
		return &kind.Minimum{Got: x, Want: c.rat}
	case opMax:
		return &kind.Maximum{Got: x, Want: c.rat}
	case opExMin:
		return &kind.ExclusiveMinimum{Got: x, Want: c.rat}
	case opExMax:
		return &kind.ExclusiveMaximum{Got: x, Want: c.rat}
	}
	return &kind.MultipleOf{Got: x, Want: c.rat}
}

// compareUnreadable compares with bound a number beyond big.Rat's reach (an exponent beyond a million): with a
// large positive exponent it is beyond every bound, on its sign's side; with a large negative one it is a
// hair from zero, on its sign's side; with a zero mantissa it is zero.
func compareUnreadable(v any, bound *big.Rat) int {
	s := fmt.Sprint(v)
	neg := strings.HasPrefix(s, "-")
	mant, exp, _ := strings.Cut(strings.ToLower(strings.TrimPrefix(s, "-")), "e")
	if strings.Trim(mant, "0.") == "" {
		return -bound.Sign()
	}
	if !strings.HasPrefix(exp, "-") {
		if neg {
			return -1
		}
		return 1
	}
	switch {
	case !neg && bound.Sign() > 0, neg && bound.Sign() >= 0:
		return -1
	}
	return 1
}

// unreadableNumber is the error for a number beyond big.Rat's reach (an exponent beyond a million), which
// fails every numeric keyword; the reference has no error of its own for it.
type unreadableNumber struct {
	keyword string
	got     any
	want    *big.Rat
}

// KeywordPath implements jsonschema.ErrorKind.
func (k *unreadableNumber) KeywordPath() []string { return []string{k.keyword} }

// LocalizedString implements jsonschema.ErrorKind, in the form of the reference's numeric errors.
func (k *unreadableNumber) LocalizedString(p *message.Printer) string {
	want, _ := k.want.Float64()
	return p.Sprintf("%s: got %v, want %v", k.keyword, k.got, want)
}
