// Package infrastructure holds the deployment templates and reads the SAM template, which is the one source
// of the functions' names and of the consumer's event source settings: `sdp up` runs the local event source
// mapping with the settings this template deploys, rather than keeping a second copy.
package infrastructure

import (
	_ "embed"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Template is the SAM template (template.yaml) as embedded in the binary.
//
//go:embed template.yaml
var Template []byte

// Function is a Lambda function of the template. Name is its Handler setting: one bootstrap serves every
// function and chooses by the handler, and local mode uses the same name for its Invoke API.
type Function struct {
	LogicalID  string
	Name       string
	Timeout    int
	MemorySize int
	// Environment is the function's environment variables, Globals' first: a parameter reference is
	// resolved to the parameter's default, a reference to a resource (!Ref, !GetAtt) to its logical id.
	Environment map[string]string
	// Kinesis lists the function's Kinesis event sources.
	Kinesis []KinesisSource
}

// KinesisSource is a Kinesis event source mapping, with AWS's defaults filled in where the template is silent.
type KinesisSource struct {
	EventName                      string
	StreamLogicalID                string
	StartingPosition               string
	BatchSize                      int
	MaximumBatchingWindowInSeconds int
	ParallelizationFactor          int
	BisectBatchOnFunctionError     bool
	// MaximumRetryAttempts and MaximumRecordAgeInSeconds are -1 for infinite, as in AWS.
	MaximumRetryAttempts      int
	MaximumRecordAgeInSeconds int
	ReportBatchItemFailures   bool
	// OnFailureLogicalID is the resource receiving on-failure records, when one is set.
	OnFailureLogicalID string
}

// Stack is what local mode needs to know of a template.
type Stack struct {
	Functions []Function
	// Parameters are the template's parameter defaults, as strings.
	Parameters map[string]string
	// StreamShards is the ShardCount of the first Kinesis stream (resolved through parameters), 0 when none.
	StreamShards int
	// StreamRetentionHours is the stream's RetentionPeriodHours (24 when unset, as in AWS).
	StreamRetentionHours int
	// StateMachines are the template's AWS::Serverless::StateMachine resources.
	StateMachines []StateMachine
}

// StateMachine is a Step Functions state machine of the template whose definition is a file.
type StateMachine struct {
	LogicalID string
	// Type is EXPRESS or STANDARD.
	Type string
	// DefinitionURI is the definition file's path, relative to the template.
	DefinitionURI string
	// Substitutions maps each definition substitution variable to the logical id of the resource it names
	// (a !GetAtt X.Arn or !Ref X), or to its literal value.
	Substitutions map[string]string
	// LogLevel and IncludeExecutionData are the execution logging settings.
	LogLevel             string
	IncludeExecutionData bool
}

// FunctionByLogicalID returns the function with the given logical id.
func (s *Stack) FunctionByLogicalID(id string) (Function, bool) {
	for _, f := range s.Functions {
		if f.LogicalID == id {
			return f, true
		}
	}
	return Function{}, false
}

// Function returns the function with the given name (handler).
func (s *Stack) Function(name string) (Function, bool) {
	for _, f := range s.Functions {
		if f.Name == name {
			return f, true
		}
	}
	return Function{}, false
}

// Read parses a SAM template. CloudFormation's short-form tags (!Ref, !GetAtt, !Sub, ...) are understood as
// far as local mode needs: a !Ref to a parameter resolves to the parameter's default, a !GetAtt or !Ref to a
// resource names that resource's logical id, and an !If chooses its branch by the named condition evaluated
// with the parameters' defaults (!Equals, !Not, !And, !Or, !Condition), a !Ref AWS::NoValue branch meaning
// that the setting is absent.
func Read(template []byte) (*Stack, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(template, &root); err != nil {
		return nil, fmt.Errorf("template: %w", err)
	}
	if len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
		return nil, errors.New("template: not a YAML mapping")
	}
	doc := root.Content[0]
	st := &Stack{Parameters: map[string]string{}}
	r := resolver{params: st.Parameters, conditions: map[string]*yaml.Node{}}
	if conds := field(doc, "Conditions"); conds != nil {
		for i := 0; i+1 < len(conds.Content); i += 2 {
			r.conditions[conds.Content[i].Value] = conds.Content[i+1]
		}
	}
	if params := field(doc, "Parameters"); params != nil {
		for i := 0; i+1 < len(params.Content); i += 2 {
			if d := field(params.Content[i+1], "Default"); d != nil {
				st.Parameters[params.Content[i].Value] = d.Value
			}
		}
	}
	globals := field(field(doc, "Globals"), "Function")
	resources := field(doc, "Resources")
	if resources == nil {
		return nil, errors.New("template: no Resources")
	}
	for i := 0; i+1 < len(resources.Content); i += 2 {
		id, res := resources.Content[i].Value, resources.Content[i+1]
		props := field(res, "Properties")
		switch scalar(field(res, "Type")) {
		case "AWS::Kinesis::Stream":
			if st.StreamShards == 0 {
				n, err := r.intValue(field(props, "ShardCount"), 1)
				if err != nil {
					return nil, fmt.Errorf("template: %s.ShardCount: %w", id, err)
				}
				st.StreamShards = n
				if st.StreamRetentionHours, err = r.intValue(field(props, "RetentionPeriodHours"), 24); err != nil {
					return nil, fmt.Errorf("template: %s.RetentionPeriodHours: %w", id, err)
				}
			}
		case "AWS::Serverless::Function":
			fn, err := r.function(id, props, globals)
			if err != nil {
				return nil, fmt.Errorf("template: %s: %w", id, err)
			}
			st.Functions = append(st.Functions, fn)
		case "AWS::Serverless::StateMachine":
			sm := StateMachine{LogicalID: id, Type: r.stringValue(field(props, "Type"), "STANDARD"),
				DefinitionURI: scalar(field(props, "DefinitionUri")), Substitutions: map[string]string{}}
			if subs := field(props, "DefinitionSubstitutions"); subs != nil {
				for j := 0; j+1 < len(subs.Content); j += 2 {
					sm.Substitutions[subs.Content[j].Value] = r.target(subs.Content[j+1])
				}
			}
			if lg := field(props, "Logging"); lg != nil {
				sm.LogLevel = scalar(field(lg, "Level"))
				sm.IncludeExecutionData = scalar(field(lg, "IncludeExecutionData")) == "true"
			}
			st.StateMachines = append(st.StateMachines, sm)
		}
	}
	sort.Slice(st.Functions, func(i, j int) bool { return st.Functions[i].Name < st.Functions[j].Name })
	return st, nil
}

