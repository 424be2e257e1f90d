package workflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"

	"github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/event"
)

// analyticsOutput is the analytics function's answer (package analytics, type Output), or a Lambda function
// error's payload.
type analyticsOutput struct {
	Applied      int    `json:"applied"`
	Duplicates   int    `json:"duplicates"`
	ErrorType    string `json:"errorType"`
	ErrorMessage string `json:"errorMessage"`
}

// errFunction is wrapped by the error about a function that answered with a Lambda function error payload.
var errFunction = errors.New("function error")

// analytics is the analytics step: it invokes the analytics function with the facts of the live (persisted)
// items.
func (l *Local) analytics(ctx context.Context, x *execution, live []int) {
	in := event.FactBatch{BatchID: x.batch.BatchID, Events: make([]event.Fact, len(live))}
	for j, i := range live {
		in.Events[j] = x.items[i].fact
	}
	payload, err := json.Marshal(&in)
	if err != nil {
		x.fail(live, ErrorAnalytics, "encode the analytics input: "+err.Error())
		return
	}
	// The invocation is retried whole: analytics skips the facts it has counted, so a retry after a lost
	// answer counts nothing twice.
	var out analyticsOutput
	err = l.retry.do(ctx, func() error {
		res, err := l.functions.Invoke(ctx, l.analyticsFn, payload)
		if err != nil {
			return err
		}
		out = analyticsOutput{}
		if len(res) > 0 {
			if err := json.Unmarshal(res, &out); err != nil {
				return fmt.Errorf("invoke %q: unexpected result %.100q: %w", l.analyticsFn, res, err)
			}
		}
		// A Lambda function error may come back as a payload rather than an error, depending on the adapter.
		if out.ErrorType != "" {
			return fmt.Errorf("invoke %q: %w: %s: %s", l.analyticsFn, errFunction, out.ErrorType, out.ErrorMessage)
		}
		return nil
	}, l.notify(ctx, x, "analytics"))
	if err != nil {
		l.log.LogAttrs(ctx, slog.LevelError, "workflow: analytics failed", slog.String("batchId", x.batch.BatchID),
			slog.Int("items", len(live)), slog.Any("error", err))
		x.fail(live, ErrorAnalytics, err.Error())
		return
	}
	l.log.LogAttrs(ctx, slog.LevelDebug, "workflow: analytics applied", slog.String("batchId", x.batch.BatchID),
		slog.Int("applied", out.Applied), slog.Int("duplicates", out.Duplicates))
}

// pickMeasures picks the type's measure fields from the event's data, falling back to the enriched fields (a
// purchase's item_count may be derived). Fields that are absent or not finite numbers are left out.
func (l *Local) pickMeasures(typ string, data []byte, enriched map[string]any) map[string]float64 {
	fields := l.measures[typ]
	if len(fields) == 0 {
		return nil
	}
	var m map[string]float64
	for _, f := range fields {
		v, ok := numberAt(data, f)
		if !ok {
			v, ok = number(enriched[f])
		}
		if !ok {
			continue
		}
		if m == nil {
			m = make(map[string]float64, len(fields))
		}
		m[f] = v
	}
	return m
}

// number converts a decoded JSON number (or a derived integer) to a finite float64.
func number(v any) (float64, bool) {
	var f float64
	switch n := v.(type) {
	case float64:
		f = n
	case int:
		f = float64(n)
	case int64:
		f = float64(n)
	default:
		return 0, false
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}
