package export_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/segmentio/encoding/json"
	bolt "go.etcd.io/bbolt"

	"github.com/serverless-data-platform/sdp/analytics"
	"github.com/serverless-data-platform/sdp/analytics/analyticstest"
	"github.com/serverless-data-platform/sdp/analytics/export"
	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/internal/emulator"
)

func TestMain(m *testing.M) { os.Exit(emulator.Main(m)) }

// The tests' windowing: one-minute windows that close five minutes after their end.
var windowing = analytics.Windowing{Size: time.Minute, AllowedLateness: 5 * time.Minute}

const (
	shop  = "https://shop.example.com/web"
	plant = "urn:sdp:plant:hamburg:line-3"
)

// at parses an RFC 3339 time or fails the test.
func at(t testing.TB, s string) time.Time {
	t.Helper()
	ts, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatalf("parse %q: %v", s, err)
	}
	return ts
}

// newStore returns a local store on a fresh database, whose windows close by clk.
func newStore(t testing.TB, clk *analyticstest.Clock) *analytics.Local {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "sdp.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("open db: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	s, err := analytics.OpenLocal(db, analytics.WithWindowing(windowing), analytics.WithLocalClock(clk.Now))
	if err != nil {
		t.Fatalf("OpenLocal: %v", err)
	}
	return s
}

// apply counts facts into s, failing the test on error.
func apply(t testing.TB, s analytics.Store, facts ...event.Fact) {
	t.Helper()
	if _, err := s.Apply(context.Background(), facts); err != nil {
		t.Fatalf("Apply: %v", err)
	}
}

// fact returns a fact of typ from src at the RFC 3339 time ts.
func fact(t testing.TB, id, typ, src, subject, ts string, measures map[string]float64) event.Fact {
	return event.Fact{ID: id, Type: typ, Source: src, Subject: subject, Time: at(t, ts), Measures: measures}
}

// recording wraps a target: it records the keys put, in order, and fails the puts failNext says to fail.
type recording struct {
	export.Target
	mu   sync.Mutex
	puts []string
	// failNext, when it returns true for a key, fails that put.
	failNext func(key string) bool
}

func (r *recording) Put(ctx context.Context, key string, body []byte) error {
	r.mu.Lock()
	fail := r.failNext != nil && r.failNext(key)
	r.mu.Unlock()
	if fail {
		return fmt.Errorf("put %s: injected failure", key)
	}
	if err := r.Target.Put(ctx, key, body); err != nil {
		return err
	}
	r.mu.Lock()
	r.puts = append(r.puts, key)
	r.mu.Unlock()
	return nil
}

// takePuts returns the keys put since the last call.
func (r *recording) takePuts() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	p := r.puts
	r.puts = nil
	return p
}

// readRecords reads an exported object: gzip NDJSON of records.
func readRecords(t testing.TB, target export.Target, key string) []export.Record {
	t.Helper()
	b, err := target.Get(context.Background(), key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatalf("%s is not gzip: %v", key, err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	var out []export.Record
	for line := range bytes.Lines(raw) {
		var r export.Record
		if err := json.Unmarshal(line, &r); err != nil {
			t.Fatalf("%s: line %q: %v", key, line, err)
		}
		out = append(out, r)
	}
	return out
}

// summary is "start type source count late" per record, to compare contents.
func summary(recs []export.Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, fmt.Sprintf("%s %s %d+%d", r.WindowStart.Time().Format("15:04"), r.Type, r.Count, r.Late))
	}
	return out
}

// targets are the two targets the exporter's suite runs on: a folder, and a fresh bucket on s3rver.
func targets() []struct {
	name string
	new  func(t *testing.T) export.Target
} {
	return []struct {
		name string
		new  func(t *testing.T) export.Target
	}{
		{"folder", func(t *testing.T) export.Target { return export.NewFolder(t.TempDir()) }},
		{"s3rver", func(t *testing.T) export.Target { b, _ := newBucket(t); return b }},
	}
}

