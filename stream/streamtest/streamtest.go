// Package streamtest is the contract suite of the stream ports: every pair of a producer (ingest.Producer)
// and a reader (esm.Reader, whose methods Reader repeats) over one stream, the local log or Kinesis, must pass RunProducer and RunReader.
//
// The suites check what the platform relies on and Kinesis does: one result per record in the order given,
// sequence numbers that grow per shard (compared as integers), partition keys placed on shards by the MD5
// hash against even hash key ranges, records read back in order after a sequence number, empty reads once
// caught up, and Kinesis's limits, whose violation refuses the whole call (Kinesis answers such a request
// with a ValidationException or InvalidArgumentException and takes none of its records).
package streamtest

import (
	"bytes"
	"context"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/ingest"
	"github.com/serverless-data-platform/sdp/stream"
)

// Reader is the reading port under test: the method set of esm.Reader, repeated here so that the suite
// depends on the port's shape only, not on the mapping's package.
type Reader interface {
	// ShardIDs lists the ids of the stream's shards.
	ShardIDs() []string
	// ReadAfter returns up to limit records of shardID that follow afterSeq ("" for the trim horizon), in
	// order, and no records with a nil error when none follow yet.
	ReadAfter(ctx context.Context, shardID, afterSeq string, limit int) ([]event.StreamRecord, error)
}

// Stream is one new, empty stream under test.
type Stream struct {
	Producer ingest.Producer
	Reader   Reader
	// Shards is the stream's shard count. The stream must have been created as CreateStream creates one:
	// shard i is stream.ShardID(i) and owns the i-th of stream.EvenRanges(Shards).
	Shards int
}

// NewStream returns a new, empty stream for one case of a suite (with at least two shards, so that placement
// is tested). It may skip the test when the stream's backend is not available.
type NewStream func(t *testing.T) Stream

// testCase is one named case of a suite.
type testCase struct {
	name string
	run  func(t *testing.T, s Stream)
}

// RunProducer runs the producer's contract; each case runs as a subtest on its own stream.
func RunProducer(t *testing.T, newStream NewStream) {
	t.Helper()
	run(t, newStream, []testCase{
		{"ResultsInOrder", testResultsInOrder},
		{"PlacementByPartitionKeyHash", testPlacement},
		{"SequenceNumbersGrowPerShard", testSequenceGrows},
		{"LargestRecordAccepted", testLargestRecord},
		{"Refused", testRefused},
	})
}

// RunReader runs the reader's contract; each case runs as a subtest on its own stream.
func RunReader(t *testing.T, newStream NewStream) {
	t.Helper()
	run(t, newStream, []testCase{
		{"ShardIDs", testShardIDs},
		{"EmptyShardReadsNothing", testEmptyShard},
		{"ReadBackInOrder", testReadBack},
		{"ReadAfterPosition", testReadAfter},
		{"LimitAndResume", testLimitAndResume},
		{"CaughtUpReadsNothing", testCaughtUp},
		{"UnknownShard", testUnknownShard},
	})
}

// run runs the cases, each with a new stream.
func run(t *testing.T, newStream NewStream, cases []testCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := newStream(t)
			if s.Shards < 2 {
				t.Fatalf("the suite needs a stream of at least 2 shards, got %d", s.Shards)
			}
			c.run(t, s)
		})
	}
}

// ctx returns a context bounded for one case.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return c
}

// records returns n records with keys key(i) and data naming the prefix and index.
func records(prefix string, n int, key func(i int) string) []event.Record {
	out := make([]event.Record, n)
	for i := range out {
		out[i] = event.Record{PartitionKey: key(i), Data: fmt.Appendf(nil, `{"id":"%s-%d"}`, prefix, i)}
	}
	return out
}

