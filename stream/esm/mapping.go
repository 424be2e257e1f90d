package esm

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// commitTimeout bounds one Commit; commits run even after Run's context is cancelled, so that a stop
// records the outcome of the batches in flight.
const commitTimeout = 30 * time.Second

// Mapping is an event source mapping from one stream to one function. Create it with New and start it with
// Run; Stats may be called at any time.
type Mapping struct {
	reader Reader
	waiter Waiter // nil when the reader cannot wait
	fn     Function
	cp     Checkpoints
	cfg    Config

	running atomic.Bool
	mu      sync.Mutex
	shards  []*shardState
}

// New returns a mapping that feeds the records of r to fn and keeps its positions in cp. It validates cfg
// (see Config for the defaults of zero values) and does no I/O.
func New(r Reader, fn Function, cp Checkpoints, cfg Config) (*Mapping, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	if r == nil || fn == nil || cp == nil {
		return nil, fmt.Errorf("esm: mapping %q needs a reader, a function and checkpoints", cfg.FunctionName)
	}
	m := &Mapping{reader: r, fn: fn, cp: cp, cfg: cfg}
	if w, ok := r.(Waiter); ok {
		m.waiter = w
	}
	return m, nil
}

// Run processes every shard of the reader, one loop per shard, until ctx is cancelled or an error occurs.
// On cancellation no new invocation starts: the invocations in flight complete (they run under their own
// FunctionTimeout, not under ctx), their outcome is committed, and Run returns nil. An error of the Reader or
// of the Checkpoints stops every shard the same way and is returned, wrapped with the shard's id. Function
// errors are never returned: they are retried and dead-lettered as configured. A function that ignores the
// deadline of its context delays the stop until it returns. Run reads the list of shards once, when it
// starts. Run returns ErrRunning when the mapping is already running; it may be called again after it
// returned, and resumes from the committed checkpoints.
func (m *Mapping) Run(ctx context.Context) error {
	if !m.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer m.running.Store(false)

	ids := m.reader.ShardIDs()
	states := make([]*shardState, len(ids))
	for i, id := range ids {
		states[i] = newShardState(id)
	}
	m.mu.Lock()
	m.shards = states
	m.mu.Unlock()
	m.cfg.Logger.InfoContext(ctx, "event source mapping started",
		"function", m.cfg.FunctionName, "stream", m.cfg.StreamARN, "shards", len(ids))

	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(states))
	var wg sync.WaitGroup
	for i, st := range states {
		wg.Go(func() {
			if err := m.runShard(runCtx, st); err != nil {
				errs[i] = err
				cancel()
			}
		})
	}
	wg.Wait()
	err := errors.Join(errs...)
	if err != nil {
		m.cfg.Logger.ErrorContext(ctx, "event source mapping stopped", "function", m.cfg.FunctionName, "error", err)
		return err
	}
	m.cfg.Logger.InfoContext(ctx, "event source mapping stopped", "function", m.cfg.FunctionName)
	return nil
}

// shardWorker is the loop of one shard with its reusable buffers.
type shardWorker struct {
	m   *Mapping
	st  *shardState
	key string
	b   *recordBuilder
	// pos is the shard's committed checkpoint.
	pos string
	// chunk holds the records read and not yet handled, in stream order; bytes estimates their JSON size.
	chunk []events.KinesisEventRecord
	bytes int
	// done counts the records of chunk handled so far (sequential processing).
	done int
	// groups are the per-partition-key sub-streams of a chunk (ParallelizationFactor > 1).
	groups []group
	// one is reused to pass a single dead letter to Commit.
	one [1][]byte
}

