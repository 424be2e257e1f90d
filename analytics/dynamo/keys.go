package dynamo

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/serverless-data-platform/sdp/analytics"
)

// Attribute names of the table's items.
const (
	// PartitionKey and SortKey are the table's key attributes (strings).
	PartitionKey = "pk"
	SortKey      = "sk"
	// HourAttribute is the partition key of the index ByHourIndex (a string: the window's hour, RFC 3339);
	// its sort key is SortKey. Only window items have it, so the index holds windows and no markers.
	HourAttribute = "hour"
	// ByHourIndex is the global secondary index of windows by hour.
	ByHourIndex = "byHour"

	attrType      = "type"
	attrSource    = "source"
	attrStart     = "start"
	attrCount     = "count"
	attrAppliedAt = "appliedAt"
	// Prefixes of a measure's attributes: its sum, the number of values, the minimum and the maximum.
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

// windowPK is the partition key of the windows of one type and source: the type's length makes it
// unambiguous whatever characters the type and source hold.
func windowPK(typ, src string) string {
	return windowPrefix + strconv.Itoa(len(typ)) + "#" + typ + "#" + src
}

// windowSK is the sort key of the window that holds t: its start, the Unix second as a big-endian uint64
// with the sign bit flipped, in 16 hex digits, so that windows sort by time (before 1970 included).
func windowSK(t time.Time) string {
	sec := t.Truncate(analytics.WindowSize).Unix()
	return hex.EncodeToString(binary.BigEndian.AppendUint64(nil, uint64(sec)^(1<<63)))
}

// parseSK returns the start of the window with the sort key sk.
func parseSK(sk string) (time.Time, error) {
	b, err := hex.DecodeString(sk)
	if err != nil || len(b) != 8 {
		return time.Time{}, fmt.Errorf("malformed window sort key %q", sk)
	}
	return time.Unix(int64(binary.BigEndian.Uint64(b)^(1<<63)), 0).UTC(), nil
}

// hourKey is the index partition key of the windows that start in t's hour.
func hourKey(t time.Time) string {
	return t.Truncate(time.Hour).UTC().Format(time.RFC3339)
}

// markerPK is the partition key of the applied marker of an event id.
func markerPK(id string) string { return markerPrefix + id }

// formatFloat formats a value for a DynamoDB number, exactly.
func formatFloat(v float64) string { return strconv.FormatFloat(v, 'g', -1, 64) }

// formatSum formats a sum to add to a window: 15 significant digits (what a float64 holds for sure), so that
// the exact decimal sums DynamoDB keeps stay short.
func formatSum(v float64) string { return strconv.FormatFloat(v, 'g', 15, 64) }

// decodeWindow turns a window item into an analytics.Window; ok is false for an item that counts no event yet
// (one only its minimum and maximum were written to, by an Apply still under way or that failed).
func decodeWindow(av map[string]types.AttributeValue) (w analytics.Window, ok bool, err error) {
	str := func(name string) string {
		if s, ok := av[name].(*types.AttributeValueMemberS); ok {
			return s.Value
		}
		return ""
	}
	if w.Start, err = parseSK(str(SortKey)); err != nil {
		return w, false, err
	}
	w.Type, w.Source = str(attrType), str(attrSource)
	stats := map[string]*analytics.Stat{}
	stat := func(name string) *analytics.Stat {
		s := stats[name]
		if s == nil {
			s = &analytics.Stat{}
			stats[name] = s
		}
		return s
	}
	for name, v := range av {
		n, isNum := v.(*types.AttributeValueMemberN)
		if !isNum {
			continue
		}
		f, perr := strconv.ParseFloat(n.Value, 64)
		if perr != nil {
			return w, false, fmt.Errorf("window %s %s: attribute %s: %w", str(PartitionKey), str(SortKey), name, perr)
		}
		switch {
		case name == attrCount:
			w.Count = int64(f)
		case strings.HasPrefix(name, prefixSum):
			stat(name[len(prefixSum):]).Sum = f
		case strings.HasPrefix(name, prefixCount):
			stat(name[len(prefixCount):]).Count = int64(f)
		case strings.HasPrefix(name, prefixMin):
			stat(name[len(prefixMin):]).Min = f
		case strings.HasPrefix(name, prefixMax):
			stat(name[len(prefixMax):]).Max = f
		}
	}
	if w.Count == 0 {
		return w, false, nil
	}
	for name, s := range stats {
		if s.Count == 0 {
			continue
		}
		if w.Measures == nil {
			w.Measures = make(map[string]analytics.Stat, len(stats))
		}
		w.Measures[name] = *s
	}
	return w, true, nil
}
