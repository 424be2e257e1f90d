package asl_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/serverless-data-platform/sdp/workflow/asl"
)

// failing returns a handler that fails with the names in order, then succeeds with {"ok":true}; it records
// the parameters of each call.
type failing struct {
	mu     sync.Mutex
	names  []string
	params []any
}

func (f *failing) Invoke(_ context.Context, params any) (any, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.params = append(f.params, params)
	if len(f.names) == 0 {
		return map[string]any{"ok": true}, nil
	}
	name := f.names[0]
	f.names = f.names[1:]
	return nil, &asl.Error{Name: name, Cause: "attempt failed"}
}

func (f *failing) calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.params)
}

func secs(s ...float64) []time.Duration {
	out := make([]time.Duration, len(s))
	for i, v := range s {
		out[i] = time.Duration(v * float64(time.Second))
	}
	return out
}

func TestRetry(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name   string
		retry  string
		fails  []string
		rand   func() uint64
		sleeps []time.Duration
		calls  int
		status asl.Status
		err    string
	}{
		{
			name:   "defaults: 1s interval, 3 attempts, backoff 2",
			retry:  `[{"ErrorEquals":["States.ALL"]}]`,
			fails:  []string{"E", "E", "E", "E", "E"},
			sleeps: secs(1, 2, 4),
			calls:  4,
			status: asl.StatusFailed,
			err:    "E",
		},
		{
			name:   "interval, backoff and MaxDelaySeconds",
			retry:  `[{"ErrorEquals":["E"],"IntervalSeconds":2,"MaxAttempts":4,"BackoffRate":3,"MaxDelaySeconds":30}]`,
			fails:  []string{"E", "E", "E", "E", "E"},
			sleeps: secs(2, 6, 18, 30),
			calls:  5,
			status: asl.StatusFailed,
			err:    "E",
		},
		{
			name:   "fractional backoff",
			retry:  `[{"ErrorEquals":["E"],"IntervalSeconds":1,"MaxAttempts":2,"BackoffRate":1.5}]`,
			fails:  []string{"E", "E"},
			sleeps: secs(1, 1.5),
			calls:  3,
			status: asl.StatusSucceeded,
		},
		{
			name:   "FULL jitter scales the wait by the random fraction",
			retry:  `[{"ErrorEquals":["E"],"IntervalSeconds":4,"MaxAttempts":2,"JitterStrategy":"FULL"}]`,
			fails:  []string{"E", "E", "E"},
			rand:   func() uint64 { return 1 << 63 },
			sleeps: secs(2, 4),
			calls:  3,
			status: asl.StatusFailed,
			err:    "E",
		},
		{
			name:   "MaxAttempts 0 never retries",
			retry:  `[{"ErrorEquals":["E"],"MaxAttempts":0},{"ErrorEquals":["States.ALL"]}]`,
			fails:  []string{"E"},
			calls:  1,
			status: asl.StatusFailed,
			err:    "E",
		},
		{
			name:   "an error no retrier names is not retried",
			retry:  `[{"ErrorEquals":["Other"]}]`,
			fails:  []string{"E"},
			calls:  1,
			status: asl.StatusFailed,
			err:    "E",
		},
		{
			name:   "each retrier counts its own attempts",
			retry:  `[{"ErrorEquals":["A"],"MaxAttempts":2,"BackoffRate":1},{"ErrorEquals":["B"],"IntervalSeconds":10,"MaxAttempts":2,"BackoffRate":1}]`,
			fails:  []string{"A", "B", "A", "B", "A"},
			sleeps: secs(1, 10, 1, 10),
			calls:  5,
			status: asl.StatusFailed,
			err:    "A",
		},
		{
			name:   "a retried task that succeeds",
			retry:  `[{"ErrorEquals":["States.TaskFailed"],"IntervalSeconds":3}]`,
			fails:  []string{"X", "Y"},
			sleeps: secs(3, 6),
			calls:  3,
			status: asl.StatusSucceeded,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			clock := newStepClock()
			f := &failing{names: tc.fails}
			rnd := tc.rand
			if rnd == nil {
				rnd = seqRand()
			}
			def := `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::test:flaky",
				"Parameters":{"rc.$":"$$.State.RetryCount"},"Retry":` + tc.retry + `,"End":true}}}`
			m := parseMachine(t, def, asl.WithClock(clock), asl.WithRand(rnd), asl.WithTask("arn:aws:states:::test:flaky", f))
			res := execMachine(t, m, `{}`)
			if res.Status != tc.status || res.Error != tc.err {
				t.Errorf("status %s error %q, want %s %q", res.Status, res.Error, tc.status, tc.err)
			}
			if got := clock.Sleeps(); !slices.Equal(got, tc.sleeps) {
				t.Errorf("sleeps %v, want %v", got, tc.sleeps)
			}
			if f.calls() != tc.calls {
				t.Errorf("%d calls, want %d", f.calls(), tc.calls)
			}
			for i, p := range f.params {
				if rc := p.(map[string]any)["rc"]; rc != float64(i) {
					t.Errorf("call %d: $$.State.RetryCount %v, want %d", i, rc, i)
				}
			}
		})
	}
}