// runShard loads the shard's checkpoint and processes the shard until ctx is cancelled.
func (m *Mapping) runShard(ctx context.Context, st *shardState) error {
	b, err := newRecordBuilder(&m.cfg, st.id())
	if err != nil {
		return err
	}
	w := &shardWorker{m: m, st: st, key: CheckpointKey(m.cfg.StreamARN, m.cfg.FunctionName, st.id()), b: b}
	if m.cfg.ParallelizationFactor > 1 {
		w.groups = make([]group, m.cfg.ParallelizationFactor)
	}
	w.pos, err = m.cp.Load(ctx, w.key)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("esm: load checkpoint of shard %s: %w", st.id(), err)
	}
	st.setCheckpoint(w.pos)
	for ctx.Err() == nil {
		if err := w.gather(ctx); err != nil {
			return err
		}
		if len(w.chunk) == 0 {
			continue
		}
		if w.groups == nil {
			err = w.processSequential(ctx)
		} else {
			err = w.processParallel(ctx)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// gather fills w.chunk with the next records after the checkpoint: it waits for the first ones, then, with
// a batching window, waits up to the window for a full chunk. It leaves w.chunk empty when ctx is cancelled
// first.
func (w *shardWorker) gather(ctx context.Context) error {
	cfg := &w.m.cfg
	limit := cfg.BatchSize * cfg.ParallelizationFactor
	maxBytes := cfg.MaxPayloadBytes * cfg.ParallelizationFactor
	clear(w.chunk) // drop references to the previous chunk's data
	w.chunk, w.bytes, w.done = w.chunk[:0], envelopeBytes, 0
	for {
		if err := w.read(ctx, w.pos, limit); err != nil {
			return err
		}
		if len(w.chunk) > 0 {
			break
		}
		w.st.setOldest(time.Time{})
		if err := w.wait(ctx, w.pos); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("esm: wait for records of shard %s: %w", w.st.id(), err)
		}
	}
	if cfg.MaxBatchingWindow > 0 {
		deadline := time.Now().Add(cfg.MaxBatchingWindow)
		for len(w.chunk) < limit && w.bytes < maxBytes {
			remaining := time.Until(deadline)
			if remaining <= 0 {
				break
			}
			last := w.chunk[len(w.chunk)-1].Kinesis.SequenceNumber
			wctx, cancel := context.WithTimeout(ctx, remaining)
			err := w.wait(wctx, last)
			expired := wctx.Err() != nil
			cancel()
			if ctx.Err() != nil {
				w.chunk = w.chunk[:0]
				return nil
			}
			if err != nil && !expired {
				return fmt.Errorf("esm: wait for records of shard %s: %w", w.st.id(), err)
			}
			if err := w.read(ctx, last, limit-len(w.chunk)); err != nil {
				return err
			}
		}
	}
	if ctx.Err() != nil {
		w.chunk = w.chunk[:0]
		return nil
	}
	w.st.setOldest(arrival(&w.chunk[0]))
	return nil
}

// read appends up to limit records that follow after to w.chunk. A read cut short by the cancellation of
// ctx is not an error.
func (w *shardWorker) read(ctx context.Context, after string, limit int) error {
	recs, err := w.m.reader.ReadAfter(ctx, w.st.id(), after, limit)
	if err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("esm: read shard %s after %q: %w", w.st.id(), after, err)
	}
	if len(recs) > limit {
		recs = recs[:limit]
	}
	start := len(w.chunk)
	w.chunk = w.b.appendRecords(w.chunk, recs)
	for i := start; i < len(w.chunk); i++ {
		w.bytes += w.b.size(&w.chunk[i])
	}
	return nil
}

// wait blocks until a record after afterSeq may exist: through the reader's Wait, or one PollInterval.
func (w *shardWorker) wait(ctx context.Context, afterSeq string) error {
	if w.m.waiter != nil {
		return w.m.waiter.Wait(ctx, w.st.id(), afterSeq)
	}
	t := time.NewTimer(w.m.cfg.PollInterval)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// processSequential processes w.chunk as consecutive batches, committing after each batch is handled.
func (w *shardWorker) processSequential(ctx context.Context) error {
	return w.runGroup(ctx, w.chunk, w)
}

// resolved commits the handling of batch, the next records of w.chunk, with its dead letter if any.
func (w *shardWorker) resolved(ctx context.Context, batch []events.KinesisEventRecord, deadLetter []byte) error {
	var dls [][]byte
	if deadLetter != nil {
		w.one[0] = deadLetter
		dls = w.one[:]
	}
	err := w.commit(ctx, batch[len(batch)-1].Kinesis.SequenceNumber, dls)
	w.one[0] = nil
	if err != nil {
		return err
	}
	w.done += len(batch)
	if w.done < len(w.chunk) {
		w.st.setOldest(arrival(&w.chunk[w.done]))
	} else {
		w.st.setOldest(time.Time{})
	}
	return nil
}

// commit records seq as the shard's checkpoint together with the dead letters. It runs even when ctx is
// cancelled, so that a stop keeps the outcome of the batches that completed.
func (w *shardWorker) commit(ctx context.Context, seq string, deadLetters [][]byte) error {
	cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
	defer cancel()
	if err := w.m.cp.Commit(cctx, w.key, seq, deadLetters); err != nil {
		return fmt.Errorf("esm: commit checkpoint %s of shard %s: %w", seq, w.st.id(), err)
	}
	w.pos = seq
	w.st.setCheckpoint(seq)
	return nil
}
