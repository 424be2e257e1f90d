package dataflow

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Template is a compiled payload template (Parameters, ResultSelector, ItemSelector, Assign, ...): a JSON value
// in which every object key ending in ".$" has a string value that is a path ($..., $$..., $var...) or an
// intrinsic function call; the key is emitted without ".$". Nested objects and arrays are templates too.
//
// Parts of the template without ".$" keys are kept as they are and returned shared, not copied.
type Template struct {
	root *tnode
}

// tnode is a compiled template value: a constant, or an object or array with dynamic parts.
type tnode struct {
	constant any
	dynamic  bool
	fields   []tfield // objects
	elems    []*tnode // arrays
	isArray  bool
}

// tfield is one member of a dynamic object.
type tfield struct {
	key    string // output key
	srcKey string // key as written, with ".$" for dynamic members
	value  *tnode
	path   *Path
	call   *Call
}

// ParseTemplate compiles v, a decoded JSON value. Errors wrap ErrSyntax and name the field at fault, e.g.
// `field "a.$": ...`; nested fields are named by their location ("outer.a.$", "list[0].a.$"). A ".$" key whose
// value is not a string, or is neither a path nor an intrinsic call, is an error, and so are two keys that
// produce the same output key. Keys without ".$" keep their values as they are, even strings that start with
// "$".
func ParseTemplate(v any) (*Template, error) {
	root, err := compileNode(v, "")
	if err != nil {
		return nil, err
	}
	return &Template{root: root}, nil
}

// compileNode compiles v found at location loc.
func compileNode(v any, loc string) (*tnode, error) {
	switch v := v.(type) {
	case map[string]any:
		// Members are compiled in name order so that errors and evaluation are deterministic.
		keys := sortedKeys(v)
		n := &tnode{fields: make([]tfield, 0, len(keys))}
		seen := make(map[string]string, len(keys))
		for _, k := range keys {
			at := joinLoc(loc, k)
			f := tfield{key: k, srcKey: k}
			if strings.HasSuffix(k, ".$") {
				f.key = strings.TrimSuffix(k, ".$")
				s, ok := v[k].(string)
				if !ok {
					return nil, fmt.Errorf("field %q: %w: the value of a \".$\" field must be a string holding a path or an intrinsic function, not %s", at, ErrSyntax, typeName(v[k]))
				}
				var err error
				if f.path, f.call, err = compileExpr(s); err != nil {
					return nil, fmt.Errorf("field %q: %w", at, err)
				}
				n.dynamic = true
			} else {
				child, err := compileNode(v[k], at)
				if err != nil {
					return nil, err
				}
				f.value = child
				n.dynamic = n.dynamic || child.dynamic
			}
			if other, dup := seen[f.key]; dup {
				return nil, fmt.Errorf("field %q: %w: the output key %q is also produced by %q", at, ErrSyntax, f.key, other)
			}
			seen[f.key] = k
			n.fields = append(n.fields, f)
		}
		if !n.dynamic {
			return &tnode{constant: v}, nil
		}
		return n, nil
	case []any:
		n := &tnode{isArray: true, elems: make([]*tnode, len(v))}
		for i, e := range v {
			child, err := compileNode(e, loc+"["+strconv.Itoa(i)+"]")
			if err != nil {
				return nil, err
			}
			n.elems[i] = child
			n.dynamic = n.dynamic || child.dynamic
		}
		if !n.dynamic {
			return &tnode{constant: v}, nil
		}
		return n, nil
	default:
		return &tnode{constant: v}, nil
	}
}

func joinLoc(loc, key string) string {
	if loc == "" {
		return key
	}
	return loc + "." + key
}

// compileExpr compiles the value of a ".$" field: an intrinsic call or a path.
func compileExpr(s string) (*Path, *Call, error) {
	if IsCall(s) {
		c, err := ParseCall(s)
		return nil, c, err
	}
	if !strings.HasPrefix(s, "$") {
		return nil, nil, fmt.Errorf("%w: %q is neither a path nor an intrinsic function", ErrSyntax, s)
	}
	p, err := ParsePath(s)
	return p, nil, err
}

// Eval evaluates the template. A definite path selecting nothing is a States.Runtime *Error ("The JSONPath
// '$.x' specified for the field 'a.$' could not be found in the input '...'"); an indefinite path selecting
// nothing gives []. Intrinsic failures are the *Error of the call (States.IntrinsicFailure, or States.Runtime
// for a path argument that selects nothing).
func (t *Template) Eval(s Scope) (any, error) {
	return t.root.eval(s)
}

func (n *tnode) eval(s Scope) (any, error) {
	// Constant parts are shared with the template: they are never modified, by this package or its callers.
	if !n.dynamic {
		return n.constant, nil
	}
	if n.isArray {
		out := make([]any, len(n.elems))
		for i, e := range n.elems {
			v, err := e.eval(s)
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	}
	out := make(map[string]any, len(n.fields))
	for i := range n.fields {
		f := &n.fields[i]
		var (
			v   any
			err error
		)
		switch {
		case f.path != nil:
			var found bool
			if v, found, err = f.path.Select(s); err == nil && !found {
				root, _ := f.path.rootValue(s)
				err = &Error{Name: StatesRuntime, Cause: fmt.Sprintf(
					"The JSONPath '%s' specified for the field '%s' could not be found in the input '%s'",
					f.path.src, f.srcKey, jsonForMessage(root))}
			}
		case f.call != nil:
			v, err = f.call.Eval(s)
		default:
			v, err = f.value.eval(s)
		}
		if err != nil {
			return nil, err
		}
		out[f.key] = v
	}
	return out, nil
}

// Fields returns the output keys of a template that is an object, in sorted order (nil otherwise); an
// Assign template names the variables it sets this way.
func (t *Template) Fields() []string {
	if !t.root.dynamic {
		if m, ok := t.root.constant.(map[string]any); ok {
			return sortedKeys(m)
		}
		return nil
	}
	if t.root.isArray {
		return nil
	}
	keys := make([]string, len(t.root.fields))
	for i, f := range t.root.fields {
		keys[i] = f.key
	}
	slices.Sort(keys)
	return keys
}
