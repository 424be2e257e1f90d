package schemac

import (
	"encoding/binary"
	"math/bits"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth is the deepest nesting of arrays and objects encoding/json accepts.
const maxDepth = 10000

// String flags reported by scanString.
const (
	strEscaped uint8 = 1 << iota // holds a backslash escape
	strHigh                      // holds bytes at or above 0x80
)

// strPlain marks the bytes a string may hold that need no attention: not a quote, a backslash, a control
// character or a byte at or above 0x80.
var strPlain = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// Byte-lane constants for needsAttention.
const (
	lanes01 = 0x0101010101010101
	lanes80 = 0x8080808080808080
)

// attention marks (with its top bit) each of the eight bytes of x that is a quote, a backslash, a control
// character or at or above 0x80. Lanes above a marked one may be marked wrongly (a borrow propagates up),
// but the lowest marked lane is always right, and no mark means no such byte.
func attention(x uint64) uint64 {
	// A lane of v is below n (n <= 0x80) when v - n borrows into its top bit and v's top bit is clear; lanes
	// equal to a byte are the lanes of v XOR that byte below 1.
	quote := x ^ (lanes01 * '"')
	bslash := x ^ (lanes01 * '\\')
	ctl := (x - lanes01*0x20) &^ x
	q := (quote - lanes01) &^ quote
	b := (bslash - lanes01) &^ bslash
	return (ctl | q | b | x) & lanes80
}

// hexVal maps hexadecimal digits to their value and everything else to -1.
var hexVal = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = int8(c - '0')
	}
	for c := 'a'; c <= 'f'; c++ {
		t[c] = int8(c - 'a' + 10)
		t[c-'a'+'A'] = int8(c - 'a' + 10)
	}
	return t
}()

// isSpace reports JSON whitespace.
func isSpace(c byte) bool {
	return c == ' ' || c == '\n' || c == '\r' || c == '\t'
}

// skipSpace returns the index of the first non-whitespace byte at or after i.
func skipSpace(data []byte, i int) int {
	for i < len(data) && isSpace(data[i]) {
		i++
	}
	return i
}

// scanString checks the string starting with the quote at i and returns the index after its closing quote.
func scanString(data []byte, i int) (end int, flags uint8, ok bool) {
	i++
	for {
		// Eight bytes at a time: the lowest marked lane is the first byte that needs attention. Near the end
		// of the input, byte by byte.
		if i+8 <= len(data) {
			m := attention(binary.LittleEndian.Uint64(data[i:]))
			if m == 0 {
				i += 8
				continue
			}
			i += bits.TrailingZeros64(m) >> 3
		} else {
			for i < len(data) && strPlain[data[i]] {
				i++
			}
			if i >= len(data) {
				return i, flags, false
			}
		}
		// The byte at i needs attention: the end of the string, an escape, a control character (malformed)
		// or a byte of a multi-byte sequence (noted, to decide later whether the string needs decoding).
		switch c := data[i]; {
		case c == '"':
			return i + 1, flags, true
		case c == '\\':
			flags |= strEscaped
			if i+1 >= len(data) {
				return i + 1, flags, false
			}
			switch data[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				for k := i + 2; k < i+6; k++ {
					if k >= len(data) || hexVal[data[k]] < 0 {
						return k, flags, false
					}
				}
				i += 6
			default:
				return i + 1, flags, false
			}
		case c < 0x20:
			return i, flags, false
		default:
			flags |= strHigh
			i++
		}
	}
}

// scanNumber checks the number starting at i and returns the index after it.
func scanNumber(data []byte, i int) (end int, ok bool) {
	if i < len(data) && data[i] == '-' {
		i++
	}
	switch {
	case i >= len(data):
		return i, false
	case data[i] == '0':
		i++
	case data[i] >= '1' && data[i] <= '9':
		for i++; i < len(data) && data[i] >= '0' && data[i] <= '9'; i++ {
		}
	default:
		return i, false
	}
	if i < len(data) && data[i] == '.' {
		i++
		if i >= len(data) || data[i] < '0' || data[i] > '9' {
			return i, false
		}
		for i++; i < len(data) && data[i] >= '0' && data[i] <= '9'; i++ {
		}
	}
	if i < len(data) && (data[i] == 'e' || data[i] == 'E') {
		i++
		if i < len(data) && (data[i] == '+' || data[i] == '-') {
			i++
		}
		if i >= len(data) || data[i] < '0' || data[i] > '9' {
			return i, false
		}
		for i++; i < len(data) && data[i] >= '0' && data[i] <= '9'; i++ {
		}
	}
	return i, true
}

