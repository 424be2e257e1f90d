// Package analyticstest is the contract suite of the analytics aggregates: every analytics.Store (the local
// one, the DynamoDB one) must pass Run.
//
// The suite gives each store its windowing and a clock it controls, so that a case can place facts in
// windows that are open or closed at the store's clock, and close windows by moving the clock. Expected
// windows are written out by hand from exact statistics: counts, sums and extremes must match exactly (sums
// within a relative 1e-9), quantiles within analytics.QuantileRelativeError, unique subjects within the
// HyperLogLog's error, and heavy hitters within the window's TopError.
package analyticstest

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/serverless-data-platform/sdp/analytics"
	"github.com/serverless-data-platform/sdp/event"
)

// Config is what the suite asks of a new store.
type Config struct {
	// Windowing is the store's windowing (zero fields mean the defaults).
	Windowing analytics.Windowing
	// Now is the store's clock: it decides which windows are closed, both when a fact is applied (a fact of
	// a closed window counts only in its Late) and when windows are read (Window.Closed).
	Now func() time.Time
}

// Option tunes Run.
type Option func(*settings)

// settings are the suite's tunables.
type settings struct {
	sketchFacts int
}

// DefaultSketchFacts is how many facts the Sketches case applies by default.
const DefaultSketchFacts = 5000

// WithSketchFacts sets how many facts the Sketches case applies (default DefaultSketchFacts, at least 500):
// a store on an emulator whose transactions take time in proportion to the size of the table (moto copies
// the table for each action of a transaction) may run it with fewer. The case keeps its shape: heavy
// subjects, hundreds of distinct ones, measures over wide ranges of both signs.
func WithSketchFacts(n int) Option {
	return func(s *settings) { s.sketchFacts = max(n, 500) }
}

// Run runs the contract suite. newStore must return an empty store configured by c for each call; each case
// runs as its own subtest with its own store. A store whose storage can be shared (a table) may hand out
// several store values on one storage behind one analytics.Store, to test that they fence each other.
func Run(t *testing.T, newStore func(t *testing.T, c Config) analytics.Store, opts ...Option) {
	t.Helper()
	set := settings{sketchFacts: DefaultSketchFacts}
	for _, o := range opts {
		o(&set)
	}
	cases := []struct {
		name string
		win  analytics.Windowing
		run  func(t *testing.T, s analytics.Store, clk *Clock)
	}{
		{"CountsAndStatsPerWindow", analytics.Windowing{}, testStats},
		{"EmptyApply", analytics.Windowing{}, testEmpty},
		{"DuplicatesAcrossCalls", analytics.Windowing{}, testDuplicatesAcrossCalls},
		{"DuplicateIDsInOneCall", analytics.Windowing{}, testDuplicatesInOneCall},
		{"RetryAfterPartialFailure", analytics.Windowing{}, testRetryAfterPartial},
		{"ConcurrentOverlappingApplies", analytics.Windowing{}, testConcurrent},
		{"ConcurrentWritersSameWindow", analytics.Windowing{}, testConcurrentSameWindow},
		{"LargeCalls", analytics.Windowing{}, testLargeCalls},
		{"QueryOrderAndFilters", analytics.Windowing{}, testQuery},
		{"NonFiniteMeasuresIgnored", analytics.Windowing{}, testNonFinite},
		{"InvalidFacts", analytics.Windowing{}, testInvalid},
		{"CancelledContext", analytics.Windowing{}, testCancelled},
		{"LateEvents", analytics.Windowing{Size: time.Minute, AllowedLateness: 5 * time.Minute}, testLate},
		{"WindowSize", analytics.Windowing{Size: 5 * time.Minute, AllowedLateness: 5 * time.Minute}, testWindowSize},
		{"Sketches", analytics.Windowing{}, func(t *testing.T, s analytics.Store, _ *Clock) {
			testSketches(t, s, set.sketchFacts)
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			clk := NewClock(base)
			c.run(t, newStore(t, Config{Windowing: c.win, Now: clk.Now}), clk)
		})
	}
}

// Clock is a clock tests move by hand; it is safe for concurrent use.
type Clock struct{ ns atomic.Int64 }

// NewClock returns a clock that reads t.
func NewClock(t time.Time) *Clock {
	c := &Clock{}
	c.Set(t)
	return c
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time { return time.Unix(0, c.ns.Load()).UTC() }

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) { c.ns.Store(t.UnixNano()) }

// Sources of the sample facts.
const (
	shop  = "https://shop.example.com/web"
	plant = "urn:sdp:plant:hamburg:line-3"
)

