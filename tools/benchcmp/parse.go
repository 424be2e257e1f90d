package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// benchLine is one result line of Go benchmark output, in the standard format:
//
//	BenchmarkName[-P]  <iterations>  <value> <unit>  <value> <unit> ...
//
// where P is GOMAXPROCS when above 1, and the units include ns/op, B/op, allocs/op and any metric the
// benchmark reported with b.ReportMetric.
type benchLine struct {
	Name       string // without the -P suffix
	Procs      int    // the -P suffix, 1 without one
	Iterations int
	Metrics    map[string]float64
}

// parseBenchOutput returns the result line of the benchmark named bench in the output of a test binary.
// Other lines (goos:, PASS, logs) are skipped; a benchmark that reported more than one line (-count above 1)
// gives its last.
func parseBenchOutput(out []byte, bench string) (benchLine, error) {
	var found benchLine
	ok := false
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		l, err := parseBenchLine(sc.Text())
		if err != nil || l.Name != bench {
			continue
		}
		found, ok = l, true
	}
	if err := sc.Err(); err != nil {
		return benchLine{}, fmt.Errorf("reading benchmark output: %w", err)
	}
	if !ok {
		return benchLine{}, fmt.Errorf("no result line of %s in the output (does the benchmark exist, or did it skip?)", bench)
	}
	return found, nil
}

// errNotBenchLine is returned for a line that is not a benchmark result.
var errNotBenchLine = errors.New("not a benchmark result line")

// parseBenchLine parses one benchmark result line.
func parseBenchLine(line string) (benchLine, error) {
	f := strings.Fields(line)
	// A name, the iterations, and value-unit pairs.
	if len(f) < 4 || len(f)%2 != 0 || !strings.HasPrefix(f[0], "Benchmark") {
		return benchLine{}, errNotBenchLine
	}
	l := benchLine{Name: f[0], Procs: 1, Metrics: make(map[string]float64, (len(f)-2)/2)}
	if i := strings.LastIndexByte(l.Name, '-'); i > 0 {
		if p, err := strconv.Atoi(l.Name[i+1:]); err == nil && p > 0 {
			l.Name, l.Procs = l.Name[:i], p
		}
	}
	n, err := strconv.Atoi(f[1])
	if err != nil {
		return benchLine{}, fmt.Errorf("%w: iterations %q", errNotBenchLine, f[1])
	}
	l.Iterations = n
	// The testing package prints large values as whole numbers and small ones with decimals; ParseFloat
	// reads both, and any exponent form too.
	for i := 2; i < len(f); i += 2 {
		v, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return benchLine{}, fmt.Errorf("%w: value %q of %s", errNotBenchLine, f[i], f[i+1])
		}
		l.Metrics[f[i+1]] = v
	}
	return l, nil
}

// anchorResult is the JSON line a Node.js anchor prints last.
type anchorResult struct {
	Name string `json:"name"`
	// Records (consumer anchors) or Events (the validation anchor) processed while timed.
	Records float64 `json:"records,omitempty"`
	Events  float64 `json:"events,omitempty"`
	Seconds float64 `json:"seconds"`
	// Rate is records or events per second.
	Rate float64 `json:"rate"`
	// Failures is the number of records or events that failed in one pass over the input.
	Failures   int `json:"failures"`
	Iterations int `json:"iterations"`
	PerPass    int `json:"perPass"`
	// Digest hashes the outputs of one pass (the workflow input and the batch response of the consumer
	// anchors), so that anchors doing the same work can be compared.
	Digest string `json:"digest"`
}

// parseAnchorOutput reads the last JSON line of an anchor's output and checks that it is a measurement.
func parseAnchorOutput(out []byte) (anchorResult, error) {
	// Node.js may print warnings first; the anchors print their result line last.
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var last string
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); strings.HasPrefix(l, "{") {
			last = l
			break
		}
	}
	if last == "" {
		return anchorResult{}, fmt.Errorf("no JSON result line in the output %q", tail(out, 5))
	}
	var r anchorResult
	if err := json.Unmarshal([]byte(last), &r); err != nil {
		return anchorResult{}, fmt.Errorf("result line %q: %w", last, err)
	}
	switch {
	case r.Name == "":
		return r, fmt.Errorf("result line %q: no name", last)
	case !(r.Seconds > 0) || !(r.Rate > 0):
		return r, fmt.Errorf("result line %q: want positive seconds and rate", last)
	case r.Records <= 0 && r.Events <= 0:
		return r, fmt.Errorf("result line %q: no records or events counted", last)
	}
	return r, nil
}
