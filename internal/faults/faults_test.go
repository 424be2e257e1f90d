package faults_test

import (
	"math"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/serverless-data-platform/sdp/internal/emulator"
	"github.com/serverless-data-platform/sdp/internal/faults"
)

// TestMain stops the emulators the transport tests started.
func TestMain(m *testing.M) { os.Exit(emulator.Main(m)) }

// TestParse checks the accepted forms and that each kind of mistake gets its own error.
func TestParse(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		want    faults.Spec
		wantErr string // a part of the error; "" when Parse must succeed
	}{
		{name: "empty", in: "", want: faults.Spec{}},
		{name: "blank", in: "   ", want: faults.Spec{}},
		{name: "one", in: "kinesis.throttle=0.2", want: faults.Spec{faults.KinesisThrottle: 0.2}},
		{name: "brief example", in: "kinesis.throttle=0.2,table.throttle=0.1,workflow.fail=0.01,consumer.crash=0.001",
			want: faults.Spec{faults.KinesisThrottle: 0.2, faults.TableThrottle: 0.1, faults.WorkflowFail: 0.01,
				faults.ConsumerCrash: 0.001}},
		{name: "spaces", in: " table.timeout = 1 , queue.throttle=0 ",
			want: faults.Spec{faults.TableTimeout: 1, faults.QueueThrottle: 0}},
		{name: "exponent", in: "workflow.timeout=1e-3", want: faults.Spec{faults.WorkflowTimeout: 0.001}},
		{name: "unknown point", in: "kinesis.throtle=0.1", wantErr: `unknown point "kinesis.throtle"; use one of kinesis.throttle,`},
		{name: "not a number", in: "table.throttle=often", wantErr: `"often" of table.throttle is not a number`},
		{name: "NaN", in: "table.throttle=NaN", wantErr: "outside [0, 1]"},
		{name: "above one", in: "table.throttle=1.5", wantErr: "probability 1.5 of table.throttle is outside [0, 1]"},
		{name: "negative", in: "table.throttle=-0.1", wantErr: "outside [0, 1]"},
		{name: "twice", in: "table.throttle=0.1,table.throttle=0.2", wantErr: "table.throttle is given twice"},
		{name: "no equals", in: "table.throttle", wantErr: `has no '='`},
		{name: "empty item", in: "table.throttle=0.1,,queue.throttle=0.1", wantErr: "empty item"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := faults.Parse(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Parse(%q) error = %v, want one containing %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("Parse(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

// TestSpecString checks the canonical form and that it parses back to the same Spec.
func TestSpecString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		spec faults.Spec
		want string
	}{
		{name: "empty", spec: faults.Spec{}, want: ""},
		{name: "sorted", spec: faults.Spec{faults.WorkflowFail: 0.01, faults.ConsumerCrash: 0.001, faults.KinesisThrottle: 0.2},
			want: "consumer.crash=0.001,kinesis.throttle=0.2,workflow.fail=0.01"},
		{name: "extremes", spec: faults.Spec{faults.TableTimeout: 1, faults.TableThrottle: 0},
			want: "table.throttle=0,table.timeout=1"},
		{name: "long float", spec: faults.Spec{faults.QueueThrottle: 1.0 / 3}, want: "queue.throttle=0.3333333333333333"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := tt.spec.String()
			if s != tt.want {
				t.Fatalf("String() = %q, want %q", s, tt.want)
			}
			back, err := faults.Parse(s)
			if err != nil {
				t.Fatalf("Parse(%q): %v", s, err)
			}
			if !reflect.DeepEqual(back, tt.spec) {
				t.Fatalf("Parse(String()) = %v, want %v", back, tt.spec)
			}
		})
	}
}

// TestPoints checks that every listed point parses, so the help text never offers one Parse refuses.
func TestPoints(t *testing.T) {
	t.Parallel()
	for _, p := range faults.Points() {
		if _, err := faults.Parse(string(p) + "=0.5"); err != nil {
			t.Errorf("point %s from Points does not parse: %v", p, err)
		}
	}
	if n := len(faults.Points()); n != 8 {
		t.Errorf("Points() has %d points, want 8", n)
	}
}

// TestRollFrequency checks, on 100k rolls with a fixed seed, that each point fires at about its probability
// and that Injected counts exactly the faults Roll reported.
func TestRollFrequency(t *testing.T) {
	t.Parallel()
	const rolls = 100_000
	spec := faults.Spec{faults.KinesisThrottle: 0.2, faults.TableThrottle: 0.5, faults.ConsumerCrash: 0.001,
		faults.WorkflowFail: 1, faults.QueueThrottle: 0}
	in := faults.New(spec, 42)
	hits := map[faults.Point]int64{}
	points := []faults.Point{faults.KinesisThrottle, faults.TableThrottle, faults.ConsumerCrash, faults.WorkflowFail,
		faults.QueueThrottle, faults.TableTimeout}
	for range rolls {
		for _, p := range points {
			if in.Roll(p) {
				hits[p]++
			}
		}
	}
	for _, p := range points {
		observed := float64(hits[p]) / rolls
		// Five standard deviations of a binomial proportion, and at least a little slack for tiny p.
		tolerance := max(5*math.Sqrt(spec[p]*(1-spec[p])/rolls), 1e-4)
		if math.Abs(observed-spec[p]) > tolerance {
			t.Errorf("%s fired at %.5f, want %.5f ± %.5f", p, observed, spec[p], tolerance)
		}
	}
	got := in.Injected()
	for _, p := range points {
		if got[p] != hits[p] {
			t.Errorf("Injected()[%s] = %d, Roll reported %d", p, got[p], hits[p])
		}
	}
	if _, ok := got[faults.QueueThrottle]; ok {
		t.Errorf("Injected() lists %s, which never fired", faults.QueueThrottle)
	}
}

// TestRollSeeded checks that the same spec and seed repeat the same decisions and another seed does not.
func TestRollSeeded(t *testing.T) {
	t.Parallel()
	spec := faults.Spec{faults.KinesisThrottle: 0.5}
	run := func(seed uint64) []bool {
		in := faults.New(spec, seed)
		out := make([]bool, 256)
		for i := range out {
			out[i] = in.Roll(faults.KinesisThrottle)
		}
		return out
	}
	if !reflect.DeepEqual(run(7), run(7)) {
		t.Error("two injectors with seed 7 decided differently")
	}
	if reflect.DeepEqual(run(7), run(8)) {
		t.Error("seeds 7 and 8 gave the same 256 decisions")
	}
}

// TestNilAndZeroInjector checks that a nil or zero Injector never injects and reports nothing.
func TestNilAndZeroInjector(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   *faults.Injector
	}{
		{name: "nil", in: nil},
		{name: "zero", in: &faults.Injector{}},
		{name: "empty spec", in: faults.New(nil, 1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			for _, p := range faults.Points() {
				if tt.in.Roll(p) {
					t.Errorf("Roll(%s) = true", p)
				}
			}
			if tt.in.Has(faults.Points()...) {
				t.Error("Has(all points) = true")
			}
			if n := len(tt.in.Injected()); n != 0 {
				t.Errorf("Injected() has %d points", n)
			}
			if n := tt.in.Intn(10); n != 0 && tt.name != "empty spec" {
				t.Errorf("Intn(10) = %d, want 0", n)
			}
		})
	}
}

