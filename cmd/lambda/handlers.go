package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"go.opentelemetry.io/otel/trace"

	"github.com/serverless-data-platform/sdp/analytics"
	"github.com/serverless-data-platform/sdp/analytics/export"
	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/ingest"
	"github.com/serverless-data-platform/sdp/ingest/bulk"
	"github.com/serverless-data-platform/sdp/internal/faults"
	"github.com/serverless-data-platform/sdp/internal/telemetry"
	"github.com/serverless-data-platform/sdp/stream/consumer"
	"github.com/serverless-data-platform/sdp/workflow"
	"github.com/serverless-data-platform/sdp/workflow/sfn"
)

// The functions' names: the Handler settings of the SAM template.
const (
	nameIngest    = "ingest"
	nameConsumer  = "consumer"
	nameEnrich    = "enrich"
	namePersist   = "persist"
	nameAnalytics = "analytics"
	nameExport    = "export"
	// handlerNames lists them for error messages.
	handlerNames = "ingest, consumer, enrich, persist, analytics, export"
)

// The function types answer the runtime themselves (Invoke on JSON); their errors reach it as they are, so
// that a messages.InvokeResponse_Error keeps its error type.
var (
	_ lambda.Handler = (*ingest.Handler)(nil)
	_ lambda.Handler = (*workflow.Enricher)(nil)
	_ lambda.Handler = (*workflow.Persister)(nil)
	_ lambda.Handler = (*analytics.Function)(nil)
	_ lambda.Handler = (*consumer.Consumer)(nil)
	_ lambda.Handler = (*exportFunction)(nil)
)

// deps are what the functions are built from besides their settings: how the AWS configuration is loaded
// and the constructors of the AWS adapters. main uses awsDeps; tests replace parts.
type deps struct {
	loadConfig         func(context.Context) (aws.Config, error)
	newProducer        func(cfg aws.Config, stream string, log *slog.Logger) (ingest.Producer, error)
	newCuratedStore    func(cfg aws.Config, table string, log *slog.Logger) (workflow.Store, error)
	newAggregatesStore func(cfg aws.Config, table string, w analytics.Windowing, log *slog.Logger) (analytics.Store, error)
	// newExportTarget builds the export function's target: the bucket s.ExportBucket.
	newExportTarget func(cfg aws.Config, s settings) export.Target
	// newObjectStores and newSelfInvoker build the ingest function's S3 path; when newObjectStores is nil
	// the path is off (S3 events are refused as unsupported).
	newObjectStores func(cfg aws.Config, s settings) ingest.ObjectStores
	newSelfInvoker  func(cfg aws.Config, s settings) ingest.SelfInvoker
	// metrics and tracer are the function's metrics (written as EMF after each invocation) and tracer
	// provider; nil means none. faults, when set (SDP_FAULTS), injects faults into the SDK's transport.
	metrics *telemetry.Pipeline
	tracer  trace.TracerProvider
	faults  *faults.Injector
}

// awsDeps are the deps of a function running in Lambda: the SDK's default configuration (region and the
// function role's credentials from the environment) and the AWS adapters.
func awsDeps() deps {
	return deps{
		loadConfig: func(ctx context.Context) (aws.Config, error) {
			return config.LoadDefaultConfig(ctx)
		},
		newProducer:        newProducer,
		newCuratedStore:    newCuratedStore,
		newAggregatesStore: newAggregatesStore,
		newExportTarget:    newExportTarget,
		newObjectStores:    newObjectStores,
		newSelfInvoker:     newSelfInvoker,
	}
}

// newHandler builds the function s.Handler names. It runs once per execution environment, at init: the
// clients it builds are reused by every invocation.
func newHandler(ctx context.Context, s settings, d deps, log *slog.Logger) (lambda.Handler, error) {
	switch s.Handler {
	case nameIngest:
		return newIngest(ctx, s, d, log)
	case nameConsumer:
		return newConsumer(ctx, s, d, log)
	case nameEnrich:
		return newEnrich(s)
	case namePersist:
		return newPersist(ctx, s, d, log)
	case nameAnalytics:
		return newAnalytics(ctx, s, d, log)
	case nameExport:
		return newExport(ctx, s, d, log)
	case "":
		return nil, fmt.Errorf("%s is not set: the function's Handler must be one of %s", envHandler, handlerNames)
	}
	return nil, fmt.Errorf("unknown handler %q (%s): want one of %s", s.Handler, envHandler, handlerNames)
}

// missing is the error of a function whose setting env is not set.
func missing(function, env, what string) error {
	return fmt.Errorf("the %s function needs %s (%s)", function, env, what)
}

// loadConfig loads the AWS configuration for function.
func loadConfig(ctx context.Context, d deps, function string) (aws.Config, error) {
	cfg, err := d.loadConfig(ctx)
	if err != nil {
		return aws.Config{}, fmt.Errorf("the %s function: loading the AWS configuration: %w", function, err)
	}
	if d.faults != nil {
		cfg.HTTPClient = d.faults.HTTPClient(cfg.HTTPClient)
	}
	if d.tracer != nil {
		telemetry.InstrumentAWS(&cfg, d.tracer)
	}
	return cfg, nil
}

