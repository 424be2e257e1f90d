package stream

import (
	"crypto/md5"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"strconv"
	"strings"
)

// HashKey is a Kinesis hash key: an unsigned 128-bit integer stored big-endian. Comparing two HashKeys byte by
// byte compares them as numbers.
type HashKey [16]byte

// MaxHashKey returns the largest hash key, 2^128-1: the end of the last shard's range.
func MaxHashKey() HashKey {
	return HashKey{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
}

// ErrInvalidHashKey is returned by ParseHashKey for a string that is not a decimal integer in 0..2^128-1.
var ErrInvalidHashKey = errors.New("stream: invalid hash key")

// PartitionHash returns the hash key Kinesis derives from a partition key: the MD5 digest of the key's UTF-8
// bytes read as a big-endian unsigned 128-bit integer.
func PartitionHash(key string) HashKey {
	return HashKey(md5.Sum([]byte(key)))
}

// hashKeyFrom builds a HashKey from its high and low 64 bits.
func hashKeyFrom(hi, lo uint64) HashKey {
	var h HashKey
	binary.BigEndian.PutUint64(h[:8], hi)
	binary.BigEndian.PutUint64(h[8:], lo)
	return h
}

// halves returns the high and low 64 bits of h.
func (h HashKey) halves() (hi, lo uint64) {
	return binary.BigEndian.Uint64(h[:8]), binary.BigEndian.Uint64(h[8:])
}

// Compare returns -1, 0 or +1 as h is less than, equal to or greater than o.
func (h HashKey) Compare(o HashKey) int {
	hh, hl := h.halves()
	oh, ol := o.halves()
	switch {
	case hh < oh:
		return -1
	case hh > oh:
		return 1
	case hl < ol:
		return -1
	case hl > ol:
		return 1
	}
	return 0
}

// String returns h in decimal, the form Kinesis uses for StartingHashKey, EndingHashKey and ExplicitHashKey.
func (h HashKey) String() string {
	hi, lo := h.halves()
	if hi == 0 {
		return strconv.FormatUint(lo, 10)
	}
	// Divide by 10^19, the largest power of ten below 2^64, at most twice: 2^128 < 10^39.
	const chunk = 10_000_000_000_000_000_000
	var parts [3]uint64
	n := 0
	for hi != 0 || lo != 0 {
		qhi, r := bits.Div64(0, hi, chunk)
		qlo, r := bits.Div64(r, lo, chunk)
		parts[n] = r
		n++
		hi, lo = qhi, qlo
	}
	buf := make([]byte, 0, 39)
	buf = strconv.AppendUint(buf, parts[n-1], 10)
	for i := n - 2; i >= 0; i-- {
		s := strconv.FormatUint(parts[i], 10)
		for pad := len(s); pad < 19; pad++ {
			buf = append(buf, '0')
		}
		buf = append(buf, s...)
	}
	return string(buf)
}

// ParseHashKey parses a decimal hash key such as Kinesis returns in a shard's HashKeyRange.
func ParseHashKey(s string) (HashKey, error) {
	if s == "" || len(s) > 39 {
		return HashKey{}, fmt.Errorf("%w: %q", ErrInvalidHashKey, s)
	}
	var hi, lo uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return HashKey{}, fmt.Errorf("%w: %q", ErrInvalidHashKey, s)
		}
		// (hi, lo) = (hi, lo)*10 + digit, failing on overflow past 128 bits.
		phi, plo := bits.Mul64(lo, 10)
		ohi, nhi := bits.Mul64(hi, 10)
		nhi, carry := bits.Add64(nhi, phi, 0)
		if ohi != 0 || carry != 0 {
			return HashKey{}, fmt.Errorf("%w: %q exceeds 2^128-1", ErrInvalidHashKey, s)
		}
		nlo, carry := bits.Add64(plo, uint64(c-'0'), 0)
		nhi, carry = bits.Add64(nhi, 0, carry)
		if carry != 0 {
			return HashKey{}, fmt.Errorf("%w: %q exceeds 2^128-1", ErrInvalidHashKey, s)
		}
		hi, lo = nhi, nlo
	}
	return hashKeyFrom(hi, lo), nil
}

