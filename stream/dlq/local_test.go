package dlq

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// uuidV4 matches a canonical version 4 UUID.
var uuidV4 = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// openDB opens a bbolt database in a fresh temporary directory, closed when the test ends.
func openDB(t *testing.T) (*bolt.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sdp.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db, path
}

// openQueue opens a queue with a clock that moves one second per message.
func openQueue(t *testing.T, db *bolt.DB, name string) *Local {
	t.Helper()
	q, err := OpenLocal(db, name)
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	clock := time.Date(2025, 6, 1, 0, 0, 0, 0, time.UTC)
	q.now = func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		clock = clock.Add(time.Second)
		return clock
	}
	return q
}

// ids returns the ids of messages.
func ids(ms []Message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.ID)
	}
	return out
}

// TestLocal runs Send, List, Get, Delete and Len through a queue's life.
func TestLocal(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, _ := openDB(t)
	q := openQueue(t, db, "sdp-dlq")

	var sent []string
	for i := 0; i < 5; i++ {
		id, err := q.Send(ctx, []byte(fmt.Sprintf(`{"n":%d}`, i)))
		if err != nil {
			t.Fatal(err)
		}
		if !uuidV4.MatchString(id) {
			t.Fatalf("message id %q is not a UUID v4", id)
		}
		sent = append(sent, id)
	}
	// The steps run in order on one queue; after each, List and Len must show exactly wantIDs.
	steps := []struct {
		name    string
		do      func() error
		wantIDs []string
	}{
		{"oldest first", nil, sent},
		{"delete the middle", func() error { return q.DeleteID(ctx, sent[2]) }, []string{sent[0], sent[1], sent[3], sent[4]}},
		{"delete again is no error", func() error { return q.DeleteID(ctx, sent[2]) }, []string{sent[0], sent[1], sent[3], sent[4]}},
		{"delete unknown is no error", func() error { return q.DeleteID(ctx, "nope") }, []string{sent[0], sent[1], sent[3], sent[4]}},
		{"delete the oldest", func() error { return q.DeleteID(ctx, sent[0]) }, []string{sent[1], sent[3], sent[4]}},
	}
	for _, s := range steps {
		if s.do != nil {
			if err := s.do(); err != nil {
				t.Fatalf("%s: %v", s.name, err)
			}
		}
		all, err := q.List(ctx, 0)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(ids(all), ",") != strings.Join(s.wantIDs, ",") {
			t.Fatalf("%s: List = %v, want %v", s.name, ids(all), s.wantIDs)
		}
		if n, err := q.Len(ctx); err != nil || n != len(s.wantIDs) {
			t.Fatalf("%s: Len = %d, %v, want %d", s.name, n, err, len(s.wantIDs))
		}
		for i := 1; i < len(all); i++ {
			if !all[i].SentAt.After(all[i-1].SentAt) {
				t.Errorf("%s: SentAt not increasing: %v", s.name, all)
			}
		}
	}

	// List honours its limit and leaves the messages in place.
	first2, err := q.List(ctx, 2)
	if err != nil || len(first2) != 2 || first2[0].ID != sent[1] {
		t.Fatalf("List(2) = %v, %v", ids(first2), err)
	}
	m, ok, err := q.Get(ctx, sent[3])
	if err != nil || !ok || m.ID != sent[3] || string(m.Body) != `{"n":3}` {
		t.Fatalf("Get = %+v, %v, %v", m, ok, err)
	}
	if _, ok, err := q.Get(ctx, sent[0]); ok || err != nil {
		t.Errorf("Get of a deleted message = %v, %v", ok, err)
	}
	m.Body[0] = 'X' // a caller's changes must not reach the queue
	if again, _, _ := q.Get(ctx, sent[3]); string(again.Body) != `{"n":3}` {
		t.Errorf("a returned body shares memory with the queue: %q", again.Body)
	}
}

