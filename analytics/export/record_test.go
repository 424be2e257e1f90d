package export_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/analytics"
	"github.com/serverless-data-platform/sdp/analytics/export"
	"github.com/serverless-data-platform/sdp/internal/emulator"
)

// jsonKeys returns the JSON keys of a struct type's fields, and of the structs it holds (as parent.key),
// from their tags.
func jsonKeys(t reflect.Type, parent string) []string {
	var out []string
	for f := range t.Fields() {
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		out = append(out, parent+name)
		ft := f.Type
		for ft.Kind() == reflect.Slice || ft.Kind() == reflect.Map {
			ft = ft.Elem()
		}
		if ft.Kind() == reflect.Struct && ft != reflect.TypeFor[export.Timestamp]() {
			out = append(out, jsonKeys(ft, parent+name+".")...)
		}
	}
	return out
}

// writtenKeys returns the keys of a decoded JSON object, and of the objects it holds, as jsonKeys names
// them (an element of an array or a value of a map stands for all).
func writtenKeys(v any, parent string, nestedMap bool) []string {
	var out []string
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if nestedMap {
				out = append(out, writtenKeys(x, parent, false)...)
				continue
			}
			out = append(out, parent+k)
			out = append(out, writtenKeys(x, parent+k+".", k == "measures")...)
		}
	case []any:
		for _, x := range v {
			out = append(out, writtenKeys(x, parent, false)...)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// TestRecordWritesEveryField checks that a record is written with every field of its type, even an empty
// one, under the tags the Glue table's columns are derived from.
func TestRecordWritesEveryField(t *testing.T) {
	start := time.Date(2026, 11, 26, 9, 15, 0, 0, time.UTC)
	full := analytics.Window{Start: start, End: start.Add(time.Minute), Type: "purchase", Source: "s", Count: 2,
		Measures:    map[string]analytics.Stat{"amount": {Count: 2, Sum: 3, Min: 1, Max: 2, P50: 1, P90: 2, P95: 2, P99: 2}},
		TopSubjects: []analytics.SubjectCount{{Subject: "alice", Count: 2}}}
	want := jsonKeys(reflect.TypeFor[export.Record](), "")
	slices.Sort(want)
	tests := []struct {
		name string
		w    analytics.Window
		// want are the keys written; an empty window writes no keys of the nested objects.
		want []string
	}{
		{name: "full window", w: full, want: want},
		{name: "empty window", w: analytics.Window{Start: start, Type: "t"},
			want: slices.DeleteFunc(slices.Clone(want), func(k string) bool { return strings.Contains(k, ".") })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(export.NewRecord(tt.w, time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			var v map[string]any
			if err := json.Unmarshal(b, &v); err != nil {
				t.Fatal(err)
			}
			if got := writtenKeys(v, "", false); !slices.Equal(got, tt.want) {
				t.Errorf("keys written = %q\nwant %q\n(%s)", got, tt.want, b)
			}
			if strings.Contains(string(b), "null") {
				t.Errorf("record %s has a null; empty lists and maps are written empty", b)
			}
		})
	}
}

// TestTimestamp checks the timestamp form Athena reads, both ways.
func TestTimestamp(t *testing.T) {
	tests := []struct {
		name    string
		in      time.Time
		json    string
		wantErr bool
	}{
		{name: "UTC", in: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), json: `"2026-01-02 03:04:05.000"`},
		{name: "other zone written as UTC", in: time.Date(2026, 1, 2, 4, 4, 5, 0, time.FixedZone("CET", 3600)),
			json: `"2026-01-02 03:04:05.000"`},
		{name: "milliseconds", in: time.Date(2026, 1, 2, 3, 4, 5, 123e6, time.UTC), json: `"2026-01-02 03:04:05.123"`},
		{name: "RFC 3339 refused", json: `"2026-01-02T03:04:05Z"`, wantErr: true},
		{name: "number refused", json: `1`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got export.Timestamp
			err := json.Unmarshal([]byte(tt.json), &got)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Unmarshal(%s) = %v, want an error", tt.json, got.Time())
				}
				return
			}
			b, _ := json.Marshal(export.Timestamp(tt.in))
			if string(b) != tt.json {
				t.Errorf("Marshal = %s, want %s", b, tt.json)
			}
			if err != nil || !got.Time().Equal(tt.in) {
				t.Errorf("Unmarshal(%s) = %v, %v; want %v", tt.json, got.Time(), err, tt.in)
			}
		})
	}
}

