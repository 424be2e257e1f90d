package docgen

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// maxDepth bounds the nesting of generated values; a schema that needs more (a recursive one) fails.
const maxDepth = 24

// maxTries bounds the attempts at a string satisfying every pattern, format and length of a location.
const maxTries = 64

// errUnsatisfiable is returned when the generator finds no value for a location.
var errUnsatisfiable = errors.New("no value found")

// builder makes valid values for sets of schemas.
type builder struct {
	r *rand.Rand
}

// value returns a node satisfying every schema of s.
func (b *builder) value(s set, depth int) (*node, error) {
	if depth > maxDepth {
		return nil, fmt.Errorf("nesting deeper than %d: %w", maxDepth, errUnsatisfiable)
	}
	if s.never() {
		return nil, fmt.Errorf("%s: false schema: %w", s.where(), errUnsatisfiable)
	}
	types := s.types()
	// const and enum decide on their own; values of a type the set refuses are left out.
	if cs, ok := s.choices(); ok {
		cs = slices.DeleteFunc(cs, func(v any) bool { return typeOf(v)&types == 0 })
		if len(cs) == 0 {
			return nil, fmt.Errorf("%s: const/enum conflict with type: %w", s.where(), errUnsatisfiable)
		}
		n := fromValue(cs[b.r.IntN(len(cs))])
		n.set = s
		return n, nil
	}
	if !s.typed() {
		// Anything goes: favour scalars, and stop nesting early.
		types = tNull | tBoolean | tString | tInteger | tFraction
		if depth < 3 && b.r.IntN(4) == 0 {
			types |= tObject | tArray
		}
	}
	// One of the allowed types, at random.
	var bits []int
	for t := 1; t <= tFraction; t <<= 1 {
		if types&t != 0 {
			bits = append(bits, t)
		}
	}
	if len(bits) == 0 {
		return nil, fmt.Errorf("%s: types exclude each other: %w", s.where(), errUnsatisfiable)
	}
	var (
		n   *node
		err error
	)
	switch bits[b.r.IntN(len(bits))] {
	case tNull:
		n = &node{kind: kLiteral, raw: "null"}
	case tBoolean:
		n = &node{kind: kLiteral, raw: strconv.FormatBool(b.r.IntN(2) == 0)}
	case tObject:
		n, err = b.object(s, depth)
	case tArray:
		n, err = b.array(s, depth)
	case tString:
		var v string
		v, err = b.string(s)
		n = &node{kind: kString, str: v}
		if b.r.IntN(16) == 0 {
			n.esc = escSome
		}
	case tInteger:
		n, err = b.number(s, true)
	case tFraction:
		n, err = b.number(s, false)
	}
	if err != nil {
		return nil, err
	}
	n.set = s
	return n, nil
}

// where names the location of a set in messages.
func (s set) where() string {
	if len(s) == 0 {
		return "(unconstrained)"
	}
	return s[0].loc
}

// fromValue converts a decoded JSON value (from a schema's const or enum) to a node, members sorted.
func fromValue(v any) *node {
	switch v := v.(type) {
	case map[string]any:
		n := &node{kind: kObject}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			n.members = append(n.members, &member{name: k, value: fromValue(v[k])})
		}
		return n
	case []any:
		n := &node{kind: kArray}
		for _, x := range v {
			n.items = append(n.items, fromValue(x))
		}
		return n
	case string:
		return &node{kind: kString, str: v}
	case json.Number:
		return &node{kind: kNumber, raw: v.String()}
	case float64:
		return &node{kind: kNumber, raw: strconv.FormatFloat(v, 'g', -1, 64)}
	case bool:
		return &node{kind: kLiteral, raw: strconv.FormatBool(v)}
	}
	return &node{kind: kLiteral, raw: "null"}
}

