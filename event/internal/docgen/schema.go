package docgen

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"net/url"
	"regexp"
	"regexp/syntax"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// Resolver returns the decoded JSON Schema document stored at an absolute resource URL (without fragment),
// decoded as jsonschema.UnmarshalJSON decodes: map[string]any, []any, json.Number, string, bool and nil.
type Resolver interface {
	Resolve(url string) (any, error)
}

// ResolverFunc adapts a function to Resolver.
type ResolverFunc func(url string) (any, error)

// Resolve calls f.
func (f ResolverFunc) Resolve(url string) (any, error) { return f(url) }

// Resources is a Resolver over a fixed set of decoded documents, keyed by their absolute URL.
type Resources map[string]any

// Resolve returns the document stored under url.
func (r Resources) Resolve(url string) (any, error) {
	doc, ok := r[url]
	if !ok {
		return nil, fmt.Errorf("no schema resource %q", url)
	}
	return doc, nil
}

var (
	_ Resolver = ResolverFunc(nil)
	_ Resolver = Resources(nil)
)

// schema is one loaded (sub)schema, reduced to the keywords the generator understands. Absent keywords
// have their zero value, except the upper bounds, which are -1 when absent.
type schema struct {
	loc   string // absolute location, for messages
	never bool   // the false schema

	// Any instance.
	types    []string // the "type" names; nil when absent
	hasConst bool
	constVal any
	hasEnum  bool
	enum     []any

	// Objects.
	required      []string
	props         map[string]*schema
	additional    *schema // "additionalProperties"; nil when absent
	propertyNames *schema

	// Arrays.
	items    *schema
	minItems int
	maxItems int // -1: no bound

	// Numbers, exactly.
	minimum     *big.Rat
	maximum     *big.Rat
	exclMinimum *big.Rat
	exclMaximum *big.Rat

	// Strings; lengths count characters (code points), not bytes.
	minLength int
	maxLength int // -1: no bound
	pattern   *pattern
	format    string

	// Subschemas applying to the same instance.
	allOf []*schema // allOf members and the $ref target, which applies alongside the siblings
}

// pattern is a compiled "pattern" keyword: the matcher and the syntax tree strings are generated from.
type pattern struct {
	src string
	re  *regexp.Regexp
	ast *syntax.Regexp
}

// annotations are keywords that do not constrain instances.
var annotations = map[string]bool{
	"$schema": true, "$id": true, "$comment": true, "$defs": true, "definitions": true, "title": true,
	"description": true, "examples": true, "default": true, "deprecated": true, "readOnly": true,
	"writeOnly": true,
}

// formats are the "format" values the generator can produce and perturb.
var formats = map[string]bool{
	"date-time": true, "date": true, "time": true, "uri": true, "uri-reference": true, "uuid": true,
}

// loader turns decoded schema documents into schema values, resolving $ref through a Resolver.
type loader struct {
	res       Resolver
	resources map[string]any     // resource URL -> document
	refs      map[string]*schema // absolute location of a $ref target -> its schema (ends cycles)
}

// load returns the schema at an absolute URL, whose fragment, if any, is a JSON pointer.
func (l *loader) load(abs string) (*schema, error) {
	if s, ok := l.refs[abs]; ok {
		return s, nil
	}
	resURL, frag, _ := strings.Cut(abs, "#")
	doc, ok := l.resources[resURL]
	if !ok {
		d, err := l.res.Resolve(resURL)
		if err != nil {
			return nil, fmt.Errorf("resolve %s: %w", resURL, err)
		}
		doc = d
		l.resources[resURL] = doc
	}
	// Follow the fragment, a JSON pointer, within the resource (percent-decoded, then ~1 and ~0).
	target := doc
	if frag != "" {
		if !strings.HasPrefix(frag, "/") {
			return nil, fmt.Errorf("$ref %s: only JSON pointer fragments are supported", abs)
		}
		for _, tok := range strings.Split(frag[1:], "/") {
			tok, err := url.PathUnescape(tok)
			if err != nil {
				return nil, fmt.Errorf("$ref %s: %w", abs, err)
			}
			tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
			switch v := target.(type) {
			case map[string]any:
				target, ok = v[tok]
			case []any:
				i, err := strconv.Atoi(tok)
				ok = err == nil && i >= 0 && i < len(v)
				if ok {
					target = v[i]
				}
			default:
				ok = false
			}
			if !ok {
				return nil, fmt.Errorf("$ref %s: no such location", abs)
			}
		}
	}
	// Registered before it is filled, so that a schema referring back to itself ends the recursion.
	s := &schema{}
	l.refs[abs] = s
	base, err := url.Parse(resURL)
	if err != nil {
		return nil, fmt.Errorf("schema URL %s: %w", resURL, err)
	}
	if err := l.fill(s, target, base, abs); err != nil {
		return nil, err
	}
	return s, nil
}

