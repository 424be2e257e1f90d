package kinesis

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"golang.org/x/time/rate"

	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/stream/kinesis/kpl"
)

// Kinesis's write limits per shard, the defaults of the producer's shard rate limiter.
const (
	// DefaultShardRecordsPerSecond is how many records a shard takes per second.
	DefaultShardRecordsPerSecond = 1000
	// DefaultShardBytesPerSecond is how many bytes (data and partition keys) a shard takes per second.
	DefaultShardBytesPerSecond = 1 << 20
)

// Producer writes records to a Kinesis stream with PutRecords. It implements ingest.Producer and is safe for
// concurrent use.
//
// A PutRecords call of the Producer may make several Kinesis calls: records are split into calls of at most
// event.MaxRecordsPerPut records and event.MaxPutBytes bytes, sent in order. Entries that Kinesis refuses
// with ProvisionedThroughputExceededException or InternalFailure, and only those, are sent again with
// exponential backoff and jitter until they are taken, the attempts are used up or ctx is done; the results
// then say which records were taken (a sequence number) and which were not (Kinesis's error code). A retried
// record may land after records that followed it in the call, as with any PutRecords client.
//
// A rate limiter per shard (the shard found by the MD5 hash of the partition key against the ranges of
// ListShards) makes records bound for a hot shard wait for the shard's capacity instead of failing.
type Producer struct {
	api       PutAPI
	ref       streamRef
	retry     retryPolicy
	recRate   int
	byteRate  int
	aggregate bool

	shards shardList
	stale  atomic.Bool

	limMu    sync.Mutex
	limiters map[string]*shardLimiter // guarded by limMu
}

// shardLimiter holds a shard's record and byte rate limiters.
type shardLimiter struct {
	records, bytes *rate.Limiter
}

// ProducerOption configures a Producer.
type ProducerOption func(*Producer)

// WithMaxAttempts sets how many times an entry is sent, the first included, before its throttling or
// internal failure is reported (DefaultMaxAttempts; values below 1 mean 1).
func WithMaxAttempts(n int) ProducerOption {
	return func(p *Producer) { p.retry.maxAttempts = max(n, 1) }
}

// WithBackoff sets the first and the longest wait between attempts (DefaultInitialBackoff,
// DefaultMaxBackoff).
func WithBackoff(initial, maximum time.Duration) ProducerOption {
	return func(p *Producer) { p.retry.initial, p.retry.maximum = initial, max(initial, maximum) }
}

// WithShardRateLimit sets the records and bytes per second the producer sends to one shard (the defaults are
// Kinesis's limits, DefaultShardRecordsPerSecond and DefaultShardBytesPerSecond). Zero for both turns the
// limiter off; then ListShards is not called unless aggregation is on.
func WithShardRateLimit(recordsPerSecond, bytesPerSecond int) ProducerOption {
	return func(p *Producer) { p.recRate, p.byteRate = max(recordsPerSecond, 0), max(bytesPerSecond, 0) }
}

// WithAggregation turns on KPL aggregation (package kpl): the records of each call are grouped by shard and
// packed into aggregated records of at most event.MaxRecordBytes. Every record of an aggregated record gets
// that record's result (its sequence number, or its error code). Readers must de-aggregate (Reader's
// WithDeaggregation, or the KCL); the Lambda event source mapping does not.
func WithAggregation(on bool) ProducerOption {
	return func(p *Producer) { p.aggregate = on }
}

// NewProducer returns a Producer writing to the stream with the given name or ARN through api. It does no
// I/O.
func NewProducer(api PutAPI, streamNameOrARN string, opts ...ProducerOption) (*Producer, error) {
	if api == nil {
		return nil, fmt.Errorf("%w: nil Kinesis client", ErrInvalidArgument)
	}
	ref, err := newStreamRef(streamNameOrARN)
	if err != nil {
		return nil, err
	}
	p := &Producer{
		api:      api,
		ref:      ref,
		retry:    defaultRetry(),
		recRate:  DefaultShardRecordsPerSecond,
		byteRate: DefaultShardBytesPerSecond,
		limiters: map[string]*shardLimiter{},
	}
	for _, o := range opts {
		o(p)
	}
	return p, nil
}

// Shards returns the stream's shards, listing them with ListShards on first use.
func (p *Producer) Shards(ctx context.Context) ([]Shard, error) {
	l, err := p.shards.get(ctx, p.api, p.ref, false)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Shard(nil), l.shards...), nil
}

// entry is one Kinesis record of a call: a record of the caller or an aggregate of several.
type entry struct {
	pk, ehk string
	data    []byte
	shard   string
	// recs are the indexes of the caller's records the entry carries.
	recs   []int
	result event.PutResult
}

// size is the entry's size as Kinesis counts it.
func (e *entry) size() int { return len(e.pk) + len(e.data) }

