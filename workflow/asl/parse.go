package asl

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	json "github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/workflow/asl/internal/dataflow"
)

// Machine is a loaded state machine. It is safe for concurrent use: each Execute is independent.
type Machine struct {
	opts    options
	root    *graph
	timeout time.Duration
	region  string
	account string
	name    string
}

// Limits of the language.
const (
	maxStateNameLength = 80
	maxSeconds         = 99999999
	maxDelayLimit      = 31622400
)

// Parse loads a definition written in Amazon States Language (JSONPath) and checks it as Step Functions does
// when a state machine is created: fields each state type allows, transitions to existing states, reachable
// states, paths, templates, Retry and Catch, Task resources. The errors found wrap ErrInvalidDefinition (each
// a *DefinitionError naming the state and field); several may be joined.
func Parse(definition []byte, opts ...Option) (*Machine, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	region, account, name, err := parseMachineARN(o.arn)
	if err != nil {
		return nil, err
	}
	var doc any
	if err := json.Unmarshal(definition, &doc); err != nil {
		return nil, &DefinitionError{Reason: fmt.Sprintf("not JSON: %v", err)}
	}
	top, ok := doc.(map[string]any)
	if !ok {
		return nil, &DefinitionError{Reason: "the definition must be a JSON object"}
	}
	l := &loader{opts: &o, names: make(map[string]bool)}
	m := &Machine{opts: o, region: region, account: account, name: name}
	t := l.obj(top, "", "")
	t.allow("Comment", "StartAt", "States", "TimeoutSeconds", "Version", "QueryLanguage")
	t.str("Comment")
	if v, ok := t.str("Version"); ok && v != "1.0" {
		l.fail("", "Version", "must be \"1.0\"")
	}
	l.queryLanguage(t)
	if n, ok := t.integer("TimeoutSeconds", 1, maxSeconds); ok {
		m.timeout = time.Duration(n) * time.Second
	}
	m.root = l.graph(t, "")
	if m.root != nil {
		l.checkVars(m.root, nil)
	}
	if len(l.errs) > 0 {
		return nil, errors.Join(l.errs...)
	}
	return m, nil
}

// parseMachineARN splits arn:aws:states:REGION:ACCOUNT:stateMachine:NAME.
func parseMachineARN(arn string) (region, account, name string, err error) {
	p := strings.Split(arn, ":")
	if len(p) != 7 || p[0] != "arn" || p[2] != "states" || p[5] != "stateMachine" || p[3] == "" || p[4] == "" || p[6] == "" {
		return "", "", "", fmt.Errorf("asl: state machine ARN %q: want arn:aws:states:REGION:ACCOUNT:stateMachine:NAME", arn)
	}
	return p[3], p[4], p[6], nil
}

// loader collects the errors of one definition.
type loader struct {
	opts  *options
	errs  []error
	names map[string]bool
}

// fail records an error about a field of a state.
func (l *loader) fail(state, field, format string, args ...any) {
	l.errs = append(l.errs, &DefinitionError{State: state, Field: field, Reason: fmt.Sprintf(format, args...)})
}

// obj is a JSON object of the definition being read: state is the state it belongs to and prefix the field
// path inside the state ("Retry[0].", ...), for errors.
type obj struct {
	l      *loader
	m      map[string]any
	state  string
	prefix string
}

// obj wraps an object of the definition for reading.
func (l *loader) obj(m map[string]any, state, prefix string) *obj {
	return &obj{l: l, m: m, state: state, prefix: prefix}
}

// fail records an error about a field of o.
func (o *obj) fail(field, format string, args ...any) {
	o.l.fail(o.state, o.prefix+field, format, args...)
}

// has tells whether o has the field k, whatever its value.
func (o *obj) has(k string) bool { _, ok := o.m[k]; return ok }

// allow reports the fields that are not in the allowed list.
func (o *obj) allow(allowed ...string) {
	var unknown []string
	for k := range o.m {
		if !slices.Contains(allowed, k) {
			unknown = append(unknown, k)
		}
	}
	slices.Sort(unknown)
	for _, k := range unknown {
		switch k {
		case "Arguments", "Output", "Items", "Condition":
			o.fail(k, "unknown field (a JSONata field: JSONata is not supported: use JSONPath)")
		default:
			o.fail(k, "unknown field")
		}
	}
}

