package telemetry

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

var xrayIDPattern = regexp.MustCompile(`^1-[0-9a-f]{8}-[0-9a-f]{24}$`)

func TestTracerProviderInMemory(t *testing.T) {
	t.Parallel()
	exp := tracetest.NewInMemoryExporter()
	tp, err := NewTracerProvider(context.Background(), TraceConfig{ServiceName: "ingest", Exporter: exp})
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now().Unix()
	ctx, parent := tp.Tracer("t").Start(context.Background(), "parent")
	_, child := tp.Tracer("t").Start(ctx, "child")
	child.End()
	parent.End()
	// The exporter is synchronous; read before Shutdown, which clears the in-memory exporter.
	spans := exp.GetSpans()
	if err := tp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(spans) != 2 {
		t.Fatalf("got %d spans, want 2", len(spans))
	}
	for _, s := range spans {
		if s.SpanContext.TraceID() != parent.SpanContext().TraceID() || !s.SpanContext.IsSampled() {
			t.Errorf("span %s: trace %s sampled=%v", s.Name, s.SpanContext.TraceID(), s.SpanContext.IsSampled())
		}
		if v, ok := s.Resource.Set().Value("service.name"); !ok || v.AsString() != "ingest" {
			t.Errorf("service.name = %v", v)
		}
	}
	// The X-Ray ID generator puts the start time (epoch seconds) in the first 4 bytes.
	id := parent.SpanContext().TraceID()
	epoch := int64(id[0])<<24 | int64(id[1])<<16 | int64(id[2])<<8 | int64(id[3])
	if epoch < before-5 || epoch > time.Now().Unix()+5 {
		t.Errorf("trace id %s does not start with the epoch time", id)
	}
	if got := XRayTraceID(id); !xrayIDPattern.MatchString(got) || got[2:10] != id.String()[:8] || got[11:] != id.String()[8:] {
		t.Errorf("XRayTraceID = %q for %s", got, id)
	}
}

func TestTraceHeaderRoundTrip(t *testing.T) {
	t.Parallel()
	exp := tracetest.NewInMemoryExporter()
	tp, err := NewTracerProvider(context.Background(), TraceConfig{ServiceName: "s", Exporter: exp})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	ctx, span := tp.Tracer("t").Start(context.Background(), "ingest")
	defer span.End()

	header := TraceHeader(ctx)
	want := "Root=" + XRayTraceID(span.SpanContext().TraceID()) + ";Parent=" + span.SpanContext().SpanID().String() + ";Sampled=1"
	if header != want {
		t.Fatalf("TraceHeader = %q, want %q", header, want)
	}
	remote := ContextWithHeader(context.Background(), header)
	sc := trace.SpanContextFromContext(remote)
	if !sc.IsRemote() || sc.TraceID() != span.SpanContext().TraceID() || sc.SpanID() != span.SpanContext().SpanID() || !sc.IsSampled() {
		t.Fatalf("round trip gave %+v", sc)
	}
	// A child of the remote context continues the trace.
	_, child := tp.Tracer("t").Start(remote, "consume")
	if child.SpanContext().TraceID() != span.SpanContext().TraceID() {
		t.Error("child of the remote context is in another trace")
	}
	child.End()

	cases := []struct {
		name   string
		header string
		ok     bool
	}{
		{"valid", "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1", true},
		{"empty", "", false},
		{"garbage", "not a header", false},
		{"bad root", "Root=2-xyz;Parent=53995c3f42cd8ad8;Sampled=1", false},
		{"no parent", "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			_, ok := SpanContextFromHeader(c.header)
			if ok != c.ok {
				t.Fatalf("SpanContextFromHeader(%q) ok=%v, want %v", c.header, ok, c.ok)
			}
			base := context.Background()
			got := ContextWithHeader(base, c.header)
			if (got != base) != c.ok {
				t.Fatalf("ContextWithHeader changed ctx = %v, want %v", got != base, c.ok)
			}
		})
	}
	if TraceHeader(context.Background()) != "" {
		t.Error("TraceHeader without a span should be empty")
	}
}

func TestTracerProviderOTLP(t *testing.T) {
	t.Parallel()
	var hits atomic.Int32
	var path atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		path.Store(r.URL.Path)
		hits.Add(1)
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	}))
	t.Cleanup(srv.Close)

	cases := []struct {
		name     string
		env      map[string]string
		wantHits bool
	}{
		{"base endpoint", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": srv.URL}, true},
		{"traces endpoint", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": srv.URL + "/v1/traces"}, true},
		{"exporter none", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": srv.URL, "OTEL_TRACES_EXPORTER": "none"}, false},
		{"no settings", nil, false},
	}
	for _, c := range cases {
		// Sequential: the cases share the server's counter.
		hits.Store(0)
		path.Store("")
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		tp, err := NewTracerProvider(ctx, TraceConfig{ServiceName: "s", Getenv: func(k string) string { return c.env[k] }})
		if err != nil {
			cancel()
			t.Fatalf("%s: %v", c.name, err)
		}
		sctx, span := tp.Tracer("t").Start(ctx, "op")
		if !trace.SpanContextFromContext(sctx).IsValid() {
			t.Errorf("%s: span has no valid context", c.name)
		}
		span.End()
		if err := tp.Shutdown(ctx); err != nil {
			t.Errorf("%s: shutdown: %v", c.name, err)
		}
		cancel()
		if got := hits.Load() > 0; got != c.wantHits {
			t.Errorf("%s: server received spans = %v, want %v", c.name, got, c.wantHits)
		}
		if c.wantHits && path.Load() != "/v1/traces" {
			t.Errorf("%s: request path %q, want /v1/traces", c.name, path.Load())
		}
	}
}

func TestInstrumentAWS(t *testing.T) {
	t.Parallel()
	var cfg aws.Config
	InstrumentAWS(&cfg, noop.NewTracerProvider())
	if len(cfg.APIOptions) == 0 {
		t.Fatal("no middleware added")
	}
}
