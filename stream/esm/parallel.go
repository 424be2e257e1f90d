package esm

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// group is one ordered sub-stream of a chunk under ParallelizationFactor > 1: the records whose partition
// key hashes to it, in stream order. Only its own goroutine touches it while the chunk is processed.
type group struct {
	recs []events.KinesisEventRecord
	// pos[i] is the index in the chunk of recs[i].
	pos []int
	// done counts the records of recs handled so far.
	done int
	// deadLetters are the on-failure records written while processing the chunk.
	deadLetters []groupDeadLetter
}

// groupDeadLetter is an on-failure record with the chunk index of its first record.
type groupDeadLetter struct {
	first int
	body  []byte
}

// resolved records the handling of batch, the next records of the group, with its dead letter if any. The
// shard's checkpoint is committed once for the whole chunk.
func (g *group) resolved(_ context.Context, batch []events.KinesisEventRecord, deadLetter []byte) error {
	if deadLetter != nil {
		g.deadLetters = append(g.deadLetters, groupDeadLetter{first: g.pos[g.done], body: deadLetter})
	}
	g.done += len(batch)
	return nil
}

// processParallel splits w.chunk into ParallelizationFactor groups by a hash of the partition key, runs the
// groups concurrently (each group's batches in order), then commits the shard's checkpoint once: past the
// whole chunk when every group finished, or, when a stop cut the chunk short, just before its first record
// not yet handled, with the dead letters of the records up to there. Records after that point are read and
// delivered again after a restart (at-least-once), and so can their dead letters be written again.
func (w *shardWorker) processParallel(ctx context.Context) error {
	n := len(w.groups)
	for i := range w.groups {
		g := &w.groups[i]
		clear(g.recs)
		g.recs, g.pos, g.done = g.recs[:0], g.pos[:0], 0
		clear(g.deadLetters)
		g.deadLetters = g.deadLetters[:0]
	}
	for i := range w.chunk {
		g := &w.groups[groupOf(w.chunk[i].Kinesis.PartitionKey, n)]
		g.recs = append(g.recs, w.chunk[i])
		g.pos = append(g.pos, i)
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range w.groups {
		g := &w.groups[i]
		if len(g.recs) == 0 {
			continue
		}
		wg.Go(func() { errs[i] = w.runGroup(ctx, g.recs, g) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}

	next := len(w.chunk) // chunk index of the first record not handled
	for i := range w.groups {
		if g := &w.groups[i]; g.done < len(g.recs) {
			next = min(next, g.pos[g.done])
		}
	}
	var deadLetters [][]byte
	for i := range w.groups {
		for _, dl := range w.groups[i].deadLetters {
			if dl.first < next {
				deadLetters = append(deadLetters, dl.body)
			}
		}
	}
	if next == 0 && len(deadLetters) == 0 {
		return nil
	}
	seq := w.pos
	if next > 0 {
		seq = w.chunk[next-1].Kinesis.SequenceNumber
	}
	if err := w.commit(ctx, seq, deadLetters); err != nil {
		return err
	}
	if next < len(w.chunk) {
		w.st.setOldest(arrival(&w.chunk[next]))
	} else {
		w.st.setOldest(time.Time{})
	}
	return nil
}

// groupOf returns the group (0..n-1) of a partition key: FNV-1a of the key, modulo n.
func groupOf(partitionKey string, n int) int {
	const (
		offset32 = 2166136261
		prime32  = 16777619
	)
	h := uint32(offset32)
	for i := 0; i < len(partitionKey); i++ {
		h ^= uint32(partitionKey[i])
		h *= prime32
	}
	return int(h % uint32(n))
}
