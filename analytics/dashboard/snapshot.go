package dashboard

import (
	"cmp"
	"context"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/serverless-data-platform/sdp/analytics"
	"github.com/serverless-data-platform/sdp/workflow/asl"
)

// Snapshot is every figure of the page at one time: the answer of GET /v1/dashboard and the data of each
// event of the stream. A figure whose source failed is null (or empty) and Errors says why; the others are
// still there.
type Snapshot struct {
	// Time is when the snapshot was taken.
	Time       time.Time  `json:"time"`
	Ingest     Ingest     `json:"ingest"`
	Consumer   Consumer   `json:"consumer"`
	Workflow   Workflow   `json:"workflow"`
	Aggregates Aggregates `json:"aggregates"`
	// DLQDepth is the number of messages in the dead-letter queue.
	DLQDepth *int `json:"dlqDepth"`
	// Curated is the number of events in the curated table; null when the table is not counted (DynamoDB).
	Curated *int `json:"curated"`
	// Errors says, by part ("dlq", "curated", "aggregates"), why a figure is missing.
	Errors map[string]string `json:"errors,omitempty"`
}

// Ingest is the ingest function's figures.
type Ingest struct {
	// Rate is the number of events accepted per second over the last RateWindowSeconds, from the samples of
	// the counters; null until there are two samples.
	Rate *float64 `json:"rate"`
	// RejectRate is the number of events rejected per second over the same span.
	RejectRate        *float64 `json:"rejectRate"`
	RateWindowSeconds float64  `json:"rateWindowSeconds"`
	// Requests, Accepted, Rejected, RejectedBy and Refused are the function's counters when the snapshot
	// was taken (ingest.Stats): totals since the process started.
	Requests   int64            `json:"requests"`
	Accepted   int64            `json:"accepted"`
	Rejected   int64            `json:"rejected"`
	RejectedBy map[string]int64 `json:"rejectedBy"`
	Refused    map[string]int64 `json:"refused"`
	// Series is the rate between each two consecutive samples, oldest first: about two minutes.
	Series []RatePoint `json:"series"`
}

// RatePoint is the ingest rate over one interval, ending at T.
type RatePoint struct {
	// T is the end of the interval, in Unix milliseconds.
	T int64 `json:"t"`
	// Accepted and Rejected are events per second.
	Accepted float64 `json:"accepted"`
	Rejected float64 `json:"rejected"`
}

// Consumer is the event source mapping's figures.
type Consumer struct {
	// LagMs is the largest iterator age of the shards, in milliseconds: how far behind the consumer is.
	LagMs  int64   `json:"lagMs"`
	Shards []Shard `json:"shards"`
}

// Shard is one shard's progress.
type Shard struct {
	ShardID             string `json:"shardId"`
	IteratorAgeMs       int64  `json:"iteratorAgeMs"`
	RecordsProcessed    int64  `json:"recordsProcessed"`
	FailedInvocations   int64  `json:"failedInvocations"`
	DeadLetteredRecords int64  `json:"deadLetteredRecords"`
}

// Workflow is the latency of the workflow's recent executions: those among the newest (at most
// history.RecentTimings, recorded by this process) that stopped within WindowSeconds of the snapshot.
type Workflow struct {
	// Executions is the number of executions the figures cover; Failed how many of them did not succeed.
	Executions int `json:"executions"`
	Failed     int `json:"failed"`
	// P50Ms and P99Ms are the median and 99th percentile of their durations in milliseconds (the value of
	// rank ⌈q·n⌉ among the n durations); null without executions.
	P50Ms         *float64 `json:"p50Ms"`
	P99Ms         *float64 `json:"p99Ms"`
	WindowSeconds float64  `json:"windowSeconds"`
}

// Aggregates are the windows of the last minutes by event time, per event type.
type Aggregates struct {
	// From is the start of the span: windows that end after it are in.
	From time.Time `json:"from"`
	// Types lists the event types of the windows, sorted.
	Types []string `json:"types"`
	// Windows are ordered by start, oldest first.
	Windows []WindowGroup `json:"windows"`
}

// WindowGroup is one window of event time, with the figures of each type seen in it.
type WindowGroup struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Types are ordered by type.
	Types []TypeWindow `json:"types"`
}

// TypeWindow is one event type over one window, all its sources together.
type TypeWindow struct {
	Type string `json:"type"`
	// Count and Late are the sums over the sources (exact).
	Count int64 `json:"count"`
	Late  int64 `json:"late"`
	// Closed is true when the window of every source is closed: the counts are final but for Late.
	Closed bool `json:"closed"`
	// Uniques is the estimated number of distinct subjects of all the sources: their sketches merged, as
	// GET /v1/aggregates?by=type gives it; or, for windows without their aggregates, the sum of the sources'
	// estimates (UniquesUpperBound), which counts twice a subject seen from two sources.
	Uniques           int64 `json:"uniques"`
	UniquesUpperBound bool  `json:"uniquesUpperBound,omitempty"`
	// TopSubjects are the most frequent subjects of all the sources, most frequent first; each count is a
	// lower bound of the true count.
	TopSubjects []analytics.SubjectCount `json:"topSubjects"`
	// Sources are the type's sources in the window, ordered by source, each with its own statistics.
	Sources []SourceWindow `json:"sources"`
	// merged says that Uniques and TopSubjects come from the merged aggregates.
	merged bool
}