// sub loads an embedded subschema.
func (l *loader) sub(v any, base *url.URL, loc string) (*schema, error) {
	s := &schema{}
	if err := l.fill(s, v, base, loc); err != nil {
		return nil, err
	}
	return s, nil
}

// fill reads the decoded schema v (located at loc, with base URI base) into s.
func (l *loader) fill(s *schema, v any, base *url.URL, loc string) error {
	s.loc = loc
	s.maxItems, s.maxLength = -1, -1
	switch v := v.(type) {
	case bool:
		s.never = !v
		return nil
	case map[string]any:
		return l.fillObject(s, v, base, loc)
	default:
		return fmt.Errorf("%s: a schema must be an object or a boolean, got %T", loc, v)
	}
}

func (l *loader) fillObject(s *schema, m map[string]any, base *url.URL, loc string) error {
	if id, ok := m["$id"].(string); ok {
		u, err := base.Parse(id)
		if err != nil {
			return fmt.Errorf("%s: $id: %w", loc, err)
		}
		base = u
	}
	// Keywords in a fixed order, so that errors and generation do not depend on map order.
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := m[k]
		at := loc + "/" + k
		var err error
		switch {
		case annotations[k] || strings.HasPrefix(k, "x-"):
		case k == "type":
			s.types, err = typeList(v)
		case k == "const":
			s.hasConst, s.constVal = true, v
		case k == "enum":
			vs, ok := v.([]any)
			if !ok {
				err = fmt.Errorf("not an array")
			}
			s.hasEnum, s.enum = true, vs
		case k == "required":
			s.required, err = stringList(v)
		case k == "properties":
			props, ok := v.(map[string]any)
			if !ok {
				err = fmt.Errorf("not an object")
				break
			}
			s.props = map[string]*schema{}
			for name, ps := range props {
				if s.props[name], err = l.sub(ps, base, at+"/"+name); err != nil {
					return err
				}
			}
		case k == "additionalProperties":
			s.additional, err = l.sub(v, base, at)
		case k == "propertyNames":
			s.propertyNames, err = l.sub(v, base, at)
		case k == "items":
			s.items, err = l.sub(v, base, at)
		case k == "minItems":
			s.minItems, err = count(v)
		case k == "maxItems":
			s.maxItems, err = count(v)
		case k == "minLength":
			s.minLength, err = count(v)
		case k == "maxLength":
			s.maxLength, err = count(v)
		case k == "minimum":
			s.minimum, err = rat(v)
		case k == "maximum":
			s.maximum, err = rat(v)
		case k == "exclusiveMinimum":
			s.exclMinimum, err = rat(v)
		case k == "exclusiveMaximum":
			s.exclMaximum, err = rat(v)
		case k == "pattern":
			src, ok := v.(string)
			if !ok {
				err = fmt.Errorf("not a string")
				break
			}
			s.pattern, err = compilePattern(src)
		case k == "format":
			f, ok := v.(string)
			if !ok || !formats[f] {
				err = fmt.Errorf("format %v is not supported", v)
			}
			s.format = f
		case k == "allOf":
			vs, ok := v.([]any)
			if !ok {
				err = fmt.Errorf("not an array")
				break
			}
			for i, x := range vs {
				sub, err := l.sub(x, base, at+"/"+strconv.Itoa(i))
				if err != nil {
					return err
				}
				s.allOf = append(s.allOf, sub)
			}
		case k == "$ref":
			ref, ok := v.(string)
			if !ok {
				err = fmt.Errorf("not a string")
				break
			}
			u, perr := base.Parse(ref)
			if perr != nil {
				err = perr
				break
			}
			// In draft 2020-12, $ref applies alongside its sibling keywords: one more allOf member.
			target, lerr := l.load(u.String())
			if lerr != nil {
				return fmt.Errorf("%s: %w", at, lerr)
			}
			s.allOf = append(s.allOf, target)
		default:
			err = fmt.Errorf("keyword is not supported by the generator")
		}
		if err != nil {
			return fmt.Errorf("%s: %w", at, err)
		}
	}
	return nil
}

// compilePattern compiles a "pattern" keyword the way the reference validator does (Go's regexp) and keeps
// its syntax tree for generation.
func compilePattern(src string) (*pattern, error) {
	re, err := regexp.Compile(src)
	if err != nil {
		return nil, fmt.Errorf("pattern %q: %w", src, err)
	}
	ast, err := syntax.Parse(src, syntax.Perl)
	if err != nil {
		return nil, fmt.Errorf("pattern %q: %w", src, err)
	}
	if err := checkSyntax(ast); err != nil {
		return nil, fmt.Errorf("pattern %q: %w", src, err)
	}
	return &pattern{src: src, re: re, ast: ast}, nil
}

