package loadtest

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Request is one scheduled hit: its sequence number and the time the
// schedule intended it to be sent.
type Request struct {
	Seq      uint64
	Intended time.Time
}

// Response is what a target reports of one hit: one HTTP request, or one
// PutRecords call carrying Events events.
type Response struct {
	Events   int    // events carried
	Accepted int    // events the target took
	Rejected int    // events refused as invalid (a 207/400's item errors): not errors of the system under test
	Bytes    int    // bytes sent
	Code     string // "202", "207", "429", "503", "timeout", "error", ...
	Err      error  // transport or server failure (counts as an error)
}

// Failed reports whether the hit counts as an error of the system under
// test: a transport or server failure, a 5xx or 429 status, or a timeout.
// Events rejected as invalid are not errors.
func (r Response) Failed() bool {
	if r.Err != nil {
		return true
	}
	switch r.Code {
	case "timeout", "error", "429":
		return true
	}
	if len(r.Code) == 3 && r.Code[0] == '5' {
		if _, err := strconv.Atoi(r.Code); err == nil {
			return true
		}
	}
	return false
}

// Target is what an attack hits. Hit sends one request and reports what
// came of it; it blocks until the response arrives or ctx ends (ctx carries
// the per-hit timeout). Hit is called from many goroutines at once.
type Target interface {
	Hit(ctx context.Context, r Request) Response
}

// TargetFunc adapts a function to the Target interface.
type TargetFunc func(ctx context.Context, r Request) Response

// Hit calls f.
func (f TargetFunc) Hit(ctx context.Context, r Request) Response { return f(ctx, r) }

var _ Target = TargetFunc(nil)

// Result is one completed hit. Latency runs from the intended time, not the
// sent time, so a hit that waited for a worker (or for a stalled schedule)
// shows the wait: the measure does not suffer from coordinated omission.
type Result struct {
	Request
	Response
	Sent     time.Time     // when Hit was called
	Latency  time.Duration // from Intended to the end of Hit
	Lateness time.Duration // Sent - Intended
}

// Defaults of an Attacker.
const (
	DefaultWorkers    = 10
	DefaultMaxWorkers = 10_000
	DefaultTimeout    = 30 * time.Second
)

// Attacker runs attacks: it sends each scheduled hit to a pool of workers
// that grows on demand. An Attacker runs one attack at a time; its
// Saturated and Workers report on the latest one and are safe to call
// while it runs.
type Attacker struct {
	initial, max int
	timeout      time.Duration
	buffer       int

	workers   atomic.Int64
	saturated atomic.Bool
}

// AttackOption configures an Attacker.
type AttackOption func(*Attacker)

// WithWorkers sets the workers started with the attack and the most the
// pool grows to when a hit is due and no worker is free.
func WithWorkers(initial, max int) AttackOption {
	return func(a *Attacker) {
		if initial < 1 {
			initial = 1
		}
		if max < initial {
			max = initial
		}
		a.initial, a.max = initial, max
	}
}

// WithTimeout sets the deadline of each hit (0: none).
func WithTimeout(d time.Duration) AttackOption {
	return func(a *Attacker) { a.timeout = d }
}

// WithResultBuffer sets the capacity of the results channel.
func WithResultBuffer(n int) AttackOption {
	return func(a *Attacker) {
		if n >= 0 {
			a.buffer = n
		}
	}
}

// NewAttacker returns an Attacker with DefaultWorkers growing up to
// DefaultMaxWorkers and DefaultTimeout per hit, changed by opts.
func NewAttacker(opts ...AttackOption) *Attacker {
	a := &Attacker{initial: DefaultWorkers, max: DefaultMaxWorkers, timeout: DefaultTimeout, buffer: 4096}
	for _, o := range opts {
		o(a)
	}
	return a
}

// Saturated reports whether a hit of the latest attack found every worker
// busy with the pool at its maximum, and so was sent late.
func (a *Attacker) Saturated() bool { return a.saturated.Load() }

