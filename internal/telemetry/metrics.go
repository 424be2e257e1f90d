package telemetry

import (
	"fmt"
	"math"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
)

// Unit is a CloudWatch unit.
type Unit string

// CloudWatch units used by the platform.
const (
	// Count is a number of things.
	Count Unit = "Count"
	// Milliseconds is a duration.
	Milliseconds Unit = "Milliseconds"
	// Bytes is a size.
	Bytes Unit = "Bytes"
	// None is a unitless value.
	None Unit = "None"
)

// maxPendingEMF bounds the histogram values kept per series between two FlushEMF calls. Lambda flushes after
// every invocation, far below it; in local mode FlushEMF is never called and the bound keeps memory flat.
// Values beyond it are still counted in the Prometheus output but left out of the next EMF flush.
const maxPendingEMF = 10_000

// Registry holds a process's metrics. Safe for concurrent use.
type Registry struct {
	namespace string

	mu      sync.Mutex
	metrics []metric // in declaration order, which is the output order
	byName  map[string]metric

	flushMu sync.Mutex // serialises FlushEMF, which owns the per-series "last flushed" state
}

// metric is implemented by *Counter and *Histogram.
type metric interface {
	desc() *descriptor
}

// descriptor is what a metric was declared with.
type descriptor struct {
	name string
	help string
	unit Unit
	dims []string
}

func (d *descriptor) desc() *descriptor { return d }

// NewRegistry returns an empty registry. namespace is the EMF Namespace and the Prometheus name prefix ("sdp").
func NewRegistry(namespace string) *Registry {
	return &Registry{namespace: namespace, byName: map[string]metric{}}
}

// Counter declares (or returns the already declared) counter with a fixed dimension set (dims: names such as
// "Function", "Reason"; at most 9, the EMF limit). help is the Prometheus HELP text. Declaring the same name again as another kind or with
// other dimensions is a programming error and panics.
func (r *Registry) Counter(name, help string, unit Unit, dims ...string) *Counter {
	r.mu.Lock()
	defer r.mu.Unlock()
	if m, ok := r.byName[name]; ok {
		c, isCounter := m.(*Counter)
		if !isCounter || !slices.Equal(c.dims, dims) {
			panic(fmt.Sprintf("telemetry: metric %q is already declared with another kind or dimensions", name))
		}
		return c
	}
	checkDims(name, dims)
	c := &Counter{descriptor: descriptor{name: name, help: help, unit: unit, dims: slices.Clone(dims)}}
	c.series.init(len(dims))
	r.metrics = append(r.metrics, c)
	r.byName[name] = c
	return c
}

// Histogram declares a distribution with Prometheus buckets (upper bounds, ascending). Like Counter, it returns
// the metric already declared under name, and panics when that one differs in kind or dimensions.
func (r *Registry) Histogram(name, help string, unit Unit, buckets []float64, dims ...string) *Histogram {
	r.mu.Lock()
	defer r.mu.Unlock()
	if m, ok := r.byName[name]; ok {
		h, isHistogram := m.(*Histogram)
		if !isHistogram || !slices.Equal(h.dims, dims) {
			panic(fmt.Sprintf("telemetry: metric %q is already declared with another kind or dimensions", name))
		}
		return h
	}
	checkDims(name, dims)
	b := slices.Clone(buckets)
	sort.Float64s(b)
	b = slices.Compact(b)
	if n := len(b); n > 0 && math.IsInf(b[n-1], 1) {
		b = b[:n-1] // +Inf is always added
	}
	h := &Histogram{descriptor: descriptor{name: name, help: help, unit: unit, dims: slices.Clone(dims)}, buckets: b}
	h.series.init(len(dims))
	r.metrics = append(r.metrics, h)
	r.byName[name] = h
	return h
}

// checkDims panics when dims cannot be written as one EMF dimension set. Dimension sets are fixed at
// declaration, so this is a programming error found by the first test that declares the metric.
func checkDims(name string, dims []string) {
	if len(dims) > emfMaxDimensions {
		panic(fmt.Sprintf("telemetry: metric %q has %d dimensions; EMF allows at most %d", name, len(dims), emfMaxDimensions))
	}
	for _, d := range dims {
		if d == "" || d == "_aws" || d == name {
			panic(fmt.Sprintf("telemetry: metric %q: dimension name %q is empty, reserved or the metric's name", name, d))
		}
	}
}

