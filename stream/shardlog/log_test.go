package shardlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/stream"
)

// openDB opens a bbolt database in a fresh temporary directory, closed when the test ends.
func openDB(t testing.TB) (*bolt.DB, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sdp.db")
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db, path
}

// fakeClock is a settable clock for arrival times and retention.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock {
	return &fakeClock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// mustOpen opens a Log or fails the test.
func mustOpen(t testing.TB, db *bolt.DB, opts Options) *Log {
	t.Helper()
	l, err := Open(db, opts)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// records builds n records with the given key prefix; record i has key prefix+i and data "data-"+prefix+i.
func records(prefix string, n int) []event.Record {
	recs := make([]event.Record, n)
	for i := range recs {
		k := prefix + strconv.Itoa(i)
		recs[i] = event.Record{PartitionKey: k, Data: []byte("data-" + k)}
	}
	return recs
}

// mustPut puts recs or fails the test.
func mustPut(t testing.TB, l *Log, recs []event.Record) []event.PutResult {
	t.Helper()
	res, err := l.PutRecords(context.Background(), recs)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(recs) {
		t.Fatalf("%d results for %d records", len(res), len(recs))
	}
	return res
}

// readAll reads a whole shard from the trim horizon.
func readAll(t testing.TB, l *Log, shardID string) []event.StreamRecord {
	t.Helper()
	var out []event.StreamRecord
	after := ""
	for {
		recs, err := l.ReadAfter(context.Background(), shardID, after, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			return out
		}
		out = append(out, recs...)
		after = recs[len(recs)-1].SequenceNumber
	}
}

// TestOpenValidation checks that bad options are refused before any write.
func TestOpenValidation(t *testing.T) {
	t.Parallel()
	db, _ := openDB(t)
	// Every case breaks one rule of Options; none may leave a bucket behind.
	tests := []struct {
		name string
		opts Options
	}{
		{"no name", Options{Shards: 1}},
		{"name with slash", Options{StreamName: "a/b", Shards: 1}},
		{"name too long", Options{StreamName: strings.Repeat("a", 129), Shards: 1}},
		{"no shards", Options{StreamName: "s"}},
		{"too many shards", Options{StreamName: "s", Shards: MaxShards + 1}},
		{"negative retention", Options{StreamName: "s", Shards: 1, Retention: -time.Hour}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := Open(db, tt.opts); !errors.Is(err, ErrInvalidArgument) {
				t.Fatalf("Open error = %v, want ErrInvalidArgument", err)
			}
		})
	}
	err := db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			return fmt.Errorf("bucket %q created by a refused Open", name)
		})
	})
	if err != nil {
		t.Error(err)
	}
}

// TestShards checks the shard ids and hash key ranges, and that only the stream's buckets are used.
func TestShards(t *testing.T) {
	t.Parallel()
	db, _ := openDB(t)
	l := mustOpen(t, db, Options{StreamName: "events", Shards: 3})
	other := mustOpen(t, db, Options{StreamName: "events-2", Shards: 1})
	mustPut(t, l, records("k", 10))
	mustPut(t, other, records("o", 5))

	// The shard list must be Kinesis's: ids in order and the even ranges in decimal.
	shards := l.Shards()
	want := stream.EvenRanges(3)
	if len(shards) != 3 {
		t.Fatalf("%d shards, want 3", len(shards))
	}
	for i, s := range shards {
		if s.ID != stream.ShardID(i) || s.StartingHashKey != want[i].StartingHashKey() || s.EndingHashKey != want[i].EndingHashKey() {
			t.Errorf("shard %d = %+v", i, s)
		}
	}
	if shards[2].EndingHashKey != "340282366920938463463374607431768211455" {
		t.Errorf("last shard ends at %s", shards[2].EndingHashKey)
	}
	err := db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			if !bytes.HasPrefix(name, []byte("stream/events/")) && !bytes.HasPrefix(name, []byte("stream/events-2/")) {
				return fmt.Errorf("bucket %q is outside the streams' prefixes", name)
			}
			return nil
		})
	})
	if err != nil {
		t.Error(err)
	}
	// Each stream counts only its own records.
	var total uint64
	for _, s := range l.Stats() {
		total += s.Records
	}
	if total != 10 || other.Stats()[0].Records != 5 {
		t.Errorf("streams sharing a database mixed their records: %d and %d", total, other.Stats()[0].Records)
	}
}

