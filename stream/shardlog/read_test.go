package shardlog

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/stream"
)

// TestRead checks every iterator type, limits and bad positions on a one-shard stream holding three batches
// that arrived one second apart.
func TestRead(t *testing.T) {
	t.Parallel()
	clock := newClock()
	db, _ := openDB(t)
	l := mustOpen(t, db, Options{StreamName: "events", Shards: 2, Now: clock.Now})
	// Every key of this test must land on shard 0: pick them by hash.
	ranges := stream.EvenRanges(2)
	var keys []string
	for i := 0; len(keys) < 9; i++ {
		k := "key-" + string(rune('a'+i%26)) + strings.Repeat("x", i/26)
		if stream.ShardFor(ranges, stream.PartitionHash(k)) == 0 {
			keys = append(keys, k)
		}
	}
	t0 := clock.Now()
	var seqs []string
	for b := 0; b < 3; b++ {
		var recs []event.Record
		for _, k := range keys[b*3 : b*3+3] {
			recs = append(recs, event.Record{PartitionKey: k, Data: []byte(k)})
		}
		for _, r := range mustPut(t, l, recs) {
			seqs = append(seqs, r.SequenceNumber)
		}
		clock.Advance(time.Second)
	}
	shard := stream.ShardID(0)
	// A well-formed sequence number of shard 1, which shard 0 must refuse.
	otherSeq := formatSeq(seqPrefix(1), 1)

	tests := []struct {
		name    string
		shard   string
		pos     Position
		limit   int
		want    []string // sequence numbers
		wantErr error
	}{
		{name: "trim horizon", shard: shard, pos: Position{Type: TrimHorizon}, want: seqs},
		{name: "trim horizon with limit", shard: shard, pos: Position{}, limit: 4, want: seqs[:4]},
		{name: "latest", shard: shard, pos: Position{Type: Latest}, want: nil},
		{name: "at sequence number", shard: shard, pos: Position{Type: AtSequenceNumber, SequenceNumber: seqs[4]}, want: seqs[4:]},
		{name: "after sequence number", shard: shard, pos: Position{Type: AfterSequenceNumber, SequenceNumber: seqs[4]}, want: seqs[5:]},
		{name: "after the last", shard: shard, pos: Position{Type: AfterSequenceNumber, SequenceNumber: seqs[8]}, want: nil},
		// The batches arrived at t0, t0+1s and t0+2s.
		{name: "at timestamp of second batch", shard: shard, pos: Position{Type: AtTimestamp, Timestamp: t0.Add(time.Second)}, want: seqs[3:]},
		{name: "at timestamp between batches", shard: shard, pos: Position{Type: AtTimestamp, Timestamp: t0.Add(1500 * time.Millisecond)}, want: seqs[6:]},
		{name: "at timestamp before all", shard: shard, pos: Position{Type: AtTimestamp, Timestamp: t0.Add(-time.Hour)}, want: seqs},
		{name: "at timestamp after all", shard: shard, pos: Position{Type: AtTimestamp, Timestamp: t0.Add(time.Hour)}, want: nil},
		{name: "at timestamp with limit", shard: shard, pos: Position{Type: AtTimestamp, Timestamp: t0}, limit: 2, want: seqs[:2]},
		{name: "empty shard", shard: stream.ShardID(1), pos: Position{}, want: nil},
		{name: "unknown shard", shard: "shardId-000000000009", pos: Position{}, wantErr: ErrShardNotFound},
		{name: "sequence of another shard", shard: shard, pos: Position{Type: AtSequenceNumber, SequenceNumber: otherSeq}, wantErr: ErrInvalidArgument},
		{name: "garbage sequence", shard: shard, pos: Position{Type: AfterSequenceNumber, SequenceNumber: "12ab"}, wantErr: ErrInvalidArgument},
		{name: "unknown iterator type", shard: shard, pos: Position{Type: IteratorType(42)}, wantErr: ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			recs, err := l.Read(context.Background(), tt.shard, tt.pos, tt.limit)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("Read error = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, r := range recs {
				got = append(got, r.SequenceNumber)
				if string(r.Data) != r.PartitionKey {
					t.Errorf("record %s: data %q for key %q", r.SequenceNumber, r.Data, r.PartitionKey)
				}
			}
			if strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("Read = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestReadCopies checks that records read do not share memory with each other or the database.
func TestReadCopies(t *testing.T) {
	t.Parallel()
	db, _ := openDB(t)
	l := mustOpen(t, db, Options{StreamName: "events", Shards: 1})
	mustPut(t, l, []event.Record{{PartitionKey: "a", Data: []byte("one")}, {PartitionKey: "b", Data: []byte("two")}})
	// Appending to and writing into one record's data must not reach the next record or the database.
	recs := readAll(t, l, stream.ShardID(0))
	recs[0].Data = append(recs[0].Data, "!!!"...)
	recs[0].Data[0] = 'X'
	again := readAll(t, l, stream.ShardID(0))
	if string(recs[1].Data) != "two" || string(again[0].Data) != "one" {
		t.Errorf("writing to a read record changed others: %q, %q", recs[1].Data, again[0].Data)
	}
}

// TestWait checks that Wait returns once a later record is committed, at once when one exists, and with the
// context's error otherwise.
func TestWait(t *testing.T) {
	t.Parallel()
	clock := newClock()
	db, _ := openDB(t)
	l := mustOpen(t, db, Options{StreamName: "events", Shards: 1, Retention: time.Hour, Now: clock.Now})
	shard := stream.ShardID(0)
	ctx := context.Background()

	// Blocks on an empty shard until a put commits. The non-blocking check before the put can only catch a
	// Wait that returns too early; the put then must wake it.
	done := make(chan error, 1)
	go func() { done <- l.Wait(ctx, shard, "") }()
	select {
	case err := <-done:
		t.Fatalf("Wait on an empty shard returned %v", err)
	default:
	}
	first := mustPut(t, l, records("k", 1))[0].SequenceNumber
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not return after a put")
	}

	// Returns at once when a record follows.
	if err := l.Wait(ctx, shard, ""); err != nil {
		t.Fatal(err)
	}
	// Blocks after the last record until the context is done.
	short, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := l.Wait(short, shard, first); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait after the last record = %v, want DeadlineExceeded", err)
	}
	// A cancelled context ends a wait.
	cctx, ccancel := context.WithCancel(ctx)
	go func() { done <- l.Wait(cctx, shard, first) }()
	ccancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait = %v, want Canceled", err)
	}
	// Wakes for a record after the given one.
	go func() { done <- l.Wait(ctx, shard, first) }()
	mustPut(t, l, records("k", 1))
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// Once everything is trimmed, the shard counts as empty again.
	clock.Advance(2 * time.Hour)
	if n, err := l.Trim(ctx); err != nil || n != 2 {
		t.Fatalf("Trim = %d, %v", n, err)
	}
	short2, cancel2 := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel2()
	if err := l.Wait(short2, shard, ""); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait on a trimmed shard = %v, want DeadlineExceeded", err)
	}

	for _, bad := range []struct{ shard, seq string }{{"shardId-000000000001", ""}, {shard, "nope"}} {
		if err := l.Wait(ctx, bad.shard, bad.seq); err == nil {
			t.Errorf("Wait(%q, %q) accepted", bad.shard, bad.seq)
		}
	}
}

