package docgen

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// site is a value of the document being mutated: the node, its parent (nil at the top) and its JSON pointer.
type site struct {
	n      *node
	parent *node
	ptr    string
}

// collect lists the values of a document for which keep holds, parents before children. Their pointers are
// left empty: locate fills in the one chosen.
func collect(root *node, keep func(site) bool) []site {
	var out []site
	var walk func(n, parent *node)
	walk = func(n, parent *node) {
		if st := (site{n: n, parent: parent}); keep(st) {
			out = append(out, st)
		}
		for _, m := range n.members {
			walk(m.value, n)
		}
		for _, it := range n.items {
			walk(it, n)
		}
	}
	walk(root, nil)
	return out
}

// locate returns the JSON pointer of the first occurrence of target in the document at root.
func locate(root, target *node) (string, bool) {
	if root == target {
		return "", true
	}
	for _, m := range root.members {
		if p, ok := locate(m.value, target); ok {
			return pointer("", m.name) + p, true
		}
	}
	for i, it := range root.items {
		if p, ok := locate(it, target); ok {
			return "/" + strconv.Itoa(i) + p, true
		}
	}
	return "", false
}

// pointer appends a reference token to a JSON pointer.
func pointer(ptr, token string) string {
	token = strings.ReplaceAll(token, "~", "~0")
	return ptr + "/" + strings.ReplaceAll(token, "/", "~1")
}

// replace puts v in n's place, keeping the schemas of the location.
func replace(n, v *node) {
	s := n.set
	*n = *v
	n.set = s
}

// mutation is one way of perturbing a document: at which sites it applies, and how. apply reports false
// when it changed nothing.
type mutation struct {
	name    string
	weight  int
	applies func(st site) bool
	apply   func(m *mutator, st site) (string, bool)
}

// mutations lists the perturbations, with their relative weights (the chance of each among those that
// apply somewhere in the document).
var mutations = []mutation{
	// Structure: members missing, unknown or misnamed; values of the wrong JSON type.
	{"drop-member", 4, hasMembers, (*mutator).dropMember},
	{"add-member", 3, isObject, (*mutator).addMember},
	{"wrong-type", 4, func(st site) bool { return wrongTypes(st.n.set) != 0 }, (*mutator).wrongType},
	// Numbers: at and around their bounds, spelled otherwise, beyond float64.
	{"number-bound", 4, hasNumBounds, (*mutator).numberBound},
	{"number-spelling", 2, isNumber, (*mutator).numberSpelling},
	{"number-extreme", 1, isNumber, (*mutator).numberExtreme},
	// Strings: lengths in characters of several byte sizes, escapes, patterns, formats, enums.
	{"string-length", 3, hasLengthBounds, (*mutator).stringLength},
	{"string-escape", 2, isString, (*mutator).stringEscape},
	{"name-escape", 1, hasMembers, (*mutator).nameEscape},
	{"pattern-miss", 2, hasPattern, (*mutator).patternMiss},
	{"format-miss", 4, func(st site) bool { return st.n.set.format() != "" }, (*mutator).formatMiss},
	{"enum-miss", 3, hasChoices, (*mutator).enumMiss},
	// Arrays: sizes at and past their bounds, items spoiled.
	{"array-size", 2, isArrayLocation, (*mutator).arraySize},
	{"item-wrong", 2, func(st site) bool { return st.n.kind == kArray && len(st.n.items) > 0 }, (*mutator).itemWrong},
	// The document: not an object at all; members in another order.
	{"top-level", 1, func(st site) bool { return st.parent == nil }, (*mutator).topLevel},
	{"shuffle", 3, func(st site) bool { return st.n.kind == kObject && len(st.n.members) > 1 }, (*mutator).shuffle},
}

func isObject(st site) bool   { return st.n.kind == kObject }
func hasMembers(st site) bool { return st.n.kind == kObject && len(st.n.members) > 0 }
func isNumber(st site) bool   { return st.n.kind == kNumber }
func isString(st site) bool   { return st.n.kind == kString }

func hasNumBounds(st site) bool {
	nb := st.n.set.numBounds()
	return st.n.set.types()&(tInteger|tFraction) != 0 && (nb.lo != nil || nb.hi != nil)
}

