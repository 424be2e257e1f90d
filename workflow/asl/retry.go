package asl

import (
	"context"
	"errors"
	"math"
	"time"

	"github.com/serverless-data-platform/sdp/workflow/asl/internal/dataflow"
)

// withRetry runs a Task, Parallel or Map state: each attempt processes the input and runs the state's work;
// a failed attempt is retried by the first retrier whose ErrorEquals matches the error while that retrier has
// attempts left, then handed to the first matching catcher, else the state fails. Retriers count their
// attempts separately; $$.State.RetryCount counts them all.
func (t *thread) withRetry(ctx context.Context, st *state, entered time.Time, input any) (any, string, error) {
	var counts []int
	if len(st.retry) > 0 {
		counts = make([]int, len(st.retry))
	}
	retryCount := 0
	for {
		sc := t.scope(st, entered, retryCount, input)
		res, err := t.attempt(ctx, st, sc, input, retryCount)
		var out any
		if err == nil {
			out, err = t.finish(st, sc, input, res)
			if err == nil {
				t.emit(HistoryEvent{Type: st.typ + "StateExited", State: st.name}, noData{}, out)
				return out, st.next, nil
			}
		}
		if errors.Is(err, errStop) || ctx.Err() != nil {
			return nil, "", errStop
		}
		// A failed attempt: a retrier may run it again after its delay, else a catcher may take the error.
		fe := asError(err)
		if d, ok := t.retryDelay(st, counts, fe.Name); ok {
			retryCount++
			if err := t.e.clock.Sleep(ctx, d); err != nil || ctx.Err() != nil {
				return nil, "", errStop
			}
			continue
		}
		return t.catch(st, sc, input, fe)
	}
}

// retryDelay finds the retrier of an error and returns the wait before the next attempt, or false when the
// error is not retried (no retrier matches, or the first that matches has no attempts left).
func (t *thread) retryDelay(st *state, counts []int, name string) (time.Duration, bool) {
	for i, r := range st.retry {
		if !matchError(r.errorEquals, name) {
			continue
		}
		if counts[i] >= r.maxAttempts {
			return 0, false
		}
		// IntervalSeconds × BackoffRate^(attempts so far), capped by MaxDelaySeconds.
		secs := r.interval.Seconds() * math.Pow(r.backoff, float64(counts[i]))
		counts[i]++
		if secs > maxSeconds {
			secs = maxSeconds
		}
		d := time.Duration(secs * float64(time.Second))
		if r.maxDelay > 0 && d > r.maxDelay {
			d = r.maxDelay
		}
		if r.jitter {
			// FULL jitter: a uniformly random wait between 0 and the computed one.
			d = time.Duration(float64(d) * float64(t.e.rand()>>11) / (1 << 53))
		}
		return d, true
	}
	return 0, false
}

// attempt is one attempt of a Task, Parallel or Map state: InputPath, Parameters, the work, ResultSelector.
// It returns the state's result.
func (t *thread) attempt(ctx context.Context, st *state, sc dataflow.Scope, input any, retryCount int) (any, error) {
	eff, err := applyPath(st.inputPath, sc, input)
	if err != nil {
		return nil, err
	}
	params := eff
	if st.parameters != nil {
		if params, err = evalTemplate(st.parameters, sc, eff); err != nil {
			return nil, err
		}
	}
	var res any
	switch st.kind {
	case kindTask:
		res, err = t.task(ctx, st, sc, eff, params, retryCount)
	case kindParallel:
		res, err = t.parallel(ctx, st, params)
	case kindMap:
		res, err = t.mapState(ctx, st, sc, eff)
	}
	if err != nil {
		return nil, err
	}
	if st.resultSelector != nil {
		if res, err = evalTemplate(st.resultSelector, sc, res); err != nil {
			return nil, err
		}
	}
	return res, nil
}

// finish is the output processing of a state's result: ResultPath, OutputPath, Assign and the size check.
func (t *thread) finish(st *state, sc dataflow.Scope, input, res any) (any, error) {
	out, err := applyResultPath(st.resultPath, input, res)
	if err != nil {
		return nil, err
	}
	if out, err = applyPath(st.outputPath, sc, out); err != nil {
		return nil, err
	}
	if err := t.assign(sc, res, st.assign); err != nil {
		return nil, err
	}
	if err := t.checkSize(st, "returned a result", out); err != nil {
		return nil, err
	}
	return out, nil
}

// catch hands an error to the first catcher that matches it: the error output {"Error", "Cause"} is placed in
// the state's input at the catcher's ResultPath (by default it replaces it) and the execution goes on at the
// catcher's Next. Without a matching catcher the state fails with the error.
func (t *thread) catch(st *state, sc dataflow.Scope, input any, fe *Error) (any, string, error) {
	for _, c := range st.catch {
		if !matchError(c.errorEquals, fe.Name) {
			continue
		}
		errOut := map[string]any{"Error": fe.Name, "Cause": fe.Cause}
		out, err := applyResultPath(c.resultPath, input, errOut)
		if err != nil {
			return nil, "", err
		}
		if err := t.assign(sc, errOut, c.assign); err != nil {
			return nil, "", err
		}
		if err := t.checkSize(st, "returned an error output", out); err != nil {
			return nil, "", err
		}
		t.emit(HistoryEvent{Type: st.typ + "StateExited", State: st.name}, noData{}, out)
		return out, c.next, nil
	}
	return nil, "", fe
}