// object returns an object with every required member, about half of the known optional ones and, now and
// then, extension members the schemas allow (named after "propertyNames" when there is one).
func (b *builder) object(s set, depth int) (*node, error) {
	n := &node{kind: kObject}
	required := s.required()
	names := slices.Clone(required)
	for _, k := range s.known() {
		if !slices.Contains(names, k) && b.r.IntN(2) == 0 {
			names = append(names, k)
		}
	}
	nameSet := s.nameSet()
	if b.r.IntN(4) == 0 {
		for range 1 + b.r.IntN(2) {
			name, err := b.name(nameSet)
			if err == nil && !slices.Contains(names, name) {
				names = append(names, name)
			}
		}
	}
	for _, name := range names {
		// A member must pass propertyNames and the schemas of its value ("properties", else
		// "additionalProperties"); an optional one that cannot is left out.
		ps := s.propSet(name)
		if (len(nameSet) > 0 && !nameSet.acceptsString(name)) || ps.never() {
			if slices.Contains(required, name) {
				return nil, fmt.Errorf("%s: required member %q is not allowed: %w", s.where(), name, errUnsatisfiable)
			}
			continue
		}
		v, err := b.value(ps, depth+1)
		if err != nil {
			if slices.Contains(required, name) {
				return nil, err
			}
			continue
		}
		n.members = append(n.members, &member{name: name, value: v})
	}
	return n, nil
}

// name returns a member name satisfying the "propertyNames" set ns.
func (b *builder) name(ns set) (string, error) {
	if len(ns) == 0 {
		return word(b.r, 1, 10), nil
	}
	return b.string(ns)
}

// array returns an array of a size within the bounds (at most three above the minimum).
func (b *builder) array(s set, depth int) (*node, error) {
	lo, hi := s.arrayBounds()
	if hi < 0 || hi > lo+3 {
		hi = lo + 3
	}
	if hi < lo {
		return nil, fmt.Errorf("%s: minItems above maxItems: %w", s.where(), errUnsatisfiable)
	}
	return b.items(s, lo+b.r.IntN(hi-lo+1), depth)
}

// items returns an array of count valid items.
func (b *builder) items(s set, count, depth int) (*node, error) {
	n := &node{kind: kArray}
	is := s.itemSet()
	for range count {
		it, err := b.value(is, depth+1)
		if err != nil {
			return nil, err
		}
		n.items = append(n.items, it)
	}
	return n, nil
}

// textRunes are the characters of free text: mostly ASCII letters, then characters that JSON escapes or
// that take two to four bytes in UTF-8.
var textRunes = []rune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 -_.:" +
	"\"\\/\n\t\x01<>&'éßñ日本😀\u2028\u0301")

// string returns a string satisfying the set's string keywords: from the format when there is one, else
// from the first pattern, else free text of a length within the bounds.
func (b *builder) string(s set) (string, error) {
	lo, hi := s.strBounds()
	pats, format := s.patterns(), s.format()
	for range maxTries {
		var v string
		switch {
		case format != "":
			v = formatValue(b.r, format)
		case len(pats) > 0:
			var sb strings.Builder
			matching(b.r, &sb, pats[0].ast)
			v = sb.String()
		default:
			v = b.text(lo, hi)
		}
		// The other patterns and the lengths are checked, not built in: retry until they hold.
		if s.acceptsString(v) {
			return v, nil
		}
	}
	return "", fmt.Errorf("%s: no string of length %d..%d matching the pattern or format: %w", s.where(), lo, hi, errUnsatisfiable)
}

// text returns free text of lo..hi characters (at most 24 above lo; now and then exactly hi).
func (b *builder) text(lo, hi int) string {
	top := lo + 24
	if hi >= 0 && hi < top {
		top = hi
	}
	size := lo + b.r.IntN(max(top-lo, 0)+1)
	if hi >= 0 && hi <= 4096 && b.r.IntN(16) == 0 {
		size = hi
	}
	// Three characters in four are lower-case letters, so that text stays readable in failure reports.
	rs := make([]rune, size)
	for i := range rs {
		if b.r.IntN(4) == 0 {
			rs[i] = textRunes[b.r.IntN(len(textRunes))]
		} else {
			rs[i] = textRunes[b.r.IntN(26)]
		}
	}
	return string(rs)
}