// put writes recs and fails the test unless every record was taken, returning the results.
func put(t *testing.T, s Stream, recs []event.Record) []event.PutResult {
	t.Helper()
	res, err := s.Producer.PutRecords(ctx(t), recs)
	if err != nil {
		t.Fatalf("PutRecords(%d records): %v", len(recs), err)
	}
	if len(res) != len(recs) {
		t.Fatalf("PutRecords returned %d results for %d records", len(res), len(recs))
	}
	for i, r := range res {
		if r.SequenceNumber == "" || r.ShardID == "" || r.ErrorCode != "" {
			t.Fatalf("result %d = %+v; want a shard and sequence number", i, r)
		}
	}
	return res
}

// expectedShard returns the shard id Kinesis places key on in a stream of n even shards.
func expectedShard(key string, n int) string {
	return stream.ShardID(stream.ShardFor(stream.EvenRanges(n), stream.PartitionHash(key)))
}

// seqNum parses a sequence number as an integer, failing the test on anything else.
func seqNum(t *testing.T, seq string) *big.Int {
	t.Helper()
	n, ok := new(big.Int).SetString(seq, 10)
	if !ok || n.Sign() < 0 || seq != n.String() {
		t.Fatalf("sequence number %q is not a decimal integer without leading zeros", seq)
	}
	return n
}

// readAll reads a shard from the trim horizon until a read returns nothing, limit records at a time.
func readAll(t *testing.T, s Stream, shardID string, limit int) []event.StreamRecord {
	t.Helper()
	var out []event.StreamRecord
	after := ""
	for range 1000 {
		recs, err := s.Reader.ReadAfter(ctx(t), shardID, after, limit)
		if err != nil {
			t.Fatalf("ReadAfter(%s, %q): %v", shardID, after, err)
		}
		if len(recs) == 0 {
			return out
		}
		if limit > 0 && len(recs) > limit {
			t.Fatalf("ReadAfter(%s, %q, %d) returned %d records", shardID, after, limit, len(recs))
		}
		out = append(out, recs...)
		after = recs[len(recs)-1].SequenceNumber
	}
	t.Fatalf("shard %s did not run out of records", shardID)
	return nil
}

func testResultsInOrder(t *testing.T, s Stream) {
	recs := records("order", 25, func(i int) string { return fmt.Sprintf("key-%d", i) })
	res := put(t, s, recs)
	seen := map[string]bool{}
	for i, r := range res {
		if want := expectedShard(recs[i].PartitionKey, s.Shards); r.ShardID != want {
			t.Errorf("result %d (key %q) is on %s; Kinesis places the key on %s: results are out of order or misplaced",
				i, recs[i].PartitionKey, r.ShardID, want)
		}
		if seen[r.ShardID+"/"+r.SequenceNumber] {
			t.Errorf("result %d repeats sequence number %s of shard %s", i, r.SequenceNumber, r.ShardID)
		}
		seen[r.ShardID+"/"+r.SequenceNumber] = true
	}
}

func testPlacement(t *testing.T, s Stream) {
	// Keys chosen to cover every shard, some repeated.
	var recs []event.Record
	covered := map[string]bool{}
	for i := 0; len(covered) < s.Shards || len(recs) < 3*s.Shards; i++ {
		k := fmt.Sprintf("customer-%d", i%(4*s.Shards))
		covered[expectedShard(k, s.Shards)] = true
		recs = append(recs, event.Record{PartitionKey: k, Data: []byte(k)})
	}
	res := put(t, s, recs)
	byKey := map[string]string{}
	for i, r := range res {
		k := recs[i].PartitionKey
		if prev, ok := byKey[k]; ok && prev != r.ShardID {
			t.Errorf("key %q went to %s and to %s", k, prev, r.ShardID)
		}
		byKey[k] = r.ShardID
		if want := expectedShard(k, s.Shards); r.ShardID != want {
			t.Errorf("key %q went to %s, want %s (MD5 of the key in the even hash ranges)", k, r.ShardID, want)
		}
	}
	// Each record is on the shard its result names.
	for shard := range covered {
		for _, rec := range readAll(t, s, shard, 0) {
			if want := expectedShard(rec.PartitionKey, s.Shards); want != shard {
				t.Errorf("record %s with key %q was read from %s, want %s", rec.SequenceNumber, rec.PartitionKey, shard, want)
			}
		}
	}
}

