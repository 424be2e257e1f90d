package main

import (
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
)

// series is one measurement's results over the rounds.
type series struct {
	Name string
	Unit string
	// Rates holds one rate per round; Allocs, for Go benchmarks, the allocations per operation of each round
	// (-1 when not reported).
	Rates  []float64
	Allocs []float64
	// Metrics holds, for Go benchmarks, every metric of each round's result line.
	Metrics []map[string]float64
}

// baselines names, for each anchor, the Go measurement it is compared with.
var baselines = map[string]string{
	namePowertools: nameGoConsumer,
	nameNodeAjv:    nameGoConsumer,
	nameAjv:        nameGoValidate,
}

// row is one line of the table and of results.json.
type row struct {
	Name   string    `json:"name"`
	Unit   string    `json:"unit"`
	Rates  []float64 `json:"rates"`
	Median float64   `json:"median"`
	// AllocsPerOp is the median of the Go benchmark's allocs/op; absent for the anchors.
	AllocsPerOp *float64 `json:"allocsPerOp,omitempty"`
	// GoSpeedup is how many times faster the Go measurement this anchor is compared with is; absent for the
	// Go rows.
	GoSpeedup *float64 `json:"goSpeedup,omitempty"`
	// Metrics are the Go benchmark's result lines, one per round: ns/op, B/op and its custom metrics.
	Metrics []map[string]float64 `json:"metrics,omitempty"`
}

// report is the outcome of a comparison: its rows and the two summary lines.
type report struct {
	Rows  []row
	Lines [2]string
}

// buildReport takes the medians over the rounds and the ratios of the Go rates to the anchors'.
func buildReport(all []*series) report {
	// The median resists one round disturbed by another process on the machine better than the mean.
	medians := make(map[string]float64, len(all))
	for _, s := range all {
		medians[s.Name] = median(s.Rates)
	}
	var rep report
	for _, s := range all {
		r := row{Name: s.Name, Unit: s.Unit, Rates: s.Rates, Median: medians[s.Name], Metrics: s.Metrics}
		if len(s.Allocs) > 0 {
			var reported []float64
			for _, a := range s.Allocs {
				if a >= 0 {
					reported = append(reported, a)
				}
			}
			if len(reported) > 0 {
				m := median(reported)
				r.AllocsPerOp = &m
			}
		}
		// Above 1 means Go is faster than the anchor.
		if base, ok := baselines[s.Name]; ok && r.Median > 0 {
			x := medians[base] / r.Median
			r.GoSpeedup = &x
		}
		rep.Rows = append(rep.Rows, r)
	}
	rep.Lines = summaryLines(medians)
	return rep
}

// summaryLines renders the comparison's two closing lines from the median rates by name:
//
//	consumer: <records/s> records/s, <r>x powertools, <q>x node+ajv
//	validate: <events/s> events/s, <v>x ajv
func summaryLines(medians map[string]float64) [2]string {
	goC, goV := medians[nameGoConsumer], medians[nameGoValidate]
	return [2]string{
		fmt.Sprintf("consumer: %s records/s, %sx %s, %sx %s", formatRate(goC),
			formatRatio(goC, medians[namePowertools]), namePowertools, formatRatio(goC, medians[nameNodeAjv]), nameNodeAjv),
		fmt.Sprintf("validate: %s events/s, %sx %s", formatRate(goV), formatRatio(goV, medians[nameAjv]), nameAjv),
	}
}

// writeTable prints the rows: name, median rate, allocs/op (or "-") and how many times faster Go is.
func writeTable(w io.Writer, rep report) {
	const format = "%-12s %14s %-10s %12s %7s\n"
	fmt.Fprintf(w, format, "name", "median rate", "unit", "allocs/op", "go is")
	for _, r := range rep.Rows {
		allocs, ratio := "-", "-"
		if r.AllocsPerOp != nil {
			allocs = formatAllocs(*r.AllocsPerOp)
		}
		if r.GoSpeedup != nil {
			ratio = strconv.FormatFloat(*r.GoSpeedup, 'f', 2, 64) + "x"
		}
		fmt.Fprintf(w, format, r.Name, formatRate(r.Median), r.Unit, allocs, ratio)
	}
}

// median returns the middle of xs (the mean of the two middle values for an even count), 0 for none.
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// formatRate renders a rate rounded to a whole number with thousands separators: 301245.4 -> "301,245".
func formatRate(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return groupThousands(strconv.FormatFloat(math.Round(x), 'f', 0, 64))
}

// formatAllocs renders allocations per operation like a rate, or "-" when not reported (negative).
func formatAllocs(x float64) string {
	if x < 0 {
		return "-"
	}
	return formatRate(x)
}

// formatRatio renders a/b with two decimals, or "n/a" when b is not positive.
func formatRatio(a, b float64) string {
	if !(b > 0) {
		return "n/a"
	}
	return strconv.FormatFloat(a/b, 'f', 2, 64)
}

// groupThousands inserts a comma between every three digits of an integer's text, keeping a leading sign.
func groupThousands(s string) string {
	sign := ""
	if s != "" && (s[0] == '-' || s[0] == '+') {
		sign, s = s[:1], s[1:]
	}
	if len(s) <= 3 {
		return sign + s
	}
	// The first group takes the digits that do not fill a group of three, then every group follows a comma.
	out := make([]byte, 0, len(s)+len(s)/3)
	lead := len(s) % 3
	if lead == 0 {
		lead = 3
	}
	out = append(out, s[:lead]...)
	for i := lead; i < len(s); i += 3 {
		out = append(out, ',')
		out = append(out, s[i:i+3]...)
	}
	return sign + string(out)
}

// results is the content of results.json.
type results struct {
	Config      resultConfig      `json:"config"`
	Environment resultEnvironment `json:"environment"`
	Dataset     dataset           `json:"dataset"`
	Rows        []row             `json:"rows"`
	Summary     [2]string         `json:"summary"`
}

// resultConfig records the flags of the run.
type resultConfig struct {
	Records      int      `json:"records"`
	InvalidRatio float64  `json:"invalidRatio"`
	Types        []string `json:"types"`
	Duration     string   `json:"duration"`
	Warmup       string   `json:"warmup"`
	Rounds       int      `json:"rounds"`
	CPU          int      `json:"cpu"`
}

// resultEnvironment records what the run ran on.
type resultEnvironment struct {
	GoVersion   string `json:"goVersion"`
	NodeVersion string `json:"nodeVersion"`
	OS          string `json:"os"`
	Arch        string `json:"arch"`
	Time        string `json:"time"`
}
