package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// TestParseBenchOutput reads result lines as a test binary prints them: with and without the -P suffix,
// among other benchmarks and log lines, and refuses output in which the benchmark has no result.
func TestParseBenchOutput(t *testing.T) {
	t.Parallel()
	const header = "goos: linux\ngoarch: amd64\npkg: github.com/serverless-data-platform/sdp/stream/consumer\ncpu: AMD EPYC\n"
	tests := []struct {
		name    string
		out     string
		bench   string
		want    benchLine
		wantErr bool
	}{
		{
			name:  "GOMAXPROCS=1 has no suffix",
			out:   header + "BenchmarkConsumerPath \t      12\t 250123456 ns/op\t    301245 records/s\t 5242880 B/op\t   40012 allocs/op\nPASS\nok  \tx\t4.1s\n",
			bench: "BenchmarkConsumerPath",
			want: benchLine{Name: "BenchmarkConsumerPath", Procs: 1, Iterations: 12, Metrics: map[string]float64{
				"ns/op": 250123456, "records/s": 301245, "B/op": 5242880, "allocs/op": 40012}},
		},
		{
			name:  "the -P suffix is cut from the name",
			out:   "BenchmarkValidateFromBytes-2   \t 1000000\t      1890 ns/op\t 272.41 MB/s\t    529134 events/s\t       1.000 %rejected\t     512 B/op\t       7 allocs/op\n",
			bench: "BenchmarkValidateFromBytes",
			want: benchLine{Name: "BenchmarkValidateFromBytes", Procs: 2, Iterations: 1000000, Metrics: map[string]float64{
				"ns/op": 1890, "MB/s": 272.41, "events/s": 529134, "%rejected": 1, "B/op": 512, "allocs/op": 7}},
		},
		{
			name: "other benchmarks and logs are skipped",
			out: header + "BenchmarkConsumerPathOld \t 3\t 9 ns/op\t 1 records/s\n" +
				"    bench_test.go:40: loaded 10000 records\n" +
				"BenchmarkConsumerPath \t 5\t 7 ns/op\t 2000 records/s\n" +
				"BenchmarkSplit \t 9\t 3 ns/op\nPASS\n",
			bench: "BenchmarkConsumerPath",
			want: benchLine{Name: "BenchmarkConsumerPath", Procs: 1, Iterations: 5, Metrics: map[string]float64{
				"ns/op": 7, "records/s": 2000}},
		},
		{
			name:  "with -count above 1 the last line wins",
			out:   "BenchmarkConsumerPath 5 7 ns/op 1000 records/s\nBenchmarkConsumerPath 6 8 ns/op 3000 records/s\n",
			bench: "BenchmarkConsumerPath",
			want: benchLine{Name: "BenchmarkConsumerPath", Procs: 1, Iterations: 6, Metrics: map[string]float64{
				"ns/op": 8, "records/s": 3000}},
		},
		{
			name:    "a missing benchmark is an error",
			out:     header + "testing: warning: no tests to run\nPASS\n",
			bench:   "BenchmarkConsumerPath",
			wantErr: true,
		},
		{
			name:    "a skipped benchmark is an error",
			out:     header + "BenchmarkConsumerPath\n    bench_test.go:12: SDP_BENCH_RECORDS not set\n--- SKIP: BenchmarkConsumerPath\nPASS\n",
			bench:   "BenchmarkConsumerPath",
			wantErr: true,
		},
		{
			name:    "a line with a value that is not a number is not a result",
			out:     "BenchmarkConsumerPath 5 fast ns/op\n",
			bench:   "BenchmarkConsumerPath",
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseBenchOutput([]byte(tt.out), tt.bench)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("parseBenchOutput = %+v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseBenchOutput: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("parseBenchOutput =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}

// TestParseAnchorOutput reads the JSON line an anchor prints last, and refuses output without a usable
// measurement.
func TestParseAnchorOutput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		out     string
		want    anchorResult
		wantErr bool
	}{
		{
			name: "a consumer anchor",
			out:  `{"name":"powertools","records":300000,"seconds":3.01,"rate":99667.7,"failures":100,"iterations":30,"perPass":10000,"digest":"ab12"}` + "\n",
			want: anchorResult{Name: "powertools", Records: 300000, Seconds: 3.01, Rate: 99667.7, Failures: 100, Iterations: 30,
				PerPass: 10000, Digest: "ab12"},
		},
		{
			name: "the validation anchor after other output",
			out:  "(node:123) ExperimentalWarning: something\n" + `{"name":"ajv","events":750000,"seconds":3,"rate":250000,"failures":100,"iterations":75,"perPass":10000,"digest":"cd"}` + "\n\n",
			want: anchorResult{Name: "ajv", Events: 750000, Seconds: 3, Rate: 250000, Failures: 100, Iterations: 75, PerPass: 10000, Digest: "cd"},
		},
		// An anchor that crashed, or printed something that is not a measurement, must not count as one.
		{name: "no output", out: "", wantErr: true},
		{name: "no JSON line", out: "Error: something broke\n", wantErr: true},
		{name: "malformed JSON", out: `{"name":"ajv","rate":` + "\n", wantErr: true},
		{name: "no rate", out: `{"name":"ajv","events":10,"seconds":1,"rate":0}`, wantErr: true},
		{name: "nothing counted", out: `{"name":"ajv","seconds":1,"rate":5}`, wantErr: true},
		{name: "no name", out: `{"events":10,"seconds":1,"rate":10}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := parseAnchorOutput([]byte(tt.out))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("parseAnchorOutput = %+v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseAnchorOutput: %v", err)
			}
			if got != tt.want {
				t.Errorf("parseAnchorOutput = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// TestSummaryLines pins the two closing lines of make bench, character for character.
func TestSummaryLines(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		medians map[string]float64
		want    [2]string
	}{
		{
			name: "the documented example",
			medians: map[string]float64{nameGoConsumer: 301245.3, namePowertools: 107205, nameNodeAjv: 133294,
				nameGoValidate: 1234567.8, nameAjv: 250000},
			want: [2]string{
				"consumer: 301,245 records/s, 2.81x powertools, 2.26x node+ajv",
				"validate: 1,234,568 events/s, 4.94x ajv",
			},
		},
		{
			name: "slower than a peer",
			medians: map[string]float64{nameGoConsumer: 900, namePowertools: 1000, nameNodeAjv: 3000,
				nameGoValidate: 46720, nameAjv: 249510},
			want: [2]string{
				"consumer: 900 records/s, 0.90x powertools, 0.30x node+ajv",
				"validate: 46,720 events/s, 0.19x ajv",
			},
		},
		{
			name:    "a missing peer gives n/a",
			medians: map[string]float64{nameGoConsumer: 1000, nameGoValidate: 2000},
			want: [2]string{
				"consumer: 1,000 records/s, n/ax powertools, n/ax node+ajv",
				"validate: 2,000 events/s, n/ax ajv",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := summaryLines(tt.medians); got != tt.want {
				t.Errorf("summaryLines =\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

// TestFormatRate checks the rounding and the thousands separators of rates.
func TestFormatRate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   float64
		want string
	}{
		{"zero", 0, "0"},
		{"below a thousand", 999.4, "999"},
		{"rounds up into a group", 999.5, "1,000"},
		{"six digits", 301245.4, "301,245"},
		{"seven digits", 1234567.5, "1,234,568"},
		{"negative", -1234, "-1,234"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := formatRate(tt.in); got != tt.want {
				t.Errorf("formatRate(%v) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

// TestMedian checks the middle value over rounds, which must not reorder the caller's slice.
func TestMedian(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   []float64
		want float64
	}{
		{"none", nil, 0},
		{"one", []float64{7}, 7},
		{"odd count, unsorted", []float64{9, 1, 5}, 5},
		{"even count takes the mean of the middle two", []float64{4, 1, 3, 2}, 2.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			in := append([]float64(nil), tt.in...)
			if got := median(in); got != tt.want {
				t.Errorf("median(%v) = %v, want %v", tt.in, got, tt.want)
			}
			if !reflect.DeepEqual(in, append([]float64(nil), tt.in...)) {
				t.Errorf("median reordered its input: %v", in)
			}
		})
	}
}

// TestBuildReport checks the medians, the allocations and each anchor's ratio to its Go baseline.
func TestBuildReport(t *testing.T) {
	t.Parallel()
	rep := buildReport([]*series{
		{Name: nameGoConsumer, Unit: "records/s", Rates: []float64{300, 100, 200}, Allocs: []float64{10, 30, 20}},
		{Name: namePowertools, Unit: "records/s", Rates: []float64{50, 40, 60}},
		{Name: nameNodeAjv, Unit: "records/s", Rates: []float64{80}},
		{Name: nameGoValidate, Unit: "events/s", Rates: []float64{1000}, Allocs: []float64{-1}},
		{Name: nameAjv, Unit: "events/s", Rates: []float64{500, 300}},
	})
	type want struct {
		median  float64
		allocs  float64 // -1: absent
		speedup float64 // -1: absent
	}
	// The consumer anchors compare with the Go consumer's median (200), ajv with the Go validator's (1000);
	// a Go benchmark that reported no allocations (-1) shows none.
	wants := []want{{200, 20, -1}, {50, -1, 4}, {80, -1, 2.5}, {1000, -1, -1}, {400, -1, 2.5}}
	if len(rep.Rows) != len(wants) {
		t.Fatalf("%d rows, want %d", len(rep.Rows), len(wants))
	}
	for i, w := range wants {
		r := rep.Rows[i]
		if r.Median != w.median {
			t.Errorf("%s: median %v, want %v", r.Name, r.Median, w.median)
		}
		if got := ptrOr(r.AllocsPerOp); got != w.allocs {
			t.Errorf("%s: allocs/op %v, want %v", r.Name, got, w.allocs)
		}
		if got := ptrOr(r.GoSpeedup); got != w.speedup {
			t.Errorf("%s: go speed-up %v, want %v", r.Name, got, w.speedup)
		}
	}
	wantLines := [2]string{"consumer: 200 records/s, 4.00x powertools, 2.50x node+ajv", "validate: 1,000 events/s, 2.50x ajv"}
	if rep.Lines != wantLines {
		t.Errorf("lines %q, want %q", rep.Lines, wantLines)
	}
	var table bytes.Buffer
	writeTable(&table, rep)
	for _, s := range []string{"go consumer", "200", "20", "4.00x", "events/s"} {
		if !strings.Contains(table.String(), s) {
			t.Errorf("the table lacks %q:\n%s", s, table.String())
		}
	}
}

// ptrOr returns *p, or -1 for nil.
func ptrOr(p *float64) float64 {
	if p == nil {
		return -1
	}
	return *p
}

// TestParseFlags checks the defaults the brief of make bench relies on and the refusal of unusable settings.
func TestParseFlags(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		check   func(t *testing.T, o options)
		wantErr bool
	}{
		{
			name: "defaults",
			check: func(t *testing.T, o options) {
				if o.records != 10000 || o.invalid != 0.01 || !reflect.DeepEqual(o.types, []string{"page_view"}) ||
					o.duration != 3*time.Second || o.rounds != 3 || o.cpu != 1 || o.out == "" {
					t.Errorf("defaults %+v", o)
				}
			},
		},
		{
			name: "several types",
			args: []string{"-type", "page_view, purchase,", "-records", "50", "-cpu", "0"},
			check: func(t *testing.T, o options) {
				if !reflect.DeepEqual(o.types, []string{"page_view", "purchase"}) || o.records != 50 || o.cpu != 0 {
					t.Errorf("options %+v", o)
				}
			},
		},
		// Powertools throws when every record of a batch failed, so a run needs some valid records.
		{name: "every record invalid", args: []string{"-invalid", "1"}, wantErr: true},
		{name: "negative ratio", args: []string{"-invalid", "-0.1"}, wantErr: true},
		{name: "no records", args: []string{"-records", "0"}, wantErr: true},
		{name: "no rounds", args: []string{"-rounds", "0"}, wantErr: true},
		{name: "no duration", args: []string{"-duration", "0s"}, wantErr: true},
		{name: "no type", args: []string{"-type", ","}, wantErr: true},
		{name: "stray argument", args: []string{"extra"}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			o, err := parseFlags(tt.args, io.Discard)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("parseFlags(%q) = %+v, want an error", tt.args, o)
				}
				return
			}
			if err != nil {
				t.Fatalf("parseFlags(%q): %v", tt.args, err)
			}
			tt.check(t, o)
		})
	}
}

// TestWriteDataset decodes the generated records.json as the Lambda Kinesis event the Go benchmark reads,
// and checks the real Lambda shape of every record and that events.ndjson holds the same events in order.
func TestWriteDataset(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		records int
		invalid float64
		types   []string
	}{
		{name: "one record", records: 1, types: []string{"page_view"}},
		{name: "page views, 1% invalid", records: 500, invalid: 0.01, types: []string{"page_view"}},
		{name: "mixed types, half invalid", records: 200, invalid: 0.5, types: []string{"page_view", "purchase", "sensor_reading"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			ds, err := writeDataset(dir, tt.records, tt.invalid, tt.types)
			if err != nil {
				t.Fatalf("writeDataset: %v", err)
			}
			raw, err := os.ReadFile(ds.RecordsPath)
			if err != nil {
				t.Fatal(err)
			}
			var ev events.KinesisEvent
			if err := json.Unmarshal(raw, &ev); err != nil {
				t.Fatalf("records.json does not decode as events.KinesisEvent: %v", err)
			}
			if len(ev.Records) != tt.records || ds.Records != tt.records {
				t.Fatalf("%d records (dataset says %d), want %d", len(ev.Records), ds.Records, tt.records)
			}
			lines := readLines(t, ds.EventsPath)
			if len(lines) != tt.records {
				t.Fatalf("events.ndjson has %d lines, want %d", len(lines), tt.records)
			}
			// The wire shape: data is base64 text and the arrival time a number of seconds.
			var wire struct {
				Records []struct {
					Kinesis map[string]any `json:"kinesis"`
				} `json:"Records"`
			}
			if err := json.Unmarshal(raw, &wire); err != nil {
				t.Fatal(err)
			}
			invalid, total, prevSeq := 0, 0, ""
			for i, r := range ev.Records {
				k := r.Kinesis
				seq := k.SequenceNumber
				if len(seq) != 56 || strings.Trim(seq, "0123456789") != "" || seq <= prevSeq {
					t.Fatalf("record %d: sequence number %q: want 56 digits, increasing", i, seq)
				}
				prevSeq = seq
				if r.EventID != "shardId-000000000000:"+seq || r.EventSource != "aws:kinesis" ||
					r.EventName != "aws:kinesis:record" || r.EventVersion != "1.0" || r.AwsRegion == "" ||
					!strings.HasPrefix(r.EventSourceArn, "arn:aws:kinesis:") || k.KinesisSchemaVersion != "1.0" {
					t.Fatalf("record %d has the wrong shape: %+v", i, r)
				}
				// Records arrive after the events' time, to the millisecond.
				if !k.ApproximateArrivalTimestamp.After(generatedAt) {
					t.Errorf("record %d: arrival %v, want after %v", i, k.ApproximateArrivalTimestamp.Time, generatedAt)
				}
				if !bytes.Equal(k.Data, lines[i]) {
					t.Fatalf("record %d: data %q differs from line %d of events.ndjson %q", i, k.Data, i, lines[i])
				}
				data, ok := wire.Records[i].Kinesis["data"].(string)
				if dec, err := base64.StdEncoding.DecodeString(data); !ok || err != nil || !bytes.Equal(dec, k.Data) {
					t.Fatalf("record %d: data on the wire is not the event in base64", i)
				}
				if _, ok := wire.Records[i].Kinesis["approximateArrivalTimestamp"].(float64); !ok {
					t.Fatalf("record %d: approximateArrivalTimestamp is not a number", i)
				}
				var e struct {
					Subject string `json:"subject"`
					Time    string `json:"time"`
					Type    string `json:"type"`
				}
				if err := json.Unmarshal(k.Data, &e); err != nil {
					t.Fatalf("record %d: data is not a JSON event: %v", i, err)
				}
				if e.Subject != k.PartitionKey {
					t.Errorf("record %d: partition key %q, want the subject %q", i, k.PartitionKey, e.Subject)
				}
				if e.Time == "" || e.Type == "click" {
					invalid++ // two of the generator's ways to break a schema, seen from outside
				}
				total += len(k.Data)
			}
			// The generator's own count is the reference the anchors' failures are checked against.
			if ds.Invalid < invalid || ds.Invalid > tt.records {
				t.Errorf("dataset counts %d invalid events; at least %d are visibly invalid", ds.Invalid, invalid)
			}
			if tt.invalid == 0 && ds.Invalid != 0 {
				t.Errorf("%d invalid events, want none", ds.Invalid)
			}
			if want := float64(total) / float64(tt.records); ds.MeanEventBytes != want {
				t.Errorf("mean event size %v, want %v", ds.MeanEventBytes, want)
			}
		})
	}
}

// readLines returns the lines of a file.
func readLines(t *testing.T, path string) [][]byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		out = append(out, bytes.Clone(sc.Bytes()))
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// needTools skips the test when Node.js, taskset or the pinned npm packages are missing, or fails it when
// SDP_REQUIRE_NPM_TOOLS=1.
func needTools(t *testing.T, repo string) {
	t.Helper()
	if err := checkTools(repo, options{goCmd: "go", node: "node"}); err != nil {
		if os.Getenv("SDP_REQUIRE_NPM_TOOLS") == "1" {
			t.Fatalf("the anchors need Node.js and tools/npm (SDP_REQUIRE_NPM_TOOLS=1): %v", err)
		}
		t.Skipf("the anchors need Node.js and tools/npm: %v", err)
	}
}

// TestAnchors runs the three Node.js anchors briefly over a small dataset: each must count the dataset's
// invalid events as its failures, and the two consumer anchors must produce the same workflow input and
// batch response.
func TestAnchors(t *testing.T) {
	t.Parallel()
	repo, err := findRepo()
	if err != nil {
		t.Fatal(err)
	}
	needTools(t, repo)
	// Every event type, so that the anchors' dispatch on the type is exercised too.
	ds, err := writeDataset(t.TempDir(), 300, 0.05, []string{"page_view", "purchase", "sensor_reading"})
	if err != nil {
		t.Fatal(err)
	}
	if ds.Invalid == 0 {
		t.Fatal("the dataset has no invalid event; the test needs some")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// CPU 0 exists on every machine; a short measurement without warm-up keeps the test quick.
	o := options{cpu: 0, node: "node", duration: 50 * time.Millisecond}
	digests := map[string]string{}
	for _, a := range nodeAnchors {
		r, err := runAnchor(ctx, o, repo, a, ds)
		if err != nil {
			t.Fatalf("anchor %s: %v", a.name, err)
		}
		if r.Failures != ds.Invalid {
			t.Errorf("anchor %s: %d failures per pass, want the %d invalid events", a.name, r.Failures, ds.Invalid)
		}
		if r.PerPass != ds.Records || r.Iterations < 1 {
			t.Errorf("anchor %s: %d per pass over %d iterations, want %d per pass", a.name, r.PerPass, r.Iterations, ds.Records)
		}
		digests[a.name] = r.Digest
	}
	if digests[namePowertools] == "" || digests[namePowertools] != digests[nameNodeAjv] {
		t.Errorf("the consumer anchors disagree: digests %q", digests)
	}
}

// TestAnchorWorkflowInput checks the plain consumer anchor's output against the dataset: its workflow input
// must hold the valid records in order with their arrival times, and its response the invalid ones.
func TestAnchorWorkflowInput(t *testing.T) {
	t.Parallel()
	repo, err := findRepo()
	if err != nil {
		t.Fatal(err)
	}
	needTools(t, repo)
	dir := t.TempDir()
	ds, err := writeDataset(dir, 40, 0.2, []string{"page_view"})
	if err != nil {
		t.Fatal(err)
	}
	// The anchors only print a digest of their outputs, so the content is checked here, once, through the
	// functions both consumer anchors share (common.cjs); TestAnchors checks that they agree.
	// A small script runs the anchors' per-record work once and prints what the handler would send.
	script := filepath.Join(dir, "once.cjs")
	src := `const common = require(process.argv[2]);
const event = JSON.parse(require('node:fs').readFileSync(process.argv[3], 'utf8'));
const check = common.makeCheck(common.loadValidators(process.argv[4]));
const items = [], failed = [];
for (const r of event.Records) { const it = check(r); if (it === null) failed.push(r.kinesis.sequenceNumber); else items.push(it); }
process.stdout.write(common.workflowInput(event.Records, items) + '\n' + JSON.stringify(failed) + '\n');
`
	if err := os.WriteFile(script, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", script, filepath.Join(repo, "tools", "npm", "anchors", "common.cjs"),
		ds.RecordsPath, filepath.Join(repo, "event", "schemas"))
	out, err := cmd.Output()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			t.Fatalf("node: %v\n%s", err, exit.Stderr)
		}
		t.Fatalf("node: %v", err)
	}
	parts := strings.SplitN(string(out), "\n", 3)
	var input struct {
		BatchID string `json:"batchId"`
		ShardID string `json:"shardId"`
		Items   []struct {
			SequenceNumber string          `json:"sequenceNumber"`
			PartitionKey   string          `json:"partitionKey"`
			ArrivalTime    time.Time       `json:"arrivalTime"`
			Event          json.RawMessage `json:"event"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(parts[0]), &input); err != nil {
		t.Fatalf("workflow input %q: %v", parts[0], err)
	}
	var failed []string
	if err := json.Unmarshal([]byte(parts[1]), &failed); err != nil {
		t.Fatalf("failures %q: %v", parts[1], err)
	}
	// The same generator settings give the same records, so the dataset can be rebuilt here to compare.
	ev, _, err := buildEvent(40, 0.2, []string{"page_view"})
	if err != nil {
		t.Fatal(err)
	}
	recs := ev.Records
	if want := shardID + ":" + recs[0].Kinesis.SequenceNumber + "-" + recs[len(recs)-1].Kinesis.SequenceNumber; input.BatchID != want || input.ShardID != shardID {
		t.Errorf("batch %q of shard %q, want %q of %q", input.BatchID, input.ShardID, want, shardID)
	}
	if len(failed) != ds.Invalid || len(input.Items)+len(failed) != len(recs) {
		t.Fatalf("%d items and %d failures for %d records, %d invalid", len(input.Items), len(failed), len(recs), ds.Invalid)
	}
	// Walk the records and the items together: every item must be the next valid record, so the items keep
	// record order and skip exactly the failed records.
	j := 0
	for _, r := range recs {
		k := r.Kinesis
		if j < len(input.Items) && input.Items[j].SequenceNumber == k.SequenceNumber {
			it := input.Items[j]
			if it.PartitionKey != k.PartitionKey || !it.ArrivalTime.Equal(k.ApproximateArrivalTimestamp.Round(time.Millisecond)) {
				t.Errorf("item %d: %s at %v, want %s at %v", j, it.PartitionKey, it.ArrivalTime, k.PartitionKey, k.ApproximateArrivalTimestamp.Time)
			}
			var a, b any
			if json.Unmarshal(it.Event, &a) != nil || json.Unmarshal(k.Data, &b) != nil || !reflect.DeepEqual(a, b) {
				t.Errorf("item %d: event %s, want %s", j, it.Event, k.Data)
			}
			j++
		}
	}
	if j != len(input.Items) {
		t.Errorf("the items are not the valid records in record order (%d of %d matched)", j, len(input.Items))
	}
}

// TestCheckTools checks that a missing or stale npm package stops the run with a message that says to run
// make tools.
func TestCheckTools(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("taskset"); err != nil {
		t.Skip("taskset is not installed")
	}
	const manifest = `{"dependencies":{"@aws-lambda-powertools/batch":"2.35.0","ajv":"8.20.0","ajv-formats":"3.0.1"}}`
	tests := []struct {
		name      string
		installed map[string]string // package -> installed version
		wantErr   string            // empty: no error
	}{
		{
			name:      "all pinned versions installed",
			installed: map[string]string{"@aws-lambda-powertools/batch": "2.35.0", "ajv": "8.20.0", "ajv-formats": "3.0.1"},
		},
		{
			name:      "a package missing",
			installed: map[string]string{"ajv": "8.20.0", "ajv-formats": "3.0.1"},
			wantErr:   "@aws-lambda-powertools/batch is not installed in tools/npm: run `make tools`",
		},
		{
			name:      "a stale version",
			installed: map[string]string{"@aws-lambda-powertools/batch": "2.35.0", "ajv": "8.12.0", "ajv-formats": "3.0.1"},
			wantErr:   "ajv is 8.12.0 in tools/npm/node_modules, but 8.20.0 is pinned: run `make tools`",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			repo := t.TempDir()
			npm := filepath.Join(repo, "tools", "npm")
			write := func(path, content string) {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			write(filepath.Join(npm, "package.json"), manifest)
			for name, version := range tt.installed {
				write(filepath.Join(npm, "node_modules", name, "package.json"), `{"name":"`+name+`","version":"`+version+`"}`)
			}
			// Any executable stands in for node: only the npm packages are under test.
			err := checkTools(repo, options{goCmd: "go", node: "go"})
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("checkTools: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Fatalf("checkTools = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

// TestRunGoBench runs stand-in test binaries (shell scripts that print what a benchmark prints) to check
// the environment a Go benchmark gets, the metrics taken from its output and the failures it is refused for.
func TestRunGoBench(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("taskset"); err != nil {
		t.Skip("taskset is not installed")
	}
	// The consumer benchmark, run in <repo>/stream/consumer, over a dataset with two invalid events; the files
	// need not exist, since the stand-ins only compare the paths they are given.
	b := goBenches[0]
	ds := dataset{RecordsPath: "/data/records.json", EventsPath: "/data/events.ndjson", Records: 100, Invalid: 2}
	tests := []struct {
		name    string
		script  string // the body of the stand-in binary
		want    goMeasurement
		wantErr string
	}{
		{
			name: "a result line, with the environment echoed as metrics",
			script: `[ "$SDP_BENCH_RECORDS" = /data/records.json ] && [ "$SDP_BENCH_EVENTS" = /data/events.ndjson ] || exit 7
[ "$(basename "$PWD")" = consumer ] || exit 8 # the package's directory, as go test runs it
echo "goos: linux"
echo "BenchmarkConsumerPath 12 250000 ns/op 301245 records/s 2 failures 4000 B/op 1200 allocs/op $GOMAXPROCS procs"
echo PASS`,
			want: goMeasurement{rate: 301245, allocs: 1200, metrics: map[string]float64{"ns/op": 250000, "records/s": 301245,
				"failures": 2, "B/op": 4000, "allocs/op": 1200, "procs": 1}},
		},
		{
			name:   "no allocations reported",
			script: `echo "BenchmarkConsumerPath 12 250000 ns/op 1000 records/s"`,
			want:   goMeasurement{rate: 1000, allocs: -1, metrics: map[string]float64{"ns/op": 250000, "records/s": 1000}},
		},
		{
			name:    "failures that are not the invalid events",
			script:  `echo "BenchmarkConsumerPath 12 250000 ns/op 1000 records/s 5 failures"`,
			wantErr: "reported 5 failures per pass, but the dataset has 2 invalid events",
		},
		{
			name:    "no rate metric",
			script:  `echo "BenchmarkConsumerPath 12 250000 ns/op"`,
			wantErr: "reported no records/s metric",
		},
		{
			name:    "the benchmark is missing",
			script:  `echo "testing: warning: no tests to run"; echo PASS`,
			wantErr: "no result line of BenchmarkConsumerPath",
		},
		{
			name:    "the binary fails",
			script:  `echo "--- FAIL: BenchmarkConsumerPath"; exit 1`,
			wantErr: "--- FAIL: BenchmarkConsumerPath",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			repo := t.TempDir()
			if err := os.MkdirAll(filepath.Join(repo, filepath.FromSlash(b.pkg)), 0o755); err != nil {
				t.Fatal(err)
			}
			bin := filepath.Join(repo, "bench.test")
			if err := os.WriteFile(bin, []byte("#!/bin/sh\n"+tt.script+"\n"), 0o755); err != nil {
				t.Fatal(err)
			}
			o := options{cpu: 0, duration: time.Second}
			got, err := runGoBench(context.Background(), o, repo, bin, b, ds)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("runGoBench = %+v, %v; want an error containing %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("runGoBench: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("runGoBench =\n%+v\nwant\n%+v", got, tt.want)
			}
		})
	}
}
