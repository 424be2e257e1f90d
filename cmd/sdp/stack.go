package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
	"go.opentelemetry.io/otel/trace"

	"github.com/serverless-data-platform/sdp/analytics"
	"github.com/serverless-data-platform/sdp/analytics/export"
	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/infrastructure"
	"github.com/serverless-data-platform/sdp/ingest"
	"github.com/serverless-data-platform/sdp/internal/faults"
	"github.com/serverless-data-platform/sdp/internal/telemetry"
	"github.com/serverless-data-platform/sdp/stream/consumer"
	"github.com/serverless-data-platform/sdp/stream/dlq"
	"github.com/serverless-data-platform/sdp/stream/esm"
	"github.com/serverless-data-platform/sdp/stream/shardlog"
	"github.com/serverless-data-platform/sdp/workflow"
	"github.com/serverless-data-platform/sdp/workflow/asl"
	"github.com/serverless-data-platform/sdp/workflow/history"
	"github.com/serverless-data-platform/sdp/workflow/store"
)

// Names of local mode's resources, as the ARNs and the on-failure records show them.
const (
	localAccount = "000000000000"
	streamName   = "events"
	queueName    = "events-dlq"
)

// The local log is the stream of local mode: the ingest function's producer and the mapping's reader.
var (
	_ ingest.Producer = (*shardlog.Log)(nil)
	_ esm.Reader      = (*shardlog.Log)(nil)
	_ esm.Waiter      = (*shardlog.Log)(nil)
)

// stackConfig says how to build a local stack. Its zero value, with DataDir and Addr set, runs the settings
// of the embedded SAM template.
type stackConfig struct {
	DataDir string
	Addr    string
	Region  string
	// Shards overrides the template's stream shard count when > 0.
	Shards int
	// Rules are the workflow's processing rules (events that match fail enrichment).
	Rules []workflow.Rule
	// Template is the SAM template to read; nil means the embedded one.
	Template []byte
	// Mapping, when set, adjusts the event source mapping's settings after they are read from the template.
	Mapping func(*esm.Config)
	// Observe, when set, wraps the consumer as the event source mapping calls it (to watch deliveries).
	Observe func(esm.Function) esm.Function
	// WrapHandler, when set, wraps each function's handler (to inject faults in tests).
	WrapHandler func(name string, h lambda.Handler) lambda.Handler
	// Reference is the enrich function's reference data; nil means workflow.DefaultReference.
	Reference workflow.Reference
	// NoConsumer leaves the event source mapping stopped: events accumulate in the stream (within its
	// retention) until a run without it consumes them from the last checkpoint.
	NoConsumer bool
	// Windowing is the analytics windows' size and allowed lateness (the defaults when zero).
	Windowing analytics.Windowing
	// ExportDir, when set, is the folder the closed windows are exported to, every ExportEvery (one minute
	// when 0), as the export function writes them to S3 for Athena.
	ExportDir   string
	ExportEvery time.Duration
	// KeepExecutions bounds the execution records kept (history.DefaultKeep when 0).
	KeepExecutions int
	// AWS, when set, runs the local runtime over AWS resources (or their emulators) instead of the embedded
	// stand-ins: the stream, the tables and the dead-letter queue.
	AWS    *awsBackend
	Logger *slog.Logger
	// Faults, when set, injects faults (sdp up --faults): into the embedded stand-ins, or with the AWS backend
	// into the SDK's HTTP transport; workflow and consumer faults into the local runtime either way.
	Faults *faults.Injector
	// WorkflowClock is the workflow interpreter's clock (its Retry and Wait delays); nil means the real one.
	WorkflowClock asl.Clock
	// Tracer traces the pipeline; nil means spans are made (so logs carry trace ids) but never exported.
	Tracer trace.TracerProvider

	// APIKey, when set, is required on every route but GET /healthz (see guard).
	APIKey string
	// The HTTP server's limits; each zero value means its default (see defaultMaxHeaderBytes and after).
	MaxHeaderBytes    int
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration
	// MaxBodyBytes bounds the body of every POST; ingest keeps its own, lower, limit.
	MaxBodyBytes int
	// MaxConcurrent bounds the requests served at once; beyond it the server answers 503.
	MaxConcurrent int
}

