// Package export writes the closed windows of the analytics aggregates (an analytics.Store) as gzip-compressed
// NDJSON objects, for Athena and QuickSight in the cloud (an S3 Bucket) and for any reader locally (a Folder).
//
// # Layout
//
// Under a prefix, one object per slot of window starts (an hour by default, WithObjectSpan):
//
//	<prefix>/dt=YYYY-MM-DD/hour=HH/<first-start>_<last-start>.json.gz
//	<prefix>/_checkpoint.json
//
// dt and hour are the slot's UTC date and hour, the partitions of the Glue table (partition projection, so no
// crawler is needed). first-start and last-start (UTC, 20060102T150405Z) are the starts of the first and last
// window the slot can hold, not of those it happens to hold yet: a slot's key is fixed, so a rerun, a retry or
// a later run that has more of the slot's windows overwrites the same object, and no window is ever in two
// objects. Each line is one Record: one event type and source over one closed window.
//
// # Runs
//
// Export reads the checkpoint, then the windows closed at the exporter's clock (by its analytics.Windowing:
// up to the end of the newest closed window, To) since the checkpoint, and writes their objects; only then
// does it write the checkpoint, so that a run that fails part way is redone whole by the next one, writing
// the same keys. A run that finds nothing new writes nothing.
//
// # Late events
//
// A window can change after it closed: a fact that arrived in the stream after the window closed counts in
// its Late, and a fact that arrived in time but is counted after the close (a slow or retried batch, a
// redrive from the dead-letter queue) counts in its Count. Each run therefore reads again the windows of
// the last LateHorizon before To (one hour by default, WithLateHorizon) and rewrites an object whose content
// differs from what the checkpoint says was written (a SHA-256 of the NDJSON per object). Changes to older
// windows are in the store but not in the export.
//
// The exporter's windowing and object span must stay the same for a prefix: objects written under other
// ones would hold the same windows under other keys.
package export

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/analytics"
)

// Defaults of an Exporter.
const (
	// LateHorizon is how far back, before the newest closed window's end, each run looks for windows whose
	// Late changed.
	LateHorizon = time.Hour
	// ObjectSpan is the span of window starts one object holds.
	ObjectSpan = time.Hour
	// CheckpointName is the checkpoint's key below the prefix. Athena skips files whose names start with
	// an underscore, and the table's partitions do not hold it.
	CheckpointName = "_checkpoint.json"
)

// keyTimeLayout is how a window start is written in an object's key.
const keyTimeLayout = "20060102T150405Z"

// Exporter exports the closed windows of a store to a target. Export calls must not overlap on one prefix:
// run one exporter at a time (the export function has a reserved concurrency of one).
type Exporter struct {
	store   analytics.Store
	target  Target
	win     analytics.Windowing
	now     func() time.Time
	prefix  string
	horizon time.Duration
	span    time.Duration
}

// Option configures an Exporter.
type Option func(*Exporter)

// WithWindowing sets the windowing, which must be the store's (default analytics.WindowSize and
// analytics.AllowedLateness).
func WithWindowing(w analytics.Windowing) Option { return func(e *Exporter) { e.win = w } }

// WithClock sets the clock that decides which windows are closed (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(e *Exporter) {
		if now != nil {
			e.now = now
		}
	}
}

// WithPrefix sets the key prefix of the export, without leading or trailing slashes (default none).
func WithPrefix(p string) Option { return func(e *Exporter) { e.prefix = strings.Trim(p, "/") } }

// WithLateHorizon sets how far back, before the newest closed window's end, each run looks for windows
// that changed after they were exported (default LateHorizon); with 0, a run reads again only the slot the
// checkpoint is in.
func WithLateHorizon(d time.Duration) Option { return func(e *Exporter) { e.horizon = d } }

// WithObjectSpan sets the span of window starts per object: a divisor of an hour in whole seconds (default
// ObjectSpan). A smaller span rewrites less of the current hour each run, for more objects.
func WithObjectSpan(d time.Duration) Option { return func(e *Exporter) { e.span = d } }