func hasLengthBounds(st site) bool {
	lo, hi := st.n.set.strBounds()
	return st.n.set.types()&tString != 0 && (lo > 0 || hi >= 0)
}

// isArrayLocation reports an array, or a location whose "type" asks for one.
func isArrayLocation(st site) bool {
	t := st.n.set.types()
	return st.n.kind == kArray || (t&tArray != 0 && t != tAny)
}

func hasPattern(st site) bool {
	return len(st.n.set.patterns()) > 0 || (len(st.n.members) > 0 && len(st.n.set.nameSet().patterns()) > 0)
}

func hasChoices(st site) bool {
	cs, ok := st.n.set.choices()
	return ok && len(cs) > 0
}

// mutator applies mutations with a source of randomness and a builder for the values they need.
type mutator struct {
	r      *rand.Rand
	b      *builder
	others []string // near misses for string const and enum values (WithNearMisses)
}

// mutate applies one mutation to the document and describes it; false when none applied after a few tries.
func (m *mutator) mutate(root *node) (string, bool) {
	total := 0
	for _, mu := range mutations {
		total += mu.weight
	}
	// A mutation at random by weight, then a site where it applies; retry when there is none.
	for range 32 {
		k := m.r.IntN(total)
		mu := mutations[0]
		for _, x := range mutations {
			if k < x.weight {
				mu = x
				break
			}
			k -= x.weight
		}
		sites := collect(root, mu.applies)
		if len(sites) == 0 {
			continue
		}
		st := sites[m.r.IntN(len(sites))]
		st.ptr, _ = locate(root, st.n)
		if desc, ok := mu.apply(m, st); ok {
			return mu.name + ": " + desc, true
		}
	}
	return "", false
}

func at(ptr string) string {
	if ptr == "" {
		return "(document)"
	}
	return ptr
}

// dropMember removes a member, a required one three times in four.
func (m *mutator) dropMember(st site) (string, bool) {
	n := st.n
	req := n.set.required()
	var idx []int
	for i, mb := range n.members {
		if slices.Contains(req, mb.name) {
			idx = append(idx, i)
		}
	}
	i := m.r.IntN(len(n.members))
	if len(idx) > 0 && m.r.IntN(4) != 0 {
		i = idx[m.r.IntN(len(idx))]
	}
	name := n.members[i].name
	n.members = slices.Delete(n.members, i, i+1)
	return pointer(st.ptr, name), true
}

// oddNames are member names that schemas tend to refuse, or that need escaping in a JSON pointer.
var oddNames = []string{
	"Trace_ID", "x-trace", "", strings.Repeat("a", 21), "été", "data2", "a/b~c", "\x00", "UPPER", "id ",
	"ＩＤ", "$ref", "__proto__", "1", "traceparent", "😀",
}

// addMember adds a member at a random position: an extension the schemas allow, a known optional member,
// or an odd name; its value valid for the name half of the time, else anything.
func (m *mutator) addMember(st site) (string, bool) {
	n := st.n
	var name string
	switch m.r.IntN(3) {
	case 0:
		v, err := m.b.name(n.set.nameSet())
		if err != nil {
			return "", false
		}
		name = v
	case 1:
		known := n.set.known()
		if len(known) == 0 {
			return "", false
		}
		name = known[m.r.IntN(len(known))]
	default:
		name = oddNames[m.r.IntN(len(oddNames))]
	}
	if n.member(name) != nil {
		return "", false // never a duplicate name: validators may differ on those
	}
	var v *node
	if m.r.IntN(2) == 0 {
		v, _ = m.b.value(n.set.propSet(name), 2)
	}
	if v == nil {
		v, _ = m.b.value(nil, 2)
	}
	if v == nil {
		return "", false
	}
	i := m.r.IntN(len(n.members) + 1)
	n.members = slices.Insert(n.members, i, &member{name: name, value: v})
	return pointer(st.ptr, name), true
}

