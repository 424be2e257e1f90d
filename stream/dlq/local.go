package dlq

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	bolt "go.etcd.io/bbolt"

	"github.com/serverless-data-platform/sdp/event"
)

// MaxBodySize is the largest message body, in bytes, as SQS allows.
const MaxBodySize = 1 << 20

var (
	// ErrInvalidMessage marks a body the queue refuses, as SQS would: empty, larger than MaxBodySize or not
	// valid UTF-8.
	ErrInvalidMessage = errors.New("dlq: invalid message")
	// ErrInvalidQueueName marks a queue name SQS would refuse.
	ErrInvalidQueueName = errors.New("dlq: invalid queue name")
)

// Local is the dead-letter queue of local mode, on a bbolt database shared with other stores: it uses only
// the buckets whose names start with "dlq/" + its queue name + "/". Messages stay until deleted. Its methods
// are safe for concurrent use.
//
// Unlike SQS it has no visibility timeout and no receive count: messages are listed, inspected and deleted by
// id, and reading never hides or consumes them.
type Local struct {
	db   *bolt.DB
	name string
	// msgs maps a send counter (8 bytes big-endian) to a message; ids maps a message id to its counter.
	msgs, ids []byte
	now       func() time.Time
}

// OpenLocal creates the queue's buckets in db when they do not exist and returns the queue. queueName follows
// SQS's rules: 1 to 80 characters of [a-zA-Z0-9_-], with an optional ".fifo" suffix.
func OpenLocal(db *bolt.DB, queueName string) (*Local, error) {
	if err := validateQueueName(queueName); err != nil {
		return nil, err
	}
	prefix := "dlq/" + queueName + "/"
	q := &Local{db: db, name: queueName, msgs: []byte(prefix + "messages"), ids: []byte(prefix + "ids"), now: time.Now}
	err := db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{q.msgs, q.ids} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("dlq: open queue %q: %w", queueName, err)
	}
	return q, nil
}

// validateQueueName checks a queue name against SQS's rules.
func validateQueueName(name string) error {
	base := name
	if len(base) > len(".fifo") && base[len(base)-len(".fifo"):] == ".fifo" {
		base = base[:len(base)-len(".fifo")]
	}
	if name == "" || len(name) > 80 {
		return fmt.Errorf("%w: %q must have 1 to 80 characters", ErrInvalidQueueName, name)
	}
	for i := 0; i < len(base); i++ {
		c := base[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-') {
			return fmt.Errorf("%w: %q may hold only [a-zA-Z0-9_-] and a .fifo suffix", ErrInvalidQueueName, name)
		}
	}
	return nil
}

// Name returns the queue's name.
func (q *Local) Name() string { return q.name }

// Send adds a message to the queue in its own transaction and returns the message id.
func (q *Local) Send(ctx context.Context, body []byte) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	var id string
	err := q.db.Update(func(tx *bolt.Tx) error {
		var err error
		id, err = q.SendTx(tx, body)
		return err
	})
	if err != nil {
		return "", err
	}
	return id, nil
}

// SendTx adds a message to the queue inside the caller's read-write transaction and returns the message id,
// so that the message is kept exactly when the rest of the transaction (such as a consumer's checkpoint) is
// committed: a rolled back transaction leaves no message.
func (q *Local) SendTx(tx *bolt.Tx, body []byte) (string, error) {
	if err := validateBody(body); err != nil {
		return "", err
	}
	msgs, ids := tx.Bucket(q.msgs), tx.Bucket(q.ids)
	if msgs == nil || ids == nil {
		return "", fmt.Errorf("dlq: queue %q: buckets are missing (was it opened with OpenLocal on this database?)", q.name)
	}
	// The id is random, so it reveals nothing and never repeats across reopenings; the counter keeps order.
	id := event.NewID()
	n, err := msgs.NextSequence()
	if err != nil {
		return "", fmt.Errorf("dlq: queue %q: %w", q.name, err)
	}
	key := make([]byte, 8)
	binary.BigEndian.PutUint64(key, n)
	if err := msgs.Put(key, encodeMessage(id, q.now(), body)); err != nil {
		return "", fmt.Errorf("dlq: queue %q: send: %w", q.name, err)
	}
	if err := ids.Put([]byte(id), key); err != nil {
		return "", fmt.Errorf("dlq: queue %q: send: %w", q.name, err)
	}
	return id, nil
}

