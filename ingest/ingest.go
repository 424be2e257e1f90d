// Package ingest is the Ingestion function. It takes CloudEvents from producers, validates each one against
// its type's JSON Schema and writes the valid ones to the stream through the Producer port. Every event's
// outcome goes back in the answer, so one bad event never costs its neighbours.
//
// One core path, Handler.Ingest, serves every entry point: the local HTTP server (ServeHTTP), API Gateway
// HTTP API events (HandleAPIGateway) and Lambda invocations of any shape (Invoke).
package ingest

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/internal/telemetry"
)

// Producer is the port ingest writes to: the stream (a Kinesis adapter or the local log).
type Producer interface {
	// PutRecords writes recs in one call and returns one result per record, in the order given. A record
	// counts as taken only when its result has a SequenceNumber; the others carry an ErrorCode (Kinesis's
	// codes) and may be sent again. A non-nil error means that no record of the call was taken. PutRecords
	// blocks until the stream answers or ctx is done. Ingest never calls it with more records or bytes than
	// the Handler's per-call limits. It must not keep recs or their Data after it returns: the Handler
	// reuses the buffers they point into.
	PutRecords(ctx context.Context, recs []event.Record) ([]event.PutResult, error)
}

// Defaults of the Handler's options.
const (
	// DefaultRetryAfter is how long a producer is told to wait after a 429 or 503.
	DefaultRetryAfter = time.Second
	// DefaultMaxRecordsPerCall is the most records one PutRecords call carries (Kinesis's limit).
	DefaultMaxRecordsPerCall = event.MaxRecordsPerPut
	// DefaultMaxBytesPerCall is the most bytes (data plus partition keys) one PutRecords call carries
	// (Kinesis's request limit).
	DefaultMaxBytesPerCall = event.MaxPutBytes
)

// Handler is the Ingestion function. It is safe for concurrent use; it keeps no state between calls but
// reusable buffers and the counters that Stats reports.
type Handler struct {
	// bodies holds *[]byte buffers for request bodies read by ServeHTTP; intakes holds *intake.
	bodies, intakes sync.Pool
	validator       event.Validator
	producer        Producer
	limits          event.Limits
	log             *slog.Logger
	retryAfter      time.Duration
	maxRecords      int
	maxBytes        int
	// objects is the S3 path (WithObjects), nil when it is off.
	objects *objectPath
	// stats counts the bodies and their events (Stats).
	stats counters
	// metrics, when set, counts accepted and rejected events under the Function dimension function.
	metrics  *telemetry.Pipeline
	function string
	// tracer, when set, traces each body and stamps its trace header into the events (WithTracerProvider).
	tracer trace.Tracer
}

// New returns a Handler that checks events with v and writes the valid ones to p. Both are required. New
// does no I/O.
func New(v event.Validator, p Producer, opts ...Option) *Handler {
	h := &Handler{
		validator:  v,
		producer:   p,
		limits:     event.DefaultLimits,
		log:        slog.New(slog.DiscardHandler),
		retryAfter: DefaultRetryAfter,
		maxRecords: DefaultMaxRecordsPerCall,
		maxBytes:   DefaultMaxBytesPerCall,
	}
	for _, o := range opts {
		o(h)
	}
	return h
}

// Limits reports the limits the Handler applies to a body and its events.
func (h *Handler) Limits() event.Limits { return h.limits }

// Response is the answer to one body: how many of its events were accepted (durably taken by the stream)
// and rejected, and why each rejected event was. Accepted plus Rejected is the number of events in the body.
type Response struct {
	Accepted int `json:"accepted"`
	Rejected int `json:"rejected"`
	// Errors lists the rejected events by index; it is never null.
	Errors []ItemError `json:"errors"`
	// Error says what is wrong with the body as a whole (status 400, 405, 413 or 415), when no event of it
	// could be read.
	Error string `json:"error,omitempty"`
	// RetryAfter is how long the producer should wait before sending the retryable events again. It is set
	// with status 429 and 503, and entry points send it as the Retry-After header.
	RetryAfter time.Duration `json:"-"`
}

