package bulk

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"time"

	"github.com/cenkalti/backoff/v4"
	segjson "github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/ingest"
	"github.com/serverless-data-platform/sdp/ingest/objects"
)

// Progress is where the ingestion of an object resumes (the zero value: its start). It is the ingest
// package's type, so that *Ingester is the ingest function's ingest.ObjectIngester.
type Progress = ingest.ObjectProgress

// Result is what one call of Ingester.Ingest did.
type Result = ingest.ObjectResult

// The Ingester is the S3 path of the ingest function.
var _ ingest.ObjectIngester = (*Ingester)(nil)

// Defaults of the Ingester's options.
const (
	// DefaultBatchSize is the most records of one PutRecords call (Kinesis's limit).
	DefaultBatchSize = event.MaxRecordsPerPut
	// DefaultMaxBytesPerCall is the most bytes, data plus partition keys, of one PutRecords call.
	DefaultMaxBytesPerCall = event.MaxPutBytes
)

// Ingester ingests whole objects of an objects.Store into the stream. It is safe for concurrent use: each
// call of Ingest has its own buffers.
//
// Delivery is at least once. Ingesting an object again, whole or from an earlier Progress, sends its
// accepted events to the stream again, and that is harmless: the platform deduplicates events by id
// downstream (curated items are written put-if-absent by id, aggregates are fenced). Within an object,
// duplicate ids are therefore not rejected, unlike within one HTTP body.
type Ingester struct {
	validator event.Validator
	producer  ingest.Producer
	lim       event.Limits
	batch     int
	maxBytes  int
	rate      func(ctx context.Context, n int) error
	progress  func(bytes int64, events, rejected int)
	backoff   func() backoff.BackOff
	spill     int
	log       *slog.Logger
}

// IngesterOption configures an Ingester.
type IngesterOption func(*Ingester)

// WithBatchSize sets the most records of one PutRecords call (DefaultBatchSize; at most 500, Kinesis's
// limit).
func WithBatchSize(n int) IngesterOption {
	return func(g *Ingester) {
		if n > 0 {
			g.batch = min(n, event.MaxRecordsPerPut)
		}
	}
}

// WithMaxBytesPerCall sets the most bytes, data plus partition keys, of one PutRecords call
// (DefaultMaxBytesPerCall).
func WithMaxBytesPerCall(n int) IngesterOption {
	return func(g *Ingester) {
		if n > 0 {
			g.maxBytes = n
		}
	}
}

// WithLimits sets the limits on one event (MaxEventBytes, MaxDepth); zero fields keep event.DefaultLimits.
func WithLimits(l event.Limits) IngesterOption {
	return func(g *Ingester) { g.lim = l.OrDefault() }
}

// WithRateLimit sets a hook called before each PutRecords call with the number of records it carries; it
// blocks until they may be sent (a golang.org/x/time/rate Limiter's WaitN fits) and fails when ctx is done.
// Its error stops the ingestion. By default nothing is limited.
func WithRateLimit(wait func(ctx context.Context, n int) error) IngesterOption {
	return func(g *Ingester) { g.rate = wait }
}

// WithProgress sets a callback called after each PutRecords call, and once at the end of each Ingest, with
// what was done since its previous call: the bytes of the object read (as stored, compressed or not;
// counted as read from the store, so a little ahead of the events), the events read, and those rejected.
// It is called from the goroutine running Ingest and must not block for long.
func WithProgress(fn func(bytes int64, events, rejected int)) IngesterOption {
	return func(g *Ingester) { g.progress = fn }
}

// WithBackOff sets the policy for retrying records the stream did not take (throttled, or failed as a
// whole call): a new BackOff for each PutRecords call. The default is exponential from 100 ms to 5 s with
// jitter, for at most 2 minutes; when it gives up, Ingest returns an error and the position before the call.
func WithBackOff(newBackOff func() backoff.BackOff) IngesterOption {
	return func(g *Ingester) {
		if newBackOff != nil {
			g.backoff = newBackOff
		}
	}
}

// WithLogger sets the logger (by default nothing is logged).
func WithLogger(l *slog.Logger) IngesterOption {
	return func(g *Ingester) {
		if l != nil {
			g.log = l
		}
	}
}

