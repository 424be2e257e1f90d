// Package workflow processes one consumer batch per execution: it enriches the batch's events, writes them to
// the curated table and has the analytics function count them, and reports the events it could not process.
//
// In AWS the workflow is a Step Functions Express state machine started with StartSyncExecution. Local runs the
// same three steps in process, in order:
//
//	enrich -> persist -> analytics
//
// The input of an execution is an event.Batch as JSON and its output an event.BatchResult as JSON. Failures are
// per event and named as Step Functions names errors (ErrorRuleViolation, ErrorInvalidEvent, ErrorPersist,
// ErrorAnalytics), so one bad event never fails its neighbours. Every write is idempotent by event id, so an
// execution may be repeated as a whole: a replayed batch changes nothing.
package workflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/event"
)

// Error names of the item failures an execution reports, in Step Functions' State.Reason form.
const (
	// ErrorInvalidEvent: the item's event cannot be decoded, or lacks its id, type, source or time.
	ErrorInvalidEvent = "Enrich.InvalidEvent"
	// ErrorRuleViolation: the event matches a processing rule (it is quarantined); the cause names the rule.
	ErrorRuleViolation = "Enrich.RuleViolation"
	// ErrorPersist: the curated table did not take the event, after retries.
	ErrorPersist = "Persist.Failed"
	// ErrorAnalytics: the analytics function did not count the event, after retries. The event is in the
	// curated table; counting it again later is safe (analytics skips events it has counted).
	ErrorAnalytics = "Analytics.Failed"
)

// DefaultAnalyticsFunction is the name of the function the analytics step invokes.
const DefaultAnalyticsFunction = "analytics"

// Store is the curated table, as the persist step uses it.
type Store interface {
	// Put writes the items whose id is not in the table yet and leaves the others as they are (put-if-absent),
	// so writing a batch again changes nothing. An error means the items may not all be written; the call is
	// retried as a whole. An error that has a method Permanent() bool returning true is not retried.
	Put(ctx context.Context, items []event.Curated) error
}

// Functions invokes functions synchronously (Lambda's RequestResponse invocation), as the analytics step
// uses it.
type Functions interface {
	// Invoke calls the function with the JSON payload and returns its JSON result. An error, including a
	// function error, means the call may be retried. An error that has a method Permanent() bool returning
	// true is not retried.
	Invoke(ctx context.Context, function string, payload []byte) ([]byte, error)
}

// Local is the in-process implementation of the workflow: Execute runs one execution. It is safe for
// concurrent use.
type Local struct {
	store       Store
	functions   Functions
	rules       []Rule
	analyticsFn string
	measures    map[string][]string
	retry       Retry
	now         func() time.Time
	log         *slog.Logger
}

// Option configures a Local.
type Option func(*Local)

// WithRules sets the processing rules: an event that matches one fails enrichment with ErrorRuleViolation.
// Rules that do not pass Rule.Validate never match.
func WithRules(rules ...Rule) Option {
	return func(l *Local) { l.rules = append([]Rule(nil), rules...) }
}

// WithAnalyticsFunction sets the name of the function the analytics step invokes (default "analytics").
func WithAnalyticsFunction(name string) Option {
	return func(l *Local) { l.analyticsFn = name }
}

// WithMeasures sets the numeric data fields, per event type, that are passed to analytics as measures: the
// schemas' "x-measures", as event.Registry.MeasuresByType lists them. Without it facts carry no measures.
func WithMeasures(m map[string][]string) Option {
	return func(l *Local) {
		l.measures = make(map[string][]string, len(m))
		for typ, fields := range m {
			l.measures[typ] = append([]string(nil), fields...)
		}
	}
}

// WithRetry sets how the persist and analytics steps retry (default DefaultRetry).
func WithRetry(r Retry) Option {
	return func(l *Local) { l.retry = r.orDefault() }
}

// WithClock sets the clock that stamps CuratedAt (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(l *Local) { l.now = now }
}

// WithLogger sets the logger (default: discard).
func WithLogger(log *slog.Logger) Option {
	return func(l *Local) { l.log = log }
}

// NewLocal returns the workflow over the curated table s and the functions fns.
func NewLocal(s Store, fns Functions, opts ...Option) *Local {
	l := &Local{
		store:       s,
		functions:   fns,
		analyticsFn: DefaultAnalyticsFunction,
		retry:       DefaultRetry(),
		now:         time.Now,
		log:         slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		o(l)
	}
	return l
}

