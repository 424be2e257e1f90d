package dataflow

import (
	"fmt"
	"strconv"
	"strings"
)

// maxCallDepth is how deeply intrinsic functions may nest within one field.
const maxCallDepth = 10

// argKind is the form of an intrinsic function argument.
type argKind uint8

const (
	argLiteral argKind = iota // a string, number, boolean or null
	argPath                   // a path over the input, the context object or a variable
	argCall                   // a nested intrinsic function call
)

// arg is a compiled argument of an intrinsic function call.
type arg struct {
	kind argKind
	src  string
	lit  any
	path *Path
	call *Call
	// parts is a string literal split at its unescaped {} placeholders (States.Format templates).
	parts []string
}

// Call is a compiled intrinsic function call, such as States.Format('{} items', $.count).
type Call struct {
	src  string
	fn   *function
	args []arg
}

// IsCall reports whether s, the value of a ".$" field, is an intrinsic function call rather than a path: a
// dotted name followed by '('. Whether the name is a known function is left to ParseCall.
func IsCall(s string) bool {
	s = strings.TrimSpace(s)
	i := 0
	for i < len(s) && (isIdentByte(s[i]) || s[i] == '.') {
		i++
	}
	for i < len(s) && isBlank(s[i]) {
		i++
	}
	return i > 0 && i < len(s) && s[i] == '(' && s[0] != '$'
}

func isIdentByte(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
}

// ParseCall compiles an intrinsic function call. Unknown functions, malformed arguments, wrong argument counts
// and literal arguments of the wrong type are errors wrapping ErrSyntax.
func ParseCall(s string) (*Call, error) {
	cp := callParser{s: s}
	cp.skipBlanks()
	c, err := cp.call(1)
	if err == nil {
		cp.skipBlanks()
		if cp.i < len(s) {
			err = cp.errorf("unexpected %q after the call", s[cp.i:])
		}
	}
	if err != nil {
		return nil, fmt.Errorf("intrinsic function %q: %w", s, err)
	}
	return c, nil
}

// String returns the call as it was written.
func (c *Call) String() string { return c.src }

// callParser reads one intrinsic function call.
type callParser struct {
	s string
	i int
}

func (cp *callParser) errorf(format string, a ...any) error {
	return fmt.Errorf("%w: at offset %d: %s", ErrSyntax, cp.i, fmt.Sprintf(format, a...))
}

func (cp *callParser) skipBlanks() {
	for cp.i < len(cp.s) && isBlank(cp.s[cp.i]) {
		cp.i++
	}
}

// call reads NAME(ARG, ...) at nesting depth.
func (cp *callParser) call(depth int) (*Call, error) {
	if depth > maxCallDepth {
		return nil, cp.errorf("intrinsic functions nest at most %d deep", maxCallDepth)
	}
	start := cp.i
	for cp.i < len(cp.s) && (isIdentByte(cp.s[cp.i]) || cp.s[cp.i] == '.') {
		cp.i++
	}
	name := cp.s[start:cp.i]
	fn := lookupFunction(name)
	if fn == nil {
		cp.i = start
		return nil, cp.errorf("unknown intrinsic function %q", name)
	}
	cp.skipBlanks()
	if cp.i >= len(cp.s) || cp.s[cp.i] != '(' {
		return nil, cp.errorf("expected '(' after %s", name)
	}
	cp.i++
	c := &Call{fn: fn}
	cp.skipBlanks()
	if cp.i < len(cp.s) && cp.s[cp.i] == ')' {
		cp.i++
	} else {
		for {
			cp.skipBlanks()
			a, err := cp.arg(depth)
			if err != nil {
				return nil, err
			}
			c.args = append(c.args, a)
			cp.skipBlanks()
			if cp.i >= len(cp.s) {
				return nil, cp.errorf("missing ')' to close %s", name)
			}
			if cp.s[cp.i] == ')' {
				cp.i++
				break
			}
			if cp.s[cp.i] != ',' {
				return nil, cp.errorf("expected ',' or ')' in the arguments of %s", name)
			}
			cp.i++
		}
	}
	c.src = cp.s[start:cp.i]
	if err := fn.check(c); err != nil {
		return nil, fmt.Errorf("%w: %s: %s", ErrSyntax, name, err.Error())
	}
	return c, nil
}

