package store_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/workflow/store"
	"github.com/serverless-data-platform/sdp/workflow/store/storetest"
)

// newLocal returns a Local table on a fresh database in the test's temporary directory.
func newLocal(t *testing.T) *store.Local {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "sdp.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatalf("open db: %v", err)
	}
	t.Cleanup(func() { _ = db.Close() })
	s, err := store.OpenLocal(db)
	if err != nil {
		t.Fatalf("OpenLocal: %v", err)
	}
	return s
}

// TestLocalContract runs the curated table's contract suite against Local.
func TestLocalContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store { return newLocal(t) })
}

// TestLocalCountAndScan checks Count and Scan, in id order and stopping early.
func TestLocalCountAndScan(t *testing.T) {
	ctx := context.Background()
	s := newLocal(t)
	var items []event.Curated
	for _, id := range []string{"c", "a", "b", "a"} {
		items = append(items, storetest.Item(id))
	}
	if err := s.Put(ctx, items); err != nil {
		t.Fatal(err)
	}
	if n, err := s.Count(ctx); err != nil || n != 3 {
		t.Fatalf("Count = %d, %v; want 3", n, err)
	}
	tests := []struct {
		name  string
		limit int
		want  string
	}{
		{"all in id order", 10, "abc"},
		{"stop early", 2, "ab"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := ""
			err := s.Scan(ctx, func(c event.Curated) bool {
				got += c.ID
				return len(got) < tc.limit
			})
			if err != nil || got != tc.want {
				t.Fatalf("Scan = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// TestLocalPutIsAtomic checks that a Put refused for one item writes none of the others.
func TestLocalPutIsAtomic(t *testing.T) {
	ctx := context.Background()
	s := newLocal(t)
	items := []event.Curated{storetest.Item("ok-1"), {Type: "t"}, storetest.Item("ok-2")}
	err := s.Put(ctx, items)
	var ie *store.ItemError
	if !errors.Is(err, store.ErrNoID) || !errors.As(err, &ie) || ie.Index != 1 || !ie.Permanent() {
		t.Fatalf("Put with an item without id = %v; want a permanent *ItemError at index 1", err)
	}
	if n, _ := s.Count(ctx); n != 0 {
		t.Errorf("a refused Put wrote %d items; want none", n)
	}
}

// TestLocalCancelledContext checks that every method honours a cancelled context.
func TestLocalCancelledContext(t *testing.T) {
	s := newLocal(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	calls := []struct {
		name string
		call func() error
	}{
		{"Put", func() error { return s.Put(ctx, []event.Curated{storetest.Item("x")}) }},
		{"Get", func() error { _, _, err := s.Get(ctx, "x"); return err }},
		{"Count", func() error { _, err := s.Count(ctx); return err }},
		{"Scan", func() error {
			if err := s.Put(context.Background(), []event.Curated{storetest.Item("y")}); err != nil {
				return fmt.Errorf("setup: %w", err)
			}
			return s.Scan(ctx, func(event.Curated) bool { return true })
		}},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			if err := c.call(); !errors.Is(err, context.Canceled) {
				t.Fatalf("%s with a cancelled context = %v; want context.Canceled", c.name, err)
			}
		})
	}
}

// BenchmarkLocalPut100 measures a Put of 100 new items (without fsync).
func BenchmarkLocalPut100(b *testing.B) {
	db, err := bolt.Open(filepath.Join(b.TempDir(), "sdp.db"), 0o600, &bolt.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	s, err := store.OpenLocal(db)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	items := make([]event.Curated, 100)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		for j := range items {
			items[j] = storetest.Item(fmt.Sprintf("evt-%d-%d", i, j))
		}
		if err := s.Put(ctx, items); err != nil {
			b.Fatal(err)
		}
	}
}