// SourceWindow is one event type and source over one window: a window of the analytics store.
type SourceWindow struct {
	Source  string `json:"source"`
	Count   int64  `json:"count"`
	Late    int64  `json:"late"`
	Closed  bool   `json:"closed"`
	Uniques int64  `json:"uniques"`
	// Measures holds each measure's median and 99th percentile, by name.
	Measures map[string]Measure `json:"measures"`
}

// Measure is the quantiles of one measure in one window (within analytics.QuantileRelativeError).
type Measure struct {
	// Count is the number of events that carried the measure.
	Count int64   `json:"count"`
	P50   float64 `json:"p50"`
	P99   float64 `json:"p99"`
}

// Snapshot takes a snapshot now: the counters and the last samples from memory, the rest read from the
// sources within the Dashboard's timeout. A source that fails leaves its figure out and says why in Errors.
func (d *Dashboard) Snapshot(ctx context.Context) Snapshot {
	now := d.now()
	ctx, cancel := context.WithTimeout(ctx, d.timeout)
	defer cancel()
	s := Snapshot{Time: now.UTC(), Ingest: d.ingestFigures(), Consumer: d.consumerFigures(), Workflow: d.workflowFigures(now)}
	fail := func(part string, err error) {
		if s.Errors == nil {
			s.Errors = map[string]string{}
		}
		s.Errors[part] = err.Error()
		d.log.LogAttrs(ctx, slog.LevelWarn, "dashboard: a figure could not be read", slog.String("part", part), slog.Any("error", err))
	}
	if n, err := d.src.DLQ.Len(ctx); err != nil {
		fail("dlq", err)
	} else {
		s.DLQDepth = &n
	}
	if d.src.Curated != nil {
		if n, err := d.src.Curated.Count(ctx); err != nil {
			fail("curated", err)
		} else {
			s.Curated = &n
		}
	}
	agg, err := d.aggregates(ctx, now)
	if err != nil {
		fail("aggregates", err)
	}
	s.Aggregates = agg
	return s
}

// ingestFigures reads the ingest counters and computes the rates from the samples.
func (d *Dashboard) ingestFigures() Ingest {
	st := d.src.Ingest.Stats()
	out := Ingest{Requests: st.Requests, Accepted: st.Accepted, Rejected: st.Rejected,
		RejectedBy: st.RejectedBy, Refused: st.Refused}
	if out.RejectedBy == nil {
		out.RejectedBy = map[string]int64{}
	}
	if out.Refused == nil {
		out.Refused = map[string]int64{}
	}
	samples := d.samples()
	if r, ok := rateOver(samples, d.rateWindow, d.every); ok {
		out.Rate, out.RejectRate, out.RateWindowSeconds = &r.accepted, &r.rejected, r.span.Seconds()
	}
	out.Series = series(samples)
	return out
}

// consumerFigures reads the shards' progress.
func (d *Dashboard) consumerFigures() Consumer {
	out := Consumer{Shards: []Shard{}}
	for _, st := range d.src.Consumer.Stats() {
		age := st.IteratorAge.Milliseconds()
		out.LagMs = max(out.LagMs, age)
		out.Shards = append(out.Shards, Shard{ShardID: st.ShardID, IteratorAgeMs: age, RecordsProcessed: st.RecordsProcessed,
			FailedInvocations: st.FailedInvocations, DeadLetteredRecords: st.DeadLetteredRecords})
	}
	return out
}

// workflowFigures computes the latency of the executions that stopped within the latency window.
func (d *Dashboard) workflowFigures(now time.Time) Workflow {
	out := Workflow{WindowSeconds: DefaultLatencyWindow.Seconds()}
	if d.src.Executions == nil {
		return out
	}
	since := now.Add(-DefaultLatencyWindow)
	var durs []time.Duration
	for _, t := range d.src.Executions.Recent(latencySample) {
		if t.StopDate.Before(since) {
			continue
		}
		durs = append(durs, t.Duration())
		if t.Status != asl.StatusSucceeded {
			out.Failed++
		}
	}
	out.Executions = len(durs)
	if len(durs) == 0 {
		return out
	}
	slices.Sort(durs)
	p50, p99 := ms(quantile(durs, 0.5)), ms(quantile(durs, 0.99))
	out.P50Ms, out.P99Ms = &p50, &p99
	return out
}

// quantile returns the q-quantile of sorted: the value of rank ⌈q·n⌉ (nearest rank), for 0 < q <= 1.
func quantile(sorted []time.Duration, q float64) time.Duration {
	rank := int(q*float64(len(sorted)) + 0.999999999)
	return sorted[min(max(rank, 1), len(sorted))-1]
}