// number returns an integer, or a number of few decimals, within the bounds of the set (within 1000 of the
// one bound, or of zero, when a side is open). A number that need not be an integer falls back to
// fractions when no integer fits, and takes more decimals when the range is narrow.
func (b *builder) number(s set, integer bool) (*node, error) {
	scales := []int64{100, 10000, 100000000, 1e16}
	if integer {
		scales = []int64{1}
		if s.types()&tFraction != 0 {
			scales = append(scales, 100, 10000, 100000000, 1e16)
		}
	}
	nb := s.numBounds()
	for _, sc := range scales {
		scale := big.NewInt(sc)
		lo, hi := nb.intRange(scale)
		span := big.NewInt(1000 * sc)
		switch {
		case lo == nil && hi == nil:
			lo, hi = new(big.Int).Neg(span), span
		case lo == nil:
			lo = new(big.Int).Sub(hi, span)
		case hi == nil:
			hi = new(big.Int).Add(lo, span)
		}
		if lo.Cmp(hi) > 0 {
			continue
		}
		// Now and then exactly at a bound, else anywhere in the range.
		var k *big.Int
		switch b.r.IntN(8) {
		case 0:
			k = lo
		case 1:
			k = hi
		default:
			width := new(big.Int).Sub(hi, lo)
			if !width.IsInt64() || width.Int64() >= 1<<62 {
				width.SetInt64(1<<62 - 1)
			}
			k = new(big.Int).Add(lo, big.NewInt(b.r.Int64N(width.Int64()+1)))
		}
		return &node{kind: kNumber, raw: scaled(k, sc)}, nil
	}
	return nil, fmt.Errorf("%s: empty numeric range: %w", s.where(), errUnsatisfiable)
}

// intRange returns the smallest and largest integers k with k/scale within the bounds (nil for an open end).
func (nb numBounds) intRange(scale *big.Int) (lo, hi *big.Int) {
	sc := new(big.Rat).SetInt(scale)
	if nb.lo != nil {
		x := new(big.Rat).Mul(nb.lo, sc)
		lo = ceil(x)
		if nb.loExcl && x.IsInt() {
			lo.Add(lo, big.NewInt(1))
		}
	}
	if nb.hi != nil {
		x := new(big.Rat).Mul(nb.hi, sc)
		hi = floor(x)
		if nb.hiExcl && x.IsInt() {
			hi.Sub(hi, big.NewInt(1))
		}
	}
	return lo, hi
}

func floor(x *big.Rat) *big.Int {
	q, _ := new(big.Int).DivMod(x.Num(), x.Denom(), new(big.Int))
	return q
}

func ceil(x *big.Rat) *big.Int {
	q, m := new(big.Int).DivMod(x.Num(), x.Denom(), new(big.Int))
	if m.Sign() != 0 {
		q.Add(q, big.NewInt(1))
	}
	return q
}

// scaled spells k/scale exactly, for a scale that is a power of ten, without trailing zeros.
func scaled(k *big.Int, scale int64) string {
	ds := k.String()
	places := len(strconv.FormatInt(scale, 10)) - 1
	if places == 0 {
		return ds
	}
	sign := ""
	if ds[0] == '-' {
		sign, ds = "-", ds[1:]
	}
	if len(ds) <= places {
		ds = strings.Repeat("0", places-len(ds)+1) + ds
	}
	ip, fp := ds[:len(ds)-places], strings.TrimRight(ds[len(ds)-places:], "0")
	if fp == "" {
		return sign + ip
	}
	return sign + ip + "." + fp
}

// decimal spells a rational with a finite decimal expansion exactly, without trailing zeros.
func decimal(x *big.Rat) string {
	if x.IsInt() {
		return x.Num().String()
	}
	s := x.FloatString(64)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}
