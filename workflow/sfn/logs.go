package sfn

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/serverless-data-platform/sdp/workflow/asl"
)

// FilterLogEventsAPI is the one CloudWatch Logs call Logs makes. *cloudwatchlogs.Client satisfies it.
type FilterLogEventsAPI interface {
	FilterLogEvents(ctx context.Context, params *cloudwatchlogs.FilterLogEventsInput,
		optFns ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.FilterLogEventsOutput, error)
}

var _ FilterLogEventsAPI = (*cloudwatchlogs.Client)(nil)

// ErrNotFound is wrapped by the error History returns when the log group holds no event of the execution:
// a wrong ARN, an execution older than the log group's retention, logging below level ALL, or events not
// delivered yet (CloudWatch Logs receives them a few seconds after they happen).
var ErrNotFound = errors.New("no execution history in the log group")

// executionEventsPattern selects the execution-level events, which are all List needs.
const executionEventsPattern = `{ ($.type = "ExecutionStarted") || ($.type = "ExecutionSucceeded") || ` +
	`($.type = "ExecutionFailed") || ($.type = "ExecutionTimedOut") || ($.type = "ExecutionAborted") }`

// Logs reads the executions of an Express state machine from its CloudWatch Logs log group. The state
// machine's logging configuration must have level ALL (other levels leave out ExecutionStarted and the
// successful events) and includeExecutionData true (otherwise inputs and outputs are absent). Log delivery
// is best effort and a few seconds late: an execution that just ended may still look RUNNING, or be missing.
//
// Each call pages through FilterLogEvents until the service has no more pages; the SDK client's retryer
// retries throttled calls (reads are safe to retry). Logs is safe for concurrent use.
type Logs struct {
	api      FilterLogEventsAPI
	logGroup string
}

// NewLogs returns a reader of the log group logGroup, given as a name (/aws/vendedlogs/states/...) or as
// an ARN (the ":*" suffix of the ARN a logging configuration uses is accepted). It does no I/O.
func NewLogs(api FilterLogEventsAPI, logGroup string) *Logs {
	return &Logs{api: api, logGroup: logGroup}
}

// input returns a FilterLogEvents request on the log group.
func (l *Logs) input(pattern string) *cloudwatchlogs.FilterLogEventsInput {
	in := &cloudwatchlogs.FilterLogEventsInput{FilterPattern: aws.String(pattern)}
	if strings.HasPrefix(l.logGroup, "arn:") {
		in.LogGroupIdentifier = aws.String(strings.TrimSuffix(l.logGroup, ":*"))
	} else {
		in.LogGroupName = aws.String(l.logGroup)
	}
	return in
}

// each calls fn for every history event the request matches, page after page. Messages that are not Step
// Functions history events (other writers of the log group) are skipped.
func (l *Logs) each(ctx context.Context, in *cloudwatchlogs.FilterLogEventsInput,
	fn func(arn string, ev asl.HistoryEvent),
) error {
	pages := cloudwatchlogs.NewFilterLogEventsPaginator(l.api, in)
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("FilterLogEvents on log group %s: %w", l.logGroup, err)
		}
		for _, e := range page.Events {
			if e.Message == nil {
				continue
			}
			arn, ev, err := parseLogEvent(*e.Message, time.UnixMilli(aws.ToInt64(e.Timestamp)))
			if err != nil {
				continue
			}
			fn(arn, ev)
		}
	}
	return nil
}

// List returns the executions that logged an execution-level event between since and until (both
// inclusive, to the millisecond; a zero time leaves that side open), one Result per execution, newest first
// by start date (by stop date for one whose start is before since), at most limit of them (all when limit
// is 0 or less).
//
// Status comes from the execution's terminal event, StatusRunning when there is none; Input from
// ExecutionStarted; Output, Error and Cause from the terminal event. A payload cut by CloudWatch Logs is
// noted in Cause (TruncatedInput, TruncatedOutput). FilterLogEvents returns events oldest first, so List
// reads every execution-level event of the window before it can pick the newest: bound the window.
func (l *Logs) List(ctx context.Context, since, until time.Time, limit int) ([]asl.Result, error) {
	in := l.input(executionEventsPattern)
	if !since.IsZero() {
		in.StartTime = aws.Int64(since.UnixMilli())
	}
	if !until.IsZero() {
		in.EndTime = aws.Int64(until.UnixMilli())
	}
	type logged struct {
		arn string
		ev  asl.HistoryEvent
	}
	var events []logged
	err := l.each(ctx, in, func(arn string, ev asl.HistoryEvent) {
		events = append(events, logged{arn, ev})
	})
	if err != nil {
		return nil, fmt.Errorf("list executions: %w", err)
	}
	// Fold the events of each execution in ID order, so that ExecutionStarted comes first.
	slices.SortStableFunc(events, func(a, b logged) int {
		return cmp.Or(strings.Compare(a.arn, b.arn), cmp.Compare(a.ev.ID, b.ev.ID))
	})
	byARN := make(map[string]*execution)
	var order []*execution
	for _, e := range events {
		x := byARN[e.arn]
		if x == nil {
			x = &execution{}
			byARN[e.arn] = x
			order = append(order, x)
		}
		x.add(e.arn, e.ev)
	}
	key := func(x *execution) time.Time {
		if x.started {
			return x.res.StartDate
		}
		return x.res.StopDate
	}
	slices.SortStableFunc(order, func(a, b *execution) int {
		return cmp.Or(key(b).Compare(key(a)), strings.Compare(a.res.ExecutionARN, b.res.ExecutionARN))
	})
	if limit > 0 && len(order) > limit {
		order = order[:limit]
	}
	out := make([]asl.Result, len(order))
	for i, x := range order {
		out[i] = x.res
	}
	return out, nil
}

// History returns the result of the execution executionARN and its history events in ID order, read from
// every event of the log group whose execution_arn is the ARN (the log group's whole retention is searched,
// as the ARN of an Express execution says nothing of its time). An event logged twice is kept once. The
// result is built as List builds it. Events carry what Step Functions logs (see the conversion notes on
// TruncatedInput); RetryCount is not logged and stays 0. When the log group holds no event of the execution the error wraps
// ErrNotFound.
func (l *Logs) History(ctx context.Context, executionARN string) (*asl.Result, []asl.HistoryEvent, error) {
	if executionARN == "" || strings.ContainsAny(executionARN, "\"\\") {
		return nil, nil, fmt.Errorf("execution history: invalid execution ARN %q", executionARN)
	}
	in := l.input(`{ $.execution_arn = "` + executionARN + `" }`)
	seen := make(map[int64]bool)
	var events []asl.HistoryEvent
	err := l.each(ctx, in, func(arn string, ev asl.HistoryEvent) {
		if arn != executionARN || seen[ev.ID] {
			return
		}
		seen[ev.ID] = true
		events = append(events, ev)
	})
	if err != nil {
		return nil, nil, fmt.Errorf("execution history of %s: %w", executionARN, err)
	}
	if len(events) == 0 {
		return nil, nil, fmt.Errorf("execution history of %s: %w", executionARN, ErrNotFound)
	}
	slices.SortFunc(events, func(a, b asl.HistoryEvent) int { return cmp.Compare(a.ID, b.ID) })
	var x execution
	for _, ev := range events {
		x.add(executionARN, ev)
	}
	return &x.res, events, nil
}