// PutRecords writes recs and returns one result per record, in order. It refuses the whole call, sending
// nothing, with an error wrapping ErrInvalidArgument when recs is empty or a record is invalid for Kinesis
// (an empty partition key, one over event.MaxPartitionKeyLength characters, or a partition key and data
// over event.MaxRecordBytes), as Kinesis refuses such a request. Otherwise a non-nil error means no record
// was taken (the stream does not exist, access is denied, ctx ended before any was taken); when some were
// taken the others carry an error code and the error is nil.
func (p *Producer) PutRecords(ctx context.Context, recs []event.Record) ([]event.PutResult, error) {
	if err := validate(recs); err != nil {
		return nil, fmt.Errorf("kinesis: put records on stream %s: %w", p.ref, err)
	}
	entries, err := p.entries(ctx, recs)
	if err != nil {
		return nil, err
	}
	var callErr error
	for start := 0; start < len(entries); {
		end, size := start, 0
		for end < len(entries) && end-start < event.MaxRecordsPerPut && (end == start || size+entries[end].size() <= event.MaxPutBytes) {
			size += entries[end].size()
			end++
		}
		if err := p.send(ctx, entries[start:end]); err != nil {
			// The rest is not sent: mark it failed with the error.
			callErr = err
			code := codeInternalFailure
			if apiCode(err) == codeThroughputExceeded || errors.Is(err, errRateWait) {
				code = codeThroughputExceeded
			}
			for _, e := range entries[start:] {
				if e.result.SequenceNumber == "" {
					e.result = event.PutResult{ErrorCode: code, ErrorMessage: err.Error()}
				}
			}
			break
		}
		start = end
	}
	results := make([]event.PutResult, len(recs))
	taken := false
	for _, e := range entries {
		for _, i := range e.recs {
			results[i] = e.result
		}
		taken = taken || e.result.SequenceNumber != ""
	}
	if callErr != nil && !taken {
		return nil, callErr
	}
	return results, nil
}

// validate checks recs against Kinesis's limits on a PutRecords request.
func validate(recs []event.Record) error {
	if len(recs) == 0 {
		return fmt.Errorf("%w: no records", ErrInvalidArgument)
	}
	for i := range recs {
		r := &recs[i]
		switch {
		case r.PartitionKey == "":
			return fmt.Errorf("%w: record %d: empty partition key", ErrInvalidArgument, i)
		case len(r.PartitionKey) > event.MaxPartitionKeyLength && utf8.RuneCountInString(r.PartitionKey) > event.MaxPartitionKeyLength:
			return fmt.Errorf("%w: record %d: partition key longer than %d characters", ErrInvalidArgument, i, event.MaxPartitionKeyLength)
		case len(r.PartitionKey)+len(r.Data) > event.MaxRecordBytes:
			return fmt.Errorf("%w: record %d: %d bytes of data and partition key, at most %d are allowed",
				ErrInvalidArgument, i, len(r.PartitionKey)+len(r.Data), event.MaxRecordBytes)
		}
	}
	return nil
}

// entries turns the records into the Kinesis records to send: one each, or aggregates by shard.
func (p *Producer) entries(ctx context.Context, recs []event.Record) ([]*entry, error) {
	var shards *shardList
	if p.aggregate || p.limited() {
		var err error
		if shards, err = p.shards.get(ctx, p.api, p.ref, p.stale.Swap(false)); err != nil {
			return nil, err
		}
		shards.mu.Lock()
		defer shards.mu.Unlock()
	}
	shardOf := func(key string) string {
		if shards == nil {
			return ""
		}
		s, _ := shards.shardOf(key)
		return s.ID
	}
	if !p.aggregate {
		all := make([]entry, len(recs))
		idx := make([]int, len(recs))
		out := make([]*entry, len(recs))
		for i := range recs {
			idx[i] = i
			all[i] = entry{pk: recs[i].PartitionKey, data: recs[i].Data, shard: shardOf(recs[i].PartitionKey), recs: idx[i : i+1 : i+1]}
			out[i] = &all[i]
		}
		return out, nil
	}
	// One aggregator per shard; an aggregate is emitted when the next record of its shard does not fit.
	type open struct {
		agg  *kpl.Aggregator
		recs []int
	}
	byShard := map[string]*open{}
	var order []string
	var out []*entry
	flush := func(shard string, o *open) {
		pk, ehk, data, ok := o.agg.Flush()
		if ok {
			out = append(out, &entry{pk: pk, ehk: ehk, data: data, shard: shard, recs: o.recs})
			o.recs = nil
		}
	}
	for i := range recs {
		r := kpl.Record{PartitionKey: recs[i].PartitionKey, Data: recs[i].Data}
		shard := shardOf(r.PartitionKey)
		o := byShard[shard]
		if o == nil {
			o = &open{agg: kpl.NewAggregator(event.MaxRecordBytes)}
			byShard[shard] = o
			order = append(order, shard)
		}
		ok, err := o.agg.Add(r)
		if err == nil && !ok {
			flush(shard, o)
			_, err = o.agg.Add(r)
		}
		if err != nil {
			// Too large once aggregated: it goes alone, as a plain record, after the shard's records before it.
			flush(shard, o)
			out = append(out, &entry{pk: r.PartitionKey, data: r.Data, shard: shard, recs: []int{i}})
			continue
		}
		o.recs = append(o.recs, i)
	}
	for _, shard := range order {
		flush(shard, byShard[shard])
	}
	return out, nil
}

