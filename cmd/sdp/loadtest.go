package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/serverless-data-platform/sdp/loadtest"
	"github.com/serverless-data-platform/sdp/stream/kinesis"
)

// loadtestCmd runs load tests: against the ingest API, straight against the Kinesis stream, or end to end
// through the ingest API to the curated table.
type loadtestCmd struct {
	HTTP    loadtestHTTPCmd    `cmd:"" name:"http" help:"Post generated batches of events to the ingest API at a set rate and report throughput and latency."`
	Kinesis loadtestKinesisCmd `cmd:"" help:"Write generated events to the Kinesis stream with PutRecords at a set rate (bypassing the ingest API)."`
	E2E     loadtestE2ECmd     `cmd:"" name:"e2e" help:"Post to the ingest API, then follow the accepted events to the curated table (read API) and report ingest-to-curated latency."`
}

// attackFlags are the flags of every load test: the schedule, the workers and the events.
type attackFlags struct {
	Rate       string        `default:"1000" help:"Requests per second, each carrying --batch events: a number, ramp:FROM-TO/DURATION (ramp:100-5000/60s) or steps:START+STEP/EVERY<=MAX (steps:500+500/10s<=5000)."`
	Batch      int           `default:"100" help:"Events per request (per PutRecords call for kinesis)."`
	Duration   time.Duration `default:"10s" help:"How long to send."`
	Workers    int           `default:"10" help:"Workers started with the test."`
	MaxWorkers int           `default:"10000" help:"Most workers: the pool grows while requests are due and every worker is busy."`
	Timeout    time.Duration `default:"30s" help:"Timeout of one request."`
	Seed       uint64        `help:"Seed of the event generator: the same seed sends the same events (and ids). Default: random, printed in the summary."`
	Size       int           `help:"Approximate size of one event in bytes (default: natural, 300-500 bytes)."`
	Keys       int           `default:"1000" help:"Distinct subjects (partition keys)."`
	Zipf       float64       `help:"Zipf exponent (> 1) of the subjects' distribution, for hot keys and shards; 0 is uniform."`
	Invalid    float64       `help:"Share of schema-invalid events (0 to 1), which ingest rejects."`
	Poison     float64       `help:"Share of poison events (0 to 1): valid, with a subject starting with --poison-prefix, which sdp up --rule poison:/subject^=poison- quarantines."`
	PoisonPfx  string        `name:"poison-prefix" default:"poison-" help:"Subject prefix of poison events."`
	HTML       string        `name:"html" type:"path" help:"Write an HTML report (summary and charts) to this file."`
	SLO        string        `name:"slo" help:"Objectives the run must meet, e.g. \"p99<200ms,errors<0.1%,rate>=990\"; when one fails the command exits 1 and lists it."`
}

// ingestFlags say where and how to post to the ingest API.
type ingestFlags struct {
	URL   string `name:"url" help:"Ingest URL (default: --endpoint-url + /v1/events)."`
	SigV4 bool   `name:"sigv4" help:"Sign requests with SigV4 for execute-api (IAM authorization), with the credentials of --profile and --region."`
	// The API key is the global --api-key (SDP_API_KEY), sent in the x-api-key header: a local stack's
	// key, or an API Gateway usage plan's.
}

// loadtestHTTPCmd is `sdp loadtest http`.
type loadtestHTTPCmd struct {
	attackFlags `embed:""`
	ingestFlags `embed:""`
}

// loadtestKinesisCmd is `sdp loadtest kinesis`.
type loadtestKinesisCmd struct {
	attackFlags `embed:""`
	Stream      string `default:"sdp-events" help:"The Kinesis stream's name or ARN (stack output StreamArn)."`
}

// loadtestE2ECmd is `sdp loadtest e2e`.
type loadtestE2ECmd struct {
	attackFlags `embed:""`
	ingestFlags `embed:""`
	ReadURL     string        `name:"read-url" help:"Base URL of the read API, GET {base}/v1/events/{id} (default: --endpoint-url)."`
	Wait        time.Duration `default:"30s" help:"How long to wait, after sending, for the accepted events to reach the curated table."`
	Track       int           `default:"100000" help:"Accepted events to follow to the curated table at most; beyond it a uniform sample."`
}

// loadtestReport is the JSON form of a load test's outcome.
type loadtestReport struct {
	Seed     uint64                  `json:"seed"`
	Summary  loadtest.Summary        `json:"summary"`
	Arrivals *loadtest.ArrivalReport `json:"arrivals,omitempty"`
	SLO      *sloReport              `json:"slo,omitempty"`
}

// sloReport is the SLO's verdict.
type sloReport struct {
	Objectives string   `json:"objectives"`
	Passed     bool     `json:"passed"`
	Violations []string `json:"violations"`
}