// TestObjectKey checks the keys of objects: partitions of the slot's date and hour, and the first and last
// window start the slot can hold.
func TestObjectKey(t *testing.T) {
	start := time.Date(2026, 11, 26, 9, 17, 0, 0, time.UTC)
	tests := []struct {
		name string
		opts []export.Option
		at   time.Time
		want string
	}{
		{name: "hour of minutes", at: start, want: "dt=2026-11-26/hour=09/20261126T090000Z_20261126T095900Z.json.gz"},
		{name: "prefix", opts: []export.Option{export.WithPrefix("/exports/aggregates/")}, at: start,
			want: "exports/aggregates/dt=2026-11-26/hour=09/20261126T090000Z_20261126T095900Z.json.gz"},
		{name: "quarter hours", opts: []export.Option{export.WithObjectSpan(15 * time.Minute)}, at: start,
			want: "dt=2026-11-26/hour=09/20261126T091500Z_20261126T092900Z.json.gz"},
		{name: "five-minute windows", opts: []export.Option{export.WithWindowing(analytics.Windowing{Size: 5 * time.Minute})},
			at: start.Truncate(5 * time.Minute), want: "dt=2026-11-26/hour=09/20261126T090000Z_20261126T095500Z.json.gz"},
		{name: "45-minute windows start inside the slot", opts: []export.Option{export.WithWindowing(analytics.Windowing{Size: 45 * time.Minute})},
			at: time.Date(2026, 11, 26, 1, 30, 0, 0, time.UTC), want: "dt=2026-11-26/hour=01/20261126T013000Z_20261126T013000Z.json.gz"},
		{name: "a time in another zone", at: start.In(time.FixedZone("EST", -5*3600)),
			want: "dt=2026-11-26/hour=09/20261126T090000Z_20261126T095900Z.json.gz"},
		{name: "last hour of the day", at: time.Date(2026, 12, 31, 23, 59, 0, 0, time.UTC),
			want: "dt=2026-12-31/hour=23/20261231T230000Z_20261231T235900Z.json.gz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := export.New(fixedStore{}, export.NewFolder(t.TempDir()), tt.opts...)
			if err != nil {
				t.Fatal(err)
			}
			if got := e.ObjectKey(tt.at); got != tt.want {
				t.Errorf("ObjectKey(%v) = %s, want %s", tt.at, got, tt.want)
			}
		})
	}
}

