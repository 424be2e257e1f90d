package asl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"sync/atomic"
	"time"

	json "github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/workflow/asl/internal/dataflow"
)

// Causes of the end of an execution's context.
var (
	errMachineTimeout = errors.New("the execution timed out")
	errTaskTimeout    = errors.New("the task timed out")
)

// execution is the state of one Execute.
type execution struct {
	m           *Machine
	arn         string
	name        string
	start       time.Time
	clock       Clock
	rand        func() uint64
	limit       int
	obs         Observer
	includeData bool
	ids         atomic.Int64
	// ctxExecution and ctxMachine are the Execution and StateMachine members of the context object.
	ctxExecution map[string]any
	ctxMachine   map[string]any
}

// thread is one sequence of states: the top level of an execution, a Parallel branch or a Map iteration.
// Its variables are the ones its states see; a map is never changed once set (Assign makes a new one), so
// threads share them freely.
type thread struct {
	e    *execution
	prev int64
	vars map[string]any
	// sizes caches the JSON sizes of the large values the thread measured.
	sizes sizeCache
	// lastKey and lastData are the last object or array encoded for an event, and its encoding.
	lastKey  sizeKey
	lastData json.RawMessage
}

// sizeCache returns the thread's cache of JSON sizes.
func (t *thread) sizeCache() sizeCache {
	if t.sizes == nil {
		t.sizes = make(sizeCache)
	}
	return t.sizes
}

// child returns a new thread for a Parallel branch or a Map iteration: its first event follows prev and it
// starts with the variables of t.
func (t *thread) child(prev int64) *thread {
	return &thread{e: t.e, prev: prev, vars: t.vars}
}

// Execute runs one execution of the machine with the JSON input (empty means {}) to its end, like
// StartSyncExecution. It returns an error only when the input is not JSON or is over the payload limit (both
// wrap ErrInvalidInput); an execution that fails is a Result with status FAILED and its Error and Cause. When
// ctx ends the execution stops with status ABORTED, or TIMED_OUT when the machine's TimeoutSeconds passed.
func (m *Machine) Execute(ctx context.Context, input []byte, opts ...ExecOption) (*Result, error) {
	var eo execOptions
	for _, opt := range opts {
		opt(&eo)
	}
	// StartSyncExecution rejects an input that is not JSON or is too large before starting anything: so does
	// Execute, with an error rather than a Result. An empty input is {}, as when the API call has no input.
	if len(bytes.TrimSpace(input)) == 0 {
		input = []byte("{}")
	}
	if lim := m.opts.payloadLimit; lim > 0 && len(input) > lim {
		return nil, fmt.Errorf("%w: the input has %d bytes, over the limit of %d", ErrInvalidInput, len(input), lim)
	}
	// The input is kept raw (see dataflow.Raw), from a copy the caller cannot change; the rare text the raw form
	// does not take is decoded at once.
	inCopy := append(json.RawMessage(nil), input...)
	var in any
	if r, ok := dataflow.NewRaw(inCopy); ok {
		in = r
	} else if err := json.Unmarshal(input, &in); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidInput, err)
	}
	e := &execution{
		m:     m,
		clock: m.opts.clock,
		rand:  m.opts.rand,
		limit: m.opts.payloadLimit,
		obs:   eo.observer,
	}
	if e.obs != nil {
		e.includeData = e.obs.IncludeData()
	}
	e.name = eo.name
	if e.name == "" {
		e.name = newUUID(e.rand)
	}
	e.arn = fmt.Sprintf("arn:aws:states:%s:%s:express:%s:%s:%s", m.region, m.account, m.name, e.name, newUUID(e.rand))
	e.start = e.clock.Now()
	e.ctxExecution = map[string]any{
		"Id":           e.arn,
		"Name":         e.name,
		"Input":        in,
		"StartTime":    formatTime(e.start),
		"RoleArn":      fmt.Sprintf("arn:aws:iam::%s:role/StepFunctions-%s-role", m.account, m.name),
		"RedriveCount": float64(0),
	}
	// The Execution and StateMachine members of $$ are the same for every state: built once, shared read-only.
	e.ctxMachine = map[string]any{"Id": m.opts.arn, "Name": m.name}
	res := &Result{ExecutionARN: e.arn, Name: e.name, Input: inCopy, StartDate: e.start}

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(context.Canceled)
	if m.timeout > 0 {
		var stop context.CancelFunc
		ctx, stop = e.withTimeout(ctx, m.timeout, errMachineTimeout)
		defer stop()
	}

	// The execution runs in the caller's goroutine; only Parallel branches, Map iterations, task calls and
	// timeouts on a clock other than RealClock start goroutines, and all of them end with the execution (a
	// task call that ignores its context is abandoned, not waited for).
	top := &thread{e: e}
	top.emit(HistoryEvent{Type: EventExecutionStarted}, in, noData{})
	out, err := top.run(ctx, m.root, in)
	if err == nil {
		if res.Output, err = marshal(out); err != nil {
			err = Errorf(ErrorRuntime, "the output cannot be encoded as JSON: %v", err)
		}
	}
	res.StopDate = e.clock.Now()
	// How the execution ended: a context that ended (the machine's timeout or the caller's) wins over the error
	// it caused inside the states.
	var fail *Error
	switch {
	case err == nil:
		res.Status = StatusSucceeded
		top.emit(HistoryEvent{Type: EventExecutionSucceeded}, noData{}, out)
	case ctx.Err() != nil || errors.Is(err, errStop):
		if errors.Is(context.Cause(ctx), errMachineTimeout) {
			res.Status, res.Error, res.Cause = StatusTimedOut, ErrorTimeout, errMachineTimeout.Error()
			top.emit(HistoryEvent{Type: EventExecutionTimedOut, Error: res.Error, Cause: res.Cause}, noData{}, noData{})
		} else {
			res.Status, res.Cause = StatusAborted, context.Cause(ctx).Error()
			top.emit(HistoryEvent{Type: EventExecutionAborted, Cause: res.Cause}, noData{}, noData{})
		}
	case errors.As(err, &fail):
		res.Status, res.Error, res.Cause = StatusFailed, fail.Name, fail.Cause
		top.emit(HistoryEvent{Type: EventExecutionFailed, Error: res.Error, Cause: res.Cause}, noData{}, noData{})
	default:
		res.Status, res.Error, res.Cause = StatusFailed, ErrorRuntime, err.Error()
		top.emit(HistoryEvent{Type: EventExecutionFailed, Error: res.Error, Cause: res.Cause}, noData{}, noData{})
	}
	return res, nil
}

