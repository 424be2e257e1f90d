package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// modulePath is the module whose repository benchcmp runs in.
const modulePath = "github.com/serverless-data-platform/sdp"

// Names of the measurements, as the table and results.json show them; the anchors print the same names.
const (
	nameGoConsumer = "go consumer"
	nameGoValidate = "go validate"
	namePowertools = "powertools"
	nameNodeAjv    = "node+ajv"
	nameAjv        = "ajv"
)

// goBench is one Go benchmark of the comparison.
type goBench struct {
	name  string // the measurement's name
	pkg   string // package directory, relative to the repository
	bench string // benchmark function
	unit  string // the custom metric that carries the rate
}

// goBenches are the Go side of the comparison.
var goBenches = []goBench{
	{name: nameGoConsumer, pkg: "stream/consumer", bench: "BenchmarkConsumerPath", unit: "records/s"},
	{name: nameGoValidate, pkg: "event", bench: "BenchmarkValidateFromBytes", unit: "events/s"},
}

// nodeAnchor is one Node.js anchor of the comparison.
type nodeAnchor struct {
	name   string // the name the anchor prints
	script string // under tools/npm/anchors
	events bool   // reads events.ndjson (else records.json)
	unit   string
}

// nodeAnchors are the TypeScript side of the comparison.
var nodeAnchors = []nodeAnchor{
	{name: namePowertools, script: "consumer-powertools.cjs", unit: "records/s"},
	{name: nameNodeAjv, script: "consumer-node.cjs", unit: "records/s"},
	{name: nameAjv, script: "validate-ajv.cjs", events: true, unit: "events/s"},
}

// pinnedPackages are the npm packages the anchors load; their versions must be those of
// tools/npm/package.json.
var pinnedPackages = []string{"@aws-lambda-powertools/batch", "ajv", "ajv-formats"}

// run is the whole command: it returns an error instead of exiting. It prints progress as it goes and ends
// its output with the two summary lines, so that they are the last lines of make bench.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	// Everything that could be missing is checked before minutes are spent measuring.
	repo, err := findRepo()
	if err != nil {
		return err
	}
	if err := checkTools(repo, o); err != nil {
		return err
	}
	out, err := filepath.Abs(o.out)
	if err != nil {
		return fmt.Errorf("output directory %s: %w", o.out, err)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("output directory: %w", err)
	}

	ds, err := writeDataset(out, o.records, o.invalid, o.types)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "dataset: %d %s records, %d invalid, mean event %.0f bytes (%s, %s)\n",
		ds.Records, strings.Join(o.types, ","), ds.Invalid, ds.MeanEventBytes, ds.RecordsPath, ds.EventsPath)
	binaries, err := compileBenches(ctx, o, repo, out, stdout)
	if err != nil {
		return err
	}
	all, err := measureRounds(ctx, o, repo, binaries, ds, stdout)
	if err != nil {
		return err
	}

	rep := buildReport(all)
	fmt.Fprintln(stdout)
	writeTable(stdout, rep)
	res := results{
		Config: resultConfig{Records: o.records, InvalidRatio: o.invalid, Types: o.types, Duration: o.duration.String(),
			Warmup: o.warmup.String(), Rounds: o.rounds, CPU: o.cpu},
		Environment: resultEnvironment{GoVersion: commandOutput(ctx, repo, o.goCmd, "env", "GOVERSION"),
			NodeVersion: commandOutput(ctx, repo, o.node, "--version"), OS: runtime.GOOS, Arch: runtime.GOARCH,
			Time: time.Now().UTC().Format(time.RFC3339)},
		Dataset: ds,
		Rows:    rep.Rows,
		Summary: rep.Lines,
	}
	path := filepath.Join(out, "results.json")
	if err := writeResults(path, res); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "results: %s\n", path)
	for _, l := range rep.Lines {
		fmt.Fprintln(stdout, l)
	}
	return nil
}

