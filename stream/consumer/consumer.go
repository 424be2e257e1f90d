// Package consumer is the stream consumer function: the Lambda handler that the stream's event source mapping
// invokes with a batch of Kinesis records.
//
// Each batch runs through the workflow, one synchronous execution per batch (Step Functions Express bills per
// execution), or a few in order when the batch is larger than an execution's payload limit. The handler
// answers with partial batch failures (ReportBatchItemFailures): the sequence numbers of the records that
// were not processed, so that one bad record never fails its batch. It returns an error only when the whole
// batch must be retried, which item-level problems never cause.
package consumer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/segmentio/encoding/json"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/internal/telemetry"
)

// DefaultMaxExecutionPayload is the largest execution input the consumer starts: 96 KiB. Step Functions
// limits every state's input and output to 256 KiB, and the workflow's state after enrichment (each event's
// curated form and fact) is about twice to two and a half times the batch it came from, so an input of at most
// 96 KiB keeps every state within the limit.
const DefaultMaxExecutionPayload = 96 << 10

// Workflow is the "start a workflow" port: one synchronous execution (StartSyncExecution semantics).
type Workflow interface {
	// Execute runs one execution with input, a JSON event.Batch, and blocks until it ends. It returns the
	// execution's output, a JSON event.BatchResult; an error means the execution failed as a whole (none of
	// its items was processed for sure).
	Execute(ctx context.Context, input []byte) ([]byte, error)
}

// Consumer is the stream consumer function. It is safe for concurrent use.
type Consumer struct {
	wf         Workflow
	maxPayload int
	log        *slog.Logger
	validator  event.Validator
	// metrics, when set, records batch sizes and partial failures under the Function dimension function.
	metrics  *telemetry.Pipeline
	function string
	// tracer, when set, traces each batch (WithTracerProvider).
	tracer trace.Tracer
	// scratch holds the reusable buffers of Invoke.
	scratch sync.Pool
}

// Option configures a Consumer.
type Option func(*Consumer)

// WithMaxExecutionPayload sets the largest execution input in bytes (default DefaultMaxExecutionPayload).
// Values below 1 are ignored.
func WithMaxExecutionPayload(n int) Option {
	return func(c *Consumer) {
		if n > 0 {
			c.maxPayload = n
		}
	}
}

// WithLogger sets the logger (default: discard).
func WithLogger(log *slog.Logger) Option {
	return func(c *Consumer) {
		if log != nil {
			c.log = log
		}
	}
}

// WithValidator checks every record's data against its event type's schema before the workflow sees it: a
// record that fails is reported failed (and so, after the mapping's retries, reaches the dead-letter queue)
// with the validation error in the log, without costing a workflow execution. Events written by ingest are
// valid already; the check guards against other writers of the stream. Without it the consumer checks only
// that the data is a JSON object.
func WithValidator(v event.Validator) Option {
	return func(c *Consumer) { c.validator = v }
}

// WithMetrics records each batch's size and the records reported failed in m, with fn as the Function
// dimension.
func WithMetrics(m *telemetry.Pipeline, fn string) Option {
	return func(c *Consumer) { c.metrics, c.function = m, fn }
}

// maxLinks bounds the span links of a batch's span: one per distinct trace its records carry.
const maxLinks = 32

// WithTracerProvider traces each batch with a span of tp. The records' trace headers (the
// telemetry.EventTraceAttribute that ingest writes into each event) join the batch to the traces of the
// requests that sent them: when the invocation has no trace of its own, the first record's trace is the
// parent, and the others are links; otherwise all of them are links. The workflow executions run within
// the span.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *Consumer) {
		if tp != nil {
			c.tracer = tp.Tracer("github.com/serverless-data-platform/sdp/stream/consumer")
		}
	}
}

// New returns the consumer that runs batches through wf.
func New(wf Workflow, opts ...Option) *Consumer {
	c := &Consumer{wf: wf, maxPayload: DefaultMaxExecutionPayload, log: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(c)
	}
	return c
}

