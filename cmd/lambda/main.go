// Command lambda is the bootstrap of every Lambda function of the platform (runtime provided.al2023). One
// binary serves them all: Lambda's _HANDLER setting, the Handler property of the function in
// infrastructure/template.yaml, chooses the function:
//
//	ingest     the Ingestion function (API Gateway HTTP API events and direct invocations)
//	consumer   the stream consumer (Kinesis batches, one Step Functions Express execution per batch)
//	enrich     the workflow's Enrich task
//	persist    the workflow's Persist task (the curated table)
//	analytics  the workflow's Analytics task (the aggregates)
//	export     the export of closed analytics windows to S3 for Athena and QuickSight (on a schedule)
//
// Settings come from environment variables (see settings.go); AWS clients are built once, at init, from
// config.LoadDefaultConfig. Build it with `make lambda` (linux/arm64, -tags lambda.norpc).
package main

import (
	"context"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/serverless-data-platform/sdp/internal/faults"
	"github.com/serverless-data-platform/sdp/internal/telemetry"
)

func main() {
	s := loadSettings(os.Getenv)
	log := newLogger(os.Stdout, s.LogLevel)
	ctx := context.Background()
	// Spans are exported over OTLP only when OTEL_EXPORTER_OTLP_ENDPOINT (or its traces variant) is set, as
	// with the ADOT collector layer; X-Ray's own segments come from the function's active tracing.
	tp, err := telemetry.NewTracerProvider(ctx, telemetry.TraceConfig{ServiceName: s.Handler, Getenv: os.Getenv})
	if err != nil {
		log.Error("init failed", "handler", s.Handler, "error", err.Error())
		os.Exit(1)
	}
	metrics := telemetry.NewRegistry("sdp")
	d := awsDeps()
	d.metrics, d.tracer = telemetry.NewPipeline(metrics), tp
	if s.Faults != "" {
		spec, err := faults.Parse(s.Faults)
		if err != nil {
			log.Error("init failed", "handler", s.Handler, "error", "SDP_FAULTS: "+err.Error())
			os.Exit(1)
		}
		d.faults = faults.New(spec, uint64(time.Now().UnixNano()))
		log.Warn("fault injection is on", "faults", spec.String())
	}
	h, err := newHandler(ctx, s, d, log)
	if err != nil {
		// An init error: Lambda reports Runtime.ExitError and the log line says why.
		log.Error("init failed", "handler", s.Handler, "error", err.Error())
		os.Exit(1)
	}
	h = &instrumented{next: h, name: s.Handler, metrics: metrics, emf: os.Stdout, tracer: tp, log: log}
	// SIGTERM comes about 500 ms before Lambda stops the execution environment: the last log line is
	// written, the spans flushed and stdout synced before the process exits on its own.
	lambda.StartWithOptions(h, lambda.WithEnableSIGTERM(func() {
		log.Info("shutting down", "handler", s.Handler)
		sctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		_ = tp.Shutdown(sctx)
		cancel()
		_ = os.Stdout.Sync()
		os.Exit(0)
	}))
}
