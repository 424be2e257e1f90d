package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	stdjson "encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/cenkalti/backoff/v4"
	"github.com/schollz/progressbar/v3"
	"github.com/segmentio/encoding/json"
	"golang.org/x/time/rate"

	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/ingest"
	"github.com/serverless-data-platform/sdp/ingest/bulk"
	"github.com/serverless-data-platform/sdp/ingest/objects"
	"github.com/serverless-data-platform/sdp/ingest/objects/s3"
	"github.com/serverless-data-platform/sdp/internal/awsretry"
	"github.com/serverless-data-platform/sdp/stream/kinesis"
)

// backfillCmd loads history: it reads every object of a bucket prefix or a local folder (NDJSON or JSON
// arrays, gzip or not), several at once, and sends their events to the ingest API or straight to the
// stream, within an optional rate. A manifest of the finished objects lets a stopped backfill continue.
type backfillCmd struct {
	Source        string        `arg:"" help:"Where the objects are: s3://bucket/prefix, or a local folder."`
	To            string        `enum:"api,stream" default:"api" help:"Send to the ingest API (api) or write to the Kinesis stream (stream)."`
	APIURL        string        `name:"api-url" help:"Base URL of the ingest API when it is not --endpoint-url (for example when --endpoint-url names an S3 emulator)."`
	Stream        string        `default:"sdp-events" help:"Kinesis stream name or ARN, with --to stream."`
	Batch         int           `default:"500" help:"Events per request to the API, or per write to the stream."`
	Concurrency   int           `default:"4" help:"Objects read and sent at once."`
	Rate          float64       `default:"0" help:"Events per second over all objects; 0 is unlimited."`
	Include       []string      `help:"Only the keys matching this glob (on the whole key, or its last segment); repeatable."`
	Exclude       []string      `help:"Leave out the keys matching this glob (on the whole key, or its last segment); repeatable."`
	Manifest      string        `help:"Manifest of finished objects (default: <user cache dir>/sdp/backfill/<hash of the source>.jsonl)."`
	Errors        string        `help:"File of rejected events, NDJSON {key,line,id,reason} (default: beside the manifest)."`
	Restart       bool          `help:"Ignore the manifest: send every object again, and start a new manifest."`
	DryRun        bool          `name:"dry-run" help:"Read and validate only: send nothing, write no manifest."`
	ProgressEvery time.Duration `name:"progress-every" default:"10s" help:"Interval of the progress lines when stderr is not a terminal (0: none)."`
	MaxRetries    int           `default:"10" help:"Retries of a batch the API or the stream pushed back (429/503, throttling) before the object fails."`
	Timeout       time.Duration `default:"60s" help:"Timeout of one request to the API."`
	MaxObjects    int           `hidden:"" help:"Stop after starting this many objects (the others are left for the next run)."`
}

// backfillSummary is what `sdp backfill` reports at the end.
type backfillSummary struct {
	Source string `json:"source"`
	// Target is the ingest API's URL or the stream; empty in a dry run.
	Target  string         `json:"target,omitempty"`
	DryRun  bool           `json:"dryRun,omitempty"`
	Objects bfObjectCounts `json:"objects"`
	Events  int64          `json:"events"`
	// Accepted counts the events the API or the stream took; in a dry run, the valid events.
	Accepted        int64       `json:"accepted"`
	Rejected        int64       `json:"rejected"`
	Bytes           int64       `json:"bytes"`
	DurationSeconds float64     `json:"durationSeconds"`
	EventsPerSecond float64     `json:"eventsPerSecond"`
	Manifest        string      `json:"manifest,omitempty"`
	ErrorsFile      string      `json:"errorsFile,omitempty"`
	Rejects         []bfReject  `json:"rejects"`
	Failures        []bfFailure `json:"failures"`
}

// bfObjectCounts counts the objects of a backfill by outcome; Remaining were neither started nor finished
// (the run was interrupted).
type bfObjectCounts struct {
	Total     int `json:"total"`
	Done      int `json:"done"`
	Skipped   int `json:"skipped"`
	Failed    int `json:"failed"`
	Remaining int `json:"remaining"`
}

// bfFailure is why one object could not be backfilled.
type bfFailure struct {
	Key   string `json:"key"`
	Error string `json:"error"`
}

// bfReject is one line of the errors file: an event that was not sent, with where it is.
type bfReject struct {
	Key    string `json:"key"`
	Line   int    `json:"line"`
	ID     string `json:"id,omitempty"`
	Reason string `json:"reason"`
}

