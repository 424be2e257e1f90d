package dataflow

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"sync/atomic"
	"unicode/utf8"
	"unsafe"
)

// Raw is a JSON value kept as text until something looks into it: a Lambda function's result or an
// execution's input, most of which a workflow only passes on. A *Raw may stand anywhere a value can, at the
// top or nested in maps and slices; every function of this package accepts it.
//
// Its text is exactly one valid JSON value, compact (no insignificant whitespace), valid UTF-8, whose numbers
// all fit a float64: what NewRaw checks. Looking into it decodes one level at a time: an object becomes a
// map[string]any whose members are *Raw, an array a []any of *Raw elements, a scalar its Go value. Encoding
// (AppendJSON) writes the text as it is, so the member order, number text and string escapes of data passed
// through are kept byte for byte.
//
// The one-level decoding of an object or array is cached in the Raw: state data is shared between states,
// Map iterations and Parallel branches, and read-only, so the first decoding is published atomically and
// every later reader, in any goroutine, gets the same read-only map or slice. Two goroutines decoding at once
// may both do the work; one result is kept. Scalars are decoded on each use (it is cheap).
type Raw struct {
	text []byte
	// level is the cached one-level decoding of an object or array.
	level atomic.Pointer[any]
}

// maxRawDepth is how deeply NewRaw follows nested arrays and objects; deeper text is left to the decoder.
const maxRawDepth = 10000

// maxPlainDigits is the longest number NewRaw accepts without parsing it: shorter numbers without an exponent
// always fit a float64.
const maxPlainDigits = 300

// NewRaw returns the raw value of text, which must hold one JSON value, with optional whitespace around it and
// between tokens (it is then compacted). ok is false when text is not JSON, holds invalid UTF-8, a number that
// does not fit a float64, or nests over 10000 deep: such text must be decoded eagerly (the decoder replaces
// invalid UTF-8 and reports the errors). The Raw keeps text (or its compacted copy): the caller must not
// modify it afterwards.
func NewRaw(text []byte) (r *Raw, ok bool) {
	text = bytes.TrimLeft(text, " \t\r\n")
	text = bytes.TrimRight(text, " \t\r\n")
	if len(text) == 0 || !utf8.Valid(text) {
		return nil, false
	}
	v := validator{b: text}
	end := v.value(0, 0)
	if end != len(text) {
		return nil, false
	}
	if v.spaced {
		var buf bytes.Buffer
		buf.Grow(len(text))
		if json.Compact(&buf, text) != nil {
			return nil, false
		}
		text = buf.Bytes()
	}
	return &Raw{text: text}, true
}

// Bytes returns the compact JSON text of r. It must not be modified.
func (r *Raw) Bytes() []byte { return r.text }

// Len returns the number of bytes of r's JSON text: its size as state data.
func (r *Raw) Len() int { return len(r.text) }

// MarshalJSON returns r's JSON text, so that encoding/json writes a Raw as the value it holds.
func (r *Raw) MarshalJSON() ([]byte, error) { return r.text, nil }

// String returns r's JSON text.
func (r *Raw) String() string { return string(r.text) }

// newRawAt returns the raw value of a part of a valid raw text.
func newRawAt(b []byte) *Raw { return &Raw{text: b} }

// isContainer reports whether r is an object or an array.
func (r *Raw) isContainer() bool { return r.text[0] == '{' || r.text[0] == '[' }

// decodeLevel returns the one-level decoding of r: a map[string]any or []any of *Raw, or a scalar.
func (r *Raw) decodeLevel() any {
	switch r.text[0] {
	case '{', '[':
	default:
		return r.scalar()
	}
	if p := r.level.Load(); p != nil {
		return *p
	}
	var v any
	if r.text[0] == '{' {
		m := make(map[string]any, 8)
		eachMember(r.text, func(key, val []byte) {
			// A repeated name keeps its last value, as the decoder does.
			m[decodeKey(key)] = newRawAt(val)
		})
		v = m
	} else {
		arr := make([]any, 0, rawArrayLen(r.text))
		eachElement(r.text, func(val []byte) { arr = append(arr, newRawAt(val)) })
		v = arr
	}
	if !r.level.CompareAndSwap(nil, &v) {
		return *r.level.Load()
	}
	return v
}

// scalar decodes a raw string, number, boolean or null.
func (r *Raw) scalar() any {
	b := r.text
	switch b[0] {
	case 'n':
		return nil
	case 't':
		return true
	case 'f':
		return false
	case '"':
		return decodeString(b)
	}
	// NewRaw checked that every number parses.
	f, _ := strconv.ParseFloat(unsafe.String(&b[0], len(b)), 64)
	return f
}

// decodeString decodes a JSON string literal (quotes included) of valid raw text.
func decodeString(b []byte) string {
	if bytes.IndexByte(b, '\\') < 0 {
		return string(b[1 : len(b)-1])
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return string(b[1 : len(b)-1])
	}
	return s
}

