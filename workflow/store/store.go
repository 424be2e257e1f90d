// Package store is the curated table: the events after enrichment, keyed by event id.
//
// Writes are put-if-absent, so a retried or replayed batch writes nothing new and each item keeps the
// CuratedAt of its first write. Items are bounded by DynamoDB's item size limit so that the local table and the
// DynamoDB table accept the same items. The contract every adapter meets is the suite in package storetest.
package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/segmentio/encoding/json"
	bolt "go.etcd.io/bbolt"

	"github.com/serverless-data-platform/sdp/event"
)

// MaxItemBytes is the largest item the table takes: DynamoDB's item size limit of 400 KB.
const MaxItemBytes = 400 << 10

// curatedBucket is the bbolt bucket of the local table; curatedMetaBucket holds its item count under
// countKey, kept by Put in the same transaction as the items.
const (
	curatedBucket     = "curated"
	curatedMetaBucket = "curated-meta"
)

// countKey is the key of the item count in curatedMetaBucket.
var countKey = []byte("count")

// ErrItemTooLarge is wrapped by the error about an item over MaxItemBytes.
var ErrItemTooLarge = errors.New("item too large")

// ErrNoID is wrapped by the error about an item without an id.
var ErrNoID = errors.New("item has no id")

// ItemError is the error about one item that can never be written, whatever the retries: it wraps
// ErrItemTooLarge or ErrNoID.
type ItemError struct {
	// ID is the item's id (empty for ErrNoID), Index its position in the Put call.
	ID    string
	Index int
	// Size is the item's encoded size, when the error is about its size.
	Size int
	Err  error
}

// Error names the item and why it was refused.
func (e *ItemError) Error() string {
	if errors.Is(e.Err, ErrItemTooLarge) {
		return fmt.Sprintf("item %q (index %d): %v: %d bytes, limit %d", e.ID, e.Index, e.Err, e.Size, MaxItemBytes)
	}
	return fmt.Sprintf("item %q (index %d): %v", e.ID, e.Index, e.Err)
}

// Unwrap returns the sentinel the error is about.
func (e *ItemError) Unwrap() error { return e.Err }

// Permanent reports that retrying the same write cannot succeed.
func (e *ItemError) Permanent() bool { return true }

// Local is the curated table on a bbolt database shared with the rest of the local stack: the bucket "curated",
// one JSON value per event id. It is safe for concurrent use.
type Local struct {
	db *bolt.DB
}

// OpenLocal makes sure the bucket exists in db and returns the table. The database stays owned by the caller.
func OpenLocal(db *bolt.DB) (*Local, error) {
	err := db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte(curatedBucket))
		if err != nil {
			return err
		}
		meta, err := tx.CreateBucketIfNotExists([]byte(curatedMetaBucket))
		if err != nil {
			return err
		}
		if meta.Get(countKey) == nil {
			// A table from before the count was kept is counted once.
			return meta.Put(countKey, binary.BigEndian.AppendUint64(nil, uint64(b.Stats().KeyN)))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: open local table: bucket %s: %w", curatedBucket, err)
	}
	return &Local{db: db}, nil
}

// Put writes the items that are not in the table yet, in one transaction: either all new items are written or
// none is. An item whose id is already present (from an earlier call or earlier in items) is left as it is.
// An item without an id or over MaxItemBytes fails the whole call with an *ItemError naming it, before
// anything is written. Put does not retry.
func (l *Local) Put(ctx context.Context, items []event.Curated) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("store: put: %w", err)
	}
	if len(items) == 0 {
		return nil
	}
	values := make([][]byte, len(items))
	for i := range items {
		if items[i].ID == "" {
			return fmt.Errorf("store: put: %w", &ItemError{Index: i, Err: ErrNoID})
		}
		v, err := json.Marshal(&items[i])
		if err != nil {
			return fmt.Errorf("store: put: item %q: %w", items[i].ID, err)
		}
		if len(v) > MaxItemBytes {
			return fmt.Errorf("store: put: %w", &ItemError{ID: items[i].ID, Index: i, Size: len(v), Err: ErrItemTooLarge})
		}
		values[i] = v
	}
	err := l.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(curatedBucket))
		added := uint64(0)
		for i := range items {
			id := []byte(items[i].ID)
			if b.Get(id) != nil {
				continue
			}
			if err := b.Put(id, values[i]); err != nil {
				return fmt.Errorf("item %q: %w", items[i].ID, err)
			}
			added++
		}
		if added == 0 {
			return nil
		}
		meta := tx.Bucket([]byte(curatedMetaBucket))
		n := binary.BigEndian.Uint64(meta.Get(countKey)) + added
		return meta.Put(countKey, binary.BigEndian.AppendUint64(nil, n))
	})
	if err != nil {
		return fmt.Errorf("store: put %d items: %w", len(items), err)
	}
	return nil
}

// Get returns the item with the id, and whether it exists.
func (l *Local) Get(ctx context.Context, id string) (event.Curated, bool, error) {
	var c event.Curated
	if err := ctx.Err(); err != nil {
		return c, false, fmt.Errorf("store: get %q: %w", id, err)
	}
	found := false
	err := l.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket([]byte(curatedBucket)).Get([]byte(id))
		if v == nil {
			return nil
		}
		found = true
		return json.Unmarshal(v, &c)
	})
	if err != nil {
		return event.Curated{}, false, fmt.Errorf("store: get %q: %w", id, err)
	}
	return c, found, nil
}

// Count returns the number of items in the table, without reading them.
func (l *Local) Count(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("store: count: %w", err)
	}
	n := 0
	err := l.db.View(func(tx *bolt.Tx) error {
		// The count is kept beside the table by Put: counting the items would read every page.
		n = int(binary.BigEndian.Uint64(tx.Bucket([]byte(curatedMetaBucket)).Get(countKey)))
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: count: %w", err)
	}
	return n, nil
}

// Scan calls fn with each item in id order, from one consistent snapshot, until fn returns false. fn must not
// write to the table (the snapshot's read transaction is open while it runs).
func (l *Local) Scan(ctx context.Context, fn func(event.Curated) bool) error {
	err := l.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket([]byte(curatedBucket)).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			var item event.Curated
			if err := json.Unmarshal(v, &item); err != nil {
				return fmt.Errorf("item %q: %w", k, err)
			}
			if !fn(item) {
				return nil
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: scan: %w", err)
	}
	return nil
}