// HashRange is the inclusive range of hash keys a shard owns.
type HashRange struct {
	Start, End HashKey
}

// Contains reports whether h falls in the range.
func (r HashRange) Contains(h HashKey) bool {
	return r.Start.Compare(h) <= 0 && h.Compare(r.End) <= 0
}

// StartingHashKey returns the range's first hash key in decimal, as Kinesis's HashKeyRange.StartingHashKey.
func (r HashRange) StartingHashKey() string { return r.Start.String() }

// EndingHashKey returns the range's last hash key in decimal, as Kinesis's HashKeyRange.EndingHashKey.
func (r HashRange) EndingHashKey() string { return r.End.String() }

// EvenRanges splits the hash key space into n contiguous ranges the way Kinesis CreateStream does: with
// step = floor(2^128 / n), shard i starts at i*step and ends one before shard i+1 starts; the last shard ends at
// 2^128-1. It returns nil when n < 1.
func EvenRanges(n int) []HashRange {
	if n < 1 {
		return nil
	}
	if n == 1 {
		return []HashRange{{End: MaxHashKey()}}
	}
	// step = floor(2^128 / n) = floor((2^128-1) / n), plus one when n divides 2^128 (then the remainder of
	// 2^128-1 is n-1).
	d := uint64(n)
	shi, r := bits.Div64(0, ^uint64(0), d)
	slo, r := bits.Div64(r, ^uint64(0), d)
	if r == d-1 {
		var c uint64
		slo, c = bits.Add64(slo, 1, 0)
		shi += c
	}
	ranges := make([]HashRange, n)
	for i := range ranges {
		// start = i*step; it fits in 128 bits because i < n.
		chi, clo := bits.Mul64(slo, uint64(i))
		hi := shi*uint64(i) + chi
		ranges[i].Start = hashKeyFrom(hi, clo)
		if i > 0 {
			// End of the previous range is this start minus one.
			plo, b := bits.Sub64(clo, 1, 0)
			phi, _ := bits.Sub64(hi, 0, b)
			ranges[i-1].End = hashKeyFrom(phi, plo)
		}
	}
	ranges[n-1].End = MaxHashKey()
	return ranges
}

// ShardFor returns the index of the range that holds h, by binary search over ranges sorted by Start and
// covering the key space without gaps (as EvenRanges returns them). It returns -1 when no range holds h.
func ShardFor(ranges []HashRange, h HashKey) int {
	lo, hi := 0, len(ranges)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if ranges[mid].End.Compare(h) < 0 {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo == len(ranges) || ranges[lo].Start.Compare(h) > 0 {
		return -1
	}
	return lo
}

// shardIDPrefix starts every shard id.
const shardIDPrefix = "shardId-"

// ShardID returns the id Kinesis gives the shard with index i (i >= 0): "shardId-" and i in 12 zero-padded
// digits, such as "shardId-000000000001".
func ShardID(i int) string {
	const zeros = "000000000000"
	d := strconv.Itoa(i)
	if len(d) < len(zeros) {
		return shardIDPrefix + zeros[len(d):] + d
	}
	return shardIDPrefix + d
}

// ParseShardID returns the index of a shard id in ShardID's format.
func ParseShardID(id string) (int, error) {
	digits, ok := strings.CutPrefix(id, shardIDPrefix)
	if !ok || len(digits) < 12 {
		return 0, fmt.Errorf("stream: invalid shard id %q", id)
	}
	for j := 0; j < len(digits); j++ {
		if digits[j] < '0' || digits[j] > '9' {
			return 0, fmt.Errorf("stream: invalid shard id %q", id)
		}
	}
	i, err := strconv.Atoi(digits)
	if err != nil {
		return 0, fmt.Errorf("stream: invalid shard id %q", id)
	}
	return i, nil
}