// wrongTypes returns the JSON types a location's schemas refuse (0 when they allow any).
func wrongTypes(s set) int {
	if !s.typed() {
		return 0
	}
	allowed := s.types()
	if cs, ok := s.choices(); ok {
		allowed = 0
		for _, c := range cs {
			allowed |= typeOf(c)
		}
	}
	return tAny &^ allowed
}

// wrongType replaces a value with one of a type its schemas refuse.
func (m *mutator) wrongType(st site) (string, bool) {
	v := m.ofType(st.n, wrongTypes(st.n.set))
	if v == nil {
		return "", false
	}
	replace(st.n, v)
	return at(st.ptr), true
}

// ofType returns a value of one of the types in bits, close to n where it can be (a number's digits as a
// string, a string in an array).
func (m *mutator) ofType(n *node, bits int) *node {
	var ts []int
	for t := 1; t <= tFraction; t <<= 1 {
		if bits&t != 0 {
			ts = append(ts, t)
		}
	}
	if len(ts) == 0 {
		return nil
	}
	c := *n
	c.set = nil
	switch ts[m.r.IntN(len(ts))] {
	case tNull:
		return &node{kind: kLiteral, raw: "null"}
	case tBoolean:
		return &node{kind: kLiteral, raw: strconv.FormatBool(m.r.IntN(2) == 0)}
	case tObject:
		if m.r.IntN(2) == 0 {
			return &node{kind: kObject}
		}
		return &node{kind: kObject, members: []*member{{name: "value", value: &c}}}
	case tArray:
		if m.r.IntN(2) == 0 {
			return &node{kind: kArray}
		}
		return &node{kind: kArray, items: []*node{&c}}
	case tString:
		switch n.kind {
		case kNumber, kLiteral:
			return &node{kind: kString, str: n.raw}
		}
		return &node{kind: kString, str: pick(m.r, []string{"x", "", "1", "true", "null"})}
	case tInteger:
		if n.kind == kString {
			if _, err := strconv.Atoi(n.str); err == nil {
				return &node{kind: kNumber, raw: n.str}
			}
		}
		return &node{kind: kNumber, raw: pick(m.r, []string{"0", "7", "-1", "1.0", "1e2"})}
	default:
		return &node{kind: kNumber, raw: pick(m.r, []string{"1.5", "0.5", "-0.25", "1e-7", "0.1e1"})}
	}
}

// deltas are the distances from a bound that numberBound steps: down to ones float64 cannot represent
// next to the bound.
var deltas = []string{"1", "0.5", "0.1", "0.000001", "0.000000000001", "0.00000000000000001", "1e-30"}

// numberBound sets a number at a bound, just past it or just inside it, spelled in one of several ways.
func (m *mutator) numberBound(st site) (string, bool) {
	nb := st.n.set.numBounds()
	bound, below := nb.lo, true
	if bound == nil || (nb.hi != nil && m.r.IntN(2) == 0) {
		bound, below = nb.hi, false
	}
	// At a bound of 0: negative zero in several spellings (equal to 0, so valid), and -1e-400, below 0
	// in exact arithmetic but 0 in float64.
	if bound.Sign() == 0 && m.r.IntN(4) == 0 {
		replace(st.n, &node{kind: kNumber, raw: pick(m.r, []string{"-0", "-0.0", "-0e0", "0E-5", "-1e-400"})})
		return at(st.ptr) + " " + st.n.raw, true
	}
	// For an integer location, half the time a step of one, the smallest change that keeps the type.
	d, _ := new(big.Rat).SetString(deltas[m.r.IntN(len(deltas))])
	if st.n.set.types()&tFraction == 0 && m.r.IntN(2) == 0 {
		d.SetInt64(1)
	}
	v := new(big.Rat).Set(bound)
	switch m.r.IntN(3) {
	case 0: // past the bound
		if below {
			v.Sub(v, d)
		} else {
			v.Add(v, d)
		}
	case 1: // inside it
		if below {
			v.Add(v, d)
		} else {
			v.Sub(v, d)
		}
	}
	replace(st.n, &node{kind: kNumber, raw: spell(m.r, v)})
	return at(st.ptr) + " " + st.n.raw, true
}

