package shardlog

import (
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/stream"
)

// PutRecords appends recs to the stream and returns one result per record, result i for recs[i], with the
// shard and sequence number it got. It returns after the records are committed and synced to disk, all of
// them in one transaction; concurrent calls share transactions.
//
// As Kinesis rejects such a call whole, it fails with an error wrapping ErrInvalidArgument, naming the first
// bad record's index, when recs is empty or holds more than event.MaxRecordsPerPut records, when a partition key is
// empty or longer than event.MaxPartitionKeyLength characters, when a record's data and partition key exceed
// event.MaxRecordBytes bytes, or
// when the call's data and keys exceed event.MaxPutBytes bytes.
func (l *Log) PutRecords(ctx context.Context, recs []event.Record) ([]event.PutResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	size, err := validateRecords(recs)
	if err != nil {
		return nil, fmt.Errorf("shardlog: put records on stream %q: %w", l.name, err)
	}

	// Encode every record before the transaction, into one buffer: its key (filled with the counter in the
	// transaction) and its value (the arrival time is filled in the transaction too). bbolt needs both to
	// stay untouched until the transaction ends; a rerun of the batch function starts a new transaction.
	n := len(recs)
	sc, _ := l.puts.Get().(*putScratch)
	if sc == nil {
		sc = new(putScratch)
	}
	// bbolt keeps references to keys and values until the transaction ends; Batch returns after it has.
	defer l.puts.Put(sc)
	if need := 8*n + recordHeader*n + size; cap(sc.buf) < need {
		sc.buf = make([]byte, need)
	}
	if cap(sc.items) < n {
		sc.items = make([]pendingRecord, n)
	}
	buf, items := sc.buf, sc.items[:n]
	off := 0
	for i := range recs {
		r := &recs[i]
		it := &items[i]
		it.shard = stream.ShardFor(l.ranges, stream.PartitionHash(r.PartitionKey))
		if it.shard < 0 {
			return nil, fmt.Errorf("shardlog: stream %q: no shard holds the hash of record %d", l.name, i)
		}
		it.key = buf[off : off+8 : off+8]
		off += 8
		vlen := recordHeader + len(r.PartitionKey) + len(r.Data)
		it.value = buf[off : off+vlen : off+vlen]
		off += vlen
		binary.BigEndian.PutUint16(it.value[8:], uint16(len(r.PartitionKey)))
		copy(it.value[recordHeader:], r.PartitionKey)
		copy(it.value[recordHeader+len(r.PartitionKey):], r.Data)
	}
	touched := make([]shardTx, len(l.shards))

	err = l.db.Batch(func(tx *bolt.Tx) error {
		// The function may run more than once: everything it decides is decided again here.
		clear(touched)
		now := l.now().UnixNano()
		for i := range items {
			it := &items[i]
			st := &touched[it.shard]
			if st.bucket == nil {
				st.bucket = tx.Bucket(l.shards[it.shard].bucket)
				if st.bucket == nil {
					return fmt.Errorf("bucket of shard %s is missing", l.shards[it.shard].id)
				}
				// Keys only ever grow: full pages halve the pages each commit writes (the default
				// fill splits appended pages half-empty).
				st.bucket.FillPercent = 1.0
				// Arrival times never go back within a shard, so that AT_TIMESTAMP reads and trimming can
				// rely on their order even when the clock steps back.
				st.arrival = now
				if k, v := st.bucket.Cursor().Last(); k != nil && arrivalOf(v) > now {
					st.arrival = arrivalOf(v)
				}
			}
			c, err := st.bucket.NextSequence()
			if err != nil {
				return err
			}
			binary.BigEndian.PutUint64(it.key, c)
			binary.BigEndian.PutUint64(it.value, uint64(st.arrival))
			if err := st.bucket.Put(it.key, it.value); err != nil {
				return fmt.Errorf("shard %s: %w", l.shards[it.shard].id, err)
			}
			it.counter = c
			st.last = c
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("shardlog: put %d records on stream %q: %w", n, l.name, err)
	}

	// The results' sequence numbers share one string.
	var seqs strings.Builder
	seqs.Grow(seqLen * n)
	seqBuf := make([]byte, 0, seqLen)
	for i := range items {
		seqBuf = appendSeq(seqBuf[:0], l.shards[items[i].shard].seqPrefix, items[i].counter)
		seqs.Write(seqBuf)
	}
	all := seqs.String()
	results := make([]event.PutResult, n)
	for i := range items {
		results[i] = event.PutResult{ShardID: l.shards[items[i].shard].id, SequenceNumber: all[i*seqLen : (i+1)*seqLen]}
	}
	l.committed(touched)
	return results, nil
}

// putScratch holds the buffers of one PutRecords call.
type putScratch struct {
	buf   []byte
	items []pendingRecord
}

// pendingRecord is a record of a PutRecords call on its way into the database.
type pendingRecord struct {
	shard      int
	key, value []byte
	counter    uint64
}

// shardTx is a shard's part in one PutRecords transaction.
type shardTx struct {
	bucket  *bolt.Bucket
	arrival int64
	last    uint64
}

// committed records the last counters of a committed put and wakes the shards' waiters.
func (l *Log) committed(touched []shardTx) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range touched {
		st := &l.state[i]
		if touched[i].last > st.last {
			st.last = touched[i].last
			close(st.changed)
			st.changed = make(chan struct{})
		}
	}
}

// validateRecords checks recs against Kinesis's limits and returns the bytes of their keys and data.
func validateRecords(recs []event.Record) (int, error) {
	if len(recs) == 0 {
		return 0, fmt.Errorf("%w: no records", ErrInvalidArgument)
	}
	if len(recs) > event.MaxRecordsPerPut {
		return 0, fmt.Errorf("%w: %d records, at most %d are allowed", ErrInvalidArgument, len(recs), event.MaxRecordsPerPut)
	}
	size := 0
	for i := range recs {
		r := &recs[i]
		if r.PartitionKey == "" {
			return 0, fmt.Errorf("%w: record %d: empty partition key", ErrInvalidArgument, i)
		}
		if len(r.PartitionKey) > event.MaxPartitionKeyLength && utf8.RuneCountInString(r.PartitionKey) > event.MaxPartitionKeyLength {
			return 0, fmt.Errorf("%w: record %d: partition key longer than %d characters", ErrInvalidArgument, i, event.MaxPartitionKeyLength)
		}
		// Kinesis counts the partition key with the data against the record limit.
		if n := len(r.PartitionKey) + len(r.Data); n > event.MaxRecordBytes {
			return 0, fmt.Errorf("%w: record %d: %d bytes of data and partition key, at most %d are allowed", ErrInvalidArgument, i, n, event.MaxRecordBytes)
		}
		size += len(r.PartitionKey) + len(r.Data)
	}
	if size > event.MaxPutBytes {
		return 0, fmt.Errorf("%w: %d bytes of data and partition keys, at most %d are allowed", ErrInvalidArgument, size, event.MaxPutBytes)
	}
	return size, nil
}
