package loadtest

import (
	"bytes"
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"
)

// sampleSummary is a summary with every field set.
func sampleSummary() Summary {
	ms := time.Millisecond
	return Summary{
		Target: "http://127.0.0.1:8080/v1/events", Requests: 1000, Events: 5000, Accepted: 4990, Rejected: 10,
		Errors: 3, Bytes: 123456, Codes: map[string]uint64{"202": 997, "503": 3},
		Duration: 12345 * ms, TargetRate: 1000, Rate: 998.4, EventRate: 4992,
		Latency: Latencies{P50: 3 * ms, P90: 5 * ms, P95: 7 * ms, P99: 12 * ms, P999: 40 * ms, Max: 51 * ms, Mean: 3500 * time.Microsecond},
		Workers: 8, ErrorRatio: 0.003,
	}
}

func TestLiveLine(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		sum  func() Summary
		want string
	}{
		{"steady", sampleSummary, "12.3s  rate 998/s (target 1000)  errors 0.3%  p50 3ms  p99 12ms  workers 8"},
		{"saturated", func() Summary { s := sampleSummary(); s.Saturated = true; return s },
			"12.3s  rate 998/s (target 1000)  errors 0.3%  p50 3ms  p99 12ms  workers 8  SATURATED"},
		{"empty", func() Summary { return Summary{} }, "0.0s  rate 0/s (target 0)  errors 0.0%  p50 0s  p99 0s  workers 0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := LiveLine(tc.sum()); got != tc.want {
				t.Errorf("LiveLine = %q\nwant        %q", got, tc.want)
			}
		})
	}
}

func TestSummaryText(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	if err := sampleSummary().Text(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"Target ",
		"http://127.0.0.1:8080/v1/events\n",
		"1000, 998.40/s, 1000.00/s\n",
		"5000, 4992.00/s, 4990, 10\n",
		"12.345s\n",
		"3ms, 5ms, 7ms, 12ms, 40ms, 51ms, 3.5ms\n",
		"3, 0.30%\n",
		"202:997  503:3\n",
		"Workers ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text summary lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "\n"); n != 9 {
		t.Errorf("%d lines, want 9:\n%s", n, out)
	}
}

func TestSummaryJSON(t *testing.T) {
	t.Parallel()
	in := sampleSummary()
	var b bytes.Buffer
	if err := in.JSON(&b); err != nil {
		t.Fatal(err)
	}
	var raw map[string]any
	if err := json.Unmarshal(b.Bytes(), &raw); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b.String())
	}
	cases := []struct {
		key  string
		want any
	}{
		{"target", in.Target},
		{"requests", 1000.0},
		{"targetRate", 1000.0},
		{"eventRate", 4992.0},
		{"errorRatio", 0.003},
		{"duration", float64(12345 * time.Millisecond)},
		{"durationMs", 12345.0},
		{"saturated", false},
		{"workers", 8.0},
	}
	for _, c := range cases {
		if raw[c.key] != c.want {
			t.Errorf("%s = %v, want %v", c.key, raw[c.key], c.want)
		}
	}
	lat, _ := raw["latency"].(map[string]any)
	if lat["p99Ms"] != 12.0 || lat["p99"] != float64(12*time.Millisecond) || lat["meanMs"] != 3.5 {
		t.Errorf("latency = %v", lat)
	}
	var back Summary
	if err := json.Unmarshal(b.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, in) {
		t.Errorf("round trip:\n got %+v\nwant %+v", back, in)
	}
}

func TestWriteHTML(t *testing.T) {
	t.Parallel()
	base := time.Now()
	m := NewMetrics()
	for i := range 3000 {
		at := time.Duration(i) * time.Millisecond
		m.Add(result(base, uint64(i), at, 0, time.Duration(1+i%50)*time.Millisecond, Response{Events: 2, Code: "202"}))
	}
	sum := m.Summary()
	sum.Target = `<script src="http://evil.example/x.js"></script>`
	cases := []struct {
		name   string
		m      *Metrics
		charts int
	}{
		{"with charts", m, 3},
		{"table only", nil, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var b bytes.Buffer
			if err := WriteHTML(&b, sum, tc.m); err != nil {
				t.Fatal(err)
			}
			out := b.String()
			if !strings.HasPrefix(out, "<!DOCTYPE html>") || !strings.HasSuffix(strings.TrimSpace(out), "</html>") {
				t.Error("not a whole HTML document")
			}
			if strings.Contains(strings.ToLower(out), "<script") {
				t.Error("report contains a script element")
			}
			for _, attr := range []string{`src="http`, `href="http`, `src='http`, "@import"} {
				if strings.Contains(out, attr) {
					t.Errorf("report loads an external asset (%s)", attr)
				}
			}
			if got := strings.Count(out, "<svg"); got != tc.charts || strings.Count(out, "</svg>") != got {
				t.Errorf("%d <svg> (%d closed), want %d", got, strings.Count(out, "</svg>"), tc.charts)
			}
			if got := strings.Count(out, "<polyline"); got != 2*min(tc.charts, 2)+max(tc.charts-2, 0) {
				t.Errorf("%d polylines", got)
			}
			for _, want := range []string{"<table>", "</table>", "Latency p99 / p99.9 / max", "&lt;script"} {
				if !strings.Contains(out, want) {
					t.Errorf("report lacks %q", want)
				}
			}
			for _, tag := range []string{"table", "tr", "svg", "text"} {
				if o, c := strings.Count(out, "<"+tag+">")+strings.Count(out, "<"+tag+" "), strings.Count(out, "</"+tag+">"); o != c {
					t.Errorf("<%s>: %d opened, %d closed", tag, o, c)
				}
			}
		})
	}
}

func TestLineChartGaps(t *testing.T) {
	t.Parallel()
	nan := math.NaN()
	cases := []struct {
		name               string
		values             []float64
		polylines, circles int
	}{
		{"whole line", []float64{1, 2, 3}, 1, 0},
		{"gap splits", []float64{1, 2, nan, 3, 4}, 2, 0},
		{"lone point is a dot", []float64{1, 2, nan, 3}, 1, 1},
		{"all gaps", []float64{nan, nan}, 0, 0},
		{"empty", nil, 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			svg := lineChart("t", "u", []series{{"s", "#000", tc.values}})
			if got := strings.Count(svg, "<polyline"); got != tc.polylines {
				t.Errorf("%d polylines, want %d", got, tc.polylines)
			}
			if got := strings.Count(svg, "<circle"); got != tc.circles {
				t.Errorf("%d circles, want %d", got, tc.circles)
			}
			if strings.Contains(svg, "NaN") || strings.Contains(svg, "Inf") {
				t.Errorf("non-number in SVG: %s", svg)
			}
		})
	}
}
