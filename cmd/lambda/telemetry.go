package main

import (
	"context"
	"io"
	"log/slog"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/serverless-data-platform/sdp/internal/telemetry"
)

// traceHeaderKey is the context key under which aws-lambda-go passes the invocation's X-Ray trace header
// (Lambda-Runtime-Trace-Id) to the handler.
const traceHeaderKey = "x-amzn-trace-id"

// instrumented is a function as Lambda runs it: each invocation is marked (function name, cold start) for the
// logs, joins the trace Lambda started for it, and ends with the metrics it recorded written as Embedded
// Metric Format lines and its spans flushed, since the execution environment may be frozen right after.
type instrumented struct {
	next    lambda.Handler
	name    string
	metrics *telemetry.Registry
	emf     io.Writer
	tracer  *sdktrace.TracerProvider
	log     *slog.Logger
}

// Invoke implements lambda.Handler.
func (h *instrumented) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	ctx = telemetry.Invocation(ctx, h.name)
	if header, ok := ctx.Value(traceHeaderKey).(string); ok {
		ctx = telemetry.ContextWithHeader(ctx, header)
	}
	out, err := h.next.Invoke(ctx, payload)
	if ferr := h.metrics.FlushEMF(h.emf, time.Now()); ferr != nil {
		h.log.WarnContext(ctx, "metrics not written", "error", ferr)
	}
	if h.tracer != nil {
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		if ferr := h.tracer.ForceFlush(fctx); ferr != nil {
			h.log.WarnContext(ctx, "spans not exported", "error", ferr)
		}
		cancel()
	}
	return out, err
}