// ItemError is why one event of a body was not accepted.
type ItemError struct {
	// Index is the event's position in the body, from 0.
	Index int `json:"index"`
	// ID is the event's id, when it could be read.
	ID string `json:"id,omitempty"`
	// Reason is "<JSON pointer>: <message> (<rule>)" for an invalid event, or why the stream did not take it.
	Reason string `json:"reason"`
	// Retryable is true when the event is valid but the stream did not take it: send it again later.
	Retryable bool `json:"retryable,omitempty"`
}

// Ingest takes one body as sent (its Content-Type, Content-Encoding and bytes), validates its events and
// writes the valid ones to the stream. It returns the HTTP status of the answer and the answer itself.
//
// The error is non-nil only when the body as a whole is refused: an unsupported content type or encoding
// (415), a body or single event over the limits (413) or a body that cannot be split into events (400). It
// wraps event.ErrUnsupportedMediaType, event.ErrUnsupportedEncoding, event.ErrTooLarge or
// event.ErrMalformed, and the status and Response are set too. Invalid events and events that the stream
// did not take are reported in the Response, never as an error.
func (h *Handler) Ingest(ctx context.Context, contentType, contentEncoding string, body []byte) (status int, resp Response, err error) {
	if h.tracer != nil {
		var span trace.Span
		ctx, span = h.tracer.Start(ctx, "ingest", trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(attribute.Int("sdp.body_bytes", len(body))))
		defer func() {
			span.SetAttributes(attribute.Int("http.response.status_code", status),
				attribute.Int("sdp.accepted", resp.Accepted), attribute.Int("sdp.rejected", resp.Rejected))
			if status >= 500 {
				span.SetStatus(codes.Error, "the stream did not take the events")
			}
			span.End()
		}()
	}
	status, resp, err = h.ingest(ctx, contentType, contentEncoding, body)
	h.log.LogAttrs(ctx, slog.LevelDebug, "ingest: body handled", slog.Int("status", status),
		slog.Int("accepted", resp.Accepted), slog.Int("rejected", resp.Rejected))
	return status, resp, err
}

// ingest is Ingest within its span.
func (h *Handler) ingest(ctx context.Context, contentType, contentEncoding string, body []byte) (int, Response, error) {
	lim := h.limits
	if len(body) > lim.MaxBodyBytes {
		return h.bodyError(fmt.Errorf("%w: the body is %d bytes, the limit is %d", event.ErrTooLarge, len(body), lim.MaxBodyBytes))
	}
	format, err := event.ParseFormat(contentType)
	if err != nil {
		return h.bodyError(err)
	}
	decoded, err := event.Decode(contentEncoding, body, lim.MaxDecodedBytes)
	if err != nil {
		return h.bodyError(err)
	}
	in, _ := h.intakes.Get().(*intake)
	if in == nil {
		in = &intake{seen: make(map[string]int)}
	}
	defer h.intakes.Put(in)
	in.reset(h, lim)
	if h.tracer != nil {
		in.trace = telemetry.NewEventTrace(telemetry.TraceHeader(ctx))
	}
	if err := event.Split(format, decoded, lim, in.add); err != nil {
		return h.bodyError(err)
	}
	accepted, throttled, failed := h.produce(ctx, in)
	h.stats.body(accepted, in.reasons)
	if m := h.metrics; m != nil {
		m.EventsAccepted.Add(float64(accepted), h.function)
		for _, r := range in.reasons {
			m.EventsRejected.Add(1, h.function, metricReason(r))
		}
	}
	if throttled || failed {
		// Producer failures were appended after the validation errors: put them back in index order.
		slices.SortFunc(in.errs, func(a, b ItemError) int { return a.Index - b.Index })
	}
	resp := Response{Accepted: accepted, Rejected: in.total - accepted, Errors: in.errs}
	var status int
	switch {
	case throttled:
		status, resp.RetryAfter = http.StatusTooManyRequests, h.retryAfter
	case failed:
		status, resp.RetryAfter = http.StatusServiceUnavailable, h.retryAfter
	case accepted == in.total:
		status = http.StatusAccepted
	case accepted == 0:
		status = http.StatusBadRequest
	default:
		status = http.StatusMultiStatus
	}
	return status, resp, nil
}

