package main

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime/pprof"
	"time"

	"github.com/serverless-data-platform/sdp/analytics"
	"github.com/serverless-data-platform/sdp/internal/faults"
	"github.com/serverless-data-platform/sdp/internal/telemetry"
	"github.com/serverless-data-platform/sdp/workflow"
)

// upCmd runs the whole pipeline on this machine until interrupted.
type upCmd struct {
	Addr              string        `default:"${addr}" help:"Address to listen on (host:port). An address beyond loopback (0.0.0.0, :4599, a LAN address) requires --api-key."`
	DataDir           string        `type:"path" help:"Directory for the stream, checkpoints, DLQ, curated table and aggregates (default: <user cache dir>/sdp)."`
	Shards            int           `help:"Shards of the local stream (default: the template's StreamShardCount). Fixed once the data directory exists."`
	Rule              []string      `help:"Processing rule NAME:/pointer=value or NAME:/pointer^=prefix; matching events fail enrichment (repeatable)."`
	Reference         string        `type:"existingfile" help:"Reference data for enrichment, JSON {\"table\": {\"key\": {...}}} with tables currency, country, device (default: the built-in currencies and countries)."`
	KeepExecutions    int           `default:"2000" help:"Workflow execution records kept for sdp executions (the oldest are dropped)."`
	LogLevel          string        `enum:"debug,info,warn,error" default:"info" help:"Log level of the JSON logs on stderr."`
	CPUProfile        string        `name:"cpu-profile" type:"path" help:"Write a CPU profile of the whole run to this file (read it with go tool pprof)."`
	Window            time.Duration `help:"Length of the analytics windows, by event time (a divisor of a day: 1m, 5m, 1h ...; default: the template's analytics function's SDP_WINDOW_SIZE, 1m)."`
	AllowedLateness   time.Duration `name:"allowed-lateness" help:"How long after its end a window still takes events, by their arrival time; events arriving later count in the window's late (default: the template's analytics function's SDP_ALLOWED_LATENESS, 5m)."`
	ExportDir         string        `name:"export-dir" type:"path" help:"Export the closed analytics windows to this folder every minute, as gzip NDJSON in dt=/hour= partitions (what the export function writes to S3 for Athena and QuickSight)."`
	MaxHeaderBytes    int           `name:"max-header-bytes" default:"65536" help:"Most bytes of a request's headers (431 above)."`
	ReadHeaderTimeout time.Duration `name:"read-header-timeout" default:"10s" help:"How long a client has to send a request's headers."`
	ReadTimeout       time.Duration `name:"read-timeout" default:"1m" help:"How long a client has to send a whole request, body included."`
	WriteTimeout      time.Duration `name:"write-timeout" default:"5m" help:"How long a request has to be answered (the dashboard's event stream is exempt)."`
	IdleTimeout       time.Duration `name:"idle-timeout" default:"2m" help:"How long an idle keep-alive connection stays open."`
	MaxBodyBytes      int           `name:"max-body-bytes" default:"8388608" help:"Most bytes of a POST body (413 above); ingest keeps its own 6 MB limit."`
	MaxConcurrent     int           `name:"max-concurrent" default:"256" help:"Most requests served at once (503 with Retry-After above)."`
	Faults            string        `help:"Inject faults, as point=probability pairs: kinesis.throttle, kinesis.timeout, table.throttle, table.timeout, queue.throttle, workflow.fail, workflow.timeout, consumer.crash (e.g. kinesis.throttle=0.2,table.throttle=0.1,workflow.fail=0.01,consumer.crash=0.001). Into the embedded stand-ins, or with --backend aws into the AWS SDK's transport."`
	FaultsSeed        uint64        `name:"faults-seed" help:"Seed of the fault injection's random choices, to repeat a run (default: random)."`
	NoConsumer        bool          `name:"no-consumer" help:"Do not run the event source mapping: ingest writes to the stream and events wait there (within its retention) for a later sdp up to consume them from the last checkpoint. For staging data and for measuring ingest alone."`

	Backend         string `enum:"local,aws" default:"local" help:"local: embedded stand-ins for Kinesis, DynamoDB and SQS; aws: the AWS resources named below (or emulators at --endpoint-url)."`
	Stream          string `default:"sdp-events" help:"aws: the Kinesis stream's name or ARN (stack output StreamArn)."`
	CuratedTable    string `default:"sdp-curated" help:"aws: the curated DynamoDB table (stack output CuratedTableName)."`
	AggregatesTable string `default:"sdp-aggregates" help:"aws: the aggregates DynamoDB table (stack output AggregatesTableName)."`
	Queue           string `default:"sdp-events-dlq" help:"aws: the SQS dead-letter queue's name."`
	StateMachineARN string `name:"state-machine-arn" help:"aws: start the workflow on this Step Functions state machine instead of the local interpreter."`
	Create          bool   `help:"aws: create the stream, the tables and the queue where they do not exist (for emulators)."`
}

