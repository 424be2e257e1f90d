package main

import (
	"bytes"
	"cmp"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/analytics"
	"github.com/serverless-data-platform/sdp/internal/telemetry"
	"github.com/serverless-data-platform/sdp/workflow"
)

// Environment variables the functions read. The SAM template sets them (Globals or the function's own
// Environment); Lambda sets _HANDLER and AWS_LAMBDA_LOG_LEVEL.
const (
	// envHandler is Lambda's handler setting: which function this bootstrap is.
	envHandler = "_HANDLER"
	// envEventStream is the Kinesis stream ingest writes to (its name, as !Ref gives it).
	envEventStream = "EVENT_STREAM"
	// envCuratedTable is the DynamoDB table of curated events (persist).
	envCuratedTable = "CURATED_TABLE"
	// envAggregatesTable is the DynamoDB table of analytics aggregates (analytics).
	envAggregatesTable = "AGGREGATES_TABLE"
	// envWorkflowARN is the Express state machine the consumer starts once per batch.
	envWorkflowARN = "WORKFLOW_ARN"
	// envProcessingRules are the enrich function's processing rules: a JSON array of workflow.Rule objects,
	// or one rule per line in the command-line form name:/pointer=value or name:/pointer^=prefix.
	envProcessingRules = "PROCESSING_RULES"
	// envReferenceData is the enrich function's reference data: inline JSON {"table": {"key": {...}}}, or
	// the path of a file holding it (in the deployment package or a layer under /opt). When empty, the
	// built-in reference data is used.
	envReferenceData = "REFERENCE_DATA"
	// envSFNEndpoint and envEndpoint are the SDK's own endpoint settings. The consumer passes the Step
	// Functions one to its client itself, so that the host prefix "sync-" is turned off for it.
	envSFNEndpoint     = "AWS_ENDPOINT_URL_SFN"
	envEndpoint        = "AWS_ENDPOINT_URL"
	envIgnoreEndpoints = "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS"
	// envS3Endpoint and envLambdaEndpoint are the SDK's endpoint settings of S3 and Lambda: the ingest
	// function's S3 path addresses buckets by path when an S3 endpoint is set, and invokes itself at the
	// Lambda one.
	envS3Endpoint     = "AWS_ENDPOINT_URL_S3"
	envLambdaEndpoint = "AWS_ENDPOINT_URL_LAMBDA"
	// envFunctionName is set by Lambda to the function's name: the ingest function invokes itself by it to
	// continue an object it could not finish in one invocation.
	envFunctionName = "AWS_LAMBDA_FUNCTION_NAME"
	// envLogLevel is the function's application log level (LoggingConfig.ApplicationLogLevel).
	envLogLevel = "AWS_LAMBDA_LOG_LEVEL"
	// envWindowSize and envAllowedLateness are the analytics windowing (Go durations, default 1m and 5m),
	// which the analytics and export functions must share.
	envWindowSize      = "SDP_WINDOW_SIZE"
	envAllowedLateness = "SDP_ALLOWED_LATENESS"
	// envExportBucket and envExportPrefix are the S3 bucket and key prefix the export function writes the
	// closed windows to (prefix default defaultExportPrefix).
	envExportBucket = "SDP_EXPORT_BUCKET"
	envExportPrefix = "SDP_EXPORT_PREFIX"
	// envExportLateHorizon is how far back each export looks for windows that changed after they were
	// exported (a Go duration, default export.LateHorizon).
	envExportLateHorizon = "SDP_EXPORT_LATE_HORIZON"
	// envFaults injects faults into the SDK's transport (see settings.Faults).
	envFaults = "SDP_FAULTS"
)

// defaultExportPrefix is the export's key prefix when SDP_EXPORT_PREFIX is not set.
const defaultExportPrefix = "aggregates"

// settings are the environment of one function. Values are kept as they were given; each function checks
// and parses the ones it needs when it is built.
type settings struct {
	Handler         string
	EventStream     string
	CuratedTable    string
	AggregatesTable string
	WorkflowARN     string
	ProcessingRules string
	ReferenceData   string
	// SFNEndpoint is the Step Functions endpoint to use instead of AWS's, or "".
	SFNEndpoint string
	// S3Endpoint and LambdaEndpoint are the S3 and Lambda endpoints to use instead of AWS's, or "".
	S3Endpoint     string
	LambdaEndpoint string
	// FunctionName is the function's own name in Lambda, or "".
	FunctionName string
	LogLevel     slog.Level
	// WindowSize and AllowedLateness are the analytics windowing, as given (see windowing).
	WindowSize      string
	AllowedLateness string
	// ExportBucket, ExportPrefix and ExportLateHorizon are the export function's S3 bucket, key prefix and
	// late horizon, as given.
	ExportBucket      string
	ExportPrefix      string
	ExportLateHorizon string
	// Faults, when set, injects faults into the AWS SDK's transport (as `sdp up --faults` does), for chaos
	// tests of a deployed stack: point=probability pairs such as table.throttle=0.1.
	Faults string
}

