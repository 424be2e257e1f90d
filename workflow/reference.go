package workflow

import (
	"bytes"
	"context"
	_ "embed"
	"fmt"
	"sync"
	"time"

	"github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/event"
)

// Reference is reference data the enrich function looks events up in: tables of entries by key, such as
// currencies by code or devices by id.
type Reference interface {
	// Lookup returns the entry of key in table, or nil when the table has none. An error means the answer is
	// unknown (the enrich call fails and its state retries it). It blocks until the answer is known or ctx
	// ends.
	Lookup(ctx context.Context, table, key string) (map[string]any, error)
}

// Reference tables the enrich function uses, with the event field each is keyed by:
//
//	currency  purchase.data.currency        adds enriched.currency and enriched.amount_usd (amount × usd_rate)
//	country   page_view.data.country        adds enriched.country (e.g. name, region)
//	device    sensor_reading.data.device_id adds enriched.device (e.g. site, location)
const (
	TableCurrency = "currency"
	TableCountry  = "country"
	TableDevice   = "device"
)

// referenceKeys lists, per event type, the reference tables looked up and the data field holding the key.
var referenceKeys = map[string][]struct{ table, pointer string }{
	typePurchase:      {{TableCurrency, "/currency"}},
	typePageView:      {{TableCountry, "/country"}},
	typeSensorReading: {{TableDevice, "/device_id"}},
}

// StaticReference is reference data held in memory: entries by key, by table. Its zero value has no tables.
type StaticReference map[string]map[string]map[string]any

var _ Reference = StaticReference(nil)

// Lookup returns the entry of key in table, or nil. It never fails.
func (s StaticReference) Lookup(_ context.Context, table, key string) (map[string]any, error) {
	return s[table][key], nil
}

//go:embed reference.json
var defaultReference []byte

// DefaultReference returns the reference data built into the binary: the usual currencies (with illustrative
// fixed US dollar rates) and countries (with name and region); no devices. Load your own with ParseReference.
func DefaultReference() StaticReference {
	r, err := ParseReference(defaultReference)
	if err != nil {
		panic("workflow: the built-in reference data is invalid: " + err.Error())
	}
	return r
}

// ParseReference reads reference data as JSON: {"table": {"key": {"attribute": value, ...}, ...}, ...}.
func ParseReference(b []byte) (StaticReference, error) {
	var r StaticReference
	d := json.NewDecoder(bytes.NewReader(b))
	if err := d.Decode(&r); err != nil {
		return nil, fmt.Errorf("reference data: want {\"table\": {\"key\": {...}}}: %w", err)
	}
	return r, nil
}

// DefaultReferenceTTL is how long the enrich function keeps a reference answer.
const DefaultReferenceTTL = 5 * time.Minute

// maxCachedReferences bounds the reference cache; when it is full, a part of it is dropped.
const maxCachedReferences = 10_000

// referenceCache caches Reference answers, hits and misses alike, for a time, so a warm function looks a key up
// once per TTL rather than once per event.
type referenceCache struct {
	ref Reference
	ttl time.Duration
	now func() time.Time

	mu      sync.Mutex
	entries map[refKey]refEntry
}

type refKey struct{ table, key string }

type refEntry struct {
	value   map[string]any
	expires time.Time
}

func newReferenceCache(r Reference, ttl time.Duration, now func() time.Time) *referenceCache {
	if ttl <= 0 {
		ttl = DefaultReferenceTTL
	}
	return &referenceCache{ref: r, ttl: ttl, now: now, entries: make(map[refKey]refEntry)}
}

// get returns the entry of key in table, from the cache while it is fresh.
func (c *referenceCache) get(ctx context.Context, table, key string) (map[string]any, error) {
	k := refKey{table, key}
	now := c.now()
	c.mu.Lock()
	e, ok := c.entries[k]
	c.mu.Unlock()
	if ok && now.Before(e.expires) {
		return e.value, nil
	}
	v, err := c.ref.Lookup(ctx, table, key)
	if err != nil {
		return nil, fmt.Errorf("look up %q in reference table %q: %w", key, table, err)
	}
	c.mu.Lock()
	if len(c.entries) >= maxCachedReferences {
		// Drop about a tenth, in map order: cheap, and good enough for a cache of slowly changing data.
		n := maxCachedReferences / 10
		for old := range c.entries {
			delete(c.entries, old)
			if n--; n == 0 {
				break
			}
		}
	}
	c.entries[k] = refEntry{value: v, expires: now.Add(c.ttl)}
	c.mu.Unlock()
	return v, nil
}

// lookup adds the event's reference data to enriched: each table's entry under the table's name, and the
// fields derived from it.
func (e *Enricher) lookup(ctx context.Context, ev *event.Event, enriched map[string]any) error {
	if e.ref == nil {
		return nil
	}
	for _, rk := range referenceKeys[ev.Type] {
		raw, ok := valueAt(ev.Data, rk.pointer)
		if !ok {
			continue
		}
		key, ok := scalar(raw)
		if !ok || key == "" {
			continue
		}
		entry, err := e.ref.get(ctx, rk.table, key)
		if err != nil {
			return err
		}
		if entry == nil {
			continue
		}
		enriched[rk.table] = entry
		if rk.table == TableCurrency {
			rate, okRate := number(entry["usd_rate"])
			amount, okAmount := numberAt(ev.Data, "amount")
			if okRate && okAmount {
				enriched["amount_usd"] = amount * rate
			}
		}
	}
	return nil
}
