package analytics_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/serverless-data-platform/sdp/analytics"
	"github.com/serverless-data-platform/sdp/event"
)

// openDB opens a bbolt database in a test's temporary directory and closes it when the test ends.
func openDB(t testing.TB) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "sdp.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("open db: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// openForever is the windowing of the tests whose facts are decades old: no window closes.
var openForever = analytics.WithWindowing(analytics.Windowing{AllowedLateness: 100 * 365 * 24 * time.Hour})

// newLocal returns a Local store on a fresh database, whose windows stay open.
func newLocal(t testing.TB) *analytics.Local {
	t.Helper()
	s, err := analytics.OpenLocal(openDB(t), openForever)
	if err != nil {
		t.Fatalf("OpenLocal: %v", err)
	}
	return s
}

// at parses an RFC 3339 time or fails the test.
func at(t testing.TB, s string) time.Time {
	t.Helper()
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return ts
}

const (
	shop  = "https://shop.example.com/web"
	plant = "urn:sdp:plant:hamburg:line-3"
)

// sampleFacts are five facts over two minutes, two types and two sources.
func sampleFacts(t testing.TB) []event.Fact {
	return []event.Fact{
		{ID: "e1", Type: "page_view", Source: shop, Time: at(t, "2026-11-26T09:15:02Z"),
			Measures: map[string]float64{"duration_ms": 48210, "scroll_depth": 0.82}},
		{ID: "e2", Type: "page_view", Source: shop, Time: at(t, "2026-11-26T09:15:40Z"),
			Measures: map[string]float64{"duration_ms": 30500, "scroll_depth": 1}},
		{ID: "e3", Type: "page_view", Source: shop, Time: at(t, "2026-11-26T09:16:01Z"),
			Measures: map[string]float64{"duration_ms": 1000}},
		{ID: "e4", Type: "sensor_reading", Source: plant, Time: at(t, "2026-11-26T09:15:30Z"),
			Measures: map[string]float64{"value": 21.7, "battery_pct": 87.5}},
		{ID: "e5", Type: "sensor_reading", Source: plant, Time: at(t, "2026-11-26T09:15:30Z"),
			Measures: map[string]float64{"value": 612}},
	}
}

// TestApplyAndQuery checks the windows and their statistics, and each Query filter: type, source, and the
// time range, which selects the windows that overlap [From, To).
func TestApplyAndQuery(t *testing.T) {
	ctx := context.Background()
	s := newLocal(t)
	n, err := s.Apply(ctx, sampleFacts(t))
	if err != nil || n != 5 {
		t.Fatalf("Apply = %d, %v; want 5, nil", n, err)
	}
	w1515pv := analytics.Window{Start: at(t, "2026-11-26T09:15:00Z"), Type: "page_view", Source: shop, Count: 2,
		Measures: map[string]analytics.Stat{
			"duration_ms":  {Sum: 78710, Min: 30500, Max: 48210, Count: 2},
			"scroll_depth": {Sum: 1.82, Min: 0.82, Max: 1, Count: 2},
		}}
	w1515sr := analytics.Window{Start: at(t, "2026-11-26T09:15:00Z"), Type: "sensor_reading", Source: plant, Count: 2,
		Measures: map[string]analytics.Stat{
			"value":       {Sum: 633.7, Min: 21.7, Max: 612, Count: 2},
			"battery_pct": {Sum: 87.5, Min: 87.5, Max: 87.5, Count: 1},
		}}
	w1516pv := analytics.Window{Start: at(t, "2026-11-26T09:16:00Z"), Type: "page_view", Source: shop, Count: 1,
		Measures: map[string]analytics.Stat{"duration_ms": {Sum: 1000, Min: 1000, Max: 1000, Count: 1}}}

	tests := []struct {
		name string
		q    analytics.Query
		want []analytics.Window
	}{
		{"all", analytics.Query{}, []analytics.Window{w1515pv, w1515sr, w1516pv}},
		{"by type", analytics.Query{Type: "page_view"}, []analytics.Window{w1515pv, w1516pv}},
		{"by source", analytics.Query{Source: plant}, []analytics.Window{w1515sr}},
		{"by type and source, no match", analytics.Query{Type: "page_view", Source: plant}, nil},
		{"from a window start", analytics.Query{From: at(t, "2026-11-26T09:16:00Z")}, []analytics.Window{w1516pv}},
		{"from inside a window overlaps it", analytics.Query{From: at(t, "2026-11-26T09:15:59Z")},
			[]analytics.Window{w1515pv, w1515sr, w1516pv}},
		{"to is exclusive", analytics.Query{To: at(t, "2026-11-26T09:16:00Z")}, []analytics.Window{w1515pv, w1515sr}},
		{"from and to", analytics.Query{Type: "page_view", From: at(t, "2026-11-26T09:16:00Z"),
			To: at(t, "2026-11-26T09:17:00Z")}, []analytics.Window{w1516pv}},
		{"range before all data", analytics.Query{To: at(t, "2026-11-26T09:00:00Z")}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := s.Query(ctx, tc.q)
			if err != nil {
				t.Fatalf("Query: %v", err)
			}
			assertWindows(t, got, tc.want)
		})
	}
}