func typeList(v any) ([]string, error) {
	switch v := v.(type) {
	case string:
		return []string{v}, nil
	case []any:
		return stringList(v)
	}
	return nil, fmt.Errorf("not a string or an array")
}

func stringList(v any) ([]string, error) {
	vs, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("not an array")
	}
	out := make([]string, 0, len(vs))
	for _, x := range vs {
		s, ok := x.(string)
		if !ok {
			return nil, fmt.Errorf("%v is not a string", x)
		}
		out = append(out, s)
	}
	return out, nil
}

// rat reads a JSON number exactly.
func rat(v any) (*big.Rat, error) {
	var s string
	switch v := v.(type) {
	case json.Number:
		s = v.String()
	case float64:
		s = strconv.FormatFloat(v, 'g', -1, 64)
	default:
		return nil, fmt.Errorf("%v is not a number", v)
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return nil, fmt.Errorf("%q is not a number", s)
	}
	return r, nil
}

// count reads a non-negative integer keyword value.
func count(v any) (int, error) {
	r, err := rat(v)
	if err != nil {
		return 0, err
	}
	if !r.IsInt() || r.Sign() < 0 || !r.Num().IsInt64() || r.Num().Int64() > math.MaxInt32 {
		return 0, fmt.Errorf("%v is not a non-negative integer", v)
	}
	return int(r.Num().Int64()), nil
}

// set is the conjunction of the schemas that apply at one instance location.
type set []*schema

// flatten returns the schemas in ss and, transitively, their allOf members (and $ref targets), once each.
func flatten(ss ...*schema) set {
	var out set
	var walk func(s *schema)
	walk = func(s *schema) {
		// Each schema once: this also ends cycles of allOf and $ref.
		if s == nil || slices.Contains(out, s) {
			return
		}
		out = append(out, s)
		for _, a := range s.allOf {
			walk(a)
		}
	}
	for _, s := range ss {
		walk(s)
	}
	return out
}

// never reports whether no instance satisfies one of the schemas of the set.
func (s set) never() bool {
	for _, x := range s {
		if x.never {
			return true
		}
	}
	return false
}

// propSet is the set that applies to the member name of an object at this location: each schema's
// "properties" entry for it, or else its "additionalProperties".
func (s set) propSet(name string) set {
	var out []*schema
	for _, x := range s {
		if p, ok := x.props[name]; ok {
			out = append(out, p)
		} else if x.additional != nil {
			out = append(out, x.additional)
		}
	}
	return flatten(out...)
}

// itemSet is the set that applies to every item of an array at this location.
func (s set) itemSet() set {
	var out []*schema
	for _, x := range s {
		if x.items != nil {
			out = append(out, x.items)
		}
	}
	return flatten(out...)
}

// nameSet is the set every member name of an object at this location must satisfy.
func (s set) nameSet() set {
	var out []*schema
	for _, x := range s {
		if x.propertyNames != nil {
			out = append(out, x.propertyNames)
		}
	}
	return flatten(out...)
}

