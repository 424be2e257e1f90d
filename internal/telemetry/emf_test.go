package telemetry

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"
)

// emfValid is the test's own checker of the EMF specification; ValidEMF is its exported copy, and the test
// below checks that both agree on every case.
func emfValid(line []byte) error {
	var root map[string]any
	if err := json.Unmarshal(line, &root); err != nil {
		return fmt.Errorf("not a JSON object: %w", err)
	}
	meta, ok := root["_aws"].(map[string]any)
	if !ok {
		return errors.New("no _aws object")
	}
	if _, ok := meta["Timestamp"].(float64); !ok {
		return errors.New("Timestamp is not a number")
	}
	directives, ok := meta["CloudWatchMetrics"].([]any)
	if !ok || len(directives) == 0 {
		return errors.New("no CloudWatchMetrics")
	}
	for _, d := range directives {
		dir, ok := d.(map[string]any)
		if !ok {
			return errors.New("directive is not an object")
		}
		if ns, ok := dir["Namespace"].(string); !ok || ns == "" {
			return errors.New("no Namespace")
		}
		sets, ok := dir["Dimensions"].([]any)
		if !ok {
			return errors.New("no Dimensions")
		}
		for _, s := range sets {
			set, ok := s.([]any)
			if !ok || len(set) > 9 {
				return errors.New("bad dimension set")
			}
			for _, dim := range set {
				name, ok := dim.(string)
				if !ok {
					return errors.New("dimension name is not a string")
				}
				if _, ok := root[name].(string); !ok {
					return fmt.Errorf("dimension %q has no string member", name)
				}
			}
		}
		metrics, ok := dir["Metrics"].([]any)
		if !ok || len(metrics) == 0 || len(metrics) > 30 {
			return errors.New("bad Metrics")
		}
		for _, m := range metrics {
			def, _ := m.(map[string]any)
			name, ok := def["Name"].(string)
			if !ok || name == "" {
				return errors.New("metric without Name")
			}
			switch v := root[name].(type) {
			case float64:
			case []any:
				if len(v) == 0 || len(v) > 100 {
					return fmt.Errorf("metric %q: %d values", name, len(v))
				}
				for _, x := range v {
					if _, ok := x.(float64); !ok {
						return fmt.Errorf("metric %q: non-number value", name)
					}
				}
			default:
				return fmt.Errorf("metric %q: member missing or not a number", name)
			}
		}
	}
	return nil
}

func TestValidEMF(t *testing.T) {
	t.Parallel()
	line := func(aws, members string) string { return `{"_aws":` + aws + members + `}` }
	okAWS := `{"Timestamp":1700000000000,"CloudWatchMetrics":[{"Namespace":"sdp","Dimensions":[["Function"]],"Metrics":[{"Name":"M","Unit":"Count"}]}]}`
	values := func(n int) string {
		s := make([]string, n)
		for i := range s {
			s[i] = "1"
		}
		return "[" + strings.Join(s, ",") + "]"
	}
	manyMetrics := func(n int) (defs, members string) {
		var d, m []string
		for i := range n {
			d = append(d, fmt.Sprintf(`{"Name":"M%d"}`, i))
			m = append(m, fmt.Sprintf(`"M%d":1`, i))
		}
		return strings.Join(d, ","), "," + strings.Join(m, ",")
	}
	defs31, members31 := manyMetrics(31)
	defs30, members30 := manyMetrics(30)
	tenDims := `["A","B","C","D","E","F","G","H","I","J"]`
	tenMembers := `,"A":"a","B":"b","C":"c","D":"d","E":"e","F":"f","G":"g","H":"h","I":"i","J":"j"`

	cases := []struct {
		name  string
		line  string
		valid bool
	}{
		{"valid scalar", line(okAWS, `,"Function":"ingest","M":1`), true},
		{"valid array of 100", line(okAWS, `,"Function":"ingest","M":`+values(100)), true},
		{"valid no dims", `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"sdp","Dimensions":[[]],"Metrics":[{"Name":"M"}]}]},"M":2.5}`, true},
		{"valid 30 metrics", `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[[]],"Metrics":[` + defs30 + `]}]}` + members30 + `}`, true},
		{"not json", `{"_aws":`, false},
		{"missing _aws", `{"Function":"ingest","M":1}`, false},
		{"_aws not an object", `{"_aws":[],"M":1}`, false},
		{"timestamp string", line(`{"Timestamp":"1","CloudWatchMetrics":[{"Namespace":"sdp","Dimensions":[[]],"Metrics":[{"Name":"M"}]}]}`, `,"M":1`), false},
		{"timestamp missing", line(`{"CloudWatchMetrics":[{"Namespace":"sdp","Dimensions":[[]],"Metrics":[{"Name":"M"}]}]}`, `,"M":1`), false},
		{"no directives", line(`{"Timestamp":1,"CloudWatchMetrics":[]}`, ``), false},
		{"no namespace", line(`{"Timestamp":1,"CloudWatchMetrics":[{"Dimensions":[[]],"Metrics":[{"Name":"M"}]}]}`, `,"M":1`), false},
		{"no dimensions", line(`{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"n","Metrics":[{"Name":"M"}]}]}`, `,"M":1`), false},
		{"metric without member", line(okAWS, `,"Function":"ingest"`), false},
		{"metric member string", line(okAWS, `,"Function":"ingest","M":"1"`), false},
		{"array of 101", line(okAWS, `,"Function":"ingest","M":`+values(101)), false},
		{"empty array", line(okAWS, `,"Function":"ingest","M":[]`), false},
		{"array with string", line(okAWS, `,"Function":"ingest","M":[1,"2"]`), false},
		{"dimension missing", line(okAWS, `,"M":1`), false},
		{"dimension not a string", line(okAWS, `,"Function":3,"M":1`), false},
		{"ten dimensions", `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[` + tenDims + `],"Metrics":[{"Name":"M"}]}]}` + tenMembers + `,"M":1}`, false},
		{"31 metrics", `{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[[]],"Metrics":[` + defs31 + `]}]}` + members31 + `}`, false},
		{"metric without name", line(`{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"n","Dimensions":[[]],"Metrics":[{"Unit":"Count"}]}]}`, ``), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			errTest, errExported := emfValid([]byte(c.line)), ValidEMF([]byte(c.line))
			if (errTest == nil) != c.valid || (errExported == nil) != c.valid {
				t.Fatalf("emfValid: %v, ValidEMF: %v, want valid=%v", errTest, errExported, c.valid)
			}
		})
	}
	// Only ValidEMF knows the unit list.
	if err := ValidEMF([]byte(line(strings.Replace(okAWS, `"Count"`, `"Apples"`, 1), `,"Function":"x","M":1`))); err == nil {
		t.Error("unknown unit accepted")
	}
}

