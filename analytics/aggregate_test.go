package analytics_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/serverless-data-platform/sdp/analytics"
	"github.com/serverless-data-platform/sdp/event"
)

// genFacts returns n facts of one window with subjects drawn from a Zipf distribution over distinct subjects
// (so that there are heavy hitters) and two measures: a log-normal latency and a signed reading.
func genFacts(n, distinct int, seed uint64) []event.Fact {
	rng := rand.New(rand.NewPCG(seed, seed+1))
	zipf := rand.NewZipf(rng, 1.2, 1, uint64(distinct-1))
	start := time.Date(2026, 11, 26, 9, 15, 0, 0, time.UTC)
	out := make([]event.Fact, n)
	for i := range out {
		out[i] = event.Fact{
			ID: fmt.Sprint("e", i), Type: "page_view", Source: "s", Subject: fmt.Sprint("visitor-", zipf.Uint64()),
			Time: start.Add(time.Duration(rng.IntN(60_000)) * time.Millisecond),
			Measures: map[string]float64{
				"duration_ms": math.Round(math.Exp(rng.NormFloat64()*1.5 + 8)),
				"reading":     rng.NormFloat64() * 40,
			},
		}
	}
	return out
}

// withinQuantile reports whether v is within the relative error of the exact q-quantile of sorted values: of
// the value of rank ⌊q(n−1)⌋ or of rank ⌈q(n−1)⌉ (DDSketch ranks negative values from the other end, so its
// answer may be either neighbour when q(n−1) is not whole).
func withinQuantile(sorted []float64, q, v float64) (bool, float64) {
	r := q * float64(len(sorted)-1)
	lo, hi := sorted[int(math.Floor(r))], sorted[int(math.Ceil(r))]
	near := func(x float64) bool { return math.Abs(v-x) <= analytics.QuantileRelativeError*math.Abs(x)+1e-12 }
	return near(lo) || near(hi), lo
}

// checkAgainstExact compares an aggregate of facts with the exact figures computed from them: counts, sums
// and extremes exactly, uniques within three standard errors, quantiles within the relative error, and the
// heavy hitters within their error bound.
func checkAgainstExact(t *testing.T, a *analytics.Aggregate, facts []event.Fact) {
	t.Helper()
	if a.Count != int64(len(facts)) {
		t.Errorf("count %d, want %d", a.Count, len(facts))
	}
	freq := map[string]int64{}
	values := map[string][]float64{}
	for i := range facts {
		freq[facts[i].Subject]++
		for name, v := range facts[i].Measures {
			values[name] = append(values[name], v)
		}
	}
	exactUniques := float64(len(freq))
	if got := float64(a.Uniques()); math.Abs(got-exactUniques) > 3*analytics.UniquesStandardError*exactUniques {
		t.Errorf("uniques %v, exact %v: beyond 3 standard errors (%.1f%%)", got, exactUniques, 300*analytics.UniquesStandardError)
	}
	stats := a.Measures()
	for name, vs := range values {
		slices.Sort(vs)
		s := stats[name]
		sum := 0.0
		for _, v := range vs {
			sum += v
		}
		if s.Count != int64(len(vs)) || s.Min != vs[0] || s.Max != vs[len(vs)-1] || math.Abs(s.Sum-sum) > 1e-6*math.Abs(sum)+1e-6 {
			t.Errorf("%s: %+v; want count %d, min %v, max %v, sum %v", name, s, len(vs), vs[0], vs[len(vs)-1], sum)
		}
		for _, q := range analytics.Quantiles {
			got, ok := a.Quantile(name, q)
			if in, want := withinQuantile(vs, q, got); !ok || !in {
				t.Errorf("%s p%v = %v, exact %v: beyond the %v relative error", name, q*100, got, want, analytics.QuantileRelativeError)
			}
		}
	}
	bound := a.TopError()
	if max := int64(len(facts)) / (analytics.TopCapacity + 1); bound > max {
		t.Errorf("top error %d beyond n/(k+1) = %d", bound, max)
	}
	top := a.Top(analytics.TopReported)
	for _, sc := range top {
		if sc.Count > freq[sc.Subject] || sc.Count < freq[sc.Subject]-bound {
			t.Errorf("top subject %s counted %d, true %d, bound %d", sc.Subject, sc.Count, freq[sc.Subject], bound)
		}
	}
	// Every subject more frequent than the bound is reported (when it ranks among the reported ones).
	var heavy []string
	for s, c := range freq {
		if c > bound {
			heavy = append(heavy, s)
		}
	}
	slices.SortFunc(heavy, func(x, y string) int { return int(freq[y] - freq[x]) })
	if len(top) > 0 && len(heavy) > 0 && top[0].Subject != heavy[0] && freq[top[0].Subject] < freq[heavy[0]]-bound {
		t.Errorf("most frequent reported %s (%d), true most frequent %s (%d)", top[0].Subject, freq[top[0].Subject], heavy[0], freq[heavy[0]])
	}
}

