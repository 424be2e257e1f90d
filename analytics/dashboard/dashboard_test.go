package dashboard

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/analytics"
	"github.com/serverless-data-platform/sdp/ingest"
	"github.com/serverless-data-platform/sdp/stream/esm"
	"github.com/serverless-data-platform/sdp/workflow/asl"
	"github.com/serverless-data-platform/sdp/workflow/history"
)

// t0 is the fake clock's start.
var t0 = time.Date(2026, 11, 26, 9, 30, 0, 0, time.UTC)

// fakeIngest is an IngestCounter whose counters the test sets.
type fakeIngest struct {
	mu sync.Mutex
	st ingest.Stats
}

func (f *fakeIngest) Stats() ingest.Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st
}

func (f *fakeIngest) set(accepted, rejected int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.st.Accepted, f.st.Rejected = accepted, rejected
}

// sources are fakes of every source, with the figures the tests expect.
type sources struct {
	ingest *fakeIngest
	// shards, recent, depth, curated and windows are what the sources answer; dlqErr and aggErr their
	// errors; queries counts the calls of Query.
	shards  []esm.ShardStats
	recent  []history.Timing
	depth   int
	dlqErr  error
	curated int
	windows []analytics.Window
	aggErr  error
	queries int
	mu      sync.Mutex
}

// Stats is the mapping's shards (ShardReporter).
func (s *sources) Stats() []esm.ShardStats { return s.shards }

// Recent is the newest executions (Executions).
func (s *sources) Recent(n int) []history.Timing { return s.recent[:min(n, len(s.recent))] }

// Len is the queue's depth, or its error (Queue).
func (s *sources) Len(context.Context) (int, error) { return s.depth, s.dlqErr }

// Count is the curated count (Counter).
func (s *sources) Count(context.Context) (int, error) { return s.curated, nil }

// Query selects the windows that end after q.From, as the store does, and counts the calls (Windows).
func (s *sources) Query(_ context.Context, q analytics.Query) ([]analytics.Window, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queries++
	var out []analytics.Window
	for _, w := range s.windows {
		if w.End.After(q.From) {
			out = append(out, w)
		}
	}
	return out, s.aggErr
}

// newSources returns sources with two types, one of them from two sources, over two windows.
func newSources() *sources {
	win := func(start time.Time, typ, src string, count, uniques int64, closed bool, top ...analytics.SubjectCount) analytics.Window {
		return analytics.Window{Start: start, End: start.Add(time.Minute), Type: typ, Source: src, Count: count,
			UniqueSubjects: uniques, Closed: closed, TopSubjects: top,
			Measures: map[string]analytics.Stat{"duration_ms": {Count: count, P50: 120, P99: 900}}}
	}
	w1, w2 := t0.Add(-2*time.Minute), t0.Add(-time.Minute)
	return &sources{
		ingest: &fakeIngest{st: ingest.Stats{Requests: 3, Accepted: 10, Rejected: 2,
			RejectedBy: map[string]int64{"required": 2}, Refused: map[string]int64{}}},
		shards: []esm.ShardStats{
			{ShardID: "shardId-000000000000", IteratorAge: 1500 * time.Millisecond, RecordsProcessed: 7},
			{ShardID: "shardId-000000000001", IteratorAge: 250 * time.Millisecond, RecordsProcessed: 3, DeadLetteredRecords: 1},
		},
		depth: 1, curated: 9,
		windows: []analytics.Window{
			win(w1, "page_view", "https://shop.example.com/app", 4, 3, true, analytics.SubjectCount{Subject: "v1", Count: 2}),
			win(w1, "page_view", "https://shop.example.com/web", 2, 2, true, analytics.SubjectCount{Subject: "v1", Count: 1},
				analytics.SubjectCount{Subject: "v2", Count: 1}),
			win(w1, "purchase", "https://shop.example.com/checkout", 1, 1, true),
			win(w2, "page_view", "https://shop.example.com/web", 2, 2, false),
			// Before the span: left out.
			win(t0.Add(-time.Hour), "page_view", "https://shop.example.com/web", 99, 1, true),
		},
	}
}