// TestPutRecordsPlacement checks that records land on the shard stream.ShardFor gives their key, with sequence
// numbers that grow per shard, and read back intact.
func TestPutRecordsPlacement(t *testing.T) {
	t.Parallel()
	clock := newClock()
	db, _ := openDB(t)
	l := mustOpen(t, db, Options{StreamName: "events", Shards: 4, Now: clock.Now})
	ranges := stream.EvenRanges(4)
	recs := records("subject-", 400)
	res := mustPut(t, l, recs)
	lastSeq := map[string]string{}
	for i, r := range res {
		want := stream.ShardID(stream.ShardFor(ranges, stream.PartitionHash(recs[i].PartitionKey)))
		if r.ShardID != want {
			t.Errorf("record %d on %s, want %s", i, r.ShardID, want)
		}
		if r.ErrorCode != "" || len(r.SequenceNumber) != 56 {
			t.Errorf("record %d: result %+v", i, r)
		}
		if prev, ok := lastSeq[r.ShardID]; ok && CompareSequence(prev, r.SequenceNumber) >= 0 {
			t.Errorf("record %d: sequence %s does not follow %s", i, r.SequenceNumber, prev)
		}
		lastSeq[r.ShardID] = r.SequenceNumber
	}
	if len(lastSeq) != 4 {
		t.Errorf("400 keys used %d of 4 shards", len(lastSeq))
	}
	// Read every shard back: each record must be where its put result said, with its data and arrival time.
	byKey := map[string]event.PutResult{}
	for i, r := range res {
		byKey[recs[i].PartitionKey] = r
	}
	total := 0
	for _, s := range l.Shards() {
		for _, r := range readAll(t, l, s.ID) {
			total++
			put := byKey[r.PartitionKey]
			if put.ShardID != s.ID || put.SequenceNumber != r.SequenceNumber || r.ShardID != s.ID {
				t.Errorf("read %s/%s for key %s, put gave %s/%s", r.ShardID, r.SequenceNumber, r.PartitionKey, put.ShardID, put.SequenceNumber)
			}
			if string(r.Data) != "data-"+r.PartitionKey || !r.ArrivalTime.Equal(clock.Now()) {
				t.Errorf("record %s: data %q, arrival %s", r.SequenceNumber, r.Data, r.ArrivalTime)
			}
		}
	}
	if total != len(recs) {
		t.Errorf("read %d records, put %d", total, len(recs))
	}
}