// bfManifestEntry is one line of the manifest: an object backfilled completely.
type bfManifestEntry struct {
	Key        string    `json:"key"`
	ETag       string    `json:"etag"`
	Size       int64     `json:"size"`
	Events     int64     `json:"events"`
	Accepted   int64     `json:"accepted"`
	Rejected   int64     `json:"rejected"`
	FinishedAt time.Time `json:"finishedAt"`
}

// bfShownRejects is how many rejected events the summary lists; the errors file has them all.
const bfShownRejects = 10

// bfMaxBody bounds the uncompressed body of one request, below the API's limits (6 MiB as sent).
const bfMaxBody = 5 << 20

// bfGzipAbove is the body size from which a request is compressed.
const bfGzipAbove = 64 << 10

// Run backfills the source and prints the summary. It fails (exit 1) when any object failed or the run was
// interrupted; rejected events are reported but are not a failure.
func (c *backfillCmd) Run(g *globals) error {
	if c.Batch < 1 || c.Concurrency < 1 || c.Rate < 0 || c.MaxRetries < 0 {
		return errors.New("--batch and --concurrency must be at least 1, --rate and --max-retries at least 0")
	}
	// A malformed glob is refused before anything is listed: path.Match reports it on any name.
	for _, p := range append(append([]string{}, c.Include...), c.Exclude...) {
		if _, err := path.Match(p, ""); err != nil {
			return fmt.Errorf("glob %q: %w", p, err)
		}
	}
	store, prefix, id, err := c.openSource(g)
	if err != nil {
		return err
	}
	// The summary's lists are never null in JSON, so that scripts can iterate them.
	b := &backfill{cmd: c, g: g, store: store, start: time.Now()}
	b.sum = backfillSummary{Source: c.Source, DryRun: c.DryRun, Rejects: []bfReject{}, Failures: []bfFailure{}}
	if err := b.openSink(g); err != nil {
		return err
	}
	if err := b.openFiles(id); err != nil {
		return err
	}
	defer b.closeFiles()

	// Listing first gives the total size for the progress and the ETA; it holds only the objects' metadata.
	todo, err := b.plan(g.ctx, prefix)
	if err != nil {
		return err
	}
	b.run(g.ctx, todo)
	// The manifest and the errors file are complete on disk before the summary points at them.
	if err := b.closeFiles(); err != nil {
		return err
	}

	sum := b.summary()
	if g.Output == "json" {
		if err := printJSON(g.stdout, sum); err != nil {
			return err
		}
	} else {
		writeBackfillText(g.stdout, sum)
	}
	// Rejected events are data problems the errors file lists; a failed or unfinished object is what makes
	// the run fail, since only a rerun completes it.
	switch {
	case sum.Objects.Failed > 0:
		fmt.Fprintf(g.stderr, "sdp backfill: %d object(s) failed (see above); fix the cause and run the same command again: finished objects are skipped\n", sum.Objects.Failed)
		return errReported
	case g.ctx.Err() != nil:
		fmt.Fprintln(g.stderr, "sdp backfill: interrupted; run the same command again to continue: finished objects are skipped")
		return errReported
	}
	return nil
}