// newDashboard returns a Dashboard over s on a fake clock at t0.
func newDashboard(t *testing.T, s *sources, opts ...Option) *Dashboard {
	t.Helper()
	src := Sources{Ingest: s.ingest, Consumer: s, Executions: s, DLQ: s, Curated: s, Aggregates: s}
	d, err := New(src, append([]Option{WithClock(func() time.Time { return t0 })}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestNew checks that each required source is asked for.
func TestNew(t *testing.T) {
	t.Parallel()
	s := newSources()
	full := Sources{Ingest: s.ingest, Consumer: s, DLQ: s, Aggregates: s}
	tests := []struct {
		name    string
		edit    func(*Sources)
		wantErr string
	}{
		{"all required", func(*Sources) {}, ""},
		{"no ingest", func(x *Sources) { x.Ingest = nil }, "Ingest"},
		{"no consumer", func(x *Sources) { x.Consumer = nil }, "Consumer"},
		{"no DLQ", func(x *Sources) { x.DLQ = nil }, "DLQ"},
		{"no aggregates", func(x *Sources) { x.Aggregates = nil }, "Aggregates"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := full
			tt.edit(&src)
			_, err := New(src)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("New: %v", err)
			case tt.wantErr != "" && (!errors.Is(err, ErrNoSource) || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("New: %v, want ErrNoSource naming %s", err, tt.wantErr)
			}
		})
	}
}

// TestRateOver checks the ingest rate computed from the samples.
func TestRateOver(t *testing.T) {
	t.Parallel()
	// at returns samples taken at the given seconds after t0, accepting 100 and rejecting 10 events a second.
	at := func(secs ...float64) []sample {
		var out []sample
		for _, s := range secs {
			out = append(out, sample{at: t0.Add(time.Duration(s * float64(time.Second))), accepted: int64(100 * s), rejected: int64(10 * s)})
		}
		return out
	}
	tests := []struct {
		name     string
		samples  []sample
		window   time.Duration
		wantOK   bool
		accepted float64
		rejected float64
		span     time.Duration
	}{
		{name: "no sample", samples: nil, window: 5 * time.Second},
		{name: "one sample", samples: at(0), window: 5 * time.Second},
		{name: "steady", samples: at(0, 1, 2, 3, 4, 5, 6, 7), window: 5 * time.Second, wantOK: true,
			accepted: 100, rejected: 10, span: 5 * time.Second},
		{name: "shorter history than the window", samples: at(0, 1, 2), window: 5 * time.Second, wantOK: true,
			accepted: 100, rejected: 10, span: 2 * time.Second},
		{name: "ticker jitter within half an interval", samples: at(0, 0.4, 1.4, 2.4, 3.4, 4.4, 5.4), window: 5 * time.Second, wantOK: true,
			accepted: 100, rejected: 10, span: 5400 * time.Millisecond},
		{name: "a gap longer than the window", samples: at(0, 30), window: 5 * time.Second},
		{name: "a counter that went back counts as 0",
			samples: []sample{{at: t0, accepted: 500}, {at: t0.Add(time.Second), accepted: 100}}, window: 5 * time.Second,
			wantOK: true, accepted: 0, rejected: 0, span: time.Second},
		{name: "same time twice", samples: []sample{{at: t0}, {at: t0}}, window: 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, ok := rateOver(tt.samples, tt.window, time.Second)
			if ok != tt.wantOK {
				t.Fatalf("ok = %v, want %v", ok, tt.wantOK)
			}
			if !ok {
				return
			}
			if math.Abs(r.accepted-tt.accepted) > 1e-9 || math.Abs(r.rejected-tt.rejected) > 1e-9 || r.span != tt.span {
				t.Fatalf("rate = %+v, want accepted %g, rejected %g over %v", r, tt.accepted, tt.rejected, tt.span)
			}
		})
	}
}

// TestSamplesRing checks that the ring keeps the newest samples in order and that the snapshot's series
// and rate come from them.
func TestSamplesRing(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		samples  int
		wantKept int
	}{
		{"filling", 3, 3},
		{"full", ringSize, ringSize},
		{"wrapped", ringSize + 17, ringSize},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSources()
			d := newDashboard(t, s)
			for i := range tt.samples {
				s.ingest.set(int64(50*i), int64(i))
				d.sample(t0.Add(time.Duration(i) * time.Second))
			}
			got := d.samples()
			if len(got) != tt.wantKept {
				t.Fatalf("%d samples kept, want %d", len(got), tt.wantKept)
			}
			first := tt.samples - tt.wantKept
			for i, smp := range got {
				if want := t0.Add(time.Duration(first+i) * time.Second); !smp.at.Equal(want) || smp.accepted != int64(50*(first+i)) {
					t.Fatalf("sample %d = %+v, want at %v with %d accepted", i, smp, want, 50*(first+i))
				}
			}
			fig := d.ingestFigures()
			if len(fig.Series) != tt.wantKept-1 {
				t.Fatalf("%d points, want %d", len(fig.Series), tt.wantKept-1)
			}
			for _, p := range fig.Series {
				if p.Accepted != 50 || p.Rejected != 1 {
					t.Fatalf("point %+v, want 50 accepted and 1 rejected a second", p)
				}
			}
			if fig.Rate == nil || *fig.Rate != 50 || *fig.RejectRate != 1 {
				t.Fatalf("rate %v, reject rate %v; want 50 and 1", fig.Rate, fig.RejectRate)
			}
		})
	}
}

