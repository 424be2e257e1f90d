package esm

import (
	"encoding/base64"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/event"
)

// Constant fields of a Kinesis event record, as Lambda sets them.
const (
	eventSource          = "aws:kinesis"
	eventVersion         = "1.0"
	eventName            = "aws:kinesis:record"
	kinesisSchemaVersion = "1.0"
	// envelopeBytes is the JSON size of an event without records: {"Records":[]}.
	envelopeBytes = len(`{"Records":[]}`)
	// timestampSlack covers the varying width of approximateArrivalTimestamp (a float of seconds).
	timestampSlack = 32
)

// recordBuilder turns the stream records of one shard into Kinesis event records and estimates their JSON
// size for the payload limit.
type recordBuilder struct {
	shardID  string
	arn      string
	identity string
	region   string
	// fixed is the JSON size of a record whose variable fields are empty, plus the separating comma.
	fixed int
}

// newRecordBuilder returns the builder of shardID's records under cfg (defaults applied).
func newRecordBuilder(cfg *Config, shardID string) (*recordBuilder, error) {
	b := &recordBuilder{shardID: shardID, arn: cfg.StreamARN, identity: cfg.InvokeIdentityARN, region: cfg.Region}
	var blank events.KinesisEventRecord
	b.fill(&blank, "", &event.StreamRecord{})
	raw, err := json.Marshal(&blank)
	if err != nil {
		return nil, fmt.Errorf("esm: size the records of shard %s: %w", shardID, err)
	}
	b.fixed = len(raw) + 1 + timestampSlack
	return b, nil
}

// fill sets every field of dst from r, with eventID as its event id.
func (b *recordBuilder) fill(dst *events.KinesisEventRecord, eventID string, r *event.StreamRecord) {
	*dst = events.KinesisEventRecord{
		AwsRegion:         b.region,
		EventID:           eventID,
		EventName:         eventName,
		EventSource:       eventSource,
		EventSourceArn:    b.arn,
		EventVersion:      eventVersion,
		InvokeIdentityArn: b.identity,
		Kinesis: events.KinesisRecord{
			ApproximateArrivalTimestamp: events.SecondsEpochTime{Time: r.ArrivalTime},
			Data:                        r.Data,
			PartitionKey:                r.PartitionKey,
			SequenceNumber:              r.SequenceNumber,
			KinesisSchemaVersion:        kinesisSchemaVersion,
		},
	}
}

// appendRecords appends the event records of recs to dst and returns the extended slice. The event ids
// ("shardId-…:seq") of all records share one string, so the call allocates once besides growing dst; the
// records' data is shared with recs, not copied.
func (b *recordBuilder) appendRecords(dst []events.KinesisEventRecord, recs []event.StreamRecord) []events.KinesisEventRecord {
	if len(recs) == 0 {
		return dst
	}
	n := 0
	for i := range recs {
		n += len(b.shardID) + 1 + len(recs[i].SequenceNumber)
	}
	var sb strings.Builder
	sb.Grow(n)
	for i := range recs {
		sb.WriteString(b.shardID)
		sb.WriteByte(':')
		sb.WriteString(recs[i].SequenceNumber)
	}
	ids := sb.String()
	dst = grow(dst, len(recs))
	off := 0
	for i := range recs {
		end := off + len(b.shardID) + 1 + len(recs[i].SequenceNumber)
		dst = dst[:len(dst)+1]
		b.fill(&dst[len(dst)-1], ids[off:end], &recs[i])
		off = end
	}
	return dst
}

// grow returns s with room for n more elements.
func grow[T any](s []T, n int) []T {
	if cap(s)-len(s) >= n {
		return s
	}
	out := make([]T, len(s), len(s)+max(n, len(s)))
	copy(out, s)
	return out
}

// size estimates (from above) the JSON size of r within an event, including its separating comma.
func (b *recordBuilder) size(r *events.KinesisEventRecord) int {
	return b.fixed + base64.StdEncoding.EncodedLen(len(r.Kinesis.Data)) + jsonStringLen(r.Kinesis.PartitionKey) +
		len(r.Kinesis.SequenceNumber) + len(r.EventID)
}

// batchLen returns how many of the first records of recs make one batch: at most limit records whose event
// stays within maxBytes, and at least one.
func (b *recordBuilder) batchLen(recs []events.KinesisEventRecord, limit, maxBytes int) int {
	total := envelopeBytes
	n := min(len(recs), limit)
	for i := range n {
		total += b.size(&recs[i])
		if i > 0 && total > maxBytes {
			return i
		}
	}
	return n
}

// jsonStringLen bounds the size of s as the body of a JSON string: escaped bytes count six (\u00XX).
func jsonStringLen(s string) int {
	n := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
				n += 6
			} else {
				n++
			}
			i++
			continue
		}
		r, w := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && w == 1 {
			n += 6
		} else {
			n += w + 3 // U+2028 and U+2029 are escaped as \u2028
		}
		i += w
	}
	return n
}

// arrival returns the arrival time of r.
func arrival(r *events.KinesisEventRecord) time.Time {
	return r.Kinesis.ApproximateArrivalTimestamp.Time
}