// limited reports whether the shard rate limiter is on.
func (p *Producer) limited() bool { return p.recRate > 0 || p.byteRate > 0 }

// errRateWait marks a wait for a shard's capacity that ctx ended.
var errRateWait = errors.New("waiting for the shard's write capacity")

// send puts one call's entries, sending again the entries Kinesis refuses with a retryable code. Its error
// is that of a whole call that could not be made; entries refused entry by entry keep their error code.
func (p *Producer) send(ctx context.Context, entries []*entry) error {
	pending := entries
	bo := p.retry.newBackOff()
	for attempt := 1; ; attempt++ {
		if err := p.wait(ctx, pending); err != nil {
			return fmt.Errorf("kinesis: put records on stream %s: %w: %w", p.ref, errRateWait, err)
		}
		out, err := p.api.PutRecords(ctx, p.input(pending))
		if err != nil {
			err = fmt.Errorf("kinesis: put %d records on stream %s: %w", len(pending), p.ref, err)
			if !retryable(err) || attempt >= p.retry.maxAttempts {
				return err
			}
			if sleep(ctx, bo.NextBackOff()) != nil {
				return err
			}
			continue
		}
		if len(out.Records) != len(pending) {
			return fmt.Errorf("kinesis: put records on stream %s: %d results for %d records", p.ref, len(out.Records), len(pending))
		}
		var again []*entry
		for j, r := range out.Records {
			e := pending[j]
			if code := aws.ToString(r.ErrorCode); code != "" {
				e.result = event.PutResult{ErrorCode: code, ErrorMessage: aws.ToString(r.ErrorMessage)}
				if code == codeThroughputExceeded || code == codeInternalFailure {
					again = append(again, e)
				}
				continue
			}
			e.result = event.PutResult{ShardID: aws.ToString(r.ShardId), SequenceNumber: aws.ToString(r.SequenceNumber)}
			if e.shard != "" && e.result.ShardID != e.shard {
				// The shard map is out of date (a reshard): list the shards again on the next call.
				p.stale.Store(true)
			}
		}
		if len(again) == 0 || attempt >= p.retry.maxAttempts {
			return nil
		}
		if sleep(ctx, bo.NextBackOff()) != nil {
			return nil
		}
		pending = again
	}
}

// input builds the request of a call.
func (p *Producer) input(entries []*entry) *kinesis.PutRecordsInput {
	in := &kinesis.PutRecordsInput{Records: make([]types.PutRecordsRequestEntry, len(entries))}
	in.StreamName, in.StreamARN = p.ref.fields()
	for i, e := range entries {
		in.Records[i] = types.PutRecordsRequestEntry{Data: e.data, PartitionKey: aws.String(e.pk)}
		if e.ehk != "" {
			in.Records[i].ExplicitHashKey = aws.String(e.ehk)
		}
	}
	return in
}

// wait blocks until every shard of the entries has the capacity to take them.
func (p *Producer) wait(ctx context.Context, entries []*entry) error {
	if !p.limited() {
		return nil
	}
	type need struct{ records, bytes int }
	needs := map[string]*need{}
	var order []string
	for _, e := range entries {
		if e.shard == "" {
			continue
		}
		n := needs[e.shard]
		if n == nil {
			n = &need{}
			needs[e.shard] = n
			order = append(order, e.shard)
		}
		n.records++
		n.bytes += e.size()
	}
	for _, shard := range order {
		l := p.limiter(shard)
		n := needs[shard]
		if err := waitN(ctx, l.records, n.records); err != nil {
			return err
		}
		if err := waitN(ctx, l.bytes, n.bytes); err != nil {
			return err
		}
	}
	return nil
}

// limiter returns the shard's limiters, creating them with a full bucket.
func (p *Producer) limiter(shard string) *shardLimiter {
	p.limMu.Lock()
	defer p.limMu.Unlock()
	l := p.limiters[shard]
	if l == nil {
		l = &shardLimiter{records: newLimiter(p.recRate), bytes: newLimiter(p.byteRate)}
		p.limiters[shard] = l
	}
	return l
}

// newLimiter returns a limiter of perSecond tokens per second with a burst of one second; nil for 0.
func newLimiter(perSecond int) *rate.Limiter {
	if perSecond <= 0 {
		return nil
	}
	return rate.NewLimiter(rate.Limit(perSecond), perSecond)
}

// waitN takes n tokens from l (nil takes nothing), in pieces of at most its burst.
func waitN(ctx context.Context, l *rate.Limiter, n int) error {
	if l == nil {
		return nil
	}
	for n > 0 {
		k := min(n, l.Burst())
		if err := l.WaitN(ctx, k); err != nil {
			return err
		}
		n -= k
	}
	return nil
}