// stack is the whole pipeline in one process.
type stack struct {
	cfg stackConfig
	log *slog.Logger
	db  *bolt.DB
	// stream is the local log; nil with the AWS backend, whose stream is read through reader.
	stream   *shardlog.Log
	reader   esm.Reader
	dlq      deadLetters
	curated  curatedTable
	agg      analytics.Store
	ingest   *ingest.Handler
	mapping  *esm.Mapping
	workflow *workflow.Local
	history  *history.Local
	funcs    map[string]*function
	// exporter writes the closed windows to cfg.ExportDir; nil without it.
	exporter *export.Exporter
	registry *event.Registry
	started  time.Time
	// metrics holds the pipeline's metrics, served on GET /metrics.
	metrics *telemetry.Registry

	ln  net.Listener
	srv *http.Server
	// async counts the Invoke API's asynchronous (Event) invocations in flight.
	async sync.WaitGroup
	// background holds the goroutines that end with Run's context (the dashboard's sampler).
	background sync.WaitGroup
}

// openStack opens the data directory and builds every component; nothing runs until Run.
func openStack(cfg stackConfig) (_ *stack, err error) {
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	tmpl := cfg.Template
	if tmpl == nil {
		tmpl = infrastructure.Template
	}
	// The template names the functions (by Handler) and holds the consumer's event source settings.
	st, err := infrastructure.Read(tmpl)
	if err != nil {
		return nil, err
	}
	consumerFn, ok := st.Function("consumer")
	if !ok || len(consumerFn.Kinesis) == 0 {
		return nil, errors.New("the template has no function with Handler: consumer and a Kinesis event source")
	}
	for _, name := range []string{"ingest", "enrich", "persist", "analytics"} {
		if _, ok := st.Function(name); !ok {
			return nil, fmt.Errorf("the template has no function with Handler: %s", name)
		}
	}
	if cfg.Windowing, err = templateWindowing(st, cfg.Windowing); err != nil {
		return nil, err
	}
	shards := st.StreamShards
	if cfg.Shards > 0 {
		shards = cfg.Shards
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	dbPath := filepath.Join(cfg.DataDir, "sdp.db")
	// The file is mapped 1 GiB at a time from the start (address space, not memory), so that a growing
	// stream does not stall every reader and writer while bbolt remaps it at each doubling. Commits do not
	// write the free list (it grows with the stream and would be rewritten on every append); the last commit
	// before a clean stop writes it (see Run), so that only an open after a crash rebuilds it by reading the
	// whole file.
	db, err := bolt.Open(dbPath, 0o600, &bolt.Options{Timeout: 2 * time.Second, FreelistType: bolt.FreelistMapType,
		NoFreelistSync: true, InitialMmapSize: 1 << 30})
	if err != nil {
		if errors.Is(err, berrors.ErrTimeout) {
			return nil, fmt.Errorf("%s is in use by another sdp up; stop it or choose another --data-dir", dbPath)
		}
		return nil, fmt.Errorf("open %s: %w", dbPath, err)
	}
	// Concurrent puts share one transaction (one fsync); a lone producer waits at most this long for company.
	db.MaxBatchDelay = 2 * time.Millisecond
	defer func() {
		if err != nil {
			db.Close()
		}
	}()

	// One database holds every local stand-in, so that the mapping's checkpoint and its dead letters commit
	// in one transaction.
	s := &stack{cfg: cfg, log: logger, db: db, funcs: map[string]*function{}, metrics: telemetry.NewRegistry("sdp")}
	pipeline := telemetry.NewPipeline(s.metrics)
	tp := cfg.Tracer
	if tp == nil {
		if tp, err = telemetry.NewTracerProvider(context.Background(), telemetry.TraceConfig{ServiceName: "sdp"}); err != nil {
			return nil, err
		}
	}
	lf := localFaults{in: cfg.Faults}
	if s.registry, err = event.NewRegistry(); err != nil {
		return nil, err
	}
	for typ, why := range s.registry.Fallbacks() {
		logger.Warn("schema not compiled: events of this type use the reference validator",
			slog.String("type", typ), slog.String("reason", why.Error()))
	}
	var (
		producer    ingest.Producer
		checkpoints esm.Checkpoints
		executor    consumer.Workflow
		streamARN   = fmt.Sprintf("arn:aws:kinesis:%s:%s:stream/%s", cfg.Region, localAccount, streamName)
	)
	if cfg.AWS == nil {
		if s.stream, err = shardlog.Open(db, shardlog.Options{
			StreamName: streamName, Shards: shards, AdoptShards: cfg.Shards == 0,
			Retention: time.Duration(st.StreamRetentionHours) * time.Hour,
		}); err != nil {
			if errors.Is(err, shardlog.ErrShardCountMismatch) {
				return nil, fmt.Errorf("%w: a data directory keeps the shard count it was created with; omit --shards or choose a new --data-dir", err)
			}
			return nil, fmt.Errorf("stream: %w", err)
		}
		queue, err := dlq.OpenLocal(db, queueName)
		if err != nil {
			return nil, fmt.Errorf("dead-letter queue: %w", err)
		}
		curated, err := store.OpenLocal(db)
		if err != nil {
			return nil, fmt.Errorf("curated table: %w", err)
		}
		agg, err := analytics.OpenLocal(db, analytics.WithWindowing(cfg.Windowing))
		if err != nil {
			return nil, fmt.Errorf("aggregates: %w", err)
		}
		s.dlq, s.curated, s.agg, s.reader = queue, lf.curated(curated), lf.aggregates(agg), lf.reader(s.stream)
		producer, checkpoints = lf.producer(s.stream), esm.NewBoltCheckpoints(db, queue)
	} else {
		// The AWS resources are checked (and made, with --create) before anything runs.
		octx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		if cfg.AWS.Shards == 0 {
			cfg.AWS.Shards = shards
		}
		cfg.AWS.Windowing = cfg.Windowing
		// The SDK's calls are traced, and faults go into its transport, below its retries, as AWS's would.
		if cfg.Faults != nil {
			cfg.AWS.Config.HTTPClient = cfg.Faults.HTTPClient(cfg.AWS.Config.HTTPClient)
		}
		telemetry.InstrumentAWS(&cfg.AWS.Config, tp)
		as, err := cfg.AWS.open(octx)
		if err != nil {
			return nil, err
		}
		s.dlq, s.curated, s.agg, s.reader = queueView{as.queue}, as.curated, as.agg, as.reader
		producer, checkpoints, streamARN = as.producer, newQueueCheckpoints(db, as.queue), as.streamARN
		if as.executor != nil {
			executor = as.executor
		}
	}
	if cfg.ExportDir != "" {
		if s.exporter, err = export.New(s.agg, export.NewFolder(cfg.ExportDir), export.WithWindowing(cfg.Windowing)); err != nil {
			return nil, fmt.Errorf("--export-dir: %w", err)
		}
	}
	if s.history, err = history.OpenLocal(db, cfg.KeepExecutions); err != nil {
		return nil, fmt.Errorf("execution records: %w", err)
	}

	// The Lambda functions, with the handlers AWS runs, each behind the local Invoke API.
	arn := func(name string) string {
		return fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", cfg.Region, localAccount, name)
	}
	addFunc := func(name string, newHandler func() lambda.Handler) {
		f, _ := st.Function(name)
		if wrap := cfg.WrapHandler; wrap != nil {
			inner := newHandler
			newHandler = func() lambda.Handler { return wrap(name, inner()) }
		}
		s.funcs[name] = newFunction(name, arn(name), time.Duration(f.Timeout)*time.Second, newHandler)
	}

	s.ingest = ingest.New(s.registry, producer, ingest.WithLogger(logger), ingest.WithMetrics(pipeline, "ingest"),
		ingest.WithTracerProvider(tp))
	addFunc("ingest", func() lambda.Handler { return lambdaFunc(s.ingest.Invoke) })

	analyticsFn := analytics.NewFunction(s.agg).Instrument(tp)
	addFunc("analytics", func() lambda.Handler { return analyticsFn })

	// The workflow's task functions. The measures analytics aggregates are the ones each schema marks with
	// x-measures.
	ref := cfg.Reference
	if ref == nil {
		ref = workflow.DefaultReference()
	}
	enricher := workflow.NewEnricher(workflow.WithRules(cfg.Rules...),
		workflow.WithMeasures(s.registry.MeasuresByType()), workflow.WithReference(ref, 0))
	addFunc("enrich", func() lambda.Handler { return enricher })
	persister := workflow.NewPersister(s.curated, nil).Instrument(pipeline, "persist", tp)
	addFunc("persist", func() lambda.Handler { return persister })

	// The workflow is the definition the template deploys, run by the interpreter, its Task states invoking
	// the local functions.
	var aslOpts []asl.Option
	if cfg.WorkflowClock != nil {
		aslOpts = append(aslOpts, asl.WithClock(cfg.WorkflowClock))
	}
	machine, err := parseWorkflow(st, cfg.Region, arn, localLambda(s.funcs), aslOpts...)
	if err != nil {
		return nil, err
	}
	s.workflow = workflow.NewLocal(machine, s.history, logger, workflow.WithMetrics(pipeline),
		workflow.WithTracerProvider(tp))
	var wf consumer.Workflow = s.workflow
	if executor != nil {
		wf = executor
	}
	cons := consumer.New(lf.workflow(wf), consumer.WithLogger(logger), consumer.WithValidator(s.registry),
		consumer.WithMetrics(pipeline, "consumer"), consumer.WithTracerProvider(tp))
	addFunc("consumer", func() lambda.Handler { return cons })

	// The event source mapping between the stream and the consumer, as the template configures it in AWS.
	src := consumerFn.Kinesis[0]
	mcfg := esm.Config{
		FunctionName:               "consumer",
		FunctionARN:                arn("consumer"),
		StreamARN:                  streamARN,
		Region:                     cfg.Region,
		BatchSize:                  src.BatchSize,
		MaxBatchingWindow:          time.Duration(src.MaximumBatchingWindowInSeconds) * time.Second,
		ParallelizationFactor:      src.ParallelizationFactor,
		BisectBatchOnFunctionError: src.BisectBatchOnFunctionError,
		MaximumRetryAttempts:       src.MaximumRetryAttempts,
		MaximumRecordAge:           time.Duration(src.MaximumRecordAgeInSeconds) * time.Second,
		ReportBatchItemFailures:    src.ReportBatchItemFailures,
		FunctionTimeout:            time.Duration(consumerFn.Timeout) * time.Second,
		Logger:                     logger,
		Metrics:                    pipeline,
	}
	if cfg.Mapping != nil {
		cfg.Mapping(&mcfg)
	}
	// The mapping calls the consumer in-process with the typed event, as the Lambda runtime would after decoding.
	invokeConsumer := func(ctx context.Context, ev events.KinesisEvent) (events.KinesisEventResponse, error) {
		ctx = lambdacontext.NewContext(ctx, &lambdacontext.LambdaContext{AwsRequestID: event.NewID(), InvokedFunctionArn: mcfg.FunctionARN})
		return cons.Handle(telemetry.Invocation(ctx, "consumer"), ev)
	}
	fn := lf.consumer(invokeConsumer)
	if cfg.Observe != nil {
		fn = cfg.Observe(fn)
	}
	if s.mapping, err = esm.New(s.reader, fn, checkpoints, mcfg); err != nil {
		return nil, fmt.Errorf("event source mapping: %w", err)
	}
	return s, nil
}

// Run serves the APIs and runs the stream's and the mapping's loops until ctx is done, then shuts down in
// order: stop accepting requests, let the mapping finish and checkpoint its batches in flight, close the
// database. ready, when not nil, is called once the listener is bound.
func (s *stack) Run(ctx context.Context, ready func(addr string)) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		s.db.Close()
		return fmt.Errorf("listen on %s: %w (choose another --addr)", s.cfg.Addr, err)
	}
	s.ln = ln
	s.started = time.Now()
	s.srv = &http.Server{
		Handler:           s.guard(s.routes(ctx)),
		MaxHeaderBytes:    cmp.Or(s.cfg.MaxHeaderBytes, defaultMaxHeaderBytes),
		ReadHeaderTimeout: cmp.Or(s.cfg.ReadHeaderTimeout, defaultReadHeaderTimeout),
		ReadTimeout:       cmp.Or(s.cfg.ReadTimeout, defaultReadTimeout),
		WriteTimeout:      cmp.Or(s.cfg.WriteTimeout, defaultWriteTimeout),
		IdleTimeout:       cmp.Or(s.cfg.IdleTimeout, defaultIdleTimeout),
	}

	// The loops get their own context: they must outlive the HTTP server, so that requests in flight when
	// the stop comes still find the stream and the stores open.
	loops, stopLoops := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	if s.stream != nil {
		wg.Go(func() { errs <- s.stream.Run(loops) })
	}
	// The database's mapped pages are let go of regularly, so that resident memory stays bounded.
	wg.Go(func() { errs <- releaseResident(loops, s.db) })
	if ex := s.exporter; ex != nil {
		every := cmp.Or(s.cfg.ExportEvery, time.Minute)
		wg.Go(func() {
			errs <- ex.Run(loops, every, func(r export.Result, err error) {
				switch {
				case err != nil:
					s.log.Warn("exporting the aggregates (the next run retries)", "dir", s.cfg.ExportDir, "error", err)
				case len(r.Written) > 0:
					s.log.Info("exported aggregates", "dir", s.cfg.ExportDir, "windows", r.Windows, "objects", len(r.Written))
				}
			})
		})
	}
	if s.cfg.NoConsumer {
		s.log.Info("the event source mapping is stopped (--no-consumer): events stay in the stream")
	} else {
		wg.Go(func() { errs <- s.mapping.Run(loops) })
	}
	serveErr := make(chan error, 1)
	go func() { serveErr <- s.srv.Serve(ln) }()
	if ready != nil {
		ready(ln.Addr().String())
	}

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		runErr = fmt.Errorf("http server: %w", err)
	case err := <-errs:
		runErr = err
	}
	// Stop in order: no new requests (in-flight ones finish), then the asynchronous invocations, then the
	// loops (the mapping finishes and checkpoints its batches), then the database.
	shutdown, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(shutdown); err != nil {
		s.log.Warn("http shutdown", "error", err)
	}
	s.async.Wait()
	s.background.Wait()
	stopLoops()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil && runErr == nil {
			runErr = err
		}
	}
	// Write the free list with a last commit, so that the next open reads it instead of rebuilding it.
	s.db.NoFreelistSync = false
	if err := s.db.Update(func(*bolt.Tx) error { return nil }); err != nil && runErr == nil {
		runErr = fmt.Errorf("writing the free list: %w", err)
	}
	if err := s.db.Close(); err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}