// newIngest builds the ingest function over the Kinesis stream EVENT_STREAM. Its S3 path ingests the objects
// named by S3 notifications and EventBridge events, from any bucket the function's role may read, with the
// same validator and producer; an object not finished within one invocation is continued by invoking the
// function itself (AWS_LAMBDA_FUNCTION_NAME) asynchronously.
func newIngest(ctx context.Context, s settings, d deps, log *slog.Logger) (lambda.Handler, error) {
	if s.EventStream == "" {
		return nil, missing(nameIngest, envEventStream, "the Kinesis stream events are written to")
	}
	reg, err := newRegistry(nameIngest, log)
	if err != nil {
		return nil, err
	}
	cfg, err := loadConfig(ctx, d, nameIngest)
	if err != nil {
		return nil, err
	}
	p, err := d.newProducer(cfg, s.EventStream, log)
	if err != nil {
		return nil, err
	}
	opts := []ingest.Option{ingest.WithLogger(log), ingest.WithMetrics(d.metrics, nameIngest),
		ingest.WithTracerProvider(d.tracer)}
	if d.newObjectStores != nil {
		g, err := bulk.NewIngester(reg, p, bulk.WithLogger(log))
		if err != nil {
			return nil, fmt.Errorf("the %s function: %w", nameIngest, err)
		}
		opts = append(opts, ingest.WithObjects(d.newObjectStores(cfg, s), g))
		if d.newSelfInvoker != nil {
			if inv := d.newSelfInvoker(cfg, s); inv != nil {
				opts = append(opts, ingest.WithSelfInvoker(inv))
			}
		}
	}
	return ingest.New(reg, p, opts...), nil
}

// newConsumer builds the stream consumer over the Express state machine WORKFLOW_ARN.
func newConsumer(ctx context.Context, s settings, d deps, log *slog.Logger) (lambda.Handler, error) {
	if s.WorkflowARN == "" {
		return nil, missing(nameConsumer, envWorkflowARN, "the ARN of the Express state machine run once per batch")
	}
	cfg, err := loadConfig(ctx, d, nameConsumer)
	if err != nil {
		return nil, err
	}
	reg, err := newRegistry(nameConsumer, log)
	if err != nil {
		return nil, err
	}
	ex := sfn.New(sfn.NewClient(cfg, s.SFNEndpoint), s.WorkflowARN, sfn.WithLogger(log))
	// The consumer decodes its payload itself (Invoke), faster than the runtime's reflection-based decoder.
	return consumer.New(ex, consumer.WithLogger(log), consumer.WithValidator(reg),
		consumer.WithMetrics(d.metrics, nameConsumer), consumer.WithTracerProvider(d.tracer)), nil
}

// newEnrich builds the enrich function with the rules PROCESSING_RULES, the schemas' measures and the
// reference data REFERENCE_DATA (the built-in data by default). It needs no AWS client.
func newEnrich(s settings) (lambda.Handler, error) {
	rules, err := parseRules(s.ProcessingRules)
	if err != nil {
		return nil, fmt.Errorf("the enrich function: %w", err)
	}
	ref, err := loadReference(s.ReferenceData)
	if err != nil {
		return nil, fmt.Errorf("the enrich function: %w", err)
	}
	reg, err := event.NewRegistry()
	if err != nil {
		return nil, fmt.Errorf("the enrich function: loading the event schemas: %w", err)
	}
	return workflow.NewEnricher(workflow.WithRules(rules...), workflow.WithMeasures(reg.MeasuresByType()),
		workflow.WithReference(ref, 0)), nil
}

// newPersist builds the persist function over the curated table CURATED_TABLE.
func newPersist(ctx context.Context, s settings, d deps, log *slog.Logger) (lambda.Handler, error) {
	if s.CuratedTable == "" {
		return nil, missing(namePersist, envCuratedTable, "the DynamoDB table of curated events")
	}
	cfg, err := loadConfig(ctx, d, namePersist)
	if err != nil {
		return nil, err
	}
	store, err := d.newCuratedStore(cfg, s.CuratedTable, log)
	if err != nil {
		return nil, err
	}
	return workflow.NewPersister(store, nil).Instrument(d.metrics, namePersist, d.tracer), nil
}

// newAnalytics builds the analytics function over the aggregates table AGGREGATES_TABLE, with the windowing
// of SDP_WINDOW_SIZE and SDP_ALLOWED_LATENESS.
func newAnalytics(ctx context.Context, s settings, d deps, log *slog.Logger) (lambda.Handler, error) {
	if s.AggregatesTable == "" {
		return nil, missing(nameAnalytics, envAggregatesTable, "the DynamoDB table of analytics aggregates")
	}
	w, err := windowing(s)
	if err != nil {
		return nil, fmt.Errorf("the %s function: %w", nameAnalytics, err)
	}
	cfg, err := loadConfig(ctx, d, nameAnalytics)
	if err != nil {
		return nil, err
	}
	store, err := d.newAggregatesStore(cfg, s.AggregatesTable, w, log)
	if err != nil {
		return nil, err
	}
	return analytics.NewFunction(store).Instrument(d.tracer), nil
}

// newRegistry loads the event schemas for the function name, and logs each type whose schema the schema
// compiler cannot compile (its events are validated by the slower reference validator).
func newRegistry(name string, log *slog.Logger) (*event.Registry, error) {
	reg, err := event.NewRegistry()
	if err != nil {
		return nil, fmt.Errorf("the %s function: loading the event schemas: %w", name, err)
	}
	for typ, why := range reg.Fallbacks() {
		log.Warn("schema not compiled: events of this type use the reference validator",
			slog.String("type", typ), slog.String("reason", why.Error()))
	}
	return reg, nil
}
