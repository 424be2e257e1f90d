package analytics

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"unsafe"

	"github.com/DataDog/sketches-go/ddsketch"
	"github.com/DataDog/sketches-go/ddsketch/mapping"
	"github.com/DataDog/sketches-go/ddsketch/store"
	"github.com/axiomhq/hyperloglog"

	"github.com/serverless-data-platform/sdp/event"
)

// The sketches' error bounds.
const (
	// QuantileRelativeError bounds the error of every quantile a window reports: a reported quantile q̂ of a
	// measure whose exact quantile is x satisfies |q̂ − x| ≤ 0.01·|x|, x being the value of rank ⌊q·(n−1)⌋
	// (of rank ⌈q·(n−1)⌉ for negative values, which the sketch ranks from the other end)
	// (DDSketch, with a logarithmic index mapping and up to quantileBins bins per sign, collapsing the
	// lowest bins only beyond a span of values wider than about 1e17).
	QuantileRelativeError = 0.01
	// UniquesPrecision is the HyperLogLog precision of the unique subjects: 2^14 registers, so a standard
	// error of 1.04/√16384 ≈ 0.81% once the sketch is dense. Below about 16,000 subjects per window the
	// sketch is sparse, with 25-bit indexes, and its error is smaller still.
	UniquesPrecision = 14
	// UniquesStandardError is the relative standard error of the unique subjects: 1.04/√(2^14). Estimates
	// fall within three standard errors (2.4%) of the exact count but for about 3 in 1,000 windows.
	UniquesStandardError = 0.008125
	// TopCapacity is the number of counters of the heavy-hitters summary (Misra-Gries) of each window.
	// A subject's reported count undercounts its true count by at most Top.Error ≤ subjects/(TopCapacity+1),
	// and every subject seen more often than that is in the summary.
	TopCapacity = 64
	// TopReported is how many subjects Window.TopSubjects lists.
	TopReported = 10
)

// quantileBins is the largest number of bins of a measure's sketch, per sign.
const quantileBins = 2048

// Quantiles are the quantiles a Stat reports.
var Quantiles = [...]float64{0.5, 0.9, 0.95, 0.99}

// quantileMapping is shared by every sketch, so that sketches merge without remapping.
var quantileMapping = func() mapping.IndexMapping {
	m, err := mapping.NewLogarithmicMapping(QuantileRelativeError)
	if err != nil {
		panic(err)
	}
	return m
}()

// newQuantileSketch returns an empty measure sketch.
func newQuantileSketch() *ddsketch.DDSketch {
	return ddsketch.NewDDSketch(quantileMapping, store.NewCollapsingLowestDenseStore(quantileBins),
		store.NewCollapsingLowestDenseStore(quantileBins))
}

// quantileStores is the store provider the sketches are decoded with.
func quantileStores() store.Store { return store.NewCollapsingLowestDenseStore(quantileBins) }

// Aggregate is the mergeable state of one window: counts, the unique subjects (HyperLogLog), each measure's
// exact count, sum, minimum and maximum with its quantile sketch (DDSketch), and the most frequent subjects
// (a Misra-Gries summary). Merging is associative and commutative for the counts, sums, extremes, uniques
// and quantiles, so windows from shards and batches combine in any order; the heavy-hitters summary keeps
// its error bound in any order of merging. The zero value is an empty aggregate.
type Aggregate struct {
	// Count is the number of events counted in the window.
	Count int64
	// Late is the number of events of the window that arrived after it closed: they are counted here and
	// in no other field.
	Late int64
	// subjects is the number of counted events that had a subject.
	subjects int64
	uniques  *hyperloglog.Sketch
	measures map[string]*measure
	top      map[string]int64
}

// measure is one measure's state in a window.
type measure struct {
	stat   Stat
	sketch *ddsketch.DDSketch
}

