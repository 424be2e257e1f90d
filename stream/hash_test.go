package stream

import (
	"errors"
	"math/big"
	"strconv"
	"testing"
)

// TestPartitionHash checks the hash of known keys against MD5 test vectors read as decimal integers.
func TestPartitionHash(t *testing.T) {
	t.Parallel()
	// Each want is the MD5 digest of the key (shown beside it in hex) read as a big-endian integer, as
	// Kinesis reads it to place a record.
	tests := []struct {
		name, key, want string
	}{
		{"empty", "", "281949768489412648962353822266799178366"},        // d41d8cd98f00b204e9800998ecf8427e
		{"a", "a", "16955237001963240173058271559858726497"},            // 0cc175b9c0f1b6a831c399e269772661
		{"abc", "abc", "191415658344158766168031473277922803570"},       // 900150983cd24fb0d6963f7d28e17f72
		{"ascii", "user-42", "157107139746365290205026809710278036035"}, // 7631bc07a1cc8fcd56e70fc6b2fb4a43
		{"utf8", "日本", "103341369634063465466164320543046703539"},       // 4dbed2e657457884e67137d3514119b3
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := PartitionHash(tt.key).String(); got != tt.want {
				t.Errorf("PartitionHash(%q) = %s, want %s", tt.key, got, tt.want)
			}
		})
	}
}

// TestEvenRanges checks the decimal ranges against those Kinesis CreateStream assigns.
func TestEvenRanges(t *testing.T) {
	t.Parallel()
	// The wanted ranges are the StartingHashKey and EndingHashKey that Kinesis CreateStream (and kinesalite,
	// which copies it) assigns: step = floor(2^128/n), the last shard absorbing the remainder.
	tests := []struct {
		name string
		n    int
		want [][2]string
	}{
		{"one shard", 1, [][2]string{{"0", "340282366920938463463374607431768211455"}}},
		{"two shards", 2, [][2]string{
			{"0", "170141183460469231731687303715884105727"},
			{"170141183460469231731687303715884105728", "340282366920938463463374607431768211455"},
		}},
		{"three shards", 3, [][2]string{
			{"0", "113427455640312821154458202477256070484"},
			{"113427455640312821154458202477256070485", "226854911280625642308916404954512140969"},
			{"226854911280625642308916404954512140970", "340282366920938463463374607431768211455"},
		}},
		{"four shards", 4, [][2]string{
			{"0", "85070591730234615865843651857942052863"},
			{"85070591730234615865843651857942052864", "170141183460469231731687303715884105727"},
			{"170141183460469231731687303715884105728", "255211775190703847597530955573826158591"},
			{"255211775190703847597530955573826158592", "340282366920938463463374607431768211455"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := EvenRanges(tt.n)
			if len(got) != len(tt.want) {
				t.Fatalf("EvenRanges(%d) has %d ranges, want %d", tt.n, len(got), len(tt.want))
			}
			for i, r := range got {
				if r.StartingHashKey() != tt.want[i][0] || r.EndingHashKey() != tt.want[i][1] {
					t.Errorf("shard %d = %s..%s, want %s..%s", i, r.StartingHashKey(), r.EndingHashKey(), tt.want[i][0], tt.want[i][1])
				}
			}
		})
	}
}

// TestEvenRangesMatchBigInt compares EvenRanges with the same arithmetic done in math/big for many counts.
func TestEvenRangesMatchBigInt(t *testing.T) {
	t.Parallel()
	pow128 := new(big.Int).Lsh(big.NewInt(1), 128)
	one := big.NewInt(1)
	for _, n := range []int{1, 2, 3, 5, 6, 7, 8, 10, 16, 31, 64, 100, 127, 1000, 1 << 20, 999_999} {
		step := new(big.Int).Div(pow128, big.NewInt(int64(n)))
		got := EvenRanges(n)
		if len(got) != n {
			t.Fatalf("EvenRanges(%d) has %d ranges", n, len(got))
		}
		// Check the first, second, middle and last two ranges: where off-by-one and carry errors show.
		for _, i := range []int{0, 1, n / 2, n - 2, n - 1} {
			if i < 0 || i >= n {
				continue
			}
			start := new(big.Int).Mul(step, big.NewInt(int64(i)))
			end := new(big.Int).Mul(step, big.NewInt(int64(i+1)))
			if i == n-1 {
				end.Set(pow128)
			}
			end.Sub(end, one)
			if got[i].StartingHashKey() != start.String() || got[i].EndingHashKey() != end.String() {
				t.Errorf("n=%d shard %d = %s..%s, want %s..%s", n, i, got[i].StartingHashKey(), got[i].EndingHashKey(), start, end)
			}
		}
	}
	if EvenRanges(0) != nil || EvenRanges(-1) != nil {
		t.Error("EvenRanges of a count below 1 is not nil")
	}
}

// TestShardFor checks placement at the boundaries and for known keys.
func TestShardFor(t *testing.T) {
	t.Parallel()
	mustParse := func(s string) HashKey {
		t.Helper()
		h, err := ParseHashKey(s)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	three := EvenRanges(3)
	// Boundary cases sit exactly on each side of a split; key cases use the MD5 vectors above.
	tests := []struct {
		name   string
		ranges []HashRange
		h      HashKey
		want   int
	}{
		{"zero", three, HashKey{}, 0},
		{"end of first", three, mustParse("113427455640312821154458202477256070484"), 0},
		{"start of second", three, mustParse("113427455640312821154458202477256070485"), 1},
		{"end of second", three, mustParse("226854911280625642308916404954512140969"), 1},
		{"start of last", three, mustParse("226854911280625642308916404954512140970"), 2},
		{"max", three, MaxHashKey(), 2},
		{"one shard max", EvenRanges(1), MaxHashKey(), 0},
		{"key a on two shards", EvenRanges(2), PartitionHash("a"), 0},
		{"key abc on two shards", EvenRanges(2), PartitionHash("abc"), 1},
		{"key user-42 on four shards", EvenRanges(4), PartitionHash("user-42"), 1},
		// Ranges that do not cover the key space leave some keys without a shard.
		{"no ranges", nil, HashKey{}, -1},
		{"gap", []HashRange{{Start: HashKey{15: 10}, End: MaxHashKey()}}, HashKey{15: 9}, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := ShardFor(tt.ranges, tt.h)
			if got != tt.want {
				t.Fatalf("ShardFor(%s) = %d, want %d", tt.h, got, tt.want)
			}
			if got >= 0 && !tt.ranges[got].Contains(tt.h) {
				t.Errorf("range %d does not contain %s", got, tt.h)
			}
		})
	}
}

// TestShardForLinear compares the binary search with a linear scan over many keys and shard counts.
func TestShardForLinear(t *testing.T) {
	t.Parallel()
	// Linear search over Contains is the obviously correct answer the binary search must agree with.
	for _, n := range []int{1, 2, 3, 4, 7, 16, 100} {
		ranges := EvenRanges(n)
		for k := 0; k < 2000; k++ {
			h := PartitionHash("key-" + strconv.Itoa(k))
			want := -1
			for i, r := range ranges {
				if r.Contains(h) {
					want = i
					break
				}
			}
			if got := ShardFor(ranges, h); got != want {
				t.Fatalf("n=%d key %d: ShardFor = %d, linear = %d", n, k, got, want)
			}
		}
	}
}

// TestParseHashKey checks parsing and its round trip through String.
func TestParseHashKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		in      string
		wantErr bool
	}{
		{"zero", "0", false},
		{"small", "42", false},
		{"max uint64", "18446744073709551615", false},
		{"max uint64 plus one", "18446744073709551616", false},
		{"ten to the 19", "10000000000000000000", false},
		{"ten to the 38", "100000000000000000000000000000000000000", false},
		{"max", "340282366920938463463374607431768211455", false},
		{"max plus one", "340282366920938463463374607431768211456", true},
		// Values past 2^128-1 must fail rather than wrap around.
		{"far too large", "999999999999999999999999999999999999999", true},
		{"empty", "", true},
		{"sign", "-1", true},
		{"letters", "12a", true},
		{"too long", "0000000000000000000000000000000000000000", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h, err := ParseHashKey(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidHashKey) {
					t.Fatalf("ParseHashKey(%q) error = %v, want ErrInvalidHashKey", tt.in, err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if h.String() != tt.in {
				t.Errorf("round trip of %q = %q", tt.in, h.String())
			}
		})
	}
}