// str reads an optional string field; a value of another type is an error.
func (o *obj) str(k string) (string, bool) {
	v, ok := o.m[k]
	if !ok {
		return "", false
	}
	s, ok := v.(string)
	if !ok {
		o.fail(k, "must be a string")
		return "", false
	}
	return s, true
}

// requiredStr reads a string field that must be there.
func (o *obj) requiredStr(k string) (string, bool) {
	if !o.has(k) {
		o.fail(k, "is required")
		return "", false
	}
	return o.str(k)
}

// number reads an optional number field.
func (o *obj) number(k string) (float64, bool) {
	v, ok := o.m[k]
	if !ok {
		return 0, false
	}
	f, ok := v.(float64)
	if !ok {
		o.fail(k, "must be a number")
		return 0, false
	}
	return f, true
}

// integer reads an optional number field that must be an integer from lo to hi.
func (o *obj) integer(k string, lo, hi int64) (int64, bool) {
	f, ok := o.number(k)
	if !ok {
		return 0, false
	}
	if f != math.Trunc(f) || f < float64(lo) || f > float64(hi) {
		o.fail(k, "must be an integer from %d to %d", lo, hi)
		return 0, false
	}
	return int64(f), true
}

// boolean reads an optional boolean field.
func (o *obj) boolean(k string) (bool, bool) {
	v, ok := o.m[k]
	if !ok {
		return false, false
	}
	b, ok := v.(bool)
	if !ok {
		o.fail(k, "must be a boolean")
		return false, false
	}
	return b, true
}

// object reads an optional object field.
func (o *obj) object(k string) (map[string]any, bool) {
	v, ok := o.m[k]
	if !ok {
		return nil, false
	}
	m, ok := v.(map[string]any)
	if !ok {
		o.fail(k, "must be an object")
		return nil, false
	}
	return m, true
}

// array reads an optional array field.
func (o *obj) array(k string) ([]any, bool) {
	v, ok := o.m[k]
	if !ok {
		return nil, false
	}
	a, ok := v.([]any)
	if !ok {
		o.fail(k, "must be an array")
		return nil, false
	}
	return a, true
}

// path compiles a path field (a JSONPath, or a reference path if ref). nullable fields may be null.
func (o *obj) path(k string, ref, nullable bool) *optPath {
	v, ok := o.m[k]
	if !ok {
		return nil
	}
	if v == nil {
		if nullable {
			return &optPath{null: true}
		}
		o.fail(k, "must be a path, not null")
		return nil
	}
	p := o.compilePath(k, v, ref)
	if p == nil {
		return nil
	}
	return &optPath{path: p}
}

// refPath compiles a path field that must select a single value (ItemsPath, SecondsPath, ...): a definite
// path over the input, the context object or a variable.
func (o *obj) refPath(k string) *dataflow.Path {
	v, ok := o.m[k]
	if !ok {
		return nil
	}
	p := o.compilePath(k, v, false)
	if p != nil && !p.Definite() {
		o.fail(k, "the path %q must select a single value", p.String())
		return nil
	}
	return p
}

// compilePath compiles the path v of field k: a reference path if ref, else any JSONPath.
func (o *obj) compilePath(k string, v any, ref bool) *dataflow.Path {
	s, ok := v.(string)
	if !ok {
		o.fail(k, "must be a path string")
		return nil
	}
	var p *dataflow.Path
	var err error
	if ref {
		p, err = dataflow.ParseReferencePath(s)
	} else {
		p, err = dataflow.ParsePath(s)
	}
	if err != nil {
		o.fail(k, "invalid path %q: %v", s, err)
		return nil
	}
	return p
}

// template compiles an optional payload template field (Parameters, ResultSelector, ItemSelector, Assign):
// an object whose keys ending in ".$" hold paths or intrinsic function calls.
func (o *obj) template(k string) *dataflow.Template {
	v, ok := o.m[k]
	if !ok {
		return nil
	}
	if _, isObj := v.(map[string]any); !isObj {
		o.fail(k, "must be an object")
		return nil
	}
	t, err := dataflow.ParseTemplate(v)
	if err != nil {
		o.fail(k, "%v", err)
		return nil
	}
	return t
}