// withTimeout returns a context that ends with cause after d on the execution's clock.
func (e *execution) withTimeout(parent context.Context, d time.Duration, cause error) (context.Context, context.CancelFunc) {
	if _, ok := e.clock.(realClock); ok {
		return context.WithTimeoutCause(parent, d, cause)
	}
	ctx, cancel := context.WithCancelCause(parent)
	go func() {
		if e.clock.Sleep(ctx, d) == nil {
			cancel(cause)
		}
	}()
	return ctx, func() { cancel(context.Canceled) }
}

// run runs the states of g from its start with input and returns the output of the last one. Its error is an
// *Error (the failure of a state no Catch handled) or errStop.
func (t *thread) run(ctx context.Context, g *graph, input any) (any, error) {
	name := g.startAt
	for {
		if ctx.Err() != nil {
			return nil, errStop
		}
		st := g.states[name]
		out, next, err := t.state(ctx, st, input)
		if err != nil {
			return nil, err
		}
		if next == "" {
			return out, nil
		}
		name, input = next, out
	}
}

// state runs one state: it returns the state's output and the next state ("" when the state ends its graph).
func (t *thread) state(ctx context.Context, st *state, input any) (out any, next string, err error) {
	entered := t.e.clock.Now()
	t.emit(HistoryEvent{Type: st.typ + "StateEntered", State: st.name}, input, noData{})
	if st.kind == kindTask || st.kind == kindParallel || st.kind == kindMap {
		// These build their scope per attempt, for $$.State.RetryCount.
		return t.withRetry(ctx, st, entered, input)
	}
	sc := t.scope(st, entered, 0, input)
	switch st.kind {
	case kindPass:
		out, err = t.pass(st, sc, input)
	case kindChoice:
		out, next, err = t.choice(st, sc)
	case kindWait:
		out, err = t.wait(ctx, st, sc)
	case kindSucceed:
		out, err = t.inputOutput(st, sc)
	case kindFail:
		return nil, "", t.fail(st, sc)
	}
	if err != nil {
		return nil, "", err
	}
	if next == "" {
		next = st.next
	}
	t.emit(HistoryEvent{Type: st.typ + "StateExited", State: st.name}, noData{}, out)
	return out, next, nil
}

