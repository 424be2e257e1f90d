package dlq

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// recvState is the receive state of a message received at least once: when it becomes visible again
// (Unix nanoseconds on the queue's clock), how often and when first it was received, and the token of its
// latest receipt handle.
type recvState struct {
	visibleAt int64
	count     uint32
	first     int64
	token     [8]byte
}

// stateSize is the stored size of a recvState.
const stateSize = 8 + 4 + 8 + 8

// encode returns the stored form of s.
func (s recvState) encode() []byte {
	v := make([]byte, stateSize)
	binary.BigEndian.PutUint64(v, uint64(s.visibleAt))
	binary.BigEndian.PutUint32(v[8:], s.count)
	binary.BigEndian.PutUint64(v[12:], uint64(s.first))
	copy(v[20:], s.token[:])
	return v
}

// decodeState decodes a stored recvState; false when v is absent (the message was never received).
func decodeState(v []byte) (recvState, bool) {
	if len(v) != stateSize {
		return recvState{}, false
	}
	var s recvState
	s.visibleAt = int64(binary.BigEndian.Uint64(v))
	s.count = binary.BigEndian.Uint32(v[8:])
	s.first = int64(binary.BigEndian.Uint64(v[12:]))
	copy(s.token[:], v[20:])
	return s, true
}

// A receipt handle is the message's counter and its receive token, 16 bytes in hexadecimal: a new token on
// every receive makes a new handle, and only the latest one matches the stored state.
const handleLen = 32

// receiptHandle returns the handle of a receive of the message stored under key.
func receiptHandle(key []byte, token [8]byte) string {
	return hex.EncodeToString(key) + hex.EncodeToString(token[:])
}

// parseHandle splits a receipt handle into the message's key and the receive token.
func parseHandle(h string) ([]byte, [8]byte, error) {
	var token [8]byte
	b, err := hex.DecodeString(h)
	if len(h) != handleLen || err != nil {
		return nil, token, fmt.Errorf("%w: %q", ErrInvalidReceiptHandle, h)
	}
	copy(token[:], b[8:])
	return b[:8], token, nil
}

// Receive returns up to opts.Max visible messages, oldest first, and hides each for the visibility timeout
// (opts.Visibility, or the queue's default), counting the receive and giving it a new receipt handle. When
// none is visible it waits up to opts.Wait (real time) for a send or a visibility change of this Local.
func (q *Local) Receive(ctx context.Context, opts ReceiveOptions) ([]Message, error) {
	opts, err := opts.Normalize()
	if err != nil {
		return nil, fmt.Errorf("dlq: queue %q: receive: %w", q.name, err)
	}
	if opts.Visibility == 0 {
		opts.Visibility = q.visibility
	}
	var timer <-chan time.Time
	if opts.Wait > 0 {
		t := time.NewTimer(opts.Wait)
		defer t.Stop()
		timer = t.C
	}
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		wake := q.waiter()
		out, err := q.receiveOnce(opts)
		if err != nil || len(out) > 0 || timer == nil {
			return out, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timer:
			return q.receiveOnce(opts)
		case <-wake:
		}
	}
}

