package esm

import (
	"context"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// checkpointsBucket is the bbolt bucket that holds the checkpoints, keyed by CheckpointKey.
const checkpointsBucket = "checkpoints"

// DeadLetterTx enqueues a message inside a bbolt transaction that the caller owns, so that the enqueue
// commits or rolls back with the caller's other writes. The local dead-letter queue satisfies it.
type DeadLetterTx interface {
	// SendTx enqueues body within tx and returns the message's id.
	SendTx(tx *bolt.Tx, body []byte) (string, error)
}

// BoltCheckpoints is the local Checkpoints: the checkpoints live in the bucket "checkpoints" of a bbolt
// database, and Commit writes the checkpoint and enqueues its dead letters in one transaction. It is safe
// for concurrent use.
type BoltCheckpoints struct {
	db    *bolt.DB
	queue DeadLetterTx
}

// Compile-time check that BoltCheckpoints satisfies Checkpoints.
var _ Checkpoints = (*BoltCheckpoints)(nil)

// NewBoltCheckpoints returns the checkpoints kept in db, whose dead letters go to queue. A nil queue discards
// the dead letters, as Lambda does for a mapping without an on-failure destination. It does no I/O.
func NewBoltCheckpoints(db *bolt.DB, queue DeadLetterTx) *BoltCheckpoints {
	return &BoltCheckpoints{db: db, queue: queue}
}

// Load returns the checkpoint of key, or "" when none was committed.
func (c *BoltCheckpoints) Load(ctx context.Context, key string) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("esm: load checkpoint %s: %w", key, err)
	}
	var seq string
	err := c.db.View(func(tx *bolt.Tx) error {
		if b := tx.Bucket([]byte(checkpointsBucket)); b != nil {
			seq = string(b.Get([]byte(key)))
		}
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("esm: load checkpoint %s: %w", key, err)
	}
	return seq, nil
}

// Commit records seq as the checkpoint of key and enqueues each dead letter, in one bbolt transaction.
func (c *BoltCheckpoints) Commit(ctx context.Context, key, seq string, deadLetters [][]byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("esm: commit checkpoint %s: %w", key, err)
	}
	err := c.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists([]byte(checkpointsBucket))
		if err != nil {
			return err
		}
		if err := b.Put([]byte(key), []byte(seq)); err != nil {
			return err
		}
		if c.queue == nil {
			return nil
		}
		for i, body := range deadLetters {
			if _, err := c.queue.SendTx(tx, body); err != nil {
				return fmt.Errorf("dead letter %d: %w", i, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("esm: commit checkpoint %s at %s: %w", key, seq, err)
	}
	return nil
}