// TestWorkflowFigures checks the latency of the recent executions.
func TestWorkflowFigures(t *testing.T) {
	t.Parallel()
	timing := func(ago, took time.Duration, status asl.Status) history.Timing {
		stop := t0.Add(-ago)
		return history.Timing{Name: "x", Status: status, StartDate: stop.Add(-took), StopDate: stop}
	}
	var hundred []history.Timing
	for i := range 100 {
		hundred = append(hundred, timing(time.Second, time.Duration(i+1)*time.Millisecond, asl.StatusSucceeded))
	}
	tests := []struct {
		name                 string
		recent               []history.Timing
		wantN, wantFailed    int
		wantP50, wantP99     float64
		wantNoLatency, noSrc bool
	}{
		{name: "no source", noSrc: true, wantNoLatency: true},
		{name: "no executions", wantNoLatency: true},
		{name: "one", recent: []history.Timing{timing(time.Second, 1500*time.Microsecond, asl.StatusSucceeded)},
			wantN: 1, wantP50: 1.5, wantP99: 1.5},
		{name: "a hundred, nearest rank", recent: hundred, wantN: 100, wantP50: 50, wantP99: 99},
		{name: "older ones left out, failures counted", recent: []history.Timing{
			timing(time.Second, 10*time.Millisecond, asl.StatusFailed),
			timing(time.Minute, 20*time.Millisecond, asl.StatusSucceeded),
			timing(DefaultLatencyWindow+time.Second, time.Hour, asl.StatusSucceeded),
		}, wantN: 2, wantFailed: 1, wantP50: 10, wantP99: 20},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newSources()
			s.recent = tt.recent
			src := Sources{Ingest: s.ingest, Consumer: s, Executions: s, DLQ: s, Aggregates: s}
			if tt.noSrc {
				src.Executions = nil
			}
			d, err := New(src, WithClock(func() time.Time { return t0 }))
			if err != nil {
				t.Fatal(err)
			}
			w := d.workflowFigures(t0)
			if w.Executions != tt.wantN || w.Failed != tt.wantFailed {
				t.Fatalf("%d executions, %d failed; want %d and %d", w.Executions, w.Failed, tt.wantN, tt.wantFailed)
			}
			if tt.wantNoLatency {
				if w.P50Ms != nil || w.P99Ms != nil {
					t.Fatalf("p50 %v, p99 %v; want none", *w.P50Ms, *w.P99Ms)
				}
				return
			}
			if *w.P50Ms != tt.wantP50 || *w.P99Ms != tt.wantP99 {
				t.Fatalf("p50 %g ms, p99 %g ms; want %g and %g", *w.P50Ms, *w.P99Ms, tt.wantP50, tt.wantP99)
			}
		})
	}
}