// newBucket creates a bucket on s3rver and returns its target and the client.
func newBucket(t *testing.T) (*export.Bucket, *awss3.Client) {
	t.Helper()
	srv := emulator.Require(t, emulator.S3rver)
	client := awss3.NewFromConfig(srv.Config(), func(o *awss3.Options) {
		o.BaseEndpoint = aws.String(srv.Endpoint)
		o.UsePathStyle = true
	})
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	name := "sdp-export-" + hex.EncodeToString(b)
	if _, err := client.CreateBucket(emulator.Context(t), &awss3.CreateBucketInput{Bucket: aws.String(name)}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	return export.NewBucket(client, name), client
}

// TestExport runs the exporter's life on each target: runs with a clock that moves, facts that arrive on
// time and late, a failed run and its retry. Each step checks what was written and the checkpoint.
func TestExport(t *testing.T) {
	for _, tg := range targets() {
		t.Run(tg.name, func(t *testing.T) {
			testExport(t, tg.new(t))
		})
	}
}

func testExport(t *testing.T, base export.Target) {
	ctx := emulator.Context(t)
	clk := analyticstest.NewClock(at(t, "2026-11-26T09:15:00Z"))
	store := newStore(t, clk)
	target := &recording{Target: base}
	e, err := export.New(store, target, export.WithWindowing(windowing), export.WithClock(clk.Now),
		export.WithPrefix("aggregates/"))
	if err != nil {
		t.Fatal(err)
	}
	const hour9 = "aggregates/dt=2026-11-26/hour=09/20261126T090000Z_20261126T095900Z.json.gz"
	const hour10 = "aggregates/dt=2026-11-26/hour=10/20261126T100000Z_20261126T105900Z.json.gz"
	const checkpoint = "aggregates/_checkpoint.json"
	apply(t, store,
		fact(t, "e1", "page_view", shop, "u1", "2026-11-26T09:15:02Z", map[string]float64{"duration_ms": 100}),
		fact(t, "e2", "page_view", shop, "u2", "2026-11-26T09:15:40Z", map[string]float64{"duration_ms": 300}),
		fact(t, "e3", "sensor_reading", plant, "", "2026-11-26T09:15:30Z", map[string]float64{"value": 21.5}),
		fact(t, "e4", "page_view", shop, "u1", "2026-11-26T09:16:01Z", nil),
		fact(t, "e5", "page_view", shop, "u3", "2026-11-26T09:20:00Z", nil),
	)

	steps := []struct {
		name string
		// before runs first, at the previous step's clock (it applies facts, sets failures); now is the
		// clock of the step's run.
		now    string
		before func(t *testing.T)
		// wantErr, when set, is in the run's error.
		wantErr string
		// wantPuts are the keys written, in order; wantTo is the checkpoint's To after the step.
		wantPuts []string
		wantTo   string
		// wantObjects are the contents of objects after the step (summary per record).
		wantObjects map[string][]string
	}{
		{
			name: "closed windows are exported, open ones not", now: "2026-11-26T09:21:00Z",
			// 09:15 closes at 09:21:00 (end 09:16 + 5m): it is closed exactly then.
			wantPuts: []string{hour9, checkpoint}, wantTo: "2026-11-26T09:16:00Z",
			wantObjects: map[string][]string{hour9: {"09:15 page_view 2+0", "09:15 sensor_reading 1+0"}},
		},
		{
			name: "a second run exports nothing new", now: "2026-11-26T09:21:59Z",
			wantTo: "2026-11-26T09:16:00Z",
		},
		{
			name: "windows become closed and the slot's object is rewritten whole", now: "2026-11-26T09:26:30Z",
			wantPuts: []string{hour9, checkpoint}, wantTo: "2026-11-26T09:21:00Z",
			wantObjects: map[string][]string{hour9: {"09:15 page_view 2+0", "09:15 sensor_reading 1+0",
				"09:16 page_view 1+0", "09:20 page_view 1+0"}},
		},
		{
			name: "a late event rewrites its window's object", now: "2026-11-26T09:27:00Z",
			before: func(t *testing.T) {
				apply(t, store, fact(t, "late1", "page_view", shop, "u9", "2026-11-26T09:15:59Z", nil))
			},
			wantPuts: []string{hour9, checkpoint}, wantTo: "2026-11-26T09:22:00Z",
			wantObjects: map[string][]string{hour9: {"09:15 page_view 2+1", "09:15 sensor_reading 1+0",
				"09:16 page_view 1+0", "09:20 page_view 1+0"}},
		},
		{
			name: "a failed checkpoint leaves the run to be redone", now: "2026-11-26T10:06:00Z",
			before: func(t *testing.T) {
				apply(t, store, fact(t, "e6", "page_view", shop, "u1", "2026-11-26T10:00:10Z", nil))
				target.failNext = func(key string) bool { return key == checkpoint }
			},
			wantErr:  "writing the checkpoint",
			wantPuts: []string{hour10},
		},
		{
			name: "the retried run writes the same keys, then the checkpoint", now: "2026-11-26T10:08:00Z",
			before: func(t *testing.T) {
				target.failNext = nil
				apply(t, store, fact(t, "e7", "page_view", shop, "u2", "2026-11-26T10:01:30Z", nil))
			},
			wantPuts: []string{hour10, checkpoint}, wantTo: "2026-11-26T10:03:00Z",
			wantObjects: map[string][]string{hour10: {"10:00 page_view 1+0", "10:01 page_view 1+0"}},
		},
		{
			name: "late events older than the horizon are not exported", now: "2026-11-26T11:30:00Z",
			before: func(t *testing.T) {
				apply(t, store, fact(t, "late2", "sensor_reading", plant, "", "2026-11-26T09:15:10Z", nil))
			},
			wantPuts: []string{checkpoint}, wantTo: "2026-11-26T11:25:00Z",
			wantObjects: map[string][]string{hour9: {"09:15 page_view 2+1", "09:15 sensor_reading 1+0",
				"09:16 page_view 1+0", "09:20 page_view 1+0"}},
		},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			if st.before != nil {
				st.before(t)
			}
			clk.Set(at(t, st.now))
			res, err := e.Export(ctx)
			puts := target.takePuts()
			if st.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), st.wantErr) {
					t.Fatalf("Export error = %v, want one containing %q", err, st.wantErr)
				}
			} else if err != nil {
				t.Fatalf("Export: %v", err)
			}
			if !slices.Equal(puts, st.wantPuts) {
				t.Errorf("puts = %q, want %q", puts, st.wantPuts)
			}
			if st.wantErr == "" {
				if !slices.Equal(res.Written, slices.DeleteFunc(slices.Clone(st.wantPuts), func(k string) bool { return k == checkpoint })) {
					t.Errorf("Result.Written = %q, want the objects of %q", res.Written, st.wantPuts)
				}
				if got := res.Checkpointed; got != slices.Contains(st.wantPuts, checkpoint) {
					t.Errorf("Result.Checkpointed = %v", got)
				}
				cp, found, err := e.Checkpoint(ctx)
				if err != nil || !found || !cp.To.Equal(at(t, st.wantTo)) {
					t.Errorf("checkpoint = %+v, %v, %v; want To %s", cp, found, err, st.wantTo)
				}
			}
			for key, want := range st.wantObjects {
				if got := summary(readRecords(t, base, key)); !slices.Equal(got, want) {
					t.Errorf("%s holds %q, want %q", key, got, want)
				}
			}
		})
	}
}