// TestAggregateWithinBounds folds 100,000 facts and checks every figure against the exact ones, for
// cardinalities where the uniques sketch is sparse and where it is dense.
func TestAggregateWithinBounds(t *testing.T) {
	tests := []struct {
		name     string
		n        int
		distinct int
	}{
		{"few subjects (sparse)", 20_000, 500},
		{"many subjects (dense)", 100_000, 60_000},
		{"one subject", 1_000, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			facts := genFacts(tc.n, tc.distinct, uint64(tc.n))
			var a analytics.Aggregate
			for i := range facts {
				a.Add(&facts[i])
			}
			checkAgainstExact(t, &a, facts)
		})
	}
}

// TestAggregateMergesInAnyOrder splits facts into parts (as shards and batches would), merges them in several
// orders and groupings, and checks that every order gives the same counts, extremes, uniques and quantiles,
// all within the bounds of the exact figures.
func TestAggregateMergesInAnyOrder(t *testing.T) {
	facts := genFacts(30_000, 8_000, 7)
	parts := make([]analytics.Aggregate, 7)
	for i := range facts {
		parts[(i*31)%len(parts)].Add(&facts[i])
	}
	orders := map[string][]int{
		"in order": {0, 1, 2, 3, 4, 5, 6},
		"reversed": {6, 5, 4, 3, 2, 1, 0},
		"shuffled": {3, 0, 6, 2, 5, 1, 4},
	}
	var first *analytics.Aggregate
	for name, order := range orders {
		t.Run(name, func(t *testing.T) {
			// Merge pairwise into a tree (grouping differs from the linear fold of "in order").
			aggs := make([]*analytics.Aggregate, 0, len(order))
			for _, i := range order {
				var c analytics.Aggregate
				if err := c.Merge(&parts[i]); err != nil {
					t.Fatal(err)
				}
				aggs = append(aggs, &c)
			}
			for len(aggs) > 1 {
				if err := aggs[0].Merge(aggs[1]); err != nil {
					t.Fatal(err)
				}
				aggs = append(aggs[2:], aggs[0])
			}
			got := aggs[0]
			checkAgainstExact(t, got, facts)
			if first == nil {
				first = got
				return
			}
			if got.Count != first.Count || got.Uniques() != first.Uniques() {
				t.Errorf("count %d uniques %d; another order gave %d and %d", got.Count, got.Uniques(), first.Count, first.Uniques())
			}
			for _, q := range analytics.Quantiles {
				a, _ := got.Quantile("duration_ms", q)
				b, _ := first.Quantile("duration_ms", q)
				if a != b {
					t.Errorf("p%v = %v; another order gave %v", q*100, a, b)
				}
			}
		})
	}
}

