package main

import (
	"fmt"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/serverless-data-platform/sdp/analytics"
	adyn "github.com/serverless-data-platform/sdp/analytics/dynamo"
	"github.com/serverless-data-platform/sdp/analytics/export"
	"github.com/serverless-data-platform/sdp/ingest"
	"github.com/serverless-data-platform/sdp/ingest/objects/s3"
	"github.com/serverless-data-platform/sdp/stream/kinesis"
	"github.com/serverless-data-platform/sdp/workflow"
	"github.com/serverless-data-platform/sdp/workflow/store/dynamo"
)

// This file builds the AWS adapters of the ports the ingest, persist, analytics and export functions use. Each
// constructor gets the aws.Config loaded once at init and the resource its function's settings name, builds
// its SDK client from them and does no I/O.
//
// Endpoints: the SDK applies AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_KINESIS and AWS_ENDPOINT_URL_DYNAMODB (and
// AWS_IGNORE_CONFIGURED_ENDPOINT_URLS) by itself: config.LoadDefaultConfig puts the global one in
// aws.Config.BaseEndpoint and each service client looks up its own variable in cfg.ConfigSources, which wins.
// Nothing is done here for them; only the consumer's Step Functions client needs its endpoint passed in,
// because of the host prefix of StartSyncExecution.

// Compile-time checks that the adapters implement the functions' ports.
var (
	_ ingest.Producer = (*kinesis.Producer)(nil)
	_ workflow.Store  = (*dynamo.Table)(nil)
	_ analytics.Store = (*adyn.Store)(nil)
)

// newProducer returns the Kinesis producer of the stream given by name or ARN (the ingest function's
// Producer).
//
// Records are sent plain, never KPL-aggregated: the consumer's event source mapping hands aggregated records
// to the function as they are, and its ParallelizationFactor orders records by partition key, which an
// aggregate spanning several keys would break.
//
// The producer's per-shard rate limiter is off. Each execution environment would limit only its own share of
// the stream's traffic, so it cannot keep the shards under their limits when many environments write, and it
// would call ListShards, which the function's role is not granted. Throttled records are retried by the
// producer with backoff, and those still refused are reported to the sender as retryable.
func newProducer(cfg aws.Config, stream string, _ *slog.Logger) (ingest.Producer, error) {
	p, err := kinesis.NewProducer(awskinesis.NewFromConfig(cfg), stream,
		kinesis.WithAggregation(false), kinesis.WithShardRateLimit(0, 0))
	if err != nil {
		return nil, fmt.Errorf("the ingest function: the Kinesis producer of stream %q: %w", stream, err)
	}
	return p, nil
}

// newCuratedStore returns the DynamoDB store of curated events in table (the persist function's Store).
func newCuratedStore(cfg aws.Config, table string, _ *slog.Logger) (workflow.Store, error) {
	if table == "" {
		return nil, missing(namePersist, envCuratedTable, "the DynamoDB table of curated events")
	}
	return dynamo.New(dynamodb.NewFromConfig(cfg), table), nil
}

// newAggregatesStore returns the DynamoDB store of analytics aggregates in table with the windowing w (the
// analytics and export functions' Store).
func newAggregatesStore(cfg aws.Config, table string, w analytics.Windowing, _ *slog.Logger) (analytics.Store, error) {
	if table == "" {
		return nil, missing(nameAnalytics, envAggregatesTable, "the DynamoDB table of analytics aggregates")
	}
	return adyn.New(dynamodb.NewFromConfig(cfg), table, adyn.WithWindowing(w)), nil
}

// newExportTarget returns the export function's target: the bucket s.ExportBucket, over an S3 client built
// from cfg, addressing the bucket by path when an S3 endpoint is set (an emulator).
func newExportTarget(cfg aws.Config, s settings) export.Target {
	var opts []func(*awss3.Options)
	if s.S3Endpoint != "" {
		opts = append(opts, s3.UsePathStyle)
	}
	return export.NewBucket(awss3.NewFromConfig(cfg, opts...), s.ExportBucket)
}