// TestHashKeyCompare checks ordering across the 64-bit halves.
func TestHashKeyCompare(t *testing.T) {
	t.Parallel()
	// lowMax has every bit of the low half set; highOne only the lowest bit of the high half, so it is larger.
	lowMax := HashKey{8: 0xff, 9: 0xff, 10: 0xff, 11: 0xff, 12: 0xff, 13: 0xff, 14: 0xff, 15: 0xff}
	highOne := HashKey{7: 1}
	tests := []struct {
		name string
		a, b HashKey
		want int
	}{
		{"equal", highOne, highOne, 0},
		{"low half", HashKey{15: 1}, HashKey{15: 2}, -1},
		{"high half wins", highOne, lowMax, 1},
		{"max", MaxHashKey(), HashKey{}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := tt.a.Compare(tt.b); got != tt.want {
				t.Errorf("Compare = %d, want %d", got, tt.want)
			}
		})
	}
}

// TestShardID checks the Kinesis shard id format and its parser.
func TestShardID(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		i    int
		want string
	}{
		{"first", 0, "shardId-000000000000"},
		{"second", 1, "shardId-000000000001"},
		{"large", 123456789012, "shardId-123456789012"},
		{"wider than twelve", 1234567890123, "shardId-1234567890123"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := ShardID(tt.i); got != tt.want {
				t.Fatalf("ShardID(%d) = %q, want %q", tt.i, got, tt.want)
			}
			i, err := ParseShardID(tt.want)
			if err != nil || i != tt.i {
				t.Errorf("ParseShardID(%q) = %d, %v", tt.want, i, err)
			}
		})
	}
	// Ids in another format, too short, signed or not decimal are refused.
	for _, bad := range []string{"", "shardId-", "shardId-1", "shard-000000000001", "shardId-+00000000001", "shardId-00000000000x"} {
		if _, err := ParseShardID(bad); err == nil {
			t.Errorf("ParseShardID(%q) accepted", bad)
		}
	}
}

// BenchmarkPartitionHashShardFor measures placing one partition key on one of 64 shards.
func BenchmarkPartitionHashShardFor(b *testing.B) {
	ranges := EvenRanges(64)
	keys := make([]string, 1024)
	for i := range keys {
		keys[i] = "subject-" + strconv.Itoa(i)
	}
	b.ReportAllocs()
	sum := 0
	for i := 0; b.Loop(); i++ {
		sum += ShardFor(ranges, PartitionHash(keys[i&1023]))
	}
	if sum < 0 {
		b.Fatal("unplaced key")
	}
}
