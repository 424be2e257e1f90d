package asl_test

// The documentation conformance table: every case in testdata/docs/*.json is an example taken from the AWS
// Step Functions developer guide or the Amazon States Language specification (https://states-language.net),
// JSONPath mode. A case names its source, gives a definition, an input and the expected outcome (output,
// error name and cause, retry sleeps, the inputs each task received, the states entered), and stubs for the
// Lambda functions and service integrations the definition calls.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/serverless-data-platform/sdp/workflow/asl"
)

// docCase is one documented example.
type docCase struct {
	// Name names the subtest; Source is the URL (and section) of the page the example comes from, with a
	// note when the example was adapted (a shorter timeout, a stub in place of a real function).
	Name   string `json:"name"`
	Source string `json:"source"`
	// Definition is the state machine, in JSONPath mode.
	Definition json.RawMessage `json:"definition"`
	// Input is the execution input (JSON); RawInput, when set, is sent as is instead (it may be invalid JSON).
	Input    json.RawMessage `json:"input"`
	RawInput *string         `json:"rawInput"`
	// Lambdas are keyed by function name, Tasks by resource ARN.
	Lambdas map[string]stub `json:"lambdas"`
	Tasks   map[string]stub `json:"tasks"`
	Options caseOptions     `json:"options"`
	Expect  expectation     `json:"expect"`
}

// caseOptions tune the machine and the execution of a case.
type caseOptions struct {
	// ExecutionName and StateMachineARN default to the names of the context object page's example.
	ExecutionName   string `json:"executionName"`
	StateMachineARN string `json:"stateMachineArn"`
	// PayloadLimit, when positive, replaces the 256 KiB limit on state inputs and outputs.
	PayloadLimit int `json:"payloadLimit"`
	// ClockStart is the fake clock's start time (RFC 3339); the default matches the context object page.
	ClockStart string `json:"clockStart"`
}

// expectation is what the documentation says happens.
type expectation struct {
	// ParseError: Parse must reject the definition with ErrInvalidDefinition.
	ParseError bool `json:"parseError"`
	// InputError: Execute must reject the input with ErrInvalidInput.
	InputError bool `json:"inputError"`
	// Status defaults to FAILED when Error is set and SUCCEEDED otherwise.
	Status asl.Status `json:"status"`
	// Output is compared semantically; string values "<<...>>" are matchers (see matchString).
	Output json.RawMessage `json:"output"`
	Error  string          `json:"error"`
	// Cause is compared exactly, or as JSON when both sides are JSON texts.
	Cause *string `json:"cause"`
	// Sleeps is the exact sequence of Clock.Sleep durations; MaxSleeps bounds each one (jitter).
	Sleeps    []string `json:"sleeps"`
	MaxSleeps []string `json:"maxSleeps"`
	// Calls are the inputs each function or resource received, in any order unless CallsOrdered.
	Calls        map[string][]json.RawMessage `json:"calls"`
	CallsOrdered bool                         `json:"callsOrdered"`
	CallCount    map[string]int               `json:"callCount"`
	// Visited and NotVisited are state names that must (not) have been entered.
	Visited    []string `json:"visited"`
	NotVisited []string `json:"notVisited"`
	// Events counts history events by type (attempts of a task that timed out, say, which a stub may not
	// see when its timeout fires before it is called).
	Events map[string]int `json:"events"`
}

// stubStep is one canned behaviour of a stubbed function or integration.
type stubStep struct {
	// Result is returned as is (null when absent); Echo returns the input instead.
	Result json.RawMessage `json:"result"`
	Echo   bool            `json:"echo"`
	// Error fails the call: a Lambda function error (FunctionError) of that type, or, with Service or for
	// integrations, an *asl.Error of that name. PlainError fails an integration with an error of no name.
	Error      string `json:"error"`
	Message    string `json:"message"`
	Service    bool   `json:"service"`
	PlainError bool   `json:"plainError"`
	// Block waits until the call's context ends (a task that outlives its timeout).
	Block bool `json:"block"`
}

// stub is a stubbed function or integration: one behaviour, or a script played one step per call whose last
// step repeats.
type stub struct {
	stubStep
	Script []stubStep `json:"script"`
}

// neverElapses is the shortest Sleep the fake clock treats as not elapsing during a test: such sleeps (default
// task timeouts, say) block until their context ends, so they never race the work they guard.
const neverElapses = time.Minute