// Workers returns the number of workers of the latest attack.
func (a *Attacker) Workers() int { return int(a.workers.Load()) }

// Attack hits t on p's schedule for duration (0: until ctx ends or the
// pacer stops) and sends each Result on the returned channel, which is
// closed once every hit has completed. Only hits whose intended time falls
// within duration are scheduled.
//
// The model is open: Attack never waits for a response before scheduling
// the next hit. A due hit with no free worker starts a new worker, up to the
// maximum; beyond it the hit waits for a worker, its lateness shows in its
// latency (measured from its intended time), the hits after it keep their
// intended times, and Saturated reports true. A saturated attack therefore
// runs longer than duration while it works off its backlog.
//
// When ctx ends no more hits are sent and those in flight see their context
// cancelled. The caller must receive from the channel until it is closed.
func (a *Attacker) Attack(ctx context.Context, t Target, p Pacer, duration time.Duration) <-chan *Result {
	results := make(chan *Result, a.buffer)
	a.workers.Store(0)
	a.saturated.Store(false)
	go a.run(ctx, t, p, duration, results)
	return results
}

// run is the scheduler: it paces the hits and hands them to the workers.
func (a *Attacker) run(ctx context.Context, t Target, p Pacer, duration time.Duration, results chan<- *Result) {
	defer close(results)
	work := make(chan Request)
	var wg sync.WaitGroup
	spawn := func(first *Request) {
		a.workers.Add(1)
		wg.Add(1)
		go func() {
			defer wg.Done()
			a.work(ctx, t, first, work, results)
		}()
	}
	for range a.initial {
		spawn(nil)
	}
	defer func() {
		close(work)
		wg.Wait()
	}()

	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	start := time.Now()
	for hits := uint64(0); ; hits++ {
		elapsed := time.Since(start)
		wait, stop := p.Pace(elapsed, hits)
		if stop {
			return
		}
		offset := elapsed + wait
		if duration > 0 && offset >= duration {
			return
		}
		if wait > 0 {
			timer.Reset(wait)
			select {
			case <-ctx.Done():
				return
			case <-timer.C:
			}
		} else if ctx.Err() != nil {
			return
		}
		req := Request{Seq: hits, Intended: start.Add(offset)}
		select {
		case work <- req: // an idle worker took it
			continue
		default:
		}
		if a.workers.Load() < int64(a.max) {
			spawn(&req)
			continue
		}
		a.saturated.Store(true)
		select {
		case work <- req:
		case <-ctx.Done():
			return
		}
	}
}

// work is one worker: it runs first, if any, then every hit it receives
// until the scheduler closes work.
func (a *Attacker) work(ctx context.Context, t Target, first *Request, work <-chan Request, results chan<- *Result) {
	if first != nil {
		results <- a.hit(ctx, t, *first)
	}
	for req := range work {
		results <- a.hit(ctx, t, req)
	}
}

// hit sends one request and measures it.
func (a *Attacker) hit(ctx context.Context, t Target, req Request) *Result {
	hctx, cancel := ctx, context.CancelFunc(func() {})
	if a.timeout > 0 {
		hctx, cancel = context.WithTimeout(ctx, a.timeout)
	}
	sent := time.Now()
	resp := t.Hit(hctx, req)
	end := time.Now()
	timedOut := errors.Is(hctx.Err(), context.DeadlineExceeded)
	cancel()
	if resp.Code == "" {
		switch {
		case resp.Err != nil && (timedOut || errors.Is(resp.Err, context.DeadlineExceeded)):
			resp.Code = "timeout"
		case resp.Err != nil:
			resp.Code = "error"
		default:
			resp.Code = "ok"
		}
	}
	return &Result{
		Request:  req,
		Response: resp,
		Sent:     sent,
		Latency:  end.Sub(req.Intended),
		Lateness: sent.Sub(req.Intended),
	}
}
