package telemetry

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/segmentio/encoding/json"
)

// Limits of the CloudWatch Embedded Metric Format specification.
const (
	emfMaxMetrics    = 30  // metric definitions per directive
	emfMaxDimensions = 9   // dimension keys per dimension set
	emfMaxValues     = 100 // values in one metric member's array
)

// emfMetric is one metric member of an EMF line.
type emfMetric struct {
	name   string
	unit   Unit
	scalar float64
	values []float64 // histogram chunk; nil for a counter delta
}

// emfLine is the content of one EMF line: one dimension set with its values, and metrics.
type emfLine struct {
	dims    []string
	values  []string
	metrics []emfMetric
}

// FlushEMF writes, as CloudWatch Embedded Metric Format JSON lines on w, what changed since the previous
// FlushEMF (counters: the delta, omitted when 0; histograms: the values observed, as an array of at most 100
// numbers per line; more values → more lines). One line per dimension-value combination of a metric's
// dimension set; metrics sharing a dimension set and values share a line (up to 30 metrics per line). Each line:
//
//	{"_aws":{"Timestamp":<ms>,"CloudWatchMetrics":[{"Namespace":ns,"Dimensions":[[dims...]],
//	 "Metrics":[{"Name":n,"Unit":u},...]}]}, "<dim>":"<value>", ..., "<name>": value-or-array}
//
// Metrics without dims use "Dimensions":[[]]. now gives the Timestamp. The lines are written with one Write
// call per line, so that a Lambda log line is never split. When a Write fails, the values of that flush are
// lost rather than repeated, since a retry could not know which lines got through.
func (r *Registry) FlushEMF(w io.Writer, now time.Time) error {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()

	// Group the changes by dimension names and values, in declaration order of the first metric of each group.
	var order []string
	groups := map[string][]emfMetric{}
	groupDims := map[string][2][]string{}
	add := func(dims, values []string, m emfMetric) {
		key := strings.Join(dims, "\xff") + "\xfe" + strings.Join(values, "\xff")
		if _, ok := groups[key]; !ok {
			order = append(order, key)
			groupDims[key] = [2][]string{dims, values}
		}
		groups[key] = append(groups[key], m)
	}
	for _, m := range r.snapshot() {
		switch m := m.(type) {
		case *Counter:
			for _, e := range m.series.all() {
				total := e.s.load()
				delta := total - e.s.flushed
				e.s.flushed = total
				if delta != 0 {
					add(m.dims, e.values, emfMetric{name: m.name, unit: m.unit, scalar: delta})
				}
			}
		case *Histogram:
			for _, e := range m.series.all() {
				e.s.mu.Lock()
				pending := e.s.pending
				e.s.pending = nil
				e.s.mu.Unlock()
				for len(pending) > 0 {
					n := min(len(pending), emfMaxValues)
					add(m.dims, e.values, emfMetric{name: m.name, unit: m.unit, values: pending[:n]})
					pending = pending[n:]
				}
			}
		}
	}

	var buf []byte
	ts := now.UnixMilli()
	for _, key := range order {
		dv := groupDims[key]
		for _, line := range splitLines(dv[0], dv[1], groups[key]) {
			buf = appendEMFLine(buf[:0], r.namespace, ts, line)
			if _, err := w.Write(buf); err != nil {
				return fmt.Errorf("telemetry: write the EMF metrics (check the log destination): %w", err)
			}
		}
	}
	return nil
}

// splitLines spreads a group's metrics over lines: a metric name appears at most once per line (histogram
// chunks of the same metric go to successive lines) and a line holds at most emfMaxMetrics metrics.
func splitLines(dims, values []string, metrics []emfMetric) []emfLine {
	var lines []emfLine
	for _, m := range metrics {
		placed := false
		for i := range lines {
			if len(lines[i].metrics) >= emfMaxMetrics || hasMetric(lines[i].metrics, m.name) {
				continue
			}
			lines[i].metrics = append(lines[i].metrics, m)
			placed = true
			break
		}
		if !placed {
			lines = append(lines, emfLine{dims: dims, values: values, metrics: []emfMetric{m}})
		}
	}
	return lines
}

func hasMetric(ms []emfMetric, name string) bool {
	for _, m := range ms {
		if m.name == name {
			return true
		}
	}
	return false
}