// ms is d in milliseconds, to the microsecond.
func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// aggregates reads the windows of the span, or reuses the last read within WithAggregatesEvery.
func (d *Dashboard) aggregates(ctx context.Context, now time.Time) (Aggregates, error) {
	if d.aggEvery > 0 {
		d.mu.Lock()
		cached, at := d.agg, d.aggAt
		d.mu.Unlock()
		if cached != nil && now.Sub(at) < d.aggEvery {
			return *cached, nil
		}
	}
	from := now.Add(-d.span)
	windows, err := d.src.Aggregates.Query(ctx, analytics.Query{From: from})
	if err != nil {
		return Aggregates{From: from.UTC(), Types: []string{}, Windows: []WindowGroup{}}, err
	}
	agg := group(from, windows)
	if d.aggEvery > 0 {
		d.mu.Lock()
		d.agg, d.aggAt = &agg, now
		d.mu.Unlock()
	}
	return agg, nil
}

// group arranges the store's windows by start, then type, with each type's sources together. A type's
// uniques and top subjects are those of its sources merged (analytics.MergeSources) when the windows carry
// their aggregates, as a Store's do; otherwise the sources' figures added up (an upper bound for uniques).
func group(from time.Time, windows []analytics.Window) Aggregates {
	out := Aggregates{From: from.UTC(), Types: []string{}, Windows: []WindowGroup{}}
	types := map[string]bool{}
	// top adds up the sources' top subjects of each type of each window, by the indexes of both.
	type at struct{ window, typ int }
	top := map[at]map[string]int64{}
	// The store orders windows by start, type and source; sorting again keeps group independent of that.
	windows = slices.Clone(windows)
	slices.SortStableFunc(windows, func(a, b analytics.Window) int {
		return cmp.Or(a.Start.Compare(b.Start), cmp.Compare(a.Type, b.Type), cmp.Compare(a.Source, b.Source))
	})
	// merged are the windows of each start and type, their sources merged; nil when they cannot be.
	merged, err := analytics.MergeSources(windows)
	if err != nil {
		merged = nil
	}
	for _, w := range windows {
		types[w.Type] = true
		if n := len(out.Windows); n == 0 || !out.Windows[n-1].Start.Equal(w.Start) {
			out.Windows = append(out.Windows, WindowGroup{Start: w.Start.UTC(), End: w.End.UTC(), Types: []TypeWindow{}})
		}
		g := &out.Windows[len(out.Windows)-1]
		if n := len(g.Types); n == 0 || g.Types[n-1].Type != w.Type {
			g.Types = append(g.Types, TypeWindow{Type: w.Type, Closed: true, Sources: []SourceWindow{}})
			if merged != nil {
				// MergeSources keeps the order of the sorted windows: the next merged window is this one.
				m := merged[0]
				merged = merged[1:]
				tw := &g.Types[len(g.Types)-1]
				tw.Uniques, tw.TopSubjects, tw.merged = m.UniqueSubjects, m.TopSubjects, true
				if tw.TopSubjects == nil {
					tw.TopSubjects = []analytics.SubjectCount{}
				}
			}
		}
		tw := &g.Types[len(g.Types)-1]
		tw.Count += w.Count
		tw.Late += w.Late
		tw.Closed = tw.Closed && w.Closed
		tw.Sources = append(tw.Sources, sourceWindow(w))
		if tw.merged {
			continue
		}
		tw.Uniques += w.UniqueSubjects
		tw.UniquesUpperBound = len(tw.Sources) > 1
		k := at{len(out.Windows) - 1, len(g.Types) - 1}
		if top[k] == nil {
			top[k] = map[string]int64{}
		}
		for _, sc := range w.TopSubjects {
			top[k][sc.Subject] += sc.Count
		}
	}
	for k, counts := range top {
		out.Windows[k.window].Types[k.typ].TopSubjects = topOf(counts)
	}
	out.Types = slices.AppendSeq(make([]string, 0, len(types)), maps.Keys(types))
	slices.Sort(out.Types)
	return out
}

// sourceWindow is the figures of one window of the store.
func sourceWindow(w analytics.Window) SourceWindow {
	sw := SourceWindow{Source: w.Source, Count: w.Count, Late: w.Late, Closed: w.Closed, Uniques: w.UniqueSubjects,
		Measures: make(map[string]Measure, len(w.Measures))}
	for name, st := range w.Measures {
		sw.Measures[name] = Measure{Count: st.Count, P50: st.P50, P99: st.P99}
	}
	return sw
}

// topOf returns the analytics.TopReported most frequent subjects of counts, most frequent first (ties by
// subject).
func topOf(counts map[string]int64) []analytics.SubjectCount {
	out := make([]analytics.SubjectCount, 0, len(counts))
	for s, c := range counts {
		out = append(out, analytics.SubjectCount{Subject: s, Count: c})
	}
	slices.SortFunc(out, func(a, b analytics.SubjectCount) int {
		return cmp.Or(cmp.Compare(b.Count, a.Count), cmp.Compare(a.Subject, b.Subject))
	})
	return out[:min(len(out), analytics.TopReported)]
}