// defaultClockStart is the StartTime of the context object page's example.
const defaultClockStart = "2019-03-26T20:14:13.192Z"

const (
	defaultExecutionName   = "executionName"
	defaultStateMachineARN = "arn:aws:states:us-east-1:123456789012:stateMachine:stateMachineName"
)

// fakeClock is a Clock whose sleeps end at once, advance its time and are recorded.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

// Now returns the start time plus every sleep so far.
func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Sleep records d and advances the clock by it without waiting. A sleep of neverElapses or more is a
// timeout that must not fire during the test: it waits for ctx instead, and is not recorded.
func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	if d >= neverElapses {
		<-ctx.Done()
		return ctx.Err()
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	if d > 0 {
		c.now = c.now.Add(d)
	}
	return nil
}

// recorded returns the sleeps taken so far, in order (retry intervals, Wait states, short timeouts).
func (c *fakeClock) recorded() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

// fakeLambda is the Lambda port of a case.
type fakeLambda struct {
	invoke func(ctx context.Context, function string, payload []byte) ([]byte, error)
}

// Invoke calls the case's function.
func (f fakeLambda) Invoke(ctx context.Context, function string, payload []byte) ([]byte, error) {
	return f.invoke(ctx, function, payload)
}

// callLog records what each stub received, in call order.
type callLog struct {
	mu    sync.Mutex
	calls map[string][]any
}

// record appends input to name's calls and returns the call's zero-based number.
func (l *callLog) record(name string, input any) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.calls == nil {
		l.calls = map[string][]any{}
	}
	l.calls[name] = append(l.calls[name], input)
	return len(l.calls[name]) - 1
}

// get returns the inputs name received, in call order.
func (l *callLog) get(name string) []any {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]any(nil), l.calls[name]...)
}

// step returns the behaviour of the n-th call.
func (s stub) step(n int) stubStep {
	if len(s.Script) == 0 {
		return s.stubStep
	}
	if n >= len(s.Script) {
		n = len(s.Script) - 1
	}
	return s.Script[n]
}

// functionName reduces a FunctionName (name, partial or full ARN, optional qualifier) to the function's name.
func functionName(fn string) string {
	if i := strings.Index(fn, ":function:"); i >= 0 {
		fn = fn[i+len(":function:"):]
	}
	if i := strings.IndexByte(fn, ':'); i >= 0 {
		fn = fn[:i]
	}
	return fn
}

// historyLog records the states an execution entered.
type historyLog struct {
	mu      sync.Mutex
	entered map[string]bool
	counts  map[string]int
	events  []string
}

// IncludeData is false: the table looks at event types and state names only.
func (h *historyLog) IncludeData() bool { return false }

// Event records an event; Map iterations and Parallel branches may report concurrently.
func (h *historyLog) Event(_ string, ev asl.HistoryEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.events = append(h.events, ev.Type+" "+ev.State)
	if h.counts == nil {
		h.counts = map[string]int{}
	}
	h.counts[ev.Type]++
	if strings.HasSuffix(ev.Type, "StateEntered") {
		if h.entered == nil {
			h.entered = map[string]bool{}
		}
		h.entered[ev.State] = true
	}
}

// visited tells whether a state of that name was entered (in any branch or iteration).
func (h *historyLog) visited(state string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.entered[state]
}

// count returns how many events of a type the execution had.
func (h *historyLog) count(eventType string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.counts[eventType]
}

// trace lists the events, one "Type State" per line, for failure messages.
func (h *historyLog) trace() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return strings.Join(h.events, "\n")
}

// splitmix64 is a deterministic random source for WithRand.
func splitmix64(seed uint64) func() uint64 {
	var mu sync.Mutex
	state := seed
	return func() uint64 {
		mu.Lock()
		defer mu.Unlock()
		state += 0x9e3779b97f4a7c15
		z := state
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
		z = (z ^ (z >> 27)) * 0x94d049bb133111eb
		return z ^ (z >> 31)
	}
}