// blocking returns a handler that reports its start and returns only when its context ends.
func blocking(started chan<- struct{}) asl.TaskHandler {
	return asl.TaskFunc(func(ctx context.Context, _ any) (any, error) {
		if started != nil {
			started <- struct{}{}
		}
		<-ctx.Done()
		return nil, ctx.Err()
	})
}

func TestTimeouts(t *testing.T) {
	t.Parallel()
	t.Run("task timeout is States.Timeout, retried and caught", func(t *testing.T) {
		t.Parallel()
		clock := newStepClock()
		log := &eventLog{}
		def := `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::test:block","TimeoutSeconds":3,"End":true,
			"Retry":[{"ErrorEquals":["States.Timeout"],"MaxAttempts":1}],
			"Catch":[{"ErrorEquals":["States.TaskFailed"],"Next":"Wrong"},{"ErrorEquals":["States.Timeout"],"Next":"Caught"}]},
			"Wrong":{"Type":"Fail","Error":"Wrong"},"Caught":{"Type":"Pass","End":true}}}`
		m := parseMachine(t, def, asl.WithClock(clock), asl.WithTask("arn:aws:states:::test:block", blocking(nil)))
		res := execMachine(t, m, `{}`, asl.WithObserver(log))
		if res.Status != asl.StatusSucceeded || !jsonEqual(t, res.Output, `{"Error":"States.Timeout","Cause":"The task of state 'T' timed out after 3s."}`) {
			t.Fatalf("status %s output %s (%s: %s)", res.Status, res.Output, res.Error, res.Cause)
		}
		if got, want := clock.Sleeps(), secs(3, 1, 3); !slices.Equal(got, want) {
			t.Errorf("sleeps %v, want %v", got, want)
		}
		if n := strings.Count(strings.Join(log.types(), ","), asl.EventTaskTimedOut); n != 2 {
			t.Errorf("%d TaskTimedOut events, want 2: %v", n, log.types())
		}
	})
	t.Run("TimeoutSecondsPath", func(t *testing.T) {
		t.Parallel()
		clock := newStepClock()
		def := `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::test:block","TimeoutSecondsPath":"$.t","End":true}}}`
		m := parseMachine(t, def, asl.WithClock(clock), asl.WithTask("arn:aws:states:::test:block", blocking(nil)))
		res := execMachine(t, m, `{"t":42}`)
		if res.Status != asl.StatusFailed || res.Error != asl.ErrorTimeout {
			t.Fatalf("status %s error %q, want FAILED States.Timeout", res.Status, res.Error)
		}
		if got, want := clock.Sleeps(), secs(42); !slices.Equal(got, want) {
			t.Errorf("sleeps %v, want %v", got, want)
		}
	})
	t.Run("machine timeout ends the execution as TIMED_OUT", func(t *testing.T) {
		t.Parallel()
		log := &eventLog{}
		def := `{"StartAt":"T","TimeoutSeconds":10,"States":{"T":{"Type":"Task","Resource":"arn:aws:states:::test:block","End":true,
			"Catch":[{"ErrorEquals":["States.ALL"],"Next":"C"}]},"C":{"Type":"Succeed"}}}`
		m := parseMachine(t, def, asl.WithClock(newStepClock()), asl.WithTask("arn:aws:states:::test:block", blocking(nil)))
		res := execMachine(t, m, `{}`, asl.WithObserver(log))
		if res.Status != asl.StatusTimedOut || res.Error != asl.ErrorTimeout {
			t.Fatalf("status %s error %q, want TIMED_OUT States.Timeout", res.Status, res.Error)
		}
		if types := log.types(); types[len(types)-1] != asl.EventExecutionTimedOut {
			t.Errorf("last event %s, want ExecutionTimedOut", types[len(types)-1])
		}
	})
	t.Run("a handler that ignores its context does not hang the execution", func(t *testing.T) {
		t.Parallel()
		release := make(chan struct{})
		defer close(release)
		stuck := asl.TaskFunc(func(context.Context, any) (any, error) {
			<-release
			return nil, nil
		})
		def := `{"StartAt":"T","TimeoutSeconds":5,"States":{"T":{"Type":"Task","Resource":"arn:aws:states:::test:stuck","End":true}}}`
		m := parseMachine(t, def, asl.WithClock(newStepClock()), asl.WithTask("arn:aws:states:::test:stuck", stuck))
		if res := execMachine(t, m, `{}`); res.Status != asl.StatusTimedOut {
			t.Fatalf("status %s, want TIMED_OUT", res.Status)
		}
	})
}

