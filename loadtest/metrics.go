package loadtest

import (
	"math"
	"sort"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Histogram bounds: latencies are recorded in microseconds from 1µs to 60s,
// clamped into that range, with 3 significant digits overall and 2 in the
// per-second histograms (which only feed charts).
const (
	histMin       = 1
	histMax       = 60_000_000
	histDigits    = 3
	secondsDigits = 2
)

// Metrics aggregates results into counts, rates, latency percentiles and
// per-second buckets. Add is for one writer; Summary and Seconds may be
// called at any time from other goroutines, e.g. for live lines.
type Metrics struct {
	mu sync.Mutex

	requests, events, accepted, rejected, errors, bytes uint64
	codes                                               map[string]uint64

	firstIntended, lastIntended, lastSent time.Time
	latencySum                            time.Duration
	latencyMax                            time.Duration
	hist                                  *hdrhistogram.Histogram

	base    time.Time // origin of the per-second buckets: the first result's intended time
	seconds map[int64]*second
}

// second is one per-second bucket, indexed by whole seconds from base.
type second struct {
	sent, events, errors uint64                  // of hits sent in this second
	hist                 *hdrhistogram.Histogram // latencies of hits intended in this second
}

// NewMetrics returns empty Metrics.
func NewMetrics() *Metrics {
	return &Metrics{
		codes:   make(map[string]uint64),
		hist:    hdrhistogram.New(histMin, histMax, histDigits),
		seconds: make(map[int64]*second),
	}
}

// micros converts a latency to histogram units, clamped to the range.
func micros(d time.Duration) int64 {
	us := d.Microseconds()
	if us < histMin {
		return histMin
	}
	if us > histMax {
		return histMax
	}
	return us
}

// Add records one result. Results may come in any order; an attack
// delivers them in the order they complete.
func (m *Metrics) Add(r *Result) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests++
	m.events += uint64(max(r.Events, 0))
	m.accepted += uint64(max(r.Accepted, 0))
	m.rejected += uint64(max(r.Rejected, 0))
	m.bytes += uint64(max(r.Bytes, 0))
	m.codes[r.Code]++
	failed := r.Failed()
	if failed {
		m.errors++
	}
	if m.requests == 1 || r.Intended.Before(m.firstIntended) {
		m.firstIntended = r.Intended
	}
	if r.Intended.After(m.lastIntended) {
		m.lastIntended = r.Intended
	}
	if r.Sent.After(m.lastSent) {
		m.lastSent = r.Sent
	}
	// The exact sum and max keep the mean and max free of histogram rounding.
	m.latencySum += r.Latency
	m.latencyMax = max(m.latencyMax, r.Latency)
	us := micros(r.Latency)
	_ = m.hist.RecordValue(us) // in range by construction

	// Buckets count from the first result's intended time: within a few
	// milliseconds of the start of an attack, whose first hit is due at once.
	if m.requests == 1 {
		m.base = r.Intended
	}
	sent := m.bucket(r.Sent)
	sent.sent++
	sent.events += uint64(max(r.Events, 0))
	if failed {
		sent.errors++
	}
	_ = m.bucket(r.Intended).hist.RecordValue(us)
}

// bucket returns the per-second bucket holding t, creating it.
func (m *Metrics) bucket(t time.Time) *second {
	i := int64(math.Floor(t.Sub(m.base).Seconds()))
	b := m.seconds[i]
	if b == nil {
		b = &second{hist: hdrhistogram.New(histMin, histMax, secondsDigits)}
		m.seconds[i] = b
	}
	return b
}

// Second is one per-second bucket of an attack, for charts. Throughput
// counts the hits sent in that second; the percentiles are those of the
// hits intended in it, so a stall shows in the second it began.
type Second struct {
	Offset   time.Duration `json:"offset"` // from the first bucket
	Requests uint64        `json:"requests"`
	Events   uint64        `json:"events"`
	Errors   uint64        `json:"errors"`
	Intended uint64        `json:"intended"` // hits intended in this second: the percentiles' sample
	P50      time.Duration `json:"p50"`
	P99      time.Duration `json:"p99"`
}