// loadSettings reads the settings through getenv (os.Getenv in main).
func loadSettings(getenv func(string) string) settings {
	s := settings{
		Handler:         strings.TrimSpace(getenv(envHandler)),
		EventStream:     getenv(envEventStream),
		CuratedTable:    getenv(envCuratedTable),
		AggregatesTable: getenv(envAggregatesTable),
		WorkflowARN:     getenv(envWorkflowARN),
		ProcessingRules: getenv(envProcessingRules),
		ReferenceData:   getenv(envReferenceData),
		LogLevel:        logLevel(getenv(envLogLevel)),
		FunctionName:    getenv(envFunctionName),

		WindowSize:        strings.TrimSpace(getenv(envWindowSize)),
		AllowedLateness:   strings.TrimSpace(getenv(envAllowedLateness)),
		ExportBucket:      strings.TrimSpace(getenv(envExportBucket)),
		ExportPrefix:      strings.TrimSpace(getenv(envExportPrefix)),
		ExportLateHorizon: strings.TrimSpace(getenv(envExportLateHorizon)),
		Faults:            strings.TrimSpace(getenv(envFaults)),
	}
	// The SDK's rules: the service's variable wins over the global one, and both are ignored when told so.
	if !strings.EqualFold(getenv(envIgnoreEndpoints), "true") {
		s.SFNEndpoint = getenv(envSFNEndpoint)
		if s.SFNEndpoint == "" {
			s.SFNEndpoint = getenv(envEndpoint)
		}
		s.S3Endpoint = cmp.Or(getenv(envS3Endpoint), getenv(envEndpoint))
		s.LambdaEndpoint = cmp.Or(getenv(envLambdaEndpoint), getenv(envEndpoint))
	}
	return s
}

// logLevel converts one of Lambda's log levels (TRACE, DEBUG, INFO, WARN, ERROR, FATAL) to slog's; anything
// else is INFO, Lambda's default.
func logLevel(v string) slog.Level {
	switch strings.ToUpper(strings.TrimSpace(v)) {
	case "TRACE":
		return slog.LevelDebug - 4
	case "DEBUG":
		return slog.LevelDebug
	case "WARN":
		return slog.LevelWarn
	case "ERROR":
		return slog.LevelError
	case "FATAL":
		return slog.LevelError + 4
	}
	return slog.LevelInfo
}

// newLogger returns the functions' logger: JSON lines on w in the shape of Lambda's JSON log format
// ("timestamp", "level", "message", "requestId"), with the invocation's function, cold start and trace id
// and the pipeline's correlation fields (telemetry.NewHandler).
func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(telemetry.NewHandler(w, telemetry.HandlerOptions{Level: level}))
}

// parseRules reads processing rules: a JSON array of rules, or one rule per line in ParseRule's form (blank
// lines and lines starting with '#' are skipped). Every rule must pass Rule.Validate.
func parseRules(v string) ([]workflow.Rule, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return nil, nil
	}
	if v[0] == '[' {
		var rules []workflow.Rule
		if err := json.Unmarshal([]byte(v), &rules); err != nil {
			return nil, fmt.Errorf("%s: want a JSON array of {\"name\",\"pointer\",\"equals\"|\"prefix\"}: %w",
				envProcessingRules, err)
		}
		for i, r := range rules {
			if err := r.Validate(); err != nil {
				return nil, fmt.Errorf("%s: rule %d: %w", envProcessingRules, i, err)
			}
		}
		return rules, nil
	}
	var rules []workflow.Rule
	for line := range strings.Lines(v) {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		r, err := workflow.ParseRule(line)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", envProcessingRules, err)
		}
		rules = append(rules, r)
	}
	return rules, nil
}

// loadReference reads the enrich function's reference data: the built-in data when v is empty, inline JSON
// when v starts with '{', and otherwise the JSON file named by v.
func loadReference(v string) (workflow.StaticReference, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return workflow.DefaultReference(), nil
	}
	b := []byte(v)
	if v[0] != '{' {
		var err error
		if b, err = os.ReadFile(v); err != nil {
			return nil, fmt.Errorf("%s: %w", envReferenceData, err)
		}
		b = bytes.TrimSpace(b)
	}
	ref, err := workflow.ParseReference(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", envReferenceData, err)
	}
	return ref, nil
}

// windowing reads the analytics windowing of SDP_WINDOW_SIZE and SDP_ALLOWED_LATENESS: Go durations, the
// defaults (analytics.WindowSize, analytics.AllowedLateness) when empty. The size must divide a day.
func windowing(s settings) (analytics.Windowing, error) {
	size, err := duration(envWindowSize, s.WindowSize, analytics.WindowSize, false)
	if err != nil {
		return analytics.Windowing{}, err
	}
	late, err := duration(envAllowedLateness, s.AllowedLateness, analytics.AllowedLateness, false)
	if err != nil {
		return analytics.Windowing{}, err
	}
	w := analytics.Windowing{Size: size, AllowedLateness: late}
	if err := w.Check(); err != nil {
		return analytics.Windowing{}, fmt.Errorf("%s: %w", envWindowSize, err)
	}
	return w, nil
}

// duration parses the Go duration v of the variable env: def when v is empty. It must be positive, or at
// least zero when zero is allowed.
func duration(env, v string, def time.Duration, zeroAllowed bool) (time.Duration, error) {
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%s: %q is not a duration (such as 1m, 90s, 1h): %w", env, v, err)
	}
	if d < 0 || (d == 0 && !zeroAllowed) {
		return 0, fmt.Errorf("%s: %q is not positive", env, v)
	}
	return d, nil
}