// snapshot returns the declared metrics in declaration order.
func (r *Registry) snapshot() []metric {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.metrics)
}

// seriesMap finds the series of one dimension-value combination. Lookups of known combinations take a read
// lock and do not allocate: the key is built in a stack buffer and the map lookup converts it without copying.
type seriesMap[S any] struct {
	ndims int
	mu    sync.RWMutex
	m     map[string]*S
	// values keeps each series' dimension values, for output.
	values map[*S][]string
}

func (s *seriesMap[S]) init(ndims int) {
	s.ndims = ndims
	s.m = map[string]*S{}
	s.values = map[*S][]string{}
}

// keySep separates values in a series key; it cannot occur in valid UTF-8 text.
const keySep = 0xff

func (s *seriesMap[S]) get(name string, values []string, create func() *S) *S {
	if len(values) != s.ndims {
		panic(fmt.Sprintf("telemetry: metric %q takes %d dimension values, got %d", name, s.ndims, len(values)))
	}
	var buf [128]byte
	key := buf[:0]
	for _, v := range values {
		key = append(key, v...)
		key = append(key, keySep)
	}
	s.mu.RLock()
	se, ok := s.m[string(key)]
	s.mu.RUnlock()
	if ok {
		return se
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if se, ok := s.m[string(key)]; ok {
		return se
	}
	se = create()
	s.m[string(key)] = se
	s.values[se] = slices.Clone(values)
	return se
}

// entry is one series with its dimension values.
type entry[S any] struct {
	values []string
	s      *S
}

// all returns the series sorted by their dimension values, for stable output.
func (s *seriesMap[S]) all() []entry[S] {
	s.mu.RLock()
	out := make([]entry[S], 0, len(s.values))
	for se, v := range s.values {
		out = append(out, entry[S]{values: v, s: se})
	}
	s.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return slices.Compare(out[i].values, out[j].values) < 0 })
	return out
}

// Counter is a monotonic sum per dimension-value combination.
type Counter struct {
	descriptor
	series seriesMap[counterSeries]
}

type counterSeries struct {
	bits    atomic.Uint64 // float64 total since start
	flushed float64       // total at the previous FlushEMF; guarded by Registry.flushMu
}

func (s *counterSeries) load() float64 { return math.Float64frombits(s.bits.Load()) }

// Add adds v (≥0) for the given dimension values (len(values) must equal len(dims); a mismatch panics).
// A negative, NaN or infinite v is ignored: a counter only grows, and one bad value must not poison the total.
// It does not allocate once a combination of values has been seen.
func (c *Counter) Add(v float64, values ...string) {
	s := c.series.get(c.name, values, newCounterSeries)
	if !(v >= 0) || math.IsInf(v, 1) {
		return
	}
	for {
		old := s.bits.Load()
		if s.bits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v)) {
			return
		}
	}
}

func newCounterSeries() *counterSeries { return &counterSeries{} }

// Histogram is a distribution per dimension-value combination: Prometheus buckets, sum and count since start,
// plus the values observed since the previous FlushEMF.
type Histogram struct {
	descriptor
	buckets []float64 // upper bounds, ascending, without +Inf
	series  seriesMap[histogramSeries]
}

type histogramSeries struct {
	mu      sync.Mutex
	counts  []uint64 // per bucket (not cumulative), then +Inf
	sum     float64
	count   uint64
	pending []float64 // values for the next FlushEMF
}

// Observe records v for the given dimension values (len(values) must equal len(dims); a mismatch panics).
// NaN and infinite values are ignored: neither Prometheus sums nor EMF can carry them usefully.
func (h *Histogram) Observe(v float64, values ...string) {
	s := h.series.get(h.name, values, h.newSeries)
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return
	}
	i := sort.SearchFloat64s(h.buckets, v) // first bound >= v: le is inclusive
	s.mu.Lock()
	s.counts[i]++
	s.sum += v
	s.count++
	if len(s.pending) < maxPendingEMF {
		s.pending = append(s.pending, v)
	}
	s.mu.Unlock()
}

func (h *Histogram) newSeries() *histogramSeries {
	return &histogramSeries{counts: make([]uint64, len(h.buckets)+1)}
}
