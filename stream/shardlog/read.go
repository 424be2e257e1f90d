package shardlog

import (
	"context"
	"fmt"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/serverless-data-platform/sdp/event"
)

// IteratorType says where in a shard a Read starts, as Kinesis's ShardIteratorType.
type IteratorType int

// The iterator types, named as Kinesis names them. The zero value is TrimHorizon.
const (
	// TrimHorizon starts at the oldest record the shard holds.
	TrimHorizon IteratorType = iota
	// Latest starts after the newest record: a Read at Latest returns nothing that is already in the shard.
	Latest
	// AtSequenceNumber starts at the record with Position.SequenceNumber.
	AtSequenceNumber
	// AfterSequenceNumber starts right after the record with Position.SequenceNumber.
	AfterSequenceNumber
	// AtTimestamp starts at the first record that arrived at or after Position.Timestamp.
	AtTimestamp
)

// String returns the Kinesis name of t, such as "TRIM_HORIZON".
func (t IteratorType) String() string {
	switch t {
	case TrimHorizon:
		return "TRIM_HORIZON"
	case Latest:
		return "LATEST"
	case AtSequenceNumber:
		return "AT_SEQUENCE_NUMBER"
	case AfterSequenceNumber:
		return "AFTER_SEQUENCE_NUMBER"
	case AtTimestamp:
		return "AT_TIMESTAMP"
	}
	return fmt.Sprintf("IteratorType(%d)", int(t))
}

// ParseIteratorType returns the iterator type with the given Kinesis name, ignoring case.
func ParseIteratorType(s string) (IteratorType, error) {
	for t := TrimHorizon; t <= AtTimestamp; t++ {
		if strings.EqualFold(s, t.String()) {
			return t, nil
		}
	}
	return 0, fmt.Errorf("%w: unknown shard iterator type %q", ErrInvalidArgument, s)
}

// Position is where a Read starts: an iterator type with the sequence number or timestamp it needs.
type Position struct {
	Type IteratorType
	// SequenceNumber is used by AtSequenceNumber and AfterSequenceNumber.
	SequenceNumber string
	// Timestamp is used by AtTimestamp.
	Timestamp time.Time
}

// Read returns up to limit records of a shard, in order, starting at pos; limit <= 0 or above MaxReadLimit
// means MaxReadLimit. A sequence number older than the trim horizon reads from the trim horizon. It fails with
// an error wrapping ErrShardNotFound for an unknown shard and ErrInvalidArgument for a sequence number that is
// not one of the shard's.
func (l *Log) Read(ctx context.Context, shardID string, pos Position, limit int) ([]event.StreamRecord, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	i, err := l.shardIndex(shardID)
	if err != nil {
		return nil, err
	}
	if limit <= 0 || limit > MaxReadLimit {
		limit = MaxReadLimit
	}
	s := &l.shards[i]
	var start uint64
	switch pos.Type {
	case TrimHorizon, AtTimestamp:
	case Latest:
		return nil, nil
	case AtSequenceNumber, AfterSequenceNumber:
		c, err := parseSeq(s.seqPrefix, s.id, pos.SequenceNumber)
		if err != nil {
			return nil, err
		}
		start = c
		if pos.Type == AfterSequenceNumber {
			start++
		}
	default:
		return nil, fmt.Errorf("%w: unknown shard iterator type %d", ErrInvalidArgument, int(pos.Type))
	}
	var out []event.StreamRecord
	err = l.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(s.bucket)
		if b == nil {
			return fmt.Errorf("bucket of shard %s is missing", s.id)
		}
		if pos.Type == AtTimestamp {
			start = searchTime(b, pos.Timestamp.UnixNano())
		}
		out, err = collect(b, s, start, limit)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("shardlog: read shard %s of stream %q: %w", shardID, l.name, err)
	}
	return out, nil
}