func TestAbort(t *testing.T) {
	t.Parallel()
	started := make(chan struct{}, 1)
	log := &eventLog{}
	def := `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::test:block","End":true,
		"Retry":[{"ErrorEquals":["States.ALL"]}],"Catch":[{"ErrorEquals":["States.ALL"],"Next":"C"}]},"C":{"Type":"Succeed"}}}`
	m := parseMachine(t, def, asl.WithTask("arn:aws:states:::test:block", blocking(started)))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan *asl.Result, 1)
	go func() {
		res, err := m.Execute(ctx, []byte(`{}`), asl.WithObserver(log))
		if err != nil {
			t.Error(err)
		}
		done <- res
	}()
	<-started
	cancel()
	select {
	case res := <-done:
		if res.Status != asl.StatusAborted {
			t.Errorf("status %s (%s), want ABORTED", res.Status, res.Error)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the execution did not stop")
	}
	if types := log.types(); types[len(types)-1] != asl.EventExecutionAborted {
		t.Errorf("events %v, want ExecutionAborted last", types)
	}
}

func TestParallelFailureStopsOtherBranches(t *testing.T) {
	t.Parallel()
	started, stopped := make(chan struct{}), make(chan struct{})
	waiter := asl.TaskFunc(func(ctx context.Context, _ any) (any, error) {
		close(started)
		<-ctx.Done()
		close(stopped)
		return nil, ctx.Err()
	})
	failer := asl.TaskFunc(func(context.Context, any) (any, error) {
		<-started
		return nil, &asl.Error{Name: "Branch.Error", Cause: "second"}
	})
	def := `{"StartAt":"P","States":{"P":{"Type":"Parallel","End":true,"Branches":[
		{"StartAt":"W","States":{"W":{"Type":"Task","Resource":"arn:aws:states:::test:wait","End":true}}},
		{"StartAt":"F","States":{"F":{"Type":"Task","Resource":"arn:aws:states:::test:fail","End":true}}}]}}}`
	log := &eventLog{}
	m := parseMachine(t, def, asl.WithTask("arn:aws:states:::test:wait", waiter), asl.WithTask("arn:aws:states:::test:fail", failer))
	res := execMachine(t, m, `{}`, asl.WithObserver(log))
	if res.Status != asl.StatusFailed || res.Error != "Branch.Error" || res.Cause != "second" {
		t.Fatalf("status %s %q %q, want FAILED Branch.Error", res.Status, res.Error, res.Cause)
	}
	<-stopped
	if !slices.Contains(log.types(), asl.EventParallelStateFailed) {
		t.Errorf("no ParallelStateFailed in %v", log.types())
	}
}

