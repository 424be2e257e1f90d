package telemetry

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"regexp"
	"strings"
	"sync"
	"testing"
	"testing/slogtest"
	"time"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// parseLines decodes each JSON line of buf.
func parseLines(t *testing.T, buf []byte) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range bytes.Split(bytes.TrimRight(buf, "\n"), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("line %q is not a JSON object: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

func TestHandlerSlogtest(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	h := NewHandler(&buf, HandlerOptions{})
	results := func() []map[string]any {
		ms := parseLines(t, buf.Bytes())
		for _, m := range ms {
			// slogtest expects slog's default key names.
			for from, to := range map[string]string{keyTimestamp: slog.TimeKey, keyMessage: slog.MessageKey} {
				if v, ok := m[from]; ok {
					m[to] = v
					delete(m, from)
				}
			}
		}
		return ms
	}
	if err := slogtest.TestHandler(h, results); err != nil {
		t.Fatal(err)
	}
}

func TestHandlerMemberOrderAndFormat(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	logger := slog.New(NewHandler(&buf, HandlerOptions{})).With("logger", "L")
	ctx := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "req-1"})
	ctx = Invocation(ctx, "order-test-fn")
	ctx = With(ctx, slog.String(KeyEventID, "e1"))
	logger.InfoContext(ctx, "hello", "record", 1)

	line := strings.TrimSpace(buf.String())
	want := []string{`"timestamp"`, `"level"`, `"message"`, `"requestId"`, `"function"`, `"coldStart"`,
		`"eventId"`, `"logger"`, `"record"`}
	last := -1
	for _, k := range want {
		i := strings.Index(line, k)
		if i < 0 || i < last {
			t.Fatalf("member %s missing or out of order in %s", k, line)
		}
		last = i
	}
	m := parseLines(t, buf.Bytes())[0]
	ts, _ := m["timestamp"].(string)
	parsed, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil || !strings.HasSuffix(ts, "Z") {
		t.Fatalf("timestamp %q is not RFC 3339 UTC: %v", ts, err)
	}
	if time.Since(parsed) > time.Minute {
		t.Fatalf("timestamp %v is not the record's time", parsed)
	}
	if m["level"] != "INFO" || m["message"] != "hello" {
		t.Fatalf("level/message = %v/%v", m["level"], m["message"])
	}
}

func TestHandlerContextFields(t *testing.T) {
	t.Parallel()
	exp := tracetest.NewInMemoryExporter()
	tp, err := NewTracerProvider(context.Background(), TraceConfig{ServiceName: "test", Exporter: exp})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })

	var buf bytes.Buffer
	logger := slog.New(NewHandler(&buf, HandlerOptions{}))
	base := lambdacontext.NewContext(context.Background(), &lambdacontext.LambdaContext{AwsRequestID: "abc-123"})

	// A unique name so that other tests of the process cannot have seen it.
	fn := "ctx-fields-" + t.Name()
	ctx1 := Invocation(base, fn)
	ctx1 = With(ctx1, slog.String(KeyBatchID, "b1"), slog.String(KeyShard, "s1"))
	ctx1 = With(ctx1, slog.String(KeyShard, "s2")) // later wins
	ctx1, span := tp.Tracer("t").Start(ctx1, "op")
	logger.InfoContext(ctx1, "first")
	span.End()
	logger.InfoContext(Invocation(base, fn), "second")

	lines := parseLines(t, buf.Bytes())
	if len(lines) != 2 {
		t.Fatalf("got %d lines, want 2", len(lines))
	}
	first, second := lines[0], lines[1]
	checks := []struct {
		name string
		got  any
		want any
	}{
		{"requestId", first[KeyRequestID], "abc-123"},
		{"function", first[KeyFunction], fn},
		{"coldStart first", first[KeyColdStart], true},
		{"coldStart second", second[KeyColdStart], false},
		{"batchId", first[KeyBatchID], "b1"},
		{"shard later wins", first[KeyShard], "s2"},
		{"spanId", first[KeySpanID], span.SpanContext().SpanID().String()},
		{"traceId", first[KeyTraceID], XRayTraceID(span.SpanContext().TraceID())},
		{"no span in second", second[KeyTraceID], nil},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	if id, _ := first[KeyTraceID].(string); !regexp.MustCompile(`^1-[0-9a-f]{8}-[0-9a-f]{24}$`).MatchString(id) {
		t.Errorf("traceId %q is not in X-Ray form", id)
	}
	if strings.Count(buf.String(), `"shard"`) != 1 {
		t.Errorf("shard logged more than once: %s", buf.String())
	}
}

func TestHandlerRedaction(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		level  slog.Level
		redact bool
	}{
		{name: "info redacts", level: slog.LevelInfo, redact: true},
		{name: "error redacts", level: slog.LevelError, redact: true},
		{name: "debug keeps", level: slog.LevelDebug, redact: false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var buf bytes.Buffer
			logger := slog.New(NewHandler(&buf, HandlerOptions{Level: slog.LevelDebug}))
			ctx := With(context.Background(), slog.String("Token", "ctx-secret"))
			logger.With("Password", "pw").WithGroup("req").Log(ctx, tc.level, "m",
				"Body", "the-body",
				"keep", "visible",
				slog.Group("inner", "x-api-key", "k", "ok", 1),
				slog.Group("payload", "a", "nested-payload"),
			)
			out := buf.String()
			secrets := []string{"ctx-secret", "pw", "the-body", `"k"`, "nested-payload"}
			for _, s := range secrets {
				if got := strings.Contains(out, s); got == tc.redact {
					t.Errorf("secret %s present=%v, want %v: %s", s, got, !tc.redact, out)
				}
			}
			if !strings.Contains(out, "visible") {
				t.Errorf("non-sensitive value missing: %s", out)
			}
			if tc.redact && strings.Count(out, redacted) != 5 {
				t.Errorf("want 5 redacted values: %s", out)
			}
			m := parseLines(t, buf.Bytes())[0]
			req, _ := m["req"].(map[string]any)
			inner, _ := req["inner"].(map[string]any)
			if inner["ok"] != float64(1) {
				t.Errorf("nested non-sensitive attribute lost: %s", out)
			}
		})
	}
}

func TestHandlerLevelAndConcurrency(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	logger := slog.New(NewHandler(&buf, HandlerOptions{}))
	logger.Debug("hidden")
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 50 {
				logger.Info("msg", "g", i, "j", j)
			}
		})
	}
	wg.Wait()
	lines := parseLines(t, buf.Bytes())
	if len(lines) != 400 {
		t.Fatalf("got %d lines, want 400 (and no Debug line)", len(lines))
	}
}

func BenchmarkHandler(b *testing.B) {
	logger := slog.New(NewHandler(discard{}, HandlerOptions{}))
	ctx := With(Invocation(context.Background(), "bench"), slog.String(KeyEventID, "e"))
	b.ReportAllocs()
	for b.Loop() {
		logger.InfoContext(ctx, "processed", "records", 10, "shard", "s-1")
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
