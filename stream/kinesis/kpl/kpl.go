// Package kpl reads and writes the record aggregation format of the Kinesis Producer Library (KPL), which
// the Kinesis Client Library and the other KPL-aware consumers de-aggregate.
//
// An aggregated record is one Kinesis record whose data is the 4 magic bytes 0xF3 0x89 0x9A 0xC2, then a
// protobuf message AggregatedRecord, then the 16-byte MD5 digest of that message:
//
//	message AggregatedRecord {
//	  repeated string partition_key_table     = 1;
//	  repeated string explicit_hash_key_table = 2;
//	  repeated Record records                 = 3;
//	}
//	message Record {
//	  required uint64 partition_key_index     = 1;
//	  optional uint64 explicit_hash_key_index = 2;
//	  required bytes  data                    = 3;
//	  repeated Tag    tags                    = 4;
//	}
//	message Tag { required string key = 1; optional string value = 2; }
//
// The messages are written and read with protowire, without generated code.
//
// Aggregation packs many small user records into one Kinesis record, which saves per-record cost and the
// 1,000 records/s limit of a shard, at a price that users of the stream must accept:
//
//   - All sub-records of an aggregated record land on the shard of the aggregated record's partition key,
//     whatever their own keys hash to. Aggregate only records that already belong to one shard (the
//     producer in stream/kinesis groups them by shard), and expect them to move shards on a reshard.
//   - Sub-records share the sequence number of their aggregated record: consumers tell them apart by their
//     sub-sequence number (their index in the aggregate), and a checkpoint by sequence number covers all of
//     them.
//   - A Lambda event source mapping does not de-aggregate, and its ParallelizationFactor splits a shard by
//     the aggregated record's partition key, so the sub-records' own keys no longer order processing.
//   - Partial batch failure (ReportBatchItemFailures) names sequence numbers, so one failed sub-record
//     fails, and replays, its whole aggregated record; a PutRecords entry that is throttled is likewise the
//     whole aggregate.
package kpl