// decodeKey decodes an object member name.
func decodeKey(b []byte) string { return decodeString(b) }

// member returns the member name of a raw object, or (nil, false) when r is not an object or has no such member.
func (r *Raw) member(name string) (any, bool) {
	if r.text[0] != '{' {
		return nil, false
	}
	v, ok := r.decodeLevel().(map[string]any)[name]
	return v, ok
}

// index returns element i of a raw array (counted from the end when negative), or (nil, false) when r is not
// an array or i is out of its range. A non-negative index into an array not yet decoded is found by scanning
// the text, without decoding the elements.
func (r *Raw) index(i int) (any, bool) {
	if r.text[0] != '[' {
		return nil, false
	}
	if p := r.level.Load(); p != nil || i < 0 {
		arr := r.decodeLevel().([]any)
		if i < 0 {
			i += len(arr)
		}
		if i < 0 || i >= len(arr) {
			return nil, false
		}
		return arr[i], true
	}
	var (
		found any
		n     int
	)
	eachElementUntil(r.text, func(val []byte) bool {
		if n == i {
			found = newRawAt(val)
			return false
		}
		n++
		return true
	})
	return found, found != nil
}

// arrayLen returns the number of elements of a raw array.
func (r *Raw) arrayLen() int {
	if p := r.level.Load(); p != nil {
		return len((*p).([]any))
	}
	return rawArrayLen(r.text)
}

// Resolve returns v with its top decoded one level when it is a *Raw: an object becomes a map[string]any and an
// array a []any whose members and elements are *Raw, a scalar its Go value. Other values are returned as they
// are. The result is read-only.
func Resolve(v any) any {
	if r, ok := v.(*Raw); ok {
		return r.decodeLevel()
	}
	return v
}

// Scalar returns v decoded when it is a raw string, number, boolean or null; raw objects and arrays stay raw,
// and other values are returned as they are. It is what comparisons and type tests of scalars need.
func Scalar(v any) any {
	if r, ok := v.(*Raw); ok && !r.isContainer() {
		return r.scalar()
	}
	return v
}

// ResolveAll returns v with no *Raw left in it: raw values are decoded whole, and the maps and slices that hold
// raw values are copied with them decoded (the others are shared). It is what code outside this package, and
// JSONPath filters, are given.
func ResolveAll(v any) any {
	out, _ := resolveAll(v)
	return out
}

// resolveAll is ResolveAll that also reports whether v held a *Raw (and so whether the result is new).
func resolveAll(v any) (any, bool) {
	switch x := v.(type) {
	case *Raw:
		if !x.isContainer() {
			return x.scalar(), true
		}
		var out any
		if err := json.Unmarshal(x.text, &out); err != nil {
			return nil, true // not reached: the text is valid
		}
		return out, true
	case map[string]any:
		var out map[string]any
		for k, e := range x {
			d, changed := resolveAll(e)
			if changed && out == nil {
				out = make(map[string]any, len(x))
				maps.Copy(out, x)
			}
			if changed {
				out[k] = d
			}
		}
		if out == nil {
			return x, false
		}
		return out, true
	case []any:
		var out []any
		for i, e := range x {
			d, changed := resolveAll(e)
			if changed && out == nil {
				out = slices.Clone(x)
			}
			if changed {
				out[i] = d
			}
		}
		if out == nil {
			return x, false
		}
		return out, true
	}
	return v, false
}

// kindByte is the first byte of the JSON text of a raw value: '{', '[', '"', 't', 'f', 'n' or a number's.
func (r *Raw) kindByte() byte { return r.text[0] }

// validator checks JSON text (RFC 8259) and notes insignificant whitespace inside it.
type validator struct {
	b      []byte
	spaced bool
}

// space skips whitespace at i.
func (v *validator) space(i int) int {
	for i < len(v.b) {
		switch v.b[i] {
		case ' ', '\t', '\r', '\n':
			v.spaced = true
			i++
		default:
			return i
		}
	}
	return i
}

// value checks the value at i and returns where it ends, or -1.
func (v *validator) value(i, depth int) int {
	if i >= len(v.b) || depth > maxRawDepth {
		return -1
	}
	switch c := v.b[i]; {
	case c == '{':
		return v.object(i, depth+1)
	case c == '[':
		return v.array(i, depth+1)
	case c == '"':
		return v.str(i)
	case c == 't':
		return v.literal(i, "true")
	case c == 'f':
		return v.literal(i, "false")
	case c == 'n':
		return v.literal(i, "null")
	case c == '-' || (c >= '0' && c <= '9'):
		return v.number(i)
	}
	return -1
}

