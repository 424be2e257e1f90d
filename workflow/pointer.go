package workflow

import (
	"strconv"
	"strings"

	"github.com/segmentio/encoding/json"
)

// This file finds values in raw JSON without decoding the rest: the rules look up one pointer per event, and
// the analytics step a few measure fields, so decoding whole documents into maps would cost most of an
// execution. The documents were validated when the batch was decoded; on malformed input the functions
// report the value absent rather than fail.

// valueAt returns the raw JSON value at a JSON Pointer (RFC 6901) in doc.
func valueAt(doc []byte, pointer string) ([]byte, bool) {
	if pointer == "" {
		return doc, true
	}
	if pointer[0] != '/' {
		return nil, false
	}
	cur, rest := doc, pointer[1:]
	for {
		tok, next, more := strings.Cut(rest, "/")
		var ok bool
		cur = skipSpace(cur)
		switch firstByte(cur) {
		case '{':
			cur, ok = member(cur, unescapeToken(tok))
		case '[':
			cur, ok = element(cur, tok)
		}
		if !ok {
			return nil, false
		}
		if !more {
			return cur, true
		}
		rest = next
	}
}

// member returns the value of the member name of the JSON object obj (which starts with '{').
func member(obj []byte, name string) ([]byte, bool) {
	b := obj[1:]
	for {
		b = skipSpace(b)
		if len(b) == 0 || b[0] != '"' {
			return nil, false // '}' or malformed
		}
		n := skipString(b)
		if n < 0 {
			return nil, false
		}
		key := b[:n]
		b = skipSpace(b[n:])
		if len(b) == 0 || b[0] != ':' {
			return nil, false
		}
		b = skipSpace(b[1:])
		n = skipValue(b)
		if n < 0 {
			return nil, false
		}
		if keyIs(key, name) {
			return b[:n], true
		}
		b = skipSpace(b[n:])
		if len(b) == 0 || b[0] != ',' {
			return nil, false
		}
		b = b[1:]
	}
}

// element returns the element at the decimal index tok of the JSON array arr (which starts with '[').
func element(arr []byte, tok string) ([]byte, bool) {
	idx, err := strconv.Atoi(tok)
	if err != nil || idx < 0 || (len(tok) > 1 && tok[0] == '0') || tok[0] == '+' {
		return nil, false
	}
	b := skipSpace(arr[1:])
	for i := 0; ; i++ {
		n := skipValue(b)
		if n < 0 {
			return nil, false // ']' or malformed
		}
		if i == idx {
			return b[:n], true
		}
		b = skipSpace(b[n:])
		if len(b) == 0 || b[0] != ',' {
			return nil, false
		}
		b = skipSpace(b[1:])
	}
}

// keyIs reports whether the quoted JSON string key is name.
func keyIs(key []byte, name string) bool {
	inner := key[1 : len(key)-1]
	if strings.IndexByte(string(inner), '\\') < 0 {
		return string(inner) == name
	}
	var s string
	return json.Unmarshal(key, &s) == nil && s == name
}

// skipValue returns the length of the JSON value at the start of b, or -1 when there is none.
func skipValue(b []byte) int {
	if len(b) == 0 {
		return -1
	}
	switch b[0] {
	case '"':
		return skipString(b)
	case '{', '[':
		depth := 0
		for i := 0; i < len(b); i++ {
			switch b[i] {
			case '"':
				n := skipString(b[i:])
				if n < 0 {
					return -1
				}
				i += n - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return -1
	case '}', ']', ',', ':':
		return -1
	}
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			return i
		}
	}
	return len(b)
}

// skipString returns the length of the JSON string at the start of b (which starts with '"'), or -1.
func skipString(b []byte) int {
	for i := 1; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}

// skipSpace returns b without its leading white space.
func skipSpace(b []byte) []byte {
	for len(b) > 0 {
		switch b[0] {
		case ' ', '\t', '\r', '\n':
			b = b[1:]
		default:
			return b
		}
	}
	return b
}

// firstByte returns the first byte of v that is not white space, or 0.
func firstByte(v []byte) byte {
	v = skipSpace(v)
	if len(v) == 0 {
		return 0
	}
	return v[0]
}

// scalar returns a string's text, or a number's, boolean's or null's JSON text; objects and arrays are not
// scalars.
func scalar(v []byte) (string, bool) {
	switch firstByte(v) {
	case '{', '[', 0:
		return "", false
	case '"':
		var s string
		if json.Unmarshal(v, &s) != nil {
			return "", false
		}
		return s, true
	}
	return strings.TrimSpace(string(v)), true
}

// numberAt returns the member name of the JSON object obj as a finite float64, when it is a number.
func numberAt(obj []byte, name string) (float64, bool) {
	if firstByte(obj) != '{' {
		return 0, false
	}
	v, ok := member(skipSpace(obj), name)
	if !ok || len(v) == 0 || (v[0] != '-' && (v[0] < '0' || v[0] > '9')) {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil {
		return 0, false
	}
	return number(f)
}