// emfLines splits the output into lines, checks each with both checkers and decodes it.
func emfLines(t *testing.T, out []byte) []map[string]any {
	t.Helper()
	var lines []map[string]any
	for _, l := range bytes.Split(bytes.TrimSuffix(out, []byte("\n")), []byte("\n")) {
		if len(l) == 0 {
			continue
		}
		if err := emfValid(l); err != nil {
			t.Fatalf("invalid EMF line %s: %v", l, err)
		}
		if err := ValidEMF(l); err != nil {
			t.Fatalf("ValidEMF rejects %s: %v", l, err)
		}
		var m map[string]any
		_ = json.Unmarshal(l, &m)
		lines = append(lines, m)
	}
	return lines
}

// sumEMF adds up, per metric name, the scalar values; for arrays it adds the number of values under
// name+"#".
func sumEMF(t *testing.T, out []byte) map[string]float64 {
	t.Helper()
	sums := map[string]float64{}
	for _, m := range emfLines(t, out) {
		meta := m["_aws"].(map[string]any)
		for _, d := range meta["CloudWatchMetrics"].([]any) {
			for _, def := range d.(map[string]any)["Metrics"].([]any) {
				name := def.(map[string]any)["Name"].(string)
				switch v := m[name].(type) {
				case float64:
					sums[name] += v
				case []any:
					sums[name+"#"] += float64(len(v))
				}
			}
		}
	}
	return sums
}

