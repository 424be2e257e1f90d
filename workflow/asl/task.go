package asl

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	json "github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/workflow/asl/internal/dataflow"
)

// taskEvents are the event types of a task, by kind of resource: plain Lambda ARNs have LambdaFunction*
// events, service integrations (lambda:invoke included) Task* events.
type taskEvents struct {
	scheduled, started, succeeded, failed, timedOut string
}

var (
	serviceEvents = taskEvents{EventTaskScheduled, EventTaskStarted, EventTaskSucceeded, EventTaskFailed, EventTaskTimedOut}
	lambdaEvents  = taskEvents{EventLambdaFunctionScheduled, EventLambdaFunctionStarted, EventLambdaFunctionSucceeded,
		EventLambdaFunctionFailed, EventLambdaFunctionTimedOut}
)

// task runs a Task state's resource with the effective parameters, within the task's timeout.
func (t *thread) task(ctx context.Context, st *state, sc dataflow.Scope, eff, params any, retryCount int) (any, error) {
	timeout := st.timeout
	if st.timeoutPath != nil {
		psc := sc
		psc.Input = eff
		v, err := st.timeoutPath.Lookup(psc)
		if err != nil {
			return nil, asError(err)
		}
		f, ok := dataflow.Scalar(v).(float64)
		if !ok || f < 1 || f > maxSeconds || f != math.Trunc(f) {
			return nil, Errorf(ErrorRuntime, "The TimeoutSecondsPath of state '%s' does not reference a positive integer: %v", st.name, v)
		}
		timeout = time.Duration(f) * time.Second
	}
	ev := serviceEvents
	if st.resKind == resourceLambdaARN {
		ev = lambdaEvents
	}
	t.emit(HistoryEvent{Type: ev.scheduled, State: st.name, Resource: st.resource, RetryCount: retryCount}, params, noData{})
	t.emit(HistoryEvent{Type: ev.started, State: st.name, Resource: st.resource, RetryCount: retryCount}, noData{}, noData{})
	res, err := t.invoke(ctx, st, params, timeout)
	switch {
	case err == nil:
		t.emit(HistoryEvent{Type: ev.succeeded, State: st.name, Resource: st.resource, RetryCount: retryCount}, noData{}, res)
		return res, nil
	case errors.Is(err, errStop):
		return nil, err
	}
	fe := asError(err)
	typ := ev.failed
	if fe.Name == ErrorTimeout {
		typ = ev.timedOut
	}
	t.emit(HistoryEvent{Type: typ, State: st.name, Resource: st.resource, Error: fe.Name, Cause: fe.Cause, RetryCount: retryCount}, noData{}, noData{})
	return nil, fe
}

// invoke calls the resource and waits for it, for the timeout if any, or until ctx ends; a resource that does
// not return when its context ends is left behind rather than waited for.
func (t *thread) invoke(ctx context.Context, st *state, params any, timeout time.Duration) (any, error) {
	tctx, cancel := ctx, context.CancelFunc(func() {})
	if timeout > 0 {
		tctx, cancel = t.e.withTimeout(ctx, timeout, errTaskTimeout)
	}
	defer cancel()
	type result struct {
		v   any
		err error
	}
	// The call runs in its own goroutine so that the timeout and the end of the execution are honoured even by
	// a resource that ignores its context; the buffered channel lets an abandoned call finish without blocking.
	done := make(chan result, 1)
	go func() {
		v, err := t.call(tctx, st, params)
		done <- result{v, err}
	}()
	timedOut := func() error {
		return Errorf(ErrorTimeout, "The task of state '%s' timed out after %s.", st.name, timeout)
	}
	select {
	case r := <-done:
		if r.err != nil && ctx.Err() != nil {
			return nil, errStop
		}
		if r.err != nil && errors.Is(context.Cause(tctx), errTaskTimeout) {
			return nil, timedOut()
		}
		return r.v, r.err
	case <-tctx.Done():
		if ctx.Err() != nil {
			return nil, errStop
		}
		return nil, timedOut()
	}
}

// call runs the resource once.
func (t *thread) call(ctx context.Context, st *state, params any) (any, error) {
	switch st.resKind {
	case resourceHandler:
		// Handlers are given decoded JSON: the raw parts of the parameters are decoded whole.
		v, err := st.handler.Invoke(ctx, dataflow.ResolveAll(params))
		if err != nil {
			return nil, taskError(err, ErrorTaskFailed)
		}
		n, ok := jsonSize(v, t.e.limit, nil)
		if !ok {
			if v, err = normalize(v); err != nil {
				return nil, Errorf(ErrorRuntime, "the result of the task of state '%s' is not JSON: %v", st.name, err)
			}
			n, _ = jsonSize(v, t.e.limit, nil)
		}
		if t.e.limit > 0 && n > t.e.limit {
			return nil, t.tooLarge(st)
		}
		return v, nil
	case resourceLambdaARN:
		payload, err := marshal(params)
		if err != nil {
			return nil, Errorf(ErrorRuntime, "the input of the task of state '%s' cannot be encoded: %v", st.name, err)
		}
		raw, err := t.e.m.opts.lambda.Invoke(ctx, st.resource, payload)
		if err != nil {
			return nil, lambdaError(err)
		}
		if t.e.limit > 0 && len(raw) > t.e.limit {
			return nil, t.tooLarge(st)
		}
		return decodePayload(raw), nil
	case resourceLambdaInvoke:
		return t.lambdaInvoke(ctx, st, params)
	}
	return nil, Errorf(ErrorRuntime, "state '%s' has no resource", st.name)
}