// resolver resolves the values of a template: !Ref to a parameter gives its default, !If the branch its
// condition chooses.
type resolver struct {
	params     map[string]string
	conditions map[string]*yaml.Node
}

// intrinsic returns the name of the intrinsic function n calls ("If" for both !If and {"Fn::If": ...}) and
// its arguments, or "" when n is no such call.
func intrinsic(n *yaml.Node) (string, *yaml.Node) {
	if n == nil {
		return "", nil
	}
	if strings.HasPrefix(n.Tag, "!") && !strings.HasPrefix(n.Tag, "!!") {
		return n.Tag[1:], n
	}
	if n.Kind == yaml.MappingNode && len(n.Content) == 2 && strings.HasPrefix(n.Content[0].Value, "Fn::") {
		return strings.TrimPrefix(n.Content[0].Value, "Fn::"), n.Content[1]
	}
	if n.Kind == yaml.MappingNode && len(n.Content) == 2 && (n.Content[0].Value == "Condition" || n.Content[0].Value == "Ref") {
		return n.Content[0].Value, n.Content[1]
	}
	return "", nil
}

// condition evaluates the template condition called name with the parameters' defaults.
func (r resolver) condition(name string, depth int) (bool, error) {
	n, ok := r.conditions[name]
	if !ok {
		return false, fmt.Errorf("no condition %q", name)
	}
	return r.evaluate(n, depth+1)
}