// barrier returns a handler that lets calls through n at a time: each call waits for n-1 others, so more than
// n calls at once or fewer than n never released both show. It records the most calls seen at once.
func barrier(n int) (asl.TaskHandler, func() int) {
	var mu sync.Mutex
	inflight, most, arrived := 0, 0, 0
	gate := make(chan struct{})
	h := asl.TaskFunc(func(ctx context.Context, p any) (any, error) {
		mu.Lock()
		inflight++
		most = max(most, inflight)
		arrived++
		g := gate
		if arrived == n {
			arrived = 0
			close(gate)
			gate = make(chan struct{})
		}
		mu.Unlock()
		select {
		case <-g:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		mu.Lock()
		inflight--
		mu.Unlock()
		return p, nil
	})
	return h, func() int { mu.Lock(); defer mu.Unlock(); return most }
}

func TestMapConcurrency(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		maxConc  string
		items    int
		parallel int
	}{
		{"MaxConcurrency 2", `"MaxConcurrency":2`, 8, 2},
		{"MaxConcurrencyPath 3", `"MaxConcurrencyPath":"$.c"`, 9, 3},
		{"unbounded is at most 40", `"MaxConcurrency":0`, 80, asl.MaxInlineConcurrency},
		{"over 40 is 40", `"MaxConcurrency":100`, 40, asl.MaxInlineConcurrency},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h, most := barrier(tc.parallel)
			def := `{"StartAt":"M","States":{"M":{"Type":"Map","ItemsPath":"$.items",` + tc.maxConc + `,"End":true,
				"ItemProcessor":{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::test:b","End":true}}}}}}`
			m := parseMachine(t, def, asl.WithTask("arn:aws:states:::test:b", h))
			items := make([]int, tc.items)
			want := make([]int, tc.items)
			for i := range items {
				items[i], want[i] = i, i
			}
			in, _ := json.Marshal(map[string]any{"items": items, "c": 3})
			res := execMachine(t, m, string(in))
			if res.Status != asl.StatusSucceeded {
				t.Fatalf("status %s (%s: %s)", res.Status, res.Error, res.Cause)
			}
			var got []int
			if err := json.Unmarshal(res.Output, &got); err != nil || !slices.Equal(got, want) {
				t.Errorf("output %s, want the items in order", res.Output)
			}
			if most() != tc.parallel {
				t.Errorf("%d iterations at once, want %d", most(), tc.parallel)
			}
		})
	}
	t.Run("MaxConcurrency 1 runs the items in order", func(t *testing.T) {
		t.Parallel()
		var mu sync.Mutex
		var order []any
		h := taskOf(func(p any) (any, error) {
			mu.Lock()
			defer mu.Unlock()
			order = append(order, p)
			return p, nil
		})
		def := `{"StartAt":"M","States":{"M":{"Type":"Map","MaxConcurrency":1,"End":true,
			"ItemProcessor":{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::test:h","End":true}}}}}}`
		res := execMachine(t, parseMachine(t, def, asl.WithTask("arn:aws:states:::test:h", h)), `[0,1,2,3,4]`)
		if res.Status != asl.StatusSucceeded || !reflect.DeepEqual(order, []any{0.0, 1.0, 2.0, 3.0, 4.0}) {
			t.Errorf("status %s order %v", res.Status, order)
		}
	})
}

func TestContextObject(t *testing.T) {
	t.Parallel()
	def := `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::test:flaky","Retry":[{"ErrorEquals":["E"]}],
		"Parameters":{"ctx.$":"$$"},"Next":"P"},"P":{"Type":"Pass","Parameters":{"ctx.$":"$$","prev.$":"$.params"},"End":true}}}`
	flaky := &failing{names: []string{"E"}}
	rec := asl.TaskFunc(func(ctx context.Context, p any) (any, error) {
		if _, err := flaky.Invoke(ctx, p); err != nil {
			return nil, err
		}
		return map[string]any{"params": p}, nil
	})
	m := parseMachine(t, def, asl.WithClock(newStepClock()), asl.WithTask("arn:aws:states:::test:flaky", rec),
		asl.WithStateMachineARN("arn:aws:states:eu-west-1:111122223333:stateMachine:orders"))
	res := execMachine(t, m, `{"order":7}`, asl.WithExecutionName("run-1"))
	if res.Status != asl.StatusSucceeded {
		t.Fatalf("status %s (%s: %s)", res.Status, res.Error, res.Cause)
	}
	if !strings.HasPrefix(res.ExecutionARN, "arn:aws:states:eu-west-1:111122223333:express:orders:run-1:") || res.Name != "run-1" {
		t.Errorf("ARN %q name %q", res.ExecutionARN, res.Name)
	}
	execution := fmt.Sprintf(`{"Id":%q,"Name":"run-1","Input":{"order":7},"StartTime":"2025-03-04T05:06:07.008Z",
		"RoleArn":"arn:aws:iam::111122223333:role/StepFunctions-orders-role","RedriveCount":0}`, res.ExecutionARN)
	machine := `{"Id":"arn:aws:states:eu-west-1:111122223333:stateMachine:orders","Name":"orders"}`
	want := `{"ctx":{"Execution":` + execution + `,"StateMachine":` + machine + `,
		"State":{"Name":"P","EnteredTime":"2025-03-04T05:06:08.008Z","RetryCount":0}},
		"prev":{"ctx":{"Execution":` + execution + `,"StateMachine":` + machine + `,
		"State":{"Name":"T","EnteredTime":"2025-03-04T05:06:07.008Z","RetryCount":1}}}}`
	if !jsonEqual(t, res.Output, want) {
		t.Errorf("output %s\nwant %s", res.Output, want)
	}
}