// TestGroup checks how the store's windows are arranged by window and type.
func TestGroup(t *testing.T) {
	t.Parallel()
	s := newSources()
	from := t0.Add(-DefaultSpan)
	var in []analytics.Window
	for _, w := range s.windows {
		if w.End.After(from) {
			in = append(in, w)
		}
	}
	// The store's order does not matter.
	slices.Reverse(in)
	got := group(from, in)
	if want := []string{"page_view", "purchase"}; !slices.Equal(got.Types, want) {
		t.Fatalf("types %v, want %v", got.Types, want)
	}
	if len(got.Windows) != 2 || !got.Windows[0].Start.Equal(t0.Add(-2*time.Minute)) || !got.Windows[1].Start.Equal(t0.Add(-time.Minute)) {
		t.Fatalf("windows %+v, want two, oldest first", got.Windows)
	}
	tests := []struct {
		name        string
		window, typ int
		want        TypeWindow
	}{
		{"two sources added up", 0, 0, TypeWindow{Type: "page_view", Count: 6, Closed: true, Uniques: 5, UniquesUpperBound: true,
			TopSubjects: []analytics.SubjectCount{{Subject: "v1", Count: 3}, {Subject: "v2", Count: 1}}}},
		{"one source", 0, 1, TypeWindow{Type: "purchase", Count: 1, Closed: true, Uniques: 1, TopSubjects: []analytics.SubjectCount{}}},
		{"an open window", 1, 0, TypeWindow{Type: "page_view", Count: 2, Closed: false, Uniques: 2, TopSubjects: []analytics.SubjectCount{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tw := got.Windows[tt.window].Types[tt.typ]
			if tw.Type != tt.want.Type || tw.Count != tt.want.Count || tw.Closed != tt.want.Closed || tw.Uniques != tt.want.Uniques ||
				tw.UniquesUpperBound != tt.want.UniquesUpperBound || !slices.Equal(tw.TopSubjects, tt.want.TopSubjects) {
				t.Fatalf("got %+v\nwant %+v", tw, tt.want)
			}
			var sum int64
			for i, sw := range tw.Sources {
				sum += sw.Count
				if i > 0 && tw.Sources[i-1].Source >= sw.Source {
					t.Errorf("sources not ordered: %q before %q", tw.Sources[i-1].Source, sw.Source)
				}
				if m := sw.Measures["duration_ms"]; m.P50 != 120 || m.P99 != 900 || m.Count != sw.Count {
					t.Errorf("source %s: duration_ms %+v", sw.Source, m)
				}
			}
			if sum != tw.Count {
				t.Errorf("sources add up to %d, the type says %d", sum, tw.Count)
			}
		})
	}
}

// TestSnapshotJSON checks the answer of GET /v1/dashboard: its fields, their values, and the figures left
// out when a source is missing or fails.
func TestSnapshotJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		edit func(*sources, *Sources)
		// check looks at the decoded answer.
		check func(t *testing.T, m map[string]any)
	}{
		{"every figure", func(*sources, *Sources) {}, func(t *testing.T, m map[string]any) {
			wantKeys(t, m, "time", "ingest", "consumer", "workflow", "aggregates", "dlqDepth", "curated")
			wantKeys(t, obj(t, m, "ingest"), "rate", "rejectRate", "rateWindowSeconds", "requests", "accepted", "rejected",
				"rejectedBy", "refused", "series")
			wantKeys(t, obj(t, m, "consumer"), "lagMs", "shards")
			wantKeys(t, obj(t, m, "workflow"), "executions", "failed", "p50Ms", "p99Ms", "windowSeconds")
			wantKeys(t, obj(t, m, "aggregates"), "from", "types", "windows")
			wantValue(t, m, "time", "2026-11-26T09:30:00Z")
			wantValue(t, m, "dlqDepth", 1.0)
			wantValue(t, m, "curated", 9.0)
			wantValue(t, obj(t, m, "ingest"), "accepted", 10.0)
			wantValue(t, obj(t, obj(t, m, "ingest"), "rejectedBy"), "required", 2.0)
			wantValue(t, obj(t, m, "consumer"), "lagMs", 1500.0)
			if _, ok := m["errors"]; ok {
				t.Errorf("errors present: %v", m["errors"])
			}
			windows := obj(t, m, "aggregates")["windows"].([]any)
			if len(windows) != 2 {
				t.Fatalf("%d windows, want 2", len(windows))
			}
			tw := windows[0].(map[string]any)["types"].([]any)[0].(map[string]any)
			wantKeys(t, tw, "type", "count", "late", "closed", "uniques", "uniquesUpperBound", "topSubjects", "sources")
			sw := tw["sources"].([]any)[0].(map[string]any)
			wantKeys(t, sw, "source", "count", "late", "closed", "uniques", "measures")
			wantKeys(t, obj(t, obj(t, sw, "measures"), "duration_ms"), "count", "p50", "p99")
		}},
		{"no curated count", func(_ *sources, src *Sources) { src.Curated = nil }, func(t *testing.T, m map[string]any) {
			wantValue(t, m, "curated", nil)
		}},
		{"the queue fails", func(s *sources, _ *Sources) { s.dlqErr = errors.New("queue down") }, func(t *testing.T, m map[string]any) {
			wantValue(t, m, "dlqDepth", nil)
			wantValue(t, m, "curated", 9.0)
			wantValue(t, obj(t, m, "errors"), "dlq", "queue down")
		}},
		{"the store fails", func(s *sources, _ *Sources) { s.aggErr = errors.New("store down") }, func(t *testing.T, m map[string]any) {
			wantValue(t, obj(t, m, "errors"), "aggregates", "store down")
			wantEmptyList(t, obj(t, m, "aggregates"), "windows")
			wantEmptyList(t, obj(t, m, "aggregates"), "types")
		}},
		{"no windows", func(s *sources, _ *Sources) { s.windows = nil }, func(t *testing.T, m map[string]any) {
			// Lists are empty, never null: the page maps over them.
			wantEmptyList(t, obj(t, m, "aggregates"), "windows")
			wantEmptyList(t, obj(t, m, "aggregates"), "types")
		}},
		{"no samples yet", func(*sources, *Sources) {}, func(t *testing.T, m map[string]any) {
			wantValue(t, obj(t, m, "ingest"), "rate", nil)
			if s := obj(t, m, "ingest")["series"].([]any); len(s) != 0 {
				t.Errorf("series %v, want empty", s)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newSources()
			src := Sources{Ingest: s.ingest, Consumer: s, Executions: s, DLQ: s, Curated: s, Aggregates: s}
			tt.edit(s, &src)
			d, err := New(src, WithClock(func() time.Time { return t0 }))
			if err != nil {
				t.Fatal(err)
			}
			rec := httptest.NewRecorder()
			d.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/v1/dashboard", nil))
			if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
				t.Fatalf("status %d, content type %q", rec.Code, rec.Header().Get("Content-Type"))
			}
			var m map[string]any
			if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
				t.Fatalf("%v in %s", err, rec.Body)
			}
			tt.check(t, m)
		})
	}
}