// Add counts one fact into a: its subject into the uniques and the heavy hitters, and each finite measure.
func (a *Aggregate) Add(f *event.Fact) {
	a.Count++
	if f.Subject != "" {
		a.subjects++
		if a.uniques == nil {
			a.uniques = hyperloglog.New14()
		}
		a.uniques.Insert(unsafe.Slice(unsafe.StringData(f.Subject), len(f.Subject)))
		a.addTop(f.Subject)
	}
	for name, v := range f.Measures {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		if a.measures == nil {
			a.measures = make(map[string]*measure, len(f.Measures))
		}
		m := a.measures[name]
		if m == nil {
			m = &measure{sketch: newQuantileSketch()}
			a.measures[name] = m
		}
		m.stat.add(v)
		// Add fails only on values beyond the mapping's range (about ±1e307); the exact statistics still
		// hold them.
		_ = m.sketch.Add(v)
	}
}

// addTop counts one occurrence of subject in the Misra-Gries summary.
func (a *Aggregate) addTop(subject string) {
	if a.top == nil {
		a.top = make(map[string]int64, 8)
	}
	if _, ok := a.top[subject]; ok || len(a.top) < TopCapacity {
		a.top[subject]++
		return
	}
	// The summary is full and subject is not in it: every counter, and the subject's, drop by one.
	for s, c := range a.top {
		if c <= 1 {
			delete(a.top, s)
		} else {
			a.top[s] = c - 1
		}
	}
}

// Merge adds b into a. b is not changed.
func (a *Aggregate) Merge(b *Aggregate) error {
	a.Count += b.Count
	a.Late += b.Late
	a.subjects += b.subjects
	if b.uniques != nil {
		if a.uniques == nil {
			a.uniques = b.uniques.Clone()
		} else if err := a.uniques.Merge(b.uniques); err != nil {
			return fmt.Errorf("merging unique subjects: %w", err)
		}
	}
	for name, bm := range b.measures {
		if a.measures == nil {
			a.measures = make(map[string]*measure, len(b.measures))
		}
		am := a.measures[name]
		if am == nil {
			a.measures[name] = &measure{stat: bm.stat, sketch: bm.sketch.Copy()}
			continue
		}
		am.stat.merge(bm.stat)
		if err := am.sketch.MergeWith(bm.sketch); err != nil {
			return fmt.Errorf("merging measure %q: %w", name, err)
		}
	}
	if len(b.top) > 0 {
		if a.top == nil {
			a.top = make(map[string]int64, len(b.top))
		}
		for s, c := range b.top {
			a.top[s] += c
		}
		a.trimTop()
	}
	return nil
}

// trimTop brings the summary back to TopCapacity counters after a merge: every counter drops by the
// (TopCapacity+1)-th largest, and those left at zero go (Agarwal et al., "Mergeable summaries", 2012).
func (a *Aggregate) trimTop() {
	if len(a.top) <= TopCapacity {
		return
	}
	counts := make([]int64, 0, len(a.top))
	for _, c := range a.top {
		counts = append(counts, c)
	}
	slices.Sort(counts)
	cut := counts[len(counts)-TopCapacity-1]
	for s, c := range a.top {
		if c <= cut {
			delete(a.top, s)
		} else {
			a.top[s] = c - cut
		}
	}
}

// Uniques returns the estimated number of distinct subjects.
func (a *Aggregate) Uniques() int64 {
	if a.uniques == nil {
		return 0
	}
	return int64(a.uniques.Estimate())
}

// TopError returns the largest amount by which a subject's count in Top undercounts its true count.
func (a *Aggregate) TopError() int64 {
	var kept int64
	for _, c := range a.top {
		kept += c
	}
	return (a.subjects - kept) / (TopCapacity + 1)
}