// defaultSpillBytes is how many bytes of rejected lines are kept in memory before spilling to a file.
const defaultSpillBytes = 4 << 20

// NewIngester returns an Ingester that checks events with v and writes the valid ones to p. Both are
// required. NewIngester does no I/O.
func NewIngester(v event.Validator, p ingest.Producer, opts ...IngesterOption) (*Ingester, error) {
	if v == nil || p == nil {
		return nil, errors.New("bulk: NewIngester needs a validator and a producer")
	}
	g := &Ingester{
		validator: v,
		producer:  p,
		lim:       event.DefaultLimits,
		batch:     DefaultBatchSize,
		maxBytes:  DefaultMaxBytesPerCall,
		backoff:   defaultBackOff,
		spill:     defaultSpillBytes,
		log:       slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		o(g)
	}
	return g, nil
}

// defaultBackOff is the retry policy of records the stream did not take.
func defaultBackOff() backoff.BackOff {
	return backoff.NewExponentialBackOff(backoff.WithInitialInterval(100*time.Millisecond),
		backoff.WithMaxInterval(5*time.Second), backoff.WithMaxElapsedTime(2*time.Minute))
}

// ErrorLine is one line of an errors object: a rejected event of the source object.
type ErrorLine struct {
	// Line is the 1-based line the event starts on; Index its 0-based position in the object.
	Line  int `json:"line"`
	Index int `json:"index"`
	// ID is the event's id, when it could be read.
	ID string `json:"id,omitempty"`
	// Reason is why it was rejected: the *event.ValidationError's text ("<pointer>: <message> (<rule>)").
	Reason string `json:"reason"`
	// Raw is the line (or array element) as read, cut at MaxEventBytes; bytes that are not UTF-8 are
	// replaced by U+FFFD.
	Raw string `json:"raw"`
}

// ErrorsKey returns the key of the errors object of the source key for part (0: the object read in one
// call): errors/<key>.ndjson, or errors/<key>.part-<part>.ndjson.
func ErrorsKey(key string, part int) string {
	if part == 0 {
		return objects.ErrorKey(key)
	}
	return ingest.ErrorsPrefix + key + ".part-" + strconv.Itoa(part) + ".ndjson"
}

// Ingest reads the object key of store from from, validates its events, writes the valid ones to the
// stream and the rejected ones to an errors object, and returns what it did.
//
// An uncompressed NDJSON object is read from from.Offset (a ranged read); a gzip object or a JSON array is
// read from its start, skipping the first from.Index events. Valid events go to the stream in PutRecords
// calls within the batch size and the per-call byte limit; records the stream does not take are sent again
// with backoff. Once deadline has passed (never when it is zero), Ingest stops after a whole PutRecords
// call and returns Done false with the Progress to resume from; it always makes some progress first.
//
// The rejected lines are written, once at the end of the call, to ErrorsKey(key, 0) when the call read
// the whole object, else to ErrorsKey(key, n) for the call's part n (from.Part+1). No errors object is
// written when no event was rejected.
//
// An error means the call stopped early: the source or the stream failed, ctx was cancelled, or the
// object is broken (a gzip stream cut short, a malformed array: the events before the break are ingested
// and the break is written to the errors object too). Result.Next is then the position after the last
// PutRecords call that succeeded, from which ingesting again loses nothing.
func (g *Ingester) Ingest(ctx context.Context, store objects.Store, key string, from Progress, deadline time.Time) (Result, error) {
	where := "object " + key
	rc, opts, err := g.open(ctx, store, key, from)
	if errors.Is(err, objects.ErrInvalidRange) {
		// Nothing is left after from.Offset: the object is done.
		return Result{Done: true, Next: from}, nil
	}
	if err != nil {
		return Result{Next: from}, fmt.Errorf("bulk: %s: %w", where, err)
	}
	defer rc.Close()
	counted := &countingReader{r: rc}
	rd, err := NewReader(counted, opts)
	if err != nil {
		return Result{Next: from}, fmt.Errorf("bulk: %s: %w", where, err)
	}
	run := &run{g: g, ctx: ctx, store: store, key: key, from: from, counted: counted,
		res: Result{Next: from}, errs: newErrorSink(g.spill)}
	defer run.errs.close()
	err = run.loop(rd, deadline)
	if !run.res.Done {
		// This call ends a part of the object.
		run.res.Next.Part = from.Part + 1
	}
	if err != nil {
		err = fmt.Errorf("bulk: %s: %w", where, err)
	}
	if werr := run.writeErrors(); werr != nil {
		err = errors.Join(err, fmt.Errorf("bulk: %s: %w", where, werr))
	}
	run.report()
	return run.res, err
}

