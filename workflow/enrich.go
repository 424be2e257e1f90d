package workflow

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/event"
)

// Event types with type-specific enrichment.
const (
	typePageView      = "page_view"
	typePurchase      = "purchase"
	typeSensorReading = "sensor_reading"
)

// enrich is the enrich step: it decodes each item's event, applies the rules, and builds the item's curated
// form (with the derived fields in Enriched) and its analytics fact. Items it cannot curate fail.
func (l *Local) enrich(x *execution) {
	for i := range x.batch.Items {
		it := &x.batch.Items[i]
		st := &x.items[i]
		// The envelope is decoded once; the rules and measures read the raw event, and derive decodes only the
		// data fields it uses.
		var ev event.Event
		if err := json.Unmarshal(it.Event, &ev); err != nil {
			x.failOne(i, ErrorInvalidEvent, "cannot decode the event: "+err.Error())
			continue
		}
		st.curated.ID = ev.ID
		if cause := missing(&ev); cause != "" {
			x.failOne(i, ErrorInvalidEvent, cause)
			continue
		}
		if cause, hit := l.checkRules(it.Event); hit {
			x.failOne(i, ErrorRuleViolation, cause)
			continue
		}
		enriched, err := derive(&ev, it)
		if err != nil {
			x.failOne(i, ErrorInvalidEvent, fmt.Sprintf("cannot decode the data of event %q: %v", ev.ID, err))
			continue
		}
		st.curated = event.Curated{
			ID:             ev.ID,
			Type:           ev.Type,
			Source:         ev.Source,
			Subject:        ev.Subject,
			Time:           ev.Time.UTC(),
			Data:           ev.Data,
			Enriched:       enriched,
			ShardID:        x.batch.ShardID,
			SequenceNumber: it.SequenceNumber,
			ArrivalTime:    it.ArrivalTime.UTC(),
		}
		st.fact = event.Fact{
			ID:       ev.ID,
			Type:     ev.Type,
			Source:   ev.Source,
			Subject:  ev.Subject,
			Time:     st.curated.Time,
			Measures: l.pickMeasures(ev.Type, ev.Data, enriched),
		}
	}
}

// failOne marks item i failed.
func (x *execution) failOne(i int, name, cause string) { x.fail([]int{i}, name, cause) }

// missing names the first required attribute the event lacks, or returns "".
func missing(ev *event.Event) string {
	switch {
	case ev.ID == "":
		return "the event has no id"
	case ev.Type == "":
		return fmt.Sprintf("event %q has no type", ev.ID)
	case ev.Source == "":
		return fmt.Sprintf("event %q has no source", ev.ID)
	case ev.Time.IsZero():
		return fmt.Sprintf("event %q has no time", ev.ID)
	}
	return ""
}

// checkRules returns the cause of the first rule the raw event matches.
func (l *Local) checkRules(raw []byte) (string, bool) {
	if len(l.rules) == 0 {
		return "", false
	}
	for i := range l.rules {
		r := &l.rules[i]
		if r.Equals == "" && r.Prefix == "" {
			continue
		}
		raw, ok := valueAt(raw, r.Pointer)
		if !ok {
			continue
		}
		v, ok := scalar(raw)
		if !ok {
			continue
		}
		if cause, hit := r.match(v); hit {
			return cause, true
		}
	}
	return "", false
}

// derive returns the fields the enrich step adds to an event: its date and hour (UTC), how long after the
// event the stream took it, its partition key, and fields specific to its type. It fails only when the data of
// a type it enriches does not have that type's shape.
func derive(ev *event.Event, it *event.BatchItem) (map[string]any, error) {
	t := ev.Time.UTC()
	e := make(map[string]any, 8)
	e["event_date"] = t.Format("2006-01-02")
	e["event_hour"] = t.Hour()
	// The lag may be negative when a producer's clock runs ahead; it is kept as it is, since that is worth
	// seeing. A record without an arrival time has no lag.
	if !it.ArrivalTime.IsZero() {
		e["ingest_lag_ms"] = it.ArrivalTime.Sub(ev.Time).Milliseconds()
	}
	pk := it.PartitionKey
	if pk == "" {
		pk = ev.PartitionKey()
	}
	e["partition_key"] = pk
	// Data that is not an object (which ingest's schemas do not let through) gets the common fields only.
	if firstByte(ev.Data) != '{' {
		return e, nil
	}
	var err error
	switch ev.Type {
	case typePurchase:
		err = derivePurchase(e, ev.Data)
	case typePageView:
		err = derivePageView(e, ev.Data)
	case typeSensorReading:
		err = deriveSensorReading(e, ev.Data)
	}
	return e, err
}

// purchaseData is the part of a purchase's data that enrichment reads.
type purchaseData struct {
	Amount    *float64 `json:"amount"`
	ItemCount *float64 `json:"item_count"`
	Items     []struct {
		Quantity float64 `json:"quantity"`
	} `json:"items"`
}

// derivePurchase adds item_count (the sum of the items' quantities) when the purchase does not state it, and
// amount_per_item.
func derivePurchase(e map[string]any, raw []byte) error {
	var d purchaseData
	if err := json.Unmarshal(raw, &d); err != nil {
		return err
	}
	var count float64
	if d.ItemCount != nil {
		count = *d.ItemCount
	} else {
		for _, it := range d.Items {
			count += it.Quantity
		}
		if count > 0 {
			e["item_count"] = int64(count)
		}
	}
	if d.Amount != nil && count > 0 {
		e["amount_per_item"] = *d.Amount / count
	}
	return nil
}

// pageViewData is the part of a page view's data that enrichment reads.
type pageViewData struct {
	URL string `json:"url"`
}

// derivePageView adds the host and path of the page's URL.
func derivePageView(e map[string]any, raw []byte) error {
	var d pageViewData
	if err := json.Unmarshal(raw, &d); err != nil {
		return err
	}
	if d.URL == "" {
		return nil
	}
	u, err := url.Parse(d.URL)
	if err != nil || u.Host == "" {
		return nil // the schema checks URLs; one it let through without a host gets no host and path
	}
	e["host"] = strings.ToLower(u.Host)
	path := u.Path
	if path == "" {
		path = "/"
	}
	e["path"] = path
	return nil
}

// sensorReadingData is the part of a sensor reading's data that enrichment reads.
type sensorReadingData struct {
	Value *float64 `json:"value"`
	Unit  string   `json:"unit"`
}

// deriveSensorReading adds the value in SI units where the conversion is plain: degrees Celsius to kelvin,
// hectopascals to pascals.
func deriveSensorReading(e map[string]any, raw []byte) error {
	var d sensorReadingData
	if err := json.Unmarshal(raw, &d); err != nil {
		return err
	}
	if d.Value == nil {
		return nil
	}
	switch d.Unit {
	case "celsius":
		e["value_si"], e["unit_si"] = *d.Value+273.15, "K"
	case "hpa":
		e["value_si"], e["unit_si"] = *d.Value*100, "Pa"
	}
	return nil
}