// varName is what a variable name may be.
var varName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// assign compiles an Assign field and returns the names it assigns.
func (o *obj) assign() (*dataflow.Template, []string) {
	m, ok := o.object("Assign")
	if !ok {
		return nil, nil
	}
	var names []string
	for k := range m {
		n := strings.TrimSuffix(k, ".$")
		switch {
		case !varName.MatchString(n) || len(n) > maxStateNameLength:
			o.fail("Assign", "invalid variable name %q", n)
		case n == "states":
			o.fail("Assign", "the variable name \"states\" is reserved")
		case slices.Contains(names, n):
			o.fail("Assign", "variable %q is assigned twice", n)
		default:
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return o.template("Assign"), names
}

// queryLanguage checks a QueryLanguage field: only JSONPath is supported.
func (l *loader) queryLanguage(o *obj) {
	q, ok := o.str("QueryLanguage")
	switch {
	case !ok || q == "JSONPath":
	case q == "JSONata":
		o.fail("QueryLanguage", "JSONata is not supported: use JSONPath")
	default:
		o.fail("QueryLanguage", "must be JSONPath or JSONata")
	}
}

// graph reads StartAt and States of o (the top level, a branch or an item processor) named by field.
func (l *loader) graph(o *obj, field string) *graph {
	start, okStart := o.requiredStr("StartAt")
	states, ok := o.object("States")
	if !ok {
		if !o.has("States") {
			o.fail("States", "is required")
		}
		return nil
	}
	if len(states) == 0 {
		o.fail("States", "must have at least one state")
		return nil
	}
	// States are read in name order so that errors come out in the same order every time.
	g := &graph{startAt: start, states: make(map[string]*state, len(states))}
	names := make([]string, 0, len(states))
	for name := range states {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if l.names[name] {
			l.fail(name, "", "state name is used twice in the state machine")
			continue
		}
		l.names[name] = true
		if name == "" || utf8.RuneCountInString(name) > maxStateNameLength {
			l.fail(name, "", "state names must have 1 to %d characters", maxStateNameLength)
		}
		m, ok := states[name].(map[string]any)
		if !ok {
			l.fail(name, "", "a state must be an object")
			continue
		}
		if st := l.state(name, m); st != nil {
			g.states[name] = st
		}
	}
	if okStart {
		if _, ok := states[start]; !ok {
			o.fail("StartAt", "no state is named %q", start)
			return g
		}
	}
	l.checkTransitions(g, states)
	return g
}

// checkTransitions checks that every transition names a state of g and that every state of g is reachable
// from its start.
func (l *loader) checkTransitions(g *graph, raw map[string]any) {
	target := func(from, field, to string) bool {
		if _, ok := raw[to]; !ok {
			l.fail(from, field, "no state is named %q in this scope", to)
			return false
		}
		return true
	}
	edges := make(map[string][]string, len(g.states))
	for name, st := range g.states {
		add := func(field, to string) {
			if to != "" && target(name, field, to) {
				edges[name] = append(edges[name], to)
			}
		}
		add("Next", st.next)
		add("Default", st.def)
		for i, r := range st.choices {
			add(fmt.Sprintf("Choices[%d].Next", i), r.next)
		}
		for i, c := range st.catch {
			add(fmt.Sprintf("Catch[%d].Next", i), c.next)
		}
	}
	if _, ok := raw[g.startAt]; !ok {
		return
	}
	// Depth-first walk from StartAt over Next, Default, the Choice Rules' Next and the catchers' Next.
	seen := map[string]bool{g.startAt: true}
	todo := []string{g.startAt}
	for len(todo) > 0 {
		n := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		for _, to := range edges[n] {
			if !seen[to] {
				seen[to] = true
				todo = append(todo, to)
			}
		}
	}
	var unreachable []string
	for name := range raw {
		if !seen[name] {
			unreachable = append(unreachable, name)
		}
	}
	slices.Sort(unreachable)
	for _, name := range unreachable {
		l.fail(name, "", "state is not reachable from %q", g.startAt)
	}
}

// stateFields are the fields each state type allows besides Type, Comment and QueryLanguage.
var stateFields = map[string][]string{
	"Pass":    {"Next", "End", "InputPath", "OutputPath", "Parameters", "Result", "ResultPath", "Assign"},
	"Task":    {"Next", "End", "Resource", "InputPath", "OutputPath", "Parameters", "ResultSelector", "ResultPath", "Retry", "Catch", "TimeoutSeconds", "TimeoutSecondsPath", "HeartbeatSeconds", "HeartbeatSecondsPath", "Assign"},
	"Choice":  {"Choices", "Default", "InputPath", "OutputPath", "Assign"},
	"Wait":    {"Next", "End", "Seconds", "Timestamp", "SecondsPath", "TimestampPath", "InputPath", "OutputPath", "Assign"},
	"Succeed": {"InputPath", "OutputPath"},
	"Fail":    {"Error", "ErrorPath", "Cause", "CausePath"},
	"Parallel": {"Next", "End", "Branches", "InputPath", "OutputPath", "Parameters", "ResultSelector", "ResultPath",
		"Retry", "Catch", "Assign"},
	"Map": {"Next", "End", "ItemProcessor", "Iterator", "ItemsPath", "ItemSelector", "Parameters", "MaxConcurrency",
		"MaxConcurrencyPath", "ToleratedFailurePercentage", "ToleratedFailurePercentagePath", "ToleratedFailureCount",
		"ToleratedFailureCountPath", "InputPath", "OutputPath", "ResultSelector", "ResultPath", "Retry", "Catch", "Assign"},
}

var stateKinds = map[string]stateKind{
	"Pass": kindPass, "Task": kindTask, "Choice": kindChoice, "Wait": kindWait, "Succeed": kindSucceed,
	"Fail": kindFail, "Parallel": kindParallel, "Map": kindMap,
}

// state reads one state.
func (l *loader) state(name string, m map[string]any) *state {
	o := l.obj(m, name, "")
	typ, ok := o.requiredStr("Type")
	if !ok {
		return nil
	}
	kind, ok := stateKinds[typ]
	if !ok {
		o.fail("Type", "unknown state type %q", typ)
		return nil
	}
	st := &state{name: name, typ: typ, kind: kind}
	// Fields of features this interpreter does not run get their own message, then count as known.
	allowed := append([]string{"Type", "Comment", "QueryLanguage"}, stateFields[typ]...)
	if kind == kindTask && o.has("Credentials") {
		o.fail("Credentials", "Credentials (cross-account tasks) is not supported")
		allowed = append(allowed, "Credentials")
	}
	if kind == kindMap {
		for _, f := range []string{"ItemReader", "ResultWriter", "ItemBatcher", "Label"} {
			if o.has(f) {
				o.fail(f, "distributed Map is not supported")
				allowed = append(allowed, f)
			}
		}
	}
	o.allow(allowed...)
	o.str("Comment")
	l.queryLanguage(o)

	// Transitions: Choice states leave through their rules and Default, Succeed and Fail states end their
	// graph; every other state has exactly one of Next and "End": true.
	switch kind {
	case kindChoice, kindSucceed, kindFail:
	default:
		next, hasNext := o.str("Next")
		end, hasEnd := o.boolean("End")
		switch {
		case hasNext && hasEnd && end:
			o.fail("End", "a state cannot have both Next and End")
		case hasNext:
			st.next = next
		case hasEnd && end:
			st.end = true
		case !o.has("Next") && !o.has("End") || hasEnd:
			o.fail("Next", "a %s state must have Next or \"End\": true", typ)
		}
	}

	// Input and output processing. Which of these a state type allows was checked by allow above, so a field
	// read here for a type that does not have it is simply absent. A Fail state has no InputPath nor OutputPath:
	// its ErrorPath and CausePath read its raw input.
	if kind != kindFail {
		st.inputPath = o.path("InputPath", false, true)
		st.outputPath = o.path("OutputPath", false, true)
	}
	if o.has("ResultPath") {
		st.resultPath = l.resultPath(o, "ResultPath")
	}
	st.parameters = o.template("Parameters")
	st.resultSelector = o.template("ResultSelector")
	st.assign, st.assignNames = o.assign()
	if v, ok := m["Result"]; ok {
		st.result, st.hasResult = v, true
	}

	switch kind {
	case kindTask:
		l.task(o, st)
	case kindChoice:
		l.choice(o, st)
	case kindWait:
		l.wait(o, st)
	case kindFail:
		l.failState(o, st)
	case kindParallel:
		l.parallel(o, st)
	case kindMap:
		l.mapState(o, st)
	}
	if kind == kindTask || kind == kindParallel || kind == kindMap {
		st.retry = l.retriers(o)
		st.catch = l.catchers(o)
	}
	return st
}

// resultPath compiles a ResultPath: a reference path into the state input, or null.
func (l *loader) resultPath(o *obj, k string) *optPath {
	p := o.path(k, true, true)
	if p == nil || p.null {
		return p
	}
	s := p.path.String()
	if !strings.HasPrefix(s, "$") || strings.HasPrefix(s, "$$") || len(s) > 1 && s[1] != '.' && s[1] != '[' {
		o.fail(k, "must be a reference path into the state input ($...)")
		return nil
	}
	return p
}

// task reads the fields of a Task state and resolves its resource.
func (l *loader) task(o *obj, st *state) {
	res, ok := o.requiredStr("Resource")
	if ok {
		st.resource = res
		l.resolve(o, st)
	}
	if o.has("TimeoutSeconds") && o.has("TimeoutSecondsPath") {
		o.fail("TimeoutSecondsPath", "TimeoutSeconds and TimeoutSecondsPath are exclusive")
	}
	timeout, hasTimeout := o.integer("TimeoutSeconds", 1, maxSeconds)
	if hasTimeout {
		st.timeout = time.Duration(timeout) * time.Second
	}
	st.timeoutPath = o.refPath("TimeoutSecondsPath")
	if o.has("HeartbeatSeconds") && o.has("HeartbeatSecondsPath") {
		o.fail("HeartbeatSecondsPath", "HeartbeatSeconds and HeartbeatSecondsPath are exclusive")
	}
	if hb, ok := o.integer("HeartbeatSeconds", 1, maxSeconds); ok && hasTimeout && hb >= timeout {
		o.fail("HeartbeatSeconds", "must be smaller than TimeoutSeconds")
	}
	o.refPath("HeartbeatSecondsPath")
}

// lambdaInvokeParams are the parameters of arn:aws:states:::lambda:invoke.
var lambdaInvokeParams = []string{"FunctionName", "Payload", "InvocationType", "Qualifier", "ClientContext", "LogType"}

// resolve finds how a Task's resource runs, or reports why it cannot.
func (l *loader) resolve(o *obj, st *state) {
	res := st.resource
	// A registered handler takes any ARN, so that a test or a local stand-in can replace even a Lambda function.
	if h, ok := l.opts.tasks[res]; ok && h != nil {
		st.resKind, st.handler = resourceHandler, h
		return
	}
	// ARNs are arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE...; service integrations have neither region nor
	// account (arn:aws:states:::lambda:invoke).
	p := strings.Split(res, ":")
	switch {
	case len(p) < 6 || p[0] != "arn":
		o.fail("Resource", "%q is not an ARN", res)
		return
	case p[2] == "states" && p[5] == "activity":
		o.fail("Resource", "activities are not supported by Express workflows: %q", res)
		return
	case strings.HasSuffix(res, ".waitForTaskToken") || strings.Contains(res, ".sync"):
		o.fail("Resource", "the .sync and .waitForTaskToken integration patterns are not supported by Express workflows: %q", res)
		return
	case p[2] == "states" && p[3] == "" && p[4] == "" && p[5] == "lambda" && len(p) == 7 && p[6] == "invoke":
		st.resKind = resourceLambdaInvoke
		l.lambdaInvokeParams(o, st)
	case p[2] == "lambda" && p[5] == "function" && (len(p) == 7 || len(p) == 8) && p[6] != "":
		st.resKind = resourceLambdaARN
	default:
		o.fail("Resource", "unknown resource %q: register a handler for it", res)
		return
	}
	if l.opts.lambda == nil {
		o.fail("Resource", "no Lambda port to invoke %q", res)
	}
}

// lambdaInvokeParams checks the Parameters of a lambda:invoke Task.
func (l *loader) lambdaInvokeParams(o *obj, st *state) {
	params, ok := o.m["Parameters"].(map[string]any)
	if !ok {
		o.fail("Parameters", "lambda:invoke needs Parameters with FunctionName")
		return
	}
	var hasName bool
	for k, v := range params {
		n := strings.TrimSuffix(k, ".$")
		if !slices.Contains(lambdaInvokeParams, n) {
			o.fail("Parameters."+k, "not a parameter of lambda:invoke")
		}
		if n == "FunctionName" {
			hasName = true
		}
		if k == "InvocationType" && v != "RequestResponse" {
			o.fail("Parameters.InvocationType", "only RequestResponse invocations are supported")
		}
	}
	if !hasName {
		o.fail("Parameters", "lambda:invoke needs FunctionName")
	}
}

// wait reads the fields of a Wait state: exactly one of Seconds, Timestamp, SecondsPath, TimestampPath.
func (l *loader) wait(o *obj, st *state) {
	var n int
	for _, f := range []string{"Seconds", "Timestamp", "SecondsPath", "TimestampPath"} {
		if o.has(f) {
			n++
		}
	}
	if n != 1 {
		o.fail("Seconds", "a Wait state needs exactly one of Seconds, Timestamp, SecondsPath and TimestampPath")
		return
	}
	switch {
	case o.has("Seconds"):
		st.wait = waitSeconds
		st.waitSeconds, _ = o.integer("Seconds", 0, maxSeconds)
	case o.has("Timestamp"):
		st.wait = waitTimestamp
		if s, ok := o.str("Timestamp"); ok {
			t, err := parseTimestamp(s)
			if err != nil {
				o.fail("Timestamp", "%q is not an ISO-8601 timestamp", s)
			}
			st.waitTimestamp = t
		}
	case o.has("SecondsPath"):
		st.wait = waitSecondsPath
		st.waitPath = o.refPath("SecondsPath")
	default:
		st.wait = waitTimestampPath
		st.waitPath = o.refPath("TimestampPath")
	}
}

// failState reads Error, Cause, ErrorPath and CausePath.
func (l *loader) failState(o *obj, st *state) {
	expr := func(k string) *valueExpr {
		s, ok := o.str(k)
		if !ok {
			return nil
		}
		if dataflow.IsCall(s) {
			c, err := dataflow.ParseCall(s)
			if err != nil {
				o.fail(k, "%v", err)
				return nil
			}
			return &valueExpr{call: c}
		}
		if p := o.refPath(k); p != nil {
			return &valueExpr{path: p}
		}
		return nil
	}
	if o.has("Error") && o.has("ErrorPath") {
		o.fail("ErrorPath", "Error and ErrorPath are exclusive")
	}
	if o.has("Cause") && o.has("CausePath") {
		o.fail("CausePath", "Cause and CausePath are exclusive")
	}
	st.failError, _ = o.str("Error")
	st.failCause, _ = o.str("Cause")
	st.failErrorExpr = expr("ErrorPath")
	st.failCauseExpr = expr("CausePath")
}

// subGraph reads a Parallel branch or a Map item processor.
func (l *loader) subGraph(parent *obj, field string, v any, allowed ...string) *graph {
	m, ok := v.(map[string]any)
	if !ok {
		parent.fail(field, "must be an object")
		return nil
	}
	o := l.obj(m, parent.state, field+".")
	o.allow(append([]string{"StartAt", "States", "Comment"}, allowed...)...)
	o.str("Comment")
	return l.graph(o, field)
}

// parallel reads Branches.
func (l *loader) parallel(o *obj, st *state) {
	branches, ok := o.array("Branches")
	if !ok {
		if !o.has("Branches") {
			o.fail("Branches", "is required")
		}
		return
	}
	if len(branches) == 0 {
		o.fail("Branches", "must have at least one branch")
	}
	for i, b := range branches {
		if g := l.subGraph(o, fmt.Sprintf("Branches[%d]", i), b); g != nil {
			st.branches = append(st.branches, g)
		}
	}
}

// mapState reads the fields of an inline Map state.
func (l *loader) mapState(o *obj, st *state) {
	switch {
	case o.has("ItemProcessor") && o.has("Iterator"):
		o.fail("Iterator", "ItemProcessor and Iterator are exclusive")
	case o.has("ItemProcessor"):
		m, ok := o.object("ItemProcessor")
		if !ok {
			break
		}
		if cfg, ok := m["ProcessorConfig"]; ok {
			l.processorConfig(o, cfg)
		}
		st.processor = l.subGraph(o, "ItemProcessor", m, "ProcessorConfig")
	case o.has("Iterator"):
		st.processor = l.subGraph(o, "Iterator", o.m["Iterator"])
	default:
		o.fail("ItemProcessor", "is required")
	}
	// ItemsPath selects the array (default: the effective input). ItemSelector, or the legacy Parameters,
	// shapes each item; both see $$.Map.Item.Index and $$.Map.Item.Value.
	if o.has("ItemsPath") {
		st.itemsPath = o.refPath("ItemsPath")
	}
	if o.has("ItemSelector") && o.has("Parameters") {
		o.fail("Parameters", "ItemSelector and Parameters are exclusive")
	}
	st.itemSelector = st.parameters
	if o.has("ItemSelector") {
		st.itemSelector = o.template("ItemSelector")
	}
	st.parameters = nil
	// Each of these fields has a ...Path form read at run time; a state has at most one of the two.
	pair := func(k string) bool {
		if o.has(k) && o.has(k+"Path") {
			o.fail(k+"Path", "%s and %sPath are exclusive", k, k)
			return false
		}
		return true
	}
	if pair("MaxConcurrency") {
		if n, ok := o.integer("MaxConcurrency", 0, maxSeconds); ok {
			st.maxConc = int(n)
		}
		st.maxConcPath = o.refPath("MaxConcurrencyPath")
	}
	if pair("ToleratedFailurePercentage") {
		if f, ok := o.number("ToleratedFailurePercentage"); ok {
			if f < 0 || f > 100 {
				o.fail("ToleratedFailurePercentage", "must be from 0 to 100")
			}
			st.tolPct, st.tolPctSet = f, true
		}
		st.tolPctPath = o.refPath("ToleratedFailurePercentagePath")
	}
	if pair("ToleratedFailureCount") {
		if n, ok := o.integer("ToleratedFailureCount", 0, math.MaxInt32); ok {
			st.tolCount, st.tolCountSet = int(n), true
		}
		st.tolCountPath = o.refPath("ToleratedFailureCountPath")
	}
	st.hasItemTolerance = st.tolPctSet || st.tolPctPath != nil || st.tolCountSet || st.tolCountPath != nil
}

// processorConfig checks ItemProcessor.ProcessorConfig: only the INLINE mode is supported.
func (l *loader) processorConfig(parent *obj, v any) {
	m, ok := v.(map[string]any)
	if !ok {
		parent.fail("ItemProcessor.ProcessorConfig", "must be an object")
		return
	}
	o := l.obj(m, parent.state, "ItemProcessor.ProcessorConfig.")
	o.allow("Mode", "ExecutionType")
	mode, _ := o.str("Mode")
	switch mode {
	case "", "INLINE":
		if o.has("ExecutionType") {
			o.fail("ExecutionType", "only a DISTRIBUTED Map has an ExecutionType")
		}
	case "DISTRIBUTED":
		o.fail("Mode", "distributed Map is not supported")
	default:
		o.fail("Mode", "must be INLINE or DISTRIBUTED")
	}
}

// retriers reads a Retry field.
func (l *loader) retriers(o *obj) []*retrier {
	list, ok := o.array("Retry")
	if !ok {
		return nil
	}
	out := make([]*retrier, 0, len(list))
	for i, v := range list {
		field := fmt.Sprintf("Retry[%d]", i)
		m, ok := v.(map[string]any)
		if !ok {
			o.fail(field, "must be an object")
			continue
		}
		ro := l.obj(m, o.state, field+".")
		ro.allow("ErrorEquals", "IntervalSeconds", "MaxAttempts", "BackoffRate", "MaxDelaySeconds", "JitterStrategy", "Comment")
		ro.str("Comment")
		// The defaults of the language: IntervalSeconds 1, MaxAttempts 3, BackoffRate 2.0, no maximum delay and
		// no jitter.
		r := &retrier{interval: time.Second, maxAttempts: 3, backoff: 2}
		r.errorEquals = l.errorEquals(ro, i == len(list)-1)
		if n, ok := ro.integer("IntervalSeconds", 1, maxSeconds); ok {
			r.interval = time.Duration(n) * time.Second
		}
		if n, ok := ro.integer("MaxAttempts", 0, maxSeconds); ok {
			r.maxAttempts = int(n)
		}
		if f, ok := ro.number("BackoffRate"); ok {
			if f < 1 {
				ro.fail("BackoffRate", "must be at least 1.0")
			} else {
				r.backoff = f
			}
		}
		if n, ok := ro.integer("MaxDelaySeconds", 1, maxDelayLimit-1); ok {
			r.maxDelay = time.Duration(n) * time.Second
		}
		if s, ok := ro.str("JitterStrategy"); ok {
			switch s {
			case "FULL":
				r.jitter = true
			case "NONE":
			default:
				ro.fail("JitterStrategy", "must be FULL or NONE")
			}
		}
		out = append(out, r)
	}
	return out
}

// catchers reads a Catch field.
func (l *loader) catchers(o *obj) []*catcher {
	list, ok := o.array("Catch")
	if !ok {
		return nil
	}
	out := make([]*catcher, 0, len(list))
	for i, v := range list {
		field := fmt.Sprintf("Catch[%d]", i)
		m, ok := v.(map[string]any)
		if !ok {
			o.fail(field, "must be an object")
			continue
		}
		co := l.obj(m, o.state, field+".")
		co.allow("ErrorEquals", "Next", "ResultPath", "Assign", "Comment")
		co.str("Comment")
		c := &catcher{}
		c.errorEquals = l.errorEquals(co, i == len(list)-1)
		c.next, _ = co.requiredStr("Next")
		if co.has("ResultPath") {
			c.resultPath = l.resultPath(co, "ResultPath")
		}
		c.assign, c.assignNames = co.assign()
		out = append(out, c)
	}
	return out
}

// errorEquals reads the ErrorEquals of a retrier or catcher; States.ALL must be alone in the last one.
func (l *loader) errorEquals(o *obj, last bool) []string {
	list, ok := o.array("ErrorEquals")
	if !ok {
		if !o.has("ErrorEquals") {
			o.fail("ErrorEquals", "is required")
		}
		return nil
	}
	if len(list) == 0 {
		o.fail("ErrorEquals", "must name at least one error")
	}
	names := make([]string, 0, len(list))
	for _, v := range list {
		s, ok := v.(string)
		if !ok || s == "" {
			o.fail("ErrorEquals", "error names must be non-empty strings")
			continue
		}
		if s == ErrorAll && (len(list) != 1 || !last) {
			o.fail("ErrorEquals", "States.ALL must appear alone and in the last retrier or catcher")
		}
		names = append(names, s)
	}
	return names
}

// checkVars checks variable scopes: the states of a Parallel branch or a Map iteration run in a scope of their
// own that reads the enclosing scopes' variables but may not assign a variable an enclosing scope assigns.
func (l *loader) checkVars(g *graph, outer map[string]string) {
	own := make(map[string]string)
	names := make([]string, 0, len(g.states))
	for name := range g.states {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		st := g.states[name]
		lists := [][]string{st.assignNames}
		for _, r := range st.choices {
			lists = append(lists, r.assignNames)
		}
		for _, c := range st.catch {
			lists = append(lists, c.assignNames)
		}
		for _, list := range lists {
			for _, v := range list {
				if where, ok := outer[v]; ok {
					l.fail(name, "Assign", "variable %q is assigned by state %q of an enclosing scope: a nested scope cannot assign it", v, where)
				}
				own[v] = name
			}
		}
	}
	inner := make(map[string]string, len(outer)+len(own))
	for k, v := range outer {
		inner[k] = v
	}
	for k, v := range own {
		inner[k] = v
	}
	for _, name := range names {
		st := g.states[name]
		for _, b := range st.branches {
			l.checkVars(b, inner)
		}
		if st.processor != nil {
			l.checkVars(st.processor, inner)
		}
	}
}

// parseTimestamp parses an ISO-8601 timestamp as Step Functions takes them (RFC 3339, uppercase T, an offset or
// Z, optional fractional seconds).
func parseTimestamp(s string) (time.Time, error) {
	return time.Parse(time.RFC3339Nano, s)
}