// open opens the object for a read from from, and returns the Reader's options.
func (g *Ingester) open(ctx context.Context, store objects.Store, key string, from Progress) (io.ReadCloser, ReaderOptions, error) {
	opts := ReaderOptions{Limits: g.lim, Skip: from.Index}
	if from.Offset == 0 {
		rc, err := store.Open(ctx, key)
		return rc, opts, err
	}
	// Look at the start of the object: only uncompressed NDJSON can be read from an offset.
	head, err := store.OpenRange(ctx, key, 0, sniffBytes)
	if err != nil {
		return nil, opts, fmt.Errorf("reading its start: %w", err)
	}
	prefix, err := io.ReadAll(head)
	head.Close()
	if err != nil {
		return nil, opts, fmt.Errorf("reading its start: %w", err)
	}
	if bytes.HasPrefix(prefix, gzipMagic) || firstNonSpace(prefix) == '[' {
		rc, err := store.Open(ctx, key)
		return rc, opts, err
	}
	rc, err := store.OpenRange(ctx, key, from.Offset, -1)
	opts = ReaderOptions{Limits: g.lim, Format: event.FormatNDJSON, Offset: from.Offset, Line: from.Line,
		Index: from.Index, Skip: from.Index}
	return rc, opts, err
}

// sniffBytes is how much of an object's start is read to tell its format before a resumed read.
const sniffBytes = 1024

// firstNonSpace returns the first byte of b that is neither JSON white space nor part of a UTF-8 byte
// order mark, or 0.
func firstNonSpace(b []byte) byte {
	b = bytes.TrimPrefix(b, utf8BOM)
	for _, c := range b {
		if !isSpace(c) {
			return c
		}
	}
	return 0
}

// run is the state of one call of Ingest.
type run struct {
	g       *Ingester
	ctx     context.Context
	store   objects.Store
	key     string
	from    Progress
	counted *countingReader
	res     Result
	errs    *errorSink
	// arena holds the pending records' data and partition keys; recs point into it once a call is built.
	arena []byte
	spans []span
	recs  []event.Record
	// pending is the position after the last item of the pending batch, or of the last item read.
	pending Progress
	// reported is what the progress callback has been told of so far.
	reported struct {
		bytes            int64
		events, rejected int
	}
}

// span locates one pending record's data and partition key in the arena; before is the position before
// its event.
type span struct {
	data, pk, end int
	before        Progress
}

// loop reads items until the end of the object, the deadline or an error.
func (r *run) loop(rd *Reader, deadline time.Time) error {
	r.pending = r.from
	size := 0
	for {
		it, ok := rd.Next()
		if !ok {
			break
		}
		r.res.Events++
		before := r.pending
		r.pending = Progress{Offset: it.Offset, Index: it.Index + 1, Part: r.from.Part, Line: it.Line + 1}
		if n, ok := r.add(it); ok {
			r.spans[len(r.spans)-1].before = before
			if len(r.spans) > 1 && size+n > r.g.maxBytes {
				// The record does not fit with the pending ones: send those first, then start a new batch.
				if err := r.flush(len(r.spans) - 1); err != nil {
					return err
				}
				size = 0
			}
			size += n
			if len(r.spans) >= r.g.batch {
				if err := r.flush(len(r.spans)); err != nil {
					return err
				}
				size = 0
			}
		}
		if len(r.spans) == 0 {
			r.res.Next = r.pending
			if !deadline.IsZero() && !time.Now().Before(deadline) {
				// Stop after a whole call (or between rejected events), having made progress.
				return nil
			}
		}
	}
	if err := rd.Err(); err != nil {
		// The object is broken here: ingest what came before, and say where in the errors object.
		ferr := r.flush(len(r.spans))
		r.errs.add(ErrorLine{Line: rd.line, Index: rd.index, Reason: err.Error()})
		return errors.Join(err, ferr)
	}
	if err := r.flush(len(r.spans)); err != nil {
		return err
	}
	r.res.Done = true
	r.res.Next = r.pending
	return nil
}