import (
	"bytes"
	"crypto/md5"
	"errors"
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// Magic is the prefix of every aggregated record's data.
const Magic = "\xF3\x89\x9A\xC2"

// digestLen is the length of the MD5 digest that ends an aggregated record.
const digestLen = md5.Size

// Field numbers of the format.
const (
	fieldPartitionKeyTable    protowire.Number = 1
	fieldExplicitHashKeyTable protowire.Number = 2
	fieldRecords              protowire.Number = 3

	fieldPartitionKeyIndex    protowire.Number = 1
	fieldExplicitHashKeyIndex protowire.Number = 2
	fieldData                 protowire.Number = 3
	fieldTags                 protowire.Number = 4
)

var (
	// ErrCorrupt is wrapped by the errors of Deaggregate for data that starts with Magic but is not a valid
	// aggregated record: too short, a digest that does not match, or a malformed message.
	ErrCorrupt = errors.New("kpl: corrupt aggregated record")
	// ErrTooLarge is wrapped by the errors of Aggregator.Add for a record that cannot fit an aggregated
	// record of the aggregator's size even alone.
	ErrTooLarge = errors.New("kpl: record too large to aggregate")
)

// Record is a user record inside an aggregated record.
type Record struct {
	PartitionKey string
	// ExplicitHashKey is the decimal hash key that overrides the partition key's hash, or "" for none.
	ExplicitHashKey string
	Data            []byte
}

// IsAggregated reports whether data starts with Magic and is long enough to hold a digest.
func IsAggregated(data []byte) bool {
	return len(data) >= len(Magic)+digestLen && string(data[:len(Magic)]) == Magic
}

// Deaggregate returns the user records in a Kinesis record's data. Data that is not aggregated (see
// IsAggregated) passes through as one record with the given partition key. Data that starts with Magic but
// is not a valid aggregated record gives an error wrapping ErrCorrupt that says what is wrong. (The Kinesis
// Client Library passes such data through; a caller that wants that behaviour can test for ErrCorrupt.)
// The records' Data alias data.
func Deaggregate(partitionKey string, data []byte) ([]Record, error) {
	if len(data) < len(Magic) || string(data[:len(Magic)]) != Magic {
		return []Record{{PartitionKey: partitionKey, Data: data}}, nil
	}
	if len(data) < len(Magic)+digestLen {
		return nil, fmt.Errorf("%w: %d bytes are too few for the magic bytes and an MD5 digest", ErrCorrupt, len(data))
	}
	msg := data[len(Magic) : len(data)-digestLen]
	sum := md5.Sum(msg)
	if !bytes.Equal(sum[:], data[len(data)-digestLen:]) {
		return nil, fmt.Errorf("%w: the MD5 digest does not match the %d bytes of the message", ErrCorrupt, len(msg))
	}
	recs, err := decodeAggregated(msg)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return recs, nil
}

// rawRecord is a Record message before its table indexes are resolved.
type rawRecord struct {
	pkIndex, ehkIndex uint64
	hasPK, hasEHK     bool
	data              []byte
}

// decodeAggregated parses an AggregatedRecord message.
func decodeAggregated(b []byte) ([]Record, error) {
	var pks, ehks []string
	var raws []rawRecord
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, fmt.Errorf("AggregatedRecord: bad field tag: %w", protowire.ParseError(n))
		}
		b = b[n:]
		switch num {
		case fieldPartitionKeyTable, fieldExplicitHashKeyTable:
			if typ != protowire.BytesType {
				return nil, fmt.Errorf("AggregatedRecord: field %d has wire type %d, want bytes", num, typ)
			}
			v, n := protowire.ConsumeString(b)
			if n < 0 {
				return nil, fmt.Errorf("AggregatedRecord: field %d: %w", num, protowire.ParseError(n))
			}
			b = b[n:]
			if num == fieldPartitionKeyTable {
				pks = append(pks, v)
			} else {
				ehks = append(ehks, v)
			}
		case fieldRecords:
			if typ != protowire.BytesType {
				return nil, fmt.Errorf("AggregatedRecord: field records has wire type %d, want bytes", typ)
			}
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return nil, fmt.Errorf("AggregatedRecord: record %d: %w", len(raws), protowire.ParseError(n))
			}
			b = b[n:]
			r, err := decodeRecord(v)
			if err != nil {
				return nil, fmt.Errorf("record %d: %w", len(raws), err)
			}
			raws = append(raws, r)
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return nil, fmt.Errorf("AggregatedRecord: unknown field %d: %w", num, protowire.ParseError(n))
			}
			b = b[n:]
		}
	}
	out := make([]Record, len(raws))
	for i, r := range raws {
		if !r.hasPK {
			return nil, fmt.Errorf("record %d: no partition_key_index", i)
		}
		if r.pkIndex >= uint64(len(pks)) {
			return nil, fmt.Errorf("record %d: partition_key_index %d is outside the table of %d keys", i, r.pkIndex, len(pks))
		}
		out[i] = Record{PartitionKey: pks[r.pkIndex], Data: r.data}
		if r.hasEHK {
			if r.ehkIndex >= uint64(len(ehks)) {
				return nil, fmt.Errorf("record %d: explicit_hash_key_index %d is outside the table of %d keys", i, r.ehkIndex, len(ehks))
			}
			out[i].ExplicitHashKey = ehks[r.ehkIndex]
		}
	}
	return out, nil
}