// Causes logged for records failed by the consumer itself.
const (
	causeNotObject = "record data is not a JSON object"
	causeTooLarge  = "record is larger than the execution payload limit"
)

// record is the part of a Kinesis record the consumer uses.
type record struct {
	eventID        string
	partitionKey   string
	sequenceNumber string
	data           []byte
	arrival        time.Time
}

// Handle processes one batch of records and reports the records it could not process by sequence number, in
// record order (an empty list when every record was processed). A record whose data is not a JSON object (or
// fails WithValidator's check), or that alone exceeds the execution payload limit, is reported failed (the
// event source mapping retries it and in the end sends it to the dead-letter queue) without failing its
// neighbours. Executions run in record order; one that fails as a whole fails its records. Handle never
// returns an error: a returned error would fail the whole batch.
func (c *Consumer) Handle(ctx context.Context, ev events.KinesisEvent) (events.KinesisEventResponse, error) {
	recs := make([]record, len(ev.Records))
	for i := range ev.Records {
		r := &ev.Records[i]
		recs[i] = record{eventID: r.EventID, partitionKey: r.Kinesis.PartitionKey,
			sequenceNumber: r.Kinesis.SequenceNumber, data: r.Kinesis.Data, arrival: r.Kinesis.ApproximateArrivalTimestamp.Time}
	}
	var s scratch
	failed := c.handle(ctx, recs, &s)
	resp := events.KinesisEventResponse{BatchItemFailures: []events.KinesisBatchItemFailure{}}
	for i, f := range failed {
		if f {
			resp.BatchItemFailures = append(resp.BatchItemFailures,
				events.KinesisBatchItemFailure{ItemIdentifier: recs[i].sequenceNumber})
		}
	}
	return resp, nil
}

// Invoke implements lambda.Handler: it decodes the Lambda payload (a Kinesis event) itself, with a decoder
// that reads only the fields the consumer uses and reuses its buffers between invocations, runs Handle's
// logic and encodes the partial batch response. An error means the payload is not a Kinesis event.
func (c *Consumer) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	s, _ := c.scratch.Get().(*scratch)
	if s == nil {
		s = new(scratch)
	}
	defer c.scratch.Put(s)
	recs, err := s.decode(payload)
	if err != nil {
		return nil, err
	}
	failed := c.handle(ctx, recs, s)
	out := append(make([]byte, 0, 64), `{"batchItemFailures":[`...)
	n := 0
	for i, f := range failed {
		if !f {
			continue
		}
		if n > 0 {
			out = append(out, ',')
		}
		out = append(out, `{"itemIdentifier":`...)
		out = json.AppendEscape(out, recs[i].sequenceNumber, 0)
		out = append(out, '}')
		n++
	}
	return append(out, "]}"...), nil
}

// kinesisPayload is the Lambda payload of a Kinesis event, reduced to the fields the consumer uses.
type kinesisPayload struct {
	Records []kinesisRecord `json:"Records"`
}

type kinesisRecord struct {
	EventID string `json:"eventID"`
	Kinesis struct {
		PartitionKey   string `json:"partitionKey"`
		SequenceNumber string `json:"sequenceNumber"`
		// Data is base64 in the payload; the decoder decodes it.
		Data []byte `json:"data"`
		// ApproximateArrivalTimestamp is in seconds since the epoch.
		ApproximateArrivalTimestamp float64 `json:"approximateArrivalTimestamp"`
	} `json:"kinesis"`
}

// scratch holds one invocation's buffers, reused by the next.
type scratch struct {
	payload kinesisPayload
	recs    []record
	failed  []bool
	p       planner
}

