package asl

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"

	"github.com/serverless-data-platform/sdp/workflow/asl/internal/dataflow"
)

// firstFailure keeps the first failure of concurrent branches or iterations.
type firstFailure struct {
	mu  sync.Mutex
	err error
}

// set keeps err if it is the first failure.
func (f *firstFailure) set(err error) {
	f.mu.Lock()
	if f.err == nil {
		f.err = err
	}
	f.mu.Unlock()
}

// get returns the first failure, or nil.
func (f *firstFailure) get() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// parallel runs the branches of a Parallel state at once, each with the same input; its result is the array
// of their outputs. The first branch that fails stops the others and fails the state with its error.
func (t *thread) parallel(ctx context.Context, st *state, input any) (any, error) {
	started := t.emit(HistoryEvent{Type: EventParallelStateStarted, State: st.name}, noData{}, noData{})
	bctx, cancel := context.WithCancel(ctx)
	defer cancel()
	results := make([]any, len(st.branches))
	var failure firstFailure
	var wg sync.WaitGroup
	for i, b := range st.branches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, err := t.child(started).run(bctx, b, input)
			if err != nil {
				if !errors.Is(err, errStop) {
					failure.set(err)
					cancel()
				}
				return
			}
			results[i] = out
		}()
	}
	wg.Wait()
	if err := failure.get(); err != nil {
		fe := asError(err)
		t.emit(HistoryEvent{Type: EventParallelStateFailed, State: st.name, Error: fe.Name, Cause: fe.Cause}, noData{}, noData{})
		return nil, fe
	}
	if ctx.Err() != nil {
		t.emit(HistoryEvent{Type: EventParallelStateAborted, State: st.name}, noData{}, noData{})
		return nil, errStop
	}
	t.emit(HistoryEvent{Type: EventParallelStateSucceeded, State: st.name}, noData{}, noData{})
	return results, nil
}

// mapState runs the iterations of an inline Map state over the array at ItemsPath, MaxConcurrency at a time
// (at most MaxInlineConcurrency); its result is the array of the iterations' outputs, in item order. Without a
// tolerated failure threshold the first iteration that fails stops the others and fails the state with its
// error; with one, failed iterations count against it (their output is their error output) and the state
// fails with States.ExceedToleratedFailureThreshold once it is exceeded.
func (t *thread) mapState(ctx context.Context, st *state, sc dataflow.Scope, eff any) (any, error) {
	isc := sc
	isc.Input = eff
	items := eff
	if st.itemsPath != nil {
		v, err := st.itemsPath.Lookup(isc)
		if err != nil {
			return nil, asError(err)
		}
		items = v
	}
	list, ok := dataflow.Resolve(items).([]any)
	if !ok {
		return nil, Errorf(ErrorRuntime, "The items of Map state '%s' are not an array.", st.name)
	}
	maxConc := st.maxConc
	if st.maxConcPath != nil {
		n, err := intAt(st.maxConcPath, isc, st.name, "MaxConcurrencyPath", math.MaxInt32)
		if err != nil {
			return nil, err
		}
		maxConc = n
	}
	tol, err := t.tolerance(st, isc)
	if err != nil {
		return nil, err
	}
	started := t.emit(HistoryEvent{Type: EventMapStateStarted, State: st.name}, noData{}, noData{})

	n := len(list)
	workers := maxConc
	if workers == 0 || workers > MaxInlineConcurrency {
		workers = MaxInlineConcurrency
	}
	workers = min(workers, n)
	results := make([]any, n)
	mctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next    atomic.Int64
		failed  atomic.Int64
		failure firstFailure
	)
	// Workers take the next item index until none is left or the state is stopped (a failure, or the end of the
	// execution); each result goes to its item's slot, so the output keeps the items' order.
	worker := func() {
		for {
			i := int(next.Add(1) - 1)
			if i >= n || mctx.Err() != nil {
				return
			}
			in := list[i]
			if st.itemSelector != nil {
				base, _ := isc.Context.(map[string]any)
				ctxObj := make(map[string]any, len(base)+1)
				for k, v := range base {
					ctxObj[k] = v
				}
				ctxObj["Map"] = map[string]any{"Item": map[string]any{"Index": float64(i), "Value": list[i]}}
				ssc := isc
				ssc.Context = ctxObj
				v, err := evalTemplate(st.itemSelector, ssc, eff)
				if err != nil {
					failure.set(err)
					cancel()
					return
				}
				in = v
			}
			index := i
			c := t.child(started)
			c.emit(HistoryEvent{Type: EventMapIterationStarted, State: st.name, Index: &index}, noData{}, noData{})
			out, err := c.run(mctx, st.processor, in)
			switch {
			case err == nil:
				c.emit(HistoryEvent{Type: EventMapIterationSucceeded, State: st.name, Index: &index}, noData{}, noData{})
				results[i] = out
			case errors.Is(err, errStop):
				c.emit(HistoryEvent{Type: EventMapIterationAborted, State: st.name, Index: &index}, noData{}, noData{})
			default:
				fe := asError(err)
				c.emit(HistoryEvent{Type: EventMapIterationFailed, State: st.name, Index: &index, Error: fe.Name, Cause: fe.Cause}, noData{}, noData{})
				if !tol.set {
					failure.set(fe)
					cancel()
					return
				}
				results[i] = map[string]any{"Error": fe.Name, "Cause": fe.Cause}
				if tol.exceeded(int(failed.Add(1)), n) {
					failure.set(Errorf(ErrorExceedToleratedFailure, "The specified tolerated failure threshold was exceeded: Map state '%s' had %d failed iterations of %d.", st.name, failed.Load(), n))
					cancel()
					return
				}
			}
		}
	}
	// MaxConcurrency 1 runs the iterations in this goroutine, in order.
	if workers <= 1 {
		worker()
	} else {
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				worker()
			}()
		}
		wg.Wait()
	}
	if err := failure.get(); err != nil {
		fe := asError(err)
		t.emit(HistoryEvent{Type: EventMapStateFailed, State: st.name, Error: fe.Name, Cause: fe.Cause}, noData{}, noData{})
		return nil, fe
	}
	if ctx.Err() != nil {
		t.emit(HistoryEvent{Type: EventMapStateAborted, State: st.name}, noData{}, noData{})
		return nil, errStop
	}
	t.emit(HistoryEvent{Type: EventMapStateSucceeded, State: st.name}, noData{}, noData{})
	return results, nil
}