// bodyError counts a body refused as a whole and returns the answer to it.
func (h *Handler) bodyError(err error) (int, Response, error) {
	h.stats.refuse(refusalOf(err))
	if m := h.metrics; m != nil {
		m.EventsRejected.Add(1, h.function, metricReason(refusalOf(err)))
	}
	status := http.StatusBadRequest
	switch {
	case errors.Is(err, event.ErrUnsupportedMediaType), errors.Is(err, event.ErrUnsupportedEncoding):
		status = http.StatusUnsupportedMediaType
	case errors.Is(err, event.ErrTooLarge):
		status = http.StatusRequestEntityTooLarge
	}
	return status, Response{Errors: []ItemError{}, Error: err.Error()}, err
}

// intake collects the events of one body as event.Split hands them over: the valid ones become records,
// the others errors.
type intake struct {
	h     *Handler
	lim   event.Limits
	total int
	recs  []event.Record
	// index[i] and ids[i] are the body index and the id of the event in recs[i].
	index []int
	ids   []string
	// seen maps the id of each valid event to its index, to find duplicates.
	seen map[string]int
	errs []ItemError
	// reasons holds the Stats reason of each entry of errs (not in their order once errs is sorted).
	reasons []string
	// trace is the trace header written into each valid event (none when zero); traced holds those events,
	// which recs point into.
	trace  telemetry.EventTrace
	traced []byte
}

// add is event.Split's callback for the event at index i.
func (in *intake) add(i int, raw []byte, splitErr error) {
	in.total++
	if splitErr != nil {
		id := ""
		if ve := (*event.ValidationError)(nil); errors.As(splitErr, &ve) && ve.Rule == "utf8" {
			// The event is well-formed and within the depth limit, only its text is not UTF-8: its id can
			// still be read safely.
			id = event.ReadID(raw)
		}
		in.reject(i, id, splitErr)
		return
	}
	ev, err := in.h.validator.Validate(raw)
	if err != nil {
		id := ev.ID
		if id == "" {
			id = event.ReadID(raw)
		}
		in.reject(i, id, err)
		return
	}
	if first, dup := in.seen[ev.ID]; dup {
		in.reject(i, ev.ID, &event.ValidationError{Pointer: "/id", Rule: "duplicateId",
			Message: fmt.Sprintf("id %q is already used by event %d of this body", ev.ID, first)})
		return
	}
	pk := ev.PartitionKey()
	if !in.trace.Empty() {
		start := len(in.traced)
		in.traced = in.trace.Append(in.traced, raw)
		raw = in.traced[start:len(in.traced):len(in.traced)]
	}
	if n := len(raw) + len(pk); n > in.lim.MaxEventBytes {
		// A stream record holds the event and its partition key.
		in.reject(i, ev.ID, &event.ValidationError{Rule: "maxEventBytes",
			Message: fmt.Sprintf("the record (event and partition key) is %d bytes, the limit is %d", n, in.lim.MaxEventBytes)})
		return
	}
	in.seen[ev.ID] = i
	in.recs = append(in.recs, event.Record{PartitionKey: pk, Data: raw})
	in.index = append(in.index, i)
	in.ids = append(in.ids, ev.ID)
}

