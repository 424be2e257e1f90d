package main

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/serverless-data-platform/sdp/analytics"
	"github.com/serverless-data-platform/sdp/ingest"
	"github.com/serverless-data-platform/sdp/workflow"
)

// This file builds the AWS adapters of the ports the ingest, persist and analytics functions use. Each
// constructor gets the aws.Config loaded once at init and the resource its function's settings name, and
// does no I/O.

// errNoAdapter is wrapped by the constructors below while the adapter they build is not available in this
// build: their function then fails at init with a message naming the adapter.
var errNoAdapter = errors.New("adapter not available")

// newProducer returns the Kinesis producer of the stream named stream (the ingest function's Producer).
func newProducer(_ aws.Config, stream string, _ *slog.Logger) (ingest.Producer, error) {
	return nil, fmt.Errorf("the ingest function needs the Kinesis producer adapter (stream %q): %w", stream, errNoAdapter)
}

// newCuratedStore returns the DynamoDB store of curated events in table (the persist function's Store).
func newCuratedStore(_ aws.Config, table string, _ *slog.Logger) (workflow.Store, error) {
	return nil, fmt.Errorf("the persist function needs the DynamoDB curated store adapter (table %q): %w", table, errNoAdapter)
}

// newAggregatesStore returns the DynamoDB store of analytics aggregates in table (the analytics function's
// Store).
func newAggregatesStore(_ aws.Config, table string, _ *slog.Logger) (analytics.Store, error) {
	return nil, fmt.Errorf("the analytics function needs the DynamoDB aggregates store adapter (table %q): %w", table, errNoAdapter)
}