// tolerance is a Map state's tolerated failure threshold.
type tolerance struct {
	set        bool
	count      int
	countSet   bool
	percent    float64
	percentSet bool
}

// exceeded tells whether failed iterations out of n exceed the threshold.
func (tl tolerance) exceeded(failed, n int) bool {
	if tl.countSet && failed > tl.count {
		return true
	}
	return tl.percentSet && float64(failed)*100 > tl.percent*float64(n)
}

// tolerance reads the tolerated failure threshold of a Map state, from its fields or paths.
func (t *thread) tolerance(st *state, sc dataflow.Scope) (tolerance, error) {
	tl := tolerance{set: st.hasItemTolerance, count: st.tolCount, countSet: st.tolCountSet, percent: st.tolPct, percentSet: st.tolPctSet}
	if st.tolCountPath != nil {
		n, err := intAt(st.tolCountPath, sc, st.name, "ToleratedFailureCountPath", math.MaxInt32)
		if err != nil {
			return tl, err
		}
		tl.count, tl.countSet = n, true
	}
	if st.tolPctPath != nil {
		v, err := st.tolPctPath.Lookup(sc)
		if err != nil {
			return tl, asError(err)
		}
		f, ok := dataflow.Scalar(v).(float64)
		if !ok || f < 0 || f > 100 {
			return tl, Errorf(ErrorRuntime, "The ToleratedFailurePercentagePath of state '%s' does not reference a number from 0 to 100: %v", st.name, v)
		}
		tl.percent, tl.percentSet = f, true
	}
	return tl, nil
}

// intAt reads a non-negative integer at a path.
func intAt(p *dataflow.Path, sc dataflow.Scope, stateName, field string, hi int) (int, error) {
	v, err := p.Lookup(sc)
	if err != nil {
		return 0, asError(err)
	}
	f, ok := dataflow.Scalar(v).(float64)
	if !ok || f < 0 || f > float64(hi) || f != math.Trunc(f) {
		return 0, Errorf(ErrorRuntime, "The %s of state '%s' does not reference a non-negative integer: %v", field, stateName, v)
	}
	return int(f), nil
}