// TestPutRecordsValidation checks the limits that make Kinesis refuse a whole call.
func TestPutRecordsValidation(t *testing.T) {
	t.Parallel()
	db, _ := openDB(t)
	l := mustOpen(t, db, Options{StreamName: "events", Shards: 2})
	// Cases at and just past each limit; wantErr is a part of the message, which names the record's index.
	big := make([]byte, event.MaxRecordBytes)
	tests := []struct {
		name    string
		recs    []event.Record
		wantErr string // empty for a valid call
	}{
		{"no records", nil, "no records"},
		{"too many records", records("k", event.MaxRecordsPerPut+1), "501 records"},
		{"most records", records("k", event.MaxRecordsPerPut), ""},
		{"empty key", append(records("k", 3), event.Record{Data: []byte("x")}), "record 3: empty partition key"},
		{"key too long", []event.Record{{PartitionKey: "k"}, {PartitionKey: strings.Repeat("a", 257)}}, "record 1: partition key longer"},
		{"longest key in multibyte characters", []event.Record{{PartitionKey: strings.Repeat("é", 256), Data: []byte("x")}}, ""},
		{"data too large", []event.Record{{PartitionKey: "k", Data: make([]byte, event.MaxRecordBytes+1)}}, "record 0: 1048578 bytes"},
		{"data and key too large", []event.Record{{PartitionKey: "k", Data: big}}, "record 0: 1048577 bytes of data and partition key"},
		{"largest data", []event.Record{{PartitionKey: "k", Data: big[1:]}}, ""},
		{"call too large", []event.Record{
			{PartitionKey: "a", Data: big[1:]}, {PartitionKey: "b", Data: big[1:]}, {PartitionKey: "c", Data: big[1:]},
			{PartitionKey: "d", Data: big[1:]}, {PartitionKey: "e", Data: big[1:]}, {PartitionKey: "f", Data: []byte("x")},
		}, "bytes of data and partition keys"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A refused call must leave every shard as it was.
			before := l.Stats()
			res, err := l.PutRecords(context.Background(), tt.recs)
			if tt.wantErr == "" {
				if err != nil || len(res) != len(tt.recs) {
					t.Fatalf("PutRecords = %d results, %v", len(res), err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("PutRecords error = %v, want ErrInvalidArgument with %q", err, tt.wantErr)
			}
			for i, s := range l.Stats() {
				if s != before[i] {
					t.Errorf("a refused call changed shard %s: %+v -> %+v", s.ShardID, before[i], s)
				}
			}
		})
	}
}

// TestPutRecordsContext checks that a done context puts nothing.
func TestPutRecordsContext(t *testing.T) {
	t.Parallel()
	db, _ := openDB(t)
	l := mustOpen(t, db, Options{StreamName: "events", Shards: 1})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.PutRecords(ctx, records("k", 1)); !errors.Is(err, context.Canceled) {
		t.Fatalf("error = %v, want context.Canceled", err)
	}
	if l.Stats()[0].Records != 0 {
		t.Error("a cancelled call put records")
	}
}

// TestConcurrentWriters checks that concurrent callers get unique sequence numbers that grow per shard in the
// order each caller saw its acknowledgements, and that the shard holds exactly what was acknowledged.
func TestConcurrentWriters(t *testing.T) {
	t.Parallel()
	db, _ := openDB(t)
	db.MaxBatchDelay = time.Millisecond
	l := mustOpen(t, db, Options{StreamName: "events", Shards: 2})
	// Writers overlap, so DB.Batch joins their calls into shared transactions.
	const writers, calls, per = 8, 25, 10
	acked := make([][]event.PutResult, writers)
	var wg sync.WaitGroup
	for w := 0; w < writers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := 0; c < calls; c++ {
				res, err := l.PutRecords(context.Background(), records(fmt.Sprintf("w%d-c%d-", w, c), per))
				if err != nil {
					t.Error(err)
					return
				}
				acked[w] = append(acked[w], res...)
			}
		}()
	}
	wg.Wait()

	// No sequence number twice, and each writer's acknowledgements grow per shard in the order it got them.
	seen := map[string]bool{}
	for w, res := range acked {
		last := map[string]string{}
		for _, r := range res {
			key := r.ShardID + "/" + r.SequenceNumber
			if seen[key] {
				t.Fatalf("sequence number %s given twice", key)
			}
			seen[key] = true
			if prev, ok := last[r.ShardID]; ok && CompareSequence(prev, r.SequenceNumber) >= 0 {
				t.Errorf("writer %d: %s after %s on %s", w, r.SequenceNumber, prev, r.ShardID)
			}
			last[r.ShardID] = r.SequenceNumber
		}
	}
	// The shards hold exactly the acknowledged records, in sequence order.
	read := 0
	for _, s := range l.Shards() {
		recs := readAll(t, l, s.ID)
		for i, r := range recs {
			if !seen[s.ID+"/"+r.SequenceNumber] {
				t.Errorf("read unacknowledged record %s", r.SequenceNumber)
			}
			if i > 0 && CompareSequence(recs[i-1].SequenceNumber, r.SequenceNumber) >= 0 {
				t.Errorf("shard %s out of order at %d", s.ID, i)
			}
		}
		read += len(recs)
	}
	if read != writers*calls*per {
		t.Errorf("read %d records, acknowledged %d", read, writers*calls*per)
	}
}

// TestArrivalTimeNeverGoesBack checks that a clock stepping back does not reorder arrival times in a shard.
func TestArrivalTimeNeverGoesBack(t *testing.T) {
	t.Parallel()
	clock := newClock()
	db, _ := openDB(t)
	l := mustOpen(t, db, Options{StreamName: "events", Shards: 1, Now: clock.Now})
	t0 := clock.Now()
	mustPut(t, l, records("a", 1))
	clock.Advance(-time.Minute)
	mustPut(t, l, records("b", 1))
	recs := readAll(t, l, stream.ShardID(0))
	if len(recs) != 2 || !recs[1].ArrivalTime.Equal(t0) {
		t.Fatalf("records %+v: the second should keep the first's arrival time %s", recs, t0)
	}
}