// TestNewErrors checks that New refuses options it cannot export with, saying why.
func TestNewErrors(t *testing.T) {
	folder := export.NewFolder(t.TempDir())
	tests := []struct {
		name    string
		store   analytics.Store
		opts    []export.Option
		wantErr string
	}{
		{name: "no store", wantErr: "a store and a target are needed"},
		{name: "window size not dividing a day", store: fixedStore{},
			opts: []export.Option{export.WithWindowing(analytics.Windowing{Size: 7 * time.Minute})}, wantErr: "does not divide a day"},
		{name: "span not dividing an hour", store: fixedStore{},
			opts: []export.Option{export.WithObjectSpan(7 * time.Minute)}, wantErr: "does not divide an hour"},
		{name: "zero span", store: fixedStore{}, opts: []export.Option{export.WithObjectSpan(0)}, wantErr: "does not divide an hour"},
		{name: "negative horizon", store: fixedStore{}, opts: []export.Option{export.WithLateHorizon(-time.Second)}, wantErr: "negative"},
		{name: "prefix with ..", store: fixedStore{}, opts: []export.Option{export.WithPrefix("a/../b")}, wantErr: "segment"},
		{name: "prefix with an empty segment", store: fixedStore{}, opts: []export.Option{export.WithPrefix("a//b")}, wantErr: "segment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := export.New(tt.store, folder, tt.opts...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("New error = %v, want one containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestTargets checks each target's behaviour: a missing key is ErrNotExist, a put replaces the object whole,
// and keys below folders work.
func TestTargets(t *testing.T) {
	for _, tg := range targets() {
		t.Run(tg.name, func(t *testing.T) {
			ctx := context.Background()
			target := tg.new(t)
			if _, err := target.Get(ctx, "absent/_checkpoint.json"); !errors.Is(err, export.ErrNotExist) {
				t.Errorf("Get of a missing key = %v, want ErrNotExist", err)
			}
			const key = "p/dt=2026-11-26/hour=09/a.json.gz"
			for _, body := range []string{"first, longer body", "second"} {
				if err := target.Put(ctx, key, []byte(body)); err != nil {
					t.Fatalf("Put: %v", err)
				}
				got, err := target.Get(ctx, key)
				if err != nil || string(got) != body {
					t.Errorf("Get = %q, %v; want %q", got, err, body)
				}
			}
		})
	}
}

// TestFolder checks what is particular to the folder: keys that leave it are refused, and no temporary file
// stays behind.
func TestFolder(t *testing.T) {
	dir := t.TempDir()
	f := export.NewFolder(dir)
	ctx := context.Background()
	for _, key := range []string{"../outside.json", "/abs.json", "a/../../b.json"} {
		if err := f.Put(ctx, key, []byte("x")); err == nil {
			t.Errorf("Put(%q) succeeded, want it refused", key)
		}
	}
	if err := f.Put(ctx, "a/b.json", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(filepath.Join(dir, "a"))
	if err != nil || len(entries) != 1 || entries[0].Name() != "b.json" {
		t.Errorf("folder holds %v (%v), want only b.json", entries, err)
	}
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	if err := f.Put(cancelled, "a/c.json", nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Put with a cancelled context = %v, want context.Canceled", err)
	}
}

// fakeS3 answers GetObject with err.
type fakeS3 struct {
	export.S3API
	err error
}

func (f fakeS3) GetObject(context.Context, *awss3.GetObjectInput, ...func(*awss3.Options)) (*awss3.GetObjectOutput, error) {
	return nil, f.err
}

// responseError is an S3 error answer of the HTTP status code.
func responseError(code int) error {
	return &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: code}},
		Err: fmt.Errorf("status %d", code)}
}

// TestBucketErrors checks how the bucket reads S3's answers to a GetObject that finds nothing.
func TestBucketErrors(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		notExist bool
		wantErr  string
	}{
		{name: "404 without a code", err: responseError(http.StatusNotFound), notExist: true},
		{name: "403: missing s3:ListBucket", err: responseError(http.StatusForbidden), wantErr: "s3:ListBucket"},
		{name: "other", err: errors.New("connection refused"), wantErr: "connection refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := export.NewBucket(fakeS3{err: tt.err}, "sdp-export")
			_, err := b.Get(context.Background(), "k")
			if errors.Is(err, export.ErrNotExist) != tt.notExist {
				t.Fatalf("Get error = %v, ErrNotExist %v, want %v", err, !tt.notExist, tt.notExist)
			}
			if !strings.Contains(err.Error(), "s3://sdp-export/k") || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("Get error = %v, want one naming s3://sdp-export/k and containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestBucketContentType checks the media types objects are written with: a gzip object has no
// Content-Encoding, so that clients hand readers the compressed bytes its name promises.
func TestBucketContentType(t *testing.T) {
	b, client := newBucket(t)
	tests := []struct{ key, want string }{
		{"p/dt=2026-11-26/hour=09/a.json.gz", "application/gzip"},
		{"p/_checkpoint.json", "application/json"},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			ctx := emulator.Context(t)
			if err := b.Put(ctx, tt.key, []byte("x")); err != nil {
				t.Fatal(err)
			}
			head, err := client.HeadObject(ctx, &awss3.HeadObjectInput{Bucket: aws.String(b.Name()), Key: aws.String(tt.key)})
			if err != nil {
				t.Fatal(err)
			}
			if got := aws.ToString(head.ContentType); got != tt.want || aws.ToString(head.ContentEncoding) != "" {
				t.Errorf("content type %q, encoding %q; want %q and none", got, aws.ToString(head.ContentEncoding), tt.want)
			}
		})
	}
}

// discard is a target that keeps nothing: every run is a first run.
type discard struct{}

func (discard) Put(context.Context, string, []byte) error { return nil }
func (discard) Get(context.Context, string) ([]byte, error) {
	return nil, export.ErrNotExist
}

// BenchmarkExport exports a day of one-minute windows of one type and source (24 objects of 60 windows,
// each with three measures and ten top subjects) to a target that keeps nothing.
func BenchmarkExport(b *testing.B) {
	day := time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC)
	var windows []analytics.Window
	for m := range 24 * 60 {
		w := analytics.Window{Start: day.Add(time.Duration(m) * time.Minute), Type: "purchase", Source: "https://shop.example.com/web",
			Count: 1000, UniqueSubjects: 800, Measures: map[string]analytics.Stat{}}
		w.End = w.Start.Add(time.Minute)
		for _, name := range []string{"amount", "items", "duration_ms"} {
			w.Measures[name] = analytics.Stat{Count: 1000, Sum: 123456.78, Min: 0.5, Max: 999.5, P50: 101.2, P90: 500.3, P95: 700.1, P99: 950.9}
		}
		for s := range 10 {
			w.TopSubjects = append(w.TopSubjects, analytics.SubjectCount{Subject: fmt.Sprintf("customer-%04d", s), Count: int64(50 - s)})
		}
		windows = append(windows, w)
	}
	e, err := export.New(fixedStore{windows: windows}, discard{}, export.WithClock(func() time.Time { return day.Add(25 * time.Hour) }))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		res, err := e.Export(context.Background())
		if err != nil || len(res.Written) != 24 {
			b.Fatalf("Export = %+v, %v", res, err)
		}
	}
	b.ReportMetric(float64(len(windows)), "windows/op")
}
