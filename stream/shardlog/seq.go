package shardlog

import (
	"encoding/binary"
	"fmt"
	"strconv"
)

// Sequence numbers are 56 decimal digits, as long as Kinesis's: "49", the shard index in six digits, and the
// shard's record counter in 48 zero-padded digits. Being of fixed width and without a leading zero, they
// compare the same as strings and as numbers, across shards too.
const (
	seqLen         = 56
	seqPrefixLen   = 8
	seqCounterZero = seqLen - 20 // digits before the 20 that a uint64 counter can fill
)

// seqPrefix returns the first digits of shard i's sequence numbers.
func seqPrefix(i int) string {
	s := strconv.Itoa(i)
	return "49" + "000000"[len(s):] + s
}

// formatSeq returns the sequence number of a shard's counter.
func formatSeq(prefix string, counter uint64) string {
	var buf [seqLen]byte
	copy(buf[:], prefix)
	for i := seqPrefixLen; i < seqLen; i++ {
		buf[i] = '0'
	}
	var digits [20]byte
	d := strconv.AppendUint(digits[:0], counter, 10)
	copy(buf[seqLen-len(d):], d)
	return string(buf[:])
}

// appendSeq appends the sequence number of a shard's counter to b.
func appendSeq(b []byte, prefix string, counter uint64) []byte {
	b = append(b, prefix...)
	var digits [20]byte
	d := strconv.AppendUint(digits[:0], counter, 10)
	for i := seqPrefixLen + len(d); i < seqLen; i++ {
		b = append(b, '0')
	}
	return append(b, d...)
}

// parseSeq returns the counter of a sequence number of the shard with the given prefix.
func parseSeq(prefix, shardID, seq string) (uint64, error) {
	if len(seq) != seqLen || seq[:seqPrefixLen] != prefix {
		return 0, fmt.Errorf("%w: sequence number %q is not one of shard %s", ErrInvalidArgument, seq, shardID)
	}
	for i := seqPrefixLen; i < seqCounterZero; i++ {
		if seq[i] != '0' {
			return 0, fmt.Errorf("%w: sequence number %q is out of range", ErrInvalidArgument, seq)
		}
	}
	c, err := strconv.ParseUint(seq[seqCounterZero:], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: sequence number %q: %w", ErrInvalidArgument, seq, err)
	}
	return c, nil
}

// CompareSequence compares two decimal sequence numbers as numbers, returning -1, 0 or +1. It works for the
// Log's sequence numbers and for Kinesis's, which may differ in length; neither has leading zeros.
func CompareSequence(a, b string) int {
	switch {
	case len(a) < len(b):
		return -1
	case len(a) > len(b):
		return 1
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// counterKey returns the bucket key of a record counter: its 8 bytes big-endian, so keys sort by counter.
func counterKey(c uint64) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, c)
	return k
}

// counterOf returns the counter of a bucket key.
func counterOf(k []byte) uint64 { return binary.BigEndian.Uint64(k) }

// A stored record is its arrival time (Unix nanoseconds, 8 bytes big-endian), the length of its partition key
// (2 bytes big-endian), the partition key and the data.
const recordHeader = 10

// arrivalOf returns the arrival time, in Unix nanoseconds, of a stored record.
func arrivalOf(v []byte) int64 { return int64(binary.BigEndian.Uint64(v)) }

// splitRecord returns the partition key and data of a stored record.
func splitRecord(v []byte) (pk, data []byte, err error) {
	if len(v) < recordHeader {
		return nil, nil, fmt.Errorf("corrupt record of %d bytes", len(v))
	}
	n := int(binary.BigEndian.Uint16(v[8:]))
	if len(v) < recordHeader+n {
		return nil, nil, fmt.Errorf("corrupt record: partition key of %d bytes in %d", n, len(v))
	}
	return v[recordHeader : recordHeader+n], v[recordHeader+n:], nil
}
