// Package telemetry gives every stage of the pipeline the same logs, metrics and traces.
//
// Logs are JSON lines in the field names of Lambda's JSON log format (timestamp, level, message, requestId),
// carrying correlation fields taken from the context. Metrics live in a Registry that writes CloudWatch
// Embedded Metric Format lines (in Lambda) or serves the Prometheus text format (in local mode). Traces use
// OpenTelemetry with X-Ray trace ids and the X-Ray propagation header, which also travels inside events.
package telemetry

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"

	"github.com/aws/aws-lambda-go/lambdacontext"
	"go.opentelemetry.io/otel/trace"
)

// Log keys. Lambda's JSON log format names: timestamp, level, message, requestId.
const (
	// KeyRequestID is the Lambda request id of the invocation.
	KeyRequestID = "requestId"
	// KeyFunction is the name of the function (stage) that logs.
	KeyFunction = "function"
	// KeyColdStart is true for the first invocation of a function in this process.
	KeyColdStart = "coldStart"
	// KeyTraceID is the trace id in X-Ray form: 1-5759e988-bd862e3fe1be46a994272793.
	KeyTraceID = "traceId"
	// KeySpanID is the id of the active span, 16 hex digits.
	KeySpanID = "spanId"
	// KeyEventID is a CloudEvent id.
	KeyEventID = "eventId"
	// KeyBatchID identifies a batch of stream records.
	KeyBatchID = "batchId"
	// KeyShard is a stream shard id.
	KeyShard = "shard"
	// KeyFirstSeq is the first sequence number of a batch.
	KeyFirstSeq = "firstSequence"
	// KeyLastSeq is the last sequence number of a batch.
	KeyLastSeq = "lastSequence"
	// KeyExecutionID is a workflow execution id (ARN or name).
	KeyExecutionID = "executionId"
)

// Names of the built-in members of every record.
const (
	keyTimestamp = "timestamp"
	keyLevel     = "level"
	keyMessage   = "message"
	redacted     = "[redacted]"
)

// sensitiveKeys are attribute names whose values may hold event payloads or credentials. They are compared
// case-insensitively and hidden at Info level and above, so production logs never carry customer data or
// secrets, while Debug logging (opt-in, local) still shows them.
var sensitiveKeys = [...]string{
	"body", "payload", "data", "input", "output", "authorization",
	"apikey", "api_key", "x-api-key", "password", "secret", "token",
}

func sensitive(key string) bool {
	for _, s := range sensitiveKeys {
		if len(s) == len(key) && strings.EqualFold(s, key) {
			return true
		}
	}
	return false
}

// coldStarts records the function names that Invocation has seen in this process. It is package-level on
// purpose: a cold start is a property of the process (a Lambda execution environment), not of any value the
// caller could hold, and every handler of the process must agree on it.
var coldStarts sync.Map // map[string]struct{}

type fieldsKey struct{}

type invocationKey struct{}

// invocation is what Invocation stores in a context.
type invocation struct {
	function  string
	coldStart bool
}

// With returns a context carrying attrs as correlation fields: every record logged with that context (through a
// Handler) carries them. A later With adds to the earlier ones; for the same key the later value wins.
func With(ctx context.Context, attrs ...slog.Attr) context.Context {
	if len(attrs) == 0 {
		return ctx
	}
	prev, _ := ctx.Value(fieldsKey{}).([]slog.Attr)
	// Merge once here rather than at every record: contexts are derived far less often than they log.
	merged := make([]slog.Attr, 0, len(prev)+len(attrs))
	merged = append(merged, prev...)
	for _, a := range attrs {
		replaced := false
		for i := range merged {
			if merged[i].Key == a.Key {
				merged[i] = a
				replaced = true
				break
			}
		}
		if !replaced {
			merged = append(merged, a)
		}
	}
	return context.WithValue(ctx, fieldsKey{}, merged)
}

// Invocation returns a context marking one invocation of the named function: records logged with it carry
// function=<name> and coldStart=true for the first Invocation of that name in this process, false after.
// The record of seen names is process-wide (see coldStarts).
func Invocation(ctx context.Context, function string) context.Context {
	_, seen := coldStarts.LoadOrStore(function, struct{}{})
	return context.WithValue(ctx, invocationKey{}, invocation{function: function, coldStart: !seen})
}

// HandlerOptions configures NewHandler; the zero value logs at Info.
type HandlerOptions struct {
	// Level is the minimum level logged; nil means slog.LevelInfo.
	Level slog.Leveler
}

// lockedWriter serialises writes of the two inner handlers, which share one destination.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// groupFrame is one WithGroup call and the WithAttrs that followed it.
type groupFrame struct {
	name  string
	attrs []slog.Attr
}

// handler is the slog.Handler NewHandler returns. It keeps the logger's attributes and groups itself (instead of
// handing them to the inner JSON handlers) because the context's fields must come before them in each line.
type handler struct {
	level slog.Leveler
	// redacting formats records at Info and above; plain formats the rest. slog's ReplaceAttr does not see
	// the record's level, so the level decides which of the two formats the record.
	redacting slog.Handler
	plain     slog.Handler
	top       []slog.Attr  // attributes added before any group
	groups    []groupFrame // open groups, outermost first
}

