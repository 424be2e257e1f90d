package dlq

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
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
// the buckets whose names start with "dlq/" + its queue name + "/". It implements Queue with SQS's semantics
// (visibility timeouts on an injectable clock, receipt handles that change on every receive, receive counts,
// move tasks to another local queue of the same database), and adds what only a local queue can do cheaply:
// List, Get and DeleteID read or delete messages by id without receiving them. Messages stay until deleted.
// Its methods are safe for concurrent use.
type Local struct {
	db   *bolt.DB
	name string
	// msgs maps a send counter (8 bytes big-endian) to a message; ids maps a message id to its counter;
	// state maps a counter to the receive state of a message received at least once; attrs maps a counter
	// to the message's attributes (JSON); tasks maps a task counter to a move task (JSON).
	msgs, ids, state, attrs, tasks []byte
	now                            func() time.Time
	visibility                     time.Duration

	// mu guards wake, which is closed (and replaced) when a message may have become visible, to end the
	// waits of long-polling receives.
	mu   sync.Mutex
	wake chan struct{}
}

// LocalOption configures a Local.
type LocalOption func(*Local)

// WithClock sets the clock of visibility timeouts and timestamps (default time.Now).
func WithClock(now func() time.Time) LocalOption {
	return func(q *Local) {
		if now != nil {
			q.now = now
		}
	}
}

// WithVisibilityTimeout sets the queue's default visibility timeout (SQS's default is 30 s), used by
// receives that name none.
func WithVisibilityTimeout(d time.Duration) LocalOption {
	return func(q *Local) {
		if d > 0 && d <= MaxVisibility {
			q.visibility = d.Truncate(time.Second)
		}
	}
}

// LocalARN returns the ARN the local queue of the name reports: region "local", account 000000000000.
func LocalARN(queueName string) string { return "arn:aws:sqs:local:000000000000:" + queueName }

// newLocal returns the queue of the name on db, without touching the database.
func newLocal(db *bolt.DB, queueName string) *Local {
	prefix := "dlq/" + queueName + "/"
	return &Local{db: db, name: queueName, msgs: []byte(prefix + "messages"), ids: []byte(prefix + "ids"),
		state: []byte(prefix + "state"), attrs: []byte(prefix + "attributes"), tasks: []byte(prefix + "tasks"),
		now: time.Now, visibility: 30 * time.Second, wake: make(chan struct{})}
}