// decode reads a Kinesis event payload into s.recs. Strings point into payload (the runtime does not reuse
// it during the invocation) and are copied wherever they outlive it.
func (s *scratch) decode(payload []byte) ([]record, error) {
	clear(s.payload.Records)
	s.payload.Records = s.payload.Records[:0]
	if _, err := json.Parse(payload, &s.payload, json.ZeroCopy); err != nil {
		return nil, fmt.Errorf("consumer: the payload is not a Kinesis event: %w", err)
	}
	if cap(s.recs) < len(s.payload.Records) {
		s.recs = make([]record, len(s.payload.Records))
	}
	s.recs = s.recs[:len(s.payload.Records)]
	for i := range s.payload.Records {
		r := &s.payload.Records[i]
		s.recs[i] = record{eventID: r.EventID, partitionKey: r.Kinesis.PartitionKey,
			sequenceNumber: r.Kinesis.SequenceNumber, data: r.Kinesis.Data,
			arrival: epochSeconds(r.Kinesis.ApproximateArrivalTimestamp)}
	}
	return s.recs, nil
}

// epochSeconds converts Kinesis's arrival timestamp (seconds, with a fraction) as the Lambda library does.
func epochSeconds(f float64) time.Time {
	sec := int64(f)
	return time.Unix(sec, int64((f-float64(sec))*1e9))
}

// handle runs the batch and returns, per record, whether it is reported failed.
func (c *Consumer) handle(ctx context.Context, recs []record, s *scratch) []bool {
	if len(recs) > 0 {
		ctx = telemetry.With(ctx, slog.String(telemetry.KeyShard, shardOf(recs[0].eventID)),
			slog.String(telemetry.KeyFirstSeq, recs[0].sequenceNumber),
			slog.String(telemetry.KeyLastSeq, recs[len(recs)-1].sequenceNumber))
	}
	if c.tracer != nil {
		var span trace.Span
		ctx, span = c.startSpan(ctx, recs)
		defer span.End()
	}
	failed := c.handleRecords(ctx, recs, s)
	debug := c.log.Enabled(ctx, slog.LevelDebug)
	if c.metrics == nil && !debug {
		return failed
	}
	n := 0
	for _, f := range failed {
		if f {
			n++
		}
	}
	if m := c.metrics; m != nil {
		m.BatchSize.Observe(float64(len(recs)), c.function)
		m.PartialFailures.Add(float64(n), c.function)
	}
	if debug {
		c.log.LogAttrs(ctx, slog.LevelDebug, "consumer: batch handled", slog.Int("records", len(recs)), slog.Int("failed", n))
	}
	return failed
}

// startSpan starts the span of a batch, joined to the traces its records carry (see WithTracerProvider).
func (c *Consumer) startSpan(ctx context.Context, recs []record) (context.Context, trace.Span) {
	var links []trace.Link
	parent := ctx
	own := trace.SpanContextFromContext(ctx).IsValid()
	seen := make(map[trace.TraceID]bool, 4)
	for i := range recs {
		sc, ok := telemetry.SpanContextFromHeader(telemetry.EventTraceHeader(recs[i].data))
		if !ok || seen[sc.TraceID()] {
			continue
		}
		seen[sc.TraceID()] = true
		if !own && len(seen) == 1 {
			parent = trace.ContextWithRemoteSpanContext(ctx, sc)
			continue
		}
		if len(links) < maxLinks {
			links = append(links, trace.Link{SpanContext: sc})
		}
	}
	attrs := []attribute.KeyValue{attribute.Int("sdp.batch_size", len(recs))}
	if len(recs) > 0 {
		attrs = append(attrs, attribute.String("sdp.shard", shardOf(recs[0].eventID)),
			attribute.String("sdp.first_sequence", recs[0].sequenceNumber),
			attribute.String("sdp.last_sequence", recs[len(recs)-1].sequenceNumber))
	}
	return c.tracer.Start(parent, "consumer", trace.WithSpanKind(trace.SpanKindConsumer), trace.WithLinks(links...),
		trace.WithAttributes(attrs...))
}

