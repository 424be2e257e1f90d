package asl

import (
	"errors"
	"fmt"
	"time"

	"github.com/serverless-data-platform/sdp/workflow/asl/internal/dataflow"
)

// DefinitionError is an error Parse reports about a definition: the state (empty for the top level) and the
// field it is about, and why. It wraps ErrInvalidDefinition.
type DefinitionError struct {
	State  string
	Field  string
	Reason string
}

// Error returns the state, field and reason.
func (e *DefinitionError) Error() string {
	msg := ErrInvalidDefinition.Error() + ": "
	if e.State != "" {
		msg += fmt.Sprintf("state %q: ", e.State)
	}
	if e.Field != "" {
		msg += fmt.Sprintf("field %q: ", e.Field)
	}
	return msg + e.Reason
}

// Unwrap returns ErrInvalidDefinition.
func (e *DefinitionError) Unwrap() error { return ErrInvalidDefinition }

// stateKind is the Type of a state.
type stateKind uint8

const (
	kindPass stateKind = iota + 1
	kindTask
	kindChoice
	kindWait
	kindSucceed
	kindFail
	kindParallel
	kindMap
)

// graph is a set of states with its start: the top level of a machine, a Parallel branch or a Map's
// ItemProcessor.
type graph struct {
	startAt string
	states  map[string]*state
}

// optPath is a path field that may be null; a nil *optPath is the default "$".
type optPath struct {
	path *dataflow.Path
	null bool
}

// valueExpr is a reference path or an intrinsic function call (Fail's ErrorPath and CausePath).
type valueExpr struct {
	path *dataflow.Path
	call *dataflow.Call
}

// eval evaluates the path or the call.
func (x *valueExpr) eval(s dataflow.Scope) (any, error) {
	if x.call != nil {
		return x.call.Eval(s)
	}
	return x.path.Lookup(s)
}

// resourceKind tells how a Task's resource is run.
type resourceKind uint8

const (
	resourceHandler      resourceKind = iota + 1 // registered with WithTask
	resourceLambdaInvoke                         // arn:aws:states:::lambda:invoke
	resourceLambdaARN                            // arn:aws:lambda:...:function:NAME
)

// waitMode tells which field of a Wait state gives the wait.
type waitMode uint8

const (
	waitSeconds waitMode = iota + 1
	waitTimestamp
	waitSecondsPath
	waitTimestampPath
)

// state is a compiled state. Fields are used according to kind.
type state struct {
	name string
	typ  string
	kind stateKind
	next string
	end  bool

	inputPath      *optPath
	outputPath     *optPath
	resultPath     *optPath
	parameters     *dataflow.Template
	resultSelector *dataflow.Template
	assign         *dataflow.Template
	assignNames    []string
	result         any
	hasResult      bool

	// Task.
	resource    string
	resKind     resourceKind
	handler     TaskHandler
	timeout     time.Duration
	timeoutPath *dataflow.Path
	retry       []*retrier
	catch       []*catcher

	// Choice.
	choices []*rule
	def     string

	// Wait.
	wait          waitMode
	waitSeconds   int64
	waitTimestamp time.Time
	waitPath      *dataflow.Path

	// Fail.
	failError     string
	failCause     string
	failErrorExpr *valueExpr
	failCauseExpr *valueExpr

	// Parallel.
	branches []*graph

	// Map.
	processor        *graph
	itemsPath        *dataflow.Path
	itemSelector     *dataflow.Template
	maxConc          int
	maxConcPath      *dataflow.Path
	tolPct           float64
	tolPctSet        bool
	tolPctPath       *dataflow.Path
	tolCount         int
	tolCountSet      bool
	tolCountPath     *dataflow.Path
	hasItemTolerance bool
}

// retrier is one element of a Retry field.
type retrier struct {
	errorEquals []string
	interval    time.Duration
	maxAttempts int
	backoff     float64
	maxDelay    time.Duration
	jitter      bool
}

// catcher is one element of a Catch field.
type catcher struct {
	errorEquals []string
	next        string
	resultPath  *optPath
	assign      *dataflow.Template
	assignNames []string
}

// matchError tells whether a Retry or Catch ErrorEquals list matches the error name. States.ALL matches every
// name but States.Runtime and States.DataLimitExceeded; States.TaskFailed matches every name but
// States.Timeout (and those two); other names match exactly.
func matchError(list []string, name string) bool {
	if !catchable(name) {
		return false
	}
	for _, e := range list {
		switch e {
		case name, ErrorAll:
			return true
		case ErrorTaskFailed:
			if name != ErrorTimeout {
				return true
			}
		}
	}
	return false
}

// catchable tells whether an error may be retried or caught at all.
func catchable(name string) bool {
	return name != ErrorRuntime && name != ErrorDataLimitExceeded
}

// errStop is returned inside an execution when its context ended: the execution is aborted or timed out, and
// no Retry or Catch applies.
var errStop = errors.New("execution stopped")