// Top returns up to n of the most frequent subjects, most frequent first (ties by subject). Each count is
// a lower bound of the true count, short of it by at most TopError.
func (a *Aggregate) Top(n int) []SubjectCount {
	out := make([]SubjectCount, 0, min(n, len(a.top)))
	for s, c := range a.top {
		out = append(out, SubjectCount{Subject: s, Count: c})
	}
	slices.SortFunc(out, func(x, y SubjectCount) int {
		if x.Count != y.Count {
			if x.Count > y.Count {
				return -1
			}
			return 1
		}
		if x.Subject < y.Subject {
			return -1
		}
		if x.Subject > y.Subject {
			return 1
		}
		return 0
	})
	if len(out) > n {
		out = out[:n]
	}
	return out
}

// Measures returns each measure's statistics with its quantiles.
func (a *Aggregate) Measures() map[string]Stat {
	if len(a.measures) == 0 {
		return nil
	}
	out := make(map[string]Stat, len(a.measures))
	for name, m := range a.measures {
		s := m.stat
		if !m.sketch.IsEmpty() {
			if qs, err := m.sketch.GetValuesAtQuantiles(Quantiles[:]); err == nil {
				s.P50, s.P90, s.P95, s.P99 = qs[0], qs[1], qs[2], qs[3]
			}
		}
		out[name] = s
	}
	return out
}

// Quantile returns the estimated q-quantile of a measure; ok is false when the window has no value of it.
func (a *Aggregate) Quantile(name string, q float64) (v float64, ok bool) {
	m := a.measures[name]
	if m == nil || m.sketch.IsEmpty() {
		return 0, false
	}
	v, err := m.sketch.GetValueAtQuantile(q)
	return v, err == nil
}

// aggregateVersion is the first byte of an encoded Aggregate.
const aggregateVersion = 1

// errCorrupt is wrapped by the errors about an encoded aggregate that cannot be read.
var errCorrupt = errors.New("corrupt aggregate")

// AppendBinary appends a's encoding to b: a version byte, the counts as uvarints, the uniques sketch, each
// measure (by name) with its statistics and sketch, and the heavy hitters (by subject). Equal aggregates
// encode to equal bytes.
func (a *Aggregate) AppendBinary(b []byte) ([]byte, error) {
	b = append(b, aggregateVersion)
	b = binary.AppendUvarint(b, uint64(a.Count))
	b = binary.AppendUvarint(b, uint64(a.Late))
	b = binary.AppendUvarint(b, uint64(a.subjects))
	if a.uniques == nil {
		b = binary.AppendUvarint(b, 0)
	} else {
		hb, err := a.uniques.MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("encoding unique subjects: %w", err)
		}
		b = binary.AppendUvarint(b, uint64(len(hb)))
		b = append(b, hb...)
	}
	names := slices.Sorted(maps.Keys(a.measures))
	b = binary.AppendUvarint(b, uint64(len(names)))
	var sk []byte
	for _, name := range names {
		m := a.measures[name]
		b = appendString(b, name)
		b = binary.AppendUvarint(b, uint64(m.stat.Count))
		b = binary.BigEndian.AppendUint64(b, math.Float64bits(m.stat.Sum))
		b = binary.BigEndian.AppendUint64(b, math.Float64bits(m.stat.Min))
		b = binary.BigEndian.AppendUint64(b, math.Float64bits(m.stat.Max))
		sk = sk[:0]
		m.sketch.Encode(&sk, true)
		b = binary.AppendUvarint(b, uint64(len(sk)))
		b = append(b, sk...)
	}
	subjects := slices.Sorted(maps.Keys(a.top))
	b = binary.AppendUvarint(b, uint64(len(subjects)))
	for _, s := range subjects {
		b = appendString(b, s)
		b = binary.AppendUvarint(b, uint64(a.top[s]))
	}
	return b, nil
}

// MarshalBinary implements encoding.BinaryMarshaler.
func (a *Aggregate) MarshalBinary() ([]byte, error) { return a.AppendBinary(nil) }