// handleRecords checks the records and runs them through the workflow; failed[i] says whether record i is
// reported failed.
func (c *Consumer) handleRecords(ctx context.Context, recs []record, s *scratch) []bool {
	// failed[i] says whether record i is reported; a record can be failed by the consumer (bad data, too
	// large) or by its execution, and is reported once either way.
	if cap(s.failed) < len(recs) {
		s.failed = make([]bool, len(recs))
	}
	failed := s.failed[:len(recs)]
	clear(failed)
	s.p.reset(c.maxPayload)
	for i := range recs {
		r := &recs[i]
		if err := c.check(r.data); err != nil {
			failed[i] = true
			c.log.LogAttrs(ctx, slog.LevelWarn, "consumer: record failed", slog.String("sequenceNumber",
				r.sequenceNumber), slog.String("cause", err.Error()))
			continue
		}
		if !s.p.add(i, shardOf(r.eventID), r) {
			failed[i] = true
			c.log.LogAttrs(ctx, slog.LevelWarn, "consumer: record failed", slog.String("sequenceNumber",
				r.sequenceNumber), slog.String("cause", causeTooLarge), slog.Int("bytes", len(r.data)))
		}
	}
	// Executions run one after the other, in record order, so that a shard's events reach the workflow in
	// stream order.
	for _, x := range s.p.finish() {
		for _, i := range c.execute(ctx, recs, x) {
			failed[i] = true
		}
	}
	return failed
}

// errNotObject is the cause of a record whose data is not a JSON object.
var errNotObject = errors.New(causeNotObject)

// check returns why a record's data cannot go to the workflow, or nil.
func (c *Consumer) check(data []byte) error {
	if c.validator != nil {
		if _, err := c.validator.Validate(data); err != nil {
			return fmt.Errorf("invalid event: %w", err)
		}
		return nil
	}
	if !isObject(data) {
		return errNotObject
	}
	return nil
}

// execute runs one execution and returns the indexes (into records) of the records it failed.
func (c *Consumer) execute(ctx context.Context, records []record, x execution) []int {
	ctx = telemetry.With(ctx, slog.String(telemetry.KeyBatchID, x.batchID))
	if err := ctx.Err(); err != nil {
		c.log.LogAttrs(ctx, slog.LevelWarn, "consumer: execution not started", slog.Any("error", err))
		return x.records
	}
	out, err := c.wf.Execute(ctx, x.input)
	if err != nil {
		c.log.LogAttrs(ctx, slog.LevelError, "consumer: execution failed", slog.Int("records", len(x.records)),
			slog.Any("error", err))
		return x.records
	}
	var res event.BatchResult
	if err := json.Unmarshal(out, &res); err != nil {
		c.log.LogAttrs(ctx, slog.LevelError, "consumer: execution output is not a batch result",
			slog.Any("error", err))
		return x.records
	}
	if len(res.Failed) == 0 {
		return nil
	}
	bySeq := make(map[string]int, len(x.records))
	for _, i := range x.records {
		bySeq[records[i].sequenceNumber] = i
	}
	idx := make([]int, 0, len(res.Failed))
	for _, f := range res.Failed {
		i, ok := bySeq[f.SequenceNumber]
		if !ok {
			// A failure that names no record of the execution cannot be reported as it is; reporting every
			// record keeps at-least-once delivery.
			c.log.LogAttrs(ctx, slog.LevelError, "consumer: execution reported an unknown record",
				slog.String("sequenceNumber", f.SequenceNumber))
			return x.records
		}
		c.log.LogAttrs(ctx, slog.LevelWarn, "consumer: record failed", slog.String("sequenceNumber", f.SequenceNumber),
			slog.String(telemetry.KeyEventID, f.EventID), slog.String("error", f.Error), slog.String("cause", f.Cause))
		idx = append(idx, i)
	}
	return idx
}

// shardOf returns a record's shard id: the part of its event id before ':' (Lambda's event ids read
// "shardId-000000000000:<sequence number>").
func shardOf(eventID string) string {
	shard, _, _ := strings.Cut(eventID, ":")
	return shard
}

// isObject reports whether b is one valid JSON object.
func isObject(b []byte) bool {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '{':
			return json.Valid(b)
		}
		return false
	}
	return false
}

