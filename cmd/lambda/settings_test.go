package main

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/serverless-data-platform/sdp/workflow"
)

// envOf returns a getenv over m.
func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// TestLoadSettings checks which variables fill which settings, and the SDK's precedence of endpoint settings.
func TestLoadSettings(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		env  map[string]string
		want settings
	}{
		{
			name: "template variables",
			env: map[string]string{envHandler: " consumer ", envEventStream: "sdp-EventStream-1", envCuratedTable: "sdp-Curated",
				envAggregatesTable: "sdp-Aggregates", envWorkflowARN: "arn:aws:states:us-east-1:1:stateMachine:w",
				envProcessingRules: "r:/source=x", envReferenceData: "{}"},
			want: settings{Handler: "consumer", EventStream: "sdp-EventStream-1", CuratedTable: "sdp-Curated",
				AggregatesTable: "sdp-Aggregates", WorkflowARN: "arn:aws:states:us-east-1:1:stateMachine:w",
				ProcessingRules: "r:/source=x", ReferenceData: "{}", LogLevel: slog.LevelInfo},
		},
		{
			name: "analytics and export variables, trimmed",
			env: map[string]string{envWindowSize: " 5m", envAllowedLateness: "10m ", envExportBucket: "sdp-exports-1",
				envExportPrefix: "aggregates", envExportLateHorizon: "2h"},
			want: settings{WindowSize: "5m", AllowedLateness: "10m", ExportBucket: "sdp-exports-1", ExportPrefix: "aggregates",
				ExportLateHorizon: "2h"},
		},
		{
			name: "service endpoint wins over the global one",
			env:  map[string]string{envSFNEndpoint: "http://127.0.0.1:1", envEndpoint: "http://127.0.0.1:2"},
			want: settings{SFNEndpoint: "http://127.0.0.1:1", S3Endpoint: "http://127.0.0.1:2", LambdaEndpoint: "http://127.0.0.1:2"},
		},
		{
			name: "global endpoint",
			env:  map[string]string{envEndpoint: "http://127.0.0.1:2"},
			want: settings{SFNEndpoint: "http://127.0.0.1:2", S3Endpoint: "http://127.0.0.1:2", LambdaEndpoint: "http://127.0.0.1:2"},
		},
		{
			name: "S3 and Lambda endpoints and the function's name",
			env: map[string]string{envS3Endpoint: "http://127.0.0.1:3", envLambdaEndpoint: "http://127.0.0.1:4",
				envEndpoint: "http://127.0.0.1:2", envFunctionName: "sdp-Ingest-1"},
			want: settings{SFNEndpoint: "http://127.0.0.1:2", S3Endpoint: "http://127.0.0.1:3", LambdaEndpoint: "http://127.0.0.1:4",
				FunctionName: "sdp-Ingest-1"},
		},
		{
			name: "configured S3 endpoint ignored",
			env:  map[string]string{envS3Endpoint: "http://127.0.0.1:3", envIgnoreEndpoints: "true"},
			want: settings{},
		},
		{
			name: "configured endpoints ignored",
			env:  map[string]string{envSFNEndpoint: "http://127.0.0.1:1", envIgnoreEndpoints: "TRUE"},
			want: settings{},
		},
		{name: "trace level", env: map[string]string{envLogLevel: "TRACE"}, want: settings{LogLevel: slog.LevelDebug - 4}},
		{name: "debug level", env: map[string]string{envLogLevel: "debug"}, want: settings{LogLevel: slog.LevelDebug}},
		{name: "warn level", env: map[string]string{envLogLevel: "WARN"}, want: settings{LogLevel: slog.LevelWarn}},
		{name: "fatal level", env: map[string]string{envLogLevel: "FATAL"}, want: settings{LogLevel: slog.LevelError + 4}},
		{name: "unknown level is info", env: map[string]string{envLogLevel: "loud"}, want: settings{LogLevel: slog.LevelInfo}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := loadSettings(envOf(tt.env)); got != tt.want {
				t.Errorf("loadSettings = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestNewLogger checks the log lines' shape: the level filter, and the keys Lambda's JSON log format reads.
func TestNewLogger(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	log := newLogger(&buf, slog.LevelWarn)
	log.Info("dropped")
	log.Warn("kept", "k", "v")
	var line map[string]any
	if err := json.Unmarshal(buf.Bytes(), &line); err != nil {
		t.Fatalf("log output %q is not one JSON object: %v", buf.String(), err)
	}
	if line["level"] != "WARN" || line["message"] != "kept" || line["k"] != "v" {
		t.Errorf("log line = %v, want level WARN, message kept, k v", line)
	}
	ts, _ := line["timestamp"].(string)
	if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
		t.Errorf("timestamp %q is not RFC 3339: %v", ts, err)
	}
}

// TestParseRules checks both forms of PROCESSING_RULES, and that a bad rule is an error naming the variable.
func TestParseRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    []workflow.Rule
		wantErr string
	}{
		{name: "empty", in: "  "},
		{
			name: "lines with comments",
			in:   "# quarantine\nquarantine-device:/data/device_id=device-ht-0042\n\nblock-test-sources:/source^=urn:test:\n",
			want: []workflow.Rule{
				{Name: "quarantine-device", Pointer: "/data/device_id", Equals: "device-ht-0042"},
				{Name: "block-test-sources", Pointer: "/source", Prefix: "urn:test:"},
			},
		},
		{
			name: "JSON array",
			in:   `[{"name":"block-test-sources","pointer":"/source","prefix":"urn:test:"}]`,
			want: []workflow.Rule{{Name: "block-test-sources", Pointer: "/source", Prefix: "urn:test:"}},
		},
		{name: "bad line", in: "no-pointer", wantErr: "PROCESSING_RULES"},
		{name: "bad JSON", in: `[{"name":`, wantErr: "JSON array"},
		{name: "invalid JSON rule", in: `[{"name":"x","pointer":"source","equals":"a"}]`, wantErr: "rule 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseRules(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("parseRules(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseRules(%q): %v", tt.in, err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("parseRules(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("rule %d = %+v, want %+v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

// TestLoadReference checks the three sources of reference data: built in, inline JSON and a file.
func TestLoadReference(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "reference.json")
	if err := os.WriteFile(file, []byte(`{"device": {"sensor-0042": {"site": "Hamburg"}}}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// bad is JSON, but not tables of entries.
	bad := filepath.Join(dir, "bad.json")
	if err := os.WriteFile(bad, []byte(`["not", "tables"]`), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		in         string
		table, key string
		// wantAttr is an attribute the entry must have; "" means the entry must be absent.
		wantAttr string
		wantErr  bool
	}{
		{name: "built in", in: "", table: workflow.TableCurrency, key: "EUR", wantAttr: "usd_rate"},
		{name: "inline JSON", in: `{"currency": {"EUR": {"usd_rate": 2}}}`, table: workflow.TableCurrency, key: "EUR", wantAttr: "usd_rate"},
		{name: "inline JSON replaces the built-in data", in: `{"currency": {}}`, table: workflow.TableCurrency, key: "EUR"},
		{name: "file", in: file, table: workflow.TableDevice, key: "sensor-0042", wantAttr: "site"},
		{name: "missing file", in: filepath.Join(dir, "absent.json"), wantErr: true},
		{name: "file that is not reference data", in: bad, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ref, err := loadReference(tt.in)
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), envReferenceData) {
					t.Fatalf("loadReference(%q) error = %v, want one naming %s", tt.in, err, envReferenceData)
				}
				return
			}
			if err != nil {
				t.Fatalf("loadReference(%q): %v", tt.in, err)
			}
			entry := ref[tt.table][tt.key]
			if tt.wantAttr == "" {
				if entry != nil {
					t.Errorf("entry %s/%s = %v, want none", tt.table, tt.key, entry)
				}
				return
			}
			if _, ok := entry[tt.wantAttr]; !ok {
				t.Errorf("entry %s/%s = %v, want attribute %q", tt.table, tt.key, entry, tt.wantAttr)
			}
		})
	}
}
