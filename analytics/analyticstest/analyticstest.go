// Package analyticstest is the contract suite of the analytics aggregates: every analytics.Store (the local
// one, the DynamoDB one) must pass Run.
package analyticstest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/serverless-data-platform/sdp/analytics"
	"github.com/serverless-data-platform/sdp/event"
)

// Run runs the contract suite. newStore must return an empty store for each call; each case runs as its own
// subtest with its own store.
func Run(t *testing.T, newStore func(t *testing.T) analytics.Store) {
	t.Helper()
	cases := []struct {
		name string
		run  func(t *testing.T, s analytics.Store)
	}{
		{"CountsAndStatsPerWindow", testStats},
		{"EmptyApply", testEmpty},
		{"DuplicatesAcrossCalls", testDuplicatesAcrossCalls},
		{"DuplicateIDsInOneCall", testDuplicatesInOneCall},
		{"RetryAfterPartialFailure", testRetryAfterPartial},
		{"ConcurrentOverlappingApplies", testConcurrent},
		{"LargeCalls", testLargeCalls},
		{"QueryOrderAndFilters", testQuery},
		{"NonFiniteMeasuresIgnored", testNonFinite},
		{"InvalidFacts", testInvalid},
		{"CancelledContext", testCancelled},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.run(t, newStore(t))
		})
	}
}

// Sources of the sample facts.
const (
	shop  = "https://shop.example.com/web"
	plant = "urn:sdp:plant:hamburg:line-3"
)

// base is the start of the minute the sample facts begin in.
var base = time.Date(2026, 11, 26, 9, 15, 0, 0, time.UTC)

// at returns base plus d.
func at(d time.Duration) time.Time { return base.Add(d) }

// sample returns five facts over two minutes, two types and two sources.
func sample() []event.Fact {
	return []event.Fact{
		{ID: "e1", Type: "page_view", Source: shop, Time: at(2 * time.Second),
			Measures: map[string]float64{"duration_ms": 48210, "scroll_depth": 0.82}},
		{ID: "e2", Type: "page_view", Source: shop, Time: at(40 * time.Second),
			Measures: map[string]float64{"duration_ms": 30500, "scroll_depth": 1}},
		{ID: "e3", Type: "page_view", Source: shop, Time: at(61 * time.Second),
			Measures: map[string]float64{"duration_ms": 1000}},
		{ID: "e4", Type: "sensor_reading", Source: plant, Time: at(30 * time.Second),
			Measures: map[string]float64{"value": 21.7, "battery_pct": 87.5}},
		{ID: "e5", Type: "sensor_reading", Source: plant, Time: at(30*time.Second + 500*time.Millisecond),
			Measures: map[string]float64{"value": -612}},
	}
}

// sampleWindows are the windows of sample(), in Query order.
func sampleWindows() []analytics.Window {
	return []analytics.Window{
		{Start: base, Type: "page_view", Source: shop, Count: 2, Measures: map[string]analytics.Stat{
			"duration_ms":  {Sum: 78710, Min: 30500, Max: 48210, Count: 2},
			"scroll_depth": {Sum: 1.82, Min: 0.82, Max: 1, Count: 2},
		}},
		{Start: base, Type: "sensor_reading", Source: plant, Count: 2, Measures: map[string]analytics.Stat{
			"value":       {Sum: -590.3, Min: -612, Max: 21.7, Count: 2},
			"battery_pct": {Sum: 87.5, Min: 87.5, Max: 87.5, Count: 1},
		}},
		{Start: base.Add(time.Minute), Type: "page_view", Source: shop, Count: 1, Measures: map[string]analytics.Stat{
			"duration_ms": {Sum: 1000, Min: 1000, Max: 1000, Count: 1},
		}},
	}
}