// TestNewCopiesSpec checks that changing the Spec after New does not change the Injector.
func TestNewCopiesSpec(t *testing.T) {
	t.Parallel()
	spec := faults.Spec{faults.TableThrottle: 1}
	in := faults.New(spec, 1)
	spec[faults.TableThrottle] = 0
	if !in.Roll(faults.TableThrottle) {
		t.Fatal("Roll with probability 1 given to New = false after the caller changed its map")
	}
}

// TestRollConcurrent rolls from many goroutines (for the race detector) and checks the count.
func TestRollConcurrent(t *testing.T) {
	t.Parallel()
	in := faults.New(faults.Spec{faults.WorkflowFail: 1, faults.WorkflowTimeout: 0.5}, 3)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				in.Roll(faults.WorkflowFail)
				in.Roll(faults.WorkflowTimeout)
				in.Intn(5)
			}
		})
	}
	wg.Wait()
	if n := in.Injected()[faults.WorkflowFail]; n != 8000 {
		t.Fatalf("Injected()[workflow.fail] = %d, want 8000", n)
	}
}

// BenchmarkRoll measures a roll, which every faulted call makes.
func BenchmarkRoll(b *testing.B) {
	in := faults.New(faults.Spec{faults.KinesisThrottle: 0.2}, 1)
	b.ReportAllocs()
	for b.Loop() {
		in.Roll(faults.KinesisThrottle)
	}
}

// TestStop checks that a stopped Injector injects nothing more and keeps its counts.
func TestStop(t *testing.T) {
	t.Parallel()
	in := faults.New(faults.Spec{faults.TableThrottle: 1}, 1)
	if !in.Roll(faults.TableThrottle) {
		t.Fatal("p=1 did not inject")
	}
	in.Stop()
	for range 100 {
		if in.Roll(faults.TableThrottle) {
			t.Fatal("a stopped Injector injected")
		}
	}
	if got := in.Injected()[faults.TableThrottle]; got != 1 {
		t.Errorf("Injected = %d after Stop, want the 1 before", got)
	}
	var nilInjector *faults.Injector
	nilInjector.Stop() // a nil Injector stops without a panic
}