// execution is one planned execution: its input and the records it covers.
type execution struct {
	batchID string
	input   []byte
	// records are indexes into the handled batch's records, in order.
	records []int
}

// planner packs records, in order, into executions whose input stays within max bytes. An execution's records
// come from one shard.
type planner struct {
	max  int
	done []execution
	// The open execution: its shard, first and last sequence numbers, records, and the items encoded so far
	// (each followed by a comma).
	shard       string
	first, last string
	records     []int
	items       []byte
	// item and scratch hold the record being added, esc a string being measured.
	item    event.BatchItem
	scratch []byte
	esc     []byte
}

// reset empties the planner for a new batch, keeping its buffers, with max as the execution input limit.
func (p *planner) reset(max int) {
	*p = planner{max: max, scratch: p.scratch[:0], esc: p.esc[:0], items: p.items[:0]}
}

// add appends record i to the open execution, or to a new one when it would not fit; it returns false when
// the record does not fit in an execution on its own.
func (p *planner) add(i int, shard string, r *record) bool {
	var err error
	p.item = event.BatchItem{
		SequenceNumber: r.sequenceNumber,
		PartitionKey:   r.partitionKey,
		ArrivalTime:    r.arrival.UTC(),
		Event:          r.data,
	}
	p.scratch, err = json.Append(p.scratch[:0], &p.item, json.TrustRawMessage) // check validated the data
	p.item.Event = nil
	if err != nil {
		return false
	}
	seq := r.sequenceNumber
	if len(p.records) > 0 && shard == p.shard &&
		p.size(shard, p.first, seq, len(p.items)+len(p.scratch)) <= p.max {
		p.records = append(p.records, i)
		p.items = append(append(p.items, p.scratch...), ',')
		p.last = seq
		return true
	}
	if p.size(shard, seq, seq, len(p.scratch)) > p.max {
		return false
	}
	p.flush()
	p.shard, p.first, p.last = shard, seq, seq
	p.records = append(p.records[:0:0], i)
	p.items = append(append(p.items[:0], p.scratch...), ',')
	return true
}

// size returns the size of the input of an execution of the shard from first to last whose items, joined by
// commas, take itemBytes.
func (p *planner) size(shard, first, last string, itemBytes int) int {
	// {"batchId":<id>,"shardId":<shard>,"items":[<items without the last comma>]}
	const fixed = len(`{"batchId":`) + len(`,"shardId":`) + len(`,"items":[`) + len(`]}`)
	// The batch id is shard:first-last, and ':' and '-' need no escaping.
	id := 2 + p.escapedLen(shard) + 1 + p.escapedLen(first) + 1 + p.escapedLen(last)
	return fixed + id + 2 + p.escapedLen(shard) + itemBytes
}

// escapedLen returns the length of s's escaped text in a JSON string (without the quotes), as flush writes it.
func (p *planner) escapedLen(s string) int {
	p.esc = json.AppendEscape(p.esc[:0], s, 0)
	return len(p.esc) - 2
}

// flush closes the open execution, if any.
func (p *planner) flush() {
	if len(p.records) == 0 {
		return
	}
	id := batchID(p.shard, p.first, p.last)
	in := make([]byte, 0, p.size(p.shard, p.first, p.last, len(p.items)-1))
	in = append(in, `{"batchId":`...)
	in = json.AppendEscape(in, id, 0)
	in = append(in, `,"shardId":`...)
	in = json.AppendEscape(in, p.shard, 0)
	in = append(in, `,"items":[`...)
	in = append(in, p.items[:len(p.items)-1]...)
	in = append(in, `]}`...)
	p.done = append(p.done, execution{batchID: id, input: in, records: p.records})
	p.records = nil
}

// finish closes the open execution and returns all of them, in record order.
func (p *planner) finish() []execution {
	p.flush()
	return p.done
}

// batchID names an execution's batch: "<shard>:<first sequence number>-<last sequence number>".
func batchID(shard, first, last string) string {
	return shard + ":" + first + "-" + last
}