// Diff reports how the windows got differ from want, or "" when they are the same: starts compare as
// instants, sums within a relative 1e-9 (a store may add in another order, or in decimal).
func Diff(got, want []analytics.Window) string {
	var diffs []string
	if len(got) != len(want) {
		return fmt.Sprintf("%d windows, want %d:\n got %s\nwant %s", len(got), len(want), Format(got), Format(want))
	}
	for i := range want {
		g, w := got[i], want[i]
		name := fmt.Sprintf("window %d (%s %s %s)", i, w.Start.Format(time.RFC3339), w.Type, w.Source)
		if !g.Start.Equal(w.Start) || g.Type != w.Type || g.Source != w.Source {
			diffs = append(diffs, fmt.Sprintf("%s: got %s %s %s", name, g.Start.Format(time.RFC3339), g.Type, g.Source))
			continue
		}
		if g.Count != w.Count {
			diffs = append(diffs, fmt.Sprintf("%s: count %d, want %d", name, g.Count, w.Count))
		}
		if len(g.Measures) != len(w.Measures) {
			diffs = append(diffs, fmt.Sprintf("%s: measures %v, want %v", name, g.Measures, w.Measures))
			continue
		}
		for m, ws := range w.Measures {
			gs, ok := g.Measures[m]
			if !ok || gs.Count != ws.Count || gs.Min != ws.Min || gs.Max != ws.Max || !near(gs.Sum, ws.Sum) {
				diffs = append(diffs, fmt.Sprintf("%s: measure %s = %+v, want %+v", name, m, gs, ws))
			}
		}
	}
	return strings.Join(diffs, "\n")
}

