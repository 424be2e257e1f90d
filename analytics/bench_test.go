package analytics_test

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/serverless-data-platform/sdp/analytics"
	"github.com/serverless-data-platform/sdp/event"
)

// BenchmarkFold measures folding facts into a window's aggregate in memory: the counts, the uniques sketch,
// the heavy hitters and two measure sketches per fact.
func BenchmarkFold(b *testing.B) {
	facts := genFacts(100_000, 20_000, 1)
	var a analytics.Aggregate
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		a.Add(&facts[i%len(facts)])
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkLocalApply measures the local store's Apply of batches of 100 facts, as the analytics function gets
// them: the applied markers, reading, folding and writing the windows, and the commit.
func BenchmarkLocalApply(b *testing.B) {
	s, err := analytics.OpenLocal(openDB(b), openForever)
	if err != nil {
		b.Fatal(err)
	}
	const batch = 100
	facts := genFacts(batch*b.N, 20_000, 2)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := s.Apply(ctx, facts[i*batch:(i+1)*batch]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkWindowMemory reports what one window costs, by the number of its events (half of them distinct
// subjects, two measures): bytes of live heap and bytes encoded (what a store keeps).
func BenchmarkWindowMemory(b *testing.B) {
	for _, n := range []int{100, 10_000, 100_000} {
		b.Run(fmt.Sprint(n, "-events"), func(b *testing.B) {
			facts := genFacts(n, n/2+1, 5)
			const windows = 20
			var encoded int
			for i := 0; i < b.N; i++ {
				runtime.GC()
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				aggs := make([]analytics.Aggregate, windows)
				for w := range aggs {
					for j := range facts {
						aggs[w].Add(&facts[j])
					}
				}
				runtime.GC()
				runtime.ReadMemStats(&after)
				enc, err := aggs[0].MarshalBinary()
				if err != nil {
					b.Fatal(err)
				}
				encoded = len(enc)
				b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/windows, "heap-bytes/window")
				runtime.KeepAlive(aggs)
			}
			b.ReportMetric(float64(encoded), "encoded-bytes/window")
		})
	}
}

// sinkWindows keeps Query's answer alive in BenchmarkLocalQuery.
var sinkWindows []analytics.Window

// BenchmarkLocalQuery measures reading an hour of windows of three types back, as the dashboard does.
func BenchmarkLocalQuery(b *testing.B) {
	s, err := analytics.OpenLocal(openDB(b), openForever)
	if err != nil {
		b.Fatal(err)
	}
	start := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	var facts []event.Fact
	for i := 0; i < 18_000; i++ {
		facts = append(facts, event.Fact{ID: fmt.Sprint("e", i), Type: fmt.Sprint("t", i%3), Source: "s",
			Subject: fmt.Sprint("v", i%700), Time: start.Add(time.Duration(i) * 200 * time.Millisecond),
			Measures: map[string]float64{"m": float64(i % 1000)}})
	}
	if _, err := s.Apply(context.Background(), facts); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if sinkWindows, err = s.Query(context.Background(), analytics.Query{From: start, To: start.Add(time.Hour)}); err != nil {
			b.Fatal(err)
		}
	}
	if len(sinkWindows) != 180 {
		b.Fatalf("%d windows, want 180", len(sinkWindows))
	}
}
