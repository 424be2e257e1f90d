package dynamo

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Attribute names of the table's items.
const (
	// PartitionKey and SortKey are the table's key attributes (strings).
	PartitionKey = "pk"
	SortKey      = "sk"
	// HourAttribute is the partition key of the index ByHourIndex (a string: the hour the window starts in,
	// RFC 3339); its sort key is SortKey. Only window items have it, so the index holds windows and no
	// markers.
	HourAttribute = "hour"
	// ByHourIndex is the global secondary index of windows by hour.
	ByHourIndex = "byHour"

	attrType      = "type"
	attrSource    = "source"
	attrStart     = "start"
	attrEnd       = "end"
	attrSlot      = "slot"
	attrCount     = "count"
	attrLate      = "late"
	attrUniques   = "uniques"
	attrAgg       = "agg"
	attrVersion   = "version"
	attrAppliedAt = "appliedAt"
	// Prefixes of a measure's plain attributes on a slot item: its sum, the number of values, the minimum
	// and the maximum.
	prefixSum   = "sum_"
	prefixCount = "count_"
	prefixMin   = "min_"
	prefixMax   = "max_"
	// markerPrefix starts the partition key of an applied marker; markerSort is its sort key.
	markerPrefix = "applied#"
	markerSort   = "applied"
	// windowPrefix starts the partition key of a window.
	windowPrefix = "window#"
)

// maxItemBytes is DynamoDB's item size limit.
const maxItemBytes = 400 << 10

// windowPK is the partition key of the windows of one type and source: the type's length makes it
// unambiguous whatever characters the type and source hold.
func windowPK(typ, src string) string {
	return windowPrefix + strconv.Itoa(len(typ)) + "#" + typ + "#" + src
}

// startKey is the sort key prefix of the window that starts at start (a whole second): the Unix second as a
// big-endian uint64 with the sign bit flipped, in 16 hex digits, so that windows sort by time (before 1970
// included). It is also a bound of sort key ranges: every slot key of a window sorts after its startKey and
// before the startKey of any later start.
func startKey(start time.Time) string {
	return hex.EncodeToString(binary.BigEndian.AppendUint64(nil, uint64(start.Unix())^(1<<63)))
}

// windowSK is the sort key of one slot item of the window that starts at start.
func windowSK(start time.Time, slot int) string {
	return startKey(start) + "#" + strconv.Itoa(slot)
}

// parseSK returns the start and the slot of the window slot item with the sort key sk.
func parseSK(sk string) (start time.Time, slot int, err error) {
	head, tail, ok := strings.Cut(sk, "#")
	b, herr := hex.DecodeString(head)
	slot, serr := strconv.Atoi(tail)
	if !ok || herr != nil || len(b) != 8 || serr != nil || slot < 0 {
		return time.Time{}, 0, fmt.Errorf("malformed window sort key %q (want 16 hex digits, '#', a slot number)", sk)
	}
	return time.Unix(int64(binary.BigEndian.Uint64(b)^(1<<63)), 0).UTC(), slot, nil
}

// ceilSecond returns t rounded up to a whole second: the windows that start before t are those that start
// before ceilSecond(t), since windows start on whole seconds.
func ceilSecond(t time.Time) time.Time {
	s := t.Truncate(time.Second)
	if s.Before(t) {
		s = s.Add(time.Second)
	}
	return s
}

// hourKey is the index partition key of the windows that start in t's hour.
func hourKey(t time.Time) string {
	return t.Truncate(time.Hour).UTC().Format(time.RFC3339)
}

// markerPK is the partition key of the applied marker of an event id.
func markerPK(id string) string { return markerPrefix + id }

// dynamoNumber formats v as a DynamoDB number, exactly; ok is false when v is beyond the range DynamoDB
// numbers hold (magnitudes from 1e-130 to below 1e126) and cannot be written as one.
func dynamoNumber(v float64) (s string, ok bool) {
	if a := abs(v); a != 0 && (a < 1e-130 || a >= 9.99e125) {
		return "", false
	}
	return strconv.FormatFloat(v, 'g', -1, 64), true
}

// abs is the absolute value of v.
func abs(v float64) float64 {
	if v < 0 {
		return -v
	}
	return v
}

// itemSize is an upper bound of an item's size as DynamoDB counts it against its 400 KB limit: the names'
// and values' lengths in bytes, a number counting at most 21 bytes.
func itemSize(item map[string]types.AttributeValue) int {
	n := 0
	for name, v := range item {
		n += len(name)
		switch x := v.(type) {
		case *types.AttributeValueMemberS:
			n += len(x.Value)
		case *types.AttributeValueMemberB:
			n += len(x.Value)
		case *types.AttributeValueMemberN:
			n += min(len(x.Value)/2+2, 21)
		default:
			n += 64
		}
	}
	return n
}
