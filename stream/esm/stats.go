package esm

import (
	"sync"
	"time"
)

// ShardStats is what a mapping has done with one shard since Run started.
type ShardStats struct {
	// ShardID is the shard.
	ShardID string `json:"shardId"`
	// Checkpoint is the sequence number of the last record fully handled ("" before the first).
	Checkpoint string `json:"checkpoint"`
	// RecordsProcessed counts the records the function processed successfully.
	RecordsProcessed int64 `json:"recordsProcessed"`
	// Invocations counts the function's invocations; FailedInvocations those that failed a batch in whole
	// or in part (an error, a timeout, a panic or a BatchItemFailures entry).
	Invocations       int64 `json:"invocations"`
	FailedInvocations int64 `json:"failedInvocations"`
	// DeadLetteredBatches counts the on-failure records written; DeadLetteredRecords the records they cover.
	DeadLetteredBatches int64 `json:"deadLetteredBatches"`
	DeadLetteredRecords int64 `json:"deadLetteredRecords"`
	// IteratorAge is how long ago the oldest record not yet handled arrived in the stream, or 0 when the
	// mapping has caught up with the shard (Lambda's IteratorAge metric).
	IteratorAge time.Duration `json:"-"`
}

// shardState holds the live statistics of one shard; the shard's loop and its parallel groups update it.
type shardState struct {
	mu    sync.Mutex
	stats ShardStats
	// oldest is the arrival time of the oldest record read and not yet handled; zero when none.
	oldest time.Time
}

// newShardState returns the state of shardID.
func newShardState(shardID string) *shardState {
	return &shardState{stats: ShardStats{ShardID: shardID}}
}

// id returns the shard's id, which never changes.
func (s *shardState) id() string { return s.stats.ShardID }

// setCheckpoint records the shard's committed position.
func (s *shardState) setCheckpoint(seq string) {
	s.mu.Lock()
	s.stats.Checkpoint = seq
	s.mu.Unlock()
}

// setOldest records the arrival time of the oldest unhandled record (zero when caught up).
func (s *shardState) setOldest(t time.Time) {
	s.mu.Lock()
	s.oldest = t
	s.mu.Unlock()
}

// invoked counts one invocation, failed or not.
func (s *shardState) invoked(failed bool) {
	s.mu.Lock()
	s.stats.Invocations++
	if failed {
		s.stats.FailedInvocations++
	}
	s.mu.Unlock()
}

// processed counts n records the function processed.
func (s *shardState) processed(n int) {
	s.mu.Lock()
	s.stats.RecordsProcessed += int64(n)
	s.mu.Unlock()
}

// deadLettered counts one on-failure record covering n records.
func (s *shardState) deadLettered(n int) {
	s.mu.Lock()
	s.stats.DeadLetteredBatches++
	s.stats.DeadLetteredRecords += int64(n)
	s.mu.Unlock()
}

// snapshot returns the shard's statistics as of now.
func (s *shardState) snapshot(now time.Time) ShardStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.stats
	if !s.oldest.IsZero() {
		out.IteratorAge = max(now.Sub(s.oldest), 0)
	}
	return out
}

// Stats returns the statistics of each shard of the current (or last) Run, in the Reader's shard order. It
// returns nil before Run starts. It is safe to call while Run runs.
func (m *Mapping) Stats() []ShardStats {
	m.mu.Lock()
	shards := m.shards
	m.mu.Unlock()
	if shards == nil {
		return nil
	}
	now := m.cfg.Now()
	out := make([]ShardStats, len(shards))
	for i, s := range shards {
		out[i] = s.snapshot(now)
	}
	return out
}