// scanLiteral checks that lit (true, false or null) starts at i and returns the index after it.
func scanLiteral(data []byte, i int, lit string) (end int, ok bool) {
	for k := 0; k < len(lit); k++ {
		if i+k >= len(data) || data[i+k] != lit[k] {
			return i + k, false
		}
	}
	return i + len(lit), true
}

// skipValue checks the value starting at i (no leading whitespace) at the given nesting depth and returns the
// index after it. It is the fast pass's scanner for values no keyword constrains, and is as strict as
// encoding/json.
func skipValue(data []byte, i, depth int) (end int, ok bool) {
	if i >= len(data) {
		return i, false
	}
	switch data[i] {
	case '"':
		end, _, ok = scanString(data, i)
		return end, ok
	case '{':
		if depth >= maxDepth {
			return i, false
		}
		i = skipSpace(data, i+1)
		if i < len(data) && data[i] == '}' {
			return i + 1, true
		}
		for {
			if i >= len(data) || data[i] != '"' {
				return i, false
			}
			if i, _, ok = scanString(data, i); !ok {
				return i, false
			}
			i = skipSpace(data, i)
			if i >= len(data) || data[i] != ':' {
				return i, false
			}
			if i, ok = skipValue(data, skipSpace(data, i+1), depth+1); !ok {
				return i, false
			}
			i = skipSpace(data, i)
			if i >= len(data) {
				return i, false
			}
			if data[i] == '}' {
				return i + 1, true
			}
			if data[i] != ',' {
				return i, false
			}
			i = skipSpace(data, i+1)
		}
	case '[':
		if depth >= maxDepth {
			return i, false
		}
		i = skipSpace(data, i+1)
		if i < len(data) && data[i] == ']' {
			return i + 1, true
		}
		for {
			if i, ok = skipValue(data, i, depth+1); !ok {
				return i, false
			}
			i = skipSpace(data, i)
			if i >= len(data) {
				return i, false
			}
			if data[i] == ']' {
				return i + 1, true
			}
			if data[i] != ',' {
				return i, false
			}
			i = skipSpace(data, i+1)
		}
	case 't':
		return scanLiteral(data, i, "true")
	case 'f':
		return scanLiteral(data, i, "false")
	case 'n':
		return scanLiteral(data, i, "null")
	}
	return scanNumber(data, i)
}

// unescape appends to dst the value of the string content raw (the bytes between the quotes, already checked),
// as encoding/json decodes it: escapes resolved, invalid UTF-8 and unpaired surrogates replaced by U+FFFD.
func unescape(dst, raw []byte) []byte {
	for r := 0; r < len(raw); {
		c := raw[r]
		switch {
		case c == '\\':
			switch raw[r+1] {
			case 'b':
				dst = append(dst, '\b')
			case 'f':
				dst = append(dst, '\f')
			case 'n':
				dst = append(dst, '\n')
			case 'r':
				dst = append(dst, '\r')
			case 't':
				dst = append(dst, '\t')
			case 'u':
				// A surrogate is decoded with the escape that follows when they form a pair, and replaced
				// by U+FFFD alone otherwise.
				rr := hex4(raw[r+2:])
				r += 6
				if utf16.IsSurrogate(rr) {
					rr1 := rune(-1)
					if r+6 <= len(raw) && raw[r] == '\\' && raw[r+1] == 'u' {
						rr1 = hex4(raw[r+2:])
					}
					if dec := utf16.DecodeRune(rr, rr1); dec != utf8.RuneError {
						r += 6
						dst = utf8.AppendRune(dst, dec)
						continue
					}
					rr = utf8.RuneError
				}
				dst = utf8.AppendRune(dst, rr)
				continue
			default: // '"', '\\', '/'
				dst = append(dst, raw[r+1])
			}
			r += 2
		case c < utf8.RuneSelf:
			dst = append(dst, c)
			r++
		default:
			rr, size := utf8.DecodeRune(raw[r:])
			r += size
			dst = utf8.AppendRune(dst, rr)
		}
	}
	return dst
}

// hex4 reads four hexadecimal digits (already checked).
func hex4(b []byte) rune {
	return rune(hexVal[b[0]])<<12 | rune(hexVal[b[1]])<<8 | rune(hexVal[b[2]])<<4 | rune(hexVal[b[3]])
}

// syntaxChecker finds where a document stops being JSON, with a message in encoding/json's words. It only
// runs on documents the decoder has rejected, to give the offset of the first offending byte.
type syntaxChecker struct {
	data []byte
}