// assertWindows compares windows, with a tolerance on float sums.
func assertWindows(t *testing.T, got, want []analytics.Window) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d windows %+v; want %d %+v", len(got), got, len(want), want)
	}
	for i := range want {
		g, w := got[i], want[i]
		if !g.Start.Equal(w.Start) || g.Start.Location() != time.UTC || g.Type != w.Type || g.Source != w.Source ||
			g.Count != w.Count || len(g.Measures) != len(w.Measures) {
			t.Fatalf("window %d = %+v; want %+v", i, g, w)
		}
		for name, ws := range w.Measures {
			gs, ok := g.Measures[name]
			if !ok || gs.Count != ws.Count || gs.Min != ws.Min || gs.Max != ws.Max || !near(gs.Sum, ws.Sum) {
				t.Errorf("window %d measure %s = %+v; want %+v", i, name, gs, ws)
			}
		}
	}
}

func near(a, b float64) bool {
	d := a - b
	return d < 1e-9 && d > -1e-9
}

// TestApplyIsIdempotent checks the exactly-once fence: however the same facts are delivered again, the
// aggregates equal those of one delivery.
func TestApplyIsIdempotent(t *testing.T) {
	facts := sampleFacts(t)
	tests := []struct {
		name        string
		batches     [][]event.Fact
		wantApplied []int
	}{
		{"same batch twice", [][]event.Fact{facts, facts}, []int{5, 0}},
		{"overlapping batches", [][]event.Fact{facts[:3], facts[1:]}, []int{3, 2}},
		{"duplicate within one batch", [][]event.Fact{append(append([]event.Fact{}, facts...), facts[0], facts[4])},
			[]int{5}},
		{"one by one then all", [][]event.Fact{facts[:1], facts[1:2], facts[2:3], facts[3:4], facts[4:], facts},
			[]int{1, 1, 1, 1, 1, 0}},
	}
	ctx := context.Background()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newLocal(t)
			for i, b := range tc.batches {
				n, err := s.Apply(ctx, b)
				if err != nil || n != tc.wantApplied[i] {
					t.Fatalf("Apply batch %d = %d, %v; want %d", i, n, err, tc.wantApplied[i])
				}
			}
			// The aggregates are those of the five facts counted once.
			ref := newLocal(t)
			if _, err := ref.Apply(ctx, facts); err != nil {
				t.Fatal(err)
			}
			want, _ := ref.Query(ctx, analytics.Query{})
			got, err := s.Query(ctx, analytics.Query{})
			if err != nil {
				t.Fatal(err)
			}
			assertWindows(t, got, want)
		})
	}
}

// TestWindowsByEventTime checks that facts fall in tumbling one-minute windows of their event time, in UTC,
// and that windows come back in time order, even before 1970.
func TestWindowsByEventTime(t *testing.T) {
	berlin := time.FixedZone("CET", 3600)
	tests := []struct {
		name  string
		times []time.Time
		want  map[string]int64 // window start (RFC 3339, UTC) -> count
	}{
		{"same minute", []time.Time{at(t, "2026-11-26T09:15:00Z"), at(t, "2026-11-26T09:15:59.999999999Z")},
			map[string]int64{"2026-11-26T09:15:00Z": 2}},
		{"minute boundary", []time.Time{at(t, "2026-11-26T09:15:59.999Z"), at(t, "2026-11-26T09:16:00Z")},
			map[string]int64{"2026-11-26T09:15:00Z": 1, "2026-11-26T09:16:00Z": 1}},
		{"offsets are normalised to UTC", []time.Time{at(t, "2026-11-26T10:15:10+01:00"),
			at(t, "2026-11-26T09:15:20Z").In(berlin)},
			map[string]int64{"2026-11-26T09:15:00Z": 2}},
		{"day boundary", []time.Time{at(t, "2026-11-26T23:59:59Z"), at(t, "2026-11-27T00:00:00Z")},
			map[string]int64{"2026-11-26T23:59:00Z": 1, "2026-11-27T00:00:00Z": 1}},
		{"before 1970 sorts first", []time.Time{at(t, "2026-01-01T00:00:00Z"), at(t, "1969-12-31T23:59:30Z")},
			map[string]int64{"1969-12-31T23:59:00Z": 1, "2026-01-01T00:00:00Z": 1}},
	}
	ctx := context.Background()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newLocal(t)
			var facts []event.Fact
			for i, ts := range tc.times {
				facts = append(facts, event.Fact{ID: fmt.Sprint("e", i), Type: "t", Source: "s", Time: ts})
			}
			if _, err := s.Apply(ctx, facts); err != nil {
				t.Fatal(err)
			}
			ws, err := s.Query(ctx, analytics.Query{})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]int64{}
			var prev time.Time
			for _, w := range ws {
				if w.Start.Before(prev) {
					t.Errorf("windows out of order: %v after %v", w.Start, prev)
				}
				prev = w.Start
				got[w.Start.Format(time.RFC3339)] = w.Count
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("windows = %v; want %v", got, tc.want)
			}
		})
	}
}

