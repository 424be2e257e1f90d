// Command sdp runs the serverless data platform on one machine (`sdp up`) and talks to a running platform
// (`sdp send`). It is the composition root of local mode: it wires the same handlers that run on AWS Lambda
// to embedded stand-ins for Kinesis, the event source mapping, Step Functions, DynamoDB and SQS.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/alecthomas/kong"
)

// defaultAddr is where `sdp up` listens and where the other commands find it.
const defaultAddr = "127.0.0.1:4599"

// globals are the flags every command takes, named as the AWS CLI names them.
type globals struct {
	EndpointURL string `name:"endpoint-url" env:"SDP_ENDPOINT_URL" help:"URL of a running platform (sdp up, or a deployed API)." default:"http://${addr}"`
	Region      string `env:"AWS_REGION" help:"AWS region." default:"us-east-1"`
	Profile     string `env:"AWS_PROFILE" help:"AWS shared-config profile."`
	Output      string `enum:"json,table" default:"table" help:"Output format: json or table."`
	APIKey      string `name:"api-key" env:"SDP_API_KEY" help:"API key: sdp up requires it on its API (but GET /healthz); the other commands send it in the x-api-key header."`

	stdout io.Writer
	stderr io.Writer
	ctx    context.Context
}

// cli is the command line: the global flags and one field per command; kong calls the chosen command's Run.
type cli struct {
	globals

	Up         upCmd         `cmd:"" help:"Run the whole pipeline on this machine: ingest API, stream, consumer, workflow, table, analytics, DLQ."`
	Send       sendCmd       `cmd:"" help:"Post files of events (JSON array, one event, NDJSON; .gz too) to the ingest API."`
	Event      eventCmd      `cmd:"" help:"Print a curated event by id."`
	Aggregates aggregatesCmd `cmd:"" help:"Print the one-minute aggregate windows per event type and source."`
	Status     statusCmd     `cmd:"" help:"Print the local stack's progress per shard, the curated count and the DLQ depth."`
	Executions executionsCmd `cmd:"" help:"List, show and replay workflow executions (local, or in AWS from the execution log)."`
	DLQ        dlqCmd        `cmd:"" name:"dlq" help:"Inspect, explain, redrive and purge the dead-letter queue (local stack, or SQS with --backend aws)."`
	Loadtest   loadtestCmd   `cmd:"" help:"Load-test the ingest API, the stream, or the pipeline end to end, and report throughput, latency and SLOs."`
	Backfill   backfillCmd   `cmd:"" help:"Load history: send every object of s3://bucket/prefix or a folder to the ingest API or the stream, resumably."`
}

// main traps SIGINT and SIGTERM into a context, so that a command stops cleanly (sdp up drains and
// checkpoints), and is the only place that exits.
func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run parses args and runs one command; it returns the process exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var c cli
	exit := -1
	parser, err := kong.New(&c,
		kong.Name("sdp"),
		kong.Description("The serverless data platform: event ingestion, stream processing and analytics on AWS, or whole on this machine."),
		kong.UsageOnError(),
		kong.Vars{"addr": defaultAddr},
		kong.Writers(stdout, stderr),
		kong.Exit(func(code int) { exit = code }),
	)
	if err != nil {
		fmt.Fprintln(stderr, "sdp:", err)
		return 2
	}
	kctx, err := parser.Parse(args)
	if exit >= 0 {
		return exit
	}
	if err != nil {
		fmt.Fprintln(stderr, "sdp:", err)
		return 2
	}
	c.stdout, c.stderr, c.ctx = stdout, stderr, ctx
	if err := kctx.Run(&c.globals); err != nil {
		if !errors.Is(err, errReported) {
			fmt.Fprintln(stderr, "sdp:", err)
		}
		return 1
	}
	return 0
}

// httpClient is the client the commands call the platform's HTTP API with: it sends --api-key, when set,
// in the x-api-key header of every request. timeout bounds each request (0: none).
func (g *globals) httpClient(timeout time.Duration) *http.Client {
	if g.APIKey == "" {
		return &http.Client{Timeout: timeout}
	}
	return &http.Client{Timeout: timeout, Transport: keyTransport{key: g.APIKey, next: http.DefaultTransport}}
}

// keyTransport adds the x-api-key header to requests that do not carry one.
type keyTransport struct {
	key  string
	next http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (t keyTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Header.Get("x-api-key") != "" {
		return t.next.RoundTrip(r)
	}
	r = r.Clone(r.Context())
	r.Header.Set("x-api-key", t.key)
	return t.next.RoundTrip(r)
}

// errReported is returned by a command that has already told the user what went wrong.
var errReported = errors.New("reported")