func TestWaitUsesTheClock(t *testing.T) {
	t.Parallel()
	clock := newStepClock()
	def := `{"StartAt":"A","States":{
		"A":{"Type":"Wait","Seconds":5,"Next":"B"},
		"B":{"Type":"Wait","Timestamp":"2025-03-04T05:07:07.008Z","Next":"C"},
		"C":{"Type":"Wait","SecondsPath":"$.s","Next":"D"},
		"D":{"Type":"Wait","TimestampPath":"$.past","End":true}}}`
	res := execMachine(t, parseMachine(t, def, asl.WithClock(clock)), `{"s":7,"past":"2020-01-01T00:00:00Z"}`)
	if res.Status != asl.StatusSucceeded {
		t.Fatalf("status %s (%s: %s)", res.Status, res.Error, res.Cause)
	}
	if got, want := clock.Sleeps(), secs(5, 55, 7); !slices.Equal(got, want) {
		t.Errorf("sleeps %v, want %v", got, want)
	}
}

func TestObserverEvents(t *testing.T) {
	t.Parallel()
	def := `{"StartAt":"P","States":{
		"P":{"Type":"Pass","Next":"T"},
		"T":{"Type":"Task","Resource":"arn:aws:states:::test:echo","Next":"L"},
		"L":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:123456789012:function:f","Next":"C"},
		"C":{"Type":"Choice","Choices":[{"Variable":"$.a","IsPresent":true,"Next":"M"}]},
		"M":{"Type":"Map","MaxConcurrency":1,"ItemsPath":"$.a","Next":"S","ItemProcessor":{"StartAt":"I","States":{"I":{"Type":"Pass","End":true}}}},
		"S":{"Type":"Succeed"}}}`
	opts := []asl.Option{asl.WithLambda(echoLambda), asl.WithTask("arn:aws:states:::test:echo", taskOf(func(p any) (any, error) { return p, nil }))}
	want := []string{
		"ExecutionStarted", "PassStateEntered", "PassStateExited",
		"TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskSucceeded", "TaskStateExited",
		"TaskStateEntered", "LambdaFunctionScheduled", "LambdaFunctionStarted", "LambdaFunctionSucceeded", "TaskStateExited",
		"ChoiceStateEntered", "ChoiceStateExited",
		"MapStateEntered", "MapStateStarted",
		"MapIterationStarted", "PassStateEntered", "PassStateExited", "MapIterationSucceeded",
		"MapIterationStarted", "PassStateEntered", "PassStateExited", "MapIterationSucceeded",
		"MapStateSucceeded", "MapStateExited",
		"SucceedStateEntered", "SucceedStateExited", "ExecutionSucceeded",
	}
	for _, data := range []bool{true, false} {
		t.Run(fmt.Sprintf("IncludeData %v", data), func(t *testing.T) {
			t.Parallel()
			log := &eventLog{data: data}
			res := execMachine(t, parseMachine(t, def, opts...), `{"a":[1,2]}`, asl.WithObserver(log))
			if res.Status != asl.StatusSucceeded {
				t.Fatalf("status %s (%s: %s)", res.Status, res.Error, res.Cause)
			}
			if got := log.types(); !slices.Equal(got, want) {
				t.Fatalf("events\n%v\nwant\n%v", got, want)
			}
			var mapStarted int64
			for i, ev := range log.events {
				if ev.ID != int64(i+1) {
					t.Errorf("event %d has ID %d", i, ev.ID)
				}
				switch {
				case ev.Type == "MapStateStarted":
					mapStarted = ev.ID
				case ev.Type == "MapIterationStarted":
					if ev.PreviousID != mapStarted || ev.Index == nil {
						t.Errorf("MapIterationStarted %d: previous %d index %v, want previous %d", ev.ID, ev.PreviousID, ev.Index, mapStarted)
					}
				case i > 0 && ev.Type != "MapStateSucceeded" && ev.PreviousID != ev.ID-1:
					t.Errorf("%s %d: previous %d", ev.Type, ev.ID, ev.PreviousID)
				}
			}
			first := log.events[0]
			if data != (first.Input != nil) {
				t.Errorf("ExecutionStarted input %s with IncludeData %v", first.Input, data)
			}
			if data {
				last := log.events[len(log.events)-1]
				if !jsonEqual(t, last.Output, `[1,2]`) || !jsonEqual(t, log.events[4].Input, `{"a":[1,2]}`) {
					t.Errorf("ExecutionSucceeded output %s, TaskScheduled input %s", last.Output, log.events[4].Input)
				}
			}
		})
	}
	t.Run("failure", func(t *testing.T) {
		t.Parallel()
		log := &eventLog{}
		def := `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::test:fail","End":true}}}`
		fail := taskOf(func(any) (any, error) { return nil, &asl.Error{Name: "E", Cause: "c"} })
		execMachine(t, parseMachine(t, def, asl.WithTask("arn:aws:states:::test:fail", fail)), `{}`, asl.WithObserver(log))
		want := []string{"ExecutionStarted", "TaskStateEntered", "TaskScheduled", "TaskStarted", "TaskFailed", "ExecutionFailed"}
		if got := log.types(); !slices.Equal(got, want) {
			t.Fatalf("events %v, want %v", got, want)
		}
		if ev := log.events[4]; ev.Error != "E" || ev.Cause != "c" {
			t.Errorf("TaskFailed %q %q", ev.Error, ev.Cause)
		}
	})
}