// TestAggregateEncoding checks that an aggregate survives its encoding, that equal aggregates encode to
// equal bytes, and that corrupt encodings are refused.
func TestAggregateEncoding(t *testing.T) {
	facts := genFacts(5_000, 4_000, 3)
	var a analytics.Aggregate
	for i := range facts {
		a.Add(&facts[i])
	}
	a.Late = 3
	enc, err := a.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var b analytics.Aggregate
	if err := b.UnmarshalBinary(enc); err != nil {
		t.Fatal(err)
	}
	again, err := b.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(enc, again) {
		t.Errorf("re-encoding differs: %d bytes, then %d", len(enc), len(again))
	}
	if b.Late != 3 {
		t.Errorf("late %d after decoding, want 3", b.Late)
	}
	checkAgainstExact(t, &b, facts)
	var empty analytics.Aggregate
	if err := empty.Merge(&b); err != nil || empty.Count != b.Count || empty.Uniques() != b.Uniques() {
		t.Errorf("merge of a decoded aggregate into an empty one: %v, count %d uniques %d", err, empty.Count, empty.Uniques())
	}

	// One measure whose sum overflows (legitimately: two finite values) and whose min and max are 1e308; the
	// corrupt cases below put a NaN or an infinity in their place.
	var big analytics.Aggregate
	for i := range 2 {
		big.Add(&event.Fact{ID: fmt.Sprint("big-", i), Type: "t", Source: "s", Time: facts[0].Time, Measures: map[string]float64{"m": 1e308}})
	}
	bigEnc, err := big.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	var bigBack analytics.Aggregate
	if err := bigBack.UnmarshalBinary(bigEnc); err != nil || !math.IsInf(bigBack.Measures()["m"].Sum, 1) || bigBack.Measures()["m"].Max != 1e308 {
		t.Fatalf("an aggregate whose sum overflowed: %v, %+v", err, bigBack.Measures())
	}
	// withFloat replaces the n-th (0: sum, 1: min, 2: max) float of big's measure by v.
	withFloat := func(n int, v float64) []byte {
		var sum, val [8]byte
		binary.BigEndian.PutUint64(sum[:], math.Float64bits(math.Inf(1)))
		binary.BigEndian.PutUint64(val[:], math.Float64bits(1e308))
		at := bytes.Index(bigEnc, append(sum[:], val[:]...))
		if at < 0 {
			t.Fatal("the measure's sum, min and max are not where the test looks for them")
		}
		out := bytes.Clone(bigEnc)
		binary.BigEndian.PutUint64(out[at+8*n:], math.Float64bits(v))
		return out
	}

	corrupt := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"unknown version", append([]byte{9}, enc[1:]...)},
		{"truncated", enc[:len(enc)/2]},
		{"trailing bytes", append(bytes.Clone(enc), 0)},
		{"NaN sum", withFloat(0, math.NaN())},
		{"NaN min", withFloat(1, math.NaN())},
		{"NaN max", withFloat(2, math.NaN())},
		{"infinite min", withFloat(1, math.Inf(-1))},
		{"infinite max", withFloat(2, math.Inf(1))},
	}
	for _, c := range corrupt {
		t.Run(c.name, func(t *testing.T) {
			var x analytics.Aggregate
			if err := x.UnmarshalBinary(c.b); err == nil {
				t.Errorf("decoded %d corrupt bytes without an error", len(c.b))
			}
		})
	}
}

// TestMergeSources checks that merging a type's windows across sources gives what one window of all the
// facts gives: exact counts, and the same uniques and quantiles (the sketches merge without loss).
func TestMergeSources(t *testing.T) {
	s := newLocal(t)
	facts := genFacts(6_000, 3_000, 11)
	for i := range facts {
		facts[i].Source = fmt.Sprint("source-", i%3)
	}
	if _, err := s.Apply(context.Background(), facts); err != nil {
		t.Fatal(err)
	}
	ws, err := s.Query(context.Background(), analytics.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ws) != 3 {
		t.Fatalf("%d windows, want one per source", len(ws))
	}
	merged, err := analytics.MergeSources(ws)
	if err != nil {
		t.Fatal(err)
	}
	var whole analytics.Aggregate
	for i := range facts {
		whole.Add(&facts[i])
	}
	if len(merged) != 1 {
		t.Fatalf("%d merged windows, want 1", len(merged))
	}
	m := merged[0]
	if m.Source != "" || m.Count != whole.Count || m.UniqueSubjects != whole.Uniques() ||
		m.Measures["duration_ms"].P99 != whole.Measures()["duration_ms"].P99 {
		t.Errorf("merged %+v; one window of all facts: count %d uniques %d p99 %v", m, whole.Count, whole.Uniques(),
			whole.Measures()["duration_ms"].P99)
	}
	checkAgainstExact(t, &whole, facts)
	if _, err := analytics.MergeSources([]analytics.Window{{Type: "t"}}); !errors.Is(err, analytics.ErrNoAggregate) {
		t.Errorf("merging a window without its aggregate: %v, want ErrNoAggregate", err)
	}
}
