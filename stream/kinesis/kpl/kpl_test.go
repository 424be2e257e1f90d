package kpl

import (
	"bytes"
	"crypto/md5"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

// frame wraps a hand-written AggregatedRecord message in the magic bytes and its MD5 digest.
func frame(msg ...byte) []byte {
	sum := md5.Sum(msg)
	out := append([]byte(Magic), msg...)
	return append(out, sum[:]...)
}

// Hand-written messages, byte by byte from the format description (tag = field<<3 | wire type).
var (
	// partition_key_table ["a"]; records [{partition_key_index 0, data "hi"}].
	msgOne = []byte{
		0x0A, 0x01, 'a', // field 1 (bytes): "a"
		0x1A, 0x06, // field 3 (bytes): a Record of 6 bytes
		0x08, 0x00, // field 1 (varint): 0
		0x1A, 0x02, 'h', 'i', // field 3 (bytes): "hi"
	}
	// partition_key_table ["k1", "k2"]; explicit_hash_key_table ["42"]; records
	// [{0, data "x"}, {1, ehk 0, data "", tags [{key "t", value "v"}]}, {0, data "yz"}].
	msgThree = []byte{
		0x0A, 0x02, 'k', '1',
		0x0A, 0x02, 'k', '2',
		0x12, 0x02, '4', '2', // field 2 (bytes): "42"
		0x1A, 0x05, 0x08, 0x00, 0x1A, 0x01, 'x',
		0x1A, 0x0E, 0x08, 0x01, 0x10, 0x00, 0x1A, 0x00, // index 1, ehk index 0, empty data
		0x22, 0x06, 0x0A, 0x01, 't', 0x12, 0x01, 'v', // field 4 (bytes): Tag{key "t", value "v"}
		0x1A, 0x06, 0x08, 0x00, 0x1A, 0x02, 'y', 'z',
	}
)

func TestDeaggregate(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		data    []byte
		want    []Record
		wantErr string // a part of the error; empty for success
	}{
		{name: "one record", data: frame(msgOne...), want: []Record{{PartitionKey: "a", Data: []byte("hi")}}},
		{name: "key tables, explicit hash key and tags", data: frame(msgThree...), want: []Record{
			{PartitionKey: "k1", Data: []byte("x")},
			{PartitionKey: "k2", ExplicitHashKey: "42", Data: []byte{}},
			{PartitionKey: "k1", Data: []byte("yz")},
		}},
		{name: "empty message", data: frame(), want: []Record{}},
		{name: "unknown field is skipped", data: frame(append([]byte{0x28, 0x07}, msgOne...)...),
			want: []Record{{PartitionKey: "a", Data: []byte("hi")}}},
		{name: "not aggregated passes through", data: []byte(`{"id":"1"}`), want: []Record{{PartitionKey: "outer", Data: []byte(`{"id":"1"}`)}}},
		{name: "empty data passes through", data: []byte{}, want: []Record{{PartitionKey: "outer", Data: []byte{}}}},
		{name: "magic only", data: []byte(Magic), wantErr: "too few for the magic bytes and an MD5 digest"},
		{name: "bad digest", data: func() []byte { b := frame(msgOne...); b[len(b)-1] ^= 1; return b }(),
			wantErr: "MD5 digest does not match"},
		{name: "flipped message byte", data: func() []byte { b := frame(msgOne...); b[len(Magic)+2] = 'b'; return b }(),
			wantErr: "MD5 digest does not match"},
		{name: "truncated message", data: frame(msgOne[:len(msgOne)-1]...), wantErr: "record 0"},
		{name: "partition key index out of range", data: frame(0x0A, 0x01, 'a', 0x1A, 0x04, 0x08, 0x05, 0x1A, 0x00),
			wantErr: "partition_key_index 5 is outside the table of 1 keys"},
		{name: "explicit hash key index out of range", data: frame(0x0A, 0x01, 'a', 0x1A, 0x06, 0x08, 0x00, 0x10, 0x00, 0x1A, 0x00),
			wantErr: "explicit_hash_key_index 0 is outside the table of 0 keys"},
		{name: "no partition key index", data: frame(0x0A, 0x01, 'a', 0x1A, 0x02, 0x1A, 0x00), wantErr: "no partition_key_index"},
		{name: "no data", data: frame(0x0A, 0x01, 'a', 0x1A, 0x02, 0x08, 0x00), wantErr: "no data"},
		{name: "wrong wire type", data: frame(0x08, 0x01), wantErr: "wire type 0, want bytes"},
		{name: "bad tag", data: frame(0x00), wantErr: "bad field tag"},
		{name: "bad tag message", data: frame(0x0A, 0x01, 'a', 0x1A, 0x08, 0x08, 0x00, 0x1A, 0x00, 0x22, 0x02, 0x0A, 0x05),
			wantErr: "tag: field 1"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			got, err := Deaggregate("outer", c.data)
			if c.wantErr != "" {
				if err == nil || !errors.Is(err, ErrCorrupt) || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("Deaggregate = %v, %v; want an ErrCorrupt error containing %q", got, err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Deaggregate: %v", err)
			}
			if d := diff(got, c.want); d != "" {
				t.Fatal(d)
			}
		})
	}
}

// diff describes how two record lists differ, or returns "".
func diff(got, want []Record) string {
	if len(got) != len(want) {
		return fmt.Sprintf("got %d records, want %d: %+v", len(got), len(want), got)
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.PartitionKey != w.PartitionKey || g.ExplicitHashKey != w.ExplicitHashKey || !bytes.Equal(g.Data, w.Data) {
			return fmt.Sprintf("record %d = %+v, want %+v", i, g, w)
		}
	}
	return ""
}