// compileBenches compiles the test binary of each Go benchmark's package into out, once, so that compiling
// never overlaps a measurement. It returns the binaries by measurement name.
func compileBenches(ctx context.Context, o options, repo, out string, stdout io.Writer) (map[string]string, error) {
	binaries := make(map[string]string, len(goBenches))
	for _, b := range goBenches {
		bin := filepath.Join(out, strings.ReplaceAll(b.pkg, "/", "-")+".test")
		fmt.Fprintf(stdout, "compiling ./%s ...\n", b.pkg)
		cmd := exec.CommandContext(ctx, o.goCmd, "test", "-c", "-o", bin, "./"+b.pkg)
		cmd.Dir = repo
		if msg, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("go test -c ./%s: %w\n%s", b.pkg, err, msg)
		}
		binaries[b.name] = bin
	}
	return binaries, nil
}

// measureRounds runs every Go benchmark and every anchor once per round and returns each measurement's
// rates, in the table's order. Rounds alternate which side goes first. It fails when an anchor's failure
// count is not the dataset's number of invalid events, or when the two consumer anchors' outputs differ:
// then they did not do the work the comparison claims.
func measureRounds(ctx context.Context, o options, repo string, binaries map[string]string, ds dataset, stdout io.Writer) ([]*series, error) {
	order := []string{nameGoConsumer, namePowertools, nameNodeAjv, nameGoValidate, nameAjv}
	byName := make(map[string]*series, len(order))
	for _, name := range order {
		byName[name] = &series{Name: name}
	}
	for _, b := range goBenches {
		byName[b.name].Unit = b.unit
	}
	for _, a := range nodeAnchors {
		byName[a.name].Unit = a.unit
	}

	runGo := func(round int) error {
		for _, b := range goBenches {
			m, err := runGoBench(ctx, o, repo, binaries[b.name], b, ds)
			if err != nil {
				return err
			}
			s := byName[b.name]
			s.Rates = append(s.Rates, m.rate)
			s.Allocs = append(s.Allocs, m.allocs)
			s.Metrics = append(s.Metrics, m.metrics)
			fmt.Fprintf(stdout, "round %d/%d: %-12s %s %s, %s allocs/op\n", round+1, o.rounds, b.name,
				formatRate(m.rate), b.unit, formatAllocs(m.allocs))
		}
		return nil
	}
	runNode := func(round int) error {
		var digests []string
		for _, a := range nodeAnchors {
			r, err := runAnchor(ctx, o, repo, a, ds)
			if err != nil {
				return err
			}
			if want := ds.Invalid; r.Failures != want {
				return fmt.Errorf("anchor %s reported %d failed %s per pass, but the dataset has %d invalid events",
					a.name, r.Failures, strings.TrimSuffix(a.unit, "/s"), want)
			}
			if !a.events {
				digests = append(digests, r.Digest)
			}
			byName[a.name].Rates = append(byName[a.name].Rates, r.Rate)
			fmt.Fprintf(stdout, "round %d/%d: %-12s %s %s, %d failed per pass\n", round+1, o.rounds, a.name,
				formatRate(r.Rate), a.unit, r.Failures)
		}
		// The two consumer anchors do the same work, so their outputs must be the same bytes.
		for _, d := range digests[1:] {
			if d != digests[0] {
				return errors.New("the consumer anchors disagree: their workflow inputs or batch responses differ")
			}
		}
		return nil
	}
	for round := range o.rounds {
		// Alternate which side goes first, so that neither always runs on a cooler or a warmer machine.
		first, second := runGo, runNode
		if round%2 == 1 {
			first, second = runNode, runGo
		}
		if err := first(round); err != nil {
			return nil, err
		}
		if err := second(round); err != nil {
			return nil, err
		}
	}

	all := make([]*series, 0, len(order))
	for _, name := range order {
		all = append(all, byName[name])
	}
	return all, nil
}