// base is the start of the minute the sample facts begin in, and where every case's clock starts: no window
// of the default windowing that starts at or after base is closed then.
var base = time.Date(2026, 11, 26, 9, 15, 0, 0, time.UTC)

// at returns base plus d.
func at(d time.Duration) time.Time { return base.Add(d) }

// sample returns five facts over two minutes, two types and two sources.
func sample() []event.Fact {
	return []event.Fact{
		{ID: "e1", Type: "page_view", Source: shop, Subject: "u1", Time: at(2 * time.Second),
			Measures: map[string]float64{"duration_ms": 48210, "scroll_depth": 0.82}},
		{ID: "e2", Type: "page_view", Source: shop, Subject: "u2", Time: at(40 * time.Second),
			Measures: map[string]float64{"duration_ms": 30500, "scroll_depth": 1}},
		{ID: "e3", Type: "page_view", Source: shop, Subject: "u1", Time: at(61 * time.Second),
			Measures: map[string]float64{"duration_ms": 1000}},
		{ID: "e4", Type: "sensor_reading", Source: plant, Subject: "sensor-7", Time: at(30 * time.Second),
			Measures: map[string]float64{"value": 21.7, "battery_pct": 87.5}},
		{ID: "e5", Type: "sensor_reading", Source: plant, Subject: "sensor-7", Time: at(30*time.Second + 500*time.Millisecond),
			Measures: map[string]float64{"value": -612}},
	}
}

// win returns an open window of the default size starting at start, with no subjects and no measures.
func win(start time.Time, typ, src string, count int64) analytics.Window {
	return analytics.Window{Start: start, End: start.Add(analytics.WindowSize), Type: typ, Source: src, Count: count}
}

// sampleWindows are the windows of sample(), in Query order.
func sampleWindows() []analytics.Window {
	w0 := win(base, "page_view", shop, 2)
	w0.UniqueSubjects = 2
	w0.TopSubjects = []analytics.SubjectCount{{Subject: "u1", Count: 1}, {Subject: "u2", Count: 1}}
	w0.Measures = map[string]analytics.Stat{"duration_ms": statOf(48210, 30500), "scroll_depth": statOf(0.82, 1)}
	w1 := win(base, "sensor_reading", plant, 2)
	w1.UniqueSubjects = 1
	w1.TopSubjects = []analytics.SubjectCount{{Subject: "sensor-7", Count: 2}}
	w1.Measures = map[string]analytics.Stat{"value": statOf(21.7, -612), "battery_pct": statOf(87.5)}
	w2 := win(base.Add(time.Minute), "page_view", shop, 1)
	w2.UniqueSubjects = 1
	w2.TopSubjects = []analytics.SubjectCount{{Subject: "u1", Count: 1}}
	w2.Measures = map[string]analytics.Stat{"duration_ms": statOf(1000)}
	return []analytics.Window{w0, w1, w2}
}

// statOf returns the exact statistics of values: count, sum, extremes, and each quantile q as the value of
// rank ⌊q·(n−1)⌋ (0-based) in sorted order, which is what analytics.Stat approximates.
func statOf(values ...float64) analytics.Stat {
	if len(values) == 0 {
		return analytics.Stat{}
	}
	sorted := slices.Sorted(slices.Values(values))
	s := analytics.Stat{Count: int64(len(sorted)), Min: sorted[0], Max: sorted[len(sorted)-1]}
	for _, v := range values {
		s.Sum += v
	}
	q := func(q float64) float64 { return sorted[int(math.Floor(q*float64(len(sorted)-1)))] }
	s.P50, s.P90, s.P95, s.P99 = q(0.5), q(0.9), q(0.95), q(0.99)
	return s
}

// topOf returns the exact heavy hitters of subjects as a window reports them: the analytics.TopReported most
// frequent, most frequent first, ties by subject.
func topOf(subjects ...string) []analytics.SubjectCount {
	counts := map[string]int64{}
	for _, s := range subjects {
		if s != "" {
			counts[s]++
		}
	}
	out := make([]analytics.SubjectCount, 0, len(counts))
	for s, c := range counts {
		out = append(out, analytics.SubjectCount{Subject: s, Count: c})
	}
	slices.SortFunc(out, func(a, b analytics.SubjectCount) int {
		if a.Count != b.Count {
			return int(b.Count - a.Count)
		}
		return strings.Compare(a.Subject, b.Subject)
	})
	if len(out) == 0 {
		return nil
	}
	return out[:min(len(out), analytics.TopReported)]
}

