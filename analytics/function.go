package analytics

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/aws/aws-lambda-go/lambda/messages"
	"github.com/segmentio/encoding/json"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/internal/telemetry"
)

// Function is the analytics Lambda function's handler. Its Handle method has the shape lambda.NewHandler and
// lambda.Start accept.
type Function struct {
	store  Store
	tracer trace.Tracer
}

// Instrument makes f trace each call with a span of tp (nil: no spans). Call it before f is used.
func (f *Function) Instrument(tp trace.TracerProvider) *Function {
	if tp != nil {
		f.tracer = tp.Tracer("github.com/serverless-data-platform/sdp/analytics")
	}
	return f
}

// NewFunction returns the function over the aggregates store s.
func NewFunction(s Store) *Function {
	return &Function{store: s}
}

// ErrorTypeStoreUnavailable is the Lambda error type of the function's errors: the aggregates could not be
// written, and the call may be retried whole (the workflow's Analytics state does).
const ErrorTypeStoreUnavailable = "Analytics.StoreUnavailable"

// Handle counts the input's facts. Facts counted before (a retried invocation or a replayed batch) are skipped
// and reported as duplicates. An error (a Lambda function error of type ErrorTypeStoreUnavailable) means
// nothing of the input was counted; the caller retries the whole input.
func (f *Function) Handle(ctx context.Context, in event.FactBatch) (Output, error) {
	ctx = telemetry.With(ctx, slog.String(telemetry.KeyBatchID, in.BatchID))
	var span trace.Span
	if f.tracer != nil {
		ctx, span = f.tracer.Start(ctx, "aggregates.apply", trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(attribute.Int("sdp.facts", len(in.Events))))
		defer span.End()
	}
	applied, err := f.store.Apply(ctx, in.Events)
	if span != nil {
		span.SetAttributes(attribute.Int("sdp.applied", applied))
		if err != nil {
			span.SetStatus(codes.Error, err.Error())
		}
	}
	if err != nil {
		return Output{}, messages.InvokeResponse_Error{Type: ErrorTypeStoreUnavailable,
			Message: fmt.Sprintf("analytics: batch %q: %v", in.BatchID, err)}
	}
	return Output{Applied: applied, Duplicates: len(in.Events) - applied}, nil
}

// Invoke is Handle on JSON, as the Lambda runtime calls a handler (lambda.Handler), with a decoder faster
// than the runtime's reflection-based one.
func (f *Function) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	var in event.FactBatch
	if err := json.Unmarshal(payload, &in); err != nil {
		return nil, fmt.Errorf("analytics: the payload is not a batch of facts: %w", err)
	}
	out, err := f.Handle(ctx, in)
	if err != nil {
		return nil, err
	}
	return json.Marshal(&out)
}
