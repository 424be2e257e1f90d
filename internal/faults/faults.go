// Package faults injects the failures AWS really produces (throttles, lost answers, failed executions, crashed
// functions) into the pipeline, so that a chaos run exercises the same retry paths production does. A Spec
// says how likely each fault is; an Injector rolls the dice, seeded so that a run can be repeated. The
// injection itself happens in two places: in the local stand-ins (wrappers in cmd/sdp) and in the AWS SDK's
// HTTP transport (HTTPClient), where a fault looks to the SDK exactly like the service's own answer.
package faults

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Point names a place a fault can be injected.
type Point string

// The points. Each comment says what the fault looks like to the code under test.
const (
	// KinesisThrottle: PutRecords answers ProvisionedThroughputExceededException for some records (locally)
	// or the whole call (over HTTP); reads are throttled and must be waited out.
	KinesisThrottle Point = "kinesis.throttle"
	// KinesisTimeout: the call is applied but its answer is lost, so the client sees a timeout.
	KinesisTimeout Point = "kinesis.timeout"
	// TableThrottle: DynamoDB answers ProvisionedThroughputExceededException before applying anything.
	TableThrottle Point = "table.throttle"
	// TableTimeout: the DynamoDB call is applied and its answer lost.
	TableTimeout Point = "table.timeout"
	// QueueThrottle: SQS throttles the call before applying it.
	QueueThrottle Point = "queue.throttle"
	// WorkflowFail: an execution fails, either before or after its writes.
	WorkflowFail Point = "workflow.fail"
	// WorkflowTimeout: an execution runs to its end but its caller times out waiting for it.
	WorkflowTimeout Point = "workflow.timeout"
	// ConsumerCrash: the consumer's process dies after its work, before answering.
	ConsumerCrash Point = "consumer.crash"
)

// ErrInjected is wrapped by every error a fault produces, so that a test can tell an injected failure from a
// real one with errors.Is. The code under test must not look for it: it has to handle the fault as it would
// handle the real thing.
var ErrInjected = errors.New("injected fault")

// Points lists every Point, for help texts and errors, in a fixed order.
func Points() []Point {
	return []Point{KinesisThrottle, KinesisTimeout, TableThrottle, TableTimeout, QueueThrottle,
		WorkflowFail, WorkflowTimeout, ConsumerCrash}
}

// known reports whether p is one of Points.
func known(p Point) bool {
	return slices.Contains(Points(), p)
}

// Spec is a probability in [0, 1] per point; a point that is absent never fires.
type Spec map[Point]float64

// Parse reads a Spec written as "point=p,point=p", such as "kinesis.throttle=0.2,workflow.fail=0.01". Spaces
// around items are allowed, and "" is the empty Spec. An unknown point, a probability that is not a number or
// is outside [0, 1], and a point given twice are errors that say how to fix the text.
func Parse(s string) (Spec, error) {
	spec := Spec{}
	if strings.TrimSpace(s) == "" {
		return spec, nil
	}
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return nil, fmt.Errorf("faults %q: empty item; write point=probability items separated by commas", s)
		}
		name, value, ok := strings.Cut(item, "=")
		if !ok {
			return nil, fmt.Errorf("faults %q: item %q has no '='; write it as point=probability, e.g. %s=0.1",
				s, item, KinesisThrottle)
		}
		p := Point(strings.TrimSpace(name))
		if !known(p) {
			return nil, fmt.Errorf("faults %q: unknown point %q; use one of %s", s, p, pointList())
		}
		if _, dup := spec[p]; dup {
			return nil, fmt.Errorf("faults %q: point %s is given twice; give each point once", s, p)
		}
		value = strings.TrimSpace(value)
		prob, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return nil, fmt.Errorf("faults %q: probability %q of %s is not a number; write a number from 0 to 1, e.g. 0.05",
				s, value, p)
		}
		// The negated test also rejects NaN.
		if !(prob >= 0 && prob <= 1) {
			return nil, fmt.Errorf("faults %q: probability %s of %s is outside [0, 1]; write a number from 0 to 1",
				s, value, p)
		}
		spec[p] = prob
	}
	return spec, nil
}

// pointList renders Points for error messages.
func pointList() string {
	names := make([]string, 0, len(Points()))
	for _, p := range Points() {
		names = append(names, string(p))
	}
	return strings.Join(names, ", ")
}

// String renders s canonically, points sorted by name and probabilities in their shortest exact form, so that
// Parse(s.String()) gives s back.
func (s Spec) String() string {
	points := make([]Point, 0, len(s))
	for p := range s {
		points = append(points, p)
	}
	slices.Sort(points)
	var b strings.Builder
	for i, p := range points {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(string(p))
		b.WriteByte('=')
		b.WriteString(strconv.FormatFloat(s[p], 'g', -1, 64))
	}
	return b.String()
}

// Injector decides, call by call, whether to inject a fault, and counts the faults it injected. It is safe for
// concurrent use. Its dice are seeded: the same Spec and seed give the same sequence of decisions for the same
// sequence of rolls (concurrent callers can still interleave their rolls differently from run to run).
//
// A nil *Injector, and the zero Injector, never inject, so that code can hold one unconditionally.
type Injector struct {
	spec Spec

	mu       sync.Mutex
	rng      *rand.Rand
	injected map[Point]int64
	// stopped ends the injection (Stop).
	stopped bool
}

// New returns an Injector for spec (which it copies) whose dice start from seed.
func New(spec Spec, seed uint64) *Injector {
	in := &Injector{spec: make(Spec, len(spec)), injected: map[Point]int64{},
		// The second word of the PCG state is derived from the seed so that one number names the run.
		rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))}
	for p, prob := range spec {
		in.spec[p] = prob
	}
	return in
}

// Has reports whether any of points can fire (has a probability above 0). Wrappers use it to stay out of the
// way of calls no configured fault concerns.
func (in *Injector) Has(points ...Point) bool {
	if in == nil {
		return false
	}
	for _, p := range points {
		if in.spec[p] > 0 {
			return true
		}
	}
	return false
}

// Roll reports whether to inject the fault at p now, which happens with probability spec[p], and counts it
// when it does. A point with probability 0 or 1 does not use the dice. A nil *Injector never injects.
func (in *Injector) Roll(p Point) bool {
	if in == nil {
		return false
	}
	prob := in.spec[p]
	if prob <= 0 {
		return false
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.stopped {
		return false
	}
	hit := prob >= 1 || in.rng.Float64() < prob
	if hit {
		if in.injected == nil {
			in.injected = map[Point]int64{}
		}
		in.injected[p]++
	}
	return hit
}

// Stop ends the injection: Roll reports false from now on, so that what follows (a chaos test's checks of
// the final state) sees the services as they are. Wrappers stay in place and pass calls through.
func (in *Injector) Stop() {
	if in == nil {
		return
	}
	in.mu.Lock()
	in.stopped = true
	in.mu.Unlock()
}

// Intn returns a number in [0, n) from the Injector's dice, for the details of a fault (such as how long a
// throttled read waits). n must be above 0. A nil or zero Injector returns 0.
func (in *Injector) Intn(n int) int {
	if in == nil {
		return 0
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	if in.rng == nil {
		return 0
	}
	return in.rng.IntN(n)
}

// Injected returns how many faults each point injected so far; points that never fired are absent. The map
// is a copy the caller may keep.
func (in *Injector) Injected() map[Point]int64 {
	out := map[Point]int64{}
	if in == nil {
		return out
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	for p, n := range in.injected {
		out[p] = n
	}
	return out
}
