package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/analytics"
	"github.com/serverless-data-platform/sdp/analytics/export"
)

// newExport builds the export function: it reads the closed windows of the aggregates table AGGREGATES_TABLE
// (with the windowing of SDP_WINDOW_SIZE and SDP_ALLOWED_LATENESS, which must be the analytics function's)
// and writes them to the bucket SDP_EXPORT_BUCKET under SDP_EXPORT_PREFIX, for the Glue table Athena and
// QuickSight read.
func newExport(ctx context.Context, s settings, d deps, log *slog.Logger) (lambda.Handler, error) {
	if s.AggregatesTable == "" {
		return nil, missing(nameExport, envAggregatesTable, "the DynamoDB table of analytics aggregates")
	}
	if s.ExportBucket == "" {
		return nil, missing(nameExport, envExportBucket, "the S3 bucket the closed windows are written to")
	}
	w, err := windowing(s)
	if err != nil {
		return nil, fmt.Errorf("the %s function: %w", nameExport, err)
	}
	horizon, err := duration(envExportLateHorizon, s.ExportLateHorizon, export.LateHorizon, true)
	if err != nil {
		return nil, fmt.Errorf("the %s function: %w", nameExport, err)
	}
	if d.newExportTarget == nil {
		return nil, fmt.Errorf("the %s function: no S3 client in this build", nameExport)
	}
	cfg, err := loadConfig(ctx, d, nameExport)
	if err != nil {
		return nil, err
	}
	store, err := d.newAggregatesStore(cfg, s.AggregatesTable, w, log)
	if err != nil {
		return nil, err
	}
	prefix := s.ExportPrefix
	if prefix == "" {
		prefix = defaultExportPrefix
	}
	e, err := export.New(store, d.newExportTarget(cfg, s), export.WithWindowing(w), export.WithPrefix(prefix),
		export.WithLateHorizon(horizon))
	if err != nil {
		return nil, fmt.Errorf("the %s function: %w (%s, %s)", nameExport, err, envExportPrefix, envWindowSize)
	}
	return &exportFunction{exporter: e, log: log}, nil
}

// exportFunction is the export Lambda function: one export run per invocation.
type exportFunction struct {
	exporter *export.Exporter
	log      *slog.Logger
}

// Invoke runs one export. The payload (EventBridge's scheduled event) is not read: every run exports what
// closed since the checkpoint, whenever it runs. The answer is the run's export.Result; an error leaves the
// checkpoint as it was, and the next run (EventBridge's retry or the next schedule) redoes the work,
// overwriting the same objects.
func (f *exportFunction) Invoke(ctx context.Context, _ []byte) ([]byte, error) {
	res, err := f.exporter.Export(ctx)
	if err != nil {
		f.log.Error("export failed", "error", err.Error(), "objectsWritten", len(res.Written))
		return nil, err
	}
	f.log.Info("exported", "from", res.From, "to", res.To, "windows", res.Windows,
		"objectsWritten", len(res.Written), "objectsUnchanged", res.Unchanged, "checkpointed", res.Checkpointed)
	return json.Marshal(&res)
}

// windowing returns the exporter's windowing, defaults filled in.
func (f *exportFunction) windowing() analytics.Windowing { return f.exporter.Windowing() }