// ErrInvalidInput is wrapped by the error Execute returns for an input that is not a JSON event.Batch.
var ErrInvalidInput = errors.New("invalid workflow input")

// execution is the state of one execution: the batch, and for each item either its curated form and fact or
// its failure.
type execution struct {
	batch event.Batch
	// items[i] belongs to batch.Items[i].
	items []itemState
}

// itemState is one item of an execution.
type itemState struct {
	curated event.Curated
	fact    event.Fact
	failure *event.ItemFailure
}

// live returns the indexes of the items that have not failed.
func (x *execution) live() []int {
	idx := make([]int, 0, len(x.items))
	for i := range x.items {
		if x.items[i].failure == nil {
			idx = append(idx, i)
		}
	}
	return idx
}

// fail marks the items at idx failed with the error name and cause.
func (x *execution) fail(idx []int, name, cause string) {
	for _, i := range idx {
		x.items[i].failure = &event.ItemFailure{
			SequenceNumber: x.batch.Items[i].SequenceNumber,
			EventID:        x.items[i].curated.ID,
			Error:          name,
			Cause:          cause,
		}
	}
}

// Execute runs one execution over input, a JSON event.Batch, and returns a JSON event.BatchResult. Item-level
// problems are reported in the result, never as an error: Execute fails only for an input that is not a batch
// (wrapping ErrInvalidInput). It blocks until the execution ends; the persist and analytics steps retry
// transient errors within ctx.
func (l *Local) Execute(ctx context.Context, input []byte) ([]byte, error) {
	var x execution
	if err := json.Unmarshal(input, &x.batch); err != nil {
		return nil, fmt.Errorf("workflow: %w: %w", ErrInvalidInput, err)
	}
	x.items = make([]itemState, len(x.batch.Items))

	// Each step works on the items no earlier step failed; a step with nothing to do is skipped, as a Choice
	// state would skip it in the state machine.
	l.enrich(&x)
	if live := x.live(); len(live) > 0 {
		l.persist(ctx, &x, live)
	}
	// Only persisted items are counted, so the aggregates never hold an event the curated table lacks.
	if live := x.live(); len(live) > 0 {
		l.analytics(ctx, &x, live)
	}

	// The result lists the failures in batch order; an empty list (never null) means all were processed.
	res := event.BatchResult{Failed: []event.ItemFailure{}}
	for i := range x.items {
		if f := x.items[i].failure; f != nil {
			res.Failed = append(res.Failed, *f)
		} else {
			res.Processed++
		}
	}
	if len(res.Failed) > 0 {
		l.log.LogAttrs(ctx, slog.LevelWarn, "workflow: items failed", slog.String("batchId", x.batch.BatchID),
			slog.Int("processed", res.Processed), slog.Int("failed", len(res.Failed)))
	}
	out, err := json.Marshal(&res)
	if err != nil {
		return nil, fmt.Errorf("workflow: batch %q: encode result: %w", x.batch.BatchID, err)
	}
	return out, nil
}

// persist is the persist step: it writes the live items to the curated table, stamped with CuratedAt.
func (l *Local) persist(ctx context.Context, x *execution, live []int) {
	// One CuratedAt for the whole batch; the table keeps the first one an item gets, so a replay's is dropped.
	now := l.now().UTC()
	items := make([]event.Curated, len(live))
	for j, i := range live {
		x.items[i].curated.CuratedAt = now
		items[j] = x.items[i].curated
	}
	// Put is all or nothing from the step's view: on a final error every item is reported, and the retry of
	// the batch rewrites only what is missing.
	err := l.retry.do(ctx, func() error { return l.store.Put(ctx, items) }, l.notify(ctx, x, "persist"))
	if err != nil {
		l.log.LogAttrs(ctx, slog.LevelError, "workflow: persist failed", slog.String("batchId", x.batch.BatchID),
			slog.Int("items", len(items)), slog.Any("error", err))
		x.fail(live, ErrorPersist, err.Error())
	}
}

// notify returns the retry notification of a step: a log line per retried error.
func (l *Local) notify(ctx context.Context, x *execution, step string) func(error, time.Duration) {
	return func(err error, wait time.Duration) {
		l.log.LogAttrs(ctx, slog.LevelWarn, "workflow: retrying step", slog.String("step", step),
			slog.String("batchId", x.batch.BatchID), slog.Duration("wait", wait), slog.Any("error", err))
	}
}