// TestRecordContent checks one exported record field by field: times in Athena's timestamp form, counts,
// uniques, top subjects and each measure's statistics.
func TestRecordContent(t *testing.T) {
	clk := analyticstest.NewClock(at(t, "2026-11-26T09:00:00Z"))
	store := newStore(t, clk)
	dir := t.TempDir()
	e, err := export.New(store, export.NewFolder(dir), export.WithWindowing(windowing), export.WithClock(clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	apply(t, store,
		fact(t, "e1", "purchase", shop, "alice", "2026-11-26T09:15:02Z", map[string]float64{"amount": 10}),
		fact(t, "e2", "purchase", shop, "alice", "2026-11-26T09:15:03Z", map[string]float64{"amount": 30}),
		fact(t, "e3", "purchase", shop, "bob", "2026-11-26T09:15:04Z", map[string]float64{"amount": 20}),
	)
	clk.Set(at(t, "2026-11-26T09:30:00Z"))
	if _, err := e.Export(context.Background()); err != nil {
		t.Fatal(err)
	}
	key := "dt=2026-11-26/hour=09/20261126T090000Z_20261126T095900Z.json.gz"
	b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(key)))
	if err != nil {
		t.Fatal(err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(zr)
	var got map[string]any
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatalf("object %q is not one JSON line: %v", raw, err)
	}
	m := got["measures"].(map[string]any)["amount"].(map[string]any)
	tests := []struct {
		name string
		got  any
		want any
	}{
		{"window_start", got["window_start"], "2026-11-26 09:15:00.000"},
		{"window_end", got["window_end"], "2026-11-26 09:16:00.000"},
		{"type", got["type"], "purchase"},
		{"source", got["source"], shop},
		{"count", got["count"], 3.0},
		{"late", got["late"], 0.0},
		{"unique_subjects", got["unique_subjects"], 2.0},
		{"top_subjects", fmt.Sprint(got["top_subjects"]), "[map[count:2 subject:alice] map[count:1 subject:bob]]"},
		{"top_error", got["top_error"], 0.0},
		{"amount count", m["count"], 3.0},
		{"amount sum", m["sum"], 60.0},
		{"amount min", m["min"], 10.0},
		{"amount max", m["max"], 30.0},
		{"amount p50 within 1%", within(m["p50"], 20), true},
		// The exact p99 of three values is the value of rank ⌊0.99·(3−1)⌋ = 1: 20.
		{"amount p99 within 1%", within(m["p99"], 20), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.got != tt.want {
				t.Errorf("%s = %v, want %v", tt.name, tt.got, tt.want)
			}
		})
	}
}