// evaluate computes a condition expression; depth bounds conditions that name each other in a cycle.
func (r resolver) evaluate(n *yaml.Node, depth int) (bool, error) {
	if depth > 32 {
		return false, errors.New("conditions nested too deeply (a cycle?)")
	}
	fn, args := intrinsic(n)
	if fn == "Condition" {
		return r.condition(args.Value, depth)
	}
	if args == nil || args.Kind != yaml.SequenceNode {
		return false, fmt.Errorf("unsupported condition %q", n.Value)
	}
	switch fn {
	case "Equals":
		if len(args.Content) != 2 {
			return false, errors.New("Fn::Equals takes two values")
		}
		return r.stringValue(args.Content[0], "") == r.stringValue(args.Content[1], ""), nil
	case "Not", "And", "Or":
		results := make([]bool, 0, len(args.Content))
		for _, a := range args.Content {
			v, err := r.evaluate(a, depth+1)
			if err != nil {
				return false, err
			}
			results = append(results, v)
		}
		switch {
		case fn == "Not" && len(results) == 1:
			return !results[0], nil
		case fn == "And":
			return !slices.Contains(results, false), nil
		case fn == "Or":
			return slices.Contains(results, true), nil
		}
	}
	return false, fmt.Errorf("unsupported condition function %q", fn)
}

// function reads one AWS::Serverless::Function: its handler, timeout and memory (falling back to Globals) and
// its Kinesis event sources.
func (r resolver) function(id string, props, globals *yaml.Node) (Function, error) {
	fn := Function{LogicalID: id, Name: scalar(field(props, "Handler"))}
	if fn.Name == "" {
		return fn, errors.New("no Handler: every function names itself by its handler")
	}
	var err error
	if fn.Timeout, err = r.intValue(first(field(props, "Timeout"), field(globals, "Timeout")), 3); err != nil {
		return fn, fmt.Errorf("setting Timeout: %w", err)
	}
	if fn.MemorySize, err = r.intValue(first(field(props, "MemorySize"), field(globals, "MemorySize")), 128); err != nil {
		return fn, fmt.Errorf("setting MemorySize: %w", err)
	}
	fn.Environment = map[string]string{}
	for _, env := range []*yaml.Node{globals, props} {
		vars := field(field(env, "Environment"), "Variables")
		for i := 0; vars != nil && i+1 < len(vars.Content); i += 2 {
			fn.Environment[vars.Content[i].Value] = r.envValue(vars.Content[i+1])
		}
	}
	evs := field(props, "Events")
	if evs == nil {
		return fn, nil
	}
	for i := 0; i+1 < len(evs.Content); i += 2 {
		name, ev := evs.Content[i].Value, evs.Content[i+1]
		if scalar(field(ev, "Type")) != "Kinesis" {
			continue
		}
		src, err := r.kinesis(name, field(ev, "Properties"))
		if err != nil {
			return fn, fmt.Errorf("event %s: %w", name, err)
		}
		fn.Kinesis = append(fn.Kinesis, src)
	}
	return fn, nil
}

