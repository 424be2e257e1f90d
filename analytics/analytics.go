// Package analytics is the analytics function of the pipeline: it keeps near-real-time aggregates of the
// curated events for dashboards.
//
// The workflow invokes it once per batch with an event.FactBatch: one event.Fact per event. Facts are counted
// into tumbling windows by event time (one minute by default, Windowing), per event type and source. A window
// is an Aggregate: the count, the unique subjects (HyperLogLog), each measure's exact count, sum and extremes
// with its quantiles (DDSketch, within QuantileRelativeError), and the most frequent subjects (Misra-Gries).
// Aggregates merge associatively, so shards, batches and a store's partial items combine in any order. A fact
// that arrived after its window closed (AllowedLateness after the window's end, by arrival time) counts only
// in the window's Late.
//
// Delivery is at least once, so the aggregates are fenced per event id: a Store records that an event was
// applied in the same transaction that counts it, and skips it when it comes again (a retried invocation, a
// bisected or replayed batch, a redriven dead letter, or a producer's retried duplicate).
package analytics

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/serverless-data-platform/sdp/event"
)

// Defaults of the windowing.
const (
	// WindowSize is the default length of the tumbling windows.
	WindowSize = time.Minute
	// AllowedLateness is the default time after a window's end during which its late events still update
	// it; later ones only count in its Late.
	AllowedLateness = 5 * time.Minute
)

// Windowing is how facts are placed in windows and when windows close.
//
// Windows are by event time. A window closes AllowedLateness after its end, by arrival time: a fact that
// arrived in the stream (event.Fact.ArrivalTime) later than that is late, and counts in its window's Late and
// nowhere else. The decision depends only on the record (its event time and arrival time), so retries, slow
// shards, bisections and redrives of the record decide it the same way. A backfill of events older than the
// allowed lateness counts them as late: raise it for the backfill's run (sdp up --allowed-lateness, the
// analytics function's SDP_ALLOWED_LATENESS).
type Windowing struct {
	// Size is the length of the tumbling windows, by event time: a divisor of 24 hours in whole seconds
	// (default WindowSize).
	Size time.Duration
	// AllowedLateness is how long after its end a window still takes events, by arrival time (default
	// AllowedLateness).
	AllowedLateness time.Duration
}

// withDefaults returns w with zero fields set to their defaults.
func (w Windowing) withDefaults() Windowing {
	if w.Size <= 0 {
		w.Size = WindowSize
	}
	if w.AllowedLateness <= 0 {
		w.AllowedLateness = AllowedLateness
	}
	return w
}

// WithDefaults returns w with its zero fields set to the defaults.
func (w Windowing) WithDefaults() Windowing { return w.withDefaults() }

// Check reports whether w can be used: its size divides a day into whole seconds.
func (w Windowing) Check() error {
	w = w.withDefaults()
	if w.Size%time.Second != 0 || (24*time.Hour)%w.Size != 0 {
		return fmt.Errorf("analytics: window size %v does not divide a day into whole seconds (1m, 5m, 15m, 1h ...)", w.Size)
	}
	return nil
}

// Start returns the start of the window that holds t.
func (w Windowing) Start(t time.Time) time.Time {
	return t.UTC().Truncate(w.withDefaults().Size)
}

// Closed reports whether the window starting at start is closed at t: an event arriving at t would be late.
func (w Windowing) Closed(start, t time.Time) bool {
	w = w.withDefaults()
	return !t.Before(start.Add(w.Size + w.AllowedLateness))
}

// Late reports whether f is late: it arrived after its window closed. A fact without an arrival time is
// judged at now.
func (w Windowing) Late(f *event.Fact, now time.Time) bool {
	arrival := f.ArrivalTime
	if arrival.IsZero() {
		arrival = now
	}
	return w.Closed(w.Start(f.Time), arrival)
}

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