// TestAggregatesEvery checks that the aggregates are read again only once their time is up.
func TestAggregatesEvery(t *testing.T) {
	t.Parallel()
	s := newSources()
	now := t0
	d := newDashboard(t, s, WithAggregatesEvery(10*time.Second), WithClock(func() time.Time { return now }))
	for _, step := range []time.Duration{0, 5 * time.Second, 5 * time.Second, time.Second} {
		now = now.Add(step)
		d.Snapshot(context.Background())
	}
	if s.queries != 2 {
		t.Fatalf("%d queries over 11 s, want 2", s.queries)
	}
}

// TestStream checks the server-sent events: a snapshot at once, one per interval, the framing of each, and
// the end of the stream when Run returns.
func TestStream(t *testing.T) {
	t.Parallel()
	s := newSources()
	d := newDashboard(t, s, WithInterval(5*time.Millisecond))
	srv := httptest.NewServer(d)
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ran := make(chan error, 1)
	go func() { ran <- d.Run(ctx) }()

	resp, err := http.Get(srv.URL + "/v1/dashboard/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); resp.StatusCode != http.StatusOK || ct != "text/event-stream; charset=utf-8" {
		t.Fatalf("status %d, content type %q", resp.StatusCode, ct)
	}
	events := readEvents(bufio.NewReader(resp.Body))
	tests := []struct {
		name string
		// check looks at the next event.
		check func(t *testing.T, ev sse)
	}{
		{"the first asks for a retry delay", func(t *testing.T, ev sse) {
			if ev.retry != "2000" {
				t.Errorf("retry %q, want 2000", ev.retry)
			}
		}},
		{"then one per interval", func(t *testing.T, ev sse) {
			if ev.retry != "" {
				t.Errorf("retry %q again", ev.retry)
			}
		}},
		{"and another", func(*testing.T, sse) {}},
	}
	lastID := int64(-1)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ev sse
			select {
			case ev = <-events:
			case <-time.After(10 * time.Second):
				t.Fatal("no event within 10s")
			}
			if ev.err != nil {
				t.Fatal(ev.err)
			}
			if ev.event != "snapshot" || ev.id == "" {
				t.Fatalf("event %q id %q, want a numbered snapshot", ev.event, ev.id)
			}
			id, err := strconv.ParseInt(ev.id, 10, 64)
			if err != nil || id <= lastID {
				t.Errorf("id %q after %d, want a larger number", ev.id, lastID)
			}
			lastID = id
			var snap Snapshot
			if err := json.Unmarshal([]byte(ev.data), &snap); err != nil {
				t.Fatalf("data is not a snapshot: %v: %s", err, ev.data)
			}
			if snap.Curated == nil || *snap.Curated != 9 || snap.DLQDepth == nil || *snap.DLQDepth != 1 {
				t.Errorf("snapshot %+v", snap)
			}
			tt.check(t, ev)
		})
	}

	// Run returns: the stream ends, and no new one starts.
	cancel()
	if err := <-ran; err != nil {
		t.Fatalf("Run: %v", err)
	}
	deadline := time.After(10 * time.Second)
	for ended := false; !ended; {
		select {
		case ev, ok := <-events:
			ended = !ok || errors.Is(ev.err, io.EOF)
		case <-deadline:
			t.Fatal("the stream did not end within 10s of Run returning")
		}
	}
	late, err := http.Get(srv.URL + "/v1/dashboard/stream")
	if err != nil {
		t.Fatal(err)
	}
	late.Body.Close()
	if late.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("a stream after Run returned: status %d, want 503", late.StatusCode)
	}
}