func testSequenceGrows(t *testing.T, s Stream) {
	last := map[string]*big.Int{}
	for call := range 3 {
		recs := records(fmt.Sprintf("grow%d", call), 12, func(i int) string { return fmt.Sprintf("k%d", i%5) })
		for i, r := range put(t, s, recs) {
			n := seqNum(t, r.SequenceNumber)
			if prev := last[r.ShardID]; prev != nil && n.Cmp(prev) <= 0 {
				t.Errorf("call %d record %d: sequence number %s of %s does not exceed the previous one %s",
					call, i, n, r.ShardID, prev)
			}
			last[r.ShardID] = n
		}
	}
}

func testLargestRecord(t *testing.T, s Stream) {
	key := "big"
	data := bytes.Repeat([]byte("x"), event.MaxRecordBytes-len(key))
	res := put(t, s, []event.Record{{PartitionKey: key, Data: data}})
	got := readAll(t, s, res[0].ShardID, 0)
	if len(got) != 1 || !bytes.Equal(got[0].Data, data) {
		t.Fatalf("read back %d records; want the record of %d bytes", len(got), len(data))
	}
}

func testRefused(t *testing.T, s Stream) {
	ok := event.Record{PartitionKey: "fine", Data: []byte(`{}`)}
	cases := []struct {
		name string
		recs []event.Record
		// want is a part of the error message.
		want string
	}{
		{"no records", nil, "no records"},
		{"data over the record limit", []event.Record{ok, {PartitionKey: "k", Data: make([]byte, event.MaxRecordBytes+1)}}, "record 1"},
		{"empty partition key", []event.Record{ok, {PartitionKey: "", Data: []byte("x")}}, "record 1"},
		{"partition key over 256 characters", []event.Record{{PartitionKey: strings.Repeat("é", event.MaxPartitionKeyLength+1), Data: []byte("x")}, ok}, "record 0"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			res, err := s.Producer.PutRecords(ctx(t), c.recs)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("PutRecords = %v, %v; want the call refused with an error naming %q", res, err, c.want)
			}
			if res != nil {
				t.Errorf("a refused call returned results %v", res)
			}
		})
	}
	// Nothing of the refused calls was taken.
	for i := range s.Shards {
		if got := readAll(t, s, stream.ShardID(i), 0); len(got) != 0 {
			t.Errorf("shard %d holds %d records after refused calls", i, len(got))
		}
	}
}

func testShardIDs(t *testing.T, s Stream) {
	ids := s.Reader.ShardIDs()
	if len(ids) != s.Shards {
		t.Fatalf("ShardIDs() = %v; want %d shards", ids, s.Shards)
	}
	for i, id := range ids {
		if id != stream.ShardID(i) {
			t.Errorf("ShardIDs()[%d] = %q, want %q", i, id, stream.ShardID(i))
		}
	}
}

func testEmptyShard(t *testing.T, s Stream) {
	for i := range s.Shards {
		recs, err := s.Reader.ReadAfter(ctx(t), stream.ShardID(i), "", 10)
		if err != nil || len(recs) != 0 {
			t.Errorf("ReadAfter of empty shard %d = %d records, %v; want none and no error", i, len(recs), err)
		}
	}
}

