package loadtest

import (
	"errors"
	"reflect"
	"testing"
	"time"
)

func TestSLOCheck(t *testing.T) {
	t.Parallel()
	sum := sampleSummary() // p99 12ms, errors 0.3%, rate 998.4/s
	cases := []struct {
		name string
		slo  string
		want []string
	}{
		{"empty passes", "", nil},
		{"all pass", "p99<200ms,errors<1%,rate>=990", nil},
		{"spaces and case", " P99 < 200ms , errors <= 0.3 , rate >= 990/s ", nil},
		{"latency fails", "p99<10ms", []string{"p99 12ms, want < 10ms"}},
		{"boundary inclusive", "p50<=3ms,max>=51ms", nil},
		{"boundary exclusive", "p50<3ms", []string{"p50 3ms, want < 3ms"}},
		{"errors fail", "errors<0.1%", []string{"errors 0.3%, want < 0.1%"}},
		{"rate fails", "rate>=999", []string{"rate 998.40/s, want >= 999.00/s"}},
		{"event rate", "eventrate>5000", []string{"eventrate 4992.00/s, want > 5000.00/s"}},
		{"several fail in order", "p999<30ms,mean<1ms,p90<1s,p95>10ms", []string{
			"p999 40ms, want < 30ms", "mean 3.5ms, want < 1ms", "p95 7ms, want > 10ms"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			slo, err := ParseSLO(tc.slo)
			if err != nil {
				t.Fatalf("ParseSLO(%q): %v", tc.slo, err)
			}
			if got := slo.Check(sum); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("Check = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestParseSLOErrors(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, in string }{
		{"no operator", "p99"},
		{"no metric", "<200ms"},
		{"unknown metric", "p42<1s"},
		{"latency without unit", "p99<200"},
		{"negative latency", "p99<-1ms"},
		{"errors not a number", "errors<few"},
		{"errors above 100", "errors<150%"},
		{"rate not a number", "rate>=fast"},
		{"equals alone", "rate=100"},
		{"bad clause among good", "p99<1s,oops"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := ParseSLO(tc.in); !errors.Is(err, ErrSLO) {
				t.Errorf("ParseSLO(%q) error = %v, want ErrSLO", tc.in, err)
			}
		})
	}
}

func TestSLOString(t *testing.T) {
	t.Parallel()
	slo, err := ParseSLO("p99<200ms, errors<0.1%")
	if err != nil {
		t.Fatal(err)
	}
	if got := slo.String(); got != "p99<200ms,errors<0.1%" {
		t.Errorf("String() = %q", got)
	}
	// A saturated run that misses its latency objective.
	sum := Summary{Latency: Latencies{P99: 2 * time.Second}}
	if got := slo.Check(sum); len(got) != 1 {
		t.Errorf("Check = %q, want one violation", got)
	}
}