// scope is the data a state's paths see: the input, the context object and the variables.
func (t *thread) scope(st *state, entered time.Time, retryCount int, input any) dataflow.Scope {
	return dataflow.Scope{Input: input, Context: t.contextObject(st, entered, retryCount), Vars: t.vars, Rand: t.e.rand}
}

// contextObject is $$ for a state.
func (t *thread) contextObject(st *state, entered time.Time, retryCount int) map[string]any {
	return map[string]any{
		"Execution":    t.e.ctxExecution,
		"StateMachine": t.e.ctxMachine,
		"State": map[string]any{
			"Name":        st.name,
			"EnteredTime": formatTime(entered),
			"RetryCount":  float64(retryCount),
		},
	}
}

// formatTime formats a time as Step Functions does in the context object.
func formatTime(t time.Time) string {
	return t.UTC().Format("2006-01-02T15:04:05.000Z")
}

// asError converts an evaluation error to the *Error a state fails with.
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var d *dataflow.Error
	if errors.As(err, &d) {
		return &Error{Name: d.Name, Cause: d.Cause}
	}
	return &Error{Name: ErrorRuntime, Cause: err.Error()}
}

// applyPath applies an InputPath or OutputPath: the default keeps v, null gives {}.
func applyPath(p *optPath, sc dataflow.Scope, v any) (any, error) {
	switch {
	case p == nil:
		return v, nil
	case p.null:
		return map[string]any{}, nil
	}
	sc.Input = v
	out, err := p.path.Lookup(sc)
	if err != nil {
		return nil, asError(err)
	}
	return out, nil
}

// applyResultPath places result in the state's raw input: the default replaces the input, null keeps it.
func applyResultPath(p *optPath, input, result any) (any, error) {
	switch {
	case p == nil:
		return result, nil
	case p.null:
		return input, nil
	}
	out, err := dataflow.Set(input, p.path, result)
	if err != nil {
		return nil, asError(err)
	}
	return out, nil
}

// evalTemplate evaluates a payload template with input as $.
func evalTemplate(t *dataflow.Template, sc dataflow.Scope, input any) (any, error) {
	sc.Input = input
	v, err := t.Eval(sc)
	if err != nil {
		return nil, asError(err)
	}
	return v, nil
}

// assign evaluates the Assign templates with value as $ and the variables of the state's entry, then sets the
// variables.
func (t *thread) assign(sc dataflow.Scope, value any, templates ...*dataflow.Template) error {
	var vals map[string]any
	for _, tpl := range templates {
		if tpl == nil {
			continue
		}
		v, err := evalTemplate(tpl, sc, value)
		if err != nil {
			return err
		}
		m, _ := v.(map[string]any)
		if vals == nil {
			vals = make(map[string]any, len(m))
		}
		for k, x := range m {
			vals[k] = x
		}
	}
	if len(vals) == 0 {
		return nil
	}
	if lim := t.e.limit; lim > 0 {
		if n, _ := jsonSize(vals, lim, nil); n > lim {
			return Errorf(ErrorDataLimitExceeded, "the variables assigned have %d bytes or more, over the limit of %d", n, lim)
		}
	}
	// A new map, since other threads (Map iterations, Parallel branches) may still read the current one.
	next := make(map[string]any, len(t.vars)+len(vals))
	for k, x := range t.vars {
		next[k] = x
	}
	for k, x := range vals {
		next[k] = x
	}
	t.vars = next
	return nil
}

// checkSize fails with States.DataLimitExceeded when v is over the payload limit.
func (t *thread) checkSize(st *state, what string, v any) error {
	lim := t.e.limit
	if lim <= 0 {
		return nil
	}
	if n, _ := jsonSize(v, lim, t.sizeCache()); n > lim {
		return Errorf(ErrorDataLimitExceeded, "The state/task '%s' %s with a size exceeding the maximum number of bytes service limit (%d bytes).", st.name, what, lim)
	}
	return nil
}

// inputOutput is the data flow of a state without a result (Succeed): InputPath, then OutputPath.
func (t *thread) inputOutput(st *state, sc dataflow.Scope) (any, error) {
	eff, err := applyPath(st.inputPath, sc, sc.Input)
	if err != nil {
		return nil, err
	}
	return applyPath(st.outputPath, sc, eff)
}

