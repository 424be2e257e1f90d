package telemetry

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
)

// prometheusContentType is the content type of the text exposition format 0.0.4.
const prometheusContentType = "text/plain; version=0.0.4; charset=utf-8"

// WritePrometheus writes every metric in the Prometheus text exposition format 0.0.4: names
// <namespace>_<snake_case(name)>, counters with the _total suffix, histograms as _bucket{le=...}/_sum/_count,
// dims as labels with snake_case names, HELP and TYPE lines, label values escaped; cumulative since start.
// Series are sorted by their label values. A metric with no series yet is written with HELP and TYPE only.
func (r *Registry) WritePrometheus(w io.Writer) error {
	bw := bufio.NewWriter(w)
	for _, m := range r.snapshot() {
		switch m := m.(type) {
		case *Counter:
			writeCounter(bw, r.namespace, m)
		case *Histogram:
			writeHistogram(bw, r.namespace, m)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("telemetry: write the Prometheus metrics: %w", err)
	}
	return nil
}

// Handler serves WritePrometheus (GET/HEAD; Content-Type "text/plain; version=0.0.4; charset=utf-8"). Other
// methods get 405.
func (r *Registry) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method != http.MethodGet && req.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed: use GET or HEAD", http.StatusMethodNotAllowed)
			return
		}
		var buf bytes.Buffer
		if err := r.WritePrometheus(&buf); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", prometheusContentType)
		w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
		if req.Method == http.MethodHead {
			return
		}
		_, _ = w.Write(buf.Bytes()) // the client went away; nothing to do
	})
}

func writeHeader(w *bufio.Writer, name, help, typ string) {
	w.WriteString("# HELP ")
	w.WriteString(name)
	w.WriteByte(' ')
	w.WriteString(escapeHelp(help))
	w.WriteString("\n# TYPE ")
	w.WriteString(name)
	w.WriteByte(' ')
	w.WriteString(typ)
	w.WriteByte('\n')
}

func writeCounter(w *bufio.Writer, namespace string, c *Counter) {
	name := promName(namespace, c.name) + "_total"
	writeHeader(w, name, c.help, "counter")
	labels := promLabels(c.dims)
	for _, e := range c.series.all() {
		w.WriteString(name)
		writeLabels(w, labels, e.values, "")
		w.WriteByte(' ')
		w.WriteString(promFloat(e.s.load()))
		w.WriteByte('\n')
	}
}

func writeHistogram(w *bufio.Writer, namespace string, h *Histogram) {
	name := promName(namespace, h.name)
	writeHeader(w, name, h.help, "histogram")
	labels := promLabels(h.dims)
	for _, e := range h.series.all() {
		s := e.s
		s.mu.Lock()
		counts := append([]uint64(nil), s.counts...)
		sum, count := s.sum, s.count
		s.mu.Unlock()
		var cum uint64
		for i, n := range counts {
			cum += n
			le := "+Inf"
			if i < len(h.buckets) {
				le = promFloat(h.buckets[i])
			}
			w.WriteString(name)
			w.WriteString("_bucket")
			writeLabels(w, labels, e.values, le)
			w.WriteByte(' ')
			w.WriteString(strconv.FormatUint(cum, 10))
			w.WriteByte('\n')
		}
		w.WriteString(name)
		w.WriteString("_sum")
		writeLabels(w, labels, e.values, "")
		w.WriteByte(' ')
		w.WriteString(promFloat(sum))
		w.WriteString("\n")
		w.WriteString(name)
		w.WriteString("_count")
		writeLabels(w, labels, e.values, "")
		w.WriteByte(' ')
		w.WriteString(strconv.FormatUint(count, 10))
		w.WriteByte('\n')
	}
}

// writeLabels writes {l1="v1",...} and le="..." when le is set; nothing when there are no labels.
func writeLabels(w *bufio.Writer, labels, values []string, le string) {
	if len(labels) == 0 && le == "" {
		return
	}
	w.WriteByte('{')
	for i, l := range labels {
		if i > 0 {
			w.WriteByte(',')
		}
		w.WriteString(l)
		w.WriteString(`="`)
		w.WriteString(escapeLabel(values[i]))
		w.WriteByte('"')
	}
	if le != "" {
		if len(labels) > 0 {
			w.WriteByte(',')
		}
		w.WriteString(`le="`)
		w.WriteString(le)
		w.WriteByte('"')
	}
	w.WriteByte('}')
}

// escapeLabel escapes a label value: backslash, double quote and line feed.
func escapeLabel(s string) string { return escapeProm(s, true) }

// escapeHelp escapes HELP text: backslash and line feed.
func escapeHelp(s string) string { return escapeProm(s, false) }

func escapeProm(s string, quote bool) string {
	if !strings.ContainsAny(s, "\\\n\"") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b.WriteString(`\\`)
		case c == '\n':
			b.WriteString(`\n`)
		case c == '"' && quote:
			b.WriteString(`\"`)
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

func promFloat(v float64) string {
	switch {
	case math.IsInf(v, 1):
		return "+Inf"
	case math.IsInf(v, -1):
		return "-Inf"
	case math.IsNaN(v):
		return "NaN"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

func promName(namespace, name string) string {
	if namespace == "" {
		return snakeCase(name)
	}
	return snakeCase(namespace) + "_" + snakeCase(name)
}

func promLabels(dims []string) []string {
	out := make([]string, len(dims))
	for i, d := range dims {
		out[i] = snakeCase(d)
	}
	return out
}

// snakeCase turns a CloudWatch-style name into a Prometheus one: "EndToEndLatency" → "end_to_end_latency",
// "DLQWrites" → "dlq_writes". Characters Prometheus names cannot hold become '_'.
func snakeCase(s string) string {
	rs := []rune(s)
	var b strings.Builder
	for i, r := range rs {
		if isUpper(r) {
			prevLower := i > 0 && (isLower(rs[i-1]) || rs[i-1] >= '0' && rs[i-1] <= '9')
			acronymEnd := i > 0 && isUpper(rs[i-1]) && i+1 < len(rs) && isLower(rs[i+1])
			if (prevLower || acronymEnd) && !strings.HasSuffix(b.String(), "_") {
				b.WriteByte('_')
			}
			b.WriteRune(r + ('a' - 'A'))
			continue
		}
		switch {
		case r < 0x80 && (r >= 'a' && r <= 'z' || r == '_' || (r >= '0' && r <= '9' && i > 0)):
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

func isUpper(r rune) bool { return r >= 'A' && r <= 'Z' }

func isLower(r rune) bool { return r >= 'a' && r <= 'z' }