// New returns an exporter of the closed windows of store to target. It checks its options and does no I/O.
func New(store analytics.Store, target Target, opts ...Option) (*Exporter, error) {
	e := &Exporter{store: store, target: target, now: time.Now, horizon: LateHorizon, span: ObjectSpan}
	for _, o := range opts {
		o(e)
	}
	if store == nil || target == nil {
		return nil, errors.New("export: a store and a target are needed")
	}
	if err := e.win.Check(); err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	e.win = e.win.WithDefaults()
	if e.span <= 0 || e.span%time.Second != 0 || time.Hour%e.span != 0 {
		return nil, fmt.Errorf("export: object span %v does not divide an hour into whole seconds (5m, 15m, 1h ...)", e.span)
	}
	if e.horizon < 0 {
		return nil, fmt.Errorf("export: late horizon %v is negative; use 0 to re-read no closed window", e.horizon)
	}
	for seg := range strings.SplitSeq(e.prefix, "/") {
		if e.prefix != "" && (seg == "" || seg == "." || seg == "..") {
			return nil, fmt.Errorf("export: prefix %q has an empty, . or .. segment", e.prefix)
		}
	}
	return e, nil
}

// Windowing returns the exporter's windowing, defaults filled in.
func (e *Exporter) Windowing() analytics.Windowing { return e.win }

// key returns name below the prefix.
func (e *Exporter) key(name string) string {
	if e.prefix == "" {
		return name
	}
	return e.prefix + "/" + name
}

// ObjectKey returns the key of the object that holds the window starting at start.
func (e *Exporter) ObjectKey(start time.Time) string {
	slot := start.UTC().Truncate(e.span)
	first := slot.Truncate(e.win.Size)
	if first.Before(slot) {
		first = first.Add(e.win.Size)
	}
	last := slot.Add(e.span - time.Second).Truncate(e.win.Size)
	if last.Before(first) {
		// The slot can hold no window; only a window of another windowing lands here.
		last = first
	}
	return e.key(fmt.Sprintf("dt=%s/hour=%02d/%s_%s.json.gz", slot.Format(time.DateOnly), slot.Hour(),
		first.Format(keyTimeLayout), last.Format(keyTimeLayout)))
}

// Checkpoint is the export's progress, stored as JSON under CheckpointName below the prefix.
type Checkpoint struct {
	// Version is the format's version, 1.
	Version int `json:"version"`
	// To is the end of the newest window exported: every window that starts before it was closed and
	// was written, as it was then.
	To time.Time `json:"to"`
	// Objects maps the key of each object of the late horizon to the SHA-256 (hex) of the NDJSON it holds.
	Objects map[string]string `json:"objects,omitempty"`
}

// checkpointVersion is the Version this build writes and reads.
const checkpointVersion = 1

// Checkpoint reads the checkpoint; found is false when there is none yet.
func (e *Exporter) Checkpoint(ctx context.Context) (cp Checkpoint, found bool, err error) {
	b, err := e.target.Get(ctx, e.key(CheckpointName))
	if errors.Is(err, ErrNotExist) {
		return Checkpoint{Version: checkpointVersion}, false, nil
	}
	if err != nil {
		return cp, false, fmt.Errorf("export: reading the checkpoint: %w", err)
	}
	if err := json.Unmarshal(b, &cp); err != nil {
		return cp, false, fmt.Errorf("export: the checkpoint %s is not JSON (remove it to export everything again): %w",
			e.key(CheckpointName), err)
	}
	if cp.Version != checkpointVersion {
		return cp, false, fmt.Errorf("export: the checkpoint %s has version %d, this build reads %d",
			e.key(CheckpointName), cp.Version, checkpointVersion)
	}
	return cp, true, nil
}

// Result is what one run did.
type Result struct {
	// From and To bound the window starts the run read: [From, To). From is zero on the first run, which
	// reads every window; To is the end of the newest closed window.
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
	// Windows is the number of windows read.
	Windows int `json:"windows"`
	// Written are the keys of the objects written, oldest first; Unchanged counts the objects read again
	// whose content had not changed, which were not written.
	Written   []string `json:"written"`
	Unchanged int      `json:"unchanged"`
	// Checkpointed says that the checkpoint was written.
	Checkpointed bool `json:"checkpointed"`
}