func appendEMFLine(b []byte, namespace string, ts int64, l emfLine) []byte {
	b = append(b, `{"_aws":{"Timestamp":`...)
	b = strconv.AppendInt(b, ts, 10)
	b = append(b, `,"CloudWatchMetrics":[{"Namespace":`...)
	b = appendJSONString(b, namespace)
	b = append(b, `,"Dimensions":[[`...)
	for i, d := range l.dims {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, d)
	}
	b = append(b, `]],"Metrics":[`...)
	for i, m := range l.metrics {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"Name":`...)
		b = appendJSONString(b, m.name)
		b = append(b, `,"Unit":`...)
		b = appendJSONString(b, string(m.unit))
		b = append(b, '}')
	}
	b = append(b, `]}]}`...)
	for i, d := range l.dims {
		b = append(b, ',')
		b = appendJSONString(b, d)
		b = append(b, ':')
		b = appendJSONString(b, l.values[i])
	}
	for _, m := range l.metrics {
		b = append(b, ',')
		b = appendJSONString(b, m.name)
		b = append(b, ':')
		if m.values == nil {
			b = appendJSONFloat(b, m.scalar)
			continue
		}
		b = append(b, '[')
		for i, v := range m.values {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONFloat(b, v)
		}
		b = append(b, ']')
	}
	return append(b, '}', '\n')
}

func appendJSONFloat(b []byte, v float64) []byte {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return append(b, '0') // unreachable: Add and Observe drop non-finite values
	}
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// appendJSONString appends s as a JSON string; invalid UTF-8 becomes U+FFFD.
func appendJSONString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// ValidEMF checks one line (one JSON object, a trailing newline allowed) against the CloudWatch Embedded Metric
// Format specification: the _aws object with a numeric Timestamp and a non-empty CloudWatchMetrics array; each
// directive with a non-empty Namespace, Dimensions (sets of at most 9 keys, each naming a top-level string
// member) and at most 30 Metrics; each metric with a Name whose top-level member is a number or a non-empty
// array of at most 100 numbers, and a Unit, when given, that CloudWatch knows. It returns the first violation.
// Other packages' tests use it to check every EMF line a run writes.
func ValidEMF(line []byte) error {
	line = bytes.TrimRight(line, "\n")
	var root map[string]json.RawMessage
	if err := json.Unmarshal(line, &root); err != nil {
		return fmt.Errorf("emf: not a JSON object: %w", err)
	}
	rawAWS, ok := root["_aws"]
	if !ok {
		return errors.New("emf: no _aws member")
	}
	var meta struct {
		Timestamp         json.RawMessage
		CloudWatchMetrics []struct {
			Namespace  *string
			Dimensions [][]string
			Metrics    []struct {
				Name *string
				Unit *string
			}
		}
	}
	if err := json.Unmarshal(rawAWS, &meta); err != nil {
		return fmt.Errorf("emf: _aws is not a valid metadata object: %w", err)
	}
	if !isJSONNumber(meta.Timestamp) {
		return fmt.Errorf("emf: _aws.Timestamp %s is not a number", meta.Timestamp)
	}
	if len(meta.CloudWatchMetrics) == 0 {
		return errors.New("emf: _aws.CloudWatchMetrics is missing or empty")
	}
	for i, d := range meta.CloudWatchMetrics {
		if d.Namespace == nil || *d.Namespace == "" || len(*d.Namespace) > 255 {
			return fmt.Errorf("emf: directive %d: Namespace missing, empty or longer than 255", i)
		}
		if d.Dimensions == nil {
			return fmt.Errorf("emf: directive %d: Dimensions missing", i)
		}
		for _, set := range d.Dimensions {
			if len(set) > emfMaxDimensions {
				return fmt.Errorf("emf: directive %d: dimension set of %d keys (at most %d)", i, len(set), emfMaxDimensions)
			}
			for _, dim := range set {
				raw, ok := root[dim]
				if !ok {
					return fmt.Errorf("emf: directive %d: dimension %q has no member", i, dim)
				}
				var s string
				if err := json.Unmarshal(raw, &s); err != nil {
					return fmt.Errorf("emf: directive %d: dimension %q is not a string: %s", i, dim, raw)
				}
			}
		}
		if len(d.Metrics) == 0 || len(d.Metrics) > emfMaxMetrics {
			return fmt.Errorf("emf: directive %d: %d metrics (want 1 to %d)", i, len(d.Metrics), emfMaxMetrics)
		}
		for _, m := range d.Metrics {
			if m.Name == nil || *m.Name == "" {
				return fmt.Errorf("emf: directive %d: a metric has no Name", i)
			}
			if m.Unit != nil && !validUnit(*m.Unit) {
				return fmt.Errorf("emf: metric %q: unknown Unit %q", *m.Name, *m.Unit)
			}
			raw, ok := root[*m.Name]
			if !ok {
				return fmt.Errorf("emf: metric %q has no member", *m.Name)
			}
			if err := checkMetricValue(raw); err != nil {
				return fmt.Errorf("emf: metric %q: %w", *m.Name, err)
			}
		}
	}
	return nil
}

func checkMetricValue(raw json.RawMessage) error {
	if isJSONNumber(raw) {
		return nil
	}
	var arr []json.RawMessage
	if err := json.Unmarshal(raw, &arr); err != nil {
		return fmt.Errorf("value %s is neither a number nor an array of numbers", raw)
	}
	if len(arr) == 0 || len(arr) > emfMaxValues {
		return fmt.Errorf("array of %d values (want 1 to %d)", len(arr), emfMaxValues)
	}
	for _, v := range arr {
		if !isJSONNumber(v) {
			return fmt.Errorf("array value %s is not a number", v)
		}
	}
	return nil
}

func isJSONNumber(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return false
	}
	var n json.Number
	if c := raw[0]; c != '-' && (c < '0' || c > '9') {
		return false
	}
	return json.Unmarshal(raw, &n) == nil
}

// validUnit reports whether CloudWatch accepts u as a unit.
func validUnit(u string) bool {
	switch u {
	case "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes", "Gigabytes", "Terabytes",
		"Bits", "Kilobits", "Megabits", "Gigabits", "Terabits", "Percent", "Count", "Bytes/Second",
		"Kilobytes/Second", "Megabytes/Second", "Gigabytes/Second", "Terabytes/Second", "Bits/Second",
		"Kilobits/Second", "Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None":
		return true
	}
	return false
}