// NewHandler returns a slog.Handler that writes one JSON object per record to w (safe for concurrent use,
// one Write per record). Members, in order: "timestamp" (RFC 3339 with nanoseconds, UTC), "level", "message",
// then from ctx: requestId (lambdacontext.FromContext), function and coldStart (Invocation), traceId and
// spanId (the OTel span context in ctx, when valid; traceId in X-Ray form), then the With fields, then the
// logger's and the record's attributes.
//
// Redaction: attributes named (case-insensitively) body, payload, data, input, output, authorization,
// apikey, api_key, x-api-key, password, secret, token — at any group depth, groups included — are replaced by
// "[redacted]" in records at Info level and above; at Debug and below they are kept.
//
// The built-in keys are renamed at the top level only: a record attribute named "msg", "time" or "level"
// outside any group is renamed like the built-in one.
func NewHandler(w io.Writer, opts HandlerOptions) slog.Handler {
	level := opts.Level
	if level == nil {
		level = slog.LevelInfo
	}
	lw := &lockedWriter{w: w}
	return &handler{
		level: level,
		redacting: slog.NewJSONHandler(lw, &slog.HandlerOptions{
			Level:       slog.LevelDebug - 1000, // filtering is done by handler.Enabled
			ReplaceAttr: replaceRedacting,
		}),
		plain: slog.NewJSONHandler(lw, &slog.HandlerOptions{
			Level:       slog.LevelDebug - 1000,
			ReplaceAttr: replacePlain,
		}),
	}
}

func replacePlain(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 {
		switch a.Key {
		case slog.TimeKey:
			if a.Value.Kind() == slog.KindTime {
				return slog.Time(keyTimestamp, a.Value.Time().UTC())
			}
			a.Key = keyTimestamp
		case slog.LevelKey:
			a.Key = keyLevel
		case slog.MessageKey:
			a.Key = keyMessage
		}
	}
	return a
}

func replaceRedacting(groups []string, a slog.Attr) slog.Attr {
	if sensitive(a.Key) {
		return slog.String(a.Key, redacted)
	}
	return replacePlain(groups, a)
}

// redactGroup replaces a group-valued attribute with a sensitive name (ReplaceAttr never sees groups) and looks
// inside other groups for such members. It allocates only when something is replaced.
func redactGroup(a slog.Attr) slog.Attr {
	if a.Value.Kind() == slog.KindLogValuer {
		a.Value = a.Value.Resolve()
	}
	if a.Value.Kind() != slog.KindGroup {
		return a
	}
	if sensitive(a.Key) {
		return slog.String(a.Key, redacted)
	}
	members := a.Value.Group()
	var out []slog.Attr
	for i, m := range members {
		r := redactGroup(m)
		if out == nil && !r.Equal(m) {
			out = make([]slog.Attr, len(members))
			copy(out, members)
		}
		if out != nil {
			out[i] = r
		}
	}
	if out != nil {
		a.Value = slog.GroupValue(out...)
	}
	return a
}

// Enabled reports whether records at level are logged.
func (h *handler) Enabled(_ context.Context, level slog.Level) bool {
	return level >= h.level.Level()
}

// WithAttrs returns a handler whose records carry attrs, inside the currently open groups.
func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	if len(attrs) == 0 {
		return h
	}
	h2 := *h
	if len(h.groups) == 0 {
		h2.top = append(h.top[:len(h.top):len(h.top)], attrs...)
		return &h2
	}
	h2.groups = append([]groupFrame(nil), h.groups...)
	last := &h2.groups[len(h2.groups)-1]
	last.attrs = append(last.attrs[:len(last.attrs):len(last.attrs)], attrs...)
	return &h2
}

// WithGroup returns a handler that nests later attributes under name.
func (h *handler) WithGroup(name string) slog.Handler {
	if name == "" {
		return h
	}
	h2 := *h
	h2.groups = append(h.groups[:len(h.groups):len(h.groups)], groupFrame{name: name})
	return &h2
}

// Handle writes r with the context's correlation fields.
func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	redact := r.Level >= slog.LevelInfo
	nr := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	if lc, ok := lambdacontext.FromContext(ctx); ok && lc.AwsRequestID != "" {
		nr.AddAttrs(slog.String(KeyRequestID, lc.AwsRequestID))
	}
	if inv, ok := ctx.Value(invocationKey{}).(invocation); ok {
		nr.AddAttrs(slog.String(KeyFunction, inv.function), slog.Bool(KeyColdStart, inv.coldStart))
	}
	if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
		nr.AddAttrs(slog.String(KeyTraceID, XRayTraceID(sc.TraceID())), slog.String(KeySpanID, sc.SpanID().String()))
	}
	if fields, ok := ctx.Value(fieldsKey{}).([]slog.Attr); ok {
		addAttrs(&nr, fields, redact)
	}
	addAttrs(&nr, h.top, redact)

	if len(h.groups) == 0 {
		r.Attrs(func(a slog.Attr) bool {
			if redact {
				a = redactGroup(a)
			}
			nr.AddAttrs(a)
			return true
		})
	} else {
		// Nest the record's attributes inside the open groups, innermost first. Empty groups are dropped by
		// the JSON handler, as slog requires.
		inner := make([]slog.Attr, 0, r.NumAttrs())
		r.Attrs(func(a slog.Attr) bool {
			inner = append(inner, a)
			return true
		})
		for i := len(h.groups) - 1; i >= 0; i-- {
			g := h.groups[i]
			members := make([]slog.Attr, 0, len(g.attrs)+len(inner))
			members = append(members, g.attrs...)
			members = append(members, inner...)
			inner = []slog.Attr{{Key: g.name, Value: slog.GroupValue(members...)}}
		}
		addAttrs(&nr, inner, redact)
	}
	if redact {
		return h.redacting.Handle(ctx, nr)
	}
	return h.plain.Handle(ctx, nr)
}

func addAttrs(r *slog.Record, attrs []slog.Attr, redact bool) {
	if !redact {
		r.AddAttrs(attrs...)
		return
	}
	for _, a := range attrs {
		r.AddAttrs(redactGroup(a))
	}
}
