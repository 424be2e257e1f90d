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
	"sync"
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

// Lister is the optional part of a table the suite exercises when the Store has it: Count and Scan, as the
// operators' tools use them.
type Lister interface {
	// Count returns the number of items in the table.
	Count(ctx context.Context) (int, error)
	// Scan calls fn with each item (in an order the adapter chooses) until fn returns false.
	Scan(ctx context.Context, fn func(event.Curated) bool) error
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
		{"DataShapes", testDataShapes},
		{"RefusedPutWritesNothing", testRefusedPut},
		{"ConcurrentPutsOfOneID", testConcurrentPuts},
		{"CancelledContext", testCancelled},
		{"CountAndScan", testCountAndScan},
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

// testDataShapes: the event's data reads back as the same JSON value whatever its shape: empty containers,
// scalars, nulls, numbers with more digits than a float64 or beyond DynamoDB's number range, unicode.
func testDataShapes(t *testing.T, s Store) {
	ctx := context.Background()
	cases := []struct {
		name string
		data string
	}{
		{"empty object", `{}`},
		{"empty array", `[]`},
		{"array of scalars", `[1,"two",true,null,{"x":[]}]`},
		{"string", `"just text"`},
		{"number", `42.5`},
		{"null members", `{"a":null,"b":{"c":null}}`},
		{"long integer", `{"n":12345678901234567890123456789}`},
		{"beyond DynamoDB numbers", `{"big":1e200,"tiny":1e-200}`},
		{"unicode", `{"name":"Grüße, 世界 🌍","k\u00e9y":"\u0000"}`},
	}
	items := make([]event.Curated, len(cases))
	for i, c := range cases {
		items[i] = Item(fmt.Sprintf("evt-shape-%d", i))
		items[i].Data = json.RawMessage(c.data)
	}
	if err := s.Put(ctx, items); err != nil {
		t.Fatalf("Put: %v", err)
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if d := Equal(get(t, s, items[i].ID), items[i]); d != "" {
				t.Errorf("data %s: %s", c.data, d)
			}
		})
	}
}

// testRefusedPut: a Put with an item the table can never take (no id, too large) fails with a permanent
// *store.ItemError naming its index, and writes none of the call's items.
func testRefusedPut(t *testing.T, s Store) {
	ctx := context.Background()
	big := Item("evt-big")
	big.Data = blob(store.MaxItemBytes)
	cases := []struct {
		name    string
		items   []event.Curated
		wantErr error
		index   int
	}{
		{"no id", []event.Curated{Item("evt-a1"), {Type: "t"}, Item("evt-a2")}, store.ErrNoID, 1},
		{"too large", []event.Curated{Item("evt-b1"), Item("evt-b2"), big}, store.ErrItemTooLarge, 2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := s.Put(ctx, c.items)
			var ie *store.ItemError
			if !errors.Is(err, c.wantErr) || !errors.As(err, &ie) || ie.Index != c.index || !ie.Permanent() {
				t.Fatalf("Put = %v; want a permanent *store.ItemError at index %d wrapping %v", err, c.index, c.wantErr)
			}
			for _, it := range c.items {
				if it.ID == "" {
					continue
				}
				if _, ok, err := s.Get(ctx, it.ID); ok || err != nil {
					t.Errorf("refused Put: Get(%q) = ok %v, err %v; want it absent", it.ID, ok, err)
				}
			}
		})
	}
}

// testConcurrentPuts: writers racing on the same ids (a replay beside the original) leave exactly one of
// the written items for each id, whole, never a mix of two.
func testConcurrentPuts(t *testing.T, s Store) {
	ctx := context.Background()
	const writers, ids = 4, 10
	var wg sync.WaitGroup
	errs := make([]error, writers)
	for w := range writers {
		wg.Go(func() {
			items := make([]event.Curated, ids)
			for i := range items {
				items[i] = Item(fmt.Sprintf("evt-race-%d", i))
				items[i].Subject = fmt.Sprintf("writer-%d", w)
				items[i].CuratedAt = items[i].CuratedAt.Add(time.Duration(w) * time.Minute)
			}
			errs[w] = s.Put(ctx, items)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("concurrent Put: %v", err)
	}
	for i := range ids {
		got := get(t, s, fmt.Sprintf("evt-race-%d", i))
		var w int
		if _, err := fmt.Sscanf(got.Subject, "writer-%d", &w); err != nil {
			t.Fatalf("item %q: subject %q is not one a writer wrote", got.ID, got.Subject)
		}
		want := Item(got.ID)
		want.Subject = got.Subject
		want.CuratedAt = want.CuratedAt.Add(time.Duration(w) * time.Minute)
		if d := Equal(got, want); d != "" {
			t.Errorf("item %q is not the one writer %d wrote: %s", got.ID, w, d)
		}
	}
}

// testCancelled: Put and Get with a cancelled context fail with an error wrapping context.Canceled, and the
// Put writes nothing.
func testCancelled(t *testing.T, s Store) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Put(ctx, []event.Curated{Item("evt-cancelled")}); !errors.Is(err, context.Canceled) {
		t.Errorf("Put with a cancelled context = %v; want context.Canceled", err)
	}
	if _, _, err := s.Get(ctx, "evt-cancelled"); !errors.Is(err, context.Canceled) {
		t.Errorf("Get with a cancelled context = %v; want context.Canceled", err)
	}
	if _, ok, err := s.Get(context.Background(), "evt-cancelled"); ok || err != nil {
		t.Errorf("cancelled Put: Get = ok %v, err %v; want it absent", ok, err)
	}
}

// testCountAndScan: when the Store is a Lister, Count counts each id once and Scan visits each item once
// (in any order), whole, and stops when fn returns false.
func testCountAndScan(t *testing.T, s Store) {
	l, ok := s.(Lister)
	if !ok {
		t.Skip("the store has no Count and Scan")
	}
	ctx := context.Background()
	if n, err := l.Count(ctx); err != nil || n != 0 {
		t.Fatalf("Count of an empty table = %d, %v; want 0", n, err)
	}
	want := map[string]event.Curated{}
	var items []event.Curated
	for i := range 30 {
		it := Item(fmt.Sprintf("evt-scan-%02d", i))
		want[it.ID] = it
		items = append(items, it)
	}
	items = append(items, Item("evt-scan-00"))
	if err := s.Put(ctx, items); err != nil {
		t.Fatalf("Put: %v", err)
	}
	if n, err := l.Count(ctx); err != nil || n != len(want) {
		t.Fatalf("Count = %d, %v; want %d", n, err, len(want))
	}
	seen := map[string]bool{}
	err := l.Scan(ctx, func(c event.Curated) bool {
		if seen[c.ID] {
			t.Errorf("Scan visited %q twice", c.ID)
		}
		seen[c.ID] = true
		if d := Equal(c, want[c.ID]); d != "" {
			t.Errorf("Scan item %q: %s", c.ID, d)
		}
		return true
	})
	if err != nil || len(seen) != len(want) {
		t.Fatalf("Scan = %d items, %v; want %d", len(seen), err, len(want))
	}
	visits := 0
	err = l.Scan(ctx, func(event.Curated) bool { visits++; return visits < 5 })
	if err != nil || visits != 5 {
		t.Fatalf("Scan stopping after 5 = %d visits, %v; want 5", visits, err)
	}
}