// kinesis reads one Kinesis event source, filling AWS's defaults for the settings left out.
func (r resolver) kinesis(name string, p *yaml.Node) (KinesisSource, error) {
	k := KinesisSource{EventName: name, StreamLogicalID: r.target(field(p, "Stream"))}
	k.StartingPosition = r.stringValue(field(p, "StartingPosition"), "LATEST")
	ints := []struct {
		key string
		dst *int
		def int
	}{
		{"BatchSize", &k.BatchSize, 100},
		{"MaximumBatchingWindowInSeconds", &k.MaximumBatchingWindowInSeconds, 0},
		{"ParallelizationFactor", &k.ParallelizationFactor, 1},
		{"MaximumRetryAttempts", &k.MaximumRetryAttempts, -1},
		{"MaximumRecordAgeInSeconds", &k.MaximumRecordAgeInSeconds, -1},
	}
	for _, f := range ints {
		v, err := r.intValue(field(p, f.key), f.def)
		if err != nil {
			return k, fmt.Errorf("%s: %w", f.key, err)
		}
		*f.dst = v
	}
	k.BisectBatchOnFunctionError = r.stringValue(field(p, "BisectBatchOnFunctionError"), "false") == "true"
	if types := field(p, "FunctionResponseTypes"); types != nil {
		for _, t := range types.Content {
			if t.Value == "ReportBatchItemFailures" {
				k.ReportBatchItemFailures = true
			}
		}
	}
	k.OnFailureLogicalID = r.target(field(field(field(p, "DestinationConfig"), "OnFailure"), "Destination"))
	return k, nil
}

// stringValue resolves a scalar, a !Ref to a parameter or an !If; def when the value is absent (or an
// !If whose condition cannot be evaluated).
func (r resolver) stringValue(n *yaml.Node, def string) string {
	if n == nil {
		return def
	}
	if fn, args := intrinsic(n); fn == "If" {
		if args.Kind != yaml.SequenceNode || len(args.Content) != 3 {
			return def
		}
		ok, err := r.condition(args.Content[0].Value, 0)
		if err != nil {
			return def
		}
		branch := args.Content[2]
		if ok {
			branch = args.Content[1]
		}
		if fn, v := intrinsic(branch); fn == "Ref" && v.Value == "AWS::NoValue" {
			return def
		}
		return r.stringValue(branch, def)
	}
	if n.Tag == "!Ref" {
		if v, ok := r.params[n.Value]; ok {
			return v
		}
		return def
	}
	if ref := field(n, "Ref"); ref != nil {
		if v, ok := r.params[ref.Value]; ok {
			return v
		}
		return def
	}
	return n.Value
}

// envValue resolves an environment variable's value: a parameter to its default, a resource to its logical id.
func (r resolver) envValue(n *yaml.Node) string {
	if fn, _ := intrinsic(n); fn == "Ref" || fn == "GetAtt" {
		if _, isParam := r.params[r.target(n)]; !isParam {
			return r.target(n)
		}
	}
	return r.stringValue(n, "")
}

// intValue resolves a whole-number setting, def when it is absent.
func (r resolver) intValue(n *yaml.Node, def int) (int, error) {
	s := r.stringValue(n, strconv.Itoa(def))
	v, err := strconv.Atoi(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a whole number", s)
	}
	return v, nil
}

// target names the resource a !Ref, !GetAtt X.Arn or {"Fn::GetAtt": [X, Arn]} points to.
func (r resolver) target(n *yaml.Node) string {
	if n == nil {
		return ""
	}
	switch n.Tag {
	case "!Ref":
		return n.Value
	case "!GetAtt":
		if n.Kind == yaml.SequenceNode && len(n.Content) > 0 {
			return n.Content[0].Value
		}
		id, _, _ := strings.Cut(n.Value, ".")
		return id
	}
	if ref := field(n, "Ref"); ref != nil {
		return ref.Value
	}
	if ga := field(n, "Fn::GetAtt"); ga != nil && len(ga.Content) > 0 {
		return ga.Content[0].Value
	}
	return n.Value
}

// field returns the value of key in a mapping node, or nil.
func field(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// scalar is a node's value, "" for nil.
func scalar(n *yaml.Node) string {
	if n == nil {
		return ""
	}
	return n.Value
}

// first returns the first non-nil node.
func first(ns ...*yaml.Node) *yaml.Node {
	for _, n := range ns {
		if n != nil {
			return n
		}
	}
	return nil
}