// receiveOnce receives what is visible now.
func (q *Local) receiveOnce(opts ReceiveOptions) ([]Message, error) {
	var out []Message
	err := q.db.Update(func(tx *bolt.Tx) error {
		out = out[:0]
		now := q.now()
		states, err := tx.CreateBucketIfNotExists(q.state)
		if err != nil {
			return err
		}
		c := tx.Bucket(q.msgs).Cursor()
		for k, v := c.First(); k != nil && len(out) < opts.Max; k, v = c.Next() {
			st, received := decodeState(states.Get(k))
			if received && st.visibleAt > now.UnixNano() {
				continue
			}
			m, err := q.load(tx, k, v)
			if err != nil {
				return err
			}
			if !received {
				st.first = now.UnixNano()
			}
			st.count++
			st.visibleAt = now.Add(opts.Visibility).UnixNano()
			if _, err := rand.Read(st.token[:]); err != nil {
				return err
			}
			key := bytes.Clone(k)
			if err := states.Put(key, st.encode()); err != nil {
				return err
			}
			m.ReceiveCount, m.FirstReceivedAt = int(st.count), time.Unix(0, st.first).UTC()
			m.ReceiptHandle = receiptHandle(key, st.token)
			out = append(out, m)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("dlq: queue %q: receive: %w", q.name, err)
	}
	return out, nil
}

// Delete deletes the message received with receiptHandle, in flight or not. As in SQS, deleting a deleted
// message succeeds, and so does a handle of an earlier receive of the message, which leaves the message in
// place (SQS only promises that the latest handle deletes). A malformed handle fails with
// ErrInvalidReceiptHandle.
func (q *Local) Delete(ctx context.Context, receiptHandle string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	key, token, err := parseHandle(receiptHandle)
	if err != nil {
		return fmt.Errorf("dlq: queue %q: delete: %w", q.name, err)
	}
	err = q.db.Update(func(tx *bolt.Tx) error { return q.deleteTx(tx, key, token) })
	if err != nil {
		return fmt.Errorf("dlq: queue %q: delete: %w", q.name, err)
	}
	return nil
}

// deleteTx deletes the message under key if token is its latest receive's.
func (q *Local) deleteTx(tx *bolt.Tx, key []byte, token [8]byte) error {
	v := tx.Bucket(q.msgs).Get(key)
	if v == nil {
		return nil // deleted already
	}
	var st recvState
	var ok bool
	if b := tx.Bucket(q.state); b != nil {
		st, ok = decodeState(b.Get(key))
	}
	if !ok || st.token != token {
		return nil // a stale handle: the message stays
	}
	m, err := decodeMessage(v)
	if err != nil {
		return err
	}
	return q.remove(tx, key, m.ID)
}

// DeleteBatch deletes the messages of the receipt handles in one transaction; malformed handles fail alone,
// as entries of a *BatchError.
func (q *Local) DeleteBatch(ctx context.Context, receiptHandles []string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	errs := make([]error, len(receiptHandles))
	failed := false
	err := q.db.Update(func(tx *bolt.Tx) error {
		for i, h := range receiptHandles {
			key, token, err := parseHandle(h)
			if err != nil {
				errs[i], failed = err, true
				continue
			}
			if err := q.deleteTx(tx, key, token); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("dlq: queue %q: delete batch: %w", q.name, err)
	}
	if failed {
		return fmt.Errorf("dlq: queue %q: delete batch: %w", q.name, &BatchError{Errs: errs})
	}
	return nil
}

// ChangeVisibility sets the remaining visibility timeout of the message received with receiptHandle to
// timeout from now. The handle must be the message's latest (ErrInvalidReceiptHandle otherwise, or when the
// message was deleted) and the message in flight (ErrMessageNotInFlight otherwise).
func (q *Local) ChangeVisibility(ctx context.Context, receiptHandle string, timeout time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := CheckVisibility(timeout); err != nil {
		return fmt.Errorf("dlq: queue %q: change visibility: %w", q.name, err)
	}
	key, token, err := parseHandle(receiptHandle)
	if err != nil {
		return fmt.Errorf("dlq: queue %q: change visibility: %w", q.name, err)
	}
	visible := false
	err = q.db.Update(func(tx *bolt.Tx) error {
		states := tx.Bucket(q.state)
		if states == nil || tx.Bucket(q.msgs).Get(key) == nil {
			return fmt.Errorf("%w: the message was deleted", ErrInvalidReceiptHandle)
		}
		st, ok := decodeState(states.Get(key))
		if !ok || st.token != token {
			return fmt.Errorf("%w: not the latest receive of the message", ErrInvalidReceiptHandle)
		}
		now := q.now()
		if st.visibleAt <= now.UnixNano() {
			return ErrMessageNotInFlight
		}
		st.visibleAt = now.Add(timeout.Truncate(time.Second)).UnixNano()
		visible = timeout < time.Second
		return states.Put(key, st.encode())
	})
	if err != nil {
		return fmt.Errorf("dlq: queue %q: change visibility: %w", q.name, err)
	}
	if visible {
		q.signal()
	}
	return nil
}

// Depth counts the visible messages and those in flight, on the queue's clock.
func (q *Local) Depth(ctx context.Context) (Depth, error) {
	if err := ctx.Err(); err != nil {
		return Depth{}, err
	}
	var d Depth
	err := q.db.View(func(tx *bolt.Tx) error {
		now := q.now().UnixNano()
		total := tx.Bucket(q.ids).Stats().KeyN
		if states := tx.Bucket(q.state); states != nil {
			err := states.ForEach(func(_, v []byte) error {
				if st, ok := decodeState(v); ok && st.visibleAt > now {
					d.InFlight++
				}
				return nil
			})
			if err != nil {
				return err
			}
		}
		d.Visible = total - d.InFlight
		return nil
	})
	if err != nil {
		return Depth{}, fmt.Errorf("dlq: queue %q: depth: %w", q.name, err)
	}
	return d, nil
}
