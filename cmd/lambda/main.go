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

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	s := loadSettings(os.Getenv)
	log := newLogger(os.Stdout, s.LogLevel)
	h, err := newHandler(context.Background(), s, awsDeps(), log)
	if err != nil {
		// An init error: Lambda reports Runtime.ExitError and the log line says why.
		log.Error("init failed", "handler", s.Handler, "error", err.Error())
		os.Exit(1)
	}
	// SIGTERM comes about 500 ms before Lambda stops the execution environment: the last log line is
	// written and stdout synced before the process exits on its own.
	lambda.StartWithOptions(h, lambda.WithEnableSIGTERM(func() {
		log.Info("shutting down", "handler", s.Handler)
		_ = os.Stdout.Sync()
		os.Exit(0)
	}))
}