// Diff reports how the windows got differ from want, or "" when they are the same. Starts and ends compare
// as instants; counts, Late, Closed, extremes and measure counts exactly; sums within a relative 1e-9 (a
// store may add in another order, or in decimal); quantiles within analytics.QuantileRelativeError of
// want's (the exact values); unique subjects within 1% of want's below 3,000 and within three
// analytics.UniquesStandardError above; heavy hitters and TopError exactly (want them from windows with
// fewer than analytics.TopCapacity subjects, where the summary is exact).
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
		if !g.End.Equal(w.End) {
			diffs = append(diffs, fmt.Sprintf("%s: end %s, want %s", name, g.End.Format(time.RFC3339), w.End.Format(time.RFC3339)))
		}
		if g.Count != w.Count || g.Late != w.Late || g.Closed != w.Closed {
			diffs = append(diffs, fmt.Sprintf("%s: count %d late %d closed %v, want count %d late %d closed %v",
				name, g.Count, g.Late, g.Closed, w.Count, w.Late, w.Closed))
		}
		if !uniquesNear(g.UniqueSubjects, w.UniqueSubjects) {
			diffs = append(diffs, fmt.Sprintf("%s: %d unique subjects, want %d", name, g.UniqueSubjects, w.UniqueSubjects))
		}
		if !slices.Equal(g.TopSubjects, w.TopSubjects) || g.TopError != w.TopError {
			diffs = append(diffs, fmt.Sprintf("%s: top subjects %v (error %d), want %v (error %d)",
				name, g.TopSubjects, g.TopError, w.TopSubjects, w.TopError))
		}
		if len(g.Measures) != len(w.Measures) {
			diffs = append(diffs, fmt.Sprintf("%s: measures %v, want %v", name, g.Measures, w.Measures))
			continue
		}
		for m, ws := range w.Measures {
			gs, ok := g.Measures[m]
			if !ok || !statNear(gs, ws) {
				diffs = append(diffs, fmt.Sprintf("%s: measure %s = %+v, want %+v", name, m, gs, ws))
			}
		}
	}
	return strings.Join(diffs, "\n")
}

// statNear reports whether got matches the exact statistics want: count and extremes exactly, the sum
// within a relative 1e-9, each quantile within the quantile sketch's relative error.
func statNear(got, want analytics.Stat) bool {
	return got.Count == want.Count && got.Min == want.Min && got.Max == want.Max && near(got.Sum, want.Sum) &&
		quantileNear(got.P50, want.P50) && quantileNear(got.P90, want.P90) &&
		quantileNear(got.P95, want.P95) && quantileNear(got.P99, want.P99)
}

// sketchNear reports whether got matches the exact statistics of values, its quantiles as DDSketch bounds
// them: the q-quantile is within analytics.QuantileRelativeError of the value of rank ⌊q·(n−1)⌋ or of rank
// ⌈q·(n−1)⌉ (the sketch reads negative values from their own store, in descending order, and lands on the
// upper of the two ranks there).
func sketchNear(got analytics.Stat, values []float64) bool {
	want := statOf(values...)
	if got.Count != want.Count || got.Min != want.Min || got.Max != want.Max || !near(got.Sum, want.Sum) {
		return false
	}
	sorted := slices.Sorted(slices.Values(values))
	for i, q := range analytics.Quantiles {
		r := q * float64(len(sorted)-1)
		g := [...]float64{got.P50, got.P90, got.P95, got.P99}[i]
		if !quantileNear(g, sorted[int(math.Floor(r))]) && !quantileNear(g, sorted[int(math.Ceil(r))]) {
			return false
		}
	}
	return true
}