// arg reads one argument.
func (cp *callParser) arg(depth int) (arg, error) {
	if cp.i >= len(cp.s) {
		return arg{}, cp.errorf("missing argument")
	}
	start := cp.i
	switch c := cp.s[cp.i]; {
	case c == '\'':
		val, parts, err := cp.stringLiteral()
		if err != nil {
			return arg{}, err
		}
		return arg{kind: argLiteral, src: cp.s[start:cp.i], lit: val, parts: parts}, nil
	case c == '$':
		// A path runs to the next ',' or ')' that is not inside brackets, parentheses or quotes.
		end, err := pathEnd(cp.s, cp.i)
		if err != nil {
			return arg{}, cp.errorf("%s", err.Error())
		}
		src := strings.TrimRight(cp.s[cp.i:end], " \t\r\n")
		p, err := ParsePath(src)
		if err != nil {
			return arg{}, err
		}
		cp.i = end
		return arg{kind: argPath, src: src, path: p}, nil
	case c == '-' || (c >= '0' && c <= '9'):
		// Numbers are JSON-like: sign, digits, fraction and exponent.
		for cp.i < len(cp.s) && strings.IndexByte("+-.0123456789eE", cp.s[cp.i]) >= 0 {
			cp.i++
		}
		text := cp.s[start:cp.i]
		f, err := strconv.ParseFloat(text, 64)
		if err != nil {
			cp.i = start
			return arg{}, cp.errorf("malformed number %q", text)
		}
		return arg{kind: argLiteral, src: cp.s[start:cp.i], lit: f}, nil
	default:
		// A bare word is true, false, null, or the name of a nested call.
		for cp.i < len(cp.s) && (isIdentByte(cp.s[cp.i]) || cp.s[cp.i] == '.') {
			cp.i++
		}
		word := cp.s[start:cp.i]
		switch word {
		case "true", "false":
			return arg{kind: argLiteral, src: word, lit: word == "true"}, nil
		case "null":
			return arg{kind: argLiteral, src: word, lit: nil}, nil
		case "":
			return arg{}, cp.errorf("unexpected %q", c)
		}
		cp.i = start
		call, err := cp.call(depth + 1)
		if err != nil {
			return arg{}, err
		}
		return arg{kind: argCall, src: call.src, call: call}, nil
	}
}

// stringLiteral reads a single-quoted string with the escapes \' \{ \} \\ and returns its value and its parts
// around unescaped {} placeholders.
func (cp *callParser) stringLiteral() (string, []string, error) {
	cp.i++ // opening quote
	var val, part strings.Builder
	var parts []string
	for cp.i < len(cp.s) {
		c := cp.s[cp.i]
		switch c {
		case '\'':
			cp.i++
			return val.String(), append(parts, part.String()), nil
		case '\\':
			if cp.i+1 >= len(cp.s) || strings.IndexByte(`'{}\`, cp.s[cp.i+1]) < 0 {
				return "", nil, cp.errorf(`open escape: '\' must be followed by one of ' { } \`)
			}
			val.WriteByte(cp.s[cp.i+1])
			part.WriteByte(cp.s[cp.i+1])
			cp.i += 2
			continue
		case '{':
			if strings.HasPrefix(cp.s[cp.i:], "{}") {
				val.WriteString("{}")
				parts = append(parts, part.String())
				part.Reset()
				cp.i += 2
				continue
			}
		}
		val.WriteByte(c)
		part.WriteByte(c)
		cp.i++
	}
	return "", nil, cp.errorf("unterminated string literal")
}

// pathEnd returns where the path argument starting at s[start] ends: at the first ',' or ')' outside
// brackets, parentheses and quoted strings.
func pathEnd(s string, start int) (int, error) {
	depth := 0
	for i := start; i < len(s); i++ {
		switch c := s[i]; c {
		case '\'', '"':
			end := closingQuote(s, i)
			if end < 0 {
				return 0, fmt.Errorf("unterminated string in path")
			}
			i = end
		case '[', '(':
			depth++
		case ']':
			depth--
		case ')':
			if depth == 0 {
				return i, nil
			}
			depth--
		case ',':
			if depth == 0 {
				return i, nil
			}
		}
	}
	return len(s), nil
}

// Eval evaluates the call. A path argument that selects nothing is a States.Runtime *Error; arguments the
// function cannot take are a States.IntrinsicFailure *Error.
func (c *Call) Eval(s Scope) (any, error) {
	// Arguments are evaluated left to right; the first failure ends the call.
	var buf [4]any
	args := buf[:0]
	for i := range c.args {
		a := &c.args[i]
		switch a.kind {
		case argLiteral:
			args = append(args, a.lit)
		case argPath:
			v, found, err := a.path.Select(s)
			if err != nil {
				return nil, err
			}
			if !found {
				root, _ := a.path.rootValue(s)
				return nil, &Error{Name: StatesRuntime, Cause: fmt.Sprintf(
					"The function '%s' had the following error: The JsonPath argument for the field '%s' could not be found in the input '%s'",
					c.src, a.src, jsonForMessage(root))}
			}
			// Raw scalars are decoded for the type checks; raw arrays and objects are left to the function,
			// which decodes what it needs.
			args = append(args, Scalar(v))
		case argCall:
			v, err := a.call.Eval(s)
			if err != nil {
				return nil, err
			}
			args = append(args, Scalar(v))
		}
	}
	return c.fn.eval(c, args, s)
}

// failf is the States.IntrinsicFailure error of c.
func (c *Call) failf(format string, a ...any) *Error {
	return &Error{
		Name:  StatesIntrinsicFailure,
		Cause: fmt.Sprintf("The function '%s' had the following error: %s", c.src, fmt.Sprintf(format, a...)),
	}
}