// reset empties the intake for a body, keeping its buffers. The errors are the answer's, so they are new.
func (in *intake) reset(h *Handler, lim event.Limits) {
	clear(in.recs) // drop the references to the last body
	clear(in.ids)
	clear(in.seen)
	*in = intake{h: h, lim: lim, recs: in.recs[:0], index: in.index[:0], ids: in.ids[:0], seen: in.seen,
		errs: make([]ItemError, 0, 4), reasons: in.reasons[:0], traced: in.traced[:0]}
}

// reject records why the event at index i is refused.
func (in *intake) reject(i int, id string, err error) {
	in.errs = append(in.errs, ItemError{Index: i, ID: id, Reason: err.Error()})
	in.reasons = append(in.reasons, ruleOf(err))
}

// notTaken records that the stream did not take recs[k], with a Kinesis error code.
func (in *intake) notTaken(k int, code string) {
	reason := "not written to the stream (" + code + "); send it again after the Retry-After delay"
	if code == event.ErrCodeThroughputExceeded {
		reason = "not written: the stream is over its throughput (" + code + "); send it again after the Retry-After delay"
	}
	in.errs = append(in.errs, ItemError{Index: in.index[k], ID: in.ids[k], Reason: reason, Retryable: true})
	in.reasons = append(in.reasons, code)
}

// produce writes the collected records in calls within the per-call limits and maps the results back to
// the events. It reports how many were accepted and whether any was throttled or failed otherwise.
func (h *Handler) produce(ctx context.Context, in *intake) (accepted int, throttled, failed bool) {
	recs := in.recs
	for start := 0; start < len(recs); {
		end, size := start, 0
		for end < len(recs) && end-start < h.maxRecords {
			n := len(recs[end].Data) + len(recs[end].PartitionKey)
			if end > start && size+n > h.maxBytes {
				break
			}
			size += n
			end++
		}
		call := recs[start:end]
		results, err := h.producer.PutRecords(ctx, call)
		if err == nil && len(results) != len(call) {
			err = fmt.Errorf("the producer returned %d results for %d records", len(results), len(call))
		}
		if err != nil {
			code := callErrorCode(err)
			h.log.LogAttrs(ctx, slog.LevelWarn, "ingest: PutRecords failed",
				slog.Int("records", len(call)), slog.String("code", code), slog.Any("error", err))
			for k := start; k < end; k++ {
				in.notTaken(k, code)
			}
			throttled = throttled || code == event.ErrCodeThroughputExceeded
			failed = failed || code != event.ErrCodeThroughputExceeded
			start = end
			continue
		}
		refused := 0
		for j, r := range results {
			if r.SequenceNumber != "" {
				accepted++
				continue
			}
			code := r.ErrorCode
			if code == "" {
				code = event.ErrCodeInternalFailure
			}
			if refused == 0 {
				h.log.LogAttrs(ctx, slog.LevelWarn, "ingest: the stream refused a record",
					slog.String("code", code), slog.String("message", r.ErrorMessage), slog.String("id", in.ids[start+j]))
			}
			refused++
			in.notTaken(start+j, code)
			throttled = throttled || code == event.ErrCodeThroughputExceeded
			failed = failed || code != event.ErrCodeThroughputExceeded
		}
		if refused > 1 {
			h.log.LogAttrs(ctx, slog.LevelWarn, "ingest: the stream refused records",
				slog.Int("refused", refused), slog.Int("records", len(call)))
		}
		start = end
	}
	return accepted, throttled, failed
}

// callErrorCode names a whole-call failure with a Kinesis error code: ProvisionedThroughputExceededException
// when the error says the stream is throttling, else InternalFailure. An error that has an ErrorCode()
// method, as AWS SDK API errors do, says so with one of AWS's throttling codes.
func callErrorCode(err error) string {
	var coded interface{ ErrorCode() string }
	if errors.As(err, &coded) {
		switch coded.ErrorCode() {
		case event.ErrCodeThroughputExceeded, "LimitExceededException", "ThrottlingException", "KMSThrottlingException":
			return event.ErrCodeThroughputExceeded
		}
	}
	return event.ErrCodeInternalFailure
}
