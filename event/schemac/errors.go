package schemac

import (
	"strconv"
	"strings"
)

// UnsupportedError names what the compiler does not support and where.
type UnsupportedError struct {
	Keyword  string // e.g. "unevaluatedProperties", or "format" (with Detail naming the format)
	Location string // absolute keyword location: resource URL + "#" + JSON pointer in the schema
	Detail   string
}

// Error renders the keyword, its location and the detail.
func (e *UnsupportedError) Error() string {
	msg := "unsupported keyword " + strconv.Quote(e.Keyword) + " at " + e.Location
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

// ValidationError is the one error reported for an invalid document: the one the event registry selects from
// the reference's tree of errors. The tree's leaves (errors without causes) are sorted stably by the length
// of their instance location, longest first, then by the location's tokens joined with "/", and the first is
// kept. Ties at the same location are broken by the order in which the reference's validator produces the
// leaves; where the reference iterates a Go map (the members of an object, patternProperties,
// dependentSchemas, dependentRequired, dependencies) its order is random, and this package uses sorted order
// instead.
type ValidationError struct {
	// InstanceLocation is the JSON pointer, as unescaped tokens, of the failing value (for required, the
	// object; Missing names the property). It is empty, not nil, at the document's root, and for errors
	// raised by propertyNames: the reference validates each name as a document of its own.
	InstanceLocation []string
	// Keyword is the last token of the reference's keyword path: the keyword, except that it is the
	// property name for dependentRequired and dependencies, and "schema" where the path is empty (a false
	// schema, not).
	Keyword string
	// Missing is, for required, the first missing property, in the order of the schema's list; empty
	// otherwise.
	Missing string
	// Message is for a person: the reference's message for the same error, in English, as
	// ErrorKind.LocalizedString renders it with message.NewPrinter(language.English). Where the reference
	// lists the names additionalProperties rejects in Go map order, they come here in sorted order.
	Message string
}

// Error renders the error as "<pointer>: <message> (<keyword>)".
func (e *ValidationError) Error() string {
	var sb strings.Builder
	if len(e.InstanceLocation) == 0 {
		sb.WriteString("(document)")
	}
	for _, t := range e.InstanceLocation {
		sb.WriteByte('/')
		t = strings.ReplaceAll(t, "~", "~0")
		sb.WriteString(strings.ReplaceAll(t, "/", "~1"))
	}
	sb.WriteString(": ")
	sb.WriteString(e.Message)
	sb.WriteString(" (")
	sb.WriteString(e.Keyword)
	sb.WriteByte(')')
	return sb.String()
}

// SyntaxError reports malformed JSON: Offset is the index of the first byte that cannot continue the document
// (the length of the input when it ends too early), and Msg is encoding/json's message, as the reference's
// decoder reports it.
type SyntaxError struct {
	Offset int
	Msg    string
}

// Error returns Msg alone, so that a document rejected as malformed reads the same whichever validator
// rejected it (the reference's decoder reports no offset).
func (e *SyntaxError) Error() string {
	return e.Msg
}
