package event

import (
	"bytes"
	"strings"

	"github.com/segmentio/encoding/iso8601"
	segjson "github.com/segmentio/encoding/json"
)

// The envelope members Event holds, as indexes into envelope.fields.
const (
	fieldSpecVersion = iota
	fieldID
	fieldSource
	fieldType
	fieldTime
	fieldSubject
	fieldDataContentType
	fieldDataSchema
	fieldData
	numFields
)

// fieldNames are the JSON names of the envelope members, by index.
var fieldNames = [numFields]string{"specversion", "id", "source", "type", "time", "subject", "datacontenttype",
	"dataschema", "data"}

// envelope holds the raw JSON values of an event's top-level envelope members, found by one scan of the
// event's top level.
type envelope struct {
	fields [numFields][]byte
}

// scan finds the envelope members of raw. It returns false when raw is not an object it can read plainly:
// malformed at the top level, or with a member name that has escapes or matches an envelope name only
// without regard to case (as the reference decoder would match it). The caller then takes the reference
// path, which knows what to report.
func (e *envelope) scan(raw []byte) bool {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return false
	}
	i = skipSpace(raw, i+1)
	if i < len(raw) && raw[i] == '}' {
		return true
	}
	for i < len(raw) {
		if raw[i] != '"' {
			return false
		}
		end := bytes.IndexByte(raw[i+1:], '"')
		if end < 0 {
			return false
		}
		name := raw[i+1 : i+1+end]
		if bytes.IndexByte(name, '\\') >= 0 {
			return false
		}
		i = skipSpace(raw, i+end+2)
		if i >= len(raw) || raw[i] != ':' {
			return false
		}
		start := skipSpace(raw, i+1)
		stop, ok := jumpValue(raw, start)
		if !ok {
			return false
		}
		if k := fieldIndex(name); k >= 0 {
			e.fields[k] = raw[start:stop]
		} else if foldsToField(name) {
			return false
		}
		i = skipSpace(raw, stop)
		if i >= len(raw) {
			return false
		}
		switch raw[i] {
		case ',':
			i = skipSpace(raw, i+1)
		case '}':
			return true
		default:
			return false
		}
	}
	return false
}

// decode builds the Event from the members found, for an event the schema of type typ accepted. Data
// aliases raw; the id, source and subject share one new string. A member of an unexpected JSON type, or a
// string with escapes, is decoded by the general decoder, which reports it as the reference path would.
func (e *envelope) decode(raw []byte, typ string) (Event, error) {
	ev := Event{Type: typ}
	var ok bool
	if ev.SpecVersion, ok = e.constant(fieldSpecVersion, SpecVersion); !ok {
		return decodeSlow(raw)
	}
	if ev.DataContentType, ok = e.constant(fieldDataContentType, ContentTypeJSON); !ok {
		return decodeSlow(raw)
	}
	// The strings that vary per event are copied out of raw together: one allocation.
	var parts [4][]byte
	n := 0
	for k, f := range [4]int{fieldID, fieldSource, fieldSubject, fieldDataSchema} {
		v, ok := e.plain(f)
		if !ok {
			return decodeSlow(raw)
		}
		parts[k] = v
		n += len(v)
	}
	if n > 0 {
		var sb strings.Builder
		sb.Grow(n)
		for _, p := range parts {
			sb.Write(p)
		}
		all := sb.String()
		at := func(k int) string {
			off := 0
			for _, p := range parts[:k] {
				off += len(p)
			}
			return all[off : off+len(parts[k])]
		}
		ev.ID, ev.Source, ev.Subject, ev.DataSchema = at(0), at(1), at(2), at(3)
	}
	if t := e.fields[fieldTime]; t != nil && !bytes.Equal(t, []byte("null")) {
		if len(t) < 2 || t[0] != '"' || bytes.IndexByte(t, '\\') >= 0 {
			return decodeSlow(raw)
		}
		// The general decoder's own time parser, so that both paths accept the same times.
		tm, err := iso8601.Parse(string(t[1 : len(t)-1]))
		if err != nil {
			// The general decoder reports it, in the reference path's words.
			return decodeSlow(raw)
		}
		ev.Time = tm
	}
	ev.Data = e.fields[fieldData]
	return ev, nil
}

// constant returns member k when it is absent, null, or the string want (without allocating); ok is false
// otherwise, for the general decoder to decode.
func (e *envelope) constant(k int, want string) (string, bool) {
	v := e.fields[k]
	switch {
	case v == nil || bytes.Equal(v, []byte("null")):
		return "", true
	case len(v) == len(want)+2 && v[0] == '"' && string(v[1:len(v)-1]) == want:
		return want, true
	}
	return "", false
}

// plain returns the text of member k, a JSON string without escapes (nil when absent or null); ok is false
// for anything else.
func (e *envelope) plain(k int) ([]byte, bool) {
	v := e.fields[k]
	switch {
	case v == nil || bytes.Equal(v, []byte("null")):
		return nil, true
	case len(v) < 2 || v[0] != '"' || bytes.IndexByte(v, '\\') >= 0:
		return nil, false
	}
	return v[1 : len(v)-1], true
}

// decodeSlow decodes the envelope with the general decoder.
func decodeSlow(raw []byte) (Event, error) {
	var ev Event
	err := segjson.Unmarshal(raw, &ev)
	return ev, err
}

// fieldIndex returns the index of the envelope member called name, or -1.
func fieldIndex(name []byte) int {
	for k, f := range fieldNames {
		if string(name) == f {
			return k
		}
	}
	return -1
}

// foldsToField reports whether name equals an envelope member's name but for case, which the general
// decoder would match to it.
func foldsToField(name []byte) bool {
	if len(name) > len("datacontenttype") {
		return false
	}
	for _, f := range fieldNames {
		if len(f) == len(name) && bytes.EqualFold(name, []byte(f)) {
			return true
		}
	}
	return false
}

// jumpValue returns the index just after the JSON value starting at i. Unlike skipValue it only matches
// brackets and finds the ends of strings, without checking what lies between them: the schema's validator
// checks the grammar.
func jumpValue(b []byte, i int) (int, bool) {
	if i >= len(b) {
		return i, false
	}
	switch b[i] {
	case '"':
		return jumpString(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				end, ok := jumpString(b, i)
				if !ok {
					return i, false
				}
				i = end
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1, true
				}
			}
			i++
		}
		return i, false
	}
	// A number or a literal runs to the next delimiter.
	j := i
	for j < len(b) {
		switch b[j] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return j, j > i
		}
		j++
	}
	return j, j > i
}

// jumpString returns the index just after the JSON string starting at b[i] == '"'.
func jumpString(b []byte, i int) (int, bool) {
	i++
	for {
		j := bytes.IndexByte(b[i:], '"')
		if j < 0 {
			return len(b), false
		}
		// The quote ends the string unless an odd number of backslashes precedes it.
		k := i + j
		n := 0
		for k-1-n >= i && b[k-1-n] == '\\' {
			n++
		}
		if n%2 == 0 {
			return k + 1, true
		}
		i = k + 1
	}
}

// ReadID reads the "id" member of a well-formed event, or returns "" when it has none (or is not one): for
// naming an event that failed validation in an error report.
func ReadID(raw []byte) string {
	var v struct {
		ID string `json:"id"`
	}
	if _, err := segjson.Parse(raw, &v, segjson.DontMatchCaseInsensitiveStructFields); err != nil {
		return ""
	}
	return v.ID
}