// near reports whether a and b are equal within a relative 1e-9.
func near(a, b float64) bool {
	return math.Abs(a-b) <= 1e-9*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

// quantileNear reports whether the estimate got is within analytics.QuantileRelativeError of the exact x
// (with room for the last bits of floating-point rounding).
func quantileNear(got, x float64) bool {
	return math.Abs(got-x) <= analytics.QuantileRelativeError*math.Abs(x)*(1+1e-9)+1e-300
}

// uniquesNear reports whether the estimate got of want distinct subjects is within the sketch's error: 1%
// while the sketch is sparse (below about 3,000 subjects), three standard errors beyond.
func uniquesNear(got, want int64) bool {
	tol := 0.01 * float64(want)
	if want >= 3000 {
		tol = 3 * analytics.UniquesStandardError * float64(want)
	}
	return math.Abs(float64(got-want)) <= tol
}

// Format renders windows briefly, for failure messages.
func Format(ws []analytics.Window) string {
	parts := make([]string, len(ws))
	for i, w := range ws {
		parts[i] = fmt.Sprintf("{%s %s %s n=%d late=%d closed=%v uniques=%d top=%v %v}", w.Start.Format(time.RFC3339),
			w.Type, w.Source, w.Count, w.Late, w.Closed, w.UniqueSubjects, w.TopSubjects, w.Measures)
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

// testStats: facts are counted into one-minute windows by event time, per type and source, with the
// unique subjects, the heavy hitters, and each measure's count, sum, extremes and quantiles.
func testStats(t *testing.T, s analytics.Store, _ *Clock) {
	apply(t, s, sample(), 5)
	expect(t, s, sampleWindows())
}

// testEmpty: applying nothing counts nothing and fails nothing.
func testEmpty(t *testing.T, s analytics.Store, _ *Clock) {
	apply(t, s, nil, 0)
	expect(t, s, nil)
}

// testDuplicatesAcrossCalls: a fact applied before is skipped (a retried invocation, a replayed batch), and
// Apply counts only the new ones.
func testDuplicatesAcrossCalls(t *testing.T, s analytics.Store, _ *Clock) {
	facts := sample()
	apply(t, s, facts, 5)
	apply(t, s, facts, 0)
	// A replay whose values differ (the event was re-curated) changes nothing either.
	replay := sample()
	replay[0].Measures = map[string]float64{"duration_ms": 1}
	replay[1].Subject = "someone-else"
	apply(t, s, replay[:2], 0)
	expect(t, s, sampleWindows())
	// New facts beside old ones: only the new are counted.
	more := append(sample()[3:], event.Fact{ID: "e6", Type: "page_view", Source: shop, Subject: "u2",
		Time: at(50 * time.Second), Measures: map[string]float64{"duration_ms": 100}})
	apply(t, s, more, 1)
	want := sampleWindows()
	want[0].Count = 3
	want[0].TopSubjects = []analytics.SubjectCount{{Subject: "u2", Count: 2}, {Subject: "u1", Count: 1}}
	want[0].Measures["duration_ms"] = statOf(48210, 30500, 100)
	expect(t, s, want)
}

// testDuplicatesInOneCall: two facts with one id in one call count once, the first.
func testDuplicatesInOneCall(t *testing.T, s analytics.Store, _ *Clock) {
	facts := sample()
	dup := facts[0]
	dup.Measures = map[string]float64{"duration_ms": 999999}
	dup.Subject = "u3"
	facts = append(facts, dup, facts[3])
	apply(t, s, facts, 5)
	expect(t, s, sampleWindows())
}

// testRetryAfterPartial: a call that failed after counting part of its facts (a store that writes
// in several transactions), retried whole, counts only the rest: nothing twice, nothing lost.
func testRetryAfterPartial(t *testing.T, s analytics.Store, _ *Clock) {
	facts := sample()
	// The part counted before the failure: some facts of each window.
	apply(t, s, []event.Fact{facts[0], facts[4]}, 2)
	apply(t, s, facts, 3)
	expect(t, s, sampleWindows())
}

// testConcurrent: concurrent calls with overlapping facts (replays racing originals, as shards and retries
// do) count each fact once, in total and in the windows.
func testConcurrent(t *testing.T, s analytics.Store, _ *Clock) {
	const callers, total = 4, 24
	facts := make([]event.Fact, total)
	for i := range facts {
		facts[i] = event.Fact{ID: fmt.Sprintf("c%02d", i), Type: "click", Source: shop, Subject: fmt.Sprintf("s%d", i%5),
			Time: at(time.Duration(i%3) * time.Minute), Measures: map[string]float64{"x": float64(i)}}
	}
	calls := make([][][]event.Fact, callers)
	for c := range callers {
		// Each caller applies all facts, rotated so that callers start at different ones, in two calls.
		mine := append(slices.Clone(facts[c*total/callers:]), facts[:c*total/callers]...)
		calls[c] = [][]event.Fact{mine[:total/2], mine[total/2:]}
	}
	if sum := applyConcurrently(t, s, calls); sum != total {
		t.Errorf("concurrent Apply counted %d facts in all; want %d", sum, total)
	}
	var want []analytics.Window
	for m := range 3 {
		w := win(base.Add(time.Duration(m)*time.Minute), "click", shop, total/3)
		var xs []float64
		var subjects []string
		for i := m; i < total; i += 3 {
			xs = append(xs, float64(i))
			subjects = append(subjects, facts[i].Subject)
		}
		w.UniqueSubjects = 5
		w.TopSubjects = topOf(subjects...)
		w.Measures = map[string]analytics.Stat{"x": statOf(xs...)}
		want = append(want, w)
	}
	expect(t, s, want)
}

// applyConcurrently runs one goroutine per element of calls, each making its calls in order, and returns
// how many facts the calls counted in all; an error of any call fails the test.
func applyConcurrently(t *testing.T, s analytics.Store, calls [][][]event.Fact) int {
	t.Helper()
	applied := make([]int, len(calls))
	errs := make([]error, len(calls))
	var wg sync.WaitGroup
	for c := range calls {
		wg.Go(func() {
			for _, part := range calls[c] {
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
	return sum
}

// testConcurrentSameWindow: writers that all hit one window at once, with facts of their own and facts
// every writer applies, leave the exact count and statistics of the distinct facts: no update of the window
// is lost to another, and no fact counts twice.
func testConcurrentSameWindow(t *testing.T, s analytics.Store, _ *Clock) {
	const writers, own, shared, perCall = 6, 40, 60, 25
	fact := func(id string, i int) event.Fact {
		return event.Fact{ID: id, Type: "checkout", Source: shop, Subject: fmt.Sprintf("s%03d", i%150),
			Time: at(time.Duration(i%60) * time.Second), Measures: map[string]float64{"amount": float64(i), "one": 1}}
	}
	sharedFacts := make([]event.Fact, shared)
	for i := range sharedFacts {
		sharedFacts[i] = fact(fmt.Sprintf("shared-%02d", i), i)
	}
	calls := make([][][]event.Fact, writers)
	var all []event.Fact
	all = append(all, sharedFacts...)
	for w := range writers {
		var mine []event.Fact
		for i := range own {
			n := shared + w*own + i
			mine = append(mine, fact(fmt.Sprintf("w%d-%02d", w, i), n))
		}
		all = append(all, mine...)
		// Own and shared facts interleaved, the shared ones rotated so that writers race on different ones.
		rot := append(slices.Clone(sharedFacts[w*shared/writers:]), sharedFacts[:w*shared/writers]...)
		var seq []event.Fact
		for i := range max(len(mine), len(rot)) {
			if i < len(rot) {
				seq = append(seq, rot[i])
			}
			if i < len(mine) {
				seq = append(seq, mine[i])
			}
		}
		for len(seq) > 0 {
			k := min(perCall, len(seq))
			calls[w] = append(calls[w], seq[:k])
			seq = seq[k:]
		}
	}
	if sum := applyConcurrently(t, s, calls); sum != len(all) {
		t.Errorf("concurrent Apply counted %d facts in all; want %d", sum, len(all))
	}
	w := win(base, "checkout", shop, int64(len(all)))
	var amounts, ones []float64
	var subjects []string
	for _, f := range all {
		amounts = append(amounts, f.Measures["amount"])
		ones = append(ones, 1)
		subjects = append(subjects, f.Subject)
	}
	w.UniqueSubjects = 150
	w.Measures = map[string]analytics.Stat{"amount": statOf(amounts...), "one": statOf(ones...)}
	// 150 subjects overflow the heavy-hitters summary: its counts are checked against their bounds.
	got := query(t, s, analytics.Query{})
	if len(got) == 1 {
		w.TopSubjects, w.TopError = got[0].TopSubjects, got[0].TopError
		checkTop(t, got[0], subjects)
	}
	if d := Diff(got, []analytics.Window{w}); d != "" {
		t.Errorf("windows:\n%s", d)
	}
}

// checkTop checks a window's heavy hitters against the true counts of subjects: each reported count is at
// most TopError short of the truth and never above it, TopError is within its bound, and they come most
// frequent first.
func checkTop(t *testing.T, w analytics.Window, subjects []string) {
	t.Helper()
	truth := map[string]int64{}
	var n int64
	for _, s := range subjects {
		if s != "" {
			truth[s]++
			n++
		}
	}
	if w.TopError < 0 || w.TopError > n/(analytics.TopCapacity+1) {
		t.Errorf("window %s: TopError %d outside [0, %d]", w.Start.Format(time.RFC3339), w.TopError, n/(analytics.TopCapacity+1))
	}
	if len(w.TopSubjects) > analytics.TopReported {
		t.Errorf("window %s: %d top subjects, more than %d", w.Start.Format(time.RFC3339), len(w.TopSubjects), analytics.TopReported)
	}
	for i, sc := range w.TopSubjects {
		if c := truth[sc.Subject]; sc.Count > c || sc.Count < c-w.TopError {
			t.Errorf("window %s: top subject %q counted %d; true count %d, error bound %d",
				w.Start.Format(time.RFC3339), sc.Subject, sc.Count, c, w.TopError)
		}
		if i > 0 && sc.Count > w.TopSubjects[i-1].Count {
			t.Errorf("window %s: top subjects not most frequent first: %v", w.Start.Format(time.RFC3339), w.TopSubjects)
		}
	}
}

// testLargeCalls: calls larger than a DynamoDB transaction (more than 100 facts, one window with more than
// 100 facts, many windows) are counted whole, and their retries count nothing.
func testLargeCalls(t *testing.T, s analytics.Store, _ *Clock) {
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
func testQuery(t *testing.T, s analytics.Store, _ *Clock) {
	apply(t, s, sample(), 5)
	// A window of another source of page_view, and one two hours later.
	apply(t, s, []event.Fact{
		{ID: "o1", Type: "page_view", Source: "app", Time: at(10 * time.Second)},
		{ID: "o2", Type: "page_view", Source: shop, Time: at(2*time.Hour + 5*time.Second)},
	}, 2)
	all := sampleWindows()
	app := win(base, "page_view", "app", 1)
	later := win(base.Add(2*time.Hour), "page_view", shop, 1)
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
		{"to a fraction of a second into a window includes it", analytics.Query{From: base,
			To: at(time.Minute + time.Millisecond)}, everything[:4]},
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
func testNonFinite(t *testing.T, s analytics.Store, _ *Clock) {
	apply(t, s, []event.Fact{
		{ID: "n1", Type: "t", Source: "s", Time: base, Measures: map[string]float64{"v": math.NaN(), "w": 2}},
		{ID: "n2", Type: "t", Source: "s", Time: base, Measures: map[string]float64{"v": math.Inf(1)}},
		{ID: "n3", Type: "t", Source: "s", Time: base, Measures: map[string]float64{"v": 3, "w": math.Inf(-1)}},
	}, 3)
	w := win(base, "t", "s", 3)
	w.Measures = map[string]analytics.Stat{"v": statOf(3), "w": statOf(2)}
	expect(t, s, []analytics.Window{w})
}

// testInvalid: a fact without id, type or time, or with NUL in its type or source, fails the call with an
// error wrapping analytics.ErrInvalidFact, and nothing of the call is counted.
func testInvalid(t *testing.T, s analytics.Store, _ *Clock) {
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
func testCancelled(t *testing.T, s analytics.Store, _ *Clock) {
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

// testLate: with one-minute windows and five minutes of allowed lateness, a window closes six minutes after
// its start by the store's clock. A fact of a closed window counts in its Late and nowhere else (no count,
// subject or measure); a fact of an open window counts normally; retries of late facts count nothing; moving
// the clock closes windows, and their later facts are late.
func testLate(t *testing.T, s analytics.Store, clk *Clock) {
	fact := func(id string, d time.Duration, subject string, v float64) event.Fact {
		return event.Fact{ID: id, Type: "reading", Source: plant, Subject: subject, Time: at(d),
			Measures: map[string]float64{"v": v}}
	}
	facts := []event.Fact{
		fact("closed-1", 10*time.Second, "a", 1),
		fact("closed-2", 50*time.Second, "b", 2),
		fact("boundary", 4*time.Minute+30*time.Second, "c", 3), // closes at exactly the clock's time
		fact("just-open", 5*time.Minute+59*time.Second, "d", 4),
		fact("open-1", 8*time.Minute, "e", 5),
		fact("open-2", 8*time.Minute+20*time.Second, "e", 6),
		fact("open-3", 8*time.Minute+40*time.Second, "f", 7),
	}
	clk.Set(at(10 * time.Minute))
	apply(t, s, facts, len(facts))

	late := func(start time.Duration, n int64, closed bool) analytics.Window {
		w := win(at(start), "reading", plant, 0)
		w.Late, w.Closed = n, closed
		return w
	}
	open := func(start time.Duration, closed bool, fs ...event.Fact) analytics.Window {
		w := win(at(start), "reading", plant, int64(len(fs)))
		var vs []float64
		var subjects []string
		for _, f := range fs {
			vs = append(vs, f.Measures["v"])
			subjects = append(subjects, f.Subject)
		}
		w.Closed = closed
		w.UniqueSubjects = int64(len(slices.Compact(slices.Sorted(slices.Values(subjects)))))
		w.TopSubjects = topOf(subjects...)
		w.Measures = map[string]analytics.Stat{"v": statOf(vs...)}
		return w
	}
	want := []analytics.Window{
		late(0, 2, true),
		late(4*time.Minute, 1, true),
		open(5*time.Minute, false, facts[3]),
		open(8*time.Minute, false, facts[4:]...),
	}
	t.Run("late facts count only in Late", func(t *testing.T) { expect(t, s, want) })

	// A retry of the whole call, with one more late fact: only that one counts.
	apply(t, s, append(slices.Clone(facts), fact("closed-3", 30*time.Second, "g", 100)), 1)
	want[0].Late = 3
	t.Run("retried late facts count once", func(t *testing.T) { expect(t, s, want) })

	// Four minutes later the windows of 09:20 and 09:23 have closed too; their counts stay, new facts of
	// theirs are late.
	clk.Set(at(14 * time.Minute))
	want[2].Closed, want[3].Closed = true, true
	t.Run("the clock closes windows", func(t *testing.T) { expect(t, s, want) })
	apply(t, s, []event.Fact{fact("after-close", 8*time.Minute+50*time.Second, "h", 1000), facts[4]}, 1)
	apply(t, s, []event.Fact{fact("after-close", 8*time.Minute+50*time.Second, "h", 1000)}, 0)
	want[3].Late = 1
	t.Run("facts of a window that closed are late", func(t *testing.T) { expect(t, s, want) })

	// The arrival time decides, not the time of counting: a fact that arrived while its window was open
	// counts normally however late it is counted (a retried or redriven record), and one that arrived after
	// the window closed is late even when counted at once.
	onTime := fact("arrived-open", 8*time.Minute+55*time.Second, "i", 2000)
	onTime.ArrivalTime = at(9 * time.Minute)
	lateArrival := fact("arrived-late", 13*time.Minute, "j", 3000)
	lateArrival.ArrivalTime = at(19*time.Minute + 30*time.Second)
	clk.Set(at(30 * time.Minute))
	apply(t, s, []event.Fact{onTime, lateArrival}, 2)
	want[3] = open(8*time.Minute, true, append(slices.Clone(facts[4:]), onTime)...)
	want[3].Late = 1
	want = append(want, late(13*time.Minute, 1, true))
	t.Run("the arrival time decides", func(t *testing.T) { expect(t, s, want) })
}

// testWindowSize: a store with five-minute windows places facts in five-minute windows, reports their end,
// selects them by overlap, and closes them five minutes of lateness after their end.
func testWindowSize(t *testing.T, s analytics.Store, clk *Clock) {
	const size = 5 * time.Minute
	fact := func(id string, d time.Duration, v float64) event.Fact {
		return event.Fact{ID: id, Type: "order", Source: shop, Time: at(d), Measures: map[string]float64{"v": v}}
	}
	apply(t, s, []event.Fact{
		fact("first", 0, 1),
		fact("last-of-first", size-time.Millisecond, 2),
		fact("second", size, 3),
		fact("third", 12*time.Minute, 4),
		fact("twelfth", 59*time.Minute+59*time.Second, 5),
	}, 5)
	w := func(start time.Duration, vs ...float64) analytics.Window {
		return analytics.Window{Start: at(start), End: at(start + size), Type: "order", Source: shop,
			Count: int64(len(vs)), Measures: map[string]analytics.Stat{"v": statOf(vs...)}}
	}
	all := []analytics.Window{w(0, 1, 2), w(size, 3), w(2*size, 4), w(11*size, 5)}
	tests := []struct {
		name string
		q    analytics.Query
		want []analytics.Window
	}{
		{"everything", analytics.Query{}, all},
		{"overlapping a range inside windows", analytics.Query{From: at(7 * time.Minute), To: at(11 * time.Minute)}, all[1:3]},
		{"from a window's end", analytics.Query{From: at(size), To: at(time.Hour)}, all[1:]},
		{"to a window's start", analytics.Query{To: at(2 * size)}, all[:2]},
		{"one source", analytics.Query{Type: "order", Source: shop, From: at(4 * time.Minute), To: at(56 * time.Minute)}, all},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if d := Diff(query(t, s, tc.q), tc.want); d != "" {
				t.Errorf("Query(%+v):\n%s", tc.q, d)
			}
		})
	}
	// The first window ends at base+5m and closes at base+10m; the second closes a window later.
	clk.Set(at(2 * size))
	all[0].Closed = true
	t.Run("closed after its end and the allowed lateness", func(t *testing.T) { expect(t, s, all) })
}

// testSketches: n facts (5,000 by default) over three windows, applied in ten shuffled calls, with heavy
// subjects, hundreds or thousands of distinct ones, and measures over wide ranges of both signs: unique
// subjects, quantiles and heavy hitters are within their documented error of the exact values.
func testSketches(t *testing.T, s analytics.Store, n int) {
	rng := rand.New(rand.NewPCG(1, 2))
	var facts []event.Fact
	add := func(window int, subject string, measures map[string]float64) {
		facts = append(facts, event.Fact{ID: fmt.Sprintf("k%05d", len(facts)), Type: "request", Source: shop,
			Subject: subject, Time: at(time.Duration(window)*time.Minute + time.Duration(len(facts)%60)*time.Second),
			Measures: measures})
	}
	measures := func() map[string]float64 {
		return map[string]float64{
			"latency_ms": 0.5 * math.Pow(1e5, rng.Float64()), // log-uniform over [0.5, 50000)
			"delta":      rng.Float64()*2000 - 1000,
			"const":      42,
		}
	}
	// Window 0, 80% of the facts: three heavy subjects (8%, 5% and 3%), the rest of 62% as many subjects,
	// some twice. With 5,000 facts: 4,000 facts, 3,103 subjects.
	for _, h := range []struct {
		subject string
		n       int
	}{{"hot-a", n * 8 / 100}, {"hot-b", n * 5 / 100}, {"hot-c", n * 3 / 100}} {
		for range h.n {
			add(0, h.subject, measures())
		}
	}
	for i := range n * 64 / 100 {
		add(0, fmt.Sprintf("user-%04d", i%(n*62/100)), measures())
	}
	// Window 1, 16%: each of 4% as many subjects four times.
	for i := range n * 16 / 100 {
		add(1, fmt.Sprintf("device-%03d", i%(n*4/100)), measures())
	}
	// Window 2, the rest: facts without a subject, with one measure.
	for len(facts) < n {
		add(2, "", map[string]float64{"latency_ms": 10 * math.Pow(100, rng.Float64())})
	}
	rng.Shuffle(len(facts), func(i, j int) { facts[i], facts[j] = facts[j], facts[i] })
	for i, call := 0, (n+9)/10; i < len(facts); i += call {
		apply(t, s, facts[i:min(i+call, len(facts))], min(call, len(facts)-i))
	}

	got := query(t, s, analytics.Query{})
	if len(got) != 3 {
		t.Fatalf("Query = %d windows; want 3: %s", len(got), Format(got))
	}
	for i, w := range got {
		var mine []event.Fact
		for _, f := range facts {
			if f.Time.Truncate(time.Minute).Equal(w.Start) {
				mine = append(mine, f)
			}
		}
		if !w.Start.Equal(at(time.Duration(i) * time.Minute)) {
			t.Errorf("window %d starts at %s", i, w.Start.Format(time.RFC3339))
			continue
		}
		if w.Count != int64(len(mine)) {
			t.Errorf("window %d counts %d; want %d", i, w.Count, len(mine))
		}
		values := map[string][]float64{}
		var subjects []string
		distinct := map[string]bool{}
		for _, f := range mine {
			for m, v := range f.Measures {
				values[m] = append(values[m], v)
			}
			subjects = append(subjects, f.Subject)
			if f.Subject != "" {
				distinct[f.Subject] = true
			}
		}
		exact := int64(len(distinct))
		if !uniquesNear(w.UniqueSubjects, exact) {
			t.Errorf("window %d: %d unique subjects; exact %d, beyond the sketch's error", i, w.UniqueSubjects, exact)
		}
		if len(w.Measures) != len(values) {
			t.Errorf("window %d: measures %v; want %d of them", i, w.Measures, len(values))
		}
		for m, vs := range values {
			if g, want := w.Measures[m], statOf(vs...); !sketchNear(g, vs) {
				t.Errorf("window %d: measure %s = %+v; exact %+v", i, m, g, want)
			}
		}
		checkTop(t, w, subjects)
		if exactTop := topOf(subjects...); i == 0 && (len(w.TopSubjects) < 3 || w.TopSubjects[0].Subject != "hot-a" ||
			w.TopSubjects[1].Subject != "hot-b" || w.TopSubjects[2].Subject != "hot-c") {
			t.Errorf("window 0: top subjects %v; want hot-a, hot-b, hot-c first (exact %v)", w.TopSubjects, exactTop[:3])
		}
		if i == 2 && (w.TopSubjects != nil || w.UniqueSubjects != 0) {
			t.Errorf("window 2 has no subjects; got %d unique, top %v", w.UniqueSubjects, w.TopSubjects)
		}
	}
}