// loadDocCases reads every case file of testdata/docs.
func loadDocCases(t *testing.T) map[string][]docCase {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "docs", "*.json"))
	if err != nil {
		t.Fatalf("listing case files: %v", err)
	}
	if len(files) == 0 {
		t.Fatal("no case files in testdata/docs")
	}
	groups := map[string][]docCase{}
	seen := map[string]string{}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			t.Fatalf("reading %s: %v", file, err)
		}
		// Unknown fields are refused so that a misspelt expectation cannot pass silently.
		var cases []docCase
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&cases); err != nil {
			t.Fatalf("decoding %s: %v", file, err)
		}
		group := strings.TrimSuffix(filepath.Base(file), ".json")
		for _, c := range cases {
			if c.Name == "" || c.Source == "" || len(c.Definition) == 0 {
				t.Fatalf("%s: case %q needs a name, a source and a definition", file, c.Name)
			}
			if other, dup := seen[c.Name]; dup {
				t.Fatalf("case %q is in both %s and %s", c.Name, other, group)
			}
			seen[c.Name] = group
		}
		groups[group] = cases
	}
	return groups
}

// TestDocsCasesAreWellFormed checks the table itself, so that a broken case file fails on its own.
func TestDocsCasesAreWellFormed(t *testing.T) {
	groups := loadDocCases(t)
	total := 0
	for group, cases := range groups {
		for _, c := range cases {
			total++
			var def map[string]any
			if err := json.Unmarshal(c.Definition, &def); err != nil {
				t.Errorf("%s/%s: definition is not a JSON object: %v", group, c.Name, err)
			}
			if !strings.HasPrefix(c.Source, "https://") {
				t.Errorf("%s/%s: source %q is not a URL", group, c.Name, c.Source)
			}
			for _, d := range append(append([]string(nil), c.Expect.Sleeps...), c.Expect.MaxSleeps...) {
				if _, err := time.ParseDuration(d); err != nil {
					t.Errorf("%s/%s: bad duration %q", group, c.Name, d)
				}
			}
		}
	}
	if total < 70 {
		t.Errorf("the table has %d cases, want at least 70", total)
	}
}

// TestDocs runs the documentation conformance table.
func TestDocs(t *testing.T) {
	groups := loadDocCases(t)
	// One subtest per case file (a group) and per case; cases are independent and run in parallel.
	names := make([]string, 0, len(groups))
	for g := range groups {
		names = append(names, g)
	}
	sort.Strings(names)
	for _, group := range names {
		t.Run(group, func(t *testing.T) {
			for _, c := range groups[group] {
				t.Run(c.Name, func(t *testing.T) {
					t.Parallel()
					runDocCase(t, c)
				})
			}
		})
	}
}

// runDocCase parses and runs one case and checks every expectation it states.
func runDocCase(t *testing.T, c docCase) {
	t.Logf("source: %s", c.Source)
	start := defaultClockStart
	if c.Options.ClockStart != "" {
		start = c.Options.ClockStart
	}
	startTime, err := time.Parse(time.RFC3339Nano, start)
	if err != nil {
		t.Fatalf("clockStart %q: %v", start, err)
	}
	clock := &fakeClock{now: startTime}
	calls := &callLog{}

	// Functions are looked up by name, whatever form the definition names them in (plain ARN resource, or
	// the FunctionName of arn:aws:states:::lambda:invoke with or without a qualifier).
	lambda := fakeLambda{invoke: func(ctx context.Context, function string, payload []byte) ([]byte, error) {
		name := functionName(function)
		var input any
		if err := json.Unmarshal(payload, &input); err != nil {
			t.Errorf("function %s received a payload that is not JSON: %q", name, payload)
		}
		n := calls.record(name, input)
		s, ok := c.Lambdas[name]
		if !ok {
			t.Errorf("function %q (%s) is not stubbed in this case", name, function)
			return nil, &asl.Error{Name: asl.ErrorLambdaResourceNotFound, Cause: "no such function: " + name}
		}
		return runLambdaStep(ctx, s.step(n), payload)
	}}

	opts := []asl.Option{
		asl.WithLambda(lambda),
		asl.WithClock(clock),
		asl.WithRand(splitmix64(1)),
		asl.WithStateMachineARN(orDefault(c.Options.StateMachineARN, defaultStateMachineARN)),
	}
	if c.Options.PayloadLimit > 0 {
		opts = append(opts, asl.WithPayloadLimit(c.Options.PayloadLimit))
	}
	// Service integrations are registered in a stable order, each recording its parameters.
	resources := make([]string, 0, len(c.Tasks))
	for r := range c.Tasks {
		resources = append(resources, r)
	}
	sort.Strings(resources)
	for _, resource := range resources {
		s := c.Tasks[resource]
		opts = append(opts, asl.WithTask(resource, asl.TaskFunc(func(ctx context.Context, params any) (any, error) {
			n := calls.record(resource, params)
			return runTaskStep(ctx, s.step(n), params)
		})))
	}

	// Load-time rejections are checked first: they must wrap ErrInvalidDefinition.
	m, err := asl.Parse(c.Definition, opts...)
	if c.Expect.ParseError {
		if err == nil {
			t.Fatalf("Parse accepted a definition the documentation rules out")
		}
		if !errors.Is(err, asl.ErrInvalidDefinition) {
			t.Fatalf("Parse error does not wrap ErrInvalidDefinition: %v", err)
		}
		t.Logf("rejected as expected: %v", err)
		return
	}
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}

	// A case without input runs with {}; the execution is bounded so a hung engine fails the case.
	input := []byte(c.Input)
	if c.RawInput != nil {
		input = []byte(*c.RawInput)
	} else if len(input) == 0 {
		input = []byte("{}")
	}
	history := &historyLog{}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The observer records which states were entered, to check which Next a Choice or Catch took.
	res, err := m.Execute(ctx, input,
		asl.WithExecutionName(orDefault(c.Options.ExecutionName, defaultExecutionName)),
		asl.WithObserver(history))
	if c.Expect.InputError {
		if !errors.Is(err, asl.ErrInvalidInput) {
			t.Fatalf("Execute with invalid input: got (%+v, %v), want an error wrapping ErrInvalidInput", res, err)
		}
		return
	}
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	if res == nil {
		t.Fatal("Execute returned a nil Result")
	}
	defer func() {
		if t.Failed() {
			t.Logf("history:\n%s", history.trace())
		}
	}()

	checkOutcome(t, c.Expect, res)
	checkSleeps(t, c.Expect, clock.recorded())
	checkCalls(t, c.Expect, calls)
	for _, s := range c.Expect.Visited {
		if !history.visited(s) {
			t.Errorf("state %q was not entered", s)
		}
	}
	for _, s := range c.Expect.NotVisited {
		if history.visited(s) {
			t.Errorf("state %q was entered, want not entered", s)
		}
	}
	for eventType, n := range c.Expect.Events {
		if got := history.count(eventType); got != n {
			t.Errorf("%d %s events, want %d", got, eventType, n)
		}
	}
}