func testReadBack(t *testing.T, s Stream) {
	start := time.Now().Add(-time.Minute)
	var recs []event.Record
	var res []event.PutResult
	for call := range 2 {
		batch := records(fmt.Sprintf("back%d", call), 15, func(i int) string { return fmt.Sprintf("user-%d", i%4) })
		recs = append(recs, batch...)
		res = append(res, put(t, s, batch)...)
	}
	// Expected per shard: the records in put order.
	want := map[string][]int{}
	for i, r := range res {
		want[r.ShardID] = append(want[r.ShardID], i)
	}
	for shard, idx := range want {
		got := readAll(t, s, shard, 0)
		if len(got) != len(idx) {
			t.Fatalf("shard %s: read %d records, want %d", shard, len(got), len(idx))
		}
		for j, i := range idx {
			g := got[j]
			if g.ShardID != shard || g.SequenceNumber != res[i].SequenceNumber || g.PartitionKey != recs[i].PartitionKey ||
				!bytes.Equal(g.Data, recs[i].Data) {
				t.Errorf("shard %s record %d = {%s %s %q %s}; want {%s %s %q %s}", shard, j,
					g.ShardID, g.SequenceNumber, g.PartitionKey, g.Data, shard, res[i].SequenceNumber, recs[i].PartitionKey, recs[i].Data)
			}
			if g.ArrivalTime.Before(start) || g.ArrivalTime.After(time.Now().Add(time.Minute)) {
				t.Errorf("shard %s record %d arrived at %v, not about now", shard, j, g.ArrivalTime)
			}
		}
	}
}

// oneShard writes n records with one key and returns their results.
func oneShard(t *testing.T, s Stream, n int) []event.PutResult {
	return put(t, s, records("one", n, func(int) string { return "same-key" }))
}

func testReadAfter(t *testing.T, s Stream) {
	res := oneShard(t, s, 10)
	shard := res[0].ShardID
	cases := []struct {
		name  string
		after string
		first int // index of the first record expected
	}{
		{"trim horizon", "", 0},
		{"after the first", res[0].SequenceNumber, 1},
		{"after the fourth", res[3].SequenceNumber, 4},
		{"after the last but one", res[8].SequenceNumber, 9},
		{"after the last", res[9].SequenceNumber, 10},
		{"after the fourth again", res[3].SequenceNumber, 4},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := s.Reader.ReadAfter(ctx(t), shard, c.after, 100)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != 10-c.first {
				t.Fatalf("read %d records, want %d", len(got), 10-c.first)
			}
			for j, g := range got {
				if g.SequenceNumber != res[c.first+j].SequenceNumber {
					t.Errorf("record %d = %s, want %s", j, g.SequenceNumber, res[c.first+j].SequenceNumber)
				}
			}
		})
	}
}

func testLimitAndResume(t *testing.T, s Stream) {
	res := oneShard(t, s, 11)
	got := readAll(t, s, res[0].ShardID, 3)
	if len(got) != len(res) {
		t.Fatalf("read %d records 3 at a time, want %d", len(got), len(res))
	}
	var prev *big.Int
	for i, g := range got {
		if g.SequenceNumber != res[i].SequenceNumber {
			t.Errorf("record %d = %s, want %s", i, g.SequenceNumber, res[i].SequenceNumber)
		}
		n := seqNum(t, g.SequenceNumber)
		if prev != nil && n.Cmp(prev) <= 0 {
			t.Errorf("record %d: sequence number %s does not exceed %s", i, n, prev)
		}
		prev = n
	}
}

func testCaughtUp(t *testing.T, s Stream) {
	res := oneShard(t, s, 3)
	shard, last := res[0].ShardID, res[2].SequenceNumber
	for i := range 3 {
		got, err := s.Reader.ReadAfter(ctx(t), shard, last, 10)
		if err != nil || len(got) != 0 {
			t.Fatalf("read %d after the last record = %d records, %v; want none", i, len(got), err)
		}
	}
	// A record put later is read from the same position.
	more := put(t, s, []event.Record{{PartitionKey: "same-key", Data: []byte("later")}})
	got, err := s.Reader.ReadAfter(ctx(t), shard, last, 10)
	if err != nil || len(got) != 1 || got[0].SequenceNumber != more[0].SequenceNumber || string(got[0].Data) != "later" {
		t.Fatalf("read after a later put = %+v, %v; want the later record", got, err)
	}
}

func testUnknownShard(t *testing.T, s Stream) {
	if _, err := s.Reader.ReadAfter(ctx(t), stream.ShardID(s.Shards+5), "", 10); err == nil {
		t.Fatal("ReadAfter of a shard the stream does not have succeeded")
	}
}
