package asl

import (
	"fmt"
	"strings"
	"time"

	"github.com/serverless-data-platform/sdp/workflow/asl/internal/dataflow"
)

// cmpClass is the type of value a comparison operator compares.
type cmpClass uint8

const (
	classString cmpClass = iota + 1
	classNumeric
	classBoolean
	classTimestamp
	classMatches
	classTest // IsNull, IsPresent, IsNumeric, IsString, IsBoolean, IsTimestamp
)

// cmpOp is how a comparison compares.
type cmpOp uint8

const (
	opEquals cmpOp = iota + 1
	opLess
	opGreater
	opLessEquals
	opGreaterEquals
)

type operator struct {
	class cmpClass
	op    cmpOp
}

// operators are the comparison operators of Choice Rules, without their "Path" forms.
var operators = map[string]operator{
	"StringEquals":               {classString, opEquals},
	"StringLessThan":             {classString, opLess},
	"StringGreaterThan":          {classString, opGreater},
	"StringLessThanEquals":       {classString, opLessEquals},
	"StringGreaterThanEquals":    {classString, opGreaterEquals},
	"StringMatches":              {classMatches, opEquals},
	"NumericEquals":              {classNumeric, opEquals},
	"NumericLessThan":            {classNumeric, opLess},
	"NumericGreaterThan":         {classNumeric, opGreater},
	"NumericLessThanEquals":      {classNumeric, opLessEquals},
	"NumericGreaterThanEquals":   {classNumeric, opGreaterEquals},
	"BooleanEquals":              {classBoolean, opEquals},
	"TimestampEquals":            {classTimestamp, opEquals},
	"TimestampLessThan":          {classTimestamp, opLess},
	"TimestampGreaterThan":       {classTimestamp, opGreater},
	"TimestampLessThanEquals":    {classTimestamp, opLessEquals},
	"TimestampGreaterThanEquals": {classTimestamp, opGreaterEquals},
	"IsNull":                     {classTest, 0},
	"IsPresent":                  {classTest, 0},
	"IsNumeric":                  {classTest, 0},
	"IsString":                   {classTest, 0},
	"IsBoolean":                  {classTest, 0},
	"IsTimestamp":                {classTest, 0},
}

// hasPathForm tells whether an operator also exists as OperatorPath (all but the Is* tests and StringMatches).
func (o operator) hasPathForm() bool { return o.class != classTest && o.class != classMatches }

// rule is a compiled Choice Rule: a boolean combination (And, Or, Not) or a comparison.
type rule struct {
	next        string
	assign      *dataflow.Template
	assignNames []string

	and []*rule
	or  []*rule
	not *rule

	variable  *dataflow.Path
	opName    string
	operator  operator
	str       string
	num       float64
	boolean   bool
	ts        time.Time
	pattern   []string // StringMatches: the literal parts between the stars
	valuePath *dataflow.Path
}

// choice reads the Choices and Default of a Choice state.
func (l *loader) choice(o *obj, st *state) {
	list, ok := o.array("Choices")
	if !ok {
		if !o.has("Choices") {
			o.fail("Choices", "is required")
		}
	} else if len(list) == 0 {
		o.fail("Choices", "must have at least one Choice Rule")
	}
	for i, v := range list {
		if r := l.rule(o, fmt.Sprintf("Choices[%d]", i), v, true); r != nil {
			st.choices = append(st.choices, r)
		}
	}
	st.def, _ = o.str("Default")
}