// near reports whether a and b are equal within a relative 1e-9.
func near(a, b float64) bool {
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

// Format renders windows briefly, for failure messages.
func Format(ws []analytics.Window) string {
	parts := make([]string, len(ws))
	for i, w := range ws {
		parts[i] = fmt.Sprintf("{%s %s %s n=%d %v}", w.Start.Format(time.RFC3339), w.Type, w.Source, w.Count, w.Measures)
	}
	return "[" + strings.Join(parts, " ") + "]"
}

// apply applies facts and fails the test unless it counts want of them.
func apply(t *testing.T, s analytics.Store, facts []event.Fact, want int) {
	t.Helper()
	n, err := s.Apply(context.Background(), facts)
	if err != nil || n != want {
		t.Fatalf("Apply(%d facts) = %d, %v; want %d, nil", len(facts), n, err, want)
	}
}

// query runs q and fails the test on error.
func query(t *testing.T, s analytics.Store, q analytics.Query) []analytics.Window {
	t.Helper()
	ws, err := s.Query(context.Background(), q)
	if err != nil {
		t.Fatalf("Query(%+v): %v", q, err)
	}
	return ws
}

// expect checks that Query of everything returns want.
func expect(t *testing.T, s analytics.Store, want []analytics.Window) {
	t.Helper()
	if d := Diff(query(t, s, analytics.Query{}), want); d != "" {
		t.Errorf("windows:\n%s", d)
	}
}

// testStats: facts are counted into one-minute windows by event time, per type and source, with the sum,
// minimum, maximum and count of each measure.
func testStats(t *testing.T, s analytics.Store) {
	apply(t, s, sample(), 5)
	expect(t, s, sampleWindows())
}

// testEmpty: applying nothing counts nothing and fails nothing.
func testEmpty(t *testing.T, s analytics.Store) {
	apply(t, s, nil, 0)
	expect(t, s, nil)
}

// testDuplicatesAcrossCalls: a fact applied before is skipped (a retried invocation, a replayed batch), and
// Apply counts only the new ones.
func testDuplicatesAcrossCalls(t *testing.T, s analytics.Store) {
	facts := sample()
	apply(t, s, facts, 5)
	apply(t, s, facts, 0)
	// A replay whose values differ (the event was re-curated) changes nothing either.
	replay := sample()
	replay[0].Measures = map[string]float64{"duration_ms": 1}
	apply(t, s, replay[:2], 0)
	expect(t, s, sampleWindows())
	// New facts beside old ones: only the new are counted.
	more := append(sample()[3:], event.Fact{ID: "e6", Type: "page_view", Source: shop, Time: at(50 * time.Second),
		Measures: map[string]float64{"duration_ms": 100}})
	apply(t, s, more, 1)
	want := sampleWindows()
	want[0].Count = 3
	want[0].Measures["duration_ms"] = analytics.Stat{Sum: 78810, Min: 100, Max: 48210, Count: 3}
	expect(t, s, want)
}

// testDuplicatesInOneCall: two facts with one id in one call count once, the first.
func testDuplicatesInOneCall(t *testing.T, s analytics.Store) {
	facts := sample()
	dup := facts[0]
	dup.Measures = map[string]float64{"duration_ms": 999999}
	facts = append(facts, dup, facts[3])
	apply(t, s, facts, 5)
	expect(t, s, sampleWindows())
}

// testRetryAfterPartialFailure: a call that failed after counting part of its facts (a store that writes
// in several transactions), retried whole, counts only the rest: nothing twice, nothing lost.
func testRetryAfterPartial(t *testing.T, s analytics.Store) {
	facts := sample()
	// The part counted before the failure: some facts of each window.
	apply(t, s, []event.Fact{facts[0], facts[4]}, 2)
	apply(t, s, facts, 3)
	expect(t, s, sampleWindows())
}

// testConcurrent: concurrent calls with overlapping facts (replays racing originals, as shards and retries
// do) count each fact once, in total and in the windows.
func testConcurrent(t *testing.T, s analytics.Store) {
	const callers, total = 4, 24
	facts := make([]event.Fact, total)
	for i := range facts {
		facts[i] = event.Fact{ID: fmt.Sprintf("c%02d", i), Type: "click", Source: shop,
			Time: at(time.Duration(i%3) * time.Minute), Measures: map[string]float64{"x": float64(i)}}
	}
	applied := make([]int, callers)
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for c := range callers {
		wg.Go(func() {
			// Each caller applies all facts, rotated so that callers start at different ones, in two calls.
			mine := append(slices.Clone(facts[c*total/callers:]), facts[:c*total/callers]...)
			for _, part := range [][]event.Fact{mine[:total/2], mine[total/2:]} {
				n, err := s.Apply(context.Background(), part)
				applied[c] += n
				errs[c] = errors.Join(errs[c], err)
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent Apply: %v", err)
	}
	sum := 0
	for _, n := range applied {
		sum += n
	}
	if sum != total {
		t.Errorf("concurrent Apply counted %d facts in all (%v); want %d", sum, applied, total)
	}
	var want []analytics.Window
	for m := range 3 {
		w := analytics.Window{Start: base.Add(time.Duration(m) * time.Minute), Type: "click", Source: shop, Count: total / 3}
		st := analytics.Stat{Min: float64(m), Max: float64(total - 3 + m), Count: total / 3}
		for i := m; i < total; i += 3 {
			st.Sum += float64(i)
		}
		w.Measures = map[string]analytics.Stat{"x": st}
		want = append(want, w)
	}
	expect(t, s, want)
}

// testLargeCalls: calls larger than a DynamoDB transaction (more than 100 facts, one window with more than
// 100 facts, many windows) are counted whole, and their retries count nothing.
func testLargeCalls(t *testing.T, s analytics.Store) {
	var facts []event.Fact
	// 150 facts in one window, then 60 windows of one fact each.
	for i := range 150 {
		facts = append(facts, event.Fact{ID: fmt.Sprintf("big-%03d", i), Type: "tick", Source: "a",
			Time: at(time.Duration(i) * 100 * time.Millisecond), Measures: map[string]float64{"v": 1}})
	}
	for i := range 60 {
		facts = append(facts, event.Fact{ID: fmt.Sprintf("spread-%03d", i), Type: "tick", Source: "b",
			Time: at(time.Duration(i) * time.Minute), Measures: map[string]float64{"v": float64(i)}})
	}
	apply(t, s, facts, len(facts))
	apply(t, s, facts, 0)
	ws := query(t, s, analytics.Query{Type: "tick"})
	if len(ws) != 61 {
		t.Fatalf("Query = %d windows; want 61", len(ws))
	}
	var total int64
	for _, w := range ws {
		total += w.Count
		if w.Source == "a" && (w.Count != 150 || w.Measures["v"].Sum != 150) {
			t.Errorf("window of 150 facts = %+v", w)
		}
	}
	if total != int64(len(facts)) {
		t.Errorf("windows count %d facts; want %d", total, len(facts))
	}
}

// testQuery: windows come ordered by start, type, source; Type and Source select; From and To select the
// windows that overlap [From, To).
func testQuery(t *testing.T, s analytics.Store) {
	apply(t, s, sample(), 5)
	// A window of another source of page_view, and one two hours later.
	apply(t, s, []event.Fact{
		{ID: "o1", Type: "page_view", Source: "app", Time: at(10 * time.Second)},
		{ID: "o2", Type: "page_view", Source: shop, Time: at(2*time.Hour + 5*time.Second)},
	}, 2)
	all := sampleWindows()
	app := analytics.Window{Start: base, Type: "page_view", Source: "app", Count: 1}
	later := analytics.Window{Start: base.Add(2 * time.Hour), Type: "page_view", Source: shop, Count: 1}
	everything := []analytics.Window{app, all[0], all[1], all[2], later}
	tests := []struct {
		name string
		q    analytics.Query
		want []analytics.Window
	}{
		{"everything, ordered", analytics.Query{}, everything},
		{"type", analytics.Query{Type: "page_view"}, []analytics.Window{app, all[0], all[2], later}},
		{"source", analytics.Query{Source: plant}, []analytics.Window{all[1]}},
		{"type and source", analytics.Query{Type: "page_view", Source: shop}, []analytics.Window{all[0], all[2], later}},
		{"unknown type", analytics.Query{Type: "nope"}, nil},
		{"from inside a window includes it", analytics.Query{From: at(59 * time.Second), To: at(time.Hour)}, everything[:4]},
		{"from at a window's end excludes it", analytics.Query{From: at(time.Minute), To: at(time.Hour)}, []analytics.Window{all[2]}},
		{"to at a window's start excludes it", analytics.Query{From: base, To: at(time.Minute)}, everything[:3]},
		{"to inside a window includes it", analytics.Query{From: base, To: at(time.Minute + time.Second)}, everything[:4]},
		{"range with type and source", analytics.Query{Type: "page_view", Source: shop, From: at(30 * time.Second),
			To: at(3 * time.Hour)}, []analytics.Window{all[0], all[2], later}},
		{"range over hours with type", analytics.Query{Type: "page_view", From: at(time.Minute), To: at(3 * time.Hour)},
			[]analytics.Window{all[2], later}},
		{"only from", analytics.Query{From: at(time.Hour)}, []analytics.Window{later}},
		{"only to", analytics.Query{To: at(time.Minute)}, everything[:3]},
		{"long range", analytics.Query{From: base.AddDate(-1, 0, 0), To: base.AddDate(1, 0, 0)}, everything},
		{"empty range", analytics.Query{From: at(time.Hour), To: at(time.Hour)}, nil},
		{"range before everything", analytics.Query{From: base.Add(-time.Hour), To: base}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if d := Diff(query(t, s, tc.q), tc.want); d != "" {
				t.Errorf("Query(%+v):\n%s", tc.q, d)
			}
		})
	}
}

// testNonFinite: NaN and infinite measures are left out of the statistics; the fact still counts.
func testNonFinite(t *testing.T, s analytics.Store) {
	apply(t, s, []event.Fact{
		{ID: "n1", Type: "t", Source: "s", Time: base, Measures: map[string]float64{"v": math.NaN(), "w": 2}},
		{ID: "n2", Type: "t", Source: "s", Time: base, Measures: map[string]float64{"v": math.Inf(1)}},
		{ID: "n3", Type: "t", Source: "s", Time: base, Measures: map[string]float64{"v": 3}},
	}, 3)
	expect(t, s, []analytics.Window{{Start: base, Type: "t", Source: "s", Count: 3, Measures: map[string]analytics.Stat{
		"v": {Sum: 3, Min: 3, Max: 3, Count: 1}, "w": {Sum: 2, Min: 2, Max: 2, Count: 1}}}})
}

// testInvalid: a fact without id, type or time, or with NUL in its type or source, fails the call with an
// error wrapping analytics.ErrInvalidFact, and nothing of the call is counted.
func testInvalid(t *testing.T, s analytics.Store) {
	good := event.Fact{ID: "ok", Type: "t", Source: "s", Time: base}
	tests := []struct {
		name string
		fact event.Fact
	}{
		{"no id", event.Fact{Type: "t", Source: "s", Time: base}},
		{"no type", event.Fact{ID: "x", Source: "s", Time: base}},
		{"no time", event.Fact{ID: "x", Type: "t", Source: "s"}},
		{"NUL in type", event.Fact{ID: "x", Type: "t\x00", Source: "s", Time: base}},
		{"NUL in source", event.Fact{ID: "x", Type: "t", Source: "\x00s", Time: base}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, err := s.Apply(context.Background(), []event.Fact{good, tc.fact})
			if !errors.Is(err, analytics.ErrInvalidFact) || n != 0 {
				t.Fatalf("Apply = %d, %v; want 0 and an error wrapping ErrInvalidFact", n, err)
			}
			expect(t, s, nil)
		})
	}
	// The valid fact was not marked applied: it counts now.
	apply(t, s, []event.Fact{good}, 1)
}

// testCancelled: Apply and Query with a cancelled context fail with an error wrapping context.Canceled, and
// the Apply counts nothing.
func testCancelled(t *testing.T, s analytics.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if n, err := s.Apply(ctx, sample()); !errors.Is(err, context.Canceled) || n != 0 {
		t.Errorf("Apply with a cancelled context = %d, %v; want 0, context.Canceled", n, err)
	}
	if _, err := s.Query(ctx, analytics.Query{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Query with a cancelled context = %v; want context.Canceled", err)
	}
	apply(t, s, sample(), 5)
}
