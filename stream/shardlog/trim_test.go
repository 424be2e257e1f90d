package shardlog

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/stream"
)

// TestTrim checks that only records older than the retention period are deleted, and that counts, Latest and
// sequence numbers stay right afterwards.
func TestTrim(t *testing.T) {
	t.Parallel()
	clock := newClock()
	db, _ := openDB(t)
	l := mustOpen(t, db, Options{StreamName: "events", Shards: 1, Retention: time.Hour, Now: clock.Now})
	shard := stream.ShardID(0)
	ctx := context.Background()

	mustPut(t, l, records("old", 5))
	clock.Advance(2 * time.Hour)
	kept := mustPut(t, l, records("new", 3))
	clock.Advance(30 * time.Minute)

	// The steps run in order on one clock: five records are 2h30 old, three are 30 minutes old.
	steps := []struct {
		name        string
		advance     time.Duration
		wantTrimmed int
		wantLeft    int
	}{
		{"old records go", 0, 5, 3},
		{"nothing more is old", 0, 0, 3},
		{"just inside retention", 29 * time.Minute, 0, 3},
		{"the rest expire", 2 * time.Minute, 3, 0},
	}
	for _, s := range steps {
		clock.Advance(s.advance)
		n, err := l.Trim(ctx)
		if err != nil || n != s.wantTrimmed {
			t.Fatalf("%s: Trim = %d, %v, want %d", s.name, n, err, s.wantTrimmed)
		}
		if left := readAll(t, l, shard); len(left) != s.wantLeft {
			t.Fatalf("%s: %d records left, want %d", s.name, len(left), s.wantLeft)
		}
		if got := l.Stats()[0].Records; got != uint64(s.wantLeft) {
			t.Fatalf("%s: Stats counts %d records, want %d", s.name, got, s.wantLeft)
		}
	}
	// Trimming moves the trim horizon, never the sequence numbers: Latest stays and new records follow it.
	latest, ok := l.Latest(shard)
	if !ok || latest != kept[2].SequenceNumber {
		t.Errorf("Latest = %q, %v, want %q", latest, ok, kept[2].SequenceNumber)
	}
	next := mustPut(t, l, records("later", 1))[0]
	if CompareSequence(next.SequenceNumber, latest) <= 0 {
		t.Errorf("sequence %s after trimming does not follow %s", next.SequenceNumber, latest)
	}
	if recs, _ := l.ReadAfter(ctx, shard, kept[0].SequenceNumber, 0); len(recs) != 1 || recs[0].SequenceNumber != next.SequenceNumber {
		t.Errorf("reading after a trimmed sequence number = %v", recs)
	}
}

// TestTrimManyChunks checks trimming more records than one transaction deletes.
func TestTrimManyChunks(t *testing.T) {
	t.Parallel()
	clock := newClock()
	db, _ := openDB(t)
	l := mustOpen(t, db, Options{StreamName: "events", Shards: 1, Now: clock.Now})
	const total = trimChunk + 1500
	for put := 0; put < total; put += event.MaxRecordsPerPut {
		mustPut(t, l, records("k", min(event.MaxRecordsPerPut, total-put)))
	}
	clock.Advance(DefaultRetention + time.Second)
	n, err := l.Trim(context.Background())
	if err != nil || n != total {
		t.Fatalf("Trim = %d, %v, want %d", n, err, total)
	}
	if s := l.Stats()[0]; s.Records != 0 {
		t.Errorf("Stats after trimming everything: %+v", s)
	}
}

// TestRun checks that Run trims when it starts and returns nil when its context is cancelled.
func TestRun(t *testing.T) {
	t.Parallel()
	clock := newClock()
	db, _ := openDB(t)
	l := mustOpen(t, db, Options{StreamName: "events", Shards: 2, Retention: time.Minute, Now: clock.Now})
	mustPut(t, l, records("k", 20))
	clock.Advance(time.Hour)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		left := uint64(0)
		for _, s := range l.Stats() {
			left += s.Records
		}
		if left == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Run left %d expired records", left)
		}
		time.Sleep(5 * time.Millisecond) // polling an outcome, bounded by the deadline
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v, want nil on cancel", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after cancel")
	}
}

// TestReopen checks that data, counters and hash ranges survive closing the database, and that another shard
// count is refused.
func TestReopen(t *testing.T) {
	t.Parallel()
	db, path := openDB(t)
	l := mustOpen(t, db, Options{StreamName: "events", Shards: 3})
	first := mustPut(t, l, records("k", 50))
	before := l.Stats()
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	// The same database is reopened with other shard counts first: the refusals must not damage the stream.
	tests := []struct {
		name    string
		shards  int
		wantErr error
	}{
		{"fewer shards", 2, ErrShardCountMismatch},
		{"more shards", 4, ErrShardCountMismatch},
		{"same shards", 3, nil},
	}
	db2, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db2.Close() })
	for _, tt := range tests {
		l2, err := Open(db2, Options{StreamName: "events", Shards: tt.shards})
		if tt.wantErr != nil {
			if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), "3 shards") {
				t.Fatalf("%s: Open error = %v, want %v naming the stored count", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		after := l2.Stats()
		for i := range before {
			if before[i] != after[i] {
				t.Errorf("shard %d: stats %+v before, %+v after reopening", i, before[i], after[i])
			}
		}
		for i, s := range l2.Shards() {
			if s != l.Shards()[i] {
				t.Errorf("shard %d: %+v after reopening, %+v before", i, s, l.Shards()[i])
			}
		}
		for i, r := range first {
			recs, err := l2.Read(context.Background(), r.ShardID, Position{Type: AtSequenceNumber, SequenceNumber: r.SequenceNumber}, 1)
			if err != nil || len(recs) != 1 || recs[0].SequenceNumber != r.SequenceNumber || string(recs[0].Data) != "data-k"+strconv.Itoa(i) {
				t.Fatalf("record %d after reopening: %v, %v", i, recs, err)
			}
		}
		again := mustPut(t, l2, records("k", 50))
		for i, r := range again {
			if r.ShardID == first[i].ShardID && CompareSequence(r.SequenceNumber, before[shardNum(t, r.ShardID)].LastSequenceNumber) <= 0 {
				t.Errorf("sequence %s after reopening does not follow %s", r.SequenceNumber, before[shardNum(t, r.ShardID)].LastSequenceNumber)
			}
		}
	}
}

// shardNum returns the index of a shard id.
func shardNum(t *testing.T, id string) int {
	t.Helper()
	i, err := stream.ParseShardID(id)
	if err != nil {
		t.Fatal(err)
	}
	return i
}

// TestAdoptShards checks that AdoptShards keeps an existing stream's shard count and applies Shards only to
// a new stream.
func TestAdoptShards(t *testing.T) {
	t.Parallel()
	db, _ := openDB(t)
	l := mustOpen(t, db, Options{StreamName: "events", Shards: 3, AdoptShards: true})
	if n := len(l.Shards()); n != 3 {
		t.Fatalf("a new stream has %d shards, want 3", n)
	}
	mustPut(t, l, records("k", 10))
	again, err := Open(db, Options{StreamName: "events", Shards: 5, AdoptShards: true})
	if err != nil {
		t.Fatal(err)
	}
	if got := again.Shards(); len(got) != 3 || got[2] != l.Shards()[2] {
		t.Fatalf("reopened with AdoptShards: %+v, want the stored 3 shards", got)
	}
	if s := again.Stats(); s[0].Records+s[1].Records+s[2].Records != 10 {
		t.Fatalf("stats after adopting: %+v", s)
	}
}
