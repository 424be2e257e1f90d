package dynamo

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/event"
)

// KeyAttribute is the table's only key attribute: the partition key, the event id (a string).
const KeyAttribute = "id"

// item is an event.Curated as the table holds it: one attribute per field, times as RFC 3339 strings, the
// event's data and enriched fields as native DynamoDB maps and lists, so that they can be read in the console
// and filtered on.
type item struct {
	ID             string         `dynamodbav:"id"`
	Type           string         `dynamodbav:"type"`
	Source         string         `dynamodbav:"source"`
	Subject        string         `dynamodbav:"subject,omitempty"`
	Time           time.Time      `dynamodbav:"time"`
	Data           any            `dynamodbav:"data,omitempty"`
	DataJSON       string         `dynamodbav:"dataJSON,omitempty"`
	Enriched       map[string]any `dynamodbav:"enriched,omitempty"`
	ShardID        string         `dynamodbav:"shardId"`
	SequenceNumber string         `dynamodbav:"sequenceNumber"`
	ArrivalTime    time.Time      `dynamodbav:"arrivalTime"`
	CuratedAt      time.Time      `dynamodbav:"curatedAt"`
}

// marshalItem returns the attributes of c.
func marshalItem(c *event.Curated) (map[string]types.AttributeValue, error) {
	it := item{ID: c.ID, Type: c.Type, Source: c.Source, Subject: c.Subject, Time: c.Time,
		Enriched: c.Enriched, ShardID: c.ShardID, SequenceNumber: c.SequenceNumber,
		ArrivalTime: c.ArrivalTime, CuratedAt: c.CuratedAt}
	if raw := bytes.TrimSpace(c.Data); len(raw) > 0 && string(raw) != "null" {
		// Numbers stay json.Number, so that they are written with all their digits.
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("data: %w", err)
		}
		if storable(v) && !emptyContainer(v) {
			it.Data = v
		} else {
			it.DataJSON = string(raw)
		}
	}
	av, err := attributevalue.MarshalMapWithOptions(&it, func(o *attributevalue.EncoderOptions) {
		// An empty set cannot occur (JSON has none); empty lists and maps stay empty rather than NULL.
		o.NullEmptySets = false
	})
	if err != nil {
		return nil, fmt.Errorf("marshal: %w", err)
	}
	return av, nil
}

// unmarshalItem turns attributes back into an event.Curated: the data as JSON, the enriched fields as
// encoding/json decodes them (numbers as float64).
func unmarshalItem(av map[string]types.AttributeValue) (event.Curated, error) {
	var it item
	err := attributevalue.UnmarshalMapWithOptions(av, &it, func(o *attributevalue.DecoderOptions) { o.UseNumber = true })
	if err != nil {
		return event.Curated{}, fmt.Errorf("unmarshal: %w", err)
	}
	c := event.Curated{ID: it.ID, Type: it.Type, Source: it.Source, Subject: it.Subject, Time: it.Time,
		ShardID: it.ShardID, SequenceNumber: it.SequenceNumber, ArrivalTime: it.ArrivalTime, CuratedAt: it.CuratedAt}
	switch {
	case it.DataJSON != "":
		c.Data = json.RawMessage(it.DataJSON)
	case it.Data != nil:
		raw, err := json.Marshal(toJSON(it.Data, false))
		if err != nil {
			return event.Curated{}, fmt.Errorf("data: %w", err)
		}
		c.Data = raw
	}
	if it.Enriched != nil {
		c.Enriched = toJSON(it.Enriched, true).(map[string]any)
	}
	return c, nil
}

// toJSON replaces the decoder's attributevalue.Number values in v by json.Number (to keep their digits) or,
// with asFloat, by float64 (as encoding/json decodes into any).
func toJSON(v any, asFloat bool) any {
	switch x := v.(type) {
	case attributevalue.Number:
		if asFloat {
			if f, err := x.Float64(); err == nil {
				return f
			}
		}
		return json.Number(x)
	case map[string]any:
		for k, e := range x {
			x[k] = toJSON(e, asFloat)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = toJSON(e, asFloat)
		}
		return x
	}
	return v
}

// storable reports whether DynamoDB can hold every number in the decoded JSON value v: at most 38
// significant digits, a magnitude between 1e-130 and 1e126 (or zero).
func storable(v any) bool {
	switch x := v.(type) {
	case json.Number:
		return numberFits(string(x))
	case map[string]any:
		for _, e := range x {
			if !storable(e) {
				return false
			}
		}
	case []any:
		for _, e := range x {
			if !storable(e) {
				return false
			}
		}
	}
	return true
}

// emptyContainer reports whether v is an empty JSON object or array, which the encoder would omit: those are
// kept as JSON text so that they read back as they were written.
func emptyContainer(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	}
	return false
}

// numberFits reports whether the JSON number s is within DynamoDB's number limits.
func numberFits(s string) bool {
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		mant = s[:i]
		e, err := strconv.Atoi(s[i+1:])
		if err != nil {
			return false
		}
		exp = e
	}
	mant = strings.TrimLeft(mant, "-")
	intPart, frac, _ := strings.Cut(mant, ".")
	digits := strings.TrimLeft(intPart+frac, "0")
	if digits == "" {
		return true // zero
	}
	// The decimal exponent of the first significant digit.
	lead := exp + len(strings.TrimLeft(intPart, "0")) - 1
	if strings.TrimLeft(intPart, "0") == "" {
		lead = exp - (len(frac) - len(strings.TrimLeft(frac, "0"))) - 1
	}
	digits = strings.TrimRight(digits, "0")
	return len(digits) <= 38 && lead >= -130 && lead <= 125
}

// itemSize returns the size DynamoDB counts for an item: the UTF-8 lengths of attribute names and strings,
// the byte lengths of binaries, about one byte per two significant digits of a number plus one, three bytes
// for each list or map plus one byte per element, one byte for a boolean or a null.
func itemSize(av map[string]types.AttributeValue) int {
	n := 0
	for name, v := range av {
		n += len(name) + valueSize(v)
	}
	return n
}

// valueSize is the size of one attribute value, without its name.
func valueSize(v types.AttributeValue) int {
	switch x := v.(type) {
	case *types.AttributeValueMemberS:
		return len(x.Value)
	case *types.AttributeValueMemberN:
		return numberSize(x.Value)
	case *types.AttributeValueMemberB:
		return len(x.Value)
	case *types.AttributeValueMemberBOOL, *types.AttributeValueMemberNULL:
		return 1
	case *types.AttributeValueMemberM:
		n := 3
		for k, e := range x.Value {
			n += len(k) + valueSize(e) + 1
		}
		return n
	case *types.AttributeValueMemberL:
		n := 3
		for _, e := range x.Value {
			n += valueSize(e) + 1
		}
		return n
	case *types.AttributeValueMemberSS:
		n := 0
		for _, s := range x.Value {
			n += len(s)
		}
		return n
	case *types.AttributeValueMemberNS:
		n := 0
		for _, s := range x.Value {
			n += numberSize(s)
		}
		return n
	case *types.AttributeValueMemberBS:
		n := 0
		for _, b := range x.Value {
			n += len(b)
		}
		return n
	}
	return 0
}

// numberSize is the size of a number: one byte per two significant digits, plus one.
func numberSize(s string) int {
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		s = s[:i]
	}
	s = strings.NewReplacer("-", "", ".", "").Replace(s)
	s = strings.Trim(s, "0")
	return (len(s)+1)/2 + 1
}
