package export

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/analytics"
)

// Record is one line of an exported object: the aggregate of one event type and source over one closed
// window. Its JSON keys are the columns of the Glue table over the export (infrastructure/template.yaml),
// lower case as Athena names columns; every field is always written, so that every line has every column.
type Record struct {
	// WindowStart and WindowEnd bound the window, [start, end), in UTC.
	WindowStart Timestamp `json:"window_start"`
	WindowEnd   Timestamp `json:"window_end"`
	Type        string    `json:"type"`
	Source      string    `json:"source"`
	// Count is the number of events counted in the window.
	Count int64 `json:"count"`
	// Late is the number of the window's events that arrived after it closed, counted nowhere else.
	Late int64 `json:"late"`
	// UniqueSubjects is the estimated number of distinct subjects of the window (HyperLogLog): estimates of
	// several windows cannot be added up.
	UniqueSubjects int64 `json:"unique_subjects"`
	// TopSubjects are the most frequent subjects, most frequent first; each count is at most TopError short
	// of the true count.
	TopSubjects []SubjectCount `json:"top_subjects"`
	TopError    int64          `json:"top_error"`
	// Measures holds the statistics of each measure seen in the window, by field name. A map keeps the
	// table's schema the same whatever measures the event types have: Athena reads one with
	// measures['amount'].p99, or one row per measure with CROSS JOIN UNNEST(measures) AS m(name, stat).
	Measures map[string]Measure `json:"measures"`
}

// SubjectCount is a subject and how many of a window's events had it.
type SubjectCount struct {
	Subject string `json:"subject"`
	Count   int64  `json:"count"`
}

// Measure is the statistics of one measure in one window: exact count, sum and extremes, and quantiles
// within analytics.QuantileRelativeError. Count and Sum add up across windows (a mean is sum(sum)/sum(count));
// quantiles do not.
type Measure struct {
	// Count is the number of events that carried the measure.
	Count int64   `json:"count"`
	Sum   float64 `json:"sum"`
	Min   float64 `json:"min"`
	Max   float64 `json:"max"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P95   float64 `json:"p95"`
	P99   float64 `json:"p99"`
}

// NewRecord is the record of the window w; size is the windows' length, used when the store leaves w.End
// unset.
func NewRecord(w analytics.Window, size time.Duration) Record {
	end := w.End
	if end.IsZero() {
		end = w.Start.Add(size)
	}
	r := Record{
		WindowStart: Timestamp(w.Start), WindowEnd: Timestamp(end), Type: w.Type, Source: w.Source,
		Count: w.Count, Late: w.Late, UniqueSubjects: w.UniqueSubjects, TopError: w.TopError,
		TopSubjects: make([]SubjectCount, len(w.TopSubjects)),
		Measures:    make(map[string]Measure, len(w.Measures)),
	}
	for i, s := range w.TopSubjects {
		r.TopSubjects[i] = SubjectCount{Subject: s.Subject, Count: s.Count}
	}
	for name, s := range w.Measures {
		r.Measures[name] = Measure{Count: s.Count, Sum: s.Sum, Min: s.Min, Max: s.Max,
			P50: s.P50, P90: s.P90, P95: s.P95, P99: s.P99}
	}
	return r
}

// TimestampLayout is how a Timestamp is written: the form of Athena's (and Hive's) timestamp literals, which
// the Hive JSON SerDe reads into a timestamp column without a format setting. Times are UTC.
const TimestampLayout = "2006-01-02 15:04:05.000"

// Timestamp is a time written as a JSON string in TimestampLayout, in UTC.
type Timestamp time.Time

// Time returns t as a time.Time.
func (t Timestamp) Time() time.Time { return time.Time(t) }

// MarshalJSON implements json.Marshaler.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, len(TimestampLayout)+2)
	b = append(b, '"')
	b = time.Time(t).UTC().AppendFormat(b, TimestampLayout)
	return append(b, '"'), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("timestamp: want a string %q: %w", TimestampLayout, err)
	}
	v, err := time.ParseInLocation(TimestampLayout, s, time.UTC)
	if err != nil {
		return fmt.Errorf("timestamp: %w", err)
	}
	*t = Timestamp(v)
	return nil
}

// encoder turns the windows of one object into its content, reusing its buffers.
type encoder struct {
	size time.Duration
	line []byte
	raw  bytes.Buffer
	gz   bytes.Buffer
	zw   *gzip.Writer
}

// encode writes the windows as NDJSON, one Record a line in the order given, and returns the SHA-256 of
// the NDJSON (hex). Equal windows give equal bytes: map keys are sorted.
func (e *encoder) encode(windows []analytics.Window) (digest string, err error) {
	e.raw.Reset()
	for _, w := range windows {
		rec := NewRecord(w, e.size)
		if e.line, err = json.Append(e.line[:0], &rec, json.SortMapKeys); err != nil {
			return "", fmt.Errorf("window %s %s %s: %w", w.Start.Format(time.RFC3339), w.Type, w.Source, err)
		}
		e.raw.Write(e.line)
		e.raw.WriteByte('\n')
	}
	sum := sha256.Sum256(e.raw.Bytes())
	return hex.EncodeToString(sum[:]), nil
}

// compress returns the gzip compression of the last encoded NDJSON, valid until the next call. The gzip
// header carries no name and no time, so equal content compresses to equal bytes.
func (e *encoder) compress() ([]byte, error) {
	e.gz.Reset()
	if e.zw == nil {
		e.zw = gzip.NewWriter(&e.gz)
	} else {
		e.zw.Reset(&e.gz)
	}
	if _, err := e.zw.Write(e.raw.Bytes()); err != nil {
		return nil, fmt.Errorf("compressing: %w", err)
	}
	if err := e.zw.Close(); err != nil {
		return nil, fmt.Errorf("compressing: %w", err)
	}
	return e.gz.Bytes(), nil
}

// sortWindows orders windows by start, then type, then source, as analytics.Store.Query returns them.
func sortWindows(ws []analytics.Window) {
	slices.SortStableFunc(ws, func(a, b analytics.Window) int {
		return cmp.Or(a.Start.Compare(b.Start), cmp.Compare(a.Type, b.Type), cmp.Compare(a.Source, b.Source))
	})
}