// openSource returns the store of the source, the key prefix to list and the identity of the source that
// names its default manifest.
func (c *backfillCmd) openSource(g *globals) (objects.Store, string, string, error) {
	if rest, ok := strings.CutPrefix(c.Source, "s3://"); ok {
		bucket, prefix, _ := strings.Cut(rest, "/")
		if bucket == "" {
			return nil, "", "", fmt.Errorf("source %q names no bucket; use s3://bucket/prefix", c.Source)
		}
		cfg, err := awsConfig(g)
		if err != nil {
			return nil, "", "", err
		}
		// An endpoint (an emulator, or an S3-compatible store) is addressed path-style, as the AWS CLI does.
		ep := awsEndpoint(g)
		client := awss3.NewFromConfig(cfg, func(o *awss3.Options) {
			// Objects are read whole and streamed; a missing checksum in an answer is not worth a log line.
			o.DisableLogOutputChecksumValidationSkipped = true
			if ep != "" {
				o.BaseEndpoint = aws.String(ep)
				o.UsePathStyle = true
			}
		})
		return s3.New(client, bucket), prefix, "s3://" + bucket + "/" + prefix + "\x00" + ep, nil
	}
	// A folder is named by its absolute path, so that the same folder has the same manifest from anywhere.
	dir, err := filepath.Abs(c.Source)
	if err != nil {
		return nil, "", "", fmt.Errorf("source %s: %w", c.Source, err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, "", "", fmt.Errorf("source: %w (give a folder or s3://bucket/prefix)", err)
	}
	if !fi.IsDir() {
		return nil, "", "", fmt.Errorf("source %s is not a folder (give a folder or s3://bucket/prefix)", c.Source)
	}
	return objects.NewFolder(dir), "", dir, nil
}

// matches reports whether a key passes the --include and --exclude globs. A glob matches the whole key or,
// when it holds no slash, the key's last segment.
func (c *backfillCmd) matches(key string) bool {
	match := func(globs []string) bool {
		for _, p := range globs {
			if ok, _ := path.Match(p, key); ok {
				return true
			}
			if !strings.Contains(p, "/") {
				if ok, _ := path.Match(p, path.Base(key)); ok {
					return true
				}
			}
		}
		return false
	}
	return (len(c.Include) == 0 || match(c.Include)) && !match(c.Exclude)
}

// sink is where the events of a batch go: it returns how many were taken, and reports the others refused
// for good through reject; an error means the batch could not be sent, and the object fails.
type bfSink interface {
	send(ctx context.Context, b *bfBatch, reject func(item bfItem, reason string)) (int, error)
}

// backfill is one run of the command.
type backfill struct {
	// cmd and g are the flags; store the source; sink the destination (nil in a dry run); registry the
	// validator (nil when the API validates); limiter the shared rate (nil when unlimited).
	cmd      *backfillCmd
	g        *globals
	store    objects.Store
	sink     bfSink
	registry *event.Registry
	limiter  *rate.Limiter
	start    time.Time

	// manifest and errs are the open manifest and errors files (nil in a dry run without --errors).
	fileMu       sync.Mutex
	manifest     *os.File
	errs         *os.File
	errsBuf      *bufio.Writer
	manifestPath string
	errsPath     string
	done         map[string]string // key → etag of the objects the manifest lists
	// totalBytes is the size of the objects to read; the atomics count progress as the workers go, and
	// feed both the progress display and the summary.
	totalBytes    int64
	bytes, events atomic.Int64
	accepted      atomic.Int64
	rejected      atomic.Int64

	// mu guards sum: the object counts, the first rejects and the failures.
	mu  sync.Mutex
	sum backfillSummary
}

// openSink prepares the destination and the validator the run needs.
func (b *backfill) openSink(g *globals) error {
	c := b.cmd
	if c.DryRun || c.To == "stream" {
		reg, err := event.NewRegistry()
		if err != nil {
			return fmt.Errorf("loading the event schemas: %w", err)
		}
		b.registry = reg
	}
	if c.Rate > 0 && !c.DryRun {
		b.limiter = rate.NewLimiter(rate.Limit(c.Rate), c.Batch)
	}
	switch {
	case c.DryRun:
		return nil
	case c.To == "stream":
		// The producer spreads the records over the shards and retries throttled ones itself; the sink
		// retries what it still returns as refused.
		cfg, err := awsConfig(g)
		if err != nil {
			return err
		}
		ep := awsEndpoint(g)
		kc := awskinesis.NewFromConfig(cfg, func(o *awskinesis.Options) {
			if ep != "" {
				o.BaseEndpoint = aws.String(ep)
			}
		})
		p, err := kinesis.NewProducer(kc, c.Stream)
		if err != nil {
			return fmt.Errorf("stream %s: %w", c.Stream, err)
		}
		b.sink = &bfStreamSink{p: p, maxRetries: c.MaxRetries}
		b.sum.Target = "stream " + c.Stream
	default:
		base := c.APIURL
		if base == "" {
			base = g.EndpointURL
		}
		url := strings.TrimSuffix(base, "/") + "/v1/events"
		b.sink = &bfAPISink{url: url, client: g.httpClient(c.Timeout), maxRetries: c.MaxRetries}
		b.sum.Target = url
	}
	return nil
}

// openFiles reads the manifest and opens it and the errors file for appending. A dry run writes no
// manifest, and an errors file only when --errors names one.
func (b *backfill) openFiles(id string) error {
	c := b.cmd
	b.manifestPath, b.errsPath = c.Manifest, c.Errors
	if b.manifestPath == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			return fmt.Errorf("no cache directory for the manifest (%w); give --manifest", err)
		}
		sum := sha256.Sum256([]byte(id))
		b.manifestPath = filepath.Join(dir, "sdp", "backfill", hex.EncodeToString(sum[:8])+".jsonl")
	}
	if b.errsPath == "" && !c.DryRun {
		b.errsPath = strings.TrimSuffix(b.manifestPath, ".jsonl") + ".errors.jsonl"
	}
	// Both files grow across runs, so that a resumed backfill keeps the record of the objects done before;
	// --restart starts them afresh.
	flags := os.O_CREATE | os.O_WRONLY | os.O_APPEND
	if c.Restart {
		flags |= os.O_TRUNC
	}
	if !c.DryRun {
		b.sum.Manifest = b.manifestPath
		if !c.Restart {
			done, err := readBackfillManifest(b.manifestPath)
			if err != nil {
				return err
			}
			b.done = done
		}
		if err := os.MkdirAll(filepath.Dir(b.manifestPath), 0o755); err != nil {
			return fmt.Errorf("manifest: %w", err)
		}
		f, err := os.OpenFile(b.manifestPath, flags, 0o644)
		if err != nil {
			return fmt.Errorf("manifest: %w", err)
		}
		b.manifest = f
	}
	if b.errsPath != "" {
		b.sum.ErrorsFile = b.errsPath
		if err := os.MkdirAll(filepath.Dir(b.errsPath), 0o755); err != nil {
			return fmt.Errorf("errors file: %w", err)
		}
		f, err := os.OpenFile(b.errsPath, flags, 0o644)
		if err != nil {
			return fmt.Errorf("errors file: %w", err)
		}
		b.errs, b.errsBuf = f, bufio.NewWriter(f)
	}
	return nil
}

