package loadtest

import (
	"encoding/json"
	"fmt"
	"html"
	"html/template"
	"io"
	"math"
	"sort"
	"strings"
	"time"
)

// MarshalJSON writes the latencies as nanoseconds ("p50") and as
// milliseconds ("p50Ms").
func (l Latencies) MarshalJSON() ([]byte, error) {
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	return json.Marshal(struct {
		P50    time.Duration `json:"p50"`
		P90    time.Duration `json:"p90"`
		P95    time.Duration `json:"p95"`
		P99    time.Duration `json:"p99"`
		P999   time.Duration `json:"p999"`
		Max    time.Duration `json:"max"`
		Mean   time.Duration `json:"mean"`
		P50Ms  float64       `json:"p50Ms"`
		P90Ms  float64       `json:"p90Ms"`
		P95Ms  float64       `json:"p95Ms"`
		P99Ms  float64       `json:"p99Ms"`
		P999Ms float64       `json:"p999Ms"`
		MaxMs  float64       `json:"maxMs"`
		MeanMs float64       `json:"meanMs"`
	}{l.P50, l.P90, l.P95, l.P99, l.P999, l.Max, l.Mean,
		ms(l.P50), ms(l.P90), ms(l.P95), ms(l.P99), ms(l.P999), ms(l.Max), ms(l.Mean)})
}

// UnmarshalJSON reads what MarshalJSON writes (the nanosecond fields).
func (l *Latencies) UnmarshalJSON(b []byte) error {
	var v struct {
		P50, P90, P95, P99, P999, Max, Mean time.Duration
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("latencies: %w", err)
	}
	*l = Latencies(v)
	return nil
}

// summaryJSON is the wire form of a Summary.
type summaryJSON struct {
	Target     string            `json:"target"`
	Requests   uint64            `json:"requests"`
	Events     uint64            `json:"events"`
	Accepted   uint64            `json:"accepted"`
	Rejected   uint64            `json:"rejected"`
	Errors     uint64            `json:"errors"`
	Bytes      uint64            `json:"bytes"`
	Codes      map[string]uint64 `json:"codes"`
	Duration   time.Duration     `json:"duration"`
	DurationMs float64           `json:"durationMs"`
	TargetRate float64           `json:"targetRate"`
	Rate       float64           `json:"rate"`
	EventRate  float64           `json:"eventRate"`
	Latency    Latencies         `json:"latency"`
	Saturated  bool              `json:"saturated"`
	Workers    int               `json:"workers"`
	ErrorRatio float64           `json:"errorRatio"`
}

// MarshalJSON writes the summary with camelCase keys; durations are
// nanoseconds, with a "…Ms" twin in milliseconds.
func (s Summary) MarshalJSON() ([]byte, error) {
	return json.Marshal(summaryJSON{
		Target: s.Target, Requests: s.Requests, Events: s.Events, Accepted: s.Accepted,
		Rejected: s.Rejected, Errors: s.Errors, Bytes: s.Bytes, Codes: s.Codes,
		Duration: s.Duration, DurationMs: float64(s.Duration) / float64(time.Millisecond),
		TargetRate: s.TargetRate, Rate: s.Rate, EventRate: s.EventRate, Latency: s.Latency,
		Saturated: s.Saturated, Workers: s.Workers, ErrorRatio: s.ErrorRatio,
	})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (s *Summary) UnmarshalJSON(b []byte) error {
	var v summaryJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return fmt.Errorf("summary: %w", err)
	}
	*s = Summary{
		Target: v.Target, Requests: v.Requests, Events: v.Events, Accepted: v.Accepted,
		Rejected: v.Rejected, Errors: v.Errors, Bytes: v.Bytes, Codes: v.Codes,
		Duration: v.Duration, TargetRate: v.TargetRate, Rate: v.Rate, EventRate: v.EventRate,
		Latency: v.Latency, Saturated: v.Saturated, Workers: v.Workers, ErrorRatio: v.ErrorRatio,
	}
	return nil
}

// JSON writes the summary as one indented JSON document.
func (s Summary) JSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s); err != nil {
		return fmt.Errorf("write summary JSON: %w", err)
	}
	return nil
}

// fmtDuration rounds d for reading: milliseconds above a second, tens of
// microseconds above a millisecond, microseconds below.
func fmtDuration(d time.Duration) string {
	switch {
	case d >= time.Second:
		return d.Round(time.Millisecond).String()
	case d >= time.Millisecond:
		return d.Round(10 * time.Microsecond).String()
	default:
		return d.Round(time.Microsecond).String()
	}
}

// codeList returns the codes as "code:count" sorted by code.
func codeList(codes map[string]uint64) string {
	keys := make([]string, 0, len(codes))
	for k := range codes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s:%d", k, codes[k])
	}
	return strings.Join(parts, "  ")
}

