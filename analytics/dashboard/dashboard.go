// Package dashboard is the local web page of `sdp up` and the read API behind it.
//
// The page, at /, shows the pipeline live: the ingest rate and the rejected events by reason, the
// consumer's lag, the workflow's latency, the dead-letter queue's depth, the curated count, and the
// aggregates of each event type over the last minutes. It is served from assets embedded in the binary
// (the page, its script and Apache ECharts), so it needs no network.
//
// The API:
//
//   - GET /v1/dashboard answers one Snapshot as JSON: every figure the page shows, computed when asked.
//   - GET /v1/dashboard/stream is a server-sent event stream (text/event-stream) of snapshots: one at
//     once, then one per interval (a second by default), each a "snapshot" event whose data is the JSON of
//     a Snapshot on one line and whose id is its sequence number. The page reads it and falls back to
//     polling GET /v1/dashboard when the stream is not available.
//   - GET / and GET /assets/{name} serve the page.
//
// Rates come from the ingest counters sampled once per interval into a small ring by Run, which must run
// for the rates and the stream to move.
package dashboard

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/serverless-data-platform/sdp/analytics"
	"github.com/serverless-data-platform/sdp/ingest"
	"github.com/serverless-data-platform/sdp/stream/esm"
	"github.com/serverless-data-platform/sdp/workflow/history"
)

// IngestCounter reports the ingest function's counters (*ingest.Handler). Stats must be cheap: it is called
// once per interval.
type IngestCounter interface {
	Stats() ingest.Stats
}

// ShardReporter reports the event source mapping's shards (*esm.Mapping), for the consumer's lag.
type ShardReporter interface {
	Stats() []esm.ShardStats
}

// Executions reports the newest workflow executions, newest first (*history.Local).
type Executions interface {
	Recent(n int) []history.Timing
}

// Queue reports the dead-letter queue's depth. Len blocks until the queue answers or ctx is done.
type Queue interface {
	Len(ctx context.Context) (int, error)
}

// Counter reports the number of curated events. Count blocks until the table answers or ctx is done.
type Counter interface {
	Count(ctx context.Context) (int, error)
}

// Windows reads the aggregates (an analytics.Store). Query blocks until the store answers or ctx is done.
type Windows interface {
	Query(ctx context.Context, q analytics.Query) ([]analytics.Window, error)
}

// Sources are what a Dashboard reads. Ingest, Consumer, DLQ and Aggregates are required.
type Sources struct {
	Ingest   IngestCounter
	Consumer ShardReporter
	// Executions, when nil, leaves the workflow's latency out (as when the workflow runs in AWS).
	Executions Executions
	DLQ        Queue
	// Curated, when nil, leaves the curated count out (null): counting a DynamoDB table is a scan, which a
	// page refreshed every second must not do.
	Curated    Counter
	Aggregates Windows
}

// Defaults of the options.
const (
	// DefaultInterval is how often the ingest counters are sampled and the stream sends a snapshot.
	DefaultInterval = time.Second
	// DefaultSpan is how far back, by event time, the aggregates reach.
	DefaultSpan = 15 * time.Minute
	// DefaultRateWindow is the span of the ingest rate.
	DefaultRateWindow = 5 * time.Second
	// DefaultLatencyWindow is how far back the workflow's latency looks: executions that stopped earlier
	// do not count.
	DefaultLatencyWindow = 5 * time.Minute
	// DefaultTimeout bounds the reads of one snapshot.
	DefaultTimeout = 5 * time.Second
)

// ringSize is how many samples of the ingest counters are kept: two minutes at one a second, plus one.
const ringSize = 121

// latencySample is how many of the newest executions the workflow's latency is computed from, at most.
const latencySample = history.RecentTimings

// Option configures a Dashboard.
type Option func(*Dashboard)

// WithClock sets the clock (default time.Now).
func WithClock(now func() time.Time) Option {
	return func(d *Dashboard) {
		if now != nil {
			d.now = now
		}
	}
}

// WithInterval sets how often Run samples the counters and the stream sends a snapshot (DefaultInterval).
func WithInterval(every time.Duration) Option {
	return func(d *Dashboard) {
		if every > 0 {
			d.every = every
		}
	}
}

// WithSpan sets how far back, by event time, the aggregates reach (DefaultSpan).
func WithSpan(span time.Duration) Option {
	return func(d *Dashboard) {
		if span > 0 {
			d.span = span
		}
	}
}

