package main

import (
	"bufio"
	"compress/gzip"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/analytics"
	"github.com/serverless-data-platform/sdp/analytics/export"
	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/infrastructure"
)

// TestExportDir checks sdp up --export-dir: events of the current second are counted, and once their
// one-second windows close the export folder holds each window once, in the partitions Athena reads, with the
// counts the read API gives.
func TestExportDir(t *testing.T) {
	dir := t.TempDir()
	win := analytics.Windowing{Size: time.Second, AllowedLateness: time.Second}
	base, _, _ := runStack(t, stackConfig{Shards: 1, Windowing: win, ExportDir: dir, ExportEvery: 100 * time.Millisecond})
	now := time.Now().UTC()
	var body strings.Builder
	body.WriteByte('[')
	for i := range 30 {
		if i > 0 {
			body.WriteByte(',')
		}
		fmt.Fprintf(&body, `{"specversion":"1.0","id":"x-%d","source":"urn:test:export","type":"page_view","time":%q,"subject":"v-%d",`+
			`"data":{"url":"https://shop.example.com/","session_id":"s","country":"DE","duration_ms":%d,"scroll_depth":0.5}}`,
			i, now.Format(time.RFC3339Nano), i%4, 100*i)
	}
	body.WriteByte(']')
	if code, r := postEvents(t, base, event.ContentTypeBatch, []byte(body.String())); code != http.StatusAccepted || r.Accepted != 30 {
		t.Fatalf("POST: %d, %+v", code, r)
	}
	var records []export.Record
	eventually(t, 20*time.Second, "the window exported", func() bool {
		records = records[:0]
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json.gz") {
				return err
			}
			rel, _ := filepath.Rel(dir, path)
			if want := now.Format("dt=2006-01-02/hour=15/"); !strings.HasPrefix(filepath.ToSlash(rel), want) {
				t.Errorf("object %s is not under %s", rel, want)
			}
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			zr, err := gzip.NewReader(f)
			if err != nil {
				return fmt.Errorf("%s: %w", rel, err)
			}
			sc := bufio.NewScanner(zr)
			for sc.Scan() {
				var r export.Record
				if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
					return fmt.Errorf("%s: %w", rel, err)
				}
				records = append(records, r)
			}
			return sc.Err()
		})
		if err != nil {
			t.Fatal(err)
		}
		return len(records) > 0
	})
	var got struct{ Windows []analytics.Window }
	getJSON(t, base+"/v1/aggregates?source=urn:test:export", &got)
	if len(records) != 1 || len(got.Windows) != 1 {
		t.Fatalf("exported %d records, the read API has %d windows; want 1 and 1", len(records), len(got.Windows))
	}
	r, w := records[0], got.Windows[0]
	if r.Count != 30 || r.Count != w.Count || r.Late != w.Late || r.UniqueSubjects != 4 || r.Type != "page_view" ||
		r.Measures["duration_ms"].Count != 30 || r.Measures["duration_ms"].P99 != w.Measures["duration_ms"].P99 {
		t.Errorf("exported %+v; the read API says %+v", r, w)
	}
}

// TestTemplateWindowing checks that sdp up takes the analytics windowing from the analytics function's
// environment in the template unless its flags set it, and refuses a window size that does not divide a day.
func TestTemplateWindowing(t *testing.T) {
	st, err := infrastructure.Read(infrastructure.Template)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		params  map[string]string
		flags   analytics.Windowing
		want    analytics.Windowing
		wantErr string
	}{
		{"the template's defaults", nil, analytics.Windowing{}, analytics.Windowing{Size: time.Minute, AllowedLateness: 5 * time.Minute}, ""},
		{"flags win", nil, analytics.Windowing{Size: 5 * time.Minute}, analytics.Windowing{Size: 5 * time.Minute, AllowedLateness: 5 * time.Minute}, ""},
		{"changed template", map[string]string{"SDP_WINDOW_SIZE": "15m", "SDP_ALLOWED_LATENESS": "1h"}, analytics.Windowing{},
			analytics.Windowing{Size: 15 * time.Minute, AllowedLateness: time.Hour}, ""},
		{"size not dividing a day", map[string]string{"SDP_WINDOW_SIZE": "7m"}, analytics.Windowing{}, analytics.Windowing{}, "does not divide a day"},
		{"not a duration", map[string]string{"SDP_ALLOWED_LATENESS": "soon"}, analytics.Windowing{}, analytics.Windowing{}, "SDP_ALLOWED_LATENESS"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := *st
			s.Functions = slices.Clone(st.Functions)
			for i := range s.Functions {
				if s.Functions[i].Name == "analytics" {
					s.Functions[i].Environment = maps.Clone(s.Functions[i].Environment)
					maps.Copy(s.Functions[i].Environment, tc.params)
				}
			}
			got, err := templateWindowing(&s, tc.flags)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("templateWindowing = %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}