// sse is one server-sent event, as a client reads it.
type sse struct {
	retry, event, id, data string
	err                    error
}

// readEvents parses the events of r into a channel, closed at the end of r. Each event's lines are checked
// against the framing the stream promises: known fields only, one data line.
func readEvents(r *bufio.Reader) <-chan sse {
	out := make(chan sse, 16)
	go func() {
		defer close(out)
		var ev sse
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				out <- sse{err: err}
				return
			}
			line = strings.TrimSuffix(line, "\n")
			if line == "" {
				if ev.event != "" || ev.retry != "" {
					out <- ev
				}
				ev = sse{}
				continue
			}
			field, value, _ := strings.Cut(line, ": ")
			switch field {
			case "retry":
				ev.retry = value
			case "event":
				ev.event = value
			case "id":
				ev.id = value
			case "data":
				if ev.data != "" {
					out <- sse{err: errors.New("two data lines in one event")}
					return
				}
				ev.data = value
			default:
				out <- sse{err: errors.New("unknown line " + line)}
				return
			}
		}
	}()
	return out
}

// TestAppendEvent checks the bytes of one event.
func TestAppendEvent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		prefix string
		f      frame
		want   string
	}{
		{"plain", "", frame{id: 7, data: []byte(`{"a":1}`)}, "event: snapshot\nid: 7\ndata: {\"a\":1}\n\n"},
		{"with a retry field", "retry: 2000\n", frame{id: 0, data: []byte(`{}`)}, "retry: 2000\nevent: snapshot\nid: 0\ndata: {}\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(appendEvent([]byte(tt.prefix), tt.f)); got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestAssets checks the page and its files: types, caching and the paths refused.
func TestAssets(t *testing.T) {
	t.Parallel()
	d := newDashboard(t, newSources())
	srv := httptest.NewServer(d)
	defer srv.Close()
	tests := []struct {
		name        string
		path        string
		header      http.Header
		wantStatus  int
		wantType    string
		wantContain string
	}{
		{"the page", "/", nil, 200, "text/html; charset=utf-8", `data-metric="dlqDepth"`},
		{"the script", "/assets/app.js", nil, 200, "text/javascript; charset=utf-8", "/v1/dashboard/stream"},
		{"the styles", "/assets/app.css", nil, 200, "text/css; charset=utf-8", ".cards"},
		{"ECharts", "/assets/echarts.min.js", nil, 200, "text/javascript; charset=utf-8", "Apache Software Foundation"},
		{"its license", "/assets/LICENSE-echarts", nil, 200, "text/plain; charset=utf-8", "Apache License"},
		{"unknown file", "/assets/nope.js", nil, 404, "", ""},
		{"hidden name", "/assets/.env", nil, 404, "", ""},
		{"escaping the folder", "/assets/..%2fdashboard.go", nil, 404, "", ""},
		{"other path", "/nope", nil, 404, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := http.Get(srv.URL + tt.path)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if tt.wantStatus != 200 {
				return
			}
			if ct := resp.Header.Get("Content-Type"); ct != tt.wantType {
				t.Errorf("content type %q, want %q", ct, tt.wantType)
			}
			if !strings.Contains(string(body), tt.wantContain) {
				t.Errorf("body lacks %q", tt.wantContain)
			}
			if tt.path == "/" && !strings.Contains(resp.Header.Get("Content-Security-Policy"), "default-src 'self'") {
				t.Errorf("the page has no content security policy")
			}
			// The ETag revalidates.
			etag := resp.Header.Get("ETag")
			req, _ := http.NewRequest(http.MethodGet, srv.URL+tt.path, nil)
			req.Header.Set("If-None-Match", etag)
			again, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			again.Body.Close()
			if etag == "" || again.StatusCode != http.StatusNotModified {
				t.Errorf("ETag %q: revalidation answered %d, want 304", etag, again.StatusCode)
			}
		})
	}
}

// obj returns m[key] as an object.
func obj(t *testing.T, m map[string]any, key string) map[string]any {
	t.Helper()
	v, ok := m[key].(map[string]any)
	if !ok {
		t.Fatalf("%s is %T (%v), want an object", key, m[key], m[key])
	}
	return v
}

// wantKeys checks that m has exactly keys.
func wantKeys(t *testing.T, m map[string]any, keys ...string) {
	t.Helper()
	var got []string
	for k := range m {
		got = append(got, k)
	}
	slices.Sort(got)
	slices.Sort(keys)
	if !slices.Equal(got, keys) {
		t.Errorf("keys %v, want %v", got, keys)
	}
}

// wantEmptyList checks that m[key] is an empty list, not null.
func wantEmptyList(t *testing.T, m map[string]any, key string) {
	t.Helper()
	if l, ok := m[key].([]any); !ok || len(l) != 0 {
		t.Errorf("%s = %#v, want []", key, m[key])
	}
}

// wantValue checks m[key].
func wantValue(t *testing.T, m map[string]any, key string, want any) {
	t.Helper()
	if got, ok := m[key]; !ok || got != want {
		t.Errorf("%s = %v (present %v), want %v", key, got, ok, want)
	}
}

// TestEmbeddedEChartsIsTheLockedOne checks that the embedded charts library is the build of the version
// tools/npm/package-lock.json pins (make test installs it), so that the copy in the binary cannot drift.
func TestEmbeddedEChartsIsTheLockedOne(t *testing.T) {
	installed, err := os.ReadFile("../../tools/npm/node_modules/echarts/dist/echarts.min.js")
	if err != nil {
		if os.Getenv("SDP_REQUIRE_NPM_TOOLS") == "1" {
			t.Fatalf("the npm tools are not installed (run make tools): %v", err)
		}
		t.Skipf("the npm tools are not installed (run make tools): %v", err)
	}
	embedded, err := os.ReadFile("assets/echarts.min.js")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(installed, embedded) {
		t.Error("analytics/dashboard/assets/echarts.min.js differs from the locked npm package's dist/echarts.min.js: copy it again")
	}
}
