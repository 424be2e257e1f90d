package event_test

import (
	"bufio"
	"bytes"
	"os"
	"testing"
	"time"

	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/loadtest"
)

// benchEvents returns the events of the side-by-side benchmark (make bench): the NDJSON file named by
// SDP_BENCH_EVENTS, or else 10,000 generated page_view events of which 1% are invalid.
func benchEvents(b *testing.B) [][]byte {
	b.Helper()
	if path := os.Getenv("SDP_BENCH_EVENTS"); path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			b.Fatalf("SDP_BENCH_EVENTS: %v", err)
		}
		var out [][]byte
		sc := bufio.NewScanner(bytes.NewReader(data))
		sc.Buffer(nil, event.MaxRecordBytes)
		for sc.Scan() {
			if line := bytes.TrimSpace(sc.Bytes()); len(line) > 0 {
				out = append(out, bytes.Clone(line))
			}
		}
		if err := sc.Err(); err != nil || len(out) == 0 {
			b.Fatalf("SDP_BENCH_EVENTS %s: %d events, %v", path, len(out), err)
		}
		return out
	}
	g, err := loadtest.NewGenerator(loadtest.GenConfig{Types: []string{"page_view"}, InvalidRatio: 0.01, Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	recs, _ := g.Records(1, 10000, time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC))
	out := make([][]byte, len(recs))
	for i, r := range recs {
		out[i] = r.Data
	}
	return out
}

// benchValidate validates the benchmark's events round-robin, one per operation, and reports events/s,
// allocations per event and the share of events rejected.
func benchValidate(b *testing.B, validate func([]byte) (event.Event, error)) {
	evs := benchEvents(b)
	var bytesIn int64
	for _, e := range evs {
		bytesIn += int64(len(e))
	}
	b.SetBytes(bytesIn / int64(len(evs)))
	b.ReportAllocs()
	rejected, i := 0, 0
	for b.Loop() {
		if _, err := validate(evs[i]); err != nil {
			rejected++
		}
		if i++; i == len(evs) {
			i = 0
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(100*float64(rejected)/float64(b.N), "%rejected")
}

// BenchmarkValidateFromBytes is the validator's side of make bench: event bytes in, decoded envelope or
// validation error out, on the compiled path.
func BenchmarkValidateFromBytes(b *testing.B) {
	r, err := event.NewRegistry()
	if err != nil {
		b.Fatal(err)
	}
	benchValidate(b, r.Validate)
}

// BenchmarkValidateReference is the same on the reference validator, for comparison.
func BenchmarkValidateReference(b *testing.B) {
	r, err := event.NewRegistry()
	if err != nil {
		b.Fatal(err)
	}
	benchValidate(b, r.ValidateReference)
}