// Seconds returns the per-second buckets in time order, with no gaps.
func (m *Metrics) Seconds() []Second {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.seconds) == 0 {
		return nil
	}
	keys := make([]int64, 0, len(m.seconds))
	for k := range m.seconds {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	// Seconds with nothing in them still get a bucket, so charts keep time.
	first, last := keys[0], keys[len(keys)-1]
	out := make([]Second, 0, last-first+1)
	for k := first; k <= last; k++ {
		s := Second{Offset: time.Duration(k-first) * time.Second}
		if b := m.seconds[k]; b != nil {
			s.Requests, s.Events, s.Errors = b.sent, b.events, b.errors
			s.Intended = uint64(b.hist.TotalCount())
			if s.Intended > 0 {
				s.P50 = time.Duration(b.hist.ValueAtQuantile(50)) * time.Microsecond
				s.P99 = time.Duration(b.hist.ValueAtQuantile(99)) * time.Microsecond
			}
		}
		out = append(out, s)
	}
	return out
}

// Latencies are latency statistics, measured from each hit's intended time.
type Latencies struct {
	P50  time.Duration
	P90  time.Duration
	P95  time.Duration
	P99  time.Duration
	P999 time.Duration
	Max  time.Duration
	Mean time.Duration
}

// Summary is the aggregate of an attack so far. Metrics fills everything
// but Target, Saturated and Workers, which the caller sets from its target
// and Attacker.
type Summary struct {
	Target   string            // what was attacked
	Requests uint64            // hits completed
	Events   uint64            // events carried
	Accepted uint64            // events the target took
	Rejected uint64            // events refused as invalid (not errors)
	Errors   uint64            // hits that failed (Response.Failed)
	Bytes    uint64            // bytes sent
	Codes    map[string]uint64 // hits by code
	Duration time.Duration     // from the first intended time to the last sent time
	// TargetRate is the scheduled rate: hits per second over the span of
	// intended times.
	TargetRate float64
	// Rate is the achieved rate: hits per second over Duration, below
	// TargetRate when hits were sent late.
	Rate       float64
	EventRate  float64 // events per second over Duration
	Latency    Latencies
	Saturated  bool    // the worker pool was at its maximum and hits waited
	Workers    int     // workers at the end
	ErrorRatio float64 // Errors / Requests
}

// Summary returns the aggregate so far.
func (m *Metrics) Summary() Summary {
	m.mu.Lock()
	defer m.mu.Unlock()
	s := Summary{
		Requests: m.requests,
		Events:   m.events,
		Accepted: m.accepted,
		Rejected: m.rejected,
		Errors:   m.errors,
		Bytes:    m.bytes,
		Codes:    make(map[string]uint64, len(m.codes)),
	}
	for k, v := range m.codes {
		s.Codes[k] = v
	}
	if m.requests == 0 {
		return s // no rates or latencies yet
	}
	s.ErrorRatio = float64(m.errors) / float64(m.requests)
	s.Duration = m.lastSent.Sub(m.firstIntended)
	// n hits span n-1 intervals.
	if intervals := float64(m.requests - 1); intervals > 0 {
		if span := m.lastIntended.Sub(m.firstIntended).Seconds(); span > 0 {
			s.TargetRate = intervals / span
		}
		if span := s.Duration.Seconds(); span > 0 {
			s.Rate = intervals / span
			s.EventRate = s.Rate * float64(m.events) / float64(m.requests)
		}
	}
	q := m.hist.ValueAtPercentiles([]float64{50, 90, 95, 99, 99.9})
	// The histogram reports the top of a value's bucket: never above the exact max.
	us := func(p float64) time.Duration { return min(time.Duration(q[p])*time.Microsecond, m.latencyMax) }
	s.Latency = Latencies{
		P50:  us(50),
		P90:  us(90),
		P95:  us(95),
		P99:  us(99),
		P999: us(99.9),
		Max:  m.latencyMax,
		Mean: m.latencySum / time.Duration(m.requests),
	}
	return s
}
