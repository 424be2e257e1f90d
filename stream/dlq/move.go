package dlq

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"

	bolt "go.etcd.io/bbolt"

	"github.com/serverless-data-platform/sdp/event"
)

// StartMoveTask moves the queue's visible messages to the local queue opts.DestinationARN (an ARN as
// LocalARN gives, or a bare queue name) of the same database, in one transaction, and records the task. The
// task is complete when StartMoveTask returns (SQS runs it in the background: callers poll ListMoveTasks
// until its status is no longer MoveTaskRunning, which works alike here). Moved messages keep their body,
// attributes and sent time, and get a new message id and no receive history. The destination must exist
// (ErrQueueNotFound) and differ from the queue (ErrInvalidParameter); messages in flight stay.
func (q *Local) StartMoveTask(ctx context.Context, opts MoveOptions) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	destName := opts.DestinationARN
	if i := strings.LastIndexByte(destName, ':'); i >= 0 {
		destName = destName[i+1:]
	}
	switch {
	case opts.DestinationARN == "":
		return "", fmt.Errorf("dlq: queue %q: start move task: %w: the local queue knows no source queue of its messages; name a destination", q.name, ErrInvalidParameter)
	case opts.MaxPerSecond < 0 || opts.MaxPerSecond > 500:
		return "", fmt.Errorf("dlq: queue %q: start move task: %w: %d messages per second, must be 1 to 500", q.name, ErrInvalidParameter, opts.MaxPerSecond)
	case destName == q.name:
		return "", fmt.Errorf("dlq: queue %q: start move task: %w: the destination is the source", q.name, ErrInvalidParameter)
	}
	if err := validateQueueName(destName); err != nil {
		return "", fmt.Errorf("dlq: queue %q: start move task: %w", q.name, err)
	}
	dest := newLocal(q.db, destName)
	var token [12]byte
	if _, err := rand.Read(token[:]); err != nil {
		return "", err
	}
	task := MoveTask{TaskHandle: hex.EncodeToString(token[:]), Status: MoveTaskCompleted, SourceARN: LocalARN(q.name),
		DestinationARN: LocalARN(destName), MaxPerSecond: opts.MaxPerSecond, StartedAt: q.now().UTC()}
	err := q.db.Update(func(tx *bolt.Tx) error {
		if tx.Bucket(dest.msgs) == nil || tx.Bucket(dest.ids) == nil {
			return fmt.Errorf("%w: %s", ErrQueueNotFound, task.DestinationARN)
		}
		tasks, err := tx.CreateBucketIfNotExists(q.tasks)
		if err != nil {
			return err
		}
		if err := q.checkNoneRunning(tasks); err != nil {
			return err
		}
		now := q.now().UnixNano()
		// The keys are collected first: deleting under a cursor skips entries.
		var keys [][]byte
		c := tx.Bucket(q.msgs).Cursor()
		for k, _ := c.First(); k != nil; k, _ = c.Next() {
			if st, ok := decodeState(stateOf(tx, q.state, k)); ok && st.visibleAt > now {
				continue
			}
			keys = append(keys, bytes.Clone(k))
		}
		for _, k := range keys {
			m, err := q.load(tx, k, tx.Bucket(q.msgs).Get(k))
			if err != nil {
				return err
			}
			if _, err := dest.put(tx, event.NewID(), m.SentAt, Outgoing{Body: m.Body, Attributes: m.Attributes}); err != nil {
				return err
			}
			if err := q.remove(tx, k, m.ID); err != nil {
				return err
			}
			task.Moved++
		}
		task.ToMove = task.Moved
		v, err := json.Marshal(task)
		if err != nil {
			return err
		}
		n, err := tasks.NextSequence()
		if err != nil {
			return err
		}
		key := make([]byte, 8)
		binary.BigEndian.PutUint64(key, n)
		return tasks.Put(key, v)
	})
	if err != nil {
		return "", fmt.Errorf("dlq: queue %q: start move task to %s: %w", q.name, destName, err)
	}
	return task.TaskHandle, nil
}

// stateOf returns the stored receive state of the message under key, nil when there is none.
func stateOf(tx *bolt.Tx, bucket, key []byte) []byte {
	if b := tx.Bucket(bucket); b != nil {
		return b.Get(key)
	}
	return nil
}

// checkNoneRunning fails with ErrMoveTaskRunning when a task of the queue runs.
func (q *Local) checkNoneRunning(tasks *bolt.Bucket) error {
	return tasks.ForEach(func(_, v []byte) error {
		var t MoveTask
		if err := json.Unmarshal(v, &t); err != nil {
			return err
		}
		if t.Status == MoveTaskRunning || t.Status == MoveTaskCancelling {
			return fmt.Errorf("%w: %s", ErrMoveTaskRunning, t.TaskHandle)
		}
		return nil
	})
}

// ListMoveTasks returns the queue's most recent move tasks, newest first, at most max (0 means 1, as in SQS;
// at most 10). As SQS does, only a running task shows its handle.
func (q *Local) ListMoveTasks(ctx context.Context, max int) ([]MoveTask, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if max < 0 || max > 10 {
		return nil, fmt.Errorf("dlq: queue %q: list move tasks: %w: max %d, must be 1 to 10", q.name, ErrInvalidParameter, max)
	}
	if max == 0 {
		max = 1
	}
	var out []MoveTask
	err := q.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(q.tasks)
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Last(); k != nil && len(out) < max; k, v = c.Prev() {
			var t MoveTask
			if err := json.Unmarshal(v, &t); err != nil {
				return err
			}
			if t.Status != MoveTaskRunning {
				t.TaskHandle = ""
			}
			out = append(out, t)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("dlq: queue %q: list move tasks: %w", q.name, err)
	}
	return out, nil
}

// CancelMoveTask fails with ErrNoRunningTask: a local task completes before StartMoveTask returns, so none
// is ever running.
func (q *Local) CancelMoveTask(ctx context.Context, taskHandle string) (int64, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("dlq: queue %q: cancel move task: %w: %q", q.name, ErrNoRunningTask, taskHandle)
}