// TestCompareSequence checks numeric comparison of decimal strings.
func TestCompareSequence(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		a, b string
		want int
	}{
		{"equal", "49000", "49000", 0},
		{"shorter is smaller", "999", "1000", -1},
		{"longer is larger", "1000", "999", 1},
		{"same length", "49590338271490256608559692538361571095921575989136588898", "49590338271490256608559692540925702759324208523137515618", -1},
		{"formatted counters", formatSeq(seqPrefix(0), 9), formatSeq(seqPrefix(0), 10), -1},
		{"across shards", formatSeq(seqPrefix(1), 1), formatSeq(seqPrefix(0), 1<<62), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := CompareSequence(tt.a, tt.b); got != tt.want {
				t.Errorf("CompareSequence(%s, %s) = %d, want %d", tt.a, tt.b, got, tt.want)
			}
		})
	}
}

// TestSequenceFormat checks the sequence number layout and its parser.
func TestSequenceFormat(t *testing.T) {
	t.Parallel()
	// Counters from the first to the largest a uint64 holds, on shards with one to four digits.
	tests := []struct {
		name    string
		shard   int
		counter uint64
	}{
		{"first", 0, 1},
		{"shard seven", 7, 12345},
		{"largest counter", 9999, ^uint64(0)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := formatSeq(seqPrefix(tt.shard), tt.counter)
			if len(s) != 56 || !strings.HasPrefix(s, "49") {
				t.Fatalf("sequence %q", s)
			}
			if a := string(appendSeq(nil, seqPrefix(tt.shard), tt.counter)); a != s {
				t.Errorf("appendSeq = %q, formatSeq = %q", a, s)
			}
			c, err := parseSeq(seqPrefix(tt.shard), stream.ShardID(tt.shard), s)
			if err != nil || c != tt.counter {
				t.Errorf("parseSeq(%q) = %d, %v", s, c, err)
			}
			if _, err := parseSeq(seqPrefix(tt.shard+1), "other", s); !errors.Is(err, ErrInvalidArgument) {
				t.Errorf("another shard's prefix accepted %q", s)
			}
		})
	}
}

// TestIteratorType checks the Kinesis names.
func TestIteratorType(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		typ  IteratorType
		name string
	}{
		{TrimHorizon, "TRIM_HORIZON"}, {Latest, "LATEST"}, {AtSequenceNumber, "AT_SEQUENCE_NUMBER"},
		{AfterSequenceNumber, "AFTER_SEQUENCE_NUMBER"}, {AtTimestamp, "AT_TIMESTAMP"},
	} {
		if tt.typ.String() != tt.name {
			t.Errorf("%d.String() = %q, want %q", int(tt.typ), tt.typ.String(), tt.name)
		}
		if got, err := ParseIteratorType(strings.ToLower(tt.name)); err != nil || got != tt.typ {
			t.Errorf("ParseIteratorType(%q) = %v, %v", tt.name, got, err)
		}
	}
	if _, err := ParseIteratorType("AT_SOMETHING"); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("unknown name accepted: %v", err)
	}
}