// rule reads a Choice Rule; top rules (directly in Choices) have Next and may have Assign, nested ones have
// neither.
func (l *loader) rule(parent *obj, field string, v any, top bool) *rule {
	m, ok := v.(map[string]any)
	if !ok {
		parent.fail(field, "a Choice Rule must be an object")
		return nil
	}
	o := l.obj(m, parent.state, parent.prefix+field+".")
	r := &rule{}
	allowed := []string{"Variable", "And", "Or", "Not", "Comment"}
	if top {
		allowed = append(allowed, "Next", "Assign")
		r.next, _ = o.requiredStr("Next")
		r.assign, r.assignNames = o.assign()
	} else if o.has("Next") {
		o.fail("Next", "only the Choice Rules directly in Choices have Next")
		allowed = append(allowed, "Next")
	}
	o.str("Comment")
	// The operator is the one field that names a comparison (in its literal or Path form) or And, Or, Not.
	var ops []string
	for k := range m {
		name := strings.TrimSuffix(k, "Path")
		if op, ok := operators[k]; ok {
			ops = append(ops, k)
			r.opName, r.operator = k, op
			allowed = append(allowed, k)
		} else if op, ok := operators[name]; ok && op.hasPathForm() {
			ops = append(ops, k)
			r.opName, r.operator = k, op
			allowed = append(allowed, k)
		}
	}
	for _, k := range []string{"And", "Or", "Not"} {
		if o.has(k) {
			ops = append(ops, k)
		}
	}
	o.allow(allowed...)
	if len(ops) != 1 {
		o.fail("", "a Choice Rule needs exactly one comparison operator or And, Or, Not (found %d)", len(ops))
		return nil
	}
	switch ops[0] {
	case "And", "Or":
		if o.has("Variable") {
			o.fail("Variable", "an %s rule has no Variable", ops[0])
		}
		list, ok := o.array(ops[0])
		if !ok {
			return nil
		}
		if len(list) == 0 {
			o.fail(ops[0], "must have at least one Choice Rule")
		}
		var rules []*rule
		for i, c := range list {
			if cr := l.rule(o, fmt.Sprintf("%s[%d]", ops[0], i), c, false); cr != nil {
				rules = append(rules, cr)
			}
		}
		if ops[0] == "And" {
			r.and = rules
		} else {
			r.or = rules
		}
		return r
	case "Not":
		if o.has("Variable") {
			o.fail("Variable", "a Not rule has no Variable")
		}
		r.not = l.rule(o, "Not", m["Not"], false)
		if r.not == nil {
			return nil
		}
		return r
	}
	if !o.has("Variable") {
		o.fail("Variable", "is required with %s", r.opName)
		return nil
	}
	r.variable = o.refPathOrPath("Variable")
	if r.variable == nil {
		return nil
	}
	return l.operand(o, r)
}

// refPathOrPath compiles a Choice Rule's Variable (a JSONPath over the input, the context or a variable).
func (o *obj) refPathOrPath(k string) *dataflow.Path {
	p := o.path(k, false, false)
	if p == nil {
		return nil
	}
	return p.path
}

// operand reads the value of a comparison.
func (l *loader) operand(o *obj, r *rule) *rule {
	k := r.opName
	v := o.m[k]
	if strings.HasSuffix(k, "Path") && r.operator.hasPathForm() {
		r.valuePath = o.refPathOrPath(k)
		if r.valuePath == nil {
			return nil
		}
		return r
	}
	switch r.operator.class {
	case classString:
		s, ok := v.(string)
		if !ok {
			o.fail(k, "must be a string")
			return nil
		}
		r.str = s
	case classMatches:
		s, ok := v.(string)
		if !ok {
			o.fail(k, "must be a string")
			return nil
		}
		r.pattern = compilePattern(s)
	case classNumeric:
		f, ok := v.(float64)
		if !ok {
			o.fail(k, "must be a number")
			return nil
		}
		r.num = f
	case classBoolean, classTest:
		b, ok := v.(bool)
		if !ok {
			o.fail(k, "must be a boolean")
			return nil
		}
		r.boolean = b
	case classTimestamp:
		s, ok := v.(string)
		t, err := parseTimestamp(s)
		if !ok || err != nil {
			o.fail(k, "must be an ISO-8601 timestamp")
			return nil
		}
		r.ts = t
	}
	return r
}

// compilePattern splits a StringMatches pattern at its unescaped stars; "\*" is a literal star and "\\" a
// literal backslash.
func compilePattern(p string) []string {
	var parts []string
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c == '\\' && i+1 < len(p):
			i++
			b.WriteByte(p[i])
		case c == '*':
			parts = append(parts, b.String())
			b.Reset()
		default:
			b.WriteByte(c)
		}
	}
	return append(parts, b.String())
}

// matchPattern tells whether s matches a compiled StringMatches pattern: each star matches any sequence.
func matchPattern(parts []string, s string) bool {
	if len(parts) == 1 {
		return s == parts[0]
	}
	first, last := parts[0], parts[len(parts)-1]
	if len(s) < len(first)+len(last) || !strings.HasPrefix(s, first) || !strings.HasSuffix(s, last) {
		return false
	}
	s = s[len(first) : len(s)-len(last)]
	for _, mid := range parts[1 : len(parts)-1] {
		i := strings.Index(s, mid)
		if i < 0 {
			return false
		}
		s = s[i+len(mid):]
	}
	return true
}

