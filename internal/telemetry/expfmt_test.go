package telemetry

import (
	"bytes"
	"math"
	"testing"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// TestWritePrometheusExpfmt parses the output with the Prometheus project's own text parser.
func TestWritePrometheusExpfmt(t *testing.T) {
	t.Parallel()
	r := NewRegistry("sdp")
	p := NewPipeline(r)
	p.EventsRejected.Add(2, "ingest", ReasonInvalid)
	p.EventsRejected.Add(1, "ingest", ReasonThrottled)
	p.EventsRejected.Add(4, "ingest", ReasonThrottled)
	p.EventsRejected.Add(1, "ingest", "a\"b\\c\nd")
	for _, v := range []float64{3, 30, 300, 3000} {
		p.WorkflowDuration.Observe(v, StatusSucceeded)
	}
	p.WorkflowDuration.Observe(70000, StatusFailed)

	var buf bytes.Buffer
	if err := r.WritePrometheus(&buf); err != nil {
		t.Fatal(err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(bytes.NewReader(buf.Bytes()))
	if err != nil {
		t.Fatalf("expfmt rejects the output: %v\n%s", err, buf.String())
	}

	rejected := fams["sdp_events_rejected_total"]
	if rejected == nil || rejected.GetType().String() != "COUNTER" || rejected.GetHelp() == "" {
		t.Fatalf("rejected family: %v", rejected)
	}
	wantCounters := map[string]float64{ReasonInvalid: 2, ReasonThrottled: 5, "a\"b\\c\nd": 1}
	if len(rejected.GetMetric()) != len(wantCounters) {
		t.Fatalf("got %d series, want %d", len(rejected.GetMetric()), len(wantCounters))
	}
	for _, m := range rejected.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["function"] != "ingest" {
			t.Errorf("function label %q", labels["function"])
		}
		if want, ok := wantCounters[labels["reason"]]; !ok || m.GetCounter().GetValue() != want {
			t.Errorf("reason %q: got %v, want %v", labels["reason"], m.GetCounter().GetValue(), want)
		}
	}

	wf := fams["sdp_workflow_duration"]
	if wf == nil || wf.GetType().String() != "HISTOGRAM" {
		t.Fatalf("workflow duration family: %v", wf)
	}
	cases := []struct {
		name   string
		status string
		sum    float64
		count  uint64
		le     map[float64]uint64
	}{
		{"succeeded", StatusSucceeded, 3333, 4, map[float64]uint64{1: 0, 5: 1, 50: 2, 500: 3, 5000: 4, 60000: 4}},
		{"failed", StatusFailed, 70000, 1, map[float64]uint64{60000: 0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			for _, m := range wf.GetMetric() {
				if m.GetLabel()[0].GetValue() != c.status {
					continue
				}
				h := m.GetHistogram()
				if h.GetSampleSum() != c.sum || h.GetSampleCount() != c.count {
					t.Errorf("sum %v count %v, want %v %v", h.GetSampleSum(), h.GetSampleCount(), c.sum, c.count)
				}
				var prev uint64
				sawInf := false
				for _, b := range h.GetBucket() {
					if b.GetCumulativeCount() < prev {
						t.Errorf("buckets not cumulative at le=%v", b.GetUpperBound())
					}
					prev = b.GetCumulativeCount()
					if want, ok := c.le[b.GetUpperBound()]; ok && b.GetCumulativeCount() != want {
						t.Errorf("le=%v: %d, want %d", b.GetUpperBound(), b.GetCumulativeCount(), want)
					}
					if math.IsInf(b.GetUpperBound(), 1) {
						sawInf = true
						if b.GetCumulativeCount() != c.count {
							t.Errorf("le=+Inf: %d, want the count %d", b.GetCumulativeCount(), c.count)
						}
					}
				}
				if !sawInf || len(h.GetBucket()) != len(LatencyBuckets())+1 {
					t.Errorf("%d buckets (+Inf seen: %v), want %d", len(h.GetBucket()), sawInf, len(LatencyBuckets())+1)
				}
				return
			}
			t.Fatalf("no series with status %s", c.status)
		})
	}
}
