package workflow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/segmentio/encoding/json"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/internal/telemetry"
)

// Store is the curated table, as the persist function uses it.
type Store interface {
	// Put writes the items whose id is not in the table yet and leaves the others as they are (put-if-absent),
	// so writing a batch again changes nothing. An error means the items may not all be written; the call is
	// retried as a whole. An error that has a method Permanent() bool returning true cannot succeed on a retry.
	Put(ctx context.Context, items []event.Curated) error
}

// Persister is the persist function: the handler of the definition's Persist state. It is safe for
// concurrent use.
type Persister struct {
	store Store
	now   func() time.Time
	// metrics, function and tracer are set by Instrument.
	metrics  *telemetry.Pipeline
	function string
	tracer   trace.Tracer
}

// Instrument makes p count the items it writes and their end-to-end latency (from the stream's arrival time
// to the write) in m, with fn as the Function dimension, and trace each write with a span of tp. Either may
// be nil. Call it before p is used.
func (p *Persister) Instrument(m *telemetry.Pipeline, fn string, tp trace.TracerProvider) *Persister {
	p.metrics, p.function = m, fn
	if tp != nil {
		p.tracer = tp.Tracer("github.com/serverless-data-platform/sdp/workflow")
	}
	return p
}

// NewPersister returns the persist function over the curated table s; now stamps CuratedAt (nil means
// time.Now).
func NewPersister(s Store, now func() time.Time) *Persister {
	if now == nil {
		now = time.Now
	}
	return &Persister{store: s, now: now}
}

// PersistInput is the persist function's payload: the curated events of one batch.
type PersistInput struct {
	BatchID string          `json:"batchId"`
	Items   []event.Curated `json:"items"`
}

// PersistOutput is the persist function's answer.
type PersistOutput struct {
	// Written is how many items the call handed to the table (new ones and ones that were there already).
	Written int `json:"written"`
}

// Handle writes the items, stamped with one CuratedAt for the batch (the table keeps the first one an item
// gets, so a replay's is dropped). Its errors are Lambda function errors whose type the definition's Retry
// names: ErrorTypeInvalidItem for an item the table can never take, ErrorTypeStoreUnavailable for anything
// else, which the state retries.
func (p *Persister) Handle(ctx context.Context, in PersistInput) (PersistOutput, error) {
	now := p.now().UTC()
	for i := range in.Items {
		in.Items[i].CuratedAt = now
	}
	ctx = telemetry.With(ctx, slog.String(telemetry.KeyBatchID, in.BatchID))
	var span trace.Span
	if p.tracer != nil {
		ctx, span = p.tracer.Start(ctx, "curated.put", trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(attribute.Int("sdp.items", len(in.Items))))
		defer span.End()
	}
	err := p.store.Put(ctx, in.Items)
	if err == nil && p.metrics != nil {
		done := p.now()
		p.metrics.Curated.Add(float64(len(in.Items)), p.function)
		for i := range in.Items {
			if at := in.Items[i].ArrivalTime; !at.IsZero() {
				p.metrics.EndToEndLatency.Observe(float64(done.Sub(at).Milliseconds()), p.function)
			}
		}
	}
	if err != nil {
		if span != nil {
			span.SetStatus(codes.Error, err.Error())
		}
		typ := ErrorTypeStoreUnavailable
		var perm interface{ Permanent() bool }
		if errors.As(err, &perm) && perm.Permanent() {
			typ = ErrorTypeInvalidItem
		}
		return PersistOutput{}, messages.InvokeResponse_Error{Type: typ,
			Message: fmt.Sprintf("persist: batch %q: %d items: %v", in.BatchID, len(in.Items), err)}
	}
	return PersistOutput{Written: len(in.Items)}, nil
}

// Invoke is Handle on JSON, as the Lambda runtime calls a handler (lambda.Handler).
func (p *Persister) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	var in PersistInput
	if err := json.Unmarshal(payload, &in); err != nil {
		return nil, messages.InvokeResponse_Error{Type: ErrorTypeInvalidItem,
			Message: "persist: the payload is not a list of curated items: " + err.Error()}
	}
	out, err := p.Handle(ctx, in)
	if err != nil {
		return nil, err
	}
	return json.Marshal(&out)
}
