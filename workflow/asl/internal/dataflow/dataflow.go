// Package dataflow is the data language of Amazon States Language in JSONPath mode: reference paths, JSONPath
// queries over the state input, the context object ($$) and variables, payload templates (Parameters,
// ResultSelector, ItemSelector, Assign), the intrinsic functions, and placing a result at a ResultPath.
//
// Values are decoded JSON as encoding/json decodes into any (map[string]any, []any, string, float64, bool
// and nil) and, anywhere among them, raw JSON text (*Raw) that is decoded one level at a time as paths,
// comparisons, intrinsics and Set look into it, and encoded as it is (AppendJSON). Values passed in are never
// modified; results may share unmodified parts with the inputs, so callers must treat every value they get
// back as read-only too.
//
// Everything is compiled once (ParsePath, ParseReferencePath, ParseTemplate, ParseCall) and the compiled
// forms are immutable and safe for concurrent use; evaluation does no parsing.
package dataflow

import (
	"errors"
)

// Error names of the Step Functions errors this package fails with.
const (
	// StatesRuntime is the error of a path that selects nothing where a value is required.
	StatesRuntime = "States.Runtime"
	// StatesIntrinsicFailure is the error of an intrinsic function that cannot be applied to its arguments.
	StatesIntrinsicFailure = "States.IntrinsicFailure"
	// StatesResultPathMatchFailure is the error of a ResultPath that cannot be applied to the state input.
	StatesResultPathMatchFailure = "States.ResultPathMatchFailure"
)

// Error is an evaluation error with the Step Functions error name the state fails with (States.Runtime,
// States.IntrinsicFailure, States.ResultPathMatchFailure, States.ParameterPathFailure, ...).
type Error struct {
	Name  string
	Cause string
}

func (e *Error) Error() string { return e.Name + ": " + e.Cause }

// ErrSyntax is wrapped by the errors about a path, template or intrinsic call that cannot be parsed.
var ErrSyntax = errors.New("syntax error")

// Scope is what paths are evaluated against.
type Scope struct {
	// Input is the value "$" refers to.
	Input any
	// Context is the context object "$$" refers to.
	Context any
	// Vars are the workflow variables, "$name" (set by Assign).
	Vars map[string]any
	// Rand returns uniformly distributed random bits for States.MathRandom and States.UUID; it must be safe for
	// concurrent use. Nil means a process-wide source.
	Rand func() uint64
}