func TestExecuteInput(t *testing.T) {
	t.Parallel()
	m := parseMachine(t, `{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}}`, asl.WithPayloadLimit(32))
	for _, in := range []string{`{"a":`, `{"a":1} x`, `{"a":"` + strings.Repeat("x", 40) + `"}`} {
		if _, err := m.Execute(context.Background(), []byte(in)); !errors.Is(err, asl.ErrInvalidInput) {
			t.Errorf("input %q: error %v, want ErrInvalidInput", in, err)
		}
	}
	res := execMachine(t, m, "")
	if res.Status != asl.StatusSucceeded || string(res.Output) != "{}" || string(res.Input) != "{}" {
		t.Errorf("empty input: status %s output %s input %s", res.Status, res.Output, res.Input)
	}
	if res.StartDate.IsZero() || res.StopDate.Before(res.StartDate) {
		t.Errorf("dates %v %v", res.StartDate, res.StopDate)
	}
}

func TestConcurrentExecutions(t *testing.T) {
	t.Parallel()
	def := `{"StartAt":"A","States":{"A":{"Type":"Pass","Assign":{"v.$":"$.n"},"Next":"M"},
		"M":{"Type":"Map","ItemsPath":"$.items","Next":"B","ItemProcessor":{"StartAt":"D","States":{
		"D":{"Type":"Task","Resource":"arn:aws:states:::test:double","Parameters":{"value.$":"$"},"OutputPath":"$.value","End":true}}}},
		"B":{"Type":"Pass","Parameters":{"n.$":"$v","out.$":"$"},"End":true}}}`
	m := parseMachine(t, def, testOptions()...)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res := execMachine(t, m, fmt.Sprintf(`{"n":%d,"items":[1,2,3]}`, i))
			if want := fmt.Sprintf(`{"n":%d,"out":[2,4,6]}`, i); res.Status != asl.StatusSucceeded || !jsonEqual(t, res.Output, want) {
				t.Errorf("execution %d: %s %s", i, res.Status, res.Output)
			}
		}()
	}
	wg.Wait()
}
