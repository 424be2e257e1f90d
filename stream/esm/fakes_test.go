package esm

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/stream/dlq"
)

// testStreamARN is the stream every test mapping reads.
const testStreamARN = "arn:aws:kinesis:us-east-1:123456789012:stream/events"

// memReader is an in-memory stream: shards of records with fixed-width decimal sequence numbers (so that
// they sort as strings). It cannot Wait; waitReader adds that ability.
type memReader struct {
	mu      sync.Mutex
	shards  []string
	recs    map[string][]event.StreamRecord
	next    int
	changed chan struct{} // closed and replaced on every append
	reads   atomic.Int64
	waits   atomic.Int64
	readErr error
}

// newMemReader returns an empty stream with the given shards.
func newMemReader(shards ...string) *memReader {
	return &memReader{shards: shards, recs: map[string][]event.StreamRecord{}, changed: make(chan struct{})}
}

// rec describes a record to append.
type rec struct {
	pk      string
	data    string
	arrival time.Time
}

// appendRecords adds recs to shard and returns their sequence numbers.
func (r *memReader) appendRecords(shard string, recs ...rec) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	seqs := make([]string, len(recs))
	for i, x := range recs {
		r.next++
		seq := fmt.Sprintf("4959%052d", r.next)
		data := x.data
		if data == "" {
			data = "data-" + seq
		}
		arrival := x.arrival
		if arrival.IsZero() {
			arrival = time.Now()
		}
		r.recs[shard] = append(r.recs[shard], event.StreamRecord{
			ShardID: shard, SequenceNumber: seq, PartitionKey: x.pk, Data: []byte(data), ArrivalTime: arrival,
		})
		seqs[i] = seq
	}
	close(r.changed)
	r.changed = make(chan struct{})
	return seqs
}

// appendN adds n records with partition keys pk-0, pk-1, ... to shard.
func (r *memReader) appendN(shard string, n int) []string {
	recs := make([]rec, n)
	for i := range recs {
		recs[i].pk = fmt.Sprintf("pk-%d", i)
	}
	return r.appendRecords(shard, recs...)
}

// Shards lists the shards given to newMemReader.
func (r *memReader) ShardIDs() []string { return slices.Clone(r.shards) }

// ReadAfter returns copies of up to limit records after the sequence number after, counting the call; it
// fails with readErr when that is set.
func (r *memReader) ReadAfter(ctx context.Context, shard, after string, limit int) ([]event.StreamRecord, error) {
	r.reads.Add(1)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.readErr != nil {
		return nil, r.readErr
	}
	all := r.recs[shard]
	i, _ := slices.BinarySearchFunc(all, after, func(x event.StreamRecord, seq string) int {
		if x.SequenceNumber <= seq {
			return -1
		}
		return 1
	})
	end := min(len(all), i+limit)
	return slices.Clone(all[i:end]), nil
}

// hasAfter reports whether shard has a record after seq; r.mu must be held.
func (r *memReader) hasAfter(shard, seq string) bool {
	all := r.recs[shard]
	return len(all) > 0 && all[len(all)-1].SequenceNumber > seq
}

// waitReader is a memReader that can Wait.
type waitReader struct{ *memReader }

// Wait blocks until shard has a record after the sequence number after, counting the call.
func (r waitReader) Wait(ctx context.Context, shard, after string) error {
	r.waits.Add(1)
	for {
		r.mu.Lock()
		ok, ch := r.hasAfter(shard, after), r.changed
		r.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		}
	}
}

// memCheckpoints is an in-memory Checkpoints that logs every commit.
type memCheckpoints struct {
	mu          sync.Mutex
	seqs        map[string]string
	commits     []string // the committed sequence numbers, in order
	deadLetters [][]byte
	commitErr   error
}

// newMemCheckpoints returns empty checkpoints.
func newMemCheckpoints() *memCheckpoints { return &memCheckpoints{seqs: map[string]string{}} }

// Load returns the checkpoint of key.
func (c *memCheckpoints) Load(ctx context.Context, key string) (string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seqs[key], nil
}

// Commit records seq and keeps copies of the dead letters, or fails with commitErr when that is set.
func (c *memCheckpoints) Commit(ctx context.Context, key, seq string, deadLetters [][]byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.commitErr != nil {
		return c.commitErr
	}
	c.seqs[key] = seq
	c.commits = append(c.commits, seq)
	for _, dl := range deadLetters {
		c.deadLetters = append(c.deadLetters, slices.Clone(dl))
	}
	return nil
}