// decodeRecord parses a Record message; tags are checked and dropped.
func decodeRecord(b []byte) (rawRecord, error) {
	var r rawRecord
	hasData := false
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return r, fmt.Errorf("bad field tag: %w", protowire.ParseError(n))
		}
		b = b[n:]
		switch num {
		case fieldPartitionKeyIndex, fieldExplicitHashKeyIndex:
			if typ != protowire.VarintType {
				return r, fmt.Errorf("field %d has wire type %d, want varint", num, typ)
			}
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return r, fmt.Errorf("field %d: %w", num, protowire.ParseError(n))
			}
			b = b[n:]
			if num == fieldPartitionKeyIndex {
				r.pkIndex, r.hasPK = v, true
			} else {
				r.ehkIndex, r.hasEHK = v, true
			}
		case fieldData, fieldTags:
			if typ != protowire.BytesType {
				return r, fmt.Errorf("field %d has wire type %d, want bytes", num, typ)
			}
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return r, fmt.Errorf("field %d: %w", num, protowire.ParseError(n))
			}
			b = b[n:]
			if num == fieldData {
				r.data, hasData = v, true
			} else if err := checkTag(v); err != nil {
				return r, err
			}
		default:
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return r, fmt.Errorf("unknown field %d: %w", num, protowire.ParseError(n))
			}
			b = b[n:]
		}
	}
	if !hasData {
		return r, errors.New("no data")
	}
	if r.data == nil {
		r.data = []byte{}
	}
	return r, nil
}

// checkTag checks that a Tag message is well formed.
func checkTag(b []byte) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return fmt.Errorf("tag: bad field tag: %w", protowire.ParseError(n))
		}
		b = b[n:]
		n = protowire.ConsumeFieldValue(num, typ, b)
		if n < 0 {
			return fmt.Errorf("tag: field %d: %w", num, protowire.ParseError(n))
		}
		b = b[n:]
	}
	return nil
}

// Aggregator packs user records into one aggregated record of at most a given size. The zero value is not
// usable: call NewAggregator. An Aggregator is not safe for concurrent use.
type Aggregator struct {
	max     int
	pks     map[string]uint64
	ehks    map[string]uint64
	pkList  []string
	ehkList []string
	recs    []Record
	// size is the size of the AggregatedRecord message so far.
	size int
}

// NewAggregator returns an Aggregator whose records, counted as Kinesis counts a record's size (data plus
// partition key), are at most maxBytes bytes.
func NewAggregator(maxBytes int) *Aggregator {
	return &Aggregator{max: maxBytes, pks: map[string]uint64{}, ehks: map[string]uint64{}}
}

// Len returns the number of records added since the last Flush.
func (a *Aggregator) Len() int { return len(a.recs) }

// Size returns the size, as Kinesis counts it, of the aggregated record that Flush would return now.
func (a *Aggregator) Size() int { return a.recordSize(a.size, a.outerKey()) }

// outerKey is the partition key of the aggregated record: its first record's.
func (a *Aggregator) outerKey() string {
	if len(a.recs) == 0 {
		return ""
	}
	return a.recs[0].PartitionKey
}

// recordSize is the size of an aggregated record whose message has msgSize bytes.
func (a *Aggregator) recordSize(msgSize int, key string) int {
	return len(key) + len(Magic) + msgSize + digestLen
}

// growth returns how many bytes adding r would add to the message.
func (a *Aggregator) growth(r Record) int {
	n := 0
	rec := 0
	pi, ok := a.pks[r.PartitionKey]
	if !ok {
		pi = uint64(len(a.pkList))
		n += protowire.SizeTag(fieldPartitionKeyTable) + protowire.SizeBytes(len(r.PartitionKey))
	}
	rec += protowire.SizeTag(fieldPartitionKeyIndex) + protowire.SizeVarint(pi)
	if r.ExplicitHashKey != "" {
		ei, ok := a.ehks[r.ExplicitHashKey]
		if !ok {
			ei = uint64(len(a.ehkList))
			n += protowire.SizeTag(fieldExplicitHashKeyTable) + protowire.SizeBytes(len(r.ExplicitHashKey))
		}
		rec += protowire.SizeTag(fieldExplicitHashKeyIndex) + protowire.SizeVarint(ei)
	}
	rec += protowire.SizeTag(fieldData) + protowire.SizeBytes(len(r.Data))
	return n + protowire.SizeTag(fieldRecords) + protowire.SizeBytes(rec)
}

