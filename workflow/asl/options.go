package asl

import (
	"context"
	"math/rand/v2"
	"time"
)

// DefaultStateMachineARN is the ARN a Machine takes when WithStateMachineARN is not given: $$.StateMachine.Id,
// and the region, account and name of execution ARNs.
const DefaultStateMachineARN = "arn:aws:states:us-east-1:123456789012:stateMachine:local"

// MaxInlineConcurrency is the most iterations of an inline Map state that run at once, as in Step Functions,
// whatever MaxConcurrency says (0, unbounded, included).
const MaxInlineConcurrency = 40

// Option configures a Machine.
type Option func(*options)

type options struct {
	lambda       Lambda
	tasks        map[string]TaskHandler
	clock        Clock
	rand         func() uint64
	payloadLimit int
	arn          string
}

// defaultOptions are the options of a Machine before its Options apply.
func defaultOptions() options {
	return options{
		clock:        RealClock,
		rand:         rand.Uint64,
		payloadLimit: DefaultPayloadLimit,
		arn:          DefaultStateMachineARN,
	}
}

// WithLambda sets the port Lambda resources are invoked through (arn:aws:states:::lambda:invoke and plain
// function ARNs). Without it a definition with a Lambda resource fails to load.
func WithLambda(l Lambda) Option {
	return func(o *options) { o.lambda = l }
}

// WithTask registers the handler of a Task resource ARN other than Lambda's, matched exactly (for example
// arn:aws:states:::dynamodb:putItem). A later registration of the same ARN replaces the earlier one.
func WithTask(resource string, h TaskHandler) Option {
	return func(o *options) {
		if o.tasks == nil {
			o.tasks = make(map[string]TaskHandler)
		}
		o.tasks[resource] = h
	}
}

// WithClock sets the time source of executions (default RealClock): $$ timestamps, Wait states, Retry
// intervals and timeouts all use it.
func WithClock(c Clock) Option {
	return func(o *options) {
		if c != nil {
			o.clock = c
		}
	}
}

// WithRand sets the source of random bits for retry jitter, States.MathRandom, States.UUID, execution names
// and request ids. It must be safe for concurrent use. The default is math/rand/v2's.
func WithRand(r func() uint64) Option {
	return func(o *options) {
		if r != nil {
			o.rand = r
		}
	}
}

// WithPayloadLimit sets the most bytes a state's input or output, a task's result or an execution's input
// may take as JSON (default DefaultPayloadLimit); 0 disables the check.
func WithPayloadLimit(n int) Option {
	return func(o *options) {
		if n >= 0 {
			o.payloadLimit = n
		}
	}
}

// WithStateMachineARN sets the ARN of the state machine (default DefaultStateMachineARN), of the form
// arn:aws:states:REGION:ACCOUNT:stateMachine:NAME. Parse fails if it is not of that form.
func WithStateMachineARN(arn string) Option {
	return func(o *options) { o.arn = arn }
}

// ExecOption configures one execution.
type ExecOption func(*execOptions)

type execOptions struct {
	name     string
	observer Observer
}

// WithExecutionName sets the name of the execution (default: a random UUID), the NAME in its ARN
// arn:aws:states:REGION:ACCOUNT:express:MACHINE:NAME:UUID and $$.Execution.Name.
func WithExecutionName(name string) ExecOption {
	return func(o *execOptions) { o.name = name }
}

// WithObserver sets the observer that sees the execution's history events as they happen.
func WithObserver(obs Observer) ExecOption {
	return func(o *execOptions) { o.observer = obs }
}

// RealClock is the default Clock: the system's time.
var RealClock Clock = realClock{}

type realClock struct{}

// Now returns time.Now().
func (realClock) Now() time.Time { return time.Now() }

// Sleep waits for d or until ctx ends.
func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