// validateBody checks a body against SQS's limits.
func validateBody(body []byte) error {
	switch {
	case len(body) == 0:
		return fmt.Errorf("%w: empty body", ErrInvalidMessage)
	case len(body) > MaxBodySize:
		return fmt.Errorf("%w: body of %d bytes, at most %d are allowed", ErrInvalidMessage, len(body), MaxBodySize)
	case !utf8.Valid(body):
		return fmt.Errorf("%w: body is not valid UTF-8", ErrInvalidMessage)
	}
	return nil
}

// List returns up to limit messages, oldest first, leaving them in the queue; limit <= 0 means all.
func (q *Local) List(ctx context.Context, limit int) ([]Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []Message
	err := q.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(q.msgs).Cursor()
		for k, v := c.First(); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Next() {
			m, err := decodeMessage(v)
			if err != nil {
				return err
			}
			out = append(out, m)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("dlq: queue %q: list: %w", q.name, err)
	}
	return out, nil
}

// Get returns the message with the given id, and false when the queue does not hold it.
func (q *Local) Get(ctx context.Context, id string) (Message, bool, error) {
	if err := ctx.Err(); err != nil {
		return Message{}, false, err
	}
	var m Message
	var found bool
	err := q.db.View(func(tx *bolt.Tx) error {
		key := tx.Bucket(q.ids).Get([]byte(id))
		if key == nil {
			return nil
		}
		v := tx.Bucket(q.msgs).Get(key)
		if v == nil {
			return fmt.Errorf("message %s is indexed but missing", id)
		}
		var err error
		m, err = decodeMessage(v)
		found = err == nil
		return err
	})
	if err != nil {
		return Message{}, false, fmt.Errorf("dlq: queue %q: get: %w", q.name, err)
	}
	return m, found, nil
}

// Delete removes the message with the given id. Deleting a message the queue does not hold is not an error.
func (q *Local) Delete(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := q.db.Update(func(tx *bolt.Tx) error {
		ids := tx.Bucket(q.ids)
		key := ids.Get([]byte(id))
		if key == nil {
			return nil
		}
		if err := tx.Bucket(q.msgs).Delete(key); err != nil {
			return err
		}
		return ids.Delete([]byte(id))
	})
	if err != nil {
		return fmt.Errorf("dlq: queue %q: delete %s: %w", q.name, id, err)
	}
	return nil
}

// Len returns how many messages the queue holds.
func (q *Local) Len(ctx context.Context) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	var n int
	err := q.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(q.ids).Stats().KeyN
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("dlq: queue %q: len: %w", q.name, err)
	}
	return n, nil
}

// A stored message is its send time (Unix nanoseconds, 8 bytes big-endian), the length of its id (1 byte),
// the id and the body.
const messageHeader = 9

// encodeMessage returns the stored form of a message.
func encodeMessage(id string, sentAt time.Time, body []byte) []byte {
	v := make([]byte, messageHeader+len(id)+len(body))
	binary.BigEndian.PutUint64(v, uint64(sentAt.UnixNano()))
	v[8] = byte(len(id))
	copy(v[messageHeader:], id)
	copy(v[messageHeader+len(id):], body)
	return v
}

// decodeMessage copies a stored message out of the database.
func decodeMessage(v []byte) (Message, error) {
	if len(v) < messageHeader || len(v) < messageHeader+int(v[8]) {
		return Message{}, fmt.Errorf("corrupt message of %d bytes", len(v))
	}
	n := int(v[8])
	return Message{
		ID:     string(v[messageHeader : messageHeader+n]),
		Body:   bytes.Clone(v[messageHeader+n:]),
		SentAt: time.Unix(0, int64(binary.BigEndian.Uint64(v))).UTC(),
	}, nil
}