// TestApplyRejectsInvalidFacts checks that a fact that cannot be keyed fails the call before anything is
// counted.
func TestApplyRejectsInvalidFacts(t *testing.T) {
	ok := event.Fact{ID: "ok", Type: "t", Source: "s", Time: at(t, "2026-11-26T09:15:00Z")}
	tests := []struct {
		name string
		bad  event.Fact
	}{
		{"no id", event.Fact{Type: "t", Time: ok.Time}},
		{"no type", event.Fact{ID: "x", Time: ok.Time}},
		{"no time", event.Fact{ID: "x", Type: "t"}},
		{"NUL in source", event.Fact{ID: "x", Type: "t", Source: "a\x00b", Time: ok.Time}},
	}
	ctx := context.Background()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newLocal(t)
			n, err := s.Apply(ctx, []event.Fact{ok, tc.bad})
			if !errors.Is(err, analytics.ErrInvalidFact) || n != 0 {
				t.Fatalf("Apply = %d, %v; want 0, ErrInvalidFact", n, err)
			}
			// Nothing was counted, not even the valid neighbour: the call can be retried as a whole.
			if ws, _ := s.Query(ctx, analytics.Query{}); len(ws) != 0 {
				t.Errorf("windows after a rejected Apply: %+v", ws)
			}
		})
	}
}

// TestApplyCancelledContext checks that Apply honours a cancelled context.
func TestApplyCancelledContext(t *testing.T) {
	s := newLocal(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Apply(ctx, sampleFacts(t)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Apply with a cancelled context = %v; want context.Canceled", err)
	}
}

// TestConcurrentApply applies overlapping facts from several goroutines (run it with -race): each fact is
// counted exactly once.
func TestConcurrentApply(t *testing.T) {
	ctx := context.Background()
	s := newLocal(t)
	base := at(t, "2026-11-26T09:00:00Z")
	const workers, perWorker, overlap = 8, 50, 25
	// Worker w applies ids [w*overlap, w*overlap+perWorker): each id is shared by two neighbouring workers.
	var wg sync.WaitGroup
	applied := make([]int, workers)
	errs := make([]error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range perWorker {
				id := w*overlap + i
				f := event.Fact{ID: fmt.Sprint("e", id), Type: "t", Source: "s",
					Time: base.Add(time.Duration(id) * time.Second), Measures: map[string]float64{"v": 1}}
				n, err := s.Apply(ctx, []event.Fact{f})
				if err != nil {
					errs[w] = err
					return
				}
				applied[w] += n
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
	unique := (workers-1)*overlap + perWorker
	total := 0
	for _, n := range applied {
		total += n
	}
	if total != unique {
		t.Errorf("applied %d in all; want %d unique facts", total, unique)
	}
	ws, err := s.Query(ctx, analytics.Query{})
	if err != nil {
		t.Fatal(err)
	}
	var count int64
	var sum float64
	for _, w := range ws {
		count += w.Count
		sum += w.Measures["v"].Sum
	}
	if count != int64(unique) || sum != float64(unique) {
		t.Errorf("windows count %d, sum %v; want %d", count, sum, unique)
	}
}

// TestLocalSurvivesReopen checks that the windows and the applied markers are durable across a restart.
func TestLocalSurvivesReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "sdp.db")
	open := func() (*bolt.DB, *analytics.Local) {
		db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		s, err := analytics.OpenLocal(db, openForever)
		if err != nil {
			t.Fatal(err)
		}
		return db, s
	}
	db, s := open()
	if _, err := s.Apply(ctx, sampleFacts(t)); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db, s = open()
	defer db.Close()
	// The applied markers survived: a replay after a restart counts nothing.
	if n, err := s.Apply(ctx, sampleFacts(t)); err != nil || n != 0 {
		t.Fatalf("replay after reopen = %d, %v; want 0", n, err)
	}
	ws, err := s.Query(ctx, analytics.Query{})
	if err != nil || len(ws) != 3 {
		t.Fatalf("Query after reopen = %d windows, %v; want 3", len(ws), err)
	}
}