// runLambdaStep plays one stubbed function call.
func runLambdaStep(ctx context.Context, s stubStep, payload []byte) ([]byte, error) {
	switch {
	case s.Block:
		// A function that outlives its state's TimeoutSeconds: it ends only when the engine gives up.
		<-ctx.Done()
		return nil, ctx.Err()
	case s.Error != "" && s.Service:
		// A failure of the Lambda service itself (Lambda.ServiceException, ...), not of the function.
		return nil, &asl.Error{Name: s.Error, Cause: s.Message}
	case s.Error != "":
		return nil, &asl.FunctionError{Type: s.Error, Message: s.Message}
	case s.Echo:
		return payload, nil
	case len(s.Result) == 0:
		return []byte("null"), nil
	default:
		return s.Result, nil
	}
}

// runTaskStep plays one stubbed integration call.
func runTaskStep(ctx context.Context, s stubStep, params any) (any, error) {
	switch {
	case s.Block:
		<-ctx.Done()
		return nil, ctx.Err()
	case s.PlainError:
		// An error without a Step Functions name, which the engine reports as States.TaskFailed.
		return nil, errors.New(s.Message)
	case s.Error != "":
		return nil, &asl.Error{Name: s.Error, Cause: s.Message}
	case s.Echo:
		return params, nil
	case len(s.Result) == 0:
		return nil, nil
	}
	var out any
	if err := json.Unmarshal(s.Result, &out); err != nil {
		return nil, fmt.Errorf("stub result: %w", err)
	}
	return out, nil
}