// readBackfillManifest returns the key → etag of the objects a manifest lists; a missing manifest lists none. A
// line cut short (the run was killed while writing it) is ignored: its object is sent again.
func readBackfillManifest(name string) (map[string]string, error) {
	done := map[string]string{}
	f, err := os.Open(name)
	if errors.Is(err, os.ErrNotExist) {
		return done, nil
	}
	if err != nil {
		return nil, fmt.Errorf("manifest: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		var e bfManifestEntry
		if json.Unmarshal(sc.Bytes(), &e) == nil && e.Key != "" {
			done[e.Key] = e.ETag
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("manifest %s: %w", name, err)
	}
	return done, nil
}

// closeFiles flushes and closes the manifest and the errors file; it may be called more than once.
func (b *backfill) closeFiles() error {
	b.fileMu.Lock()
	defer b.fileMu.Unlock()
	var errs []error
	if b.errsBuf != nil {
		errs = append(errs, b.errsBuf.Flush(), b.errs.Close())
		b.errsBuf, b.errs = nil, nil
	}
	if b.manifest != nil {
		errs = append(errs, b.manifest.Close())
		b.manifest = nil
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("closing the manifest or errors file: %w", err)
	}
	return nil
}

// plan lists the source and returns the objects to backfill: those the globs pass and the manifest does not
// list with the same ETag.
func (b *backfill) plan(ctx context.Context, prefix string) ([]objects.Object, error) {
	var todo []objects.Object
	for obj, err := range b.store.List(ctx, prefix) {
		if err != nil {
			return nil, fmt.Errorf("listing %s: %w", b.cmd.Source, err)
		}
		if !b.cmd.matches(obj.Key) {
			continue
		}
		b.sum.Objects.Total++
		if etag, ok := b.done[obj.Key]; ok && etag == obj.ETag {
			b.sum.Objects.Skipped++
			continue
		}
		todo = append(todo, obj)
		b.totalBytes += obj.Size
	}
	return todo, nil
}

// run backfills the objects with --concurrency workers, showing progress until they are done.
func (b *backfill) run(ctx context.Context, todo []objects.Object) {
	if b.cmd.MaxObjects > 0 && len(todo) > b.cmd.MaxObjects {
		todo = todo[:b.cmd.MaxObjects]
	}
	stop := b.showProgress()
	defer stop()
	// An unbuffered channel: an object is handed out only when a worker is free, so that a cancelled run
	// leaves every object it did not start for the next run.
	jobs := make(chan objects.Object)
	var wg sync.WaitGroup
	for range min(b.cmd.Concurrency, max(1, len(todo))) {
		wg.Go(func() {
			for obj := range jobs {
				b.finish(obj, b.object(ctx, obj))
			}
		})
	}
feed:
	for _, obj := range todo {
		select {
		case jobs <- obj:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
}

// bfResult is what backfilling one object gave.
type bfResult struct {
	// events counts every line or element read, good or bad; accepted those taken; rejected those refused
	// (by the reader, by validation or by the API). A failed object has err set and its counts so far.
	events, accepted, rejected int64
	err                        error
}

// finish records an object's outcome: a manifest line when it is done, a failure otherwise. An object
// stopped by the run's cancellation is neither: it remains for the next run.
func (b *backfill) finish(obj objects.Object, r bfResult) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case r.err != nil && b.g.ctx.Err() != nil:
		return
	case r.err != nil:
		b.sum.Objects.Failed++
		b.sum.Failures = append(b.sum.Failures, bfFailure{Key: obj.Key, Error: r.err.Error()})
		return
	}
	b.sum.Objects.Done++
	if b.manifest == nil {
		return
	}
	line, err := json.Marshal(bfManifestEntry{Key: obj.Key, ETag: obj.ETag, Size: obj.Size, Events: r.events,
		Accepted: r.accepted, Rejected: r.rejected, FinishedAt: time.Now().UTC()})
	if err == nil {
		b.fileMu.Lock()
		// The errors of the object reach the disk before the line that says it is done.
		if b.errsBuf != nil {
			err = b.errsBuf.Flush()
		}
		if err == nil {
			_, err = b.manifest.Write(append(line, '\n'))
		}
		b.fileMu.Unlock()
	}
	if err != nil {
		b.sum.Objects.Done--
		b.sum.Objects.Failed++
		b.sum.Failures = append(b.sum.Failures, bfFailure{Key: obj.Key, Error: fmt.Sprintf("sent, but not recorded in the manifest: %v", err)})
	}
}

// reject records an event that is not sent.
func (b *backfill) reject(r bfReject) {
	b.rejected.Add(1)
	b.mu.Lock()
	if len(b.sum.Rejects) < bfShownRejects {
		b.sum.Rejects = append(b.sum.Rejects, r)
	}
	b.mu.Unlock()
	b.fileMu.Lock()
	defer b.fileMu.Unlock()
	if b.errsBuf != nil {
		line, err := json.Marshal(r)
		if err == nil {
			b.errsBuf.Write(append(line, '\n'))
		}
	}
}

// object backfills one object: it streams its events, validates them when it must, and sends them in
// batches. It holds one batch at a time.
func (b *backfill) object(ctx context.Context, obj objects.Object) (res bfResult) {
	rc, err := b.store.Open(ctx, obj.Key)
	if err != nil {
		return bfResult{err: fmt.Errorf("opening: %w", err)}
	}
	defer rc.Close()
	cr := &bfCountingReader{r: rc, n: &b.bytes}
	defer func() {
		// Whatever the reader left unread (a trailer) still counts as done for the progress.
		if rest := obj.Size - cr.read; rest > 0 && res.err == nil {
			b.bytes.Add(rest)
		}
	}()
	rd, err := bulk.NewReader(cr, bulk.ReaderOptions{Limits: event.DefaultLimits})
	if err != nil {
		return bfResult{err: fmt.Errorf("reading: %w", err)}
	}
	// The batch is reused: after the first flushes it needs no more memory than its largest body.
	bt := &bfBatch{}
	reject := func(line int, id, reason string) {
		res.rejected++
		b.reject(bfReject{Key: obj.Key, Line: line, ID: id, Reason: reason})
	}
	flush := func() error {
		if len(bt.items) == 0 {
			return nil
		}
		defer bt.reset()
		if b.sink == nil { // dry run
			res.accepted += int64(len(bt.items))
			b.accepted.Add(int64(len(bt.items)))
			return nil
		}
		// The limiter's burst is one batch, so that a batch never waits for more tokens than it can get.
		if b.limiter != nil {
			if err := b.limiter.WaitN(ctx, len(bt.items)); err != nil {
				return fmt.Errorf("waiting for the rate limit: %w", err)
			}
		}
		n, err := b.sink.send(ctx, bt, func(it bfItem, reason string) { reject(it.line, it.id, reason) })
		res.accepted += int64(n)
		b.accepted.Add(int64(n))
		return err
	}
	for {
		it, ok := rd.Next()
		if !ok {
			break
		}
		res.events++
		b.events.Add(1)
		if it.Err != nil {
			reject(it.Line, event.ReadID(it.Raw), it.Err.Error())
			continue
		}
		// The API validates what it gets; the stream does not, so events bound for it (and a dry run's) are
		// validated here with the same registry.
		id, pk := "", ""
		if b.registry != nil {
			ev, err := b.registry.Validate(it.Raw)
			if err != nil {
				id = ev.ID
				if id == "" {
					id = event.ReadID(it.Raw)
				}
				reject(it.Line, id, err.Error())
				continue
			}
			id, pk = ev.ID, ev.PartitionKey()
			if n := len(it.Raw) + len(pk); n > event.MaxRecordBytes {
				reject(it.Line, id, fmt.Sprintf("the record (event and partition key) is %d bytes, the limit is %d (maxEventBytes)", n, event.MaxRecordBytes))
				continue
			}
		}
		if len(bt.items) > 0 && (len(bt.items) >= b.cmd.Batch || len(bt.buf)+len(it.Raw)+1 > bfMaxBody) {
			if err := flush(); err != nil {
				return b.failed(res, it.Line, err)
			}
		}
		bt.add(it.Line, id, pk, it.Raw)
	}
	if err := rd.Err(); err != nil {
		return b.failed(res, 0, fmt.Errorf("reading: %w", err))
	}
	if err := flush(); err != nil {
		return b.failed(res, 0, err)
	}
	return res
}

// failed returns res with err, saying from which line on the object was not sent.
func (b *backfill) failed(res bfResult, line int, err error) bfResult {
	if line > 0 {
		err = fmt.Errorf("events before line %d: %w", line, err)
	}
	res.err = err
	return res
}

// bfCountingReader counts the bytes read through it, for the progress.
type bfCountingReader struct {
	r    io.Reader
	n    *atomic.Int64
	read int64
}

// Read reads from the underlying reader and counts what it read.
func (c *bfCountingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.read += int64(n)
	c.n.Add(int64(n))
	return n, err
}

// batch is the events of one request: their bytes, one compact event a line, and where each is.
type bfBatch struct {
	// buf is the NDJSON body: each item's bytes then a newline.
	buf   []byte
	items []bfItem
}

// item is one event of a batch: its line in the object, id, partition key (when validated) and span.
type bfItem struct {
	line       int
	id, pk     string
	start, end int
}

// add appends an event to the batch, compacted onto one line when it spans several.
func (bt *bfBatch) add(line int, id, pk string, raw []byte) {
	start := len(bt.buf)
	if bytes.ContainsAny(raw, "\r\n") {
		var c bytes.Buffer
		if stdjson.Compact(&c, raw) == nil {
			raw = c.Bytes()
		}
	}
	bt.buf = append(bt.buf, raw...)
	bt.items = append(bt.items, bfItem{line: line, id: id, pk: pk, start: start, end: len(bt.buf)})
	bt.buf = append(bt.buf, '\n')
}

// raw returns an item's event.
func (bt *bfBatch) raw(it bfItem) []byte { return bt.buf[it.start:it.end] }

// reset empties the batch, keeping its memory.
func (bt *bfBatch) reset() { bt.buf, bt.items = bt.buf[:0], bt.items[:0] }

// bfAPISink posts batches to the ingest API as NDJSON.
type bfAPISink struct {
	url        string
	client     *http.Client
	maxRetries int
}

// send posts the batch and then, after the Retry-After the API asks for, the events it pushed back, until
// none remain or the retries are spent.
func (s *bfAPISink) send(ctx context.Context, bt *bfBatch, reject func(bfItem, string)) (int, error) {
	pending := bt.items
	accepted := 0
	var body bytes.Buffer
	growing := awsretry.Exponential(250*time.Millisecond, 5*time.Second, 0)
	for attempt := 0; ; attempt++ {
		// The first attempt sends the batch's buffer as it is; a retry rebuilds the body from the events
		// still pending, in order, since the API's indexes are positions in the body it got.
		body.Reset()
		if len(pending) == len(bt.items) {
			body.Write(bt.buf)
		} else {
			for _, it := range pending {
				body.Write(bt.raw(it))
				body.WriteByte('\n')
			}
		}
		status, ans, wait, err := s.post(ctx, body.Bytes())
		// A transport error or a 5xx that is not ingest's answer is retried with a growing delay; an answer
		// refusing the body as a whole (4xx) will not change, so the object fails at once.
		if err != nil {
			if ctx.Err() != nil || attempt >= s.maxRetries || status != 0 && status < 500 {
				return accepted, err
			}
			if err := awsretry.Wait(ctx, growing); err != nil {
				return accepted, err
			}
			continue
		}
		accepted += ans.Accepted
		var retry []bfItem
		for _, e := range ans.Errors {
			if e.Index < 0 || e.Index >= len(pending) {
				return accepted, fmt.Errorf("the ingest API answered with an event index %d out of range", e.Index)
			}
			it := pending[e.Index]
			if e.Retryable {
				retry = append(retry, it)
				continue
			}
			if e.ID != "" {
				it.id = e.ID
			}
			reject(it, e.Reason)
		}
		if len(retry) == 0 {
			return accepted, nil
		}
		if attempt >= s.maxRetries {
			return accepted, fmt.Errorf("the ingest API still pushed back %d events after %d retries (answer %d); lower --rate or --concurrency", len(retry), s.maxRetries, status)
		}
		pending = retry
		// The API said how long to wait (Retry-After).
		if err := awsretry.Wait(ctx, backoff.NewConstantBackOff(wait)); err != nil {
			return accepted, err
		}
	}
}

// post sends one NDJSON body, gzipped when large, and reads the answer. It returns the status, the answer,
// how long to wait before sending pushed-back events again, and an error for a body refused as a whole or an
// answer that is not ingest's (status 0: the API could not be reached).
func (s *bfAPISink) post(ctx context.Context, body []byte) (int, ingest.Response, time.Duration, error) {
	var ans ingest.Response
	var rd io.Reader = bytes.NewReader(body)
	gz := len(body) > bfGzipAbove
	if gz {
		var zb bytes.Buffer
		zw, _ := gzip.NewWriterLevel(&zb, gzip.BestSpeed)
		zw.Write(body)
		if err := zw.Close(); err != nil {
			return 0, ans, 0, fmt.Errorf("compressing the request: %w", err)
		}
		rd = &zb
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.url, rd)
	if err != nil {
		return 0, ans, 0, fmt.Errorf("request to %s: %w", s.url, err)
	}
	req.Header.Set("Content-Type", event.ContentTypeNDJSON)
	if gz {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, ans, 0, fmt.Errorf("cannot reach the ingest API at %s: %w (is `sdp up` running? set --endpoint-url or --api-url)", s.url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return resp.StatusCode, ans, 0, fmt.Errorf("reading the answer of %s: %w", s.url, err)
	}
	// 202, 207, 400, 429 and 503 list per-event outcomes; anything else (or a body-level error) is not an
	// answer about events.
	if err := json.Unmarshal(data, &ans); err != nil || ans.Error != "" || resp.StatusCode >= 300 && resp.StatusCode != http.StatusMultiStatus &&
		resp.StatusCode != http.StatusBadRequest && resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable {
		return resp.StatusCode, ans, 0, fmt.Errorf("the ingest API at %s answered %s: %s", s.url, resp.Status, strings.TrimSpace(string(data)))
	}
	// The server refused the whole request (503 over sdp up's bound of concurrent requests): the whole batch
	// is still to send.
	if refusedWhole(resp.StatusCode, ans) {
		return resp.StatusCode, ans, 0, fmt.Errorf("the ingest API at %s answered %s: %s", s.url, resp.Status, strings.TrimSpace(string(data)))
	}
	wait := time.Second
	if v, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && v >= 0 {
		wait = time.Duration(v) * time.Second
	}
	return resp.StatusCode, ans, wait, nil
}

// bfStreamSink writes batches to the Kinesis stream.
type bfStreamSink struct {
	p          *kinesis.Producer
	maxRetries int
}

// send writes the batch's records and again those the stream did not take, with a growing delay, until none
// remain or the retries are spent.
func (s *bfStreamSink) send(ctx context.Context, bt *bfBatch, _ func(bfItem, string)) (int, error) {
	pending := bt.items
	accepted := 0
	recs := make([]event.Record, 0, len(pending))
	growing := awsretry.Exponential(250*time.Millisecond, 5*time.Second, 0)
	for attempt := 0; ; attempt++ {
		recs = recs[:0]
		for _, it := range pending {
			recs = append(recs, event.Record{PartitionKey: it.pk, Data: bt.raw(it)})
		}
		results, err := s.p.PutRecords(ctx, recs)
		var retry []bfItem
		if err != nil {
			if ctx.Err() != nil || attempt >= s.maxRetries {
				return accepted, fmt.Errorf("writing to the stream: %w", err)
			}
			retry = pending
		}
		for i, r := range results {
			if r.ErrorCode == "" {
				accepted++
			} else {
				retry = append(retry, pending[i])
			}
		}
		if len(retry) == 0 {
			return accepted, nil
		}
		if attempt >= s.maxRetries {
			return accepted, fmt.Errorf("the stream still refused %d records after %d retries; lower --rate or --concurrency", len(retry), s.maxRetries)
		}
		pending = retry
		if err := awsretry.Wait(ctx, growing); err != nil {
			return accepted, err
		}
	}
}

// showProgress starts showing progress on stderr: a bar on a terminal, a line every --progress-every
// otherwise. The returned function stops it.
func (b *backfill) showProgress() func() {
	terminal := false
	if f, ok := b.g.stderr.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			terminal = true
		}
	}
	every := b.cmd.ProgressEvery
	var bar *progressbar.ProgressBar
	if terminal {
		every = 250 * time.Millisecond
		bar = progressbar.NewOptions64(b.totalBytes,
			progressbar.OptionSetWriter(b.g.stderr),
			progressbar.OptionShowBytes(true),
			progressbar.OptionSetWidth(30),
			progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionShowDescriptionAtLineEnd(),
			progressbar.OptionSetPredictTime(false),
		)
	}
	if every <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				if bar != nil {
					_ = bar.Set64(b.bytes.Load())
					_ = bar.Finish()
					fmt.Fprintln(b.g.stderr)
				}
				return
			case <-t.C:
				if bar != nil {
					bar.Describe(b.progressLine(false))
					_ = bar.Set64(b.bytes.Load())
				} else {
					fmt.Fprintln(b.g.stderr, "sdp backfill: "+b.progressLine(true))
				}
			}
		}
	})
	return func() { close(done); wg.Wait() }
}