// spell writes the exact value x (a finite decimal) as a JSON number: plainly, with extra zeros, with an
// integer mantissa and an exponent (1e2, 10000000000000001e-10) or in normalised scientific notation.
func spell(r *rand.Rand, x *big.Rat) string {
	dec := decimal(x)
	sign := ""
	if strings.HasPrefix(dec, "-") {
		sign, dec = "-", dec[1:]
	}
	intPart, frac, _ := strings.Cut(dec, ".")
	digitsAll := strings.TrimLeft(intPart+frac, "0")
	exp := -len(frac)
	if digitsAll == "" {
		digitsAll = "0"
	}
	e := pick(r, []string{"e", "E"})
	switch r.IntN(5) {
	case 0: // trailing zeros: 1.0 for an integer
		if frac == "" {
			return sign + intPart + pick(r, []string{".0", ".000"})
		}
		return sign + dec + "00"
	case 1: // the shortest integer mantissa: 1e6 for 1000000, 5e-1 for 0.5
		for digitsAll != "0" && strings.HasSuffix(digitsAll, "0") {
			digitsAll = digitsAll[:len(digitsAll)-1]
			exp++
		}
		plus := ""
		if exp >= 0 && r.IntN(2) == 0 {
			plus = "+"
		}
		return sign + digitsAll + e + plus + strconv.Itoa(exp)
	case 2: // one digit before the point: 1.0000000000000001e6
		mant := digitsAll[:1]
		if len(digitsAll) > 1 {
			mant += "." + digitsAll[1:]
		}
		return sign + mant + e + strconv.Itoa(exp+len(digitsAll)-1)
	}
	return sign + dec
}

// numberSpelling writes a number's value another way (the value, hence validity, stays).
func (m *mutator) numberSpelling(st site) (string, bool) {
	x, ok := new(big.Rat).SetString(st.n.raw)
	if !ok {
		return "", false
	}
	st.n.raw = spell(m.r, x)
	return at(st.ptr) + " " + st.n.raw, true
}

// extremes are numbers beyond float64 (1e400, 1e-400), past its exact integers, or with many digits.
var extremes = []string{
	"1e400", "-1e400", "1E+400", "1e-400", "-1e-400", "-0", "-0.0", "0.0000000000000000000000000000001",
	"123456789012345678901234567890", "9007199254740993", "-9007199254740993", "1.7976931348623157e308",
	"4.9e-324", "2e-324", "18446744073709551616", "0e0", "1.5", "1e2", "100.0", "0.30000000000000000001",
	"1000000.0000000001", "86400000.00000001", "99.99999999999999999", "1E0",
}

// numberExtreme replaces a number with an extreme one.
func (m *mutator) numberExtreme(st site) (string, bool) {
	st.n.raw = pick(m.r, extremes)
	return at(st.ptr) + " " + st.n.raw, true
}

// wideRunes are characters of one to four bytes in UTF-8, and a combining mark.
var wideRunes = []rune{'a', 'é', '日', '😀', '\u0301', 'Z'}

// stringLength sets a string to a length at or just past one of its bounds, in characters of various
// UTF-8 sizes (so that counting bytes gives the wrong answer).
func (m *mutator) stringLength(st site) (string, bool) {
	lo, hi := st.n.set.strBounds()
	var sizes []int
	if lo > 0 {
		sizes = append(sizes, lo-1, lo)
	}
	if hi >= 0 {
		sizes = append(sizes, hi, hi+1)
	}
	size := sizes[m.r.IntN(len(sizes))]
	if size > 8192 {
		return "", false
	}
	rs := make([]rune, size)
	wide := wideRunes[m.r.IntN(len(wideRunes))]
	for i := range rs {
		rs[i] = wide
		if m.r.IntN(3) == 0 {
			rs[i] = wideRunes[m.r.IntN(len(wideRunes))]
		}
	}
	replace(st.n, &node{kind: kString, str: string(rs)})
	return fmt.Sprintf("%s %d characters, %d bytes", at(st.ptr), size, len(st.n.str)), true
}