// Text writes the final summary as aligned text.
func (s Summary) Text(w io.Writer) error {
	l := s.Latency
	sat := ""
	if s.Saturated {
		sat = " (saturated: hits waited for a worker)"
	}
	lines := [][2]string{
		{"Target", s.Target},
		{"Requests   [total, rate, target]", fmt.Sprintf("%d, %.2f/s, %.2f/s", s.Requests, s.Rate, s.TargetRate)},
		{"Events     [total, rate, accepted, rejected]", fmt.Sprintf("%d, %.2f/s, %d, %d", s.Events, s.EventRate, s.Accepted, s.Rejected)},
		{"Duration", fmtDuration(s.Duration)},
		{"Latencies  [p50, p90, p95, p99, p99.9, max, mean]", strings.Join([]string{
			fmtDuration(l.P50), fmtDuration(l.P90), fmtDuration(l.P95), fmtDuration(l.P99),
			fmtDuration(l.P999), fmtDuration(l.Max), fmtDuration(l.Mean)}, ", ")},
		{"Bytes", fmt.Sprintf("%d", s.Bytes)},
		{"Errors     [total, ratio]", fmt.Sprintf("%d, %.2f%%", s.Errors, 100*s.ErrorRatio)},
		{"Codes      [code:count]", codeList(s.Codes)},
		{"Workers", fmt.Sprintf("%d%s", s.Workers, sat)},
	}
	// Labels are padded to one column so the values line up.
	width := 0
	for _, kv := range lines {
		width = max(width, len(kv[0]))
	}
	var b strings.Builder
	for _, kv := range lines {
		fmt.Fprintf(&b, "%-*s  %s\n", width, kv[0], kv[1])
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write summary: %w", err)
	}
	return nil
}

// LiveLine formats a one-line progress report:
// "12.3s  rate 998/s (target 1000)  errors 0.0%  p50 3ms  p99 12ms  workers 8".
func LiveLine(s Summary) string {
	line := fmt.Sprintf("%.1fs  rate %.0f/s (target %.0f)  errors %.1f%%  p50 %s  p99 %s  workers %d",
		s.Duration.Seconds(), s.Rate, s.TargetRate, 100*s.ErrorRatio,
		fmtDuration(s.Latency.P50), fmtDuration(s.Latency.P99), s.Workers)
	if s.Saturated {
		line += "  SATURATED"
	}
	return line
}

// series is one line of a chart.
type series struct {
	name   string
	color  string
	values []float64
}

// Chart geometry, in SVG user units.
const (
	chartW, chartH         = 760, 260
	padL, padR, padT, padB = 64, 16, 28, 36
)

// niceCeil rounds v up to 1, 2 or 5 times a power of ten.
func niceCeil(v float64) float64 {
	if !(v > 0) {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(v)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= v {
			return m * p
		}
	}
	return 10 * p
}

// fmtNumber formats an axis label compactly.
func fmtNumber(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.3gM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.3gk", v/1e3)
	default:
		return fmt.Sprintf("%.4g", v)
	}
}