// orDefault returns v, or def when v is empty.
func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// checkOutcome compares the status, output, error and cause of the execution.
func checkOutcome(t *testing.T, exp expectation, res *asl.Result) {
	t.Helper()
	want := exp.Status
	if want == "" {
		want = asl.StatusSucceeded
		if exp.Error != "" {
			want = asl.StatusFailed
		}
	}
	if res.Status != want {
		t.Errorf("status = %s (error %q, cause %q), want %s", res.Status, res.Error, res.Cause, want)
		return
	}
	// Outputs are compared as decoded JSON, so key order and spacing do not matter.
	if len(exp.Output) > 0 {
		var wantOut, gotOut any
		if err := json.Unmarshal(exp.Output, &wantOut); err != nil {
			t.Fatalf("expected output: %v", err)
		}
		if err := json.Unmarshal(res.Output, &gotOut); err != nil {
			t.Errorf("output is not JSON: %q (%v)", res.Output, err)
			return
		}
		if diffs := jsonDiff("$", wantOut, gotOut, map[string]any{}); len(diffs) > 0 {
			t.Errorf("output differs from the documented one:\n  %s\nwant: %s\n got: %s",
				strings.Join(diffs, "\n  "), exp.Output, res.Output)
		}
	}
	// A failed execution reports the error name and cause of the failure no Catch handled.
	if exp.Error != "" && res.Error != exp.Error {
		t.Errorf("error = %q (cause %q), want %q", res.Error, res.Cause, exp.Error)
	}
	if exp.Cause != nil && !sameText(*exp.Cause, res.Cause) {
		t.Errorf("cause = %q, want %q", res.Cause, *exp.Cause)
	}
}

// checkSleeps compares the clock's sleeps with the documented intervals.
func checkSleeps(t *testing.T, exp expectation, got []time.Duration) {
	t.Helper()
	// Exact sleeps: JitterStrategy NONE (the default) makes every retry interval deterministic.
	if exp.Sleeps != nil {
		want := parseDurations(t, exp.Sleeps)
		if !reflect.DeepEqual(positive(got), want) {
			t.Errorf("sleeps = %v, want %v", got, want)
		}
	}
	// Bounded sleeps: JitterStrategy FULL draws each interval between zero and the computed backoff.
	if exp.MaxSleeps != nil {
		bounds := parseDurations(t, exp.MaxSleeps)
		if len(got) != len(bounds) {
			t.Errorf("sleeps = %v, want %d sleeps bounded by %v", got, len(bounds), bounds)
			return
		}
		for i, d := range got {
			if d < 0 || d > bounds[i] {
				t.Errorf("sleep %d = %v, want within [0, %v]", i, d, bounds[i])
			}
		}
	}
}

// positive drops the zero-length sleeps an engine may take (a Wait for a time already past).
func positive(ds []time.Duration) []time.Duration {
	out := []time.Duration{}
	for _, d := range ds {
		if d > 0 {
			out = append(out, d)
		}
	}
	return out
}

// parseDurations parses Go duration strings ("1s", "4.5s").
func parseDurations(t *testing.T, ss []string) []time.Duration {
	t.Helper()
	out := make([]time.Duration, 0, len(ss))
	for _, s := range ss {
		d, err := time.ParseDuration(s)
		if err != nil {
			t.Fatalf("duration %q: %v", s, err)
		}
		out = append(out, d)
	}
	return out
}

// checkCalls compares what each stub received.
func checkCalls(t *testing.T, exp expectation, calls *callLog) {
	t.Helper()
	// CallCount counts the calls the stub saw; Calls also compares what each call received.
	for name, n := range exp.CallCount {
		if got := len(calls.get(name)); got != n {
			t.Errorf("%s was called %d times, want %d", name, got, n)
		}
	}
	for name, wantRaw := range exp.Calls {
		got := calls.get(name)
		want := make([]any, len(wantRaw))
		for i, raw := range wantRaw {
			if err := json.Unmarshal(raw, &want[i]); err != nil {
				t.Fatalf("expected call input: %v", err)
			}
		}
		if len(got) != len(want) {
			t.Errorf("%s was called %d times with %s, want %d calls", name, len(got), mustJSON(got), len(want))
			continue
		}
		// MaxConcurrency 1 and retries fix the order of calls; otherwise iterations and branches may run
		// in any order, and each wanted input must match a distinct call.
		if exp.CallsOrdered {
			if diffs := jsonDiff("calls", want, got, map[string]any{}); len(diffs) > 0 {
				t.Errorf("%s inputs differ:\n  %s", name, strings.Join(diffs, "\n  "))
			}
			continue
		}
		if missing := unmatched(want, got); len(missing) > 0 {
			t.Errorf("%s inputs %s do not include %s", name, mustJSON(got), mustJSON(missing))
		}
	}
}

// unmatched returns the wanted values that no distinct got value matches.
func unmatched(want, got []any) []any {
	used := make([]bool, len(got))
	var missing []any
	for _, w := range want {
		found := false
		for i, g := range got {
			if !used[i] && len(jsonDiff("", w, g, map[string]any{})) == 0 {
				used[i], found = true, true
				break
			}
		}
		if !found {
			missing = append(missing, w)
		}
	}
	return missing
}