// WithRateWindow sets the span of the ingest rate (DefaultRateWindow); it is rounded to whole intervals.
func WithRateWindow(w time.Duration) Option {
	return func(d *Dashboard) {
		if w > 0 {
			d.rateWindow = w
		}
	}
}

// WithAggregatesEvery reuses the aggregates read for this long before reading them again (default 0:
// every snapshot reads them). Set it when the store is remote, such as DynamoDB, so that a page left open
// does not query it every second.
func WithAggregatesEvery(d time.Duration) Option {
	return func(db *Dashboard) {
		if d > 0 {
			db.aggEvery = d
		}
	}
}

// WithTimeout bounds the reads of one snapshot (DefaultTimeout).
func WithTimeout(t time.Duration) Option {
	return func(d *Dashboard) {
		if t > 0 {
			d.timeout = t
		}
	}
}

// WithLogger sets the logger; by default the Dashboard logs nothing.
func WithLogger(l *slog.Logger) Option {
	return func(d *Dashboard) {
		if l != nil {
			d.log = l
		}
	}
}

// ErrNoSource is wrapped by the error of New when a required source is missing.
var ErrNoSource = errors.New("dashboard: a required source is missing")

// Dashboard serves the page and its API. It is safe for concurrent use.
type Dashboard struct {
	src        Sources
	now        func() time.Time
	every      time.Duration
	span       time.Duration
	rateWindow time.Duration
	aggEvery   time.Duration
	timeout    time.Duration
	log        *slog.Logger
	mux        *http.ServeMux

	// mu guards the ring of samples, the cached aggregates and the stream's subscribers.
	mu sync.Mutex
	// ring holds the newest samples of the ingest counters, oldest first once read in order: n of them,
	// the next going to ring[next].
	ring    [ringSize]sample
	n, next int
	// agg and aggAt are the aggregates last read and when (WithAggregatesEvery).
	agg   *Aggregates
	aggAt time.Time
	// subs are the stream's subscribers; closed is set once Run has returned, after which none is taken.
	subs   map[*subscriber]struct{}
	closed bool
	// seq numbers the snapshots Run sends.
	seq uint64

	// etags holds the entity tag of each asset served so far.
	etagsMu sync.Mutex
	etags   map[string]string
}

// New returns a Dashboard over src. It does no I/O and starts nothing: Run samples the counters and feeds
// the stream.
func New(src Sources, opts ...Option) (*Dashboard, error) {
	switch {
	case src.Ingest == nil:
		return nil, fmt.Errorf("%w: Ingest (the ingest function's counters)", ErrNoSource)
	case src.Consumer == nil:
		return nil, fmt.Errorf("%w: Consumer (the event source mapping)", ErrNoSource)
	case src.DLQ == nil:
		return nil, fmt.Errorf("%w: DLQ (the dead-letter queue)", ErrNoSource)
	case src.Aggregates == nil:
		return nil, fmt.Errorf("%w: Aggregates (the analytics store)", ErrNoSource)
	}
	d := &Dashboard{
		src: src, now: time.Now, every: DefaultInterval, span: DefaultSpan, rateWindow: DefaultRateWindow,
		timeout: DefaultTimeout, log: slog.New(slog.DiscardHandler), subs: map[*subscriber]struct{}{},
		etags: map[string]string{},
	}
	for _, o := range opts {
		o(d)
	}
	d.mux = http.NewServeMux()
	d.Register(d.mux)
	return d, nil
}

// Register adds the Dashboard's routes to mux: GET / (exactly), GET /assets/{name}, GET /v1/dashboard and
// GET /v1/dashboard/stream.
func (d *Dashboard) Register(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", d.serveIndex)
	mux.HandleFunc("GET /assets/{name}", d.serveAsset)
	mux.HandleFunc("GET /v1/dashboard", d.serveSnapshot)
	mux.HandleFunc("GET /v1/dashboard/stream", d.serveStream)
}

// ServeHTTP serves the routes Register adds, and 404 for others.
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) { d.mux.ServeHTTP(w, r) }

// Run samples the ingest counters once per interval and sends a snapshot to each subscriber of the stream,
// until ctx is done. It then ends the streams, so that an HTTP server's graceful shutdown does not wait on
// them, and returns nil. Run is meant to be called once.
func (d *Dashboard) Run(ctx context.Context) error {
	defer d.closeStreams()
	d.sample(d.now())
	tick := time.NewTicker(d.every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		d.sample(d.now())
		if d.subscribers() == 0 {
			continue
		}
		d.broadcast(ctx)
	}
}