// progressLine describes the progress: events, rejects, rate and ETA, with the bytes when long.
func (b *backfill) progressLine(long bool) string {
	elapsed := time.Since(b.start)
	events, done := b.events.Load(), b.bytes.Load()
	perSec := float64(events) / max(elapsed.Seconds(), 1e-3)
	eta := "?"
	if done > 0 && b.totalBytes >= done {
		eta = (time.Duration(float64(elapsed) * float64(b.totalBytes-done) / float64(done))).Round(time.Second).String()
	}
	s := fmt.Sprintf("%d events, %d rejected, %.0f events/s, ETA %s", events, b.rejected.Load(), perSec, eta)
	if long {
		pct := 100.0
		if b.totalBytes > 0 {
			pct = 100 * float64(done) / float64(b.totalBytes)
		}
		s = fmt.Sprintf("%s of %s (%.0f%%), ", bfBytes(done), bfBytes(b.totalBytes), pct) + s
	}
	return s
}

// summary returns the run's summary.
func (b *backfill) summary() backfillSummary {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.sum
	s.Events, s.Accepted, s.Rejected, s.Bytes = b.events.Load(), b.accepted.Load(), b.rejected.Load(), b.bytes.Load()
	d := time.Since(b.start)
	s.DurationSeconds = d.Round(time.Millisecond).Seconds()
	if d > 0 {
		s.EventsPerSecond = float64(int64(float64(s.Events)/d.Seconds()*10)) / 10
	}
	s.Objects.Remaining = s.Objects.Total - s.Objects.Done - s.Objects.Skipped - s.Objects.Failed
	return s
}