// lineChart draws series over seconds as an inline SVG element.
func lineChart(title, unit string, ss []series) string {
	// The y axis runs from 0 to a round number above the highest value.
	n := 0
	top := 0.0
	for _, s := range ss {
		n = max(n, len(s.values))
		for _, v := range s.values {
			if !math.IsNaN(v) {
				top = math.Max(top, v)
			}
		}
	}
	top = niceCeil(top)
	plotW, plotH := float64(chartW-padL-padR), float64(chartH-padT-padB)
	// x places second i; a single second sits in the middle.
	x := func(i int) float64 {
		if n <= 1 {
			return padL + plotW/2
		}
		return padL + plotW*float64(i)/float64(n-1)
	}
	y := func(v float64) float64 { return padT + plotH*(1-v/top) }

	// Only numbers and escaped labels go into the markup.
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %d %d" width="%d" height="%d" role="img" aria-label="%s">`,
		chartW, chartH, chartW, chartH, html.EscapeString(title))
	fmt.Fprintf(&b, `<text x="%d" y="18" class="title">%s (%s)</text>`, padL, html.EscapeString(title), html.EscapeString(unit))
	// Horizontal grid with value labels.
	for i := 0; i <= 4; i++ {
		v := top * float64(i) / 4
		fmt.Fprintf(&b, `<line x1="%d" x2="%d" y1="%.1f" y2="%.1f" class="grid"/>`, padL, chartW-padR, y(v), y(v))
		fmt.Fprintf(&b, `<text x="%d" y="%.1f" class="axis" text-anchor="end">%s</text>`, padL-6, y(v)+4, fmtNumber(v))
	}
	// Second labels along the bottom, about ten of them.
	step := max(1, (n+9)/10)
	for i := 0; i < n; i += step {
		fmt.Fprintf(&b, `<text x="%.1f" y="%d" class="axis" text-anchor="middle">%ds</text>`, x(i), chartH-padB+16, i)
	}
	for k, s := range ss {
		// A NaN is a gap: the line breaks there. A lone point is a dot.
		var pts []string
		flush := func() {
			switch len(pts) {
			case 0:
			case 1:
				xy := strings.Split(pts[0], ",")
				fmt.Fprintf(&b, `<circle cx="%s" cy="%s" r="2" fill="%s"/>`, xy[0], xy[1], s.color)
			default:
				fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>`, s.color, strings.Join(pts, " "))
			}
			pts = pts[:0]
		}
		for i, v := range s.values {
			if math.IsNaN(v) {
				flush()
				continue
			}
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", x(i), y(v)))
		}
		flush()
		// The legend runs along the top right, one entry per series.
		lx := chartW - padR - 120*(len(ss)-k)
		fmt.Fprintf(&b, `<rect x="%d" y="8" width="10" height="10" fill="%s"/><text x="%d" y="17" class="axis">%s</text>`,
			lx, s.color, lx+14, html.EscapeString(s.name))
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// reportPage is the HTML report; it loads nothing from outside the page.
var reportPage = template.Must(template.New("report").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Load test {{.S.Target}}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin-bottom: 2em; }
td, th { padding: 0.25em 1em; border-bottom: 1px solid #ddd; text-align: left; }
.chart { display: block; margin-bottom: 1.5em; }
.chart .grid { stroke: #e4e4e4; }
.chart .axis { font-size: 11px; fill: #555; }
.chart .title { font-size: 13px; font-weight: 600; }
</style>
</head>
<body>
<h1>Load test {{.S.Target}}</h1>
<table>
{{range .Rows}}<tr><th>{{index . 0}}</th><td>{{index . 1}}</td></tr>
{{end}}</table>
{{range .Charts}}{{.}}
{{end}}</body>
</html>
`))

// WriteHTML writes a self-contained HTML report: the summary table and, from
// m's per-second buckets, charts of latency over time (p50 and p99, by
// intended second) and of throughput (hits and errors per second, and
// events per second when hits carry events), as inline SVG with no scripts
// and no external assets. m may be nil for the table alone.
func WriteHTML(w io.Writer, s Summary, m *Metrics) error {
	l := s.Latency
	rows := [][2]string{
		{"Requests", fmt.Sprintf("%d", s.Requests)},
		{"Rate (achieved / target)", fmt.Sprintf("%.2f/s / %.2f/s", s.Rate, s.TargetRate)},
		{"Events (accepted / rejected)", fmt.Sprintf("%d (%d / %d)", s.Events, s.Accepted, s.Rejected)},
		{"Event rate", fmt.Sprintf("%.2f/s", s.EventRate)},
		{"Duration", fmtDuration(s.Duration)},
		{"Latency p50 / p90 / p95", fmt.Sprintf("%s / %s / %s", fmtDuration(l.P50), fmtDuration(l.P90), fmtDuration(l.P95))},
		{"Latency p99 / p99.9 / max", fmt.Sprintf("%s / %s / %s", fmtDuration(l.P99), fmtDuration(l.P999), fmtDuration(l.Max))},
		{"Latency mean", fmtDuration(l.Mean)},
		{"Errors", fmt.Sprintf("%d (%.2f%%)", s.Errors, 100*s.ErrorRatio)},
		{"Codes", codeList(s.Codes)},
		{"Workers", fmt.Sprintf("%d", s.Workers)},
		{"Saturated", fmt.Sprintf("%t", s.Saturated)},
	}
	// Charts come from the per-second buckets; latency gaps are seconds in
	// which no hit was intended.
	var charts []template.HTML
	if m != nil {
		secs := m.Seconds()
		p50 := make([]float64, len(secs))
		p99 := make([]float64, len(secs))
		hits := make([]float64, len(secs))
		errs := make([]float64, len(secs))
		events := make([]float64, len(secs))
		anyEvents := false
		for i, sec := range secs {
			p50[i], p99[i] = math.NaN(), math.NaN() // no hit intended in this second
			if sec.Intended > 0 {
				p50[i] = float64(sec.P50) / float64(time.Millisecond)
				p99[i] = float64(sec.P99) / float64(time.Millisecond)
			}
			hits[i] = float64(sec.Requests)
			errs[i] = float64(sec.Errors)
			events[i] = float64(sec.Events)
			anyEvents = anyEvents || sec.Events > 0
		}
		// The SVG is built from numbers and escaped labels only.
		charts = append(charts,
			template.HTML(lineChart("Latency", "ms, by intended second", []series{
				{"p50", "#1f77b4", p50}, {"p99", "#d62728", p99}})),
			template.HTML(lineChart("Throughput", "per second", []series{
				{"hits", "#2ca02c", hits}, {"errors", "#d62728", errs}})))
		if anyEvents {
			charts = append(charts, template.HTML(lineChart("Events", "per second", []series{
				{"events", "#9467bd", events}})))
		}
	}
	err := reportPage.Execute(w, struct {
		S      Summary
		Rows   [][2]string
		Charts []template.HTML
	}{s, rows, charts})
	if err != nil {
		return fmt.Errorf("write HTML report: %w", err)
	}
	return nil
}
