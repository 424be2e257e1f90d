package analytics

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"strings"
	"time"

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
// scan; the value is the window's Aggregate, encoded. The bucket "analytics/applied" holds one marker per
// applied event id (its value is when it was applied, in Unix nanoseconds, so that old markers can be pruned
// by age). A marker and the count of its event are written in one transaction: that is the fence.
type Local struct {
	db  *bolt.DB
	win Windowing
	now func() time.Time
}

var _ Store = (*Local)(nil)

// LocalOption configures a Local store.
type LocalOption func(*Local)

// WithWindowing sets the window size and allowed lateness (default WindowSize and AllowedLateness). A
// database keeps the size it was first used with: a store opened with another size keys new windows by
// the new size beside the old ones.
func WithWindowing(w Windowing) LocalOption { return func(l *Local) { l.win = w.withDefaults() } }

// WithLocalClock sets the clock that judges facts without an arrival time, and which windows Query reports
// closed (default time.Now).
func WithLocalClock(now func() time.Time) LocalOption {
	return func(l *Local) {
		if now != nil {
			l.now = now
		}
	}
}

// OpenLocal makes sure the buckets exist in db and returns the store. The database stays owned by the caller.
func OpenLocal(db *bolt.DB, opts ...LocalOption) (*Local, error) {
	l := &Local{db: db, win: Windowing{}.withDefaults(), now: time.Now}
	for _, o := range opts {
		o(l)
	}
	if err := l.win.Check(); err != nil {
		return nil, err
	}
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
	return l, nil
}

// Windowing returns the store's windowing.
func (l *Local) Windowing() Windowing { return l.win }

// Apply implements Store: one transaction records each new fact's applied marker and counts it, in its
// window or, when the window has closed, in the window's Late; facts whose id was applied before (in an
// earlier call or earlier in facts) are skipped.
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
	now := l.now()
	stamp := binary.BigEndian.AppendUint64(nil, uint64(now.UnixNano()))
	applied := 0
	err := l.db.Update(func(tx *bolt.Tx) error {
		applied = 0
		ab := tx.Bucket([]byte(appliedBucket))
		wb := tx.Bucket([]byte(windowsBucket))
		// Windows touched by this call are read once, updated in memory and written once.
		pending := make(map[string]*Aggregate)
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
			start := l.win.Start(f.Time)
			key = windowKey(key[:0], start, f.Type, f.Source)
			a, ok := pending[string(key)]
			if !ok {
				a = &Aggregate{}
				if v := wb.Get(key); v != nil {
					if err := a.UnmarshalBinary(v); err != nil {
						return fmt.Errorf("window %x: %w", key, err)
					}
				}
				pending[string(key)] = a
				order = append(order, string(key))
			}
			if l.win.Late(f, now) {
				a.Late++
			} else {
				a.Add(f)
			}
			applied++
		}
		var buf []byte
		for _, k := range order {
			var err error
			if buf, err = pending[k].AppendBinary(buf[:0]); err != nil {
				return fmt.Errorf("window %x: %w", k, err)
			}
			// bbolt keeps the value until the transaction ends: each gets its own copy.
			if err := wb.Put([]byte(k), bytes.Clone(buf)); err != nil {
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
	now := l.now()
	var out []Window
	err := l.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket([]byte(windowsBucket)).Cursor()
		var k, v []byte
		if q.From.IsZero() {
			k, v = c.First()
		} else {
			// The window that holds From overlaps [From, To).
			k, v = c.Seek(appendStart(nil, l.win.Start(q.From)))
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
			var a Aggregate
			if err := a.UnmarshalBinary(v); err != nil {
				return fmt.Errorf("window %x: %w", k, err)
			}
			out = append(out, NewWindow(l.win, start, typ, src, &a, now))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("analytics: query: %w", err)
	}
	return out, nil
}

// decodeStart reads a start encoded by appendStart; nil is the zero time.
func decodeStart(b []byte) time.Time {
	if len(b) != 8 {
		return time.Time{}
	}
	return time.Unix(int64(binary.BigEndian.Uint64(b)^(1<<63)), 0).UTC()
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

// appendStart appends the order-preserving encoding of a window's start: the Unix second as a big-endian
// uint64 with the sign bit flipped, so that times before 1970 sort first.
func appendStart(b []byte, start time.Time) []byte {
	sec := start.Unix()
	return binary.BigEndian.AppendUint64(b, uint64(sec)^(1<<63))
}

// windowKey appends the key of the window of typ and src that starts at start to b.
func windowKey(b []byte, start time.Time, typ, src string) []byte {
	b = appendStart(b, start)
	b = append(b, typ...)
	b = append(b, 0)
	return append(b, src...)
}

// parseWindowKey splits a window key.
func parseWindowKey(k []byte) (start time.Time, typ, src string, ok bool) {
	if len(k) < 9 {
		return time.Time{}, "", "", false
	}
	start = decodeStart(k[:8])
	rest := k[8:]
	i := bytes.IndexByte(rest, 0)
	if i < 0 {
		return time.Time{}, "", "", false
	}
	return start, string(rest[:i]), string(rest[i+1:]), true
}