// pass runs a Pass state: its result is Result, or Parameters, or its effective input.
func (t *thread) pass(st *state, sc dataflow.Scope, input any) (any, error) {
	eff, err := applyPath(st.inputPath, sc, input)
	if err != nil {
		return nil, err
	}
	res := eff
	switch {
	case st.hasResult:
		res = st.result
	case st.parameters != nil:
		if res, err = evalTemplate(st.parameters, sc, eff); err != nil {
			return nil, err
		}
	}
	return t.finish(st, sc, input, res)
}

// choice runs a Choice state: the first rule that matches gives the next state, else Default.
func (t *thread) choice(st *state, sc dataflow.Scope) (any, string, error) {
	eff, err := applyPath(st.inputPath, sc, sc.Input)
	if err != nil {
		return nil, "", err
	}
	rsc := sc
	rsc.Input = eff
	next := st.def
	var ruleAssign *dataflow.Template
	matched := false
	for _, r := range st.choices {
		ok, err := r.eval(rsc)
		if err != nil {
			return nil, "", asError(err)
		}
		if ok {
			next, ruleAssign, matched = r.next, r.assign, true
			break
		}
	}
	if !matched && next == "" {
		return nil, "", Errorf(ErrorNoChoiceMatched, "No Choice Rule of state '%s' matched, and it has no Default.", st.name)
	}
	out, err := applyPath(st.outputPath, sc, eff)
	if err != nil {
		return nil, "", err
	}
	if err := t.assign(sc, eff, st.assign, ruleAssign); err != nil {
		return nil, "", err
	}
	return out, next, nil
}

// wait runs a Wait state on the execution's clock.
func (t *thread) wait(ctx context.Context, st *state, sc dataflow.Scope) (any, error) {
	eff, err := applyPath(st.inputPath, sc, sc.Input)
	if err != nil {
		return nil, err
	}
	var d time.Duration
	switch st.wait {
	case waitSeconds:
		d = time.Duration(st.waitSeconds) * time.Second
	case waitTimestamp:
		d = st.waitTimestamp.Sub(t.e.clock.Now())
	case waitSecondsPath, waitTimestampPath:
		psc := sc
		psc.Input = eff
		v, err := st.waitPath.Lookup(psc)
		if err != nil {
			return nil, asError(err)
		}
		if st.wait == waitSecondsPath {
			f, ok := dataflow.Scalar(v).(float64)
			if !ok || f < 0 || f != math.Trunc(f) || f > maxSeconds {
				return nil, Errorf(ErrorRuntime, "The SecondsPath parameter of state '%s' does not reference a valid non-negative integer: %v", st.name, v)
			}
			d = time.Duration(f) * time.Second
		} else {
			s, ok := dataflow.Scalar(v).(string)
			ts, perr := parseTimestamp(s)
			if !ok || perr != nil {
				return nil, Errorf(ErrorRuntime, "The TimestampPath parameter of state '%s' does not reference a valid ISO-8601 timestamp: %v", st.name, v)
			}
			d = ts.Sub(t.e.clock.Now())
		}
	}
	if d > 0 {
		if err := t.e.clock.Sleep(ctx, d); err != nil || ctx.Err() != nil {
			return nil, errStop
		}
	}
	out, err := applyPath(st.outputPath, sc, eff)
	if err != nil {
		return nil, err
	}
	if err := t.assign(sc, eff, st.assign); err != nil {
		return nil, err
	}
	return out, nil
}

// fail runs a Fail state: its error and cause, from its fields or paths over its raw input.
func (t *thread) fail(st *state, sc dataflow.Scope) error {
	name, cause := st.failError, st.failCause
	str := func(x *valueExpr, field string) (string, error) {
		v, err := x.eval(sc)
		if err != nil {
			return "", asError(err)
		}
		s, ok := dataflow.Scalar(v).(string)
		if !ok {
			return "", Errorf(ErrorRuntime, "The %s of state '%s' does not reference a string: %v", field, st.name, v)
		}
		return s, nil
	}
	var err error
	if st.failErrorExpr != nil {
		if name, err = str(st.failErrorExpr, "ErrorPath"); err != nil {
			return err
		}
	}
	if st.failCauseExpr != nil {
		if cause, err = str(st.failCauseExpr, "CausePath"); err != nil {
			return err
		}
	}
	return &Error{Name: name, Cause: cause}
}

// newUUID returns a random (version 4) UUID from the random source.
func newUUID(rnd func() uint64) string {
	var b [16]byte
	hi, lo := rnd(), rnd()
	for i := 0; i < 8; i++ {
		b[i] = byte(hi >> (56 - 8*i))
		b[8+i] = byte(lo >> (56 - 8*i))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