// Fits reports whether r can be added without making the aggregated record larger than the maximum.
func (a *Aggregator) Fits(r Record) bool {
	key := a.outerKey()
	if key == "" {
		key = r.PartitionKey
	}
	return a.recordSize(a.size+a.growth(r), key) <= a.max
}

// Add adds r. It returns false, and adds nothing, when r does not fit (Flush first); it fails with an error
// wrapping ErrTooLarge when r would not fit even in an empty aggregated record.
func (a *Aggregator) Add(r Record) (bool, error) {
	if !a.Fits(r) {
		if len(a.recs) == 0 {
			return false, fmt.Errorf("%w: %d bytes of data and a partition key of %d bytes exceed %d bytes once aggregated",
				ErrTooLarge, len(r.Data), len(r.PartitionKey), a.max)
		}
		return false, nil
	}
	a.size += a.growth(r)
	if _, ok := a.pks[r.PartitionKey]; !ok {
		a.pks[r.PartitionKey] = uint64(len(a.pkList))
		a.pkList = append(a.pkList, r.PartitionKey)
	}
	if r.ExplicitHashKey != "" {
		if _, ok := a.ehks[r.ExplicitHashKey]; !ok {
			a.ehks[r.ExplicitHashKey] = uint64(len(a.ehkList))
			a.ehkList = append(a.ehkList, r.ExplicitHashKey)
		}
	}
	a.recs = append(a.recs, r)
	return true, nil
}

// Flush returns the aggregated record of the records added so far, as the partition key, explicit hash key
// ("" for none) and data of a Kinesis record, and empties the Aggregator. The aggregated record takes the
// partition key and explicit hash key of its first record. It returns ok false when no record was added.
func (a *Aggregator) Flush() (partitionKey, explicitHashKey string, data []byte, ok bool) {
	if len(a.recs) == 0 {
		return "", "", nil, false
	}
	partitionKey, explicitHashKey = a.recs[0].PartitionKey, a.recs[0].ExplicitHashKey
	buf := make([]byte, 0, len(Magic)+a.size+digestLen)
	buf = append(buf, Magic...)
	for _, k := range a.pkList {
		buf = protowire.AppendTag(buf, fieldPartitionKeyTable, protowire.BytesType)
		buf = protowire.AppendString(buf, k)
	}
	for _, k := range a.ehkList {
		buf = protowire.AppendTag(buf, fieldExplicitHashKeyTable, protowire.BytesType)
		buf = protowire.AppendString(buf, k)
	}
	var rec []byte
	for _, r := range a.recs {
		rec = rec[:0]
		rec = protowire.AppendTag(rec, fieldPartitionKeyIndex, protowire.VarintType)
		rec = protowire.AppendVarint(rec, a.pks[r.PartitionKey])
		if r.ExplicitHashKey != "" {
			rec = protowire.AppendTag(rec, fieldExplicitHashKeyIndex, protowire.VarintType)
			rec = protowire.AppendVarint(rec, a.ehks[r.ExplicitHashKey])
		}
		rec = protowire.AppendTag(rec, fieldData, protowire.BytesType)
		rec = protowire.AppendBytes(rec, r.Data)
		buf = protowire.AppendTag(buf, fieldRecords, protowire.BytesType)
		buf = protowire.AppendBytes(buf, rec)
	}
	sum := md5.Sum(buf[len(Magic):])
	data = append(buf, sum[:]...)
	clear(a.pks)
	clear(a.ehks)
	a.pkList, a.ehkList, a.recs, a.size = a.pkList[:0], a.ehkList[:0], a.recs[:0], 0
	return partitionKey, explicitHashKey, data, true
}