// writeResults writes results.json.
func writeResults(path string, res results) error {
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return fmt.Errorf("results: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("results: %w", err)
	}
	return nil
}

// findRepo returns the repository's root: the nearest directory from the working directory up whose go.mod
// declares modulePath.
func findRepo() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("working directory: %w", err)
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && modFileDeclares(b, modulePath) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("run benchcmp inside the repository of %s (no go.mod of it above the working directory)", modulePath)
		}
		dir = parent
	}
}

// modFileDeclares reports whether a go.mod's module line names path.
func modFileDeclares(gomod []byte, path string) bool {
	sc := bufio.NewScanner(bytes.NewReader(gomod))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 2 && f[0] == "module" {
			return strings.Trim(f[1], `"`) == path
		}
	}
	return false
}

// checkTools fails with a message that names the fix when taskset, Node.js or a pinned npm package is
// missing.
func checkTools(repo string, o options) error {
	if _, err := exec.LookPath("taskset"); err != nil {
		return fmt.Errorf("taskset (util-linux) is needed to pin the benchmarks to one CPU: %w", err)
	}
	if _, err := exec.LookPath(o.goCmd); err != nil {
		return fmt.Errorf("the go command: %w", err)
	}
	if _, err := exec.LookPath(o.node); err != nil {
		return fmt.Errorf("node (Node.js) runs the TypeScript anchors: %w; run `make tools`", err)
	}
	npm := filepath.Join(repo, "tools", "npm")
	pins, err := readDependencies(filepath.Join(npm, "package.json"))
	if err != nil {
		return err
	}
	for _, name := range pinnedPackages {
		want, ok := pins[name]
		if !ok {
			return fmt.Errorf("tools/npm/package.json does not pin %s", name)
		}
		got, err := readVersion(filepath.Join(npm, "node_modules", filepath.FromSlash(name), "package.json"))
		if err != nil {
			return fmt.Errorf("the npm package %s is not installed in tools/npm: run `make tools` (%w)", name, err)
		}
		if got != want {
			return fmt.Errorf("the npm package %s is %s in tools/npm/node_modules, but %s is pinned: run `make tools`", name, got, want)
		}
	}
	return nil
}

// readDependencies returns the dependencies of a package.json.
func readDependencies(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("npm manifest: %w", err)
	}
	var pkg struct {
		Dependencies map[string]string `json:"dependencies"`
	}
	if err := json.Unmarshal(b, &pkg); err != nil {
		return nil, fmt.Errorf("npm manifest %s: %w", path, err)
	}
	return pkg.Dependencies, nil
}

// readVersion returns the version of an installed npm package.
func readVersion(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	var pkg struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal(b, &pkg); err != nil {
		return "", fmt.Errorf("%s: %w", path, err)
	}
	return pkg.Version, nil
}

// goMeasurement is what one run of a Go benchmark gives.
type goMeasurement struct {
	rate    float64
	allocs  float64 // -1 when the benchmark did not report allocations
	metrics map[string]float64
}

// failuresMetric is the custom metric in which a Go benchmark may report how many records of one pass it
// failed; when present it must be the dataset's number of invalid events, as the anchors' failures must.
const failuresMetric = "failures"

