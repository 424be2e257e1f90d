package shardlog

import (
	"context"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Trim deletes the records that arrived longer than the retention period ago, from every shard, and returns
// how many it deleted. It deletes in transactions of at most a few thousand records and stops early, with
// ctx.Err(), when ctx is done.
func (l *Log) Trim(ctx context.Context) (int, error) {
	cutoff := l.now().Add(-l.retention).UnixNano()
	total := 0
	for i := range l.shards {
		for {
			if err := ctx.Err(); err != nil {
				return total, err
			}
			n, more, err := l.trimChunk(i, cutoff)
			total += n
			if err != nil {
				return total, fmt.Errorf("shardlog: trim shard %s of stream %q: %w", l.shards[i].id, l.name, err)
			}
			if !more {
				break
			}
		}
	}
	return total, nil
}

// trimChunk deletes up to trimChunk records of shard i that arrived before cutoff, and reports whether more
// may remain.
func (l *Log) trimChunk(i int, cutoff int64) (int, bool, error) {
	var last uint64
	var deleted int
	var more bool
	err := l.db.Update(func(tx *bolt.Tx) error {
		deleted, more, last = 0, false, 0
		b := tx.Bucket(l.shards[i].bucket)
		if b == nil {
			return fmt.Errorf("bucket of shard %s is missing", l.shards[i].id)
		}
		// Collect first, then delete: deleting under a cursor would make it skip records.
		var counters []uint64
		c := b.Cursor()
		for k, v := c.First(); k != nil && arrivalOf(v) < cutoff; k, v = c.Next() {
			if len(counters) == trimChunk {
				more = true
				break
			}
			counters = append(counters, counterOf(k))
		}
		for _, n := range counters {
			if err := b.Delete(counterKey(n)); err != nil {
				return err
			}
		}
		deleted = len(counters)
		if deleted > 0 {
			last = counters[deleted-1]
		}
		return nil
	})
	if err != nil {
		return 0, false, err
	}
	if deleted > 0 {
		l.mu.Lock()
		if last > l.state[i].trimmed {
			l.state[i].trimmed = last
		}
		l.mu.Unlock()
	}
	return deleted, more, nil
}

// Run trims expired records at once and then every minute, until ctx is done, when it returns nil. It returns
// an error when a trim fails.
func (l *Log) Run(ctx context.Context) error {
	t := time.NewTicker(trimInterval)
	defer t.Stop()
	for {
		if _, err := l.Trim(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
