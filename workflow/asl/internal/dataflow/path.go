package dataflow

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/theory/jsonpath"
	"github.com/theory/jsonpath/spec"
)

// rootKind is what a path is evaluated against.
type rootKind uint8

const (
	rootInput   rootKind = iota // $
	rootContext                 // $$
	rootVar                     // $name
)

// step is one name or index of a definite path.
type step struct {
	name    string
	index   int
	isIndex bool
}

// Path is a compiled path: a JSONPath query over the input ("$..."), the context object ("$$...") or a variable
// ("$name..." — set by Assign; name is a letter or underscore followed by letters, digits or underscores).
//
// The syntax is the Jayway JSONPath that Step Functions accepts, mapped onto RFC 9535: dot names may hold any
// character but '.', '[' and blanks ($.a-b is $['a-b']), a dot may precede a bracket ($.a.['b c']), and a
// trailing .length() gives the length of the selected array, object or string, or the number of matches of an
// indefinite path. Filters use RFC 9535 syntax (Jayway's =~, in, nin, size and empty operators are not
// supported).
type Path struct {
	src     string
	root    rootKind
	varName string
	// steps is the whole query when the path is definite; query is used otherwise.
	steps    []step
	query    *spec.PathQuery
	definite bool
	// filter is set when an indefinite query has a filter selector.
	filter bool
	// length is set by a trailing .length().
	length bool
}

// ParsePath compiles any JSONPath: the form of InputPath, OutputPath, ItemsPath, ".$" values, Choice Variable,
// comparison paths and the ...Path fields of states.
func ParsePath(s string) (*Path, error) {
	p := &Path{src: s}
	rest, err := p.parseRoot(s)
	if err != nil {
		return nil, err
	}
	rfc, length, err := translate(rest)
	if err != nil {
		return nil, fmt.Errorf("path %q: %w", s, err)
	}
	p.length = length
	parsed, err := jsonpath.Parse(rfc)
	if err != nil {
		return nil, fmt.Errorf("path %q: %w: %w", s, ErrSyntax, err)
	}
	q := parsed.Query()
	p.definite = q.Singular() != nil
	if p.definite {
		p.steps = stepsOf(q)
	} else {
		p.query = q
		p.filter = hasFilter(q)
	}
	return p, nil
}

// hasFilter reports whether q has a filter selector.
func hasFilter(q *spec.PathQuery) bool {
	for _, seg := range q.Segments() {
		for _, sel := range seg.Selectors() {
			if _, ok := sel.(*spec.FilterSelector); ok {
				return true
			}
		}
	}
	return false
}

// ParseReferencePath compiles a reference path, the form of ResultPath: "$" or a definite path over the input
// made of names and indexes only ($.a.b, $['a b'], $.a[0]). Wildcards, filters, slices, unions, "..",
// functions, "$$" and variables are rejected.
func ParseReferencePath(s string) (*Path, error) {
	p, err := ParsePath(s)
	if err != nil {
		return nil, err
	}
	switch {
	case p.root == rootContext:
		return nil, fmt.Errorf("reference path %q: %w: the context object cannot be a reference path", s, ErrSyntax)
	case p.root == rootVar:
		return nil, fmt.Errorf("reference path %q: %w: a variable cannot be a reference path", s, ErrSyntax)
	case p.length:
		return nil, fmt.Errorf("reference path %q: %w: functions are not allowed in a reference path", s, ErrSyntax)
	case !p.definite:
		return nil, fmt.Errorf("reference path %q: %w: a reference path selects a single node (no wildcards, filters, slices, unions or '..')", s, ErrSyntax)
	}
	return p, nil
}

// parseRoot reads the root of s ($, $$ or $name) into p and returns the rest of s.
func (p *Path) parseRoot(s string) (string, error) {
	if !strings.HasPrefix(s, "$") {
		return "", fmt.Errorf("path %q: %w: a path starts with '$'", s, ErrSyntax)
	}
	if strings.HasPrefix(s, "$$") {
		p.root = rootContext
		return s[2:], nil
	}
	r, size := utf8.DecodeRuneInString(s[1:])
	if size == 0 || !isVarStart(r) {
		p.root = rootInput
		return s[1:], nil
	}
	end := 1 + size
	for end < len(s) {
		r, size := utf8.DecodeRuneInString(s[end:])
		if !isVarChar(r) {
			break
		}
		end += size
	}
	p.root = rootVar
	p.varName = s[1:end]
	return s[end:], nil
}

func isVarStart(r rune) bool { return r == '_' || unicode.IsLetter(r) }

func isVarChar(r rune) bool { return isVarStart(r) || unicode.IsDigit(r) }

