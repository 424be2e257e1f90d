// Package sfn is the AWS Step Functions adapter of the workflow: it starts Synchronous Express executions
// (StartSyncExecution) through an Executor, and reads back what Express executions leave behind — their
// history events in CloudWatch Logs — through Logs.
//
// Express state machines keep no execution history in Step Functions (there is no GetExecutionHistory or
// DescribeExecution for them): with a logging configuration of level ALL and includeExecutionData, every
// history event is written as one JSON log event to the state machine's log group, and Logs turns those
// back into asl.Result and asl.HistoryEvent values, the same shapes the local interpreter produces.
package sfn

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	awssfn "github.com/aws/aws-sdk-go-v2/service/sfn"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/serverless-data-platform/sdp/internal/telemetry"
	"github.com/serverless-data-platform/sdp/workflow/asl"
)

// StartSyncExecutionAPI is the one Step Functions call the Executor makes. *sfn.Client satisfies it.
type StartSyncExecutionAPI interface {
	StartSyncExecution(ctx context.Context, params *awssfn.StartSyncExecutionInput,
		optFns ...func(*awssfn.Options)) (*awssfn.StartSyncExecutionOutput, error)
}

var _ StartSyncExecutionAPI = (*awssfn.Client)(nil)

// Executor starts executions of one Express state machine with StartSyncExecution and waits for their end.
// It is the AWS adapter of the workflow's "start a workflow" port. It is safe for concurrent use.
//
// StartSyncExecution is not idempotent (Step Functions supports idempotency by execution name for Standard
// workflows only), and a request that reached the service may have run the workflow even when its answer
// was lost. The Executor
// therefore makes each call at most once. The SDK's standard retryer retries, besides throttling errors,
// HTTP 500, 502, 503 and 504 answers, RequestTimeout errors and connection errors that include a
// connection reset or a timeout after the request was written: each of those may follow an execution that
// ran. The Executor narrows the client's retryer, for its own calls only, to the errors that prove the
// request was not accepted: a throttling error code (ThrottlingException and the SDK's other throttle
// codes, or an HTTP 429) and a connection that could not be opened (dial or DNS errors). Every other error
// is returned to the caller, who decides whether running the workflow twice is acceptable (the workflow's
// writes are idempotent, so a batch may be retried by the stream's event source mapping).
type Executor struct {
	api             StartSyncExecutionAPI
	stateMachineARN string
	log             *slog.Logger
	sdkOptions      []func(*awssfn.Options)
}

// Option configures an Executor.
type Option func(*Executor)

// WithLogger sets the logger of the Executor, which logs each execution's status and billed duration at
// Debug level. The default discards everything.
func WithLogger(l *slog.Logger) Option {
	return func(e *Executor) {
		if l != nil {
			e.log = l
		}
	}
}

// WithSDKOptions adds options applied to the client for each StartSyncExecution call (for example a
// different retryer or HTTP client). The at-most-once retry policy is applied after them, to whatever
// retryer they leave.
func WithSDKOptions(fns ...func(*awssfn.Options)) Option {
	return func(e *Executor) { e.sdkOptions = append(e.sdkOptions, fns...) }
}

// New returns an Executor that starts executions of the Express state machine stateMachineARN through api.
// It does no I/O.
func New(api StartSyncExecutionAPI, stateMachineARN string, opts ...Option) *Executor {
	e := &Executor{
		api:             api,
		stateMachineARN: stateMachineARN,
		log:             slog.New(slog.DiscardHandler),
	}
	for _, opt := range opts {
		opt(e)
	}
	return e
}

// StateMachineARN returns the ARN of the state machine the Executor starts.
func (e *Executor) StateMachineARN() string { return e.stateMachineARN }

// Execute runs one execution with the JSON input and returns its output when it succeeded. An execution
// that failed, timed out or was aborted is an *ExecutionError; an error of the API (throttling,
// InvalidExecutionInput, StateMachineDoesNotExist, ...) is wrapped with the operation and the state
// machine's ARN. It blocks until the execution ends (at most five minutes for an Express workflow) or ctx
// ends; it is at most once (see Executor).
func (e *Executor) Execute(ctx context.Context, input []byte) ([]byte, error) {
	res, err := e.Start(ctx, "", input)
	if err != nil {
		return nil, err
	}
	if res.Status != asl.StatusSucceeded {
		return nil, &ExecutionError{ARN: res.ExecutionARN, Status: res.Status, ErrorName: res.Error, Cause: res.Cause}
	}
	return res.Output, nil
}