// templateWindowing fills the zero fields of w from the analytics function's SDP_WINDOW_SIZE and
// SDP_ALLOWED_LATENESS in the template (their parameters' defaults), the settings it runs with on AWS.
func templateWindowing(st *infrastructure.Stack, w analytics.Windowing) (analytics.Windowing, error) {
	fn, _ := st.Function("analytics")
	for _, p := range []struct {
		name string
		dst  *time.Duration
	}{{"SDP_WINDOW_SIZE", &w.Size}, {"SDP_ALLOWED_LATENESS", &w.AllowedLateness}} {
		v, ok := fn.Environment[p.name]
		if *p.dst != 0 || !ok {
			continue
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			return w, fmt.Errorf("the template's analytics function has %s=%q, not a duration: %w", p.name, v, err)
		}
		*p.dst = d
	}
	if err := w.Check(); err != nil {
		return w, fmt.Errorf("the analytics windowing: %w", err)
	}
	return w.WithDefaults(), nil
}

// lambdaFunc adapts a function on raw payloads to lambda.Handler.
type lambdaFunc func(ctx context.Context, payload []byte) ([]byte, error)

// Invoke implements lambda.Handler.
func (f lambdaFunc) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	return f(ctx, payload)
}

// parseWorkflow loads the workflow definition as the template deploys it: its substitution variables name
// functions of the template, which become local function ARNs.
func parseWorkflow(st *infrastructure.Stack, region string, arn func(string) string, fns asl.Lambda, opts ...asl.Option) (*asl.Machine, error) {
	var sm *infrastructure.StateMachine
	for i := range st.StateMachines {
		if st.StateMachines[i].DefinitionURI != "" {
			sm = &st.StateMachines[i]
			break
		}
	}
	if sm == nil {
		return nil, errors.New("the template has no state machine with a DefinitionUri: the workflow definition")
	}
	vars := make(map[string]string, len(sm.Substitutions))
	for name, target := range sm.Substitutions {
		if f, ok := st.FunctionByLogicalID(target); ok {
			vars[name] = arn(f.Name)
		} else {
			vars[name] = target
		}
	}
	def, err := workflow.Substitute(workflow.Definition(), vars)
	if err != nil {
		return nil, fmt.Errorf("workflow definition: %w", err)
	}
	opts = append([]asl.Option{asl.WithLambda(fns),
		asl.WithStateMachineARN(fmt.Sprintf("arn:aws:states:%s:%s:stateMachine:%s", region, localAccount, sm.LogicalID))}, opts...)
	m, err := asl.Parse(def, opts...)
	if err != nil {
		return nil, fmt.Errorf("workflow definition: %w", err)
	}
	return m, nil
}