// check returns nil when data is exactly one JSON value with optional surrounding whitespace.
func checkSyntax(data []byte) *SyntaxError {
	sc := syntaxChecker{data: data}
	i := skipSpace(data, 0)
	i, err := sc.value(i, 0)
	if err != nil {
		return err
	}
	i = skipSpace(data, i)
	if i < len(data) {
		return sc.bad(i, "after top-level value")
	}
	return nil
}

// bad reports the byte at i as unexpected, or the end of the input.
func (sc *syntaxChecker) bad(i int, context string) *SyntaxError {
	if i >= len(sc.data) {
		return &SyntaxError{Offset: len(sc.data), Msg: "unexpected end of JSON input"}
	}
	return &SyntaxError{Offset: i, Msg: "invalid character " + quoteChar(sc.data[i]) + " " + context}
}

// quoteChar renders a byte as encoding/json does in its messages.
func quoteChar(c byte) string {
	if c == '\'' {
		return `'\''`
	}
	if c == '"' {
		return `'"'`
	}
	s := strconv.Quote(string(rune(c)))
	if c >= utf8.RuneSelf {
		s = strconv.Quote(string([]byte{c}))
	}
	return "'" + s[1:len(s)-1] + "'"
}

// value checks one value at i.
func (sc *syntaxChecker) value(i, depth int) (int, *SyntaxError) {
	data := sc.data
	if i >= len(data) {
		return i, sc.bad(i, "")
	}
	switch c := data[i]; {
	case c == '"':
		end, _, ok := scanString(data, i)
		if !ok {
			return end, sc.stringError(end)
		}
		return end, nil
	case c == '{' || c == '[':
		if depth >= maxDepth {
			return i, &SyntaxError{Offset: i, Msg: "exceeded max depth"}
		}
		if c == '{' {
			return sc.object(i, depth)
		}
		return sc.array(i, depth)
	case c == 't' || c == 'f' || c == 'n':
		lit := map[byte]string{'t': "true", 'f': "false", 'n': "null"}[c]
		end, ok := scanLiteral(data, i, lit)
		if !ok {
			return end, sc.bad(end, "in literal "+lit+" (expecting "+quoteChar(lit[end-i])+")")
		}
		return end, nil
	case c == '-' || (c >= '0' && c <= '9'):
		end, ok := scanNumber(data, i)
		if !ok {
			return end, sc.bad(end, "in numeric literal")
		}
		return end, nil
	}
	return i, sc.bad(i, "looking for beginning of value")
}

// stringError explains why the string scan stopped at end.
func (sc *syntaxChecker) stringError(end int) *SyntaxError {
	data := sc.data
	if end >= len(data) {
		return sc.bad(end, "")
	}
	if data[end] < 0x20 {
		return sc.bad(end, "in string literal")
	}
	if end > 0 && data[end-1] == '\\' {
		return sc.bad(end, "in string escape code")
	}
	return sc.bad(end, `in \u hexadecimal character escape`)
}

// object checks an object starting at i.
func (sc *syntaxChecker) object(i, depth int) (int, *SyntaxError) {
	data := sc.data
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == '}' {
		return i + 1, nil
	}
	for {
		if i >= len(data) || data[i] != '"' {
			return i, sc.bad(i, "looking for beginning of object key string")
		}
		end, _, ok := scanString(data, i)
		if !ok {
			return end, sc.stringError(end)
		}
		i = skipSpace(data, end)
		if i >= len(data) || data[i] != ':' {
			return i, sc.bad(i, "after object key")
		}
		var err *SyntaxError
		if i, err = sc.value(skipSpace(data, i+1), depth+1); err != nil {
			return i, err
		}
		i = skipSpace(data, i)
		if i < len(data) && data[i] == '}' {
			return i + 1, nil
		}
		if i >= len(data) || data[i] != ',' {
			return i, sc.bad(i, "after object key:value pair")
		}
		i = skipSpace(data, i+1)
	}
}

// array checks an array starting at i.
func (sc *syntaxChecker) array(i, depth int) (int, *SyntaxError) {
	data := sc.data
	i = skipSpace(data, i+1)
	if i < len(data) && data[i] == ']' {
		return i + 1, nil
	}
	for {
		var err *SyntaxError
		if i, err = sc.value(i, depth+1); err != nil {
			return i, err
		}
		i = skipSpace(data, i)
		if i < len(data) && data[i] == ']' {
			return i + 1, nil
		}
		if i >= len(data) || data[i] != ',' {
			return i, sc.bad(i, "after array element")
		}
		i = skipSpace(data, i+1)
	}
}
