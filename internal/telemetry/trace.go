package telemetry

import (
	"context"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	//lint:ignore SA1019 otelaws is unmaintained upstream but is still the OTel middleware for the AWS SDK v2; replace it when a successor exists.
	"go.opentelemetry.io/contrib/instrumentation/github.com/aws/aws-sdk-go-v2/otelaws"
	"go.opentelemetry.io/contrib/propagators/aws/xray"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// xrayHeader is the HTTP header (and carrier key) of the X-Ray propagator.
const xrayHeader = "X-Amzn-Trace-Id"

// TraceConfig configures NewTracerProvider.
type TraceConfig struct {
	// ServiceName is the service.name resource attribute of every span.
	ServiceName string
	// Exporter, when set, receives every span (tests pass tracetest.NewInMemoryExporter()), synchronously.
	Exporter sdktrace.SpanExporter
	// Getenv reads the OTel settings (os.Getenv in mains; nil means no settings). Without Exporter, spans are
	// exported with OTLP over HTTP (otlptracehttp, batched) only when OTEL_EXPORTER_OTLP_ENDPOINT or
	// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is set and OTEL_TRACES_EXPORTER is not "none"; otherwise spans are
	// created (so logs carry trace ids and context propagates) but never exported.
	//
	// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT is used as the full URL; OTEL_EXPORTER_OTLP_ENDPOINT is a base URL to
	// which /v1/traces is appended, as the OTel specification says. OTEL_EXPORTER_OTLP_HEADERS and
	// OTEL_EXPORTER_OTLP_TRACES_HEADERS (key=value,key=value) are sent with every export.
	Getenv func(string) string
}

// NewTracerProvider returns a provider with the X-Ray ID generator (xray.NewIDGenerator()), a ParentBased
// AlwaysSample sampler and the service.name resource. It does no network I/O (otlptracehttp connects lazily).
// Shut it down (Shutdown) to flush.
func NewTracerProvider(ctx context.Context, cfg TraceConfig) (*sdktrace.TracerProvider, error) {
	opts := []sdktrace.TracerProviderOption{
		sdktrace.WithIDGenerator(xray.NewIDGenerator()),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.AlwaysSample())),
		sdktrace.WithResource(resource.NewSchemaless(attribute.String("service.name", cfg.ServiceName))),
	}
	switch {
	case cfg.Exporter != nil:
		opts = append(opts, sdktrace.WithSyncer(cfg.Exporter))
	default:
		exp, err := otlpExporter(ctx, cfg.Getenv)
		if err != nil {
			return nil, err
		}
		if exp != nil {
			opts = append(opts, sdktrace.WithBatcher(exp))
		}
	}
	return sdktrace.NewTracerProvider(opts...), nil
}

// otlpExporter returns the OTLP/HTTP exporter the settings ask for, or nil when they ask for none.
func otlpExporter(ctx context.Context, getenv func(string) string) (sdktrace.SpanExporter, error) {
	if getenv == nil {
		return nil, nil
	}
	if strings.EqualFold(strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")), "none") {
		return nil, nil
	}
	endpoint := strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
	if endpoint == "" {
		base := strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_ENDPOINT"))
		if base == "" {
			return nil, nil
		}
		endpoint = strings.TrimRight(base, "/") + "/v1/traces"
	}
	opts := []otlptracehttp.Option{otlptracehttp.WithEndpointURL(endpoint)}
	headers := parseHeaders(getenv("OTEL_EXPORTER_OTLP_HEADERS"))
	for k, v := range parseHeaders(getenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS")) {
		if headers == nil {
			headers = map[string]string{}
		}
		headers[k] = v
	}
	if len(headers) > 0 {
		opts = append(opts, otlptracehttp.WithHeaders(headers))
	}
	exp, err := otlptracehttp.New(ctx, opts...)
	if err != nil {
		return nil, fmt.Errorf("telemetry: create the OTLP trace exporter for %q (check OTEL_EXPORTER_OTLP_*): %w", endpoint, err)
	}
	return exp, nil
}

// parseHeaders parses the OTel header list "k1=v1,k2=v2"; malformed entries are skipped.
func parseHeaders(s string) map[string]string {
	var m map[string]string
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(kv, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			continue
		}
		if m == nil {
			m = map[string]string{}
		}
		m[k] = strings.TrimSpace(v)
	}
	return m
}

// Propagator is the X-Ray propagator (the X-Amzn-Trace-Id header) the platform uses everywhere.
func Propagator() propagation.TextMapPropagator {
	return xray.Propagator{}
}

// EventTraceAttribute is the CloudEvents extension attribute that carries an event's trace context through the
// stream: the X-Ray trace header of the span that ingested it ("Root=1-…;Parent=…;Sampled=1").
const EventTraceAttribute = "awstraceheader"

// TraceHeader returns the X-Ray trace header of the span in ctx, "" when ctx has no valid span context.
func TraceHeader(ctx context.Context) string {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ""
	}
	c := propagation.MapCarrier{}
	xray.Propagator{}.Inject(ctx, c)
	return c[xrayHeader]
}

// ContextWithHeader returns ctx with the remote span context an X-Ray trace header names (ctx unchanged when
// the header is empty or invalid).
func ContextWithHeader(ctx context.Context, header string) context.Context {
	sc, ok := SpanContextFromHeader(header)
	if !ok {
		return ctx
	}
	return trace.ContextWithRemoteSpanContext(ctx, sc)
}

// SpanContextFromHeader parses an X-Ray trace header. It reports false when the header is empty or does not
// name a valid trace and parent.
func SpanContextFromHeader(header string) (trace.SpanContext, bool) {
	if header == "" {
		return trace.SpanContext{}, false
	}
	ctx := xray.Propagator{}.Extract(context.Background(), propagation.MapCarrier{xrayHeader: header})
	sc := trace.SpanContextFromContext(ctx)
	return sc, sc.IsValid()
}

// XRayTraceID formats a trace id as X-Ray does: 1-<8 hex>-<24 hex>. The first 8 hex digits are the trace's start
// time in epoch seconds when the id came from the X-Ray ID generator.
func XRayTraceID(id trace.TraceID) string {
	var b [35]byte
	b[0], b[1] = '1', '-'
	hex.Encode(b[2:10], id[:4])
	b[10] = '-'
	hex.Encode(b[11:], id[4:])
	return string(b[:])
}

// InstrumentAWS adds OTel spans (otelaws) with the X-Ray propagator to every call of clients built from cfg.
// Call it before building the clients; clients built earlier are not instrumented.
func InstrumentAWS(cfg *aws.Config, tp trace.TracerProvider) {
	otelaws.AppendMiddlewares(&cfg.APIOptions,
		otelaws.WithTracerProvider(tp),
		otelaws.WithTextMapPropagator(Propagator()),
	)
}
