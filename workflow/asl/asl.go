// Package asl interprets Amazon States Language state machines in JSONPath mode, locally and faithfully to
// AWS Step Functions: the same definition a Step Functions Express state machine is made from runs here
// in process, so what runs on a laptop is what runs in AWS.
//
// Parse loads and checks a definition. Every state type is supported (Pass, Task, Choice, Wait, Parallel,
// inline Map, Succeed, Fail) with the input and output processing fields (InputPath, Parameters,
// ResultSelector, ResultPath, OutputPath, ItemsPath, ItemSelector), the context object ($$), the intrinsic
// functions, Retry and Catch with the standard error names, and TimeoutSeconds. A field the language does not
// have, a feature this interpreter does not support (JSONata, distributed Map, activities, .sync and
// .waitForTaskToken integrations) or a Task resource that cannot be resolved is an error at load time.
//
// Task resources resolve through the Lambda port (arn:aws:states:::lambda:invoke and plain function ARNs) and
// through handlers registered for other resource ARNs with WithTask.
//
// Execute runs one execution to its end, like StartSyncExecution: a failed execution is a Result with status
// FAILED, not an error. An Observer sees each history event (state entered and exited, task scheduled,
// succeeded or failed, ...) as Step Functions would log it, which is what execution records are made from.
package asl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Standard error names (Step Functions' "States." errors). Names are matched exactly by Retry and Catch, with
// ErrorAll matching every name but ErrorRuntime and ErrorDataLimitExceeded, which always fail the execution.
const (
	ErrorAll                      = "States.ALL"
	ErrorDataLimitExceeded        = "States.DataLimitExceeded"
	ErrorExceedToleratedFailure   = "States.ExceedToleratedFailureThreshold"
	ErrorHeartbeatTimeout         = "States.HeartbeatTimeout"
	ErrorIntrinsicFailure         = "States.IntrinsicFailure"
	ErrorNoChoiceMatched          = "States.NoChoiceMatched"
	ErrorParameterPathFailure     = "States.ParameterPathFailure"
	ErrorPermissions              = "States.Permissions"
	ErrorResultPathMatchFailure   = "States.ResultPathMatchFailure"
	ErrorResultWriterFailed       = "States.ResultWriterFailed"
	ErrorItemReaderFailed         = "States.ItemReaderFailed"
	ErrorBranchFailed             = "States.BranchFailed"
	ErrorRuntime                  = "States.Runtime"
	ErrorTaskFailed               = "States.TaskFailed"
	ErrorTimeout                  = "States.Timeout"
	ErrorQueryEvaluationError     = "States.QueryEvaluationError"
	ErrorLambdaUnknown            = "Lambda.Unknown"
	ErrorLambdaServiceException   = "Lambda.ServiceException"
	ErrorLambdaResourceNotFound   = "Lambda.ResourceNotFoundException"
	ErrorLambdaTooManyRequests    = "Lambda.TooManyRequestsException"
	ErrorLambdaSdkClientException = "Lambda.SdkClientException"
	ErrorLambdaAWSLambdaException = "Lambda.AWSLambdaException"
	ErrorLambdaRequestTooLarge    = "Lambda.RequestTooLargeException"
)

// DefaultPayloadLimit is Step Functions' limit on the size of a state's input or output and of an execution's
// input and output: 256 KiB of UTF-8 JSON.
const DefaultPayloadLimit = 256 << 10

// Error is an error with a Step Functions error name and cause: what a Task's resource fails with, what Fail
// states raise, and what Retry and Catch match on.
type Error struct {
	Name  string
	Cause string
}

// Error returns "name: cause".
func (e *Error) Error() string {
	if e.Cause == "" {
		return e.Name
	}
	return e.Name + ": " + e.Cause
}

// Errorf returns an *Error named name whose cause is formatted.
func Errorf(name, format string, args ...any) *Error {
	return &Error{Name: name, Cause: fmt.Sprintf(format, args...)}
}

// ErrInvalidDefinition is wrapped by every error Parse returns about the definition itself.
var ErrInvalidDefinition = errors.New("invalid state machine definition")

// ErrInvalidInput is wrapped by the error Execute returns for an input that is not JSON (Step Functions'
// InvalidExecutionInput): no execution is started.
var ErrInvalidInput = errors.New("invalid execution input")

// Lambda is the port Task states invoke functions through: arn:aws:states:::lambda:invoke (the optimised
// integration, whose result wraps the payload as {"ExecutedVersion", "Payload", "StatusCode", ...}) and plain
// Lambda function ARNs (whose result is the function's payload).
type Lambda interface {
	// Invoke calls the function synchronously (RequestResponse) with the JSON payload and returns its JSON
	// result. The function is named as FunctionName is: a name, a full or partial ARN, with an optional
	// qualifier. A function that ran and failed is a *FunctionError; an error that is an *Error keeps its name
	// (e.g. Lambda.ResourceNotFoundException, Lambda.TooManyRequestsException); any other error is reported as
	// Lambda.ServiceException. It blocks until the function returns or ctx ends.
	Invoke(ctx context.Context, function string, payload []byte) ([]byte, error)
}

// FunctionError is a function's own error (Lambda's X-Amz-Function-Error): the Task fails with the error named
// Type, and a cause that is the function's error payload, {"errorMessage": ..., "errorType": ...}.
type FunctionError struct {
	Type    string
	Message string
}

// Error returns "type: message".
func (e *FunctionError) Error() string { return e.Type + ": " + e.Message }

// TaskHandler runs a Task state's resource other than a Lambda function: a service integration such as
// arn:aws:states:::dynamodb:putItem, registered with WithTask.
type TaskHandler interface {
	// Invoke runs the task with its effective parameters (the state's input after InputPath and Parameters,
	// decoded JSON) and returns its result (decoded JSON). An *Error keeps its name; any other error fails the
	// task with States.TaskFailed. It blocks until the task ends or ctx ends.
	Invoke(ctx context.Context, params any) (any, error)
}

// TaskFunc adapts a function to TaskHandler.
type TaskFunc func(ctx context.Context, params any) (any, error)

// Invoke calls f.
func (f TaskFunc) Invoke(ctx context.Context, params any) (any, error) { return f(ctx, params) }

var _ TaskHandler = TaskFunc(nil)

// Clock is the time source of executions: timestamps, Wait states, Retry intervals and timeouts. Tests use a
// fake one to check retry intervals without waiting. It must be safe for concurrent use (Map iterations and
// Parallel branches run at once).
type Clock interface {
	Now() time.Time
	// Sleep waits for d or until ctx ends, and returns ctx's error in the second case.
	Sleep(ctx context.Context, d time.Duration) error
}

// Status is the status of a finished execution, as Step Functions names it.
type Status string

// Execution statuses.
const (
	StatusSucceeded Status = "SUCCEEDED"
	StatusFailed    Status = "FAILED"
	StatusTimedOut  Status = "TIMED_OUT"
	StatusAborted   Status = "ABORTED"
)

// Result is the outcome of one execution, in the shape of StartSyncExecution's answer.
type Result struct {
	ExecutionARN string
	Name         string
	Status       Status
	// Input is the execution's input; Output its output when it succeeded.
	Input  json.RawMessage
	Output json.RawMessage
	// Error and Cause say why an execution did not succeed.
	Error     string
	Cause     string
	StartDate time.Time
	StopDate  time.Time
}

// HistoryEvent is one event of an execution's history, with Step Functions' event types (ExecutionStarted,
// TaskStateEntered, TaskScheduled, TaskSucceeded, TaskFailed, TaskStateExited, MapIterationStarted,
// ExecutionSucceeded, ...). Events of one execution have increasing IDs; PreviousID links an event to the one
// that caused it.
type HistoryEvent struct {
	ID         int64     `json:"id"`
	PreviousID int64     `json:"previousEventId"`
	Timestamp  time.Time `json:"timestamp"`
	Type       string    `json:"type"`
	// State is the name of the state entered or exited; Resource the resource of a task event.
	State    string `json:"state,omitempty"`
	Resource string `json:"resource,omitempty"`
	// Index is the iteration of a Map state (MapIteration* events) or the branch of a Parallel state.
	Index *int `json:"index,omitempty"`
	// Input and Output are the data of the event, when the observer asked for it (Observer.IncludeData).
	Input  json.RawMessage `json:"input,omitempty"`
	Output json.RawMessage `json:"output,omitempty"`
	// Error and Cause say why a task, an iteration or the execution failed.
	Error string `json:"error,omitempty"`
	Cause string `json:"cause,omitempty"`
	// RetryCount is the attempt number of a task event ($$.State.RetryCount).
	RetryCount int `json:"retryCount,omitempty"`
}

// Observer sees the history of executions as it happens.
type Observer interface {
	// IncludeData tells whether history events carry their input and output (Step Functions' logging with
	// includeExecutionData); when false Input and Output are left empty, which saves the encoding.
	IncludeData() bool
	// Event is called for each history event of the execution arn, in ID order within a branch of the
	// execution; events of Map iterations and Parallel branches may be reported concurrently. It must not
	// block for long. Input and Output may share their bytes with other events: they are read-only.
	Event(arn string, ev HistoryEvent)
}
