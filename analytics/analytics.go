// Package analytics is the analytics function of the pipeline: it keeps near-real-time aggregates of the
// curated events for dashboards.
//
// The workflow invokes it once per batch with an event.FactBatch: one event.Fact per event. Facts are counted into tumbling
// one-minute windows by event time, per event type and source, with the sum, minimum and maximum of each of the
// type's measures. Delivery is at least once, so the aggregates are fenced per event id: a Store records that an
// event was applied in the same transaction that counts it, and skips it when it comes again (a retried
// invocation, a replayed batch, or a producer's retried duplicate).
package analytics

import (
	"context"
	"errors"
	"time"

	"github.com/serverless-data-platform/sdp/event"
)

// WindowSize is the length of the tumbling windows the aggregates are kept in.
const WindowSize = time.Minute

// Output is the analytics function's answer: how many facts were counted now, and how many had been counted
// before (duplicates, skipped).
type Output struct {
	Applied    int `json:"applied"`
	Duplicates int `json:"duplicates"`
}

// Query selects windows. Empty strings and zero times select everything.
type Query struct {
	// Type and Source select one event type and one source.
	Type   string
	Source string
	// From and To bound the windows by time: a window is selected when it overlaps [From, To), that is when
	// it ends after From and starts before To.
	From time.Time
	To   time.Time
}

// Window is the aggregate of one event type and source over one minute of event time.
type Window struct {
	// Start is the window's start (UTC, a whole minute); the window covers [Start, Start+WindowSize).
	Start  time.Time `json:"start"`
	Type   string    `json:"type"`
	Source string    `json:"source"`
	// Count is the number of events counted in the window.
	Count int64 `json:"count"`
	// Measures holds the statistics of each measure seen in the window, by field name.
	Measures map[string]Stat `json:"measures,omitempty"`
}

// Stat is the running statistics of one measure in one window.
type Stat struct {
	Sum float64 `json:"sum"`
	Min float64 `json:"min"`
	Max float64 `json:"max"`
	// Count is the number of events that carried the measure.
	Count int64 `json:"count"`
}

// add folds one value into s.
func (s *Stat) add(v float64) {
	if s.Count == 0 || v < s.Min {
		s.Min = v
	}
	if s.Count == 0 || v > s.Max {
		s.Max = v
	}
	s.Sum += v
	s.Count++
}

// Store keeps the aggregates. Implementations are safe for concurrent use.
type Store interface {
	// Apply counts the facts not applied before, each atomically with recording that it was applied, and
	// returns how many it counted. On error some facts may have been counted (a store that cannot commit the
	// whole call at once, such as DynamoDB with its 100-action transactions, reports how many it committed);
	// the call may be retried as it is, and a retry counts only the rest. It does not retry by itself.
	Apply(ctx context.Context, facts []event.Fact) (applied int, err error)
	// Query returns the windows q selects, ordered by start, then type, then source.
	Query(ctx context.Context, q Query) ([]Window, error)
}

// ErrInvalidFact is wrapped by the errors about a fact that cannot be counted (no id, no type, no time).
var ErrInvalidFact = errors.New("invalid fact")
