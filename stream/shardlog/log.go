// Package shardlog is the embedded, sharded, durable stream of local mode: the local adapter of Kinesis Data
// Streams on a bbolt database.
//
// A Log places each record on a shard by the MD5 hash of its partition key (as Kinesis does), gives it a
// sequence number that grows per shard, and keeps it until its retention period has passed. PutRecords
// returns only after the records are committed and synced to disk, so an acknowledged record survives a crash
// of the process. Concurrent PutRecords calls share transactions (bbolt's DB.Batch; the database's
// MaxBatchDelay and MaxBatchSize tune how long a call waits to be joined).
//
// The database is opened by the caller and may be shared with other stores: a Log uses only the buckets whose
// names start with "stream/" + its stream name + "/". At most one Log per stream name may be open on a
// database at a time.
//
// Layout: the bucket "stream/NAME/meta" holds the shard count and the hash key ranges (in decimal, as
// ListShards shows them); each shard has a bucket "stream/NAME/shard/shardId-…" whose keys are the shard's
// record counters (8 bytes big-endian, from the bucket's own sequence, so they survive restarts and trimming)
// and whose values hold the arrival time, the partition key and the data. Counters are contiguous from the
// trim horizon to the newest record, which lets counts and timestamp searches avoid scanning.
package shardlog

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/serverless-data-platform/sdp/stream"
)

// Limits of the log. Those of PutRecords are Kinesis's: event.MaxRecordsPerPut, event.MaxRecordBytes (of a
// record's data), event.MaxPutBytes and event.MaxPartitionKeyLength.
const (
	// MaxShards is the most shards a Log can have (its sequence numbers keep six digits for the shard).
	MaxShards = 10000
	// MaxReadLimit is the most records one Read returns, and the limit used when none is given.
	MaxReadLimit = 10000
	// DefaultRetention is how long records are kept when Options.Retention is zero.
	DefaultRetention = 24 * time.Hour
	// trimInterval is how often Run trims expired records.
	trimInterval = time.Minute
	// trimChunk is the most records deleted in one transaction by Trim.
	trimChunk = 10000
)

var (
	// ErrInvalidArgument marks a request Kinesis would refuse with a ValidationException or an
	// InvalidArgumentException: too many or too large records, a bad partition key or sequence number.
	ErrInvalidArgument = errors.New("shardlog: invalid argument")
	// ErrShardNotFound is returned for a shard id the stream does not have.
	ErrShardNotFound = errors.New("shardlog: shard not found")
	// ErrShardCountMismatch is returned by Open when the stream exists with another shard count.
	ErrShardCountMismatch = errors.New("shardlog: shard count mismatch")
)

// Options configure a Log. StreamName and Shards are required.
type Options struct {
	// StreamName names the stream: 1 to 128 characters of [a-zA-Z0-9_.-], as Kinesis allows.
	StreamName string
	// Shards is the number of shards, 1 to MaxShards. Reopening a stream with another count is an error,
	// unless AdoptShards is set.
	Shards int
	// AdoptShards makes Open of an existing stream keep the shard count it was created with; Shards then
	// applies only to a new stream.
	AdoptShards bool
	// Retention is how long records are kept; zero means DefaultRetention.
	Retention time.Duration
	// Now is the clock used for arrival times and retention; nil means time.Now.
	Now func() time.Time
}

// Shard describes one shard of the stream as Kinesis's ListShards does.
type Shard struct {
	ID              string
	StartingHashKey string
	EndingHashKey   string
}

// ShardStats is a shard's size and position, for dashboards.
type ShardStats struct {
	ShardID string `json:"shardId"`
	// Records is how many records the shard holds now (put and not yet trimmed).
	Records uint64 `json:"records"`
	// LastSequenceNumber is the sequence number of the last record put on the shard, empty if none was.
	LastSequenceNumber string `json:"lastSequenceNumber"`
}

