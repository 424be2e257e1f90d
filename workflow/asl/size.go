package asl

import (
	"math"
	"strconv"
	"unicode/utf8"

	json "github.com/segmentio/encoding/json"
)

// jsonSize returns the number of bytes of v encoded as compact JSON (without HTML escaping), as Step Functions
// measures state data, without encoding it. It stops counting once the size is over limit (when limit > 0)
// and then returns a size over limit. ok is false when v holds a value that is not decoded JSON
// (map[string]any, []any, string, float64, bool, nil); its size is then unknown.
func jsonSize(v any, limit int) (n int, ok bool) {
	s := sizer{limit: limit, ok: true}
	s.value(v)
	return s.n, s.ok
}

type sizer struct {
	n     int
	limit int
	ok    bool
}

func (s *sizer) over() bool { return s.limit > 0 && s.n > s.limit }

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
		s.n += stringSize(x)
	case float64:
		s.n += floatSize(x)
	case map[string]any:
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
	case []any:
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
	default:
		s.ok = false
	}
}

// stringSize is the size of s as a JSON string, quotes included, escaped as encoding/json escapes without
// HTML escaping.
func stringSize(s string) int {
	n := 2
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t' || c == '\b' || c == '\f':
				n += 2
			case c < 0x20:
				n += 6
			default:
				n++
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			n += 6 // \ufffd
		case r == '\u2028' || r == '\u2029':
			n += 6
		default:
			n += size
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

// marshal encodes decoded JSON compactly, with sorted object keys and without HTML escaping.
func marshal(v any) ([]byte, error) {
	return json.Append(nil, v, json.SortMapKeys)
}