// required lists the required member names, in schema order, once each.
func (s set) required() []string {
	var out []string
	for _, x := range s {
		for _, n := range x.required {
			if !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	return out
}

// known lists the names of the "properties" of the set, sorted.
func (s set) known() []string {
	var out []string
	for _, x := range s {
		for n := range x.props {
			if !slices.Contains(out, n) {
				out = append(out, n)
			}
		}
	}
	sort.Strings(out)
	return out
}

// JSON types as the generator distinguishes them: an integer is a number with no fractional part.
const (
	tNull = 1 << iota
	tBoolean
	tObject
	tArray
	tString
	tInteger
	tFraction // a number that is not an integer
	tAny      = tNull | tBoolean | tObject | tArray | tString | tInteger | tFraction
)

// typeBits maps the "type" keyword's names to type bits.
var typeBits = map[string]int{
	"null": tNull, "boolean": tBoolean, "object": tObject, "array": tArray, "string": tString,
	"integer": tInteger, "number": tInteger | tFraction,
}

// types returns the type bits every schema of the set allows.
func (s set) types() int {
	t := tAny
	for _, x := range s {
		if x.types == nil {
			continue
		}
		b := 0
		for _, n := range x.types {
			b |= typeBits[n]
		}
		t &= b
	}
	return t
}

// typed reports whether some schema of the set restricts the type (by "type", "const" or "enum").
func (s set) typed() bool {
	for _, x := range s {
		if x.types != nil || x.hasConst || x.hasEnum {
			return true
		}
	}
	return false
}

// strBounds returns the string length bounds of the set (max -1 when unbounded).
func (s set) strBounds() (lo, hi int) {
	hi = -1
	for _, x := range s {
		lo = max(lo, x.minLength)
		if x.maxLength >= 0 && (hi < 0 || x.maxLength < hi) {
			hi = x.maxLength
		}
	}
	return lo, hi
}

// arrayBounds returns the array size bounds of the set (max -1 when unbounded).
func (s set) arrayBounds() (lo, hi int) {
	hi = -1
	for _, x := range s {
		lo = max(lo, x.minItems)
		if x.maxItems >= 0 && (hi < 0 || x.maxItems < hi) {
			hi = x.maxItems
		}
	}
	return lo, hi
}

// patterns returns the patterns of the set.
func (s set) patterns() []*pattern {
	var out []*pattern
	for _, x := range s {
		if x.pattern != nil {
			out = append(out, x.pattern)
		}
	}
	return out
}

// format returns the format of the set ("" for none).
func (s set) format() string {
	for _, x := range s {
		if x.format != "" {
			return x.format
		}
	}
	return ""
}

// numBounds is the range a number of this location must fall in; nil ends are open.
type numBounds struct {
	lo, hi         *big.Rat
	loExcl, hiExcl bool
}

// numBounds combines the minimum, maximum, exclusiveMinimum and exclusiveMaximum of the set.
func (s set) numBounds() numBounds {
	var b numBounds
	for _, x := range s {
		if x.minimum != nil && (b.lo == nil || x.minimum.Cmp(b.lo) > 0) {
			b.lo, b.loExcl = x.minimum, false
		}
		// On a tie, the exclusive bound is the stricter.
		if x.exclMinimum != nil && (b.lo == nil || x.exclMinimum.Cmp(b.lo) >= 0) {
			b.lo, b.loExcl = x.exclMinimum, true
		}
		if x.maximum != nil && (b.hi == nil || x.maximum.Cmp(b.hi) < 0) {
			b.hi, b.hiExcl = x.maximum, false
		}
		if x.exclMaximum != nil && (b.hi == nil || x.exclMaximum.Cmp(b.hi) <= 0) {
			b.hi, b.hiExcl = x.exclMaximum, true
		}
	}
	return b
}

// choices returns the values "const" and "enum" allow (nil, false when neither is present): the first
// const or enum, filtered by every other const and enum of the set.
func (s set) choices() ([]any, bool) {
	var out []any
	constrained := false
	for _, x := range s {
		var vs []any
		switch {
		case x.hasConst:
			vs = []any{x.constVal}
		case x.hasEnum:
			vs = x.enum
		default:
			continue
		}
		if !constrained {
			out, constrained = slices.Clone(vs), true
			continue
		}
		out = slices.DeleteFunc(out, func(v any) bool {
			return !slices.ContainsFunc(vs, func(w any) bool { return equal(v, w) })
		})
	}
	return out, constrained
}

// equal compares two decoded JSON values as JSON Schema does (numbers by value).
func equal(a, b any) bool {
	switch a := a.(type) {
	case map[string]any:
		b, ok := b.(map[string]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for k, v := range a {
			w, ok := b[k]
			if !ok || !equal(v, w) {
				return false
			}
		}
		return true
	case []any:
		b, ok := b.([]any)
		if !ok || len(a) != len(b) {
			return false
		}
		for i := range a {
			if !equal(a[i], b[i]) {
				return false
			}
		}
		return true
	case json.Number, float64:
		x, err1 := rat(a)
		y, err2 := rat(b)
		return err1 == nil && err2 == nil && x.Cmp(y) == 0
	default:
		return a == b
	}
}

// typeOf returns the type bit of a decoded JSON value.
func typeOf(v any) int {
	switch v := v.(type) {
	case nil:
		return tNull
	case bool:
		return tBoolean
	case map[string]any:
		return tObject
	case []any:
		return tArray
	case string:
		return tString
	case json.Number, float64:
		if r, err := rat(v); err == nil && r.IsInt() {
			return tInteger
		}
		return tFraction
	}
	return 0
}

// acceptsString reports whether the string v satisfies the string-related keywords of every schema of the
// set (type, const, enum, lengths, pattern); formats are left out.
func (s set) acceptsString(v string) bool {
	if s.never() || s.types()&tString == 0 {
		return false
	}
	if cs, ok := s.choices(); ok && !slices.ContainsFunc(cs, func(c any) bool { return equal(c, v) }) {
		return false
	}
	lo, hi := s.strBounds()
	if n := len([]rune(v)); n < lo || (hi >= 0 && n > hi) {
		return false
	}
	for _, p := range s.patterns() {
		if !p.re.MatchString(v) {
			return false
		}
	}
	return true
}
