package kinesis

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/stream/kinesis/kpl"
)

// Reader limits and defaults.
const (
	// MaxReadLimit is the most records one GetRecords call returns, and the limit used when none is given.
	MaxReadLimit = 10000
	// DefaultListTimeout bounds the ListShards calls of ShardIDs, which has no context of its own.
	DefaultListTimeout = 30 * time.Second
	// maxEmptyPages is how many empty GetRecords pages a read follows while the shard reports records
	// behind them (Kinesis may answer empty pages from the trim horizon of a sparse shard).
	maxEmptyPages = 5
)

// Reader reads the shards of a Kinesis stream with GetShardIterator and GetRecords. It implements esm.Reader
// and is safe for concurrent use (one reader per shard at a time, as the event source mapping reads).
//
// It keeps each shard's next iterator between calls: a ReadAfter that starts where the previous read of the
// shard ended goes on with GetRecords alone; any other position gets a new iterator. An expired iterator is
// replaced, throttling is retried with backoff, and a closed shard (after a reshard) reads empty once it is
// drained.
type Reader struct {
	api         ReadAPI
	ref         streamRef
	retry       retryPolicy
	deaggregate bool
	listTimeout time.Duration

	shards shardList

	mu    sync.Mutex
	iters map[string]iterState // by shard id; guarded by mu
}

// iterState is where a shard's last read ended.
type iterState struct {
	// after is the sequence number the iterator follows ("" for the trim horizon).
	after string
	// iter is the next shard iterator, "" when a new one must be asked for.
	iter string
	// closed is set when the shard is closed and everything after `after` was read.
	closed bool
}

// ReaderOption configures a Reader.
type ReaderOption func(*Reader)

// WithReadRetries sets how many times a throttled call is made, the first included, and the first and
// longest wait between attempts (DefaultMaxAttempts, DefaultInitialBackoff, DefaultMaxBackoff).
func WithReadRetries(maxAttempts int, initial, maximum time.Duration) ReaderOption {
	return func(r *Reader) {
		r.retry = retryPolicy{maxAttempts: max(maxAttempts, 1), initial: initial, maximum: max(initial, maximum)}
	}
}

// WithDeaggregation makes reads de-aggregate KPL aggregated records (package kpl): each user record becomes
// a StreamRecord with its own partition key and the sequence number of its aggregated record, which is
// shared by all of them. A read returns whole aggregated records: at most limit user records, unless the
// first aggregated record alone holds more. A corrupt aggregated record fails the read.
func WithDeaggregation(on bool) ReaderOption {
	return func(r *Reader) { r.deaggregate = on }
}

// WithListTimeout bounds the ListShards calls that ShardIDs makes (DefaultListTimeout).
func WithListTimeout(d time.Duration) ReaderOption {
	return func(r *Reader) { r.listTimeout = d }
}

// NewReader returns a Reader of the stream with the given name or ARN through api. It does no I/O.
func NewReader(api ReadAPI, streamNameOrARN string, opts ...ReaderOption) (*Reader, error) {
	if api == nil {
		return nil, fmt.Errorf("%w: nil Kinesis client", ErrInvalidArgument)
	}
	ref, err := newStreamRef(streamNameOrARN)
	if err != nil {
		return nil, err
	}
	r := &Reader{api: api, ref: ref, retry: defaultRetry(), listTimeout: DefaultListTimeout, iters: map[string]iterState{}}
	for _, o := range opts {
		o(r)
	}
	return r, nil
}

// LoadShards lists the stream's shards with ListShards (once; later calls answer from memory) and returns
// their ids in the order Kinesis lists them. Call it before handing the Reader to a mapping to see why a
// listing fails: ShardIDs cannot say.
func (r *Reader) LoadShards(ctx context.Context) ([]string, error) {
	l, err := r.shards.get(ctx, r.api, r.ref, false)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	ids := make([]string, len(l.shards))
	for i, s := range l.shards {
		ids[i] = s.ID
	}
	return ids, nil
}