// Start runs one execution named name (when empty, Step Functions names it) with the JSON input, and returns
// its full result whatever its status, as replay needs it. An empty input is sent as {}. Only API errors are
// errors: they are wrapped with the operation and the state machine's ARN and can be inspected with
// errors.As (for example *types.StateMachineDoesNotExist or smithy.APIError). It blocks like Execute and is
// at most once.
func (e *Executor) Start(ctx context.Context, name string, input []byte) (*asl.Result, error) {
	in := &awssfn.StartSyncExecutionInput{
		StateMachineArn: aws.String(e.stateMachineARN),
		Input:           aws.String("{}"),
	}
	if len(input) > 0 {
		in.Input = aws.String(string(input))
	}
	if name != "" {
		in.Name = aws.String(name)
	}
	// The execution joins the caller's trace (X-Ray reads the header Step Functions passes on).
	if h := telemetry.TraceHeader(ctx); h != "" {
		in.TraceHeader = aws.String(h)
	}
	optFns := make([]func(*awssfn.Options), 0, len(e.sdkOptions)+1)
	optFns = append(optFns, e.sdkOptions...)
	optFns = append(optFns, atMostOnce)
	out, err := e.api.StartSyncExecution(ctx, in, optFns...)
	if err != nil {
		return nil, fmt.Errorf("StartSyncExecution of state machine %s: %w", e.stateMachineARN, err)
	}
	res := syncResult(out)
	if bd := out.BillingDetails; bd != nil {
		e.log.LogAttrs(ctx, slog.LevelDebug, "express execution ended",
			slog.String("executionArn", res.ExecutionARN), slog.String("status", string(res.Status)),
			slog.Int64("billedDurationMs", bd.BilledDurationInMilliseconds),
			slog.Int64("billedMemoryMB", bd.BilledMemoryUsedInMB))
	}
	return res, nil
}

// syncResult converts StartSyncExecution's answer. Input and output are kept as they came when they are
// JSON; anything else (which the service does not send) is kept as a JSON string so the result still
// encodes.
func syncResult(out *awssfn.StartSyncExecutionOutput) *asl.Result {
	res := &asl.Result{
		ExecutionARN: aws.ToString(out.ExecutionArn),
		Name:         aws.ToString(out.Name),
		Status:       asl.Status(out.Status),
		Error:        aws.ToString(out.Error),
		Cause:        aws.ToString(out.Cause),
		StartDate:    aws.ToTime(out.StartDate),
		StopDate:     aws.ToTime(out.StopDate),
	}
	if out.Input != nil {
		res.Input, _ = payload(*out.Input)
	}
	if out.Output != nil {
		res.Output, _ = payload(*out.Output)
	}
	if res.Name == "" {
		res.Name = executionName(res.ExecutionARN)
	}
	return res
}

// ExecutionError is an execution that ran and did not succeed: Step Functions answered StartSyncExecution
// with status FAILED or TIMED_OUT (or ABORTED), with the error name and cause.
type ExecutionError struct {
	// ARN is the execution's ARN.
	ARN string
	// Status is the execution's final status.
	Status asl.Status
	// ErrorName is the Step Functions error name (e.g. States.TaskFailed, States.Timeout) and Cause its
	// cause, both as the service reported them; either may be empty.
	ErrorName string
	Cause     string
}

// Error says which execution ended how, and why.
func (e *ExecutionError) Error() string {
	msg := "execution " + e.ARN + " " + string(e.Status)
	switch {
	case e.ErrorName != "" && e.Cause != "":
		msg += ": " + e.ErrorName + ": " + e.Cause
	case e.ErrorName != "":
		msg += ": " + e.ErrorName
	case e.Cause != "":
		msg += ": " + e.Cause
	}
	return msg
}

// Unwrap returns the execution's error as an *asl.Error (the same type the local interpreter reports), or
// nil when the service gave no error name.
func (e *ExecutionError) Unwrap() error {
	if e.ErrorName == "" {
		return nil
	}
	return &asl.Error{Name: e.ErrorName, Cause: e.Cause}
}

// NewClient returns a Step Functions client built from cfg. When endpoint is not empty it is the client's
// BaseEndpoint and is used as given: the host prefix "sync-" that the SDK otherwise puts before the host of
// StartSyncExecution (sync-states.<region>.amazonaws.com) is turned off, so an emulator or recorded-shape
// server on 127.0.0.1 is reached, and a custom endpoint for real AWS must name the sync-states host itself.
// With an empty endpoint the SDK resolves the regional endpoints, prefix included. optFns are applied last.
func NewClient(cfg aws.Config, endpoint string, optFns ...func(*awssfn.Options)) *awssfn.Client {
	base := func(o *awssfn.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
			o.APIOptions = append(o.APIOptions, disableHostPrefix)
		}
	}
	return awssfn.NewFromConfig(cfg, append([]func(*awssfn.Options){base}, optFns...)...)
}

// disableHostPrefix adds an initialize step that marks the context of every operation so the endpoint host
// prefix middlewares leave the host alone.
func disableHostPrefix(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("DisableEndpointHostPrefix",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (
			middleware.InitializeOutput, middleware.Metadata, error,
		) {
			return next.HandleInitialize(smithyhttp.DisableEndpointHostPrefix(ctx, true), in)
		}), middleware.Before)
}
