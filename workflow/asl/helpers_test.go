package asl_test

import (
	"context"
	"encoding/json"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/serverless-data-platform/sdp/workflow/asl"
)

// stepClock is a fake clock whose Sleep returns at once, moving the time forward and recording the duration.
type stepClock struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
}

func newStepClock() *stepClock {
	return &stepClock{now: time.Date(2025, 3, 4, 5, 6, 7, 8_000_000, time.UTC)}
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *stepClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sleeps = append(c.sleeps, d)
	c.now = c.now.Add(d)
	return nil
}

func (c *stepClock) Sleeps() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.sleeps...)
}

// funcLambda is a fake Lambda port.
type funcLambda struct {
	invoke func(ctx context.Context, function string, payload []byte) ([]byte, error)
}

func (l funcLambda) Invoke(ctx context.Context, function string, payload []byte) ([]byte, error) {
	return l.invoke(ctx, function, payload)
}

// echoLambda returns its payload.
var echoLambda = funcLambda{invoke: func(_ context.Context, _ string, payload []byte) ([]byte, error) {
	return payload, nil
}}

// eventLog is an Observer that keeps the events.
type eventLog struct {
	data   bool
	mu     sync.Mutex
	events []asl.HistoryEvent
}

func (l *eventLog) IncludeData() bool { return l.data }

func (l *eventLog) Event(_ string, ev asl.HistoryEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, ev)
}

func (l *eventLog) types() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]string, len(l.events))
	for i, ev := range l.events {
		out[i] = ev.Type
	}
	return out
}

// seqRand is a deterministic random source.
func seqRand() func() uint64 {
	var mu sync.Mutex
	x := uint64(0x9E3779B97F4A7C15)
	return func() uint64 {
		mu.Lock()
		defer mu.Unlock()
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		return x
	}
}

func parseMachine(t testing.TB, def string, opts ...asl.Option) *asl.Machine {
	t.Helper()
	m, err := asl.Parse([]byte(def), opts...)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return m
}

func execMachine(t testing.TB, m *asl.Machine, input string, opts ...asl.ExecOption) *asl.Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := m.Execute(ctx, []byte(input), opts...)
	if err != nil {
		t.Fatalf("Execute: %v", err)
	}
	return res
}

// jsonEqual compares two JSON texts by value.
func jsonEqual(t testing.TB, got []byte, want string) bool {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Errorf("output %q is not JSON: %v", got, err)
		return false
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("want %q is not JSON: %v", want, err)
	}
	return reflect.DeepEqual(g, w)
}

// taskOf is a TaskHandler from a plain function of the parameters.
func taskOf(f func(params any) (any, error)) asl.TaskHandler {
	return asl.TaskFunc(func(_ context.Context, params any) (any, error) { return f(params) })
}