// translate turns the segments of a Jayway path (the text after its root) into an RFC 9535 query. It reports
// a trailing .length() separately.
func translate(rest string) (string, bool, error) {
	var b strings.Builder
	b.Grow(len(rest) + 8)
	b.WriteByte('$')
	for i := 0; i < len(rest); {
		switch c := rest[i]; {
		case c == '[':
			end, err := closingBracket(rest, i)
			if err != nil {
				return "", false, err
			}
			b.WriteString(rest[i : end+1])
			i = end + 1
		case c == '.':
			descendant := strings.HasPrefix(rest[i:], "..")
			if descendant {
				b.WriteString("..")
				i += 2
			} else {
				i++
			}
			if i < len(rest) && rest[i] == '[' {
				continue // Jayway's $.['a'] and $..['a']
			}
			end := i
			for end < len(rest) && rest[end] != '.' && rest[end] != '[' && !isBlank(rest[end]) {
				end++
			}
			name := rest[i:end]
			i = end
			switch {
			case name == "":
				return "", false, fmt.Errorf("%w: empty name after '.'", ErrSyntax)
			case name == "length()" && !descendant:
				if strings.TrimSpace(rest[i:]) != "" {
					return "", false, fmt.Errorf("%w: length() must end the path", ErrSyntax)
				}
				return b.String(), true, nil
			case strings.HasSuffix(name, ")"):
				return "", false, fmt.Errorf("%w: unsupported function %q", ErrSyntax, name)
			case name == "*":
				if !descendant {
					b.WriteByte('.')
				}
				b.WriteByte('*')
			case isShorthand(name):
				if !descendant {
					b.WriteByte('.')
				}
				b.WriteString(name)
			default:
				writeQuotedName(&b, name)
			}
		case isBlank(c):
			b.WriteByte(c)
			i++
		default:
			return "", false, fmt.Errorf("%w: unexpected %q", ErrSyntax, c)
		}
	}
	return b.String(), false, nil
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// closingBracket returns the index of the ']' that closes the '[' at s[open], skipping quoted strings and
// nested brackets and parentheses.
func closingBracket(s string, open int) (int, error) {
	depth := 0
	for i := open; i < len(s); i++ {
		switch c := s[i]; c {
		case '\'', '"':
			end := closingQuote(s, i)
			if end < 0 {
				return 0, fmt.Errorf("%w: unterminated string", ErrSyntax)
			}
			i = end
		case '[', '(':
			depth++
		case ']', ')':
			depth--
			if depth == 0 {
				if c != ']' {
					return 0, fmt.Errorf("%w: unbalanced parentheses", ErrSyntax)
				}
				return i, nil
			}
		}
	}
	return 0, fmt.Errorf("%w: missing ']'", ErrSyntax)
}

// closingQuote returns the index of the quote that ends the string opened at s[open], or -1.
func closingQuote(s string, open int) int {
	q := s[open]
	for i := open + 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			i++
		case q:
			return i
		}
	}
	return -1
}

