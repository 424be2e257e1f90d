package esm

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"

	bolt "go.etcd.io/bbolt"

	"github.com/serverless-data-platform/sdp/stream/dlq"
)

// boltDLQ is a DeadLetterTx that keeps messages in a bucket of the caller's transaction, and can fail.
type boltDLQ struct {
	failOn string // SendTx fails for this body
}

// testDLQBucket is the bucket of boltDLQ's messages.
const testDLQBucket = "test-dlq"

// SendTx puts body under the bucket's next sequence number, or fails for the body failOn.
func (q boltDLQ) SendTx(tx *bolt.Tx, body []byte) (string, error) {
	if q.failOn != "" && string(body) == q.failOn {
		return "", errors.New("queue full")
	}
	b, err := tx.CreateBucketIfNotExists([]byte(testDLQBucket))
	if err != nil {
		return "", err
	}
	n, err := b.NextSequence()
	if err != nil {
		return "", err
	}
	id := fmt.Sprintf("%020d", n)
	return id, b.Put([]byte(id), body)
}

// dlqMessages returns the bodies in the test queue, in order.
func dlqMessages(t *testing.T, db *bolt.DB) []string {
	t.Helper()
	var out []string
	err := db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket([]byte(testDLQBucket))
		if b == nil {
			return nil
		}
		return b.ForEach(func(_, v []byte) error {
			out = append(out, string(v))
			return nil
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// openDB opens a bbolt database in a temporary directory.
func openDB(t *testing.T, path string) *bolt.DB {
	t.Helper()
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

// TestBoltCheckpoints checks Load and Commit, and that a commit whose dead letter fails leaves neither the
// checkpoint nor any dead letter behind.
func TestBoltCheckpoints(t *testing.T) {
	t.Parallel()
	type commit struct {
		key, seq string
		dls      []string
		wantErr  bool
	}
	tests := []struct {
		name    string
		dlq     DeadLetterTx
		commits []commit
		wantSeq map[string]string
		wantDLQ []string
	}{
		{
			name:    "empty",
			dlq:     boltDLQ{},
			wantSeq: map[string]string{"k": ""},
		},
		{
			name:    "checkpoints per key",
			dlq:     boltDLQ{},
			commits: []commit{{key: "a", seq: "1"}, {key: "b", seq: "7"}, {key: "a", seq: "3"}},
			wantSeq: map[string]string{"a": "3", "b": "7", "c": ""},
		},
		{
			name:    "dead letters enqueued with the checkpoint",
			dlq:     boltDLQ{},
			commits: []commit{{key: "a", seq: "5", dls: []string{"x", "y"}}, {key: "a", seq: "9", dls: []string{"z"}}},
			wantSeq: map[string]string{"a": "9"},
			wantDLQ: []string{"x", "y", "z"},
		},
		{
			name: "failed dead letter rolls back the commit",
			dlq:  boltDLQ{failOn: "bad"},
			commits: []commit{
				{key: "a", seq: "5", dls: []string{"x"}},
				{key: "a", seq: "9", dls: []string{"y", "bad"}, wantErr: true},
			},
			wantSeq: map[string]string{"a": "5"},
			wantDLQ: []string{"x"},
		},
		{
			name:    "nil queue discards dead letters",
			dlq:     nil,
			commits: []commit{{key: "a", seq: "5", dls: []string{"x"}}},
			wantSeq: map[string]string{"a": "5"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			db := openDB(t, filepath.Join(t.TempDir(), "sdp.db"))
			cp := NewBoltCheckpoints(db, tt.dlq)
			ctx := context.Background()
			for _, c := range tt.commits {
				var dls [][]byte
				for _, d := range c.dls {
					dls = append(dls, []byte(d))
				}
				err := cp.Commit(ctx, c.key, c.seq, dls)
				if (err != nil) != c.wantErr {
					t.Fatalf("Commit(%s, %s) = %v, want error %v", c.key, c.seq, err, c.wantErr)
				}
			}
			for key, want := range tt.wantSeq {
				got, err := cp.Load(ctx, key)
				if err != nil || got != want {
					t.Errorf("Load(%s) = %q, %v; want %q", key, got, err, want)
				}
			}
			if got := dlqMessages(t, db); !slices.Equal(got, tt.wantDLQ) {
				t.Errorf("queue = %v, want %v", got, tt.wantDLQ)
			}
		})
	}
	t.Run("cancelled context", func(t *testing.T) {
		t.Parallel()
		cp := NewBoltCheckpoints(openDB(t, filepath.Join(t.TempDir(), "sdp.db")), nil)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := cp.Commit(ctx, "a", "1", nil); !errors.Is(err, context.Canceled) {
			t.Errorf("Commit = %v, want context.Canceled", err)
		}
		if _, err := cp.Load(ctx, "a"); !errors.Is(err, context.Canceled) {
			t.Errorf("Load = %v, want context.Canceled", err)
		}
	})
}

// The local dead-letter queue enqueues inside the caller's transaction.
var _ DeadLetterTx = (*dlq.Local)(nil)

// TestBoltCheckpointsLocalQueue checks a commit into the local dead-letter queue.
func TestBoltCheckpointsLocalQueue(t *testing.T) {
	t.Parallel()
	db := openDB(t, filepath.Join(t.TempDir(), "sdp.db"))
	q, err := dlq.OpenLocal(db, "consumer-dlq")
	if err != nil {
		t.Fatal(err)
	}
	cp := NewBoltCheckpoints(db, q)
	ctx := context.Background()
	body := `{"requestContext":{"condition":"RetryAttemptsExhausted"}}`
	if err := cp.Commit(ctx, "k", "42", [][]byte{[]byte(body)}); err != nil {
		t.Fatal(err)
	}
	msgs, err := q.List(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 1 || string(msgs[0].Body) != body {
		t.Errorf("queue = %+v, want the one dead letter", msgs)
	}
	if seq, err := cp.Load(ctx, "k"); err != nil || seq != "42" {
		t.Errorf("Load = %q, %v; want 42", seq, err)
	}
}