// add checks one item and either rejects it or appends it to the pending batch; it returns the record's
// size and true in the latter case.
func (r *run) add(it Item) (int, bool) {
	if it.Err != nil {
		r.reject(it, "", it.Err)
		return 0, false
	}
	ev, err := r.g.validator.Validate(it.Raw)
	if err != nil {
		r.reject(it, ev.ID, err)
		return 0, false
	}
	pk := ev.PartitionKey()
	n := len(it.Raw) + len(pk)
	if n > r.g.lim.MaxEventBytes {
		r.reject(it, ev.ID, &event.ValidationError{Rule: "maxEventBytes",
			Message: fmt.Sprintf("the record (event and partition key) is %d bytes, the limit is %d", n, r.g.lim.MaxEventBytes)})
		return 0, false
	}
	start := len(r.arena)
	r.arena = append(r.arena, it.Raw...)
	r.arena = append(r.arena, pk...)
	r.spans = append(r.spans, span{data: start, pk: start + len(it.Raw), end: len(r.arena)})
	return n, true
}

// reject records a rejected event.
func (r *run) reject(it Item, id string, err error) {
	r.res.Rejected++
	if id == "" && it.Err == nil {
		id = event.ReadID(it.Raw)
	}
	r.errs.add(ErrorLine{Line: it.Line, Index: it.Index, ID: id, Reason: err.Error(), Raw: string(it.Raw)})
}

// flush sends the first n pending records in one PutRecords call, retrying the ones not taken, and keeps
// the others pending. On success the position moves past the sent records (and any rejected events
// after them, when nothing stays pending).
func (r *run) flush(n int) error {
	if n == 0 {
		return nil
	}
	r.recs = r.recs[:0]
	for _, s := range r.spans[:n] {
		r.recs = append(r.recs, event.Record{Data: r.arena[s.data:s.pk], PartitionKey: string(r.arena[s.pk:s.end])})
	}
	if r.g.rate != nil {
		if err := r.g.rate(r.ctx, n); err != nil {
			return fmt.Errorf("waiting for the rate limit: %w", err)
		}
	}
	if err := r.put(r.recs); err != nil {
		return err
	}
	r.res.Accepted += n
	clear(r.recs) // drop the references into the arena
	rest := r.spans[n:]
	if len(rest) == 0 {
		r.arena, r.spans = r.arena[:0], r.spans[:0]
		r.res.Next = r.pending
	} else {
		// The records kept pending move to the arena's start; the position is the one before the first of them.
		r.res.Next = rest[0].before
		base := rest[0].data
		r.arena = append(r.arena[:0], r.arena[base:]...)
		for i := range rest {
			rest[i].data, rest[i].pk, rest[i].end = rest[i].data-base, rest[i].pk-base, rest[i].end-base
		}
		r.spans = append(r.spans[:0], rest...)
	}
	r.report()
	return nil
}

// put writes recs, sending again with backoff the records the stream does not take, until all are taken.
func (r *run) put(recs []event.Record) error {
	b := backoff.WithContext(r.g.backoff(), r.ctx)
	todo := recs
	var retry []event.Record
	for {
		results, err := r.g.producer.PutRecords(r.ctx, todo)
		if err == nil && len(results) != len(todo) {
			err = fmt.Errorf("the producer returned %d results for %d records", len(results), len(todo))
		}
		var why string
		if err != nil {
			why = err.Error()
		} else {
			retry = retry[:0]
			for i, res := range results {
				if res.SequenceNumber == "" {
					retry = append(retry, todo[i])
					if why == "" {
						why = res.ErrorCode + ": " + res.ErrorMessage
					}
				}
			}
			if len(retry) == 0 {
				return nil
			}
			// todo may alias recs; retry is a separate slice, so copy back into todo's prefix.
			todo = append(todo[:0], retry...)
		}
		if r.ctx.Err() != nil {
			return fmt.Errorf("writing %d records to the stream: %w", len(todo), r.ctx.Err())
		}
		wait := b.NextBackOff()
		if wait == backoff.Stop {
			if err != nil {
				return fmt.Errorf("writing %d records to the stream: %w", len(todo), err)
			}
			return fmt.Errorf("writing to the stream: %d records still not taken after retries (%s)", len(todo), why)
		}
		r.g.log.LogAttrs(r.ctx, slog.LevelWarn, "bulk: records not taken by the stream; retrying",
			slog.String("object", r.key), slog.Int("records", len(todo)), slog.String("reason", why),
			slog.Duration("after", wait))
		t := time.NewTimer(wait)
		select {
		case <-r.ctx.Done():
			t.Stop()
			return fmt.Errorf("writing %d records to the stream: %w", len(todo), r.ctx.Err())
		case <-t.C:
		}
	}
}