// OpenLocal creates the queue's buckets in db when they do not exist and returns the queue. queueName follows
// SQS's rules: 1 to 80 characters of [a-zA-Z0-9_-], with an optional ".fifo" suffix.
func OpenLocal(db *bolt.DB, queueName string, opts ...LocalOption) (*Local, error) {
	if err := validateQueueName(queueName); err != nil {
		return nil, err
	}
	q := newLocal(db, queueName)
	for _, o := range opts {
		o(q)
	}
	err := db.Update(func(tx *bolt.Tx) error {
		for _, name := range [][]byte{q.msgs, q.ids, q.state, q.attrs, q.tasks} {
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

// ARN returns LocalARN(q.Name()).
func (q *Local) ARN(context.Context) (string, error) { return LocalARN(q.name), nil }

var _ Queue = (*Local)(nil)

// signal ends the current waits of long-polling receives.
func (q *Local) signal() {
	q.mu.Lock()
	defer q.mu.Unlock()
	close(q.wake)
	q.wake = make(chan struct{})
}

// waiter returns the channel the next signal closes.
func (q *Local) waiter() <-chan struct{} {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.wake
}

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

// SendBatch adds the messages in one transaction and returns their ids. Invalid messages fail alone, as
// entries of a *BatchError; the valid ones are sent.
func (q *Local) SendBatch(ctx context.Context, msgs []Outgoing) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ids := make([]string, len(msgs))
	errs := make([]error, len(msgs))
	failed := false
	err := q.db.Update(func(tx *bolt.Tx) error {
		for i, m := range msgs {
			if err := ValidateOutgoing(m); err != nil {
				errs[i], failed = err, true
				continue
			}
			id, err := q.put(tx, event.NewID(), q.now(), m)
			if err != nil {
				return err
			}
			ids[i] = id
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("dlq: queue %q: send batch: %w", q.name, err)
	}
	if failed {
		return ids, &BatchError{Errs: errs}
	}
	return ids, nil
}

// SendTx adds a message to the queue inside the caller's read-write transaction and returns the message id,
// so that the message is kept exactly when the rest of the transaction (such as a consumer's checkpoint) is
// committed: a rolled back transaction leaves no message.
func (q *Local) SendTx(tx *bolt.Tx, body []byte) (string, error) {
	if err := validateBody(body); err != nil {
		return "", err
	}
	return q.put(tx, event.NewID(), q.now(), Outgoing{Body: body})
}

// put stores a valid message under id and wakes the receives waiting once tx commits.
func (q *Local) put(tx *bolt.Tx, id string, sentAt time.Time, m Outgoing) (string, error) {
	msgs, ids := tx.Bucket(q.msgs), tx.Bucket(q.ids)
	if msgs == nil || ids == nil {
		return "", fmt.Errorf("dlq: queue %q: buckets are missing (was it opened with OpenLocal on this database?): %w", q.name, ErrQueueNotFound)
	}
	// The id is random, so it reveals nothing and never repeats across reopenings; the counter keeps order.
	n, err := msgs.NextSequence()
	if err != nil {
		return "", fmt.Errorf("dlq: queue %q: %w", q.name, err)
	}
	key := make([]byte, 8)
	binary.BigEndian.PutUint64(key, n)
	if err := msgs.Put(key, encodeMessage(id, sentAt, m.Body)); err != nil {
		return "", fmt.Errorf("dlq: queue %q: send: %w", q.name, err)
	}
	if err := ids.Put([]byte(id), key); err != nil {
		return "", fmt.Errorf("dlq: queue %q: send: %w", q.name, err)
	}
	if len(m.Attributes) > 0 {
		// Queues opened before attributes existed get their bucket on first use.
		b, err := tx.CreateBucketIfNotExists(q.attrs)
		if err != nil {
			return "", fmt.Errorf("dlq: queue %q: send: %w", q.name, err)
		}
		v, err := json.Marshal(m.Attributes)
		if err != nil {
			return "", fmt.Errorf("dlq: queue %q: send: %w", q.name, err)
		}
		if err := b.Put(key, v); err != nil {
			return "", fmt.Errorf("dlq: queue %q: send: %w", q.name, err)
		}
	}
	tx.OnCommit(q.signal)
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

// List returns up to limit messages, oldest first, leaving them in the queue and their receive state as it
// is; limit <= 0 means all. Unlike Peek it also lists messages in flight. The messages have no receipt handle.
func (q *Local) List(ctx context.Context, limit int) ([]Message, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out []Message
	err := q.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(q.msgs).Cursor()
		for k, v := c.First(); k != nil && (limit <= 0 || len(out) < limit); k, v = c.Next() {
			m, err := q.load(tx, k, v)
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

// load decodes the message stored under key with value v, with its attributes and receive state.
func (q *Local) load(tx *bolt.Tx, key, v []byte) (Message, error) {
	m, err := decodeMessage(v)
	if err != nil {
		return Message{}, err
	}
	if b := tx.Bucket(q.attrs); b != nil {
		if a := b.Get(key); a != nil {
			if err := json.Unmarshal(a, &m.Attributes); err != nil {
				return Message{}, fmt.Errorf("message %s: attributes: %w", m.ID, err)
			}
		}
	}
	if b := tx.Bucket(q.state); b != nil {
		if st, ok := decodeState(b.Get(key)); ok {
			m.ReceiveCount = int(st.count)
			m.FirstReceivedAt = time.Unix(0, st.first).UTC()
		}
	}
	return m, nil
}

// Get returns the message with the given id, and false when the queue does not hold it. It does not receive
// the message.
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
		m, err = q.load(tx, key, v)
		found = err == nil
		return err
	})
	if err != nil {
		return Message{}, false, fmt.Errorf("dlq: queue %q: get: %w", q.name, err)
	}
	return m, found, nil
}

// DeleteID removes the message with the given id, whether or not it is in flight. Deleting a message the
// queue does not hold is not an error. SQS has no such call: it deletes by receipt handle only (Delete).
func (q *Local) DeleteID(ctx context.Context, id string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := q.db.Update(func(tx *bolt.Tx) error {
		key := tx.Bucket(q.ids).Get([]byte(id))
		if key == nil {
			return nil
		}
		return q.remove(tx, bytes.Clone(key), id)
	})
	if err != nil {
		return fmt.Errorf("dlq: queue %q: delete %s: %w", q.name, id, err)
	}
	return nil
}

// remove deletes the message stored under key, whose id is id, with its state and attributes.
func (q *Local) remove(tx *bolt.Tx, key []byte, id string) error {
	if err := tx.Bucket(q.msgs).Delete(key); err != nil {
		return err
	}
	if err := tx.Bucket(q.ids).Delete([]byte(id)); err != nil {
		return err
	}
	for _, name := range [][]byte{q.state, q.attrs} {
		if b := tx.Bucket(name); b != nil {
			if err := b.Delete(key); err != nil {
				return err
			}
		}
	}
	return nil
}

// Len returns how many messages the queue holds, visible or in flight.
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
