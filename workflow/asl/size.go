package asl

import (
	"math"
	"reflect"
	"strconv"
	"unicode/utf8"
	"unsafe"

	json "github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/workflow/asl/internal/dataflow"
)

// jsonSize returns the number of bytes of v encoded as compact JSON (without HTML escaping), as Step Functions
// measures state data, without encoding it. It stops counting once the size is over limit (when limit > 0)
// and then returns a size over limit. ok is false when v holds a value that is not state data
// (map[string]any, []any, string, float64, bool, nil, *dataflow.Raw); its size is then unknown. A raw value
// counts the bytes of its text.
//
// cache, when not nil, keeps the sizes of the large arrays, objects and strings measured, keyed by their
// memory: state data is never modified, and a state's output mostly shares its parts with its input, so each
// large part is measured once per thread of an execution.
func jsonSize(v any, limit int, cache sizeCache) (n int, ok bool) {
	s := sizer{limit: limit, ok: true, cache: cache}
	s.value(v)
	return s.n, s.ok
}

// sizeCache maps large values to their JSON size.
type sizeCache map[sizeKey]int

// sizeKey identifies an immutable value by its memory: an object by its map, an array or a string by its
// first element and length.
type sizeKey struct {
	p unsafe.Pointer
	n int
}

// Values with at least this many members (arrays, objects) or bytes (strings) are cached.
const (
	cacheMinLen    = 16
	cacheMinString = 1024
)

type sizer struct {
	n     int
	limit int
	ok    bool
	cache sizeCache
}

// over tells whether the count is past the limit: counting can stop.
func (s *sizer) over() bool { return s.limit > 0 && s.n > s.limit }

// value counts one decoded JSON value.
func (s *sizer) value(v any) {
	if s.over() || !s.ok {
		return
	}
	switch x := v.(type) {
	case nil:
		s.n += 4
	case bool:
		if x {
			s.n += 4
		} else {
			s.n += 5
		}
	case string:
		if s.cache != nil && len(x) >= cacheMinString {
			k := sizeKey{unsafe.Pointer(unsafe.StringData(x)), len(x)}
			n, ok := s.cache[k]
			if !ok {
				n = stringSize(x)
				s.cache[k] = n
			}
			s.n += n
			return
		}
		s.n += stringSize(x)
	case float64:
		s.n += floatSize(x)
	case *dataflow.Raw:
		s.n += x.Len() // raw data is written as it is
	case map[string]any:
		if s.cache != nil && len(x) >= cacheMinLen {
			s.cached(sizeKey{reflect.ValueOf(x).UnsafePointer(), -1}, func() { s.object(x) })
			return
		}
		s.object(x)
	case []any:
		if s.cache != nil && len(x) >= cacheMinLen {
			s.cached(sizeKey{unsafe.Pointer(unsafe.SliceData(x)), len(x)}, func() { s.array(x) })
			return
		}
		s.array(x)
	default:
		s.ok = false
	}
}

// cached adds the size of a large value from the cache, or measures it with f and caches it when the whole
// value was measured.
func (s *sizer) cached(k sizeKey, f func()) {
	if n, ok := s.cache[k]; ok {
		s.n += n
		return
	}
	before := s.n
	f()
	if s.ok && !s.over() {
		s.cache[k] = s.n - before
	}
}

// object counts an object: braces, commas, quoted keys with their colons, and members.
func (s *sizer) object(x map[string]any) {
	s.n += 2 // {}
	if len(x) > 0 {
		s.n += len(x) - 1 // commas
	}
	for k, e := range x {
		s.n += stringSize(k) + 1 // "k":
		s.value(e)
		if s.over() || !s.ok {
			return
		}
	}
}

// array counts an array: brackets, commas and elements.
func (s *sizer) array(x []any) {
	s.n += 2 // []
	if len(x) > 0 {
		s.n += len(x) - 1
	}
	for _, e := range x {
		s.value(e)
		if s.over() || !s.ok {
			return
		}
	}
}

// escapeExtra is the number of bytes an ASCII character takes beyond one in a JSON string.
var escapeExtra = func() (t [utf8.RuneSelf]uint8) {
	for c := range 0x20 {
		t[c] = 5 // \u00XX
	}
	for _, c := range []byte{'"', '\\', '\n', '\r', '\t', '\b', '\f'} {
		t[c] = 1
	}
	return t
}()

// stringSize is the size of s as a JSON string, quotes included, escaped as encoding/json escapes without
// HTML escaping.
func stringSize(s string) int {
	n := len(s) + 2
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			n += int(escapeExtra[c])
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			n += 5 // \ufffd for one byte
		case r == '\u2028' || r == '\u2029':
			n += 3 // \u2028 for three bytes
		}
		i += size
	}
	return n
}

// floatSize is the size of f as encoding/json writes it.
func floatSize(f float64) int {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return 4
	}
	var buf [32]byte
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b := strconv.AppendFloat(buf[:0], f, format, -1, 64)
	if format == 'e' {
		// encoding/json writes e-07 as e-7.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			return n - 1
		}
	}
	return len(b)
}

// normalize returns v as decoded JSON: a value a TaskHandler returned that holds other Go types (structs,
// typed slices, integers, json.RawMessage) is encoded and decoded again.
func normalize(v any) (any, error) {
	b, err := json.Append(nil, v, 0)
	if err != nil {
		return nil, err
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// marshal encodes state data compactly, with sorted object keys and without HTML escaping; raw values are
// written as they are.
func marshal(v any) ([]byte, error) {
	return dataflow.AppendJSON(nil, v)
}