// tooLarge is the error of a task result over the payload limit.
func (t *thread) tooLarge(st *state) *Error {
	return Errorf(ErrorDataLimitExceeded, "The state/task '%s' returned a result with a size exceeding the maximum number of bytes service limit (%d bytes).", st.name, t.e.limit)
}

// lambdaInvoke runs arn:aws:states:::lambda:invoke: its parameters name the function and hold the payload; its
// result wraps the function's payload as the Lambda Invoke API answers.
func (t *thread) lambdaInvoke(ctx context.Context, st *state, params any) (any, error) {
	p, _ := dataflow.Resolve(params).(map[string]any)
	fn, ok := dataflow.Scalar(p["FunctionName"]).(string)
	if !ok || fn == "" {
		return nil, Errorf(ErrorRuntime, "The FunctionName parameter of state '%s' must be a non-empty string.", st.name)
	}
	version := "$LATEST"
	if q, ok := p["Qualifier"]; ok {
		qs, ok := dataflow.Scalar(q).(string)
		if !ok || qs == "" {
			return nil, Errorf(ErrorRuntime, "The Qualifier parameter of state '%s' must be a non-empty string.", st.name)
		}
		fn += ":" + qs
		if _, err := strconv.Atoi(qs); err == nil {
			version = qs
		}
	}
	if it, ok := p["InvocationType"]; ok && dataflow.Scalar(it) != "RequestResponse" {
		return nil, Errorf(ErrorRuntime, "The InvocationType of state '%s' must be RequestResponse.", st.name)
	}
	payload := []byte("{}")
	if v, ok := p["Payload"]; ok {
		var err error
		if payload, err = marshal(v); err != nil {
			return nil, Errorf(ErrorRuntime, "the payload of state '%s' cannot be encoded: %v", st.name, err)
		}
	}
	raw, err := t.e.m.opts.lambda.Invoke(ctx, fn, payload)
	if err != nil {
		return nil, lambdaError(err)
	}
	// The result is the Invoke API's answer as the AWS SDK for Java models it, which is what Step Functions
	// returns: the status, the executed version, the HTTP metadata and the decoded payload.
	reqID := newUUID(t.e.rand)
	date := t.e.clock.Now().UTC().Format(http.TimeFormat)
	length := strconv.Itoa(len(raw))
	headers := map[string]any{
		"Connection":                     "keep-alive",
		"Content-Length":                 length,
		"Content-Type":                   "application/json",
		"Date":                           date,
		"X-Amz-Executed-Version":         version,
		"x-amzn-Remapped-Content-Length": "0",
		"x-amzn-RequestId":               reqID,
	}
	all := make(map[string]any, len(headers))
	for k, v := range headers {
		all[k] = []any{v}
	}
	res := map[string]any{
		"ExecutedVersion": version,
		"Payload":         nil,
		"SdkHttpMetadata": map[string]any{
			"AllHttpHeaders": all,
			"HttpHeaders":    headers,
			"HttpStatusCode": float64(200),
		},
		"SdkResponseMetadata": map[string]any{"RequestId": reqID},
		"StatusCode":          float64(200),
	}
	if lim := t.e.limit; lim > 0 {
		overhead, _ := jsonSize(res, 0, nil)
		if overhead-4+len(raw) > lim {
			return nil, t.tooLarge(st)
		}
	}
	res["Payload"] = decodePayload(raw)
	return res, nil
}

// decodePayload decodes a function's result: JSON, else the bytes as a string. JSON is kept raw (see
// dataflow.Raw): only what the states look into is decoded, and what they pass on is sent as it came. Text the
// raw form does not take (invalid UTF-8, numbers out of range) is decoded at once, as the decoder does it.
func decodePayload(raw []byte) any {
	if len(raw) == 0 {
		return nil
	}
	if r, ok := dataflow.NewRaw(raw); ok {
		return r
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return string(raw)
	}
	return v
}

// lambdaError is the error a Task fails with when the Lambda port returns err: a function error is named by
// its type, with the function's error payload as cause.
func lambdaError(err error) error {
	var fe *FunctionError
	if errors.As(err, &fe) {
		name := fe.Type
		if name == "" {
			name = ErrorLambdaUnknown
		}
		cause, _ := json.Append(nil, map[string]any{"errorMessage": fe.Message, "errorType": fe.Type}, json.SortMapKeys)
		return &Error{Name: name, Cause: string(cause)}
	}
	return taskError(err, ErrorLambdaServiceException)
}

// taskError keeps the name of an *Error and names any other error def.
func taskError(err error, def string) error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Name: def, Cause: fmt.Sprint(err)}
}