// Log is a sharded durable stream on a bbolt database. Its methods are safe for concurrent use.
type Log struct {
	db        *bolt.DB
	name      string
	retention time.Duration
	now       func() time.Time
	ranges    []stream.HashRange
	shards    []shardInfo
	byID      map[string]int

	mu    sync.Mutex
	state []shardState // guarded by mu

	// puts holds *putScratch buffers for PutRecords, reused once a call has committed.
	puts sync.Pool
}

// shardInfo is what a Log knows about a shard that never changes.
type shardInfo struct {
	id     string
	bucket []byte
	// seqPrefix starts every sequence number of the shard.
	seqPrefix string
}

// shardState is a shard's position in memory, kept equal to what is committed.
type shardState struct {
	// last is the counter of the last record put (0 for none); trimmed the counter of the last one trimmed.
	last, trimmed uint64
	// changed is closed and replaced when records are put on the shard.
	changed chan struct{}
}

// metaRange is the stored form of a shard's hash key range.
type metaRange struct {
	ShardID         string `json:"ShardId"`
	StartingHashKey string `json:"StartingHashKey"`
	EndingHashKey   string `json:"EndingHashKey"`
}

// Keys of the meta bucket.
const (
	metaShardCount = "shardCount"
	metaHashRanges = "hashRanges"
)

// Open creates the stream's buckets in db, or loads them when the stream exists, and returns its Log. It
// fails with ErrShardCountMismatch when the stream exists with another shard count. It starts no goroutine:
// Run trims expired records.
func Open(db *bolt.DB, opts Options) (*Log, error) {
	if err := validateOptions(opts); err != nil {
		return nil, err
	}
	l := &Log{
		db:        db,
		name:      opts.StreamName,
		retention: opts.Retention,
		now:       opts.Now,
		byID:      make(map[string]int, opts.Shards),
	}
	if l.retention == 0 {
		l.retention = DefaultRetention
	}
	if l.now == nil {
		l.now = time.Now
	}
	prefix := "stream/" + opts.StreamName + "/"
	metaName := []byte(prefix + "meta")
	err := db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(metaName)
		if err != nil {
			return err
		}
		ranges, err := loadOrCreateRanges(meta, opts)
		if err != nil {
			return err
		}
		l.ranges = ranges
		l.shards = make([]shardInfo, len(ranges))
		l.state = make([]shardState, len(ranges))
		for i := range ranges {
			id := stream.ShardID(i)
			info := shardInfo{id: id, bucket: []byte(prefix + "shard/" + id), seqPrefix: seqPrefix(i)}
			b, err := tx.CreateBucketIfNotExists(info.bucket)
			if err != nil {
				return err
			}
			last := b.Sequence()
			trimmed := last
			if k, _ := b.Cursor().First(); k != nil {
				trimmed = counterOf(k) - 1
			}
			l.shards[i] = info
			l.state[i] = shardState{last: last, trimmed: trimmed, changed: make(chan struct{})}
			l.byID[id] = i
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("shardlog: open stream %q: %w", opts.StreamName, err)
	}
	return l, nil
}

// validateOptions checks the options Open needs.
func validateOptions(opts Options) error {
	n := opts.StreamName
	if n == "" || len(n) > 128 {
		return fmt.Errorf("%w: stream name %q must have 1 to 128 characters", ErrInvalidArgument, n)
	}
	for i := 0; i < len(n); i++ {
		c := n[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == '-') {
			return fmt.Errorf("%w: stream name %q may hold only [a-zA-Z0-9_.-]", ErrInvalidArgument, n)
		}
	}
	if opts.Shards < 1 || opts.Shards > MaxShards {
		return fmt.Errorf("%w: stream %q: shard count %d is not in 1..%d", ErrInvalidArgument, n, opts.Shards, MaxShards)
	}
	if opts.Retention < 0 {
		return fmt.Errorf("%w: stream %q: negative retention %s", ErrInvalidArgument, n, opts.Retention)
	}
	return nil
}