// TestSendValidation checks the bodies SQS would refuse.
func TestSendValidation(t *testing.T) {
	t.Parallel()
	db, _ := openDB(t)
	q := openQueue(t, db, "sdp-dlq")
	// SQS's limits: a body of 1 to MaxBodySize bytes of valid UTF-8.
	tests := []struct {
		name    string
		body    []byte
		wantErr bool
	}{
		{"empty", nil, true},
		{"invalid utf-8", []byte{0xff, 0xfe}, true},
		{"too large", make([]byte, MaxBodySize+1), true},
		{"largest", []byte(strings.Repeat("a", MaxBodySize)), false},
		{"text", []byte("plain text"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := q.Send(context.Background(), tt.body)
			if tt.wantErr != errors.Is(err, ErrInvalidMessage) || (!tt.wantErr && err != nil) {
				t.Fatalf("Send error = %v, want invalid: %v", err, tt.wantErr)
			}
		})
	}
	if n, _ := q.Len(context.Background()); n != 2 {
		t.Errorf("Len = %d, want the 2 valid messages", n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := q.Send(ctx, []byte("x")); !errors.Is(err, context.Canceled) {
		t.Errorf("Send with a cancelled context = %v", err)
	}
}

// TestSendTx checks that a message sent in the caller's transaction lives and dies with it.
func TestSendTx(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	checkpoints := []byte("consumer/checkpoints")
	tests := []struct {
		name     string
		rollback bool
	}{
		{"committed", false},
		{"rolled back", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			db, _ := openDB(t)
			q := openQueue(t, db, "sdp-dlq")
			var id string
			rollback := errors.New("rollback")
			// One transaction moves a consumer's checkpoint and dead-letters a batch, as the event source
			// mapping does; returning an error rolls both back.
			err := db.Update(func(tx *bolt.Tx) error {
				b, err := tx.CreateBucketIfNotExists(checkpoints)
				if err != nil {
					return err
				}
				if err := b.Put([]byte("shardId-000000000000"), []byte("49000")); err != nil {
					return err
				}
				if id, err = q.SendTx(tx, []byte(`{"requestContext":{}}`)); err != nil {
					return err
				}
				if tt.rollback {
					return rollback
				}
				return nil
			})
			if tt.rollback != errors.Is(err, rollback) || (!tt.rollback && err != nil) {
				t.Fatalf("Update = %v", err)
			}
			// Every view of the queue, and the checkpoint, must agree on whether the transaction happened.
			n, _ := q.Len(ctx)
			_, found, _ := q.Get(ctx, id)
			list, _ := q.List(ctx, 0)
			var checkpoint []byte
			_ = db.View(func(tx *bolt.Tx) error {
				if b := tx.Bucket(checkpoints); b != nil {
					checkpoint = b.Get([]byte("shardId-000000000000"))
				}
				return nil
			})
			want := 1
			if tt.rollback {
				want = 0
			}
			if n != want || len(list) != want || found != (want == 1) || (checkpoint != nil) != (want == 1) {
				t.Errorf("after %s: Len %d, List %d, Get found %v, checkpoint %q; want %d message(s)", tt.name, n, len(list), found, checkpoint, want)
			}
		})
	}
}

// TestSendTxReadOnly checks that SendTx refuses a read-only transaction.
func TestSendTxReadOnly(t *testing.T) {
	t.Parallel()
	db, _ := openDB(t)
	q := openQueue(t, db, "sdp-dlq")
	err := db.View(func(tx *bolt.Tx) error {
		_, err := q.SendTx(tx, []byte("x"))
		return err
	})
	if err == nil {
		t.Fatal("SendTx in a read-only transaction succeeded")
	}
}

// TestOpenLocal checks queue names, the bucket prefix, queues sharing a database, and reopening.
func TestOpenLocal(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"", "a/b", "a.b", ".fifo", strings.Repeat("q", 81), "spa ce"} {
		if _, err := OpenLocal(nil, bad); !errors.Is(err, ErrInvalidQueueName) {
			t.Errorf("OpenLocal(%q) = %v, want ErrInvalidQueueName", bad, err)
		}
	}
	// Two queues on one database stay apart, each in its own buckets.
	ctx := context.Background()
	db, path := openDB(t)
	a := openQueue(t, db, "alpha")
	b := openQueue(t, db, "alpha-2.fifo")
	idA, _ := a.Send(ctx, []byte("a"))
	if _, err := b.Send(ctx, []byte("b")); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := b.Get(ctx, idA); ok {
		t.Error("a message of one queue is visible in another")
	}
	err := db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			if !strings.HasPrefix(string(name), "dlq/alpha/") && !strings.HasPrefix(string(name), "dlq/alpha-2.fifo/") {
				return fmt.Errorf("bucket %q outside the queues' prefixes", name)
			}
			return nil
		})
	})
	if err != nil {
		t.Error(err)
	}

	// Reopened, the queue keeps its messages and appends after them.
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db2, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db2.Close()
	a2, err := OpenLocal(db2, "alpha")
	if err != nil {
		t.Fatal(err)
	}
	idA2, _ := a2.Send(ctx, []byte("a2"))
	list, err := a2.List(ctx, 0)
	if err != nil || strings.Join(ids(list), ",") != idA+","+idA2 {
		t.Errorf("after reopening: List = %v, %v, want [%s %s]", ids(list), err, idA, idA2)
	}
}

// TestMessageJSON checks the JSON form of messages and its round trip.
func TestMessageJSON(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 6, 1, 0, 0, 1, 0, time.UTC)
	// Objects and arrays are embedded as JSON; everything else, even other JSON values, travels as a string,
	// so that decoding gives back the same bytes.
	tests := []struct {
		name     string
		body     string
		wantBody string // the "body" member as encoded
		wantBack string // the body after a round trip
	}{
		{"object", `{"a": 1}`, `{"a":1}`, `{"a":1}`},
		{"array", `[1, 2]`, `[1,2]`, `[1,2]`},
		{"text", `not json`, `"not json"`, `not json`},
		{"json string", `"quoted"`, `"\"quoted\""`, `"quoted"`},
		{"json number", `42`, `"42"`, `42`},
		{"broken object", `{"a":`, `"{\"a\":"`, `{"a":`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b, err := json.Marshal(Message{ID: "id-1", Body: []byte(tt.body), SentAt: at})
			if err != nil {
				t.Fatal(err)
			}
			want := `{"id":"id-1","sentAt":"2025-06-01T00:00:01Z","body":` + tt.wantBody + `}`
			if string(b) != want {
				t.Errorf("encoded %s, want %s", b, want)
			}
			var back Message
			if err := json.Unmarshal(b, &back); err != nil {
				t.Fatal(err)
			}
			if back.ID != "id-1" || !back.SentAt.Equal(at) || string(back.Body) != tt.wantBack {
				t.Errorf("round trip = %+v (body %q), want body %q", back, back.Body, tt.wantBack)
			}
		})
	}
	var m Message
	if err := json.Unmarshal([]byte(`{"id":"x","body":12}`), &m); err == nil {
		t.Error("a number body decoded")
	}
}
