// Command benchcmp runs the pipeline's two hot paths, the stream consumer and event validation, side by side
// with their TypeScript peers on the same generated records, in the same run, on one pinned core.
//
// It generates a Lambda Kinesis event (records.json) and the same events one per line (events.ndjson) with
// the load generator, then, for a number of rounds that alternate which side goes first, runs
//
//   - the Go benchmarks BenchmarkConsumerPath (./stream/consumer) and BenchmarkValidateFromBytes (./event),
//     compiled once with `go test -c` and run with GOMAXPROCS=1, SDP_BENCH_RECORDS and SDP_BENCH_EVENTS;
//   - the Node.js anchors of tools/npm/anchors: Powertools for AWS Lambda's BatchProcessor with Ajv, the same
//     work in a plain loop with Ajv, and Ajv alone over the events;
//
// each under `taskset -c <cpu>`. It prints a table of the medians and ends with two lines:
//
//	consumer: <records/s> records/s, <r>x powertools, <q>x node+ajv
//	validate: <events/s> events/s, <v>x ajv
//
// and writes results.json into the output directory. Run it from the repository:
//
//	go run ./tools/benchcmp -records 10000 -invalid 0.01 -duration 3s -rounds 3 -cpu 1 -out bin/benchcmp
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

// options are the command's flags.
type options struct {
	records  int
	invalid  float64
	types    []string
	duration time.Duration
	warmup   time.Duration
	rounds   int
	cpu      int
	out      string
	goCmd    string
	node     string
}

func main() {
	// Interrupting the run stops the benchmark or anchor being measured (exec.CommandContext kills it) and
	// ends the command without a summary. Only main exits; run returns errors.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	// -h printed the usage already.
	if errors.Is(err, flag.ErrHelp) {
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchcmp:", err)
		os.Exit(1)
	}
}

// parseFlags reads the command line into options and checks them.
func parseFlags(args []string, stderr io.Writer) (options, error) {
	var o options
	var types string
	fs := flag.NewFlagSet("benchcmp", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&o.records, "records", 10000, "records in the Kinesis batch (and events in the NDJSON file)")
	fs.Float64Var(&o.invalid, "invalid", 0.01, "share of events that break their schema, in [0, 1)")
	fs.StringVar(&types, "type", "page_view", "event types to generate, comma-separated")
	fs.DurationVar(&o.duration, "duration", 3*time.Second, "measuring time of each benchmark and anchor")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "warm-up time of each Node.js anchor")
	fs.IntVar(&o.rounds, "rounds", 3, "rounds; the medians are reported")
	fs.IntVar(&o.cpu, "cpu", 1, "index of the CPU to pin every benchmark to (taskset -c)")
	fs.StringVar(&o.out, "out", "bin/benchcmp", "directory for the generated records, test binaries and results.json")
	fs.StringVar(&o.goCmd, "go", "go", "the go command that compiles the benchmarks")
	fs.StringVar(&o.node, "node", "node", "the Node.js command that runs the anchors")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	for _, t := range strings.Split(types, ",") {
		if t = strings.TrimSpace(t); t != "" {
			o.types = append(o.types, t)
		}
	}
	switch {
	case o.records < 1:
		return o, fmt.Errorf("-records %d: want at least 1", o.records)
	case !(o.invalid >= 0 && o.invalid < 1):
		// Powertools fails a batch whose every record failed as a whole, so some records must be valid.
		return o, fmt.Errorf("-invalid %g: want a ratio in [0, 1)", o.invalid)
	case len(o.types) == 0:
		return o, errors.New("-type: name at least one event type")
	case o.duration <= 0:
		return o, fmt.Errorf("-duration %s: want a positive duration", o.duration)
	case o.warmup < 0:
		return o, fmt.Errorf("-warmup %s: want zero or a positive duration", o.warmup)
	case o.rounds < 1:
		return o, fmt.Errorf("-rounds %d: want at least 1", o.rounds)
	case o.cpu < 0:
		return o, fmt.Errorf("-cpu %d: want a CPU index", o.cpu)
	case o.out == "":
		return o, errors.New("-out: name a directory")
	}
	return o, nil
}