// get returns the checkpoint of shard under the test mapping's key.
func (c *memCheckpoints) get(shard string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.seqs[CheckpointKey(testStreamARN, "consumer", shard)]
}

// onFailures decodes the dead letters committed so far.
func (c *memCheckpoints) onFailures(t *testing.T) []dlq.OnFailure {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]dlq.OnFailure, len(c.deadLetters))
	for i, dl := range c.deadLetters {
		if err := json.Unmarshal(dl, &out[i]); err != nil {
			t.Fatalf("dead letter %d is not an on-failure record: %v: %s", i, err, dl)
		}
	}
	return out
}

// commitLog returns the committed sequence numbers in order.
func (c *memCheckpoints) commitLog() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.commits)
}

// script is a Function that records the sequence numbers of every invocation and answers through handle
// (nil handle: success).
type script struct {
	mu     sync.Mutex
	calls  [][]string
	handle func(ctx context.Context, call int, seqs []string) (events.KinesisEventResponse, error)
}

// fn is the Function: it records the invocation, then answers through handle.
func (s *script) fn(ctx context.Context, ev events.KinesisEvent) (events.KinesisEventResponse, error) {
	seqs := make([]string, len(ev.Records))
	for i := range ev.Records {
		seqs[i] = ev.Records[i].Kinesis.SequenceNumber
	}
	s.mu.Lock()
	call := len(s.calls)
	s.calls = append(s.calls, seqs)
	s.mu.Unlock()
	if s.handle == nil {
		return events.KinesisEventResponse{}, nil
	}
	return s.handle(ctx, call, seqs)
}

// invocations returns the sequence numbers of each invocation so far.
func (s *script) invocations() [][]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// fakeClock is a settable clock for Config.Now.
type fakeClock struct{ ns atomic.Int64 }

// newFakeClock returns a clock stopped at t.
func newFakeClock(t time.Time) *fakeClock {
	c := &fakeClock{}
	c.ns.Store(t.UnixNano())
	return c
}

// Now returns the clock's time.
func (c *fakeClock) Now() time.Time { return time.Unix(0, c.ns.Load()).UTC() }

// Advance moves the clock forward by d.
func (c *fakeClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// testConfig returns a fast configuration for tests.
func testConfig() Config {
	return Config{
		FunctionName: "consumer",
		FunctionARN:  "arn:aws:lambda:us-east-1:123456789012:function:consumer",
		StreamARN:    testStreamARN,
		Region:       "us-east-1",
		RetryBackoff: Backoff{Min: time.Millisecond, Max: 2 * time.Millisecond},
		PollInterval: time.Millisecond,
	}
}

// waitFor polls cond until it holds, failing the test after 10 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

// running is a mapping started in the background.
type running struct {
	m      *Mapping
	cancel context.CancelFunc
	done   chan error
}

// start creates a mapping and runs it until stop.
func start(t *testing.T, r Reader, fn Function, cp Checkpoints, cfg Config) *running {
	t.Helper()
	m, err := New(r, fn, cp, cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	run := &running{m: m, cancel: cancel, done: make(chan error, 1)}
	go func() { run.done <- m.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-run.done
	})
	return run
}

// stop cancels the mapping and returns Run's result, failing the test if Run does not return in time.
func (r *running) stop(t *testing.T) error {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err // for the cleanup
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
		return nil
	}
}

// runUntil runs a mapping until cond holds, stops it and requires Run to return nil.
func runUntil(t *testing.T, r Reader, fn Function, cp Checkpoints, cfg Config, what string, cond func() bool) *Mapping {
	t.Helper()
	run := start(t, r, fn, cp, cfg)
	waitFor(t, what, cond)
	if err := run.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	return run.m
}

// pick returns the elements of seqs at the given indexes.
func pick(seqs []string, idx ...int) []string {
	out := make([]string, len(idx))
	for i, j := range idx {
		out[i] = seqs[j]
	}
	return out
}

// fail returns a response that names the given sequence numbers as failed.
func fail(seqs ...string) events.KinesisEventResponse {
	var resp events.KinesisEventResponse
	for _, s := range seqs {
		resp.BatchItemFailures = append(resp.BatchItemFailures, events.KinesisBatchItemFailure{ItemIdentifier: s})
	}
	return resp
}
