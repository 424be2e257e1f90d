package workflow

import (
	"context"
	"fmt"
	"log/slog"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/internal/telemetry"
	"github.com/serverless-data-platform/sdp/workflow/asl"
	"github.com/serverless-data-platform/sdp/workflow/history"
)

// Recorder keeps the record of each execution.
type Recorder interface {
	// Save stores the record. An error is logged; the execution's outcome stands.
	Save(r *history.Record) error
}

// Local runs the definition with the local interpreter: the "start a workflow" port of local mode, with
// StartSyncExecution's semantics, and a record of every execution. It is safe for concurrent use.
type Local struct {
	machine *asl.Machine
	rec     Recorder
	log     *slog.Logger
	metrics *telemetry.Pipeline
	tracer  trace.Tracer
}

// LocalOption configures a Local.
type LocalOption func(*Local)

// WithMetrics records each execution's duration, by status, in m.
func WithMetrics(m *telemetry.Pipeline) LocalOption {
	return func(l *Local) { l.metrics = m }
}

// WithTracerProvider traces each execution with a span of tp; the task functions run within it.
func WithTracerProvider(tp trace.TracerProvider) LocalOption {
	return func(l *Local) {
		if tp != nil {
			l.tracer = tp.Tracer("github.com/serverless-data-platform/sdp/workflow")
		}
	}
}

// NewLocal returns the runner of m (the parsed definition) that records executions with rec; log may be nil.
func NewLocal(m *asl.Machine, rec Recorder, log *slog.Logger, opts ...LocalOption) *Local {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	l := &Local{machine: m, rec: rec, log: log}
	for _, o := range opts {
		o(l)
	}
	return l
}

// ExecutionError is the error about an execution that did not succeed: the whole batch failed.
type ExecutionError struct {
	ARN    string
	Status asl.Status
	// ErrorName and Cause are the execution's error.
	ErrorName string
	Cause     string
}

// Error says which execution ended how, and why.
func (e *ExecutionError) Error() string {
	return fmt.Sprintf("execution %s %s: %s: %s", e.ARN, e.Status, e.ErrorName, e.Cause)
}

// Execute runs one execution with input, a JSON event.Batch, and returns its output, a JSON
// event.BatchResult. An execution that does not succeed is an *ExecutionError.
func (l *Local) Execute(ctx context.Context, input []byte) ([]byte, error) {
	rec, err := l.Run(ctx, input, "")
	if err != nil {
		return nil, err
	}
	if rec.Status != asl.StatusSucceeded {
		return nil, &ExecutionError{ARN: rec.ExecutionARN, Status: rec.Status, ErrorName: rec.Error, Cause: rec.Cause}
	}
	return rec.Output, nil
}

// Run runs one execution with input and records it, as a replay of the execution replayOf when that is set.
// It returns the record whatever the execution's status; an error means no execution ran (the input is not
// JSON, or larger than the payload limit).
func (l *Local) Run(ctx context.Context, input []byte, replayOf string) (_ *history.Record, err error) {
	// The execution's name is chosen here, so that the task functions' logs carry it as executionId.
	name := event.NewID()
	ctx = telemetry.With(ctx, slog.String(telemetry.KeyExecutionID, name))
	var span trace.Span
	if l.tracer != nil {
		ctx, span = l.tracer.Start(ctx, "workflow", trace.WithAttributes(attribute.String("sdp.execution_name", name)))
		defer span.End()
	}
	var c history.Collector
	res, err := l.machine.Execute(ctx, input, asl.WithObserver(&c), asl.WithExecutionName(name))
	if err != nil {
		if span != nil {
			span.SetStatus(codes.Error, err.Error())
		}
		return nil, fmt.Errorf("workflow: %w", err)
	}
	rec := history.NewRecord(res, c.Events())
	rec.ReplayOf = replayOf
	if l.rec != nil {
		if err := l.rec.Save(rec); err != nil {
			l.log.LogAttrs(ctx, slog.LevelError, "workflow: cannot record the execution",
				slog.String("executionArn", rec.ExecutionARN), slog.Any("error", err))
		}
	}
	if m := l.metrics; m != nil {
		status := "Succeeded"
		if rec.Status != asl.StatusSucceeded {
			status = "Failed"
		}
		m.WorkflowDuration.Observe(float64(rec.Duration().Milliseconds()), status)
	}
	if span != nil {
		span.SetAttributes(attribute.String("sdp.execution_arn", rec.ExecutionARN), attribute.String("sdp.status", string(rec.Status)))
	}
	if rec.Status != asl.StatusSucceeded {
		if span != nil {
			span.SetStatus(codes.Error, rec.Error)
		}
		l.log.LogAttrs(ctx, slog.LevelError, "workflow: execution failed", slog.String("executionArn", rec.ExecutionARN),
			slog.String("status", string(rec.Status)), slog.String("error", rec.Error), slog.String("cause", rec.Cause))
	}
	return rec, nil
}