// mustJSON renders a decoded value for messages.
func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	return string(b)
}

// sameText tells whether two texts are equal, or are JSON texts of equal values (an error cause that is a
// function's error payload may be encoded with any spacing or key order).
func sameText(want, got string) bool {
	if want == got {
		return true
	}
	var w, g any
	if json.Unmarshal([]byte(want), &w) != nil || json.Unmarshal([]byte(got), &g) != nil {
		return false
	}
	switch w.(type) {
	case map[string]any, []any:
		return reflect.DeepEqual(w, g)
	}
	return false
}

// uuidV4 matches the lower-case text form of a version 4 UUID, as States.UUID returns it.
var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// matchString applies a matcher written as an expected string value:
//
//	<<uuid>>          a version 4 UUID
//	<<int:LO:HI>>     an integer in [LO, HI]
//	<<same:NAME>>     any value, equal to every other value matched by the same NAME
//	<<contains:TEXT>> a string containing TEXT
//
// It reports whether want is a matcher and, if so, whether got matches.
func matchString(want string, got any, binds map[string]any) (isMatcher, ok bool) {
	if !strings.HasPrefix(want, "<<") || !strings.HasSuffix(want, ">>") {
		return false, false
	}
	spec := want[2 : len(want)-2]
	kind, arg, _ := strings.Cut(spec, ":")
	switch kind {
	case "uuid":
		s, isStr := got.(string)
		return true, isStr && uuidV4.MatchString(s)
	case "int":
		lo, hi, _ := strings.Cut(arg, ":")
		l, err1 := strconv.ParseFloat(lo, 64)
		h, err2 := strconv.ParseFloat(hi, 64)
		n, isNum := got.(float64)
		return true, err1 == nil && err2 == nil && isNum && n == float64(int64(n)) && n >= l && n <= h
	case "same":
		if prev, bound := binds[arg]; bound {
			return true, reflect.DeepEqual(prev, got)
		}
		binds[arg] = got
		return true, true
	case "contains":
		s, isStr := got.(string)
		return true, isStr && strings.Contains(s, arg)
	}
	return false, false
}

// jsonDiff lists the differences between two decoded JSON values, one line per differing path. Fields named
// "Cause" are compared with sameText, since they hold JSON texts of unspecified formatting.
func jsonDiff(path string, want, got any, binds map[string]any) []string {
	if ws, isStr := want.(string); isStr {
		if isMatcher, ok := matchString(ws, got, binds); isMatcher {
			if ok {
				return nil
			}
			return []string{fmt.Sprintf("%s: %s does not match %s", path, mustJSON(got), ws)}
		}
		if gs, gotStr := got.(string); gotStr && strings.HasSuffix(path, ".Cause") && sameText(ws, gs) {
			return nil
		}
	}
	// Objects are compared key by key (missing and unexpected keys both reported), arrays element by
	// element; scalars must be equal, numbers being compared as float64 as encoding/json decodes them.
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: got %s, want an object", path, mustJSON(got))}
		}
		keys := make([]string, 0, len(w)+len(g))
		for k := range w {
			keys = append(keys, k)
		}
		for k := range g {
			if _, dup := w[k]; !dup {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		var diffs []string
		for _, k := range keys {
			wv, inWant := w[k]
			gv, inGot := g[k]
			p := path + "." + k
			switch {
			case !inGot:
				diffs = append(diffs, fmt.Sprintf("%s: missing, want %s", p, mustJSON(wv)))
			case !inWant:
				diffs = append(diffs, fmt.Sprintf("%s: unexpected %s", p, mustJSON(gv)))
			default:
				diffs = append(diffs, jsonDiff(p, wv, gv, binds)...)
			}
		}
		return diffs
	case []any:
		g, ok := got.([]any)
		if !ok {
			return []string{fmt.Sprintf("%s: got %s, want an array", path, mustJSON(got))}
		}
		if len(g) != len(w) {
			return []string{fmt.Sprintf("%s: got %d elements %s, want %d elements %s", path, len(g), mustJSON(g), len(w), mustJSON(w))}
		}
		var diffs []string
		for i := range w {
			diffs = append(diffs, jsonDiff(fmt.Sprintf("%s[%d]", path, i), w[i], g[i], binds)...)
		}
		return diffs
	}
	if !reflect.DeepEqual(want, got) {
		return []string{fmt.Sprintf("%s: got %s, want %s", path, mustJSON(got), mustJSON(want))}
	}
	return nil
}