// specials are characters that JSON escapes, that look alike or that are invisible.
var specials = []string{`"`, `\`, "/", "é", "😀", "\x00", "\x1f", "\u2028", "\ufeff", "\x7f", "\t", "\ue000"}

// stringEscape spells a string with escapes (same value), adds a character that needs one, or adds an
// unpaired UTF-16 surrogate (which decoders turn into U+FFFD).
func (m *mutator) stringEscape(st site) (string, bool) {
	n := st.n
	switch m.r.IntN(4) {
	case 0:
		n.esc = escSome
		return at(st.ptr) + " some characters escaped", true
	case 1:
		n.esc = escAll
		return at(st.ptr) + " every character escaped", true
	case 2:
		rs := []rune(n.str)
		i := m.r.IntN(len(rs) + 1)
		c := pick(m.r, specials)
		n.str = string(rs[:i]) + c + string(rs[i:])
		n.rawStr = ""
		return fmt.Sprintf("%s %q inserted", at(st.ptr), c), true
	default:
		// The string's current spelling, then a high or low surrogate alone, or a pair in the wrong order.
		w := writer{r: m.r}
		w.string(n.str, n.rawStr, n.esc)
		body := string(w.buf[1 : len(w.buf)-1])
		lone := pick(m.r, []string{`\ud83d`, `\uDE00`, `\ude00\ud83d`})
		if m.r.IntN(2) == 0 {
			n.rawStr = lone + body
		} else {
			n.rawStr = body + lone
		}
		return at(st.ptr) + " unpaired surrogate " + lone, true
	}
}

// nameEscape spells member names with escapes (same names).
func (m *mutator) nameEscape(st site) (string, bool) {
	for _, mb := range st.n.members {
		if m.r.IntN(2) == 0 {
			mb.nameEsc = escSome + escaping(m.r.IntN(2))
		}
	}
	return at(st.ptr) + " member names", true
}

// patternMiss replaces a string with one close to a match of its pattern but not matching, or renames a
// member to a near miss of the "propertyNames" pattern.
func (m *mutator) patternMiss(st site) (string, bool) {
	if names := st.n.set.nameSet().patterns(); len(names) > 0 && len(st.n.members) > 0 &&
		(len(st.n.set.patterns()) == 0 || m.r.IntN(2) == 0) {
		mb := st.n.members[m.r.IntN(len(st.n.members))]
		miss, ok := nearMiss(m.r, names[0], mb.name)
		if !ok || st.n.member(miss) != nil {
			return "", false
		}
		old := mb.name
		mb.name = miss
		return fmt.Sprintf("%s renamed to %q", pointer(st.ptr, old), miss), true
	}
	p := st.n.set.patterns()[0]
	v := st.n.str
	if st.n.kind != kString || !p.re.MatchString(v) {
		var sb strings.Builder
		matching(m.r, &sb, p.ast)
		v = sb.String()
	}
	miss, ok := nearMiss(m.r, p, v)
	if !ok {
		return "", false
	}
	replace(st.n, &node{kind: kString, str: miss})
	return fmt.Sprintf("%s %q", at(st.ptr), miss), true
}

// formatMiss replaces a string with one at the edge of its format.
func (m *mutator) formatMiss(st site) (string, bool) {
	v := formatMiss(m.r, st.n.set.format())
	replace(st.n, &node{kind: kString, str: v})
	return fmt.Sprintf("%s %q", at(st.ptr), v), true
}

// enumMiss replaces a const or enum value with a near miss: another case, a space, a character more or
// less, the same text as another JSON type, one of the strings given to WithNearMisses, or the same
// value spelled differently (valid: escapes, number notation).
func (m *mutator) enumMiss(st site) (string, bool) {
	cs, _ := st.n.set.choices()
	c := cs[m.r.IntN(len(cs))]
	v := fromValue(c)
	switch c := c.(type) {
	case string:
		variants := []*node{
			{kind: kString, str: strings.ToUpper(c)},
			{kind: kString, str: c + " "},
			{kind: kString, str: " " + c},
			{kind: kString, str: c + "x"},
			{kind: kString, str: c, esc: escAll},
		}
		if c != "" {
			rs := []rune(c)
			variants = append(variants,
				&node{kind: kString, str: string(rs[:len(rs)-1])},
				&node{kind: kString, str: strings.ToUpper(string(rs[:1])) + string(rs[1:])})
			if _, ok := new(big.Rat).SetString(c); ok && strings.Trim(c, "0123456789.-") == "" {
				variants = append(variants, &node{kind: kNumber, raw: c})
			}
		}
		v = variants[m.r.IntN(len(variants))]
		if len(m.others) > 0 && m.r.IntN(4) == 0 {
			v = &node{kind: kString, str: m.others[m.r.IntN(len(m.others))]}
		}
	default:
		if v.kind == kNumber && m.r.IntN(2) == 0 {
			if x, ok := new(big.Rat).SetString(v.raw); ok {
				v.raw = spell(m.r, x)
				break
			}
		}
		if m.r.IntN(2) == 0 {
			v = &node{kind: kString, str: v.raw}
		}
	}
	replace(st.n, v)
	w := writer{r: m.r}
	w.value(v)
	return at(st.ptr) + " " + string(w.buf), true
}

// arraySize resizes an array to empty, or to one below, at or just above its bounds.
func (m *mutator) arraySize(st site) (string, bool) {
	lo, hi := st.n.set.arrayBounds()
	sizes := []int{0}
	if lo > 0 {
		sizes = append(sizes, lo-1, lo)
	}
	if hi >= 0 {
		sizes = append(sizes, hi, hi+1, hi+1+m.r.IntN(8))
	} else {
		sizes = append(sizes, lo+10)
	}
	size := sizes[m.r.IntN(len(sizes))]
	// Past a few items, the first ones repeat: the size matters, not the variety.
	v, err := m.b.items(st.n.set, min(size, 4), 1)
	if err != nil {
		return "", false
	}
	for i := len(v.items); i < size; i++ {
		v.items = append(v.items, v.items[i%4])
	}
	replace(st.n, v)
	return fmt.Sprintf("%s %d items", at(st.ptr), size), true
}

// itemWrong spoils one item of an array: a value of a type the items refuse, a scalar inserted, or an item
// object missing a member.
func (m *mutator) itemWrong(st site) (string, bool) {
	n := st.n
	i := m.r.IntN(len(n.items))
	it := n.items[i]
	ptr := st.ptr + "/" + strconv.Itoa(i)
	switch m.r.IntN(3) {
	case 0:
		v := m.ofType(it, wrongTypes(it.set))
		if v == nil {
			return "", false
		}
		replace(it, v)
		return ptr + " of a wrong type", true
	case 1:
		v := m.ofType(it, tAny&^tObject&^tArray)
		n.items = slices.Insert(n.items, i, v)
		return ptr + " scalar inserted", true
	default:
		if it.kind != kObject || len(it.members) == 0 {
			return "", false
		}
		return m.dropMember(site{n: it, parent: n, ptr: ptr})
	}
}

// topLevel replaces the whole document with something that is not the expected object.
func (m *mutator) topLevel(st site) (string, bool) {
	inner := *st.n
	var v *node
	switch m.r.IntN(7) {
	case 0:
		v = &node{kind: kArray}
	case 1:
		v = &node{kind: kArray, items: []*node{&inner}}
	case 2:
		v = &node{kind: kString, str: pick(m.r, []string{"page_view", "", "{}"})}
	case 3:
		v = &node{kind: kNumber, raw: pick(m.r, []string{"1", "0", "-1.5e3"})}
	case 4:
		v = &node{kind: kLiteral, raw: pick(m.r, []string{"null", "true", "false"})}
	case 5:
		v = &node{kind: kObject}
	default:
		v = &node{kind: kObject, members: []*member{{name: "event", value: &inner}}}
	}
	replace(st.n, v)
	w := writer{r: m.r}
	w.value(&node{kind: v.kind, raw: v.raw, str: v.str})
	return "document replaced by " + string(w.buf), true
}

// shuffle reorders the members of an object.
func (m *mutator) shuffle(st site) (string, bool) {
	ms := st.n.members
	m.r.Shuffle(len(ms), func(i, j int) { ms[i], ms[j] = ms[j], ms[i] })
	return at(st.ptr), true
}
