// Package storetest is the contract suite of the curated table: every adapter of the table (the local one, the
// DynamoDB one) must pass Run.
package storetest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/workflow/store"
)

// Store is the part of a curated table the suite exercises.
type Store interface {
	// Put writes the items whose id is absent from the table; present ones are left as they are.
	Put(ctx context.Context, items []event.Curated) error
	// Get returns the item with the id and whether it exists.
	Get(ctx context.Context, id string) (event.Curated, bool, error)
}

// Run runs the contract suite. newStore must return an empty table for each call; each case runs as its own
// subtest with its own table.
func Run(t *testing.T, newStore func(t *testing.T) Store) {
	t.Helper()
	cases := []struct {
		name string
		run  func(t *testing.T, s Store)
	}{
		{"PutGetRoundTrip", testRoundTrip},
		{"GetMissing", testGetMissing},
		{"RePutKeepsFirst", testRePutKeepsFirst},
		{"DuplicateIDsInOnePutKeepFirst", testDuplicateInOnePut},
		{"EmptyPut", testEmptyPut},
		{"BatchOf100", testBatchOf100},
		{"LargeItemWithinLimit", testLargeItem},
		{"OversizeItem", testOversizeItem},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.run(t, newStore(t))
		})
	}
}

// Item returns a complete curated item with the id, as the workflow writes it.
func Item(id string) event.Curated {
	ts := time.Date(2026, 11, 26, 9, 16, 11, 500_000_000, time.UTC)
	return event.Curated{
		ID:      id,
		Type:    "purchase",
		Source:  "https://shop.example.com/checkout",
		Subject: "customer-88213",
		Time:    ts,
		Data:    json.RawMessage(`{"order_id":"ord-1","currency":"EUR","amount":189.9,"items":[{"sku":"A","quantity":2,"unit_price":94.95}]}`),
		Enriched: map[string]any{
			"event_date": "2026-11-26", "event_hour": 9, "ingest_lag_ms": 1250,
			"partition_key": "customer-88213", "amount_per_item": 94.95, "item_count": 2,
		},
		ShardID:        "shardId-000000000001",
		SequenceNumber: "49590338271490256608559692538361571095921575989136588898",
		ArrivalTime:    ts.Add(1250 * time.Millisecond),
		CuratedAt:      ts.Add(2 * time.Second),
	}
}

// get fetches id and fails the test unless it exists.
func get(t *testing.T, s Store, id string) event.Curated {
	t.Helper()
	got, ok, err := s.Get(context.Background(), id)
	if err != nil || !ok {
		t.Fatalf("Get(%q) = ok %v, err %v; want the item", id, ok, err)
	}
	return got
}

// Equal reports how a and b differ, or "" when they hold the same item: times compare as instants, Data and
// Enriched as JSON values.
func Equal(a, b event.Curated) string {
	var diffs []string
	str := func(name, x, y string) {
		if x != y {
			diffs = append(diffs, fmt.Sprintf("%s: %q != %q", name, x, y))
		}
	}
	tim := func(name string, x, y time.Time) {
		if !x.Equal(y) {
			diffs = append(diffs, fmt.Sprintf("%s: %v != %v", name, x, y))
		}
	}
	str("ID", a.ID, b.ID)
	str("Type", a.Type, b.Type)
	str("Source", a.Source, b.Source)
	str("Subject", a.Subject, b.Subject)
	str("ShardID", a.ShardID, b.ShardID)
	str("SequenceNumber", a.SequenceNumber, b.SequenceNumber)
	tim("Time", a.Time, b.Time)
	tim("ArrivalTime", a.ArrivalTime, b.ArrivalTime)
	tim("CuratedAt", a.CuratedAt, b.CuratedAt)
	str("Data", canonical(a.Data), canonical(b.Data))
	ea, _ := json.Marshal(a.Enriched)
	eb, _ := json.Marshal(b.Enriched)
	str("Enriched", canonical(ea), canonical(eb))
	return strings.Join(diffs, "; ")
}

// canonical re-encodes a JSON value with sorted keys and no white space; an empty value stays empty.
func canonical(raw []byte) string {
	if len(bytes.TrimSpace(raw)) == 0 || string(raw) == "null" {
		return ""
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return "invalid JSON: " + string(raw)
	}
	out, _ := json.Marshal(v)
	return string(out)
}

// testRoundTrip: an item reads back as it was written, field by field, whether full or minimal.
func testRoundTrip(t *testing.T, s Store) {
	ctx := context.Background()
	full := Item("evt-full")
	minimal := event.Curated{ID: "evt-minimal", Type: "page_view", Source: "s", Time: full.Time}
	if err := s.Put(ctx, []event.Curated{full, minimal}); err != nil {
		t.Fatalf("Put: %v", err)
	}
	for _, want := range []event.Curated{full, minimal} {
		if d := Equal(get(t, s, want.ID), want); d != "" {
			t.Errorf("Get(%q) differs from what was put: %s", want.ID, d)
		}
	}
}