// TestAggregatorMatchesHandWrittenBytes checks the encoder against the hand-written vectors.
func TestAggregatorMatchesHandWrittenBytes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		recs []Record
		want []byte
	}{
		{"one record", []Record{{PartitionKey: "a", Data: []byte("hi")}}, frame(msgOne...)},
		{"tables and explicit hash key", []Record{
			{PartitionKey: "k1", Data: []byte("x")},
			{PartitionKey: "k2", ExplicitHashKey: "42", Data: []byte{}},
			{PartitionKey: "k1", Data: []byte("yz")},
		}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			a := NewAggregator(1 << 20)
			for _, r := range c.recs {
				if ok, err := a.Add(r); !ok || err != nil {
					t.Fatalf("Add(%+v) = %v, %v", r, ok, err)
				}
			}
			size := a.Size()
			pk, ehk, data, ok := a.Flush()
			if !ok || pk != c.recs[0].PartitionKey || ehk != c.recs[0].ExplicitHashKey {
				t.Fatalf("Flush = %q, %q, ok %v", pk, ehk, ok)
			}
			if size != len(pk)+len(data) {
				t.Errorf("Size() = %d before Flush, the record has %d bytes", size, len(pk)+len(data))
			}
			if c.want != nil && !bytes.Equal(data, c.want) {
				t.Errorf("data = % x\nwant   % x", data, c.want)
			}
			got, err := Deaggregate(pk, data)
			if err != nil {
				t.Fatal(err)
			}
			if d := diff(got, c.recs); d != "" {
				t.Error(d)
			}
			if _, _, _, ok := a.Flush(); ok || a.Len() != 0 {
				t.Error("the Aggregator is not empty after Flush")
			}
		})
	}
}

// TestAggregateSizes fills aggregated records of a small maximum and checks that none exceeds it, that every
// record comes back in order, and that a record too large for any aggregate is refused.
func TestAggregateSizes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		max   int
		count int
		size  int
	}{
		{"small records", 300, 200, 10},
		{"records near the maximum", 300, 20, 250},
		{"one MiB", 1 << 20, 3000, 1000},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			rng := rand.New(rand.NewPCG(1, uint64(c.count)))
			var in []Record
			for i := range c.count {
				d := make([]byte, rng.IntN(c.size+1))
				for j := range d {
					d[j] = byte(rng.Uint32())
				}
				in = append(in, Record{PartitionKey: fmt.Sprintf("key-%d", i%7), Data: d})
			}
			a := NewAggregator(c.max)
			var out []Record
			flush := func() {
				pk, _, data, ok := a.Flush()
				if !ok {
					t.Fatal("Flush of a full aggregator returned nothing")
				}
				if len(pk)+len(data) > c.max {
					t.Fatalf("aggregated record of %d bytes exceeds %d", len(pk)+len(data), c.max)
				}
				recs, err := Deaggregate(pk, data)
				if err != nil {
					t.Fatal(err)
				}
				out = append(out, recs...)
			}
			for _, r := range in {
				ok, err := a.Add(r)
				if err != nil {
					t.Fatal(err)
				}
				if !ok {
					flush()
					if ok, err := a.Add(r); !ok || err != nil {
						t.Fatalf("Add to an empty aggregator = %v, %v", ok, err)
					}
				}
			}
			flush()
			if d := diff(out, in); d != "" {
				t.Fatal(d)
			}
		})
	}
	a := NewAggregator(100)
	if ok, err := a.Add(Record{PartitionKey: "k", Data: make([]byte, 100)}); ok || !errors.Is(err, ErrTooLarge) {
		t.Errorf("Add of an oversize record = %v, %v; want ErrTooLarge", ok, err)
	}
}

// FuzzDeaggregate checks that Deaggregate never panics and that what it accepts survives a round trip.
func FuzzDeaggregate(f *testing.F) {
	f.Add([]byte("plain"))
	f.Add(frame(msgOne...))
	f.Add(frame(msgThree...))
	f.Add(frame(msgOne[:5]...))
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := Deaggregate("pk", data)
		if err != nil {
			if !errors.Is(err, ErrCorrupt) {
				t.Fatalf("error %v does not wrap ErrCorrupt", err)
			}
			return
		}
		if !IsAggregated(data) {
			return
		}
		a := NewAggregator(len(data) * 4)
		for _, r := range recs {
			if r.PartitionKey == "" {
				// The aggregated record takes its first record's key; an empty one is still encodable.
				continue
			}
			if ok, err := a.Add(r); !ok || err != nil {
				t.Fatalf("Add(%+v) = %v, %v", r, ok, err)
			}
		}
		n := a.Len()
		pk, _, again, ok := a.Flush()
		if !ok {
			return
		}
		back, err := Deaggregate(pk, again)
		if err != nil || len(back) != n {
			t.Fatalf("round trip: %d records, %v; want %d", len(back), err, n)
		}
	})
}

func BenchmarkAggregate(b *testing.B) {
	data := bytes.Repeat([]byte("x"), 200)
	a := NewAggregator(1 << 20)
	for b.Loop() {
		for i := range 500 {
			if ok, _ := a.Add(Record{PartitionKey: "key-" + string(rune('a'+i%26)), Data: data}); !ok {
				a.Flush()
			}
		}
		a.Flush()
	}
}
