package workflow

import (
	"context"
	"fmt"
	"math"
	"net/url"
	"strings"
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/event"
)

// Event types with type-specific enrichment.
const (
	typePageView      = "page_view"
	typePurchase      = "purchase"
	typeSensorReading = "sensor_reading"
)

// Enricher is the enrich function: the handler of the definition's Enrich state. It decodes and checks each
// event of a batch, applies the processing rules, and builds the event's curated form (with the derived
// fields and reference data in Enriched) and its analytics fact. Events it cannot curate are reported in the
// output's Failed list, never as an error: one bad event never fails its neighbours. It is safe for
// concurrent use.
type Enricher struct {
	rules    []Rule
	measures map[string][]string
	ref      *referenceCache
}

// EnrichOption configures an Enricher.
type EnrichOption func(*Enricher)

// WithRules sets the processing rules: an event that matches one fails enrichment with ErrorRuleViolation.
// Rules that do not pass Rule.Validate never match.
func WithRules(rules ...Rule) EnrichOption {
	return func(e *Enricher) { e.rules = append([]Rule(nil), rules...) }
}

// WithMeasures sets the numeric data fields, per event type, that are passed to analytics as measures: the
// schemas' "x-measures", as event.Registry.MeasuresByType lists them. Without it facts carry no measures.
func WithMeasures(m map[string][]string) EnrichOption {
	return func(e *Enricher) {
		e.measures = make(map[string][]string, len(m))
		for typ, fields := range m {
			e.measures[typ] = append([]string(nil), fields...)
		}
	}
}

// WithReference sets where reference data is looked up, and how long an answer (a hit or a miss) is cached
// (default DefaultReferenceTTL when ttl <= 0). Without it events get no reference fields.
func WithReference(r Reference, ttl time.Duration) EnrichOption {
	return func(e *Enricher) { e.ref = newReferenceCache(r, ttl, time.Now) }
}

// NewEnricher returns the enrich function.
func NewEnricher(opts ...EnrichOption) *Enricher {
	e := &Enricher{}
	for _, o := range opts {
		o(e)
	}
	return e
}

// EnrichOutput is the enrich function's answer: for each event of the batch, either its curated form and its
// fact (Curated[i] and Facts[i] belong together) or its failure.
type EnrichOutput struct {
	BatchID string              `json:"batchId"`
	Curated []event.Curated     `json:"curated"`
	Facts   []event.Fact        `json:"facts"`
	Failed  []event.ItemFailure `json:"failed"`
}

// Handle enriches the batch. It fails only when reference data cannot be read (the state retries the call);
// item-level problems are in the output. Lists in the output are empty, never null.
func (e *Enricher) Handle(ctx context.Context, batch event.Batch) (EnrichOutput, error) {
	out := EnrichOutput{
		BatchID: batch.BatchID,
		Curated: make([]event.Curated, 0, len(batch.Items)),
		Facts:   make([]event.Fact, 0, len(batch.Items)),
		Failed:  []event.ItemFailure{},
	}
	fail := func(it *event.BatchItem, id, name, cause string) {
		out.Failed = append(out.Failed, event.ItemFailure{SequenceNumber: it.SequenceNumber, EventID: id,
			Error: name, Cause: cause})
	}
	for i := range batch.Items {
		it := &batch.Items[i]
		// The envelope is decoded once; the rules and measures read the raw event, and derive decodes only the
		// data fields it uses.
		var ev event.Event
		if err := json.Unmarshal(it.Event, &ev); err != nil {
			fail(it, "", ErrorInvalidEvent, "cannot decode the event: "+err.Error())
			continue
		}
		if cause := missing(&ev); cause != "" {
			fail(it, ev.ID, ErrorInvalidEvent, cause)
			continue
		}
		if cause, hit := e.checkRules(it.Event); hit {
			fail(it, ev.ID, ErrorRuleViolation, cause)
			continue
		}
		enriched, err := derive(&ev, it)
		if err != nil {
			fail(it, ev.ID, ErrorInvalidEvent, fmt.Sprintf("cannot decode the data of event %q: %v", ev.ID, err))
			continue
		}
		if err := e.lookup(ctx, &ev, enriched); err != nil {
			return EnrichOutput{}, fmt.Errorf("enrich: batch %q: %w", batch.BatchID, err)
		}
		out.Curated = append(out.Curated, event.Curated{
			ID:             ev.ID,
			Type:           ev.Type,
			Source:         ev.Source,
			Subject:        ev.Subject,
			Time:           ev.Time.UTC(),
			Data:           ev.Data,
			Enriched:       enriched,
			ShardID:        batch.ShardID,
			SequenceNumber: it.SequenceNumber,
			ArrivalTime:    it.ArrivalTime.UTC(),
		})
		out.Facts = append(out.Facts, event.Fact{
			ID:          ev.ID,
			Type:        ev.Type,
			Source:      ev.Source,
			Subject:     ev.Subject,
			Time:        ev.Time.UTC(),
			ArrivalTime: it.ArrivalTime.UTC(),
			Measures:    e.pickMeasures(ev.Type, ev.Data, enriched),
		})
	}
	return out, nil
}

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
func (e *Enricher) checkRules(raw []byte) (string, bool) {
	if len(e.rules) == 0 {
		return "", false
	}
	for i := range e.rules {
		r := &e.rules[i]
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

// pickMeasures picks the type's measure fields from the event's data, falling back to the enriched fields (a
// purchase's item_count may be derived). Fields that are absent or not finite numbers are left out.
func (e *Enricher) pickMeasures(typ string, data []byte, enriched map[string]any) map[string]float64 {
	fields := e.measures[typ]
	if len(fields) == 0 {
		return nil
	}
	var m map[string]float64
	for _, f := range fields {
		v, ok := numberAt(data, f)
		if !ok {
			v, ok = number(enriched[f])
		}
		if !ok {
			continue
		}
		if m == nil {
			m = make(map[string]float64, len(fields))
		}
		m[f] = v
	}
	return m
}

// number converts a decoded JSON number (or a derived integer) to a finite float64.
func number(v any) (float64, bool) {
	var f float64
	switch n := v.(type) {
	case float64:
		f = n
	case int:
		f = float64(n)
	case int64:
		f = float64(n)
	default:
		return 0, false
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// Invoke is Handle on JSON, as the Lambda runtime calls a handler (lambda.Handler): the batch in, the output
// out, with a decoder faster than the runtime's reflection-based one.
func (e *Enricher) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	var batch event.Batch
	if err := json.Unmarshal(payload, &batch); err != nil {
		return nil, fmt.Errorf("enrich: the payload is not a batch: %w", err)
	}
	out, err := e.Handle(ctx, batch)
	if err != nil {
		return nil, err
	}
	return json.Marshal(&out)
}
