package telemetry

import (
	"bytes"
	"unicode/utf8"
)

// The functions below carry an event's trace header inside the event itself (a CloudEvent extension attribute),
// because a stream record has no headers of its own. They run for every event, so they scan the bytes instead
// of decoding the event.

// EventTraceHeader returns the value of the event's top-level "awstraceheader" member (a CloudEvent in JSON),
// "" when it has none.
//
// What is accepted: the event must be a JSON object (leading white space allowed); the member name must be
// spelled exactly awstraceheader, without escapes; its value must be a string without escapes. A member of that
// name inside a nested object or array, or inside a string, is not taken; an escaped spelling of the name or
// an escaped value gives "". When the name occurs more than once, the first occurrence counts. Parsing stops at
// the member, so the event after it is not checked. It allocates only the returned string.
func EventTraceHeader(event []byte) string {
	if !bytes.Contains(event, quotedAttribute) {
		return ""
	}
	start, end, ok := findTopMember(event)
	if !ok || start < 0 {
		return ""
	}
	return string(event[start:end])
}

// AppendEventTrace appends to dst the event with "awstraceheader":header inserted as its first member, or the
// event unchanged when it already has one (at the top level, spelled as EventTraceHeader accepts it) or header
// is "" or the event does not start (after spaces) with '{'. The event is valid JSON already. A header that
// would need escaping in JSON (quotes, backslashes, control characters, invalid UTF-8) is not inserted either:
// X-Ray headers never contain such characters, and leaving them out keeps EventTraceHeader escape-free.
// No allocation beyond growing dst.
func AppendEventTrace(dst, event []byte, header string) []byte {
	if header == "" || !plainString(header) {
		return append(dst, event...)
	}
	return insertMember(dst, event, memberPrefix, header, `"`)
}

// memberPrefix starts the inserted member, up to its value.
const memberPrefix = `"` + EventTraceAttribute + `":"`

// quotedAttribute is the attribute's name as a JSON member name without escapes: an event that does not
// contain it has no member EventTraceHeader would take, which a search finds faster than a scan of its members.
var quotedAttribute = []byte(`"` + EventTraceAttribute + `"`)

// EventTrace is one trace header ready to be written into many events (AppendEventTrace's work, with the
// header checked once).
type EventTrace struct {
	// member is `"awstraceheader":"<header>"`; "" when there is nothing to insert.
	member string
}

// NewEventTrace prepares header for Append; an empty header, or one that would need escaping, inserts nothing.
func NewEventTrace(header string) EventTrace {
	if header == "" || !plainString(header) {
		return EventTrace{}
	}
	return EventTrace{member: memberPrefix + header + `"`}
}

// Empty reports whether t inserts nothing.
func (t EventTrace) Empty() bool { return t.member == "" }

// Append appends to dst the event with the header inserted as its first member, as AppendEventTrace does.
func (t EventTrace) Append(dst, event []byte) []byte {
	if t.member == "" {
		return append(dst, event...)
	}
	return insertMember(dst, event, t.member, "", "")
}

// insertMember appends to dst the event with the member a+b+c inserted first, or the event unchanged when it
// is not an object or already has a top-level awstraceheader member.
func insertMember(dst, event []byte, a, b, c string) []byte {
	i := skipSpace(event, 0)
	if i >= len(event) || event[i] != '{' {
		return append(dst, event...)
	}
	if bytes.Contains(event, quotedAttribute) {
		if _, _, found := findTopMember(event); found {
			return append(dst, event...)
		}
	}
	dst = append(dst, event[:i+1]...)
	dst = append(dst, a...)
	dst = append(dst, b...)
	dst = append(dst, c...)
	if j := skipSpace(event, i+1); j < len(event) && event[j] != '}' {
		dst = append(dst, ',')
	}
	return append(dst, event[i+1:]...)
}

// plainString reports whether s can be written as a JSON string without escapes.
func plainString(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' {
			return false
		}
	}
	return utf8.ValidString(s)
}

// findTopMember looks for the top-level awstraceheader member of the JSON object in b. found reports whether the
// member name occurs; start and end delimit its string value without the quotes, or start is -1 when the value
// is not an escape-free string. Malformed input gives found == false.
func findTopMember(b []byte) (start, end int, found bool) {
	i := skipSpace(b, 0)
	if i >= len(b) || b[i] != '{' {
		return 0, 0, false
	}
	i = skipSpace(b, i+1)
	if i < len(b) && b[i] == '}' {
		return 0, 0, false
	}
	for i < len(b) {
		if b[i] != '"' {
			return 0, 0, false
		}
		ks := i + 1
		ke, escaped, ok := scanString(b, i)
		if !ok {
			return 0, 0, false
		}
		key := b[ks : ke-1]
		i = skipSpace(b, ke)
		if i >= len(b) || b[i] != ':' {
			return 0, 0, false
		}
		i = skipSpace(b, i+1)
		if !escaped && string(key) == EventTraceAttribute {
			if i < len(b) && b[i] == '"' {
				ve, vesc, ok := scanString(b, i)
				if ok && !vesc {
					return i + 1, ve - 1, true
				}
			}
			return -1, -1, true
		}
		i, ok = skipValue(b, i)
		if !ok {
			return 0, 0, false
		}
		i = skipSpace(b, i)
		if i >= len(b) {
			return 0, 0, false
		}
		switch b[i] {
		case ',':
			i = skipSpace(b, i+1)
		case '}':
			return 0, 0, false
		default:
			return 0, 0, false
		}
	}
	return 0, 0, false
}

func skipSpace(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// scanString scans the JSON string starting at b[i] == '"' and returns the index after its closing quote and
// whether it contains escapes.
func scanString(b []byte, i int) (end int, escaped, ok bool) {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			escaped = true
			j++
		case '"':
			return j + 1, escaped, true
		}
	}
	return 0, false, false
}

// skipValue returns the index after the JSON value starting at b[i]. Objects and arrays are skipped by
// counting brackets outside strings, which is enough for input that is valid JSON.
func skipValue(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return 0, false
	}
	switch b[i] {
	case '"':
		end, _, ok := scanString(b, i)
		return end, ok
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				end, _, ok := scanString(b, i)
				if !ok {
					return 0, false
				}
				i = end
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1, true
				}
			}
			i++
		}
		return 0, false
	default:
		// A number, true, false or null: up to the next delimiter.
		for i < len(b) {
			switch b[i] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return i, true
			}
			i++
		}
		return i, true
	}
}