// loadOrCreateRanges returns the stream's hash ranges from its meta bucket, storing even ranges for a new
// stream.
func loadOrCreateRanges(meta *bolt.Bucket, opts Options) ([]stream.HashRange, error) {
	stored := meta.Get([]byte(metaShardCount))
	if stored == nil {
		ranges := stream.EvenRanges(opts.Shards)
		out := make([]metaRange, len(ranges))
		for i, r := range ranges {
			out[i] = metaRange{ShardID: stream.ShardID(i), StartingHashKey: r.StartingHashKey(), EndingHashKey: r.EndingHashKey()}
		}
		js, err := json.Marshal(out)
		if err != nil {
			return nil, err
		}
		if err := meta.Put([]byte(metaShardCount), []byte(strconv.Itoa(opts.Shards))); err != nil {
			return nil, err
		}
		if err := meta.Put([]byte(metaHashRanges), js); err != nil {
			return nil, err
		}
		return ranges, nil
	}
	count, err := strconv.Atoi(string(stored))
	if err != nil {
		return nil, fmt.Errorf("corrupt shard count %q: %w", stored, err)
	}
	if count != opts.Shards && !opts.AdoptShards {
		return nil, fmt.Errorf("%w: the stream exists with %d shards, the options ask for %d", ErrShardCountMismatch, count, opts.Shards)
	}
	var in []metaRange
	if err := json.Unmarshal(meta.Get([]byte(metaHashRanges)), &in); err != nil {
		return nil, fmt.Errorf("corrupt hash ranges: %w", err)
	}
	if len(in) != count {
		return nil, fmt.Errorf("corrupt hash ranges: %d ranges for %d shards", len(in), count)
	}
	ranges := make([]stream.HashRange, count)
	for i, m := range in {
		start, err := stream.ParseHashKey(m.StartingHashKey)
		if err != nil {
			return nil, fmt.Errorf("corrupt hash range of %s: %w", m.ShardID, err)
		}
		end, err := stream.ParseHashKey(m.EndingHashKey)
		if err != nil {
			return nil, fmt.Errorf("corrupt hash range of %s: %w", m.ShardID, err)
		}
		ranges[i] = stream.HashRange{Start: start, End: end}
	}
	return ranges, nil
}

// StreamName returns the name of the stream.
func (l *Log) StreamName() string { return l.name }

// ShardIDs returns the ids of the stream's shards in order.
func (l *Log) ShardIDs() []string {
	out := make([]string, len(l.shards))
	for i, s := range l.shards {
		out[i] = s.id
	}
	return out
}

// Shards returns the stream's shards in order, with their hash key ranges in decimal.
func (l *Log) Shards() []Shard {
	out := make([]Shard, len(l.shards))
	for i, s := range l.shards {
		out[i] = Shard{ID: s.id, StartingHashKey: l.ranges[i].StartingHashKey(), EndingHashKey: l.ranges[i].EndingHashKey()}
	}
	return out
}

// Latest returns the sequence number of the last record put on the shard (even if it has since been
// trimmed), and false when the shard is unknown or no record was ever put on it. Reading after it returns only
// records put later: the position Kinesis calls LATEST.
func (l *Log) Latest(shardID string) (string, bool) {
	i, ok := l.byID[shardID]
	if !ok {
		return "", false
	}
	l.mu.Lock()
	last := l.state[i].last
	l.mu.Unlock()
	if last == 0 {
		return "", false
	}
	return formatSeq(l.shards[i].seqPrefix, last), true
}

// Stats returns each shard's record count and last sequence number, from memory.
func (l *Log) Stats() []ShardStats {
	out := make([]ShardStats, len(l.shards))
	l.mu.Lock()
	defer l.mu.Unlock()
	for i, s := range l.shards {
		st := l.state[i]
		out[i] = ShardStats{ShardID: s.id, Records: st.last - st.trimmed}
		if st.last > 0 {
			out[i].LastSequenceNumber = formatSeq(s.seqPrefix, st.last)
		}
	}
	return out
}

// shardIndex returns the index of a shard id, or an error wrapping ErrShardNotFound.
func (l *Log) shardIndex(shardID string) (int, error) {
	i, ok := l.byID[shardID]
	if !ok {
		return 0, fmt.Errorf("%w: %s on stream %q", ErrShardNotFound, shardID, l.name)
	}
	return i, nil
}