// within reports whether v is a number within 1% of want.
func within(v any, want float64) bool {
	f, ok := v.(float64)
	return ok && f >= want*0.99 && f <= want*1.01
}

// TestExportAcrossDays checks that windows land in the partitions of their start's date and hour, one object
// per hour, and that a first run exports every closed window of the store.
func TestExportAcrossDays(t *testing.T) {
	clk := analyticstest.NewClock(at(t, "2026-11-26T00:00:00Z"))
	store := newStore(t, clk)
	folder := export.NewFolder(t.TempDir())
	e, err := export.New(store, folder, export.WithWindowing(windowing), export.WithClock(clk.Now),
		export.WithObjectSpan(15*time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	apply(t, store,
		fact(t, "a", "page_view", shop, "", "2025-01-01T12:00:00Z", nil),
		fact(t, "b", "page_view", shop, "", "2026-11-26T23:59:59Z", nil),
		fact(t, "c", "page_view", shop, "", "2026-11-27T00:00:00Z", nil),
		fact(t, "d", "page_view", shop, "", "2026-11-27T00:15:00Z", nil),
	)
	clk.Set(at(t, "2026-11-27T00:30:00Z"))
	res, err := e.Export(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"dt=2025-01-01/hour=12/20250101T120000Z_20250101T121400Z.json.gz",
		"dt=2026-11-26/hour=23/20261126T234500Z_20261126T235900Z.json.gz",
		"dt=2026-11-27/hour=00/20261127T000000Z_20261127T001400Z.json.gz",
		"dt=2026-11-27/hour=00/20261127T001500Z_20261127T002900Z.json.gz",
	}
	if !slices.Equal(res.Written, want) || !res.From.IsZero() || res.Windows != 4 {
		t.Errorf("Result = %+v, want From zero, 4 windows, written %q", res, want)
	}
}

// TestRun checks that Run exports at once, reports each run, and returns nil when its context ends.
func TestRun(t *testing.T) {
	clk := analyticstest.NewClock(at(t, "2026-11-26T09:30:00Z"))
	store := newStore(t, clk)
	apply(t, store, fact(t, "a", "page_view", shop, "", "2026-11-26T09:15:00Z", nil))
	e, err := export.New(store, export.NewFolder(t.TempDir()), export.WithWindowing(windowing), export.WithClock(clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var runs []export.Result
	err = e.Run(ctx, time.Hour, func(r export.Result, err error) {
		if err != nil {
			t.Errorf("run: %v", err)
		}
		runs = append(runs, r)
		cancel()
	})
	if err != nil {
		t.Fatalf("Run = %v, want nil once its context ends", err)
	}
	if len(runs) != 1 || len(runs[0].Written) != 1 || !runs[0].Checkpointed {
		t.Errorf("runs = %+v, want one that wrote one object and the checkpoint", runs)
	}
	if err := e.Run(ctx, 0, nil); err == nil {
		t.Error("Run with a zero interval succeeded, want an error")
	}
}

// fixedStore is a store that returns its windows to every query.
type fixedStore struct {
	analytics.Store
	windows []analytics.Window
	err     error
}

func (s fixedStore) Query(context.Context, analytics.Query) ([]analytics.Window, error) {
	return slices.Clone(s.windows), s.err
}

// TestExportErrors checks the errors of a run: each says what is wrong and what to do, and none writes.
func TestExportErrors(t *testing.T) {
	now := at(t, "2026-11-26T10:00:00Z")
	start := at(t, "2026-11-26T09:00:00Z")
	tests := []struct {
		name       string
		store      analytics.Store
		checkpoint string
		wantErr    string
	}{
		{name: "store unavailable", store: fixedStore{err: errors.New("table gone")}, wantErr: "reading the windows from"},
		{name: "windows of another size", wantErr: "give both the same window size",
			store: fixedStore{windows: []analytics.Window{{Start: start, End: start.Add(5 * time.Minute), Type: "t", Count: 1}}}},
		{name: "checkpoint not JSON", store: fixedStore{}, checkpoint: "{", wantErr: "remove it to export everything again"},
		{name: "checkpoint of another version", store: fixedStore{}, checkpoint: `{"version":9}`, wantErr: "has version 9"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			folder := export.NewFolder(dir)
			if tt.checkpoint != "" {
				if err := folder.Put(context.Background(), export.CheckpointName, []byte(tt.checkpoint)); err != nil {
					t.Fatal(err)
				}
			}
			target := &recording{Target: folder}
			e, err := export.New(tt.store, target, export.WithClock(func() time.Time { return now }))
			if err != nil {
				t.Fatal(err)
			}
			_, err = e.Export(context.Background())
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Export error = %v, want one containing %q", err, tt.wantErr)
			}
			if puts := target.takePuts(); len(puts) != 0 {
				t.Errorf("a failed run wrote %q", puts)
			}
		})
	}
}

// TestStoreWithoutEnds checks that a store that leaves Window.End unset gets ends from the windowing.
func TestStoreWithoutEnds(t *testing.T) {
	start := at(t, "2026-11-26T09:15:00Z")
	store := fixedStore{windows: []analytics.Window{{Start: start, Type: "t", Source: "s", Count: 4}}}
	folder := export.NewFolder(t.TempDir())
	e, err := export.New(store, folder, export.WithClock(func() time.Time { return start.Add(time.Hour) }))
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.Export(context.Background())
	if err != nil || len(res.Written) != 1 {
		t.Fatalf("Export = %+v, %v; want one object", res, err)
	}
	recs := readRecords(t, folder, res.Written[0])
	if len(recs) != 1 || !recs[0].WindowEnd.Time().Equal(start.Add(time.Minute)) || recs[0].Count != 4 {
		t.Errorf("records = %+v, want one ending a minute after its start", recs)
	}
}