// runGoBench runs one compiled Go benchmark pinned to the CPU with GOMAXPROCS=1.
func runGoBench(ctx context.Context, o options, repo, binary string, b goBench, ds dataset) (goMeasurement, error) {
	// Only the one benchmark runs (no tests), for the same time the anchors measure, once; -test.benchmem
	// makes allocs/op appear even if the benchmark does not call b.ReportAllocs.
	cmd := exec.CommandContext(ctx, "taskset", "-c", strconv.Itoa(o.cpu), binary,
		"-test.run=^$", "-test.bench=^"+b.bench+"$", "-test.benchtime="+o.duration.String(),
		"-test.benchmem", "-test.count=1")
	// A test binary runs in its package's directory, as go test runs it.
	cmd.Dir = filepath.Join(repo, filepath.FromSlash(b.pkg))
	// One P, like the anchors' one JavaScript thread; later entries win over the inherited environment.
	cmd.Env = append(os.Environ(), "GOMAXPROCS=1", "SDP_BENCH_RECORDS="+ds.RecordsPath, "SDP_BENCH_EVENTS="+ds.EventsPath)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return goMeasurement{}, fmt.Errorf("%s (./%s): %w\n%s", b.bench, b.pkg, err, tail(out, 40))
	}
	res, err := parseBenchOutput(out, b.bench)
	if err != nil {
		return goMeasurement{}, fmt.Errorf("./%s: %w\n%s", b.pkg, err, tail(out, 40))
	}
	// The rate is the benchmark's own metric: what one operation is (an invocation, an event) is the
	// benchmark's business, the rate per record or event is comparable across languages.
	rate, ok := res.Metrics[b.unit]
	if !ok || rate <= 0 {
		return goMeasurement{}, fmt.Errorf("./%s: %s reported no %s metric (b.ReportMetric)", b.pkg, b.bench, b.unit)
	}
	if f, ok := res.Metrics[failuresMetric]; ok && f != float64(ds.Invalid) {
		return goMeasurement{}, fmt.Errorf("./%s: %s reported %g failures per pass, but the dataset has %d invalid events",
			b.pkg, b.bench, f, ds.Invalid)
	}
	allocs, ok := res.Metrics["allocs/op"]
	if !ok {
		allocs = -1
	}
	return goMeasurement{rate: rate, allocs: allocs, metrics: res.Metrics}, nil
}

// runAnchor runs one Node.js anchor pinned to the CPU.
func runAnchor(ctx context.Context, o options, repo string, a nodeAnchor, ds dataset) (anchorResult, error) {
	input := ds.RecordsPath
	if a.events {
		input = ds.EventsPath
	}
	script := filepath.Join(repo, "tools", "npm", "anchors", a.script)
	// taskset pins the whole process, so V8's garbage collector and compiler threads share the one core too,
	// as the Go runtime's do.
	cmd := exec.CommandContext(ctx, "taskset", "-c", strconv.Itoa(o.cpu), o.node, script, input,
		"--duration", seconds(o.duration), "--warmup", seconds(o.warmup))
	cmd.Dir = repo
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		var exit *exec.ExitError
		// An anchor that cannot load its npm packages says so, and says to run make tools.
		if errors.As(err, &exit) && exit.ExitCode() == anchorExitMissing {
			return anchorResult{}, fmt.Errorf("anchor %s: %s", a.name, strings.TrimSpace(stderr.String()))
		}
		return anchorResult{}, fmt.Errorf("anchor %s: %w\n%s%s", a.name, err, tail(out, 20), tail(stderr.Bytes(), 20))
	}
	r, err := parseAnchorOutput(out)
	if err != nil {
		return anchorResult{}, fmt.Errorf("anchor %s: %w", a.name, err)
	}
	if r.Name != a.name {
		return anchorResult{}, fmt.Errorf("anchor %s: its result is named %q", a.name, r.Name)
	}
	return r, nil
}

// anchorExitMissing is the anchors' exit status when an npm package is missing.
const anchorExitMissing = 3

// seconds renders d as the anchors read it: a number of seconds.
func seconds(d time.Duration) string {
	return strconv.FormatFloat(d.Seconds(), 'f', -1, 64)
}

// commandOutput returns the trimmed output of a command, or "unknown" when it fails.
func commandOutput(ctx context.Context, dir, name string, args ...string) string {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	b, err := cmd.Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(b))
}

// tail returns the last n lines of b, for error messages.
func tail(b []byte, n int) string {
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	s := strings.Join(lines, "\n")
	if s == "" {
		return ""
	}
	return s + "\n"
}