func TestFlushEMF(t *testing.T) {
	t.Parallel()
	r := NewRegistry("sdp")
	p := NewPipeline(r)
	plain := r.Counter("Plain", "p", Count)
	now := time.UnixMilli(1_700_000_000_123)

	p.EventsAccepted.Add(5, "ingest")
	p.EventsRejected.Add(2, "ingest", ReasonInvalid)
	p.Curated.Add(1, "ingest") // same dimension set and value as EventsAccepted: one line
	plain.Add(1)
	for i := range 250 {
		p.EndToEndLatency.Observe(float64(i), "persist")
	}
	var out bytes.Buffer
	if err := r.FlushEMF(&out, now); err != nil {
		t.Fatal(err)
	}
	lines := emfLines(t, out.Bytes())
	if sums := sumEMF(t, out.Bytes()); sums["EventsAccepted"] != 5 || sums["EventsRejected"] != 2 ||
		sums["Curated"] != 1 || sums["Plain"] != 1 || sums["EndToEndLatency#"] != 250 {
		t.Fatalf("first flush sums %v", sums)
	}
	// 1 line ingest (accepted+curated), 1 line ingest+invalid, 1 plain, 3 latency lines (100+100+50).
	if len(lines) != 6 {
		t.Fatalf("got %d lines, want 6:\n%s", len(lines), out.String())
	}
	for _, m := range lines {
		if ts := m["_aws"].(map[string]any)["Timestamp"]; ts != float64(now.UnixMilli()) {
			t.Errorf("Timestamp %v", ts)
		}
		if _, both := m["EventsAccepted"]; both {
			if m["Curated"] != float64(1) || m["Function"] != "ingest" {
				t.Errorf("metrics with one dimension set and value should share a line: %v", m)
			}
		}
		if _, ok := m["Plain"]; ok {
			dims := m["_aws"].(map[string]any)["CloudWatchMetrics"].([]any)[0].(map[string]any)["Dimensions"]
			if fmt.Sprint(dims) != "[[]]" {
				t.Errorf("metric without dims: Dimensions %v, want [[]]", dims)
			}
		}
	}
	if !strings.Contains(out.String(), `"Unit":"Milliseconds"`) || !strings.Contains(out.String(), `"Namespace":"sdp"`) {
		t.Errorf("unit or namespace missing:\n%s", out.String())
	}

	// Second flush: only what changed since the first.
	p.EventsAccepted.Add(3, "ingest")
	p.EventsAccepted.Add(0, "other") // a zero delta is omitted
	p.EndToEndLatency.Observe(42, "persist")
	out.Reset()
	if err := r.FlushEMF(&out, now); err != nil {
		t.Fatal(err)
	}
	sums := sumEMF(t, out.Bytes())
	want := map[string]float64{"EventsAccepted": 3, "EndToEndLatency#": 1}
	if fmt.Sprint(sums) != fmt.Sprint(want) {
		t.Fatalf("second flush sums %v, want %v:\n%s", sums, want, out.String())
	}
	if strings.Contains(out.String(), `"other"`) {
		t.Errorf("zero delta written:\n%s", out.String())
	}

	// Third flush with no changes writes nothing.
	out.Reset()
	if err := r.FlushEMF(&out, now); err != nil || out.Len() != 0 {
		t.Fatalf("empty flush wrote %q, %v", out.String(), err)
	}
}

func TestFlushEMFManyMetricsOneLineSet(t *testing.T) {
	t.Parallel()
	r := NewRegistry("sdp")
	for i := range 45 {
		r.Counter(fmt.Sprintf("M%02d", i), "m", Count, "Function").Add(1, "f")
	}
	var out bytes.Buffer
	if err := r.FlushEMF(&out, time.Now()); err != nil {
		t.Fatal(err)
	}
	lines := emfLines(t, out.Bytes())
	if len(lines) != 2 {
		t.Fatalf("45 metrics should be split in 2 lines of at most 30, got %d", len(lines))
	}
	if sums := sumEMF(t, out.Bytes()); len(sums) != 45 {
		t.Fatalf("got %d metrics, want 45", len(sums))
	}
}

func TestFlushEMFEscapesAndWriteError(t *testing.T) {
	t.Parallel()
	r := NewRegistry("sdp")
	c := r.Counter("C", "c", Count, "Function")
	c.Add(1, "q\"uote\\\n\xff")
	var out bytes.Buffer
	if err := r.FlushEMF(&out, time.Now()); err != nil {
		t.Fatal(err)
	}
	m := emfLines(t, out.Bytes())[0]
	if m["Function"] != "q\"uote\\\n\uFFFD" {
		t.Errorf("dimension value %q", m["Function"])
	}
	c.Add(1, "f")
	if err := r.FlushEMF(failingWriter{}, time.Now()); err == nil || !errors.Is(err, errWrite) {
		t.Fatalf("want the write error wrapped, got %v", err)
	}
}

var errWrite = errors.New("disk full")

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errWrite }

func TestNonFiniteValuesIgnored(t *testing.T) {
	t.Parallel()
	r := NewRegistry("sdp")
	c := r.Counter("C", "c", Count)
	h := r.Histogram("H", "h", Milliseconds, []float64{1}, "Function")
	c.Add(-1)
	c.Add(math.NaN())
	c.Add(math.Inf(1))
	h.Observe(math.NaN(), "f")
	h.Observe(math.Inf(-1), "f")
	var out bytes.Buffer
	if err := r.FlushEMF(&out, time.Now()); err != nil || out.Len() != 0 {
		t.Fatalf("non-finite values reached EMF: %q %v", out.String(), err)
	}
}

func BenchmarkFlushEMF(b *testing.B) {
	r := NewRegistry("sdp")
	p := NewPipeline(r)
	b.ReportAllocs()
	for b.Loop() {
		p.EventsAccepted.Add(10, "ingest")
		p.BatchSize.Observe(100, "consumer")
		_ = r.FlushEMF(discard{}, time.Time{})
	}
}