// Run posts to the ingest API.
func (c *loadtestHTTPCmd) Run(g *globals) error {
	return c.attackFlags.run(g, func(gen *loadtest.Generator) (loadtest.Target, string, error) {
		h, err := c.ingestFlags.target(g, gen, c.Batch)
		if err != nil {
			return nil, "", err
		}
		return h, "POST " + h.URL(), nil
	}, nil)
}

// Run writes to the stream through the project's Kinesis producer (batched PutRecords with retries of the
// failed entries and a per-shard rate limiter).
func (c *loadtestKinesisCmd) Run(g *globals) error {
	return c.attackFlags.run(g, func(gen *loadtest.Generator) (loadtest.Target, string, error) {
		cfg, err := awsConfig(g)
		if err != nil {
			return nil, "", err
		}
		client := awskinesis.NewFromConfig(cfg, func(o *awskinesis.Options) {
			if ep := awsEndpoint(g); ep != "" {
				o.BaseEndpoint = aws.String(ep)
			}
		})
		p, err := kinesis.NewProducer(client, c.Stream)
		if err != nil {
			return nil, "", err
		}
		t, err := loadtest.NewKinesisTarget(p, gen, c.Batch)
		if err != nil {
			return nil, "", err
		}
		return t, "kinesis PutRecords " + c.Stream, nil
	}, nil)
}

// Run posts to the ingest API, then follows the accepted events to the read API.
func (c *loadtestE2ECmd) Run(g *globals) error {
	var e2e *loadtest.E2ETarget
	return c.attackFlags.run(g, func(gen *loadtest.Generator) (loadtest.Target, string, error) {
		h, err := c.ingestFlags.target(g, gen, c.Batch)
		if err != nil {
			return nil, "", err
		}
		if e2e, err = loadtest.NewE2ETarget(h, c.Track); err != nil {
			return nil, "", err
		}
		return e2e, "e2e POST " + h.URL(), nil
	}, func(ctx context.Context) *loadtest.ArrivalReport {
		base := c.ReadURL
		if base == "" {
			base = g.EndpointURL
		}
		fmt.Fprintf(g.stderr, "sdp loadtest: following the accepted events to %s/v1/events/{id} (up to %v)\n", strings.TrimSuffix(base, "/"), c.Wait)
		rep := e2e.Arrivals(ctx, base, c.Wait)
		return &rep
	})
}

// target builds the HTTP target the flags describe.
func (f *ingestFlags) target(g *globals, gen *loadtest.Generator, batch int) (*loadtest.HTTPTarget, error) {
	u := f.URL
	if u == "" {
		u = strings.TrimSuffix(g.EndpointURL, "/") + "/v1/events"
	}
	var opts []loadtest.HTTPOption
	if g.APIKey != "" {
		opts = append(opts, loadtest.WithAPIKey(g.APIKey))
	}
	// SigV4 takes its credentials and region from the AWS configuration (--profile, --region, environment).
	if f.SigV4 {
		cfg, err := awsConfig(g)
		if err != nil {
			return nil, err
		}
		opts = append(opts, loadtest.WithSigV4(cfg.Credentials, cfg.Region))
	}
	return loadtest.NewHTTPTarget(u, gen, batch, opts...)
}