// ShardIDs returns the ids of the stream's shards, open and closed, listing them on first use within the
// list timeout. It returns nil when they cannot be listed (LoadShards returns the error).
func (r *Reader) ShardIDs() []string {
	ctx, cancel := context.WithTimeout(context.Background(), r.listTimeout)
	defer cancel()
	ids, err := r.LoadShards(ctx)
	if err != nil {
		return nil
	}
	return ids
}

// checkShard fails with ErrShardNotFound for a shard the stream does not list (listing again once, in case
// of a reshard).
func (r *Reader) checkShard(ctx context.Context, shardID string) error {
	for _, stale := range []bool{false, true} {
		l, err := r.shards.get(ctx, r.api, r.ref, stale)
		if err != nil {
			return err
		}
		l.mu.Lock()
		for _, s := range l.shards {
			if s.ID == shardID {
				l.mu.Unlock()
				return nil
			}
		}
		l.mu.Unlock()
	}
	return fmt.Errorf("kinesis: read shard %s of stream %s: %w", shardID, r.ref, ErrShardNotFound)
}

// position is where a new iterator starts.
type position struct {
	typ types.ShardIteratorType
	seq string
}

// ReadAfter returns up to limit records of shardID that follow afterSeq ("" reads from the trim horizon), in
// order; limit <= 0 or above MaxReadLimit means MaxReadLimit. It returns no records and a nil error when none
// follow yet. It does not wait for records.
func (r *Reader) ReadAfter(ctx context.Context, shardID, afterSeq string, limit int) ([]event.StreamRecord, error) {
	pos := position{typ: types.ShardIteratorTypeTrimHorizon}
	if afterSeq != "" {
		pos = position{typ: types.ShardIteratorTypeAfterSequenceNumber, seq: afterSeq}
	}
	return r.read(ctx, shardID, afterSeq, pos, limit)
}

// ReadAt returns up to limit records of shardID from the record with sequence number atSeq on, in order (an
// AT_SEQUENCE_NUMBER iterator): the read of the dead-letter tools, which name a record by its sequence
// number.
func (r *Reader) ReadAt(ctx context.Context, shardID, atSeq string, limit int) ([]event.StreamRecord, error) {
	if atSeq == "" {
		return nil, fmt.Errorf("kinesis: read shard %s of stream %s: %w: empty sequence number", shardID, r.ref, ErrInvalidArgument)
	}
	return r.read(ctx, shardID, "\x00at", position{typ: types.ShardIteratorTypeAtSequenceNumber, seq: atSeq}, limit)
}

// read reads from pos, going on with the cached iterator when the last read of the shard ended at key.
func (r *Reader) read(ctx context.Context, shardID, key string, pos position, limit int) ([]event.StreamRecord, error) {
	if limit <= 0 || limit > MaxReadLimit {
		limit = MaxReadLimit
	}
	if err := r.checkShard(ctx, shardID); err != nil {
		return nil, err
	}
	r.mu.Lock()
	st, ok := r.iters[shardID]
	delete(r.iters, shardID)
	r.mu.Unlock()
	iter := ""
	if ok && st.after == key {
		if st.closed {
			r.keep(shardID, st)
			return nil, nil
		}
		iter = st.iter
	}
	recs, next, err := r.getRecords(ctx, shardID, iter, pos, limit)
	if err != nil {
		return nil, err
	}
	after := key
	if key == "\x00at" {
		// A ReadAt that read nothing leaves no position to go on from.
		after = "\x00none"
	}
	cut := false
	if r.deaggregate {
		if recs, cut, err = r.expand(recs, limit); err != nil {
			return nil, fmt.Errorf("kinesis: read shard %s of stream %s: %w", shardID, r.ref, err)
		}
	}
	if n := len(recs); n > 0 {
		after = recs[n-1].SequenceNumber
	}
	switch {
	case cut:
		// The iterator is past records not returned: the next read asks for a new one.
		r.keep(shardID, iterState{after: after})
	case next == nil:
		r.keep(shardID, iterState{after: after, closed: true})
	default:
		r.keep(shardID, iterState{after: after, iter: *next})
	}
	return recs, nil
}

// keep stores where a shard's read ended.
func (r *Reader) keep(shardID string, st iterState) {
	r.mu.Lock()
	r.iters[shardID] = st
	r.mu.Unlock()
}

