package analytics

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/segmentio/encoding/json"
	bolt "go.etcd.io/bbolt"

	"github.com/serverless-data-platform/sdp/event"
)

// Bucket names of the local store.
const (
	windowsBucket = "analytics/windows"
	appliedBucket = "analytics/applied"
)

// Local is the embedded Store, on a bbolt database shared with the rest of the local stack.
//
// Windows are kept in the bucket "analytics/windows" under the key
// start (8 bytes, big endian, order-preserving) | type | 0x00 | source, so that a range of time is one cursor
// scan. The bucket "analytics/applied" holds one marker per applied event id (its value is when it was
// applied, in Unix nanoseconds, so that old markers can be pruned by age).
type Local struct {
	db  *bolt.DB
	now func() time.Time
}

var _ Store = (*Local)(nil)

// OpenLocal makes sure the buckets exist in db and returns the store. The database stays owned by the caller.
func OpenLocal(db *bolt.DB) (*Local, error) {
	err := db.Update(func(tx *bolt.Tx) error {
		for _, name := range []string{windowsBucket, appliedBucket} {
			if _, err := tx.CreateBucketIfNotExists([]byte(name)); err != nil {
				return fmt.Errorf("bucket %s: %w", name, err)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("analytics: open local store: %w", err)
	}
	return &Local{db: db, now: time.Now}, nil
}

// windowValue is a window as stored: the key holds its start, type and source.
type windowValue struct {
	Count    int64           `json:"count"`
	Measures map[string]Stat `json:"measures,omitempty"`
}

// add counts one fact into w.
func (w *windowValue) add(f *event.Fact) {
	w.Count++
	for name, v := range f.Measures {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		if w.Measures == nil {
			w.Measures = make(map[string]Stat, len(f.Measures))
		}
		s := w.Measures[name]
		s.add(v)
		w.Measures[name] = s
	}
}

// Apply implements Store: one transaction records each new fact's applied marker and counts it; facts whose
// id was applied before (in an earlier call or earlier in facts) are skipped.
func (l *Local) Apply(ctx context.Context, facts []event.Fact) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, fmt.Errorf("analytics: apply: %w", err)
	}
	for i := range facts {
		if err := validate(&facts[i]); err != nil {
			return 0, fmt.Errorf("analytics: apply: fact %d: %w", i, err)
		}
	}
	if len(facts) == 0 {
		return 0, nil
	}
	stamp := binary.BigEndian.AppendUint64(nil, uint64(l.now().UnixNano()))
	applied := 0
	err := l.db.Update(func(tx *bolt.Tx) error {
		ab := tx.Bucket([]byte(appliedBucket))
		wb := tx.Bucket([]byte(windowsBucket))
		// Windows touched by this call are read once, updated in memory and written once.
		pending := make(map[string]*windowValue)
		order := make([]string, 0, 4)
		key := make([]byte, 0, 64)
		for i := range facts {
			f := &facts[i]
			id := []byte(f.ID)
			if ab.Get(id) != nil {
				continue
			}
			if err := ab.Put(id, stamp); err != nil {
				return fmt.Errorf("mark %q applied: %w", f.ID, err)
			}
			key = windowKey(key[:0], f.Time, f.Type, f.Source)
			w, ok := pending[string(key)]
			if !ok {
				w = &windowValue{}
				if v := wb.Get(key); v != nil {
					if err := json.Unmarshal(v, w); err != nil {
						return fmt.Errorf("window %x: %w", key, err)
					}
				}
				pending[string(key)] = w
				order = append(order, string(key))
			}
			w.add(f)
			applied++
		}
		for _, k := range order {
			v, err := json.Marshal(pending[k])
			if err != nil {
				return fmt.Errorf("window %x: %w", k, err)
			}
			if err := wb.Put([]byte(k), v); err != nil {
				return fmt.Errorf("window %x: %w", k, err)
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("analytics: apply %d facts: %w", len(facts), err)
	}
	return applied, nil
}

// Query implements Store.
func (l *Local) Query(ctx context.Context, q Query) ([]Window, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("analytics: query: %w", err)
	}
	var out []Window
	err := l.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket([]byte(windowsBucket)).Cursor()
		var k, v []byte
		if q.From.IsZero() {
			k, v = c.First()
		} else {
			k, v = c.Seek(appendStart(nil, q.From))
		}
		for ; k != nil; k, v = c.Next() {
			start, typ, src, ok := parseWindowKey(k)
			if !ok {
				return fmt.Errorf("malformed window key %x", k)
			}
			if !q.To.IsZero() && !start.Before(q.To) {
				break
			}
			if (q.Type != "" && typ != q.Type) || (q.Source != "" && src != q.Source) {
				continue
			}
			var wv windowValue
			if err := json.Unmarshal(v, &wv); err != nil {
				return fmt.Errorf("window %x: %w", k, err)
			}
			out = append(out, Window{Start: start, Type: typ, Source: src, Count: wv.Count, Measures: wv.Measures})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("analytics: query: %w", err)
	}
	return out, nil
}

// validate checks that f can be counted and keyed.
func validate(f *event.Fact) error {
	switch {
	case f.ID == "":
		return fmt.Errorf("%w: no id", ErrInvalidFact)
	case f.Type == "":
		return fmt.Errorf("%w: %q: no type", ErrInvalidFact, f.ID)
	case f.Time.IsZero():
		return fmt.Errorf("%w: %q: no time", ErrInvalidFact, f.ID)
	case strings.IndexByte(f.Type, 0) >= 0 || strings.IndexByte(f.Source, 0) >= 0:
		return fmt.Errorf("%w: %q: NUL in type or source", ErrInvalidFact, f.ID)
	}
	return nil
}

// appendStart appends the order-preserving encoding of the start of t's window: the Unix second as a big-endian
// uint64 with the sign bit flipped, so that times before 1970 sort first.
func appendStart(b []byte, t time.Time) []byte {
	sec := t.Truncate(WindowSize).Unix()
	return binary.BigEndian.AppendUint64(b, uint64(sec)^(1<<63))
}

// windowKey appends the key of the window of (t, typ, src) to b.
func windowKey(b []byte, t time.Time, typ, src string) []byte {
	b = appendStart(b, t)
	b = append(b, typ...)
	b = append(b, 0)
	return append(b, src...)
}

// parseWindowKey splits a window key.
func parseWindowKey(k []byte) (start time.Time, typ, src string, ok bool) {
	if len(k) < 9 {
		return time.Time{}, "", "", false
	}
	sec := int64(binary.BigEndian.Uint64(k[:8]) ^ (1 << 63))
	rest := k[8:]
	i := bytes.IndexByte(rest, 0)
	if i < 0 {
		return time.Time{}, "", "", false
	}
	return time.Unix(sec, 0).UTC(), string(rest[:i]), string(rest[i+1:]), true
}