// isShorthand reports whether name is an RFC 9535 member-name-shorthand.
func isShorthand(name string) bool {
	for i, r := range name {
		switch {
		case r == '_' || r >= 0x80 || (r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z'):
		case i > 0 && r >= '0' && r <= '9':
		default:
			return false
		}
	}
	return name != ""
}

// writeQuotedName writes ['name'] with the escapes of an RFC 9535 string literal.
func writeQuotedName(b *strings.Builder, name string) {
	b.WriteString("['")
	for _, r := range name {
		switch {
		case r == '\'' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20:
			fmt.Fprintf(b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteString("']")
}

// stepsOf returns the names and indexes of a singular query.
func stepsOf(q *spec.PathQuery) []step {
	segs := q.Segments()
	steps := make([]step, 0, len(segs))
	for _, seg := range segs {
		switch sel := seg.Selectors()[0].(type) {
		case spec.Name:
			steps = append(steps, step{name: string(sel)})
		case spec.Index:
			steps = append(steps, step{index: int(sel), isIndex: true})
		}
	}
	return steps
}

// String returns the path as it was written.
func (p *Path) String() string { return p.src }

// Definite reports whether p selects at most one value (RFC 9535 singular query, or a .length() path).
func (p *Path) Definite() bool { return p.definite || p.length }

// IsContext reports whether p starts with $$.
func (p *Path) IsContext() bool { return p.root == rootContext }

// Var returns the variable p starts with, or "" when p is over the input or the context object.
func (p *Path) Var() string { return p.varName }

// rootValue returns the value p is evaluated against and whether it exists.
func (p *Path) rootValue(s Scope) (any, bool) {
	switch p.root {
	case rootContext:
		return s.Context, true
	case rootVar:
		v, ok := s.Vars[p.varName]
		return v, ok
	default:
		return s.Input, true
	}
}

// Select evaluates p. A definite path returns the single value it selects, or (nil, false, nil) when it selects
// nothing; an indefinite path always returns ([]any of all matches in order — possibly empty, true, nil).
// The members of an object are visited in the order of their names, since a decoded object keeps no member
// order; array elements are visited in order. A definite path into raw data decodes only the objects along
// it (an index into a raw array scans its text); an indefinite one decodes the containers it visits, and the
// whole root when it has a filter. Selected values may be raw. The error is reserved for future use and is always nil today.
func (p *Path) Select(s Scope) (v any, found bool, err error) {
	root, ok := p.rootValue(s)
	if p.definite {
		if !ok {
			return nil, false, nil
		}
		v, found = walk(root, p.steps)
		if found && p.length {
			v, found = lengthOf(v)
		}
		return v, found, nil
	}
	matches := []any{}
	if ok {
		if p.filter {
			// Filters are evaluated by the JSONPath library on decoded JSON: the whole root is decoded.
			root = ResolveAll(root)
		}
		matches = selectSegments(matches, root, root, p.query.Segments())
	}
	if p.length {
		return float64(len(matches)), true, nil
	}
	return matches, true, nil
}

// walk follows steps from v.
func walk(v any, steps []step) (any, bool) {
	for _, st := range steps {
		if r, ok := v.(*Raw); ok {
			// Into raw data: only the containers along the path are decoded.
			if st.isIndex {
				v, ok = r.index(st.index)
			} else {
				v, ok = r.member(st.name)
			}
			if !ok {
				return nil, false
			}
			continue
		}
		if st.isIndex {
			arr, ok := v.([]any)
			if !ok {
				return nil, false
			}
			i := st.index
			if i < 0 {
				i += len(arr)
			}
			if i < 0 || i >= len(arr) {
				return nil, false
			}
			v = arr[i]
			continue
		}
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = obj[st.name]; !ok {
			return nil, false
		}
	}
	return v, true
}

// lengthOf is Jayway's length(): the size of an array or object, or the number of characters of a string.
func lengthOf(v any) (any, bool) {
	if r, ok := v.(*Raw); ok && r.kindByte() == '[' {
		return float64(r.arrayLen()), true
	}
	switch v := Resolve(v).(type) {
	case []any:
		return float64(len(v)), true
	case map[string]any:
		return float64(len(v)), true
	case string:
		return float64(utf8.RuneCountInString(v)), true
	}
	return nil, false
}

// Lookup is Select that turns "not found" into a States.Runtime *Error naming the path and the input.
func (p *Path) Lookup(s Scope) (any, error) {
	v, found, err := p.Select(s)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, p.notFound(s)
	}
	return v, nil
}

// notFound is the States.Runtime error of a path that selects nothing.
func (p *Path) notFound(s Scope) *Error {
	root, _ := p.rootValue(s)
	return &Error{
		Name:  StatesRuntime,
		Cause: fmt.Sprintf("The JSONPath '%s' could not be found in the input '%s'", p.src, jsonForMessage(root)),
	}
}

// selectSegments appends to dst the values segs select from v, in RFC 9535 order, visiting object members
// sorted by name so that results are deterministic.
func selectSegments(dst []any, v, root any, segs []*spec.Segment) []any {
	if len(segs) == 0 {
		return append(dst, v)
	}
	if segs[0].IsDescendant() {
		return selectDescendants(dst, v, root, segs[0].Selectors(), segs[1:])
	}
	return selectChildren(dst, v, root, segs[0].Selectors(), segs[1:])
}

// selectDescendants applies sels to v and to every value nested in it, then rest to each match.
func selectDescendants(dst []any, v, root any, sels []spec.Selector, rest []*spec.Segment) []any {
	dst = selectChildren(dst, v, root, sels, rest)
	switch v := Resolve(v).(type) {
	case []any:
		for _, c := range v {
			dst = selectDescendants(dst, c, root, sels, rest)
		}
	case map[string]any:
		for _, k := range sortedKeys(v) {
			dst = selectDescendants(dst, v[k], root, sels, rest)
		}
	}
	return dst
}

// selectChildren applies the selectors of one segment to v, then rest to each match.
func selectChildren(dst []any, v, root any, sels []spec.Selector, rest []*spec.Segment) []any {
	v = Resolve(v)
	for _, sel := range sels {
		switch sel := sel.(type) {
		case spec.Name:
			if obj, ok := v.(map[string]any); ok {
				if c, ok := obj[string(sel)]; ok {
					dst = selectSegments(dst, c, root, rest)
				}
			}
		case spec.Index:
			if c, ok := walk(v, []step{{index: int(sel), isIndex: true}}); ok {
				dst = selectSegments(dst, c, root, rest)
			}
		case spec.WildcardSelector:
			dst = selectMembers(dst, v, root, nil, rest)
		case *spec.FilterSelector:
			dst = selectMembers(dst, v, root, sel, rest)
		default: // slices
			if arr, ok := v.([]any); ok {
				for _, c := range sel.Select(arr, root) {
					dst = selectSegments(dst, c, root, rest)
				}
			}
		}
	}
	return dst
}

// selectMembers applies rest to each element of an array or member of an object v that filter accepts (all of
// them when filter is nil).
func selectMembers(dst []any, v, root any, filter *spec.FilterSelector, rest []*spec.Segment) []any {
	switch v := v.(type) {
	case []any:
		for _, c := range v {
			if filter == nil || filter.Eval(c, root) {
				dst = selectSegments(dst, c, root, rest)
			}
		}
	case map[string]any:
		for _, k := range sortedKeys(v) {
			if c := v[k]; filter == nil || filter.Eval(c, root) {
				dst = selectSegments(dst, c, root, rest)
			}
		}
	}
	return dst
}