// Export runs once: it reads the checkpoint, queries the windows closed since (and those of the late
// horizon), writes the objects whose content is new, then the checkpoint. An error leaves the checkpoint as
// it was: calling Export again redoes the run and writes the same keys. It does not retry by itself.
func (e *Exporter) Export(ctx context.Context) (Result, error) {
	var res Result
	now := e.now()
	cp, found, err := e.Checkpoint(ctx)
	if err != nil {
		return res, err
	}
	// The newest closed window ends at or before now - AllowedLateness, on a window boundary.
	to := e.win.Start(now.Add(-e.win.AllowedLateness))
	res.To = to
	var from time.Time
	if found {
		from = cp.To
		if h := to.Add(-e.horizon); h.Before(from) {
			from = h
		}
		// A slot is written whole: start at the first slot still open at the checkpoint or in the horizon.
		from = from.UTC().Truncate(e.span)
	}
	res.From = from
	if !from.Before(to) {
		return res, nil
	}
	windows, err := e.store.Query(ctx, analytics.Query{From: from, To: to})
	if err != nil {
		return res, fmt.Errorf("export: reading the windows from %s to %s: %w", from.Format(time.RFC3339),
			to.Format(time.RFC3339), err)
	}
	// Query also returns a window that started before From and overlaps it: its slot is not rewritten here.
	kept := windows[:0]
	for _, w := range windows {
		if w.Start.Before(from) || !w.Start.Before(to) {
			continue
		}
		if d := w.End.Sub(w.Start); !w.End.IsZero() && d != e.win.Size {
			return res, fmt.Errorf("export: the store's windows last %v, the exporter's %v: give both the same "+
				"window size (SDP_WINDOW_SIZE)", d, e.win.Size)
		}
		kept = append(kept, w)
	}
	windows = kept
	sortWindows(windows)
	res.Windows = len(windows)

	next := Checkpoint{Version: checkpointVersion, To: cp.To, Objects: map[string]string{}}
	if to.After(next.To) {
		next.To = to
	}
	keepFrom := next.To.Add(-e.horizon).UTC().Truncate(e.span)
	enc := encoder{size: e.win.Size}
	for i := 0; i < len(windows); {
		// The windows of one slot are consecutive.
		slot := windows[i].Start.UTC().Truncate(e.span)
		j := i + 1
		for j < len(windows) && windows[j].Start.UTC().Truncate(e.span).Equal(slot) {
			j++
		}
		key := e.ObjectKey(slot)
		digest, err := enc.encode(windows[i:j])
		if err != nil {
			return res, fmt.Errorf("export: %s: %w", key, err)
		}
		if !slot.Before(keepFrom) {
			next.Objects[key] = digest
		}
		if cp.Objects[key] == digest {
			res.Unchanged++
		} else {
			body, err := enc.compress()
			if err != nil {
				return res, fmt.Errorf("export: %s: %w", key, err)
			}
			if err := e.target.Put(ctx, key, body); err != nil {
				return res, fmt.Errorf("export: writing the windows from %s: %w", slot.Format(time.RFC3339), err)
			}
			res.Written = append(res.Written, key)
		}
		i = j
	}
	// Nothing new: the checkpoint would be written as it is.
	if found && len(res.Written) == 0 && next.To.Equal(cp.To) && maps.Equal(next.Objects, cp.Objects) {
		return res, nil
	}
	b, err := json.Marshal(&next)
	if err != nil {
		return res, fmt.Errorf("export: encoding the checkpoint: %w", err)
	}
	if err := e.target.Put(ctx, e.key(CheckpointName), b); err != nil {
		return res, fmt.Errorf("export: writing the checkpoint: %w", err)
	}
	res.Checkpointed = true
	return res, nil
}

// Run exports at once, then every interval, until ctx is done; it returns nil when ctx ends. A run's
// error does not stop it: the next run redoes that run's work. report, when not nil, is called after each
// run with its result and error, before the next run starts.
func (e *Exporter) Run(ctx context.Context, every time.Duration, report func(Result, error)) error {
	if every <= 0 {
		return fmt.Errorf("export: run interval %v is not positive", every)
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		res, err := e.Export(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if report != nil {
			report(res, err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