// Window is the aggregate of one event type and source over one window of event time, as read.
type Window struct {
	// Start is the window's start (UTC); the window covers [Start, End).
	Start  time.Time `json:"start"`
	End    time.Time `json:"end"`
	Type   string    `json:"type"`
	Source string    `json:"source"`
	// Count is the number of events counted in the window.
	Count int64 `json:"count"`
	// Late is the number of the window's events that arrived after it closed, counted nowhere else.
	Late int64 `json:"late"`
	// Closed says that the window takes no more events: it is final but for Late.
	Closed bool `json:"closed"`
	// UniqueSubjects is the estimated number of distinct subjects (HyperLogLog, UniquesStandardError).
	UniqueSubjects int64 `json:"uniqueSubjects"`
	// Measures holds the statistics of each measure seen in the window, by field name.
	Measures map[string]Stat `json:"measures,omitempty"`
	// TopSubjects are the most frequent subjects, most frequent first: each count is at most TopError
	// short of the true count.
	TopSubjects []SubjectCount `json:"topSubjects,omitempty"`
	TopError    int64          `json:"topError"`

	// agg is the window's aggregate, which MergeSources merges; stores set it through NewWindow.
	agg *Aggregate
}

// ErrNoAggregate is returned by MergeSources for windows that carry no aggregate: windows decoded from JSON
// rather than read from a Store.
var ErrNoAggregate = errors.New("the window carries no aggregate (read it from a Store)")

// MergeSources merges the windows of each start and type across their sources, exactly as one window of all
// the sources would have counted them (the sketches merge): the merged windows have no Source, are closed
// when all theirs are, and come in the order of their first window. The windows must come from a Store.
func MergeSources(windows []Window) ([]Window, error) {
	type key struct {
		start int64
		typ   string
	}
	index := make(map[key]int, len(windows))
	var out []Window
	for _, w := range windows {
		if w.agg == nil {
			return nil, fmt.Errorf("analytics: merging window %v %s %s: %w", w.Start, w.Type, w.Source, ErrNoAggregate)
		}
		k := key{w.Start.UnixNano(), w.Type}
		i, ok := index[k]
		if !ok {
			index[k] = len(out)
			out = append(out, Window{Start: w.Start, End: w.End, Type: w.Type, Closed: true, agg: &Aggregate{}})
			i = len(out) - 1
		}
		m := &out[i]
		if err := m.agg.Merge(w.agg); err != nil {
			return nil, fmt.Errorf("analytics: merging window %v %s %s: %w", w.Start, w.Type, w.Source, err)
		}
		m.Closed = m.Closed && w.Closed
	}
	for i := range out {
		m := &out[i]
		m.Count, m.Late, m.UniqueSubjects, m.Measures, m.TopError = m.agg.Count, m.agg.Late, m.agg.Uniques(), m.agg.Measures(), m.agg.TopError()
		if len(m.agg.top) > 0 {
			m.TopSubjects = m.agg.Top(TopReported)
		}
	}
	return out, nil
}

// SubjectCount is a subject and how many of a window's events had it.
type SubjectCount struct {
	Subject string `json:"subject"`
	Count   int64  `json:"count"`
}

// NewWindow is the read model of the aggregate a of the window of typ and src that starts at start, as of now.
func NewWindow(w Windowing, start time.Time, typ, src string, a *Aggregate, now time.Time) Window {
	w = w.withDefaults()
	out := Window{
		Start: start.UTC(), End: start.Add(w.Size).UTC(), Type: typ, Source: src,
		Count: a.Count, Late: a.Late, Closed: w.Closed(start, now),
		UniqueSubjects: a.Uniques(), Measures: a.Measures(),
		TopError: a.TopError(), agg: a,
	}
	if len(a.top) > 0 {
		out.TopSubjects = a.Top(TopReported)
	}
	return out
}

// Stat is the statistics of one measure in one window: exact count, sum and extremes, and quantiles within
// QuantileRelativeError.
type Stat struct {
	Sum float64 `json:"sum"`
	Min float64 `json:"min"`
	Max float64 `json:"max"`
	// Count is the number of events that carried the measure.
	Count int64   `json:"count"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P95   float64 `json:"p95"`
	P99   float64 `json:"p99"`
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

// merge folds o's count, sum and extremes into s.
func (s *Stat) merge(o Stat) {
	if o.Count == 0 {
		return
	}
	if s.Count == 0 || o.Min < s.Min {
		s.Min = o.Min
	}
	if s.Count == 0 || o.Max > s.Max {
		s.Max = o.Max
	}
	s.Sum += o.Sum
	s.Count += o.Count
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
