package kinesis_test

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"

	"github.com/serverless-data-platform/sdp/stream"
)

// memStream is an in-memory Kinesis stream behind the four calls the adapters make, with hooks to inject
// failures. Iterators are "shard/index-of-next-record".
type memStream struct {
	mu     sync.Mutex
	ranges []stream.HashRange
	shards [][]types.Record
	// closed marks shards closed by a reshard.
	closed map[int]bool

	// putCalls holds the partition keys of each PutRecords call's entries.
	putCalls [][]string
	// entries holds every entry sent, in order.
	entries []types.PutRecordsRequestEntry
	// failEntry, when set, gives the error code of entry j of call i ("" to take it).
	failEntry func(call, j int, e types.PutRecordsRequestEntry) string
	// failCall, when set, fails call i as a whole.
	failCall func(call int) error
	// failGet, when set, fails GetRecords call i as a whole.
	failGet func(call int) error

	listCalls, iterCalls, getCalls int
	iterTypes                      []types.ShardIteratorType
}

// newMemStream returns a stream of n even shards.
func newMemStream(n int) *memStream {
	return &memStream{ranges: stream.EvenRanges(n), shards: make([][]types.Record, n), closed: map[int]bool{}}
}

// apiError is a smithy API error with a code.
func apiError(code string) error {
	return &smithy.GenericAPIError{Code: code, Message: code + " (injected)"}
}

func (m *memStream) ListShards(_ context.Context, in *awskinesis.ListShardsInput, _ ...func(*awskinesis.Options)) (*awskinesis.ListShardsOutput, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.listCalls++
	// Two pages, to exercise NextToken: the first shard, then the rest.
	from, to := 0, 1
	if in.NextToken != nil {
		if in.StreamName != nil || in.StreamARN != nil {
			return nil, apiError("InvalidArgumentException")
		}
		from, to = 1, len(m.ranges)
	}
	out := &awskinesis.ListShardsOutput{}
	for i := from; i < to && i < len(m.ranges); i++ {
		sh := types.Shard{ShardId: aws.String(stream.ShardID(i)), HashKeyRange: &types.HashKeyRange{
			StartingHashKey: aws.String(m.ranges[i].StartingHashKey()), EndingHashKey: aws.String(m.ranges[i].EndingHashKey())},
			SequenceNumberRange: &types.SequenceNumberRange{StartingSequenceNumber: aws.String("1")}}
		if m.closed[i] {
			sh.SequenceNumberRange.EndingSequenceNumber = aws.String("999")
		}
		out.Shards = append(out.Shards, sh)
	}
	if to < len(m.ranges) {
		out.NextToken = aws.String("page-2")
	}
	return out, nil
}

// seq returns the sequence number of record k of shard i: equal-width decimals.
func seq(i, k int) string { return fmt.Sprintf("49%06d%020d", i, k+1) }

func (m *memStream) PutRecords(_ context.Context, in *awskinesis.PutRecordsInput, _ ...func(*awskinesis.Options)) (*awskinesis.PutRecordsOutput, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	call := len(m.putCalls)
	keys := make([]string, len(in.Records))
	for j, e := range in.Records {
		keys[j] = aws.ToString(e.PartitionKey)
	}
	m.putCalls = append(m.putCalls, keys)
	if m.failCall != nil {
		if err := m.failCall(call); err != nil {
			return nil, err
		}
	}
	out := &awskinesis.PutRecordsOutput{}
	for j, e := range in.Records {
		m.entries = append(m.entries, e)
		if m.failEntry != nil {
			if code := m.failEntry(call, j, e); code != "" {
				out.Records = append(out.Records, types.PutRecordsResultEntry{ErrorCode: aws.String(code), ErrorMessage: aws.String("injected")})
				out.FailedRecordCount = aws.Int32(aws.ToInt32(out.FailedRecordCount) + 1)
				continue
			}
		}
		i := stream.ShardFor(m.ranges, stream.PartitionHash(aws.ToString(e.PartitionKey)))
		k := len(m.shards[i])
		m.shards[i] = append(m.shards[i], types.Record{SequenceNumber: aws.String(seq(i, k)), PartitionKey: e.PartitionKey,
			Data: e.Data, ApproximateArrivalTimestamp: aws.Time(time.Unix(1700000000, 0))})
		out.Records = append(out.Records, types.PutRecordsResultEntry{ShardId: aws.String(stream.ShardID(i)), SequenceNumber: aws.String(seq(i, k))})
	}
	return out, nil
}

func (m *memStream) GetShardIterator(_ context.Context, in *awskinesis.GetShardIteratorInput, _ ...func(*awskinesis.Options)) (*awskinesis.GetShardIteratorOutput, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.iterCalls++
	m.iterTypes = append(m.iterTypes, in.ShardIteratorType)
	i, err := stream.ParseShardID(aws.ToString(in.ShardId))
	if err != nil || i >= len(m.shards) {
		return nil, apiError("ResourceNotFoundException")
	}
	next := 0
	switch in.ShardIteratorType {
	case types.ShardIteratorTypeAtSequenceNumber, types.ShardIteratorTypeAfterSequenceNumber:
		k, err := strconv.Atoi(strings.TrimLeft(aws.ToString(in.StartingSequenceNumber)[8:], "0"))
		if err != nil {
			return nil, apiError("InvalidArgumentException")
		}
		next = k - 1
		if in.ShardIteratorType == types.ShardIteratorTypeAfterSequenceNumber {
			next = k
		}
	}
	return &awskinesis.GetShardIteratorOutput{ShardIterator: aws.String(fmt.Sprintf("%d/%d", i, next))}, nil
}

func (m *memStream) GetRecords(_ context.Context, in *awskinesis.GetRecordsInput, _ ...func(*awskinesis.Options)) (*awskinesis.GetRecordsOutput, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	call := m.getCalls
	m.getCalls++
	if m.failGet != nil {
		if err := m.failGet(call); err != nil {
			return nil, err
		}
	}
	var i, next int
	if _, err := fmt.Sscanf(aws.ToString(in.ShardIterator), "%d/%d", &i, &next); err != nil {
		return nil, apiError("InvalidArgumentException")
	}
	end := min(next+int(aws.ToInt32(in.Limit)), len(m.shards[i]))
	out := &awskinesis.GetRecordsOutput{Records: append([]types.Record(nil), m.shards[i][next:end]...), MillisBehindLatest: aws.Int64(0)}
	if !(m.closed[i] && end == len(m.shards[i])) {
		out.NextShardIterator = aws.String(fmt.Sprintf("%d/%d", i, end))
	}
	return out, nil
}