// testGetMissing: an absent id is reported absent, without an error.
func testGetMissing(t *testing.T, s Store) {
	got, ok, err := s.Get(context.Background(), "no-such-id")
	if err != nil || ok || got.ID != "" {
		t.Fatalf("Get(missing) = %+v, %v, %v; want zero, false, nil", got, ok, err)
	}
}

// testRePutKeepsFirst: writing an id again (a retry or a replay) leaves the first item, CuratedAt included,
// and still writes the call's new items.
func testRePutKeepsFirst(t *testing.T, s Store) {
	ctx := context.Background()
	first := Item("evt-1")
	if err := s.Put(ctx, []event.Curated{first}); err != nil {
		t.Fatalf("first Put: %v", err)
	}
	// A replay of the same event, curated again later, with data that differs (it must not be written).
	again := Item("evt-1")
	again.CuratedAt = first.CuratedAt.Add(time.Hour)
	again.SequenceNumber = "2"
	again.Data = json.RawMessage(`{"changed":true}`)
	if err := s.Put(ctx, []event.Curated{again, Item("evt-2")}); err != nil {
		t.Fatalf("re-Put: %v", err)
	}
	if d := Equal(get(t, s, "evt-1"), first); d != "" {
		t.Errorf("re-Put changed the item: %s", d)
	}
	get(t, s, "evt-2")
}

// testDuplicateInOnePut: two items with one id in the same call keep the first. (DynamoDB's BatchWriteItem
// refuses duplicate keys in one request, so an adapter on it has to drop the later ones itself.)
func testDuplicateInOnePut(t *testing.T, s Store) {
	a, b := Item("evt-dup"), Item("evt-dup")
	b.CuratedAt = a.CuratedAt.Add(time.Minute)
	b.Subject = "second"
	if err := s.Put(context.Background(), []event.Curated{a, b}); err != nil {
		t.Fatalf("Put with a duplicate id: %v", err)
	}
	if d := Equal(get(t, s, "evt-dup"), a); d != "" {
		t.Errorf("duplicate id in one Put: the first item should win: %s", d)
	}
}

// testEmptyPut: writing nothing succeeds.
func testEmptyPut(t *testing.T, s Store) {
	if err := s.Put(context.Background(), nil); err != nil {
		t.Fatalf("Put(nil) = %v; want nil", err)
	}
}

// testBatchOf100: a batch as large as a consumer batch is written whole (an adapter that writes in chunks of
// 25, as BatchWriteItem does, must write them all).
func testBatchOf100(t *testing.T, s Store) {
	ctx := context.Background()
	items := make([]event.Curated, 100)
	for i := range items {
		items[i] = Item(fmt.Sprintf("evt-%03d", i))
		items[i].SequenceNumber = fmt.Sprint(1000 + i)
	}
	if err := s.Put(ctx, items); err != nil {
		t.Fatalf("Put 100: %v", err)
	}
	for _, want := range items {
		if d := Equal(get(t, s, want.ID), want); d != "" {
			t.Fatalf("Get(%q): %s", want.ID, d)
		}
	}
}

// blob returns a data object of about n bytes.
func blob(n int) json.RawMessage {
	return json.RawMessage(`{"blob":"` + strings.Repeat("x", n) + `"}`)
}

// testLargeItem: an item well over Step Functions' and Lambda's small limits but within DynamoDB's is taken.
func testLargeItem(t *testing.T, s Store) {
	item := Item("evt-large")
	item.Data = blob(300 << 10)
	if err := s.Put(context.Background(), []event.Curated{item}); err != nil {
		t.Fatalf("Put of a 300 KiB item: %v; the limit is %d bytes", err, store.MaxItemBytes)
	}
	if d := Equal(get(t, s, item.ID), item); d != "" {
		t.Errorf("large item: %s", d)
	}
}

// testOversizeItem: an item over DynamoDB's item limit is refused with an error that wraps
// store.ErrItemTooLarge and names its id, and is not written.
func testOversizeItem(t *testing.T, s Store) {
	ctx := context.Background()
	big := Item("evt-too-big")
	big.Data = blob(store.MaxItemBytes + 1)
	err := s.Put(ctx, []event.Curated{Item("evt-small"), big})
	if !errors.Is(err, store.ErrItemTooLarge) {
		t.Fatalf("Put of an oversize item = %v; want an error wrapping store.ErrItemTooLarge", err)
	}
	if !strings.Contains(err.Error(), "evt-too-big") {
		t.Errorf("error %q does not name the item", err)
	}
	if _, ok, err := s.Get(ctx, big.ID); ok || err != nil {
		t.Errorf("oversize item: Get = ok %v, err %v; want it absent", ok, err)
	}
}