// UnmarshalBinary implements encoding.BinaryUnmarshaler: it replaces a with the aggregate encoded in b.
func (a *Aggregate) UnmarshalBinary(b []byte) error {
	*a = Aggregate{}
	r := reader{b: b}
	if v := r.byte(); v != aggregateVersion {
		return fmt.Errorf("%w: version %d (this build reads %d)", errCorrupt, v, aggregateVersion)
	}
	a.Count = int64(r.uvarint())
	a.Late = int64(r.uvarint())
	a.subjects = int64(r.uvarint())
	if hb := r.bytes(); len(hb) > 0 {
		a.uniques = hyperloglog.New14()
		if err := a.uniques.UnmarshalBinary(hb); err != nil {
			return fmt.Errorf("%w: unique subjects: %v", errCorrupt, err)
		}
	}
	if n := r.uvarint(); n > 0 && r.err == nil {
		a.measures = make(map[string]*measure, min(n, 64))
		for i := uint64(0); i < n && r.err == nil; i++ {
			name := string(r.bytes())
			m := &measure{}
			m.stat.Count = int64(r.uvarint())
			m.stat.Sum = math.Float64frombits(r.uint64())
			m.stat.Min = math.Float64frombits(r.uint64())
			m.stat.Max = math.Float64frombits(r.uint64())
			sk := r.bytes()
			if r.err != nil {
				break
			}
			// A measure folds finite values only: its min and max are finite, and its sum is never NaN (it
			// can overflow to an infinity).
			if st := m.stat; math.IsNaN(st.Sum) || math.IsNaN(st.Min) || math.IsNaN(st.Max) || math.IsInf(st.Min, 0) || math.IsInf(st.Max, 0) {
				return fmt.Errorf("%w: measure %q: sum %v, min %v, max %v (a measure's values are finite)", errCorrupt, name, st.Sum, st.Min, st.Max)
			}
			var err error
			if m.sketch, err = decodeSketch(sk); err != nil {
				return fmt.Errorf("%w: measure %q: %v", errCorrupt, name, err)
			}
			a.measures[name] = m
		}
	}
	if n := r.uvarint(); n > 0 && r.err == nil {
		a.top = make(map[string]int64, min(n, TopCapacity))
		for i := uint64(0); i < n && r.err == nil; i++ {
			s := string(r.bytes())
			a.top[s] = int64(r.uvarint())
		}
	}
	if r.err == nil && len(r.b) > 0 {
		r.err = fmt.Errorf("%d bytes after the end", len(r.b))
	}
	if r.err != nil {
		return fmt.Errorf("%w: %v", errCorrupt, r.err)
	}
	return nil
}

// decodeSketch decodes a quantile sketch. The sketch library panics on some corrupt encodings (an index out
// of its store's range); decodeSketch returns that as an error.
func decodeSketch(b []byte) (sk *ddsketch.DDSketch, err error) {
	defer func() {
		if p := recover(); p != nil {
			sk, err = nil, fmt.Errorf("corrupt sketch: %v", p)
		}
	}()
	return ddsketch.DecodeDDSketch(b, quantileStores, quantileMapping)
}

// appendString appends s with its length.
func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// reader reads an encoded aggregate; the first error sticks.
type reader struct {
	b   []byte
	err error
}

func (r *reader) byte() byte {
	if r.err != nil || len(r.b) == 0 {
		r.fail("short")
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

func (r *reader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail("bad varint")
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) uint64() uint64 {
	if r.err != nil || len(r.b) < 8 {
		r.fail("short")
		return 0
	}
	v := binary.BigEndian.Uint64(r.b)
	r.b = r.b[8:]
	return v
}

func (r *reader) bytes() []byte {
	n := r.uvarint()
	if r.err != nil || uint64(len(r.b)) < n {
		r.fail("short")
		return nil
	}
	v := r.b[:n]
	r.b = r.b[n:]
	return v
}

func (r *reader) fail(what string) {
	if r.err == nil {
		r.err = errors.New(what)
	}
}