func (v *validator) literal(i int, lit string) int {
	if !bytes.HasPrefix(v.b[i:], []byte(lit)) {
		return -1
	}
	return i + len(lit)
}

func (v *validator) object(i, depth int) int {
	i = v.space(i + 1)
	if i < len(v.b) && v.b[i] == '}' {
		return i + 1
	}
	for {
		if i >= len(v.b) || v.b[i] != '"' {
			return -1
		}
		if i = v.str(i); i < 0 {
			return -1
		}
		i = v.space(i)
		if i >= len(v.b) || v.b[i] != ':' {
			return -1
		}
		if i = v.value(v.space(i+1), depth); i < 0 {
			return -1
		}
		i = v.space(i)
		if i >= len(v.b) {
			return -1
		}
		switch v.b[i] {
		case '}':
			return i + 1
		case ',':
			i = v.space(i + 1)
		default:
			return -1
		}
	}
}

func (v *validator) array(i, depth int) int {
	i = v.space(i + 1)
	if i < len(v.b) && v.b[i] == ']' {
		return i + 1
	}
	for {
		if i = v.value(i, depth); i < 0 {
			return -1
		}
		i = v.space(i)
		if i >= len(v.b) {
			return -1
		}
		switch v.b[i] {
		case ']':
			return i + 1
		case ',':
			i = v.space(i + 1)
		default:
			return -1
		}
	}
}

// str checks the string literal at i.
func (v *validator) str(i int) int {
	b := v.b
	// Fast path: eight bytes at a time while none is a quote, a backslash or a control character.
	for i++; i+8 <= len(b) && plainWord(binary.LittleEndian.Uint64(b[i:])); i += 8 {
	}
	for ; i < len(b); i++ {
		switch c := b[i]; {
		case c == '"':
			return i + 1
		case c < 0x20:
			return -1
		case c == '\\':
			i++
			if i >= len(b) {
				return -1
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			case 'u':
				if i+4 >= len(b) {
					return -1
				}
				for _, h := range b[i+1 : i+5] {
					if !isHex(h) {
						return -1
					}
				}
				i += 4
			default:
				return -1
			}
		}
	}
	return -1
}

// SWAR constants: one in each byte, and the high bit of each byte.
const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// plainWord reports whether none of the eight bytes of x is '"', '\\' or below 0x20.
func plainWord(x uint64) bool {
	less := (x - 0x20*ones) &^ x
	q := x ^ '"'*ones
	bs := x ^ '\\'*ones
	return (less|((q-ones)&^q)|((bs-ones)&^bs))&highs == 0
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// number checks the number at i; a number that may not fit a float64 is parsed.
func (v *validator) number(i int) int {
	b, start := v.b, i
	if b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || !isDigit(b[i]) {
			return -1
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	exponent := false
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		exponent = true
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || !isDigit(b[i]) {
			return -1
		}
		for i < len(b) && isDigit(b[i]) {
			i++
		}
	}
	if exponent || i-start > maxPlainDigits {
		if _, err := strconv.ParseFloat(string(b[start:i]), 64); err != nil {
			return -1
		}
	}
	return i
}

// Scanning of valid compact text.

// skipString returns where the string literal at b[i] ends.
func skipString(b []byte, i int) int {
	j := i + 1
	for {
		q := j + bytes.IndexByte(b[j:], '"')
		n := 0
		for p := q - 1; b[p] == '\\'; p-- {
			n++
		}
		if n%2 == 0 {
			return q + 1
		}
		j = q + 1
	}
}

// skipValue returns where the value at b[i] ends.
func skipValue(b []byte, i int) int {
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipString(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	}
	for i < len(b) {
		switch b[i] {
		case ',', '}', ']':
			return i
		}
		i++
	}
	return i
}

// eachMember calls f with the name (a string literal) and value text of each member of a raw object.
func eachMember(b []byte, f func(key, val []byte)) {
	if b[1] == '}' {
		return
	}
	for i := 1; ; {
		ke := skipString(b, i)
		ve := skipValue(b, ke+1)
		f(b[i:ke], b[ke+1:ve])
		if b[ve] == '}' {
			return
		}
		i = ve + 1
	}
}

// eachElementUntil calls f with the text of each element of a raw array until it returns false.
func eachElementUntil(b []byte, f func(val []byte) bool) {
	if b[1] == ']' {
		return
	}
	for i := 1; ; {
		e := skipValue(b, i)
		if !f(b[i:e]) || b[e] == ']' {
			return
		}
		i = e + 1
	}
}

// eachElement calls f with the text of each element of a raw array.
func eachElement(b []byte, f func(val []byte)) {
	eachElementUntil(b, func(val []byte) bool { f(val); return true })
}

// rawArrayLen counts the elements of a raw array.
func rawArrayLen(b []byte) int {
	n := 0
	eachElement(b, func([]byte) { n++ })
	return n
}