// run is the load test common to the three commands: it checks the flags, builds the generator and the
// target, runs the attack with a progress line on stderr, then (e2e) follows the arrivals, prints the
// summary and checks the SLO.
func (f *attackFlags) run(g *globals, build func(*loadtest.Generator) (loadtest.Target, string, error),
	after func(context.Context) *loadtest.ArrivalReport) error {
	pacer, err := loadtest.ParsePacer(f.Rate)
	if err != nil {
		return fmt.Errorf("--rate: %w", err)
	}
	slo, err := loadtest.ParseSLO(f.SLO)
	if err != nil {
		return fmt.Errorf("--slo: %w", err)
	}
	if f.Duration <= 0 {
		return fmt.Errorf("--duration %v: want a positive duration", f.Duration)
	}
	// A random seed by default, so that a second run does not send the ids of the first (the curated table
	// would already hold them); the summary prints it, so a run can be repeated exactly.
	seed := f.Seed
	if seed == 0 {
		seed = rand.Uint64() | 1
	}
	gen, err := loadtest.NewGenerator(loadtest.GenConfig{Seed: seed, Size: f.Size, Keys: f.Keys, Zipf: f.Zipf,
		InvalidRatio: f.Invalid, PoisonRatio: f.Poison, PoisonPrefix: f.PoisonPfx})
	if err != nil {
		return err
	}
	target, name, err := build(gen)
	if err != nil {
		return err
	}
	var html *os.File
	if f.HTML != "" {
		// Created first, so that a path that cannot be written fails before the test rather than after it.
		if html, err = os.Create(f.HTML); err != nil {
			return fmt.Errorf("--html: %w", err)
		}
		defer html.Close()
	}

	// The attack: results are aggregated here, one goroutine, while the ticker prints the progress line.
	attacker := loadtest.NewAttacker(loadtest.WithWorkers(f.Workers, f.MaxWorkers), loadtest.WithTimeout(f.Timeout))
	metrics := loadtest.NewMetrics()
	summary := func() loadtest.Summary {
		s := metrics.Summary()
		s.Target, s.Saturated, s.Workers = name, attacker.Saturated(), attacker.Workers()
		return s
	}
	fmt.Fprintf(g.stderr, "sdp loadtest: %s at %s requests/s of %d events for %v (seed %d)\n", name, f.Rate, f.Batch, f.Duration, seed)
	live := newLiveLine(g.stderr)
	var errs errorSample
	tick := time.NewTicker(live.every)
	results := attacker.Attack(g.ctx, target, pacer, f.Duration)
	for done := false; !done; {
		select {
		case r, ok := <-results:
			if !ok {
				done = true
				break
			}
			metrics.Add(r)
			if r.Err != nil {
				errs.add(r.Err.Error())
			}
		case <-tick.C:
			live.print(loadtest.LiveLine(summary()))
		}
	}
	tick.Stop()
	live.end()
	errs.print(g.stderr)
	rep := loadtestReport{Seed: seed, Summary: summary()}
	// e2e: follow the accepted events to the curated table; a cancelled context (Ctrl-C) cuts the wait short.
	if after != nil {
		rep.Arrivals = after(g.ctx)
	}
	if f.SLO != "" {
		v := slo.Check(rep.Summary)
		rep.SLO = &sloReport{Objectives: slo.String(), Passed: len(v) == 0, Violations: append([]string{}, v...)}
	}

	// The report file, then the summary; the SLO's verdict decides the exit code last.
	if html != nil {
		if err := loadtest.WriteHTML(html, rep.Summary, metrics); err != nil {
			return fmt.Errorf("--html: %w", err)
		}
		if err := html.Close(); err != nil {
			return fmt.Errorf("--html: %w", err)
		}
	}
	if err := rep.print(g); err != nil {
		return err
	}
	if rep.SLO != nil && !rep.SLO.Passed {
		for _, v := range rep.SLO.Violations {
			fmt.Fprintln(g.stderr, "sdp loadtest: SLO violated:", v)
		}
		return errReported
	}
	return nil
}

// print writes the report to stdout: JSON with --output json, else text.
func (r *loadtestReport) print(g *globals) error {
	if g.Output == "json" {
		return printJSON(g.stdout, r)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "Seed  %d\n", r.Seed)
	if err := r.Summary.Text(&b); err != nil {
		return err
	}
	if r.Arrivals != nil {
		if err := r.Arrivals.Text(&b); err != nil {
			return err
		}
	}
	if r.SLO != nil {
		verdict := "passed"
		if !r.SLO.Passed {
			verdict = "FAILED: " + strings.Join(r.SLO.Violations, "; ")
		}
		fmt.Fprintf(&b, "SLO   %s: %s\n", r.SLO.Objectives, verdict)
	}
	_, err := g.stdout.Write(b.Bytes())
	return err
}

// liveLine prints progress: on a terminal one line, rewritten every second; elsewhere a line every 5 s.
type liveLine struct {
	w        io.Writer
	terminal bool
	every    time.Duration
	printed  bool
}

// newLiveLine returns the progress printer for w.
func newLiveLine(w io.Writer) *liveLine {
	l := &liveLine{w: w, every: 5 * time.Second}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			l.terminal, l.every = true, time.Second
		}
	}
	return l
}

// print shows line.
func (l *liveLine) print(line string) {
	if l.terminal {
		// Back to the start of the line, clear it, write the new one.
		fmt.Fprint(l.w, "\r\x1b[K"+line)
		l.printed = true
		return
	}
	fmt.Fprintln(l.w, line)
}

// end finishes a terminal's live line.
func (l *liveLine) end() {
	if l.printed {
		fmt.Fprintln(l.w)
	}
}

// errorSample keeps the first few distinct error messages of an attack and how often each occurred, so that
// the user learns why requests failed.
type errorSample struct {
	order  []string
	counts map[string]int
}

// maxErrorMessages is how many distinct messages an errorSample keeps.
const maxErrorMessages = 5

// add counts one occurrence of msg.
func (e *errorSample) add(msg string) {
	if e.counts == nil {
		e.counts = map[string]int{}
	}
	if _, ok := e.counts[msg]; !ok {
		if len(e.order) == maxErrorMessages {
			return
		}
		e.order = append(e.order, msg)
	}
	e.counts[msg]++
}

// print writes the messages in the order they first occurred.
func (e *errorSample) print(w io.Writer) {
	for _, m := range e.order {
		fmt.Fprintf(w, "sdp loadtest: error (%d times): %s\n", e.counts[m], m)
	}
}
