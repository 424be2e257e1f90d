package loadtest

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrSLO is wrapped by every error ParseSLO returns.
var ErrSLO = errors.New("invalid SLO")

// SLO is a set of objectives a Summary must meet, as ParseSLO reads them.
type SLO struct {
	objectives []objective
}

// objective is one clause: metric op value.
type objective struct {
	text   string  // as written
	metric string  // p50, p90, p95, p99, p999, max, mean, errors, rate, eventrate
	op     string  // <, <=, >, >=
	value  float64 // nanoseconds for latencies, a ratio (0..1) for errors, per second for rates
}

// latencyOf returns the latency a metric name stands for, and whether the
// name is a latency metric.
func latencyOf(metric string, l Latencies) (time.Duration, bool) {
	switch metric {
	case "p50":
		return l.P50, true
	case "p90":
		return l.P90, true
	case "p95":
		return l.P95, true
	case "p99":
		return l.P99, true
	case "p999":
		return l.P999, true
	case "max":
		return l.Max, true
	case "mean":
		return l.Mean, true
	}
	return 0, false
}

// ParseSLO reads objectives separated by commas, each METRIC OP VALUE with
// OP one of <, <=, >, >=:
//
//	p50 p90 p95 p99 p999 max mean   latency, a Go duration: p99<200ms
//	errors                          error ratio in percent ("%" optional): errors<0.1%
//	rate                            achieved hits per second ("/s" optional): rate>=990
//	eventrate                       achieved events per second: eventrate>=5000
//
// For example "p99<200ms,errors<0.1%,rate>=990". An empty string is an SLO
// that always passes.
func ParseSLO(s string) (SLO, error) {
	var slo SLO
	for _, clause := range strings.Split(s, ",") {
		clause = strings.TrimSpace(clause)
		if clause == "" {
			continue
		}
		i := strings.IndexAny(clause, "<>")
		if i <= 0 {
			return SLO{}, fmt.Errorf("%w: %q: want METRIC<VALUE, METRIC<=VALUE, METRIC>VALUE or METRIC>=VALUE", ErrSLO, clause)
		}
		o := objective{text: clause, metric: strings.ToLower(strings.TrimSpace(clause[:i])), op: clause[i : i+1]}
		rest := clause[i+1:]
		if strings.HasPrefix(rest, "=") {
			o.op += "="
			rest = rest[1:]
		}
		rest = strings.TrimSpace(rest)
		if _, ok := latencyOf(o.metric, Latencies{}); ok {
			d, err := time.ParseDuration(rest)
			if err != nil || d < 0 {
				return SLO{}, fmt.Errorf("%w: %q: %s needs a duration such as 200ms", ErrSLO, clause, o.metric)
			}
			o.value = float64(d)
			slo.objectives = append(slo.objectives, o)
			continue
		}
		switch o.metric {
		case "errors":
			v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(rest, "%")), 64)
			if err != nil || v < 0 || v > 100 {
				return SLO{}, fmt.Errorf("%w: %q: errors needs a percentage between 0 and 100", ErrSLO, clause)
			}
			o.value = v / 100
		case "rate", "eventrate":
			v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimSuffix(rest, "/s")), 64)
			if err != nil || v < 0 {
				return SLO{}, fmt.Errorf("%w: %q: %s needs a rate per second", ErrSLO, clause, o.metric)
			}
			o.value = v
		default:
			return SLO{}, fmt.Errorf("%w: %q: unknown metric %q (want p50, p90, p95, p99, p999, max, mean, errors, rate or eventrate)", ErrSLO, clause, o.metric)
		}
		slo.objectives = append(slo.objectives, o)
	}
	return slo, nil
}

// String returns the objectives as ParseSLO reads them.
func (s SLO) String() string {
	parts := make([]string, len(s.objectives))
	for i, o := range s.objectives {
		parts[i] = o.text
	}
	return strings.Join(parts, ",")
}

// Check returns one human-readable line per objective sum misses, such as
// "p99 312ms, want < 200ms"; none means the SLO holds.
func (s SLO) Check(sum Summary) []string {
	var out []string
	for _, o := range s.objectives {
		var got float64
		var show func(float64) string
		switch o.metric {
		case "errors":
			got = sum.ErrorRatio
			show = func(v float64) string { return fmt.Sprintf("%.3g%%", 100*v) }
		case "rate":
			got = sum.Rate
			show = func(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) + "/s" }
		case "eventrate":
			got = sum.EventRate
			show = func(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) + "/s" }
		default:
			d, _ := latencyOf(o.metric, sum.Latency)
			got = float64(d)
			show = func(v float64) string { return fmtDuration(time.Duration(v)) }
		}
		var ok bool
		switch o.op {
		case "<":
			ok = got < o.value
		case "<=":
			ok = got <= o.value
		case ">":
			ok = got > o.value
		case ">=":
			ok = got >= o.value
		}
		if !ok {
			out = append(out, fmt.Sprintf("%s %s, want %s %s", o.metric, show(got), o.op, show(o.value)))
		}
	}
	return out
}