// report tells the progress callback what was done since its previous call.
func (r *run) report() {
	r.res.Bytes = r.counted.n
	if r.g.progress == nil {
		return
	}
	db, de, dr := r.res.Bytes-r.reported.bytes, r.res.Events-r.reported.events, r.res.Rejected-r.reported.rejected
	if db == 0 && de == 0 && dr == 0 {
		return
	}
	r.reported.bytes, r.reported.events, r.reported.rejected = r.res.Bytes, r.res.Events, r.res.Rejected
	r.g.progress(db, de, dr)
}

// writeErrors writes the rejected lines to the errors object of this call, if there are any.
func (r *run) writeErrors() error {
	if r.errs.lines == 0 {
		return nil
	}
	part := r.from.Part + 1
	if r.res.Done && r.from == (Progress{}) {
		part = 0
	}
	key := ErrorsKey(r.key, part)
	body, err := r.errs.reader()
	if err != nil {
		return fmt.Errorf("writing the errors object %s: %w", key, err)
	}
	if _, err := r.store.Put(r.ctx, key, body); err != nil {
		return fmt.Errorf("writing the errors object %s: %w", key, err)
	}
	r.res.ErrorsKey = key
	return nil
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

// Read reads from the underlying reader and counts the bytes.
func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// errorSink collects the lines of an errors object: in memory up to a bound, then in a temporary file.
type errorSink struct {
	limit int
	mem   bytes.Buffer
	file  *os.File
	w     *bufio.Writer
	err   error
	lines int
}

// newErrorSink returns a sink that keeps up to limit bytes in memory.
func newErrorSink(limit int) *errorSink { return &errorSink{limit: limit} }

// add appends one line.
func (s *errorSink) add(l ErrorLine) {
	b, err := segjson.Marshal(l)
	if err != nil {
		s.err = errors.Join(s.err, fmt.Errorf("encoding an error line: %w", err))
		return
	}
	b = append(b, '\n')
	s.lines++
	if s.file == nil && s.mem.Len()+len(b) > s.limit {
		f, err := os.CreateTemp("", "sdp-bulk-errors-*.ndjson")
		if err != nil {
			s.err = errors.Join(s.err, fmt.Errorf("spilling the error lines to a temporary file: %w", err))
		} else {
			s.file, s.w = f, bufio.NewWriter(f)
			_, _ = s.w.Write(s.mem.Bytes())
			s.mem = bytes.Buffer{}
		}
	}
	if s.w != nil {
		if _, err := s.w.Write(b); err != nil {
			s.err = errors.Join(s.err, fmt.Errorf("spilling the error lines: %w", err))
		}
		return
	}
	s.mem.Write(b)
}

// reader returns the lines written, from their start.
func (s *errorSink) reader() (io.ReadSeeker, error) {
	if s.err != nil {
		return nil, s.err
	}
	if s.file == nil {
		return bytes.NewReader(s.mem.Bytes()), nil
	}
	if err := s.w.Flush(); err != nil {
		return nil, fmt.Errorf("spilling the error lines: %w", err)
	}
	if _, err := s.file.Seek(0, io.SeekStart); err != nil {
		return nil, fmt.Errorf("spilling the error lines: %w", err)
	}
	return s.file, nil
}

// close removes the temporary file, if any.
func (s *errorSink) close() {
	if s.file != nil {
		name := s.file.Name()
		s.file.Close()
		os.Remove(name)
	}
}
