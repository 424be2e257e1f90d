package analytics

import (
	"context"
	"fmt"

	"github.com/serverless-data-platform/sdp/event"
)

// Function is the analytics Lambda function's handler. Its Handle method has the shape lambda.NewHandler and
// lambda.Start accept.
type Function struct {
	store Store
}

// NewFunction returns the function over the aggregates store s.
func NewFunction(s Store) *Function {
	return &Function{store: s}
}

// Handle counts the input's facts. Facts counted before (a retried invocation or a replayed batch) are skipped
// and reported as duplicates. An error means nothing of the input was counted; the caller retries the whole
// input.
func (f *Function) Handle(ctx context.Context, in event.FactBatch) (Output, error) {
	applied, err := f.store.Apply(ctx, in.Events)
	if err != nil {
		return Output{}, fmt.Errorf("analytics: batch %q: %w", in.BatchID, err)
	}
	return Output{Applied: applied, Duplicates: len(in.Events) - applied}, nil
}