// writeBackfillText writes the summary as text.
func writeBackfillText(w io.Writer, s backfillSummary) {
	target := s.Target
	if s.DryRun {
		target = "nowhere (dry run: validated only)"
	}
	fmt.Fprintf(w, "Backfill of %s to %s\n", s.Source, target)
	o := s.Objects
	fmt.Fprintf(w, "  objects   %d done, %d skipped, %d failed, %d remaining (of %d)\n", o.Done, o.Skipped, o.Failed, o.Remaining, o.Total)
	verb := "accepted"
	if s.DryRun {
		verb = "valid"
	}
	fmt.Fprintf(w, "  events    %d (%s %d, rejected %d)\n", s.Events, verb, s.Accepted, s.Rejected)
	fmt.Fprintf(w, "  bytes     %s\n", bfBytes(s.Bytes))
	fmt.Fprintf(w, "  duration  %s (%.1f events/s)\n", time.Duration(s.DurationSeconds*float64(time.Second)).Round(time.Millisecond), s.EventsPerSecond)
	if s.Manifest != "" {
		fmt.Fprintf(w, "  manifest  %s\n", s.Manifest)
	}
	if s.ErrorsFile != "" {
		fmt.Fprintf(w, "  errors    %s\n", s.ErrorsFile)
	}
	if len(s.Rejects) > 0 {
		more := ""
		if s.Rejected > int64(len(s.Rejects)) {
			more = fmt.Sprintf(" (first %d of %d)", len(s.Rejects), s.Rejected)
		}
		fmt.Fprintf(w, "Rejected events%s:\n", more)
		for _, r := range s.Rejects {
			fmt.Fprintf(w, "  %s:%d (id %q): %s\n", r.Key, r.Line, r.ID, r.Reason)
		}
	}
	if len(s.Failures) > 0 {
		fmt.Fprintln(w, "Failed objects:")
		for _, f := range s.Failures {
			fmt.Fprintf(w, "  %s: %s\n", f.Key, f.Error)
		}
	}
}

// bfBytes renders a byte count in SI units.
func bfBytes(n int64) string {
	switch {
	case n >= 1e9:
		return fmt.Sprintf("%.1f GB", float64(n)/1e9)
	case n >= 1e6:
		return fmt.Sprintf("%.1f MB", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f kB", float64(n)/1e3)
	}
	return fmt.Sprintf("%d B", n)
}