// iterator asks for a new shard iterator at pos, retrying throttling and requests lost on the way.
func (r *Reader) iterator(ctx context.Context, shardID string, pos position) (string, error) {
	in := &kinesis.GetShardIteratorInput{ShardId: aws.String(shardID), ShardIteratorType: pos.typ}
	in.StreamName, in.StreamARN = r.ref.fields()
	if pos.seq != "" {
		in.StartingSequenceNumber = aws.String(pos.seq)
	}
	bo := r.retry.newBackOff()
	for attempt := 1; ; attempt++ {
		out, err := r.api.GetShardIterator(ctx, in)
		if err == nil {
			return aws.ToString(out.ShardIterator), nil
		}
		err = fmt.Errorf("kinesis: get %s iterator of shard %s of stream %s: %w", pos.typ, shardID, r.ref, err)
		if !readRetryable(err) || attempt >= r.retry.maxAttempts || sleep(ctx, bo.NextBackOff()) != nil {
			return "", err
		}
	}
}

// getRecords reads one page from iter (a new iterator at pos when iter is ""), replacing an expired iterator
// once, retrying throttling and following empty pages that have records behind them. It returns the records
// and the next iterator (nil for a closed shard read to its end).
func (r *Reader) getRecords(ctx context.Context, shardID, iter string, pos position, limit int) ([]event.StreamRecord, *string, error) {
	if iter == "" {
		var err error
		if iter, err = r.iterator(ctx, shardID, pos); err != nil {
			return nil, nil, err
		}
	}
	renewed := false
	bo := r.retry.newBackOff()
	attempt, empty := 0, 0
	for {
		in := &kinesis.GetRecordsInput{ShardIterator: aws.String(iter), Limit: aws.Int32(int32(limit))}
		if r.ref.arn != "" {
			in.StreamARN = aws.String(r.ref.arn)
		}
		out, err := r.api.GetRecords(ctx, in)
		if err != nil {
			err = fmt.Errorf("kinesis: get records of shard %s of stream %s: %w", shardID, r.ref, err)
			attempt++
			switch {
			case apiCode(err) == codeExpiredIterator && !renewed && empty == 0:
				// Start again at the position the expired iterator stood for.
				if iter, err = r.iterator(ctx, shardID, pos); err != nil {
					return nil, nil, err
				}
				renewed = true
				continue
			case readRetryable(err) && attempt < r.retry.maxAttempts:
				if sleep(ctx, bo.NextBackOff()) != nil {
					return nil, nil, err
				}
				continue
			}
			return nil, nil, err
		}
		next := out.NextShardIterator
		if len(out.Records) > 0 || next == nil || aws.ToInt64(out.MillisBehindLatest) == 0 || empty >= maxEmptyPages {
			return convert(shardID, out.Records), next, nil
		}
		iter = *next
		empty++
	}
}

// convert turns Kinesis records into stream records.
func convert(shardID string, in []types.Record) []event.StreamRecord {
	if len(in) == 0 {
		return nil
	}
	out := make([]event.StreamRecord, len(in))
	for i, rec := range in {
		out[i] = event.StreamRecord{
			ShardID:        shardID,
			SequenceNumber: aws.ToString(rec.SequenceNumber),
			PartitionKey:   aws.ToString(rec.PartitionKey),
			Data:           rec.Data,
			ArrivalTime:    aws.ToTime(rec.ApproximateArrivalTimestamp).UTC(),
		}
	}
	return out
}

// expand de-aggregates recs, returning whole aggregated records, at least one, up to limit user records; cut
// reports that some were left out.
func (r *Reader) expand(recs []event.StreamRecord, limit int) (out []event.StreamRecord, cut bool, err error) {
	for i, rec := range recs {
		subs, err := kpl.Deaggregate(rec.PartitionKey, rec.Data)
		if err != nil {
			return nil, false, fmt.Errorf("record %s: %w", rec.SequenceNumber, err)
		}
		if i > 0 && len(out)+len(subs) > limit {
			return out, true, nil
		}
		for _, s := range subs {
			sub := rec
			sub.PartitionKey, sub.Data = s.PartitionKey, s.Data
			out = append(out, sub)
		}
	}
	return out, false, nil
}