// ReadAfter returns up to limit records of a shard that follow afterSeq, or from the trim horizon when afterSeq
// is empty: the read of a poller that remembers the last sequence number it took.
func (l *Log) ReadAfter(ctx context.Context, shardID, afterSeq string, limit int) ([]event.StreamRecord, error) {
	if afterSeq == "" {
		return l.Read(ctx, shardID, Position{Type: TrimHorizon}, limit)
	}
	return l.Read(ctx, shardID, Position{Type: AfterSequenceNumber, SequenceNumber: afterSeq}, limit)
}

// Wait blocks until the shard holds a record after afterSeq (any record when afterSeq is empty), or until ctx
// is done, when it returns ctx.Err(). It is woken by committed puts, without polling.
func (l *Log) Wait(ctx context.Context, shardID, afterSeq string) error {
	i, err := l.shardIndex(shardID)
	if err != nil {
		return err
	}
	var after uint64
	if afterSeq != "" {
		if after, err = parseSeq(l.shards[i].seqPrefix, shardID, afterSeq); err != nil {
			return err
		}
	}
	for {
		l.mu.Lock()
		st := &l.state[i]
		ready := st.last > max(after, st.trimmed)
		ch := st.changed
		l.mu.Unlock()
		if ready {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// searchTime returns a counter to seek to for the first record of b that arrived at or after ts (one past the
// last record when none did), by binary search: arrival times do not decrease along a shard.
func searchTime(b *bolt.Bucket, ts int64) uint64 {
	c := b.Cursor()
	fk, _ := c.First()
	lk, lv := c.Last()
	if fk == nil {
		return 0
	}
	if arrivalOf(lv) < ts {
		return counterOf(lk) + 1
	}
	lo, hi := counterOf(fk), counterOf(lk)
	for lo < hi {
		mid := lo + (hi-lo)/2
		// Seek lands on mid, or on the next record should counters ever have a gap.
		k, v := c.Seek(counterKey(mid))
		if arrivalOf(v) >= ts {
			hi = mid
		} else {
			lo = counterOf(k) + 1
		}
	}
	return lo
}

// collect copies up to limit records of b from counter start on. The records share three allocations: one
// for the sequence numbers, one for the partition keys and one for the data.
func collect(b *bolt.Bucket, s *shardInfo, start uint64, limit int) ([]event.StreamRecord, error) {
	c := b.Cursor()
	type raw struct {
		counter  uint64
		arrival  int64
		pk, data []byte
	}
	var raws []raw
	pkBytes, dataBytes := 0, 0
	for k, v := c.Seek(counterKey(start)); k != nil && len(raws) < limit; k, v = c.Next() {
		pk, data, err := splitRecord(v)
		if err != nil {
			return nil, fmt.Errorf("record %d: %w", counterOf(k), err)
		}
		raws = append(raws, raw{counter: counterOf(k), arrival: arrivalOf(v), pk: pk, data: data})
		pkBytes += len(pk)
		dataBytes += len(data)
	}
	if len(raws) == 0 {
		return nil, nil
	}
	var seqs, pks strings.Builder
	seqs.Grow(seqLen * len(raws))
	pks.Grow(pkBytes)
	seqBuf := make([]byte, 0, seqLen)
	for _, r := range raws {
		seqBuf = appendSeq(seqBuf[:0], s.seqPrefix, r.counter)
		seqs.Write(seqBuf)
		pks.Write(r.pk)
	}
	allSeqs, allPKs := seqs.String(), pks.String()
	data := make([]byte, dataBytes)
	out := make([]event.StreamRecord, len(raws))
	pkOff, dataOff := 0, 0
	for i, r := range raws {
		d := data[dataOff : dataOff+len(r.data) : dataOff+len(r.data)]
		copy(d, r.data)
		dataOff += len(r.data)
		out[i] = event.StreamRecord{
			ShardID:        s.id,
			SequenceNumber: allSeqs[i*seqLen : (i+1)*seqLen],
			PartitionKey:   allPKs[pkOff : pkOff+len(r.pk)],
			Data:           d,
			ArrivalTime:    time.Unix(0, r.arrival).UTC(),
		}
		pkOff += len(r.pk)
	}
	return out, nil
}
