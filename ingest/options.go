package ingest

import (
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/internal/telemetry"
)

// Option configures a Handler.
type Option func(*Handler)

// WithLimits sets the limits on a body and its events; zero fields keep event.DefaultLimits.
func WithLimits(l event.Limits) Option {
	return func(h *Handler) { h.limits = l.OrDefault() }
}

// WithLogger sets the logger of the Handler; by default it logs nothing.
func WithLogger(l *slog.Logger) Option {
	return func(h *Handler) {
		if l != nil {
			h.log = l
		}
	}
}

// WithMetrics counts the events the stream took and those rejected, by reason, in m, with the function name
// fn as the Function dimension. A body refused as a whole counts as one rejection.
func WithMetrics(m *telemetry.Pipeline, fn string) Option {
	return func(h *Handler) { h.metrics, h.function = m, fn }
}

// WithTracerProvider traces each body with a span of tp and writes the span's X-Ray trace header into every
// event the Handler sends to the stream, as the CloudEvents attribute telemetry.EventTraceAttribute (an event
// that has one keeps it), so that the consumer and the workflow continue the trace. Without it the Handler
// neither traces nor changes events.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(h *Handler) {
		if tp != nil {
			h.tracer = tp.Tracer("github.com/serverless-data-platform/sdp/ingest")
		}
	}
}

// WithRetryAfter sets the delay sent in Retry-After with a 429 or 503 (DefaultRetryAfter by default). The
// header carries whole seconds, rounded up.
func WithRetryAfter(d time.Duration) Option {
	return func(h *Handler) {
		if d > 0 {
			h.retryAfter = d
		}
	}
}

// WithMaxRecordsPerCall sets the most records one PutRecords call carries (DefaultMaxRecordsPerCall).
func WithMaxRecordsPerCall(n int) Option {
	return func(h *Handler) {
		if n > 0 {
			h.maxRecords = n
		}
	}
}

// WithMaxBytesPerCall sets the most bytes, data plus partition keys, that one PutRecords call carries
// (DefaultMaxBytesPerCall). A record larger than that on its own still goes, alone in its call.
func WithMaxBytesPerCall(n int) Option {
	return func(h *Handler) {
		if n > 0 {
			h.maxBytes = n
		}
	}
}