// invalidPath is the error of a Choice Rule whose path selects nothing.
func invalidPath(p *dataflow.Path) *Error {
	return Errorf(ErrorRuntime, "Invalid path '%s': The choice state's condition path references an invalid value.", p.String())
}

// eval evaluates the rule against the state's effective input, the context object and the variables. A
// comparison between values of different types is false; a path that selects nothing is a States.Runtime
// error, except under IsPresent.
func (r *rule) eval(s dataflow.Scope) (bool, error) {
	switch {
	case r.and != nil:
		for _, c := range r.and {
			ok, err := c.eval(s)
			if err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	case r.or != nil:
		for _, c := range r.or {
			ok, err := c.eval(s)
			if err != nil || ok {
				return ok, err
			}
		}
		return false, nil
	case r.not != nil:
		ok, err := r.not.eval(s)
		return !ok && err == nil, err
	}
	// A comparison: Variable selects the value compared, over the input, the context object or a variable.
	v, found, err := r.variable.Select(s)
	if err != nil {
		return false, err
	}
	if r.operator.class == classTest && r.opName == "IsPresent" {
		return found == r.boolean, nil
	}
	if !found {
		return false, invalidPath(r.variable)
	}
	// Comparisons and type tests are of scalars: a raw scalar is decoded, a raw object or array is not.
	v = dataflow.Scalar(v)
	if r.operator.class == classTest {
		return r.test(v) == r.boolean, nil
	}
	// The ...Path operators compare with another selected value instead of a literal.
	if r.valuePath != nil {
		w, found, err := r.valuePath.Select(s)
		if err != nil {
			return false, err
		}
		if !found {
			return false, invalidPath(r.valuePath)
		}
		return compareValues(r.operator, v, dataflow.Scalar(w)), nil
	}
	switch r.operator.class {
	case classString:
		a, ok := v.(string)
		return ok && compareOrdered(r.operator.op, strings.Compare(a, r.str)), nil
	case classMatches:
		a, ok := v.(string)
		return ok && matchPattern(r.pattern, a), nil
	case classNumeric:
		a, ok := v.(float64)
		return ok && compareOrdered(r.operator.op, compareFloat(a, r.num)), nil
	case classBoolean:
		a, ok := v.(bool)
		return ok && a == r.boolean, nil
	case classTimestamp:
		a, ok := v.(string)
		if !ok {
			return false, nil
		}
		t, err := parseTimestamp(a)
		return err == nil && compareOrdered(r.operator.op, t.Compare(r.ts)), nil
	}
	return false, nil
}

// test evaluates IsNull, IsNumeric, IsString, IsBoolean and IsTimestamp.
func (r *rule) test(v any) bool {
	switch r.opName {
	case "IsNull":
		return v == nil
	case "IsNumeric":
		_, ok := v.(float64)
		return ok
	case "IsString":
		_, ok := v.(string)
		return ok
	case "IsBoolean":
		_, ok := v.(bool)
		return ok
	case "IsTimestamp":
		s, ok := v.(string)
		if !ok {
			return false
		}
		_, err := parseTimestamp(s)
		return err == nil
	}
	return false
}

// compareValues compares two values selected by paths (the ...Path operators): values of another type than
// the operator's make the comparison false.
func compareValues(op operator, v, w any) bool {
	switch op.class {
	case classString:
		a, ok1 := v.(string)
		b, ok2 := w.(string)
		return ok1 && ok2 && compareOrdered(op.op, strings.Compare(a, b))
	case classNumeric:
		a, ok1 := v.(float64)
		b, ok2 := w.(float64)
		return ok1 && ok2 && compareOrdered(op.op, compareFloat(a, b))
	case classBoolean:
		a, ok1 := v.(bool)
		b, ok2 := w.(bool)
		return ok1 && ok2 && a == b
	case classTimestamp:
		a, ok1 := v.(string)
		b, ok2 := w.(string)
		if !ok1 || !ok2 {
			return false
		}
		ta, err1 := parseTimestamp(a)
		tb, err2 := parseTimestamp(b)
		return err1 == nil && err2 == nil && compareOrdered(op.op, ta.Compare(tb))
	}
	return false
}

// compareFloat is a three-way comparison of numbers.
func compareFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// compareOrdered applies op to the result c of a three-way comparison.
func compareOrdered(op cmpOp, c int) bool {
	switch op {
	case opEquals:
		return c == 0
	case opLess:
		return c < 0
	case opGreater:
		return c > 0
	case opLessEquals:
		return c <= 0
	case opGreaterEquals:
		return c >= 0
	}
	return false
}