// Run opens the data directory, builds the stack and serves until the context ends (Ctrl-C or SIGTERM), then
// stops accepting requests, lets the event source mapping finish and checkpoint its batches, and closes the
// database. Logs are JSON lines on stderr; the addresses go to stdout.
func (c *upCmd) Run(g *globals) error {
	dir := c.DataDir
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return fmt.Errorf("no user cache directory (%v): pass --data-dir", err)
		}
		dir = filepath.Join(cache, "sdp")
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return err
	}
	logger := slog.New(telemetry.NewHandler(g.stderr, telemetry.HandlerOptions{Level: level}))
	var rules []workflow.Rule
	for _, r := range c.Rule {
		rule, err := workflow.ParseRule(r)
		if err != nil {
			return fmt.Errorf("--rule %q: %w", r, err)
		}
		rules = append(rules, rule)
	}
	if err := checkExposure(c.Addr, g.APIKey); err != nil {
		return err
	}
	cfg := stackConfig{DataDir: dir, Addr: c.Addr, Region: g.Region, Shards: c.Shards, Rules: rules,
		KeepExecutions: c.KeepExecutions, NoConsumer: c.NoConsumer, Logger: logger,
		Windowing: analytics.Windowing{Size: c.Window, AllowedLateness: c.AllowedLateness}, ExportDir: c.ExportDir,
		APIKey: g.APIKey, MaxHeaderBytes: c.MaxHeaderBytes, ReadHeaderTimeout: c.ReadHeaderTimeout,
		ReadTimeout: c.ReadTimeout, WriteTimeout: c.WriteTimeout, IdleTimeout: c.IdleTimeout,
		MaxBodyBytes: c.MaxBodyBytes, MaxConcurrent: c.MaxConcurrent}
	if err := cfg.Windowing.Check(); err != nil {
		return fmt.Errorf("--window: %w", err)
	}
	if c.Faults != "" {
		spec, err := faults.Parse(c.Faults)
		if err != nil {
			return fmt.Errorf("--faults: %w", err)
		}
		seed := c.FaultsSeed
		if seed == 0 {
			seed = uint64(time.Now().UnixNano())
		}
		cfg.Faults = faults.New(spec, seed)
		logger.Warn("fault injection is on", "faults", spec.String(), "seed", seed)
		defer func() { logger.Info("faults injected", "counts", cfg.Faults.Injected()) }()
	}
	// Spans are exported over OTLP only when OTEL_EXPORTER_OTLP_ENDPOINT (or its traces variant) is set.
	tp, err := telemetry.NewTracerProvider(g.ctx, telemetry.TraceConfig{ServiceName: "sdp", Getenv: os.Getenv})
	if err != nil {
		return fmt.Errorf("tracing: %w", err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := tp.Shutdown(ctx); err != nil {
			logger.Warn("tracing: spans not exported at exit", "error", err)
		}
	}()
	cfg.Tracer = tp
	if c.Backend == "aws" {
		awsCfg, err := awsConfig(g)
		if err != nil {
			return err
		}
		cfg.AWS = &awsBackend{Config: awsCfg, Endpoint: awsEndpoint(g), Stream: c.Stream, CuratedTable: c.CuratedTable,
			AggregatesTable: c.AggregatesTable, Queue: c.Queue, StateMachineARN: c.StateMachineARN, Create: c.Create,
			Shards: c.Shards}
	}
	if c.Reference != "" {
		b, err := os.ReadFile(c.Reference)
		if err != nil {
			return fmt.Errorf("--reference: %w", err)
		}
		ref, err := workflow.ParseReference(b)
		if err != nil {
			return fmt.Errorf("--reference %s: %w", c.Reference, err)
		}
		cfg.Reference = ref
	}
	if c.CPUProfile != "" {
		f, err := os.Create(c.CPUProfile)
		if err != nil {
			return fmt.Errorf("--cpu-profile: %w", err)
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("--cpu-profile: %w", err)
		}
		defer pprof.StopCPUProfile()
	}
	s, err := openStack(cfg)
	if err != nil {
		return err
	}
	return s.Run(g.ctx, func(addr string) {
		base := "http://" + addr
		backend := "embedded stand-ins"
		if cfg.AWS != nil {
			backend = fmt.Sprintf("AWS: stream %s, tables %s and %s, queue %s", cfg.AWS.Stream, cfg.AWS.CuratedTable,
				cfg.AWS.AggregatesTable, cfg.AWS.Queue)
		}
		fmt.Fprintf(g.stdout, "sdp up: data in %s, %d shards, %s\n", dir, len(s.reader.ShardIDs()), backend)
		fmt.Fprintf(g.stdout, "sdp up: ingest API   POST %s/v1/events\n", base)
		fmt.Fprintf(g.stdout, "sdp up: read API     GET  %s/v1/events/{id}  /v1/aggregates  /v1/dashboard  /v1/dlq  /v1/status  /v1/executions\n", base)
		fmt.Fprintf(g.stdout, "sdp up: Lambda API   POST %s/2015-03-31/functions/{ingest|consumer|enrich|persist|analytics}/invocations\n", base)
		fmt.Fprintf(g.stdout, "sdp up: metrics      GET  %s/metrics (Prometheus)\n", base)
		if cfg.APIKey != "" {
			fmt.Fprintf(g.stdout, "sdp up: dashboard         %s/?key=<the API key>\n", base)
			fmt.Fprintln(g.stdout, "sdp up: every route but GET /healthz requires the API key (header x-api-key or Authorization: Bearer)")
		} else {
			fmt.Fprintf(g.stdout, "sdp up: dashboard         %s/\n", base)
		}
		fmt.Fprintln(g.stdout, "sdp up: ready; Ctrl-C stops (drains batches in flight and checkpoints)")
	})
}

// checkExposure refuses an address beyond this machine's loopback without an API key: any other host, the
// unspecified ones (0.0.0.0, [::]) and an empty host (:4599, every interface) would open the API, which can
// redrive, purge and invoke, to the network.
func checkExposure(addr, apiKey string) error {
	if apiKey != "" {
		return nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("--addr %q: %w", addr, err)
	}
	if ip := net.ParseIP(host); host == "localhost" || (ip != nil && ip.IsLoopback()) {
		return nil
	}
	return fmt.Errorf("--addr %s would serve the API beyond this machine without a key: pass --api-key (or set SDP_API_KEY), or bind 127.0.0.1", addr)
}
