package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/analytics"
	"github.com/serverless-data-platform/sdp/analytics/export"
)

// memTarget is an export target in memory.
type memTarget struct {
	mu      sync.Mutex
	objects map[string][]byte
}

func newMemTarget() *memTarget { return &memTarget{objects: map[string][]byte{}} }

func (m *memTarget) Put(_ context.Context, key string, body []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.objects[key] = slices.Clone(body)
	return nil
}

func (m *memTarget) Get(_ context.Context, key string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.objects[key]
	if !ok {
		return nil, fmt.Errorf("%s: %w", key, export.ErrNotExist)
	}
	return b, nil
}

// keys returns the keys held, sorted.
func (m *memTarget) keys() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for k := range m.objects {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// windowStore is an aggregates store holding fixed windows; Query selects them by start, or fails with err.
type windowStore struct {
	analytics.Store
	windows []analytics.Window
	err     error
}

func (s windowStore) Query(_ context.Context, q analytics.Query) ([]analytics.Window, error) {
	var out []analytics.Window
	for _, w := range s.windows {
		if (q.From.IsZero() || !w.Start.Before(q.From)) && (q.To.IsZero() || w.Start.Before(q.To)) {
			out = append(out, w)
		}
	}
	return out, s.err
}

// TestWindowingSettings checks how SDP_WINDOW_SIZE and SDP_ALLOWED_LATENESS are read.
func TestWindowingSettings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		env       map[string]string
		want      analytics.Windowing
		wantErr   string
		wantAfter string
	}{
		{name: "defaults", env: map[string]string{}, want: analytics.Windowing{Size: time.Minute, AllowedLateness: 5 * time.Minute}},
		{name: "set", env: map[string]string{envWindowSize: " 5m ", envAllowedLateness: "1h"},
			want: analytics.Windowing{Size: 5 * time.Minute, AllowedLateness: time.Hour}},
		{name: "size not dividing a day", env: map[string]string{envWindowSize: "7m"}, wantErr: "SDP_WINDOW_SIZE", wantAfter: "divide a day"},
		{name: "size not a duration", env: map[string]string{envWindowSize: "60"}, wantErr: "SDP_WINDOW_SIZE", wantAfter: "not a duration"},
		{name: "zero lateness", env: map[string]string{envAllowedLateness: "0s"}, wantErr: "SDP_ALLOWED_LATENESS", wantAfter: "not positive"},
		{name: "negative size", env: map[string]string{envWindowSize: "-1m"}, wantErr: "SDP_WINDOW_SIZE", wantAfter: "not positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := windowing(loadSettings(envOf(tt.env)))
			if tt.wantErr != "" {
				if err == nil || !strings.HasPrefix(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), tt.wantAfter) {
					t.Fatalf("windowing = %+v, %v; want an error naming %s and saying %q", got, err, tt.wantErr, tt.wantAfter)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("windowing = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

// scheduledEvent is the payload EventBridge invokes a scheduled function with.
const scheduledEvent = `{"version":"0","id":"53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa","detail-type":"Scheduled Event",` +
	`"source":"aws.events","account":"123456789012","time":"2026-11-26T10:05:00Z","region":"us-east-1",` +
	`"resources":["arn:aws:events:us-east-1:123456789012:rule/sdp-ExportSchedule"],"detail":{}}`

// TestExportHandler builds the export function over a store of fixed windows and a bucket in memory, and
// invokes it twice with a scheduled event: the first run writes the closed windows' objects and the
// checkpoint under the prefix, the second finds nothing new.
func TestExportHandler(t *testing.T) {
	t.Parallel()
	start := time.Date(2025, 1, 1, 9, 15, 0, 0, time.UTC)
	store := windowStore{windows: []analytics.Window{
		{Start: start, End: start.Add(5 * time.Minute), Type: "purchase", Source: "s", Count: 3},
		{Start: start.Add(time.Hour), End: start.Add(time.Hour + 5*time.Minute), Type: "purchase", Source: "s", Count: 1},
	}}
	target := newMemTarget()
	rec := &recorder{}
	d := testDeps(rec, nil, nil, nil)
	d.newAggregatesStore = func(_ aws.Config, table string, w analytics.Windowing, _ *slog.Logger) (analytics.Store, error) {
		rec.add("aggregates", table)
		rec.add("windowing", w.Size.String()+"+"+w.AllowedLateness.String())
		return store, nil
	}
	d.newExportTarget = func(_ aws.Config, s settings) export.Target {
		rec.add("bucket", s.ExportBucket)
		return target
	}
	s := loadSettings(envOf(map[string]string{envHandler: "export", envAggregatesTable: "sdp-Aggregates",
		envExportBucket: "sdp-exports", envWindowSize: "5m", envAllowedLateness: "10m"}))
	h, err := newHandler(t.Context(), s, d, discard())
	if err != nil {
		t.Fatalf("newHandler: %v", err)
	}
	if got, want := strings.Join(rec.names, ","), "aggregates=sdp-Aggregates,windowing=5m0s+10m0s,bucket=sdp-exports"; got != want {
		t.Errorf("adapters built for %q, want %q", got, want)
	}
	if w := h.(*exportFunction).windowing(); w.Size != 5*time.Minute || w.AllowedLateness != 10*time.Minute {
		t.Errorf("exporter windowing = %+v, want 5m and 10m", w)
	}
	wantKeys := []string{
		"aggregates/_checkpoint.json",
		"aggregates/dt=2025-01-01/hour=09/20250101T090000Z_20250101T095500Z.json.gz",
		"aggregates/dt=2025-01-01/hour=10/20250101T100000Z_20250101T105500Z.json.gz",
	}
	runs := []struct {
		name string
		// wantWindows are the windows read: every one the first time, those of the late horizon after.
		wantWindows, wantWritten int
	}{
		{name: "first run", wantWindows: 2, wantWritten: 2},
		{name: "second run", wantWindows: 0, wantWritten: 0},
	}
	for _, run := range runs {
		out, _, err := invoke(t, h, scheduledEvent)
		if err != nil {
			t.Fatalf("%s: Invoke: %v", run.name, err)
		}
		var res export.Result
		if err := json.Unmarshal(out, &res); err != nil {
			t.Fatalf("%s: answer %s is not an export result: %v", run.name, out, err)
		}
		if len(res.Written) != run.wantWritten || res.Windows != run.wantWindows {
			t.Errorf("%s: result %s, want %d objects written of %d windows", run.name, out, run.wantWritten, run.wantWindows)
		}
		if got := target.keys(); !slices.Equal(got, wantKeys) {
			t.Errorf("%s: bucket holds %q, want %q", run.name, got, wantKeys)
		}
	}
}

// TestExportHandlerStoreDown checks that a run that cannot read the store fails the invocation, naming the
// cause, and writes nothing.
func TestExportHandlerStoreDown(t *testing.T) {
	t.Parallel()
	target := newMemTarget()
	d := testDeps(&recorder{}, nil, nil, nil)
	d.newAggregatesStore = func(aws.Config, string, analytics.Windowing, *slog.Logger) (analytics.Store, error) {
		return windowStore{err: errors.New("table unavailable")}, nil
	}
	d.newExportTarget = func(aws.Config, settings) export.Target { return target }
	s := settings{Handler: "export", AggregatesTable: "t", ExportBucket: "b", ExportPrefix: "p/"}
	h, err := newHandler(t.Context(), s, d, discard())
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := invoke(t, h, scheduledEvent); err == nil || !strings.Contains(err.Error(), "table unavailable") {
		t.Errorf("Invoke = %v, want the store's error", err)
	}
	if keys := target.keys(); len(keys) != 0 {
		t.Errorf("a failed run wrote %q", keys)
	}
}
