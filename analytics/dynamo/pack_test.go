package dynamo

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/serverless-data-platform/sdp/analytics"
	"github.com/serverless-data-platform/sdp/event"
)

// TestPack checks that transactions hold at most 100 actions (one per fact, one per slot item) and 8 slot
// items, never one item twice, every fact exactly once, that a window of up to 99 facts is never split, and
// that the chunks of a larger window spread evenly over the slots.
func TestPack(t *testing.T) {
	base := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		windows []int // facts per window
		slots   int
		wantTxs int
	}{
		{"one small window", []int{3}, 4, 1},
		{"99 facts fill one", []int{99}, 4, 1},
		{"100 facts need two", []int{100}, 4, 2},
		{"two windows of 49", []int{49, 49}, 4, 1},
		{"two windows of 50", []int{50, 50}, 4, 2},
		{"a window of 250", []int{250}, 4, 3},
		{"a window of 500 on one slot", []int{500}, 1, 6},
		{"a window of 500 on four slots", []int{500}, 4, 6},
		{"100 windows of one: 8 windows a transaction", repeat(100, 1), 4, 13},
		{"first fit keeps small windows whole", []int{60, 30, 45, 20}, 4, 2},
		{"remainders share transactions", []int{150, 150, 10}, 4, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var facts []*event.Fact
			for w, n := range tc.windows {
				for i := range n {
					facts = append(facts, &event.Fact{ID: fmt.Sprintf("w%d-%d", w, i), Type: "t", Source: "s",
						Time: base.Add(time.Duration(w) * time.Minute)})
				}
			}
			next := 0
			pick := func(n int) int { next++; return next % n }
			txs := pack(groupFacts(facts, analytics.Windowing{}), tc.slots, pick)
			if len(txs) != tc.wantTxs {
				t.Errorf("%d transactions; want %d", len(txs), tc.wantTxs)
			}
			seen := map[string]int{}
			partsOf := map[string][]*part{}
			for i, tx := range txs {
				actions, items := 0, map[string]bool{}
				if len(tx) > maxTransactWindows {
					t.Errorf("transaction %d has %d slot items", i, len(tx))
				}
				for _, p := range tx {
					if items[p.itemKey()] {
						t.Errorf("transaction %d holds item %s twice", i, p.sk())
					}
					if p.slot < 0 || p.slot >= tc.slots {
						t.Errorf("transaction %d: slot %d out of [0, %d)", i, p.slot, tc.slots)
					}
					items[p.itemKey()] = true
					actions += len(p.facts) + 1
					for _, f := range p.facts {
						seen[f.ID]++
					}
					partsOf[startKey(p.start)] = append(partsOf[startKey(p.start)], p)
				}
				if actions > maxTransactItems {
					t.Errorf("transaction %d has %d actions", i, actions)
				}
			}
			for _, f := range facts {
				if seen[f.ID] != 1 {
					t.Errorf("fact %s is in %d transactions", f.ID, seen[f.ID])
				}
			}
			for w, n := range tc.windows {
				parts := partsOf[startKey(base.Add(time.Duration(w)*time.Minute))]
				if want := (n + 98) / 99; len(parts) != want {
					t.Errorf("window %d of %d facts is in %d parts; want %d", w, n, len(parts), want)
				}
				// The parts spread evenly over the slots.
				perSlot := map[int]int{}
				for _, p := range parts {
					perSlot[p.slot]++
				}
				for slot, k := range perSlot {
					if limit := (len(parts) + tc.slots - 1) / tc.slots; k > limit {
						t.Errorf("window %d: %d of its %d parts on slot %d; want at most %d", w, k, len(parts), slot, limit)
					}
				}
			}
		})
	}
}

// repeat returns n windows of k facts.
func repeat(n, k int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = k
	}
	return out
}

// TestKeys checks that window sort keys sort by time (before 1970 included) and then by slot, read back,
// and that the range bounds of Query fall between windows.
func TestKeys(t *testing.T) {
	times := []time.Time{
		time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 0, 0, time.UTC),
		time.Unix(0, 0).UTC(),
		time.Date(2026, 11, 26, 9, 15, 0, 0, time.UTC),
		time.Date(2026, 11, 26, 9, 15, 1, 0, time.UTC),
		time.Date(2026, 11, 26, 9, 16, 0, 0, time.UTC),
	}
	for i, ts := range times {
		for _, slot := range []int{0, 3, 15} {
			got, gotSlot, err := parseSK(windowSK(ts, slot))
			if err != nil || !got.Equal(ts) || gotSlot != slot {
				t.Errorf("parseSK(windowSK(%v, %d)) = %v, %d, %v", ts, slot, got, gotSlot, err)
			}
			// A slot key sorts after its start's bound and before the next start's.
			if k := windowSK(ts, slot); k <= startKey(ts) || (i+1 < len(times) && k >= startKey(times[i+1])) {
				t.Errorf("windowSK(%v, %d) = %s is outside [%s, next start)", ts, slot, k, startKey(ts))
			}
		}
		if i > 0 && windowSK(times[i-1], 15) >= windowSK(ts, 0) {
			t.Errorf("windowSK(%v) does not sort before windowSK(%v)", times[i-1], ts)
		}
	}
	for _, bad := range []string{"", "0123", "8000000069e9b13c", "8000000069e9b13c#", "8000000069e9b13c#-1", "zz00000069e9b13c#0"} {
		if _, _, err := parseSK(bad); err == nil {
			t.Errorf("parseSK(%q) accepted a malformed key", bad)
		}
	}
	if windowPK("a#b", "c") == windowPK("a", "b#c") {
		t.Error("window partition keys of different types and sources collide")
	}
	ceil := []struct{ in, want time.Time }{
		{times[3], times[3]},
		{times[3].Add(time.Nanosecond), times[4]},
		{times[3].Add(999 * time.Millisecond), times[4]},
		{time.Unix(-1, 5e8).UTC(), time.Unix(0, 0).UTC()},
	}
	for _, c := range ceil {
		if got := ceilSecond(c.in); !got.Equal(c.want) {
			t.Errorf("ceilSecond(%v) = %v; want %v", c.in, got, c.want)
		}
	}
}

// TestDynamoNumber checks which floats become DynamoDB numbers: everything in DynamoDB's range, exactly.
func TestDynamoNumber(t *testing.T) {
	tests := []struct {
		v    float64
		want string
		ok   bool
	}{
		{0, "0", true},
		{-612, "-612", true},
		{0.1, "0.1", true},
		{1.7976931348623157e308, "", false},
		{1e126, "", false},
		{9.9e125, "9.9e+125", true},
		{1e-131, "", false},
		{-1e-130, "-1e-130", true},
	}
	for _, tc := range tests {
		t.Run(fmt.Sprint(tc.v), func(t *testing.T) {
			got, ok := dynamoNumber(tc.v)
			if got != tc.want || ok != tc.ok {
				t.Errorf("dynamoNumber(%v) = %q, %v; want %q, %v", tc.v, got, ok, tc.want, tc.ok)
			}
		})
	}
}

// TestWindowingChecked checks that a Store with a window size that does not divide a day fails its calls
// with a message that says what sizes work, before any I/O.
func TestWindowingChecked(t *testing.T) {
	s := New(nil, "aggregates", WithWindowing(analytics.Windowing{Size: 7 * time.Minute}))
	_, err := s.Apply(t.Context(), []event.Fact{{ID: "x", Type: "t", Time: time.Now()}})
	if err == nil || !strings.Contains(err.Error(), "divide a day") {
		t.Errorf("Apply = %v; want an error about the window size", err)
	}
	if _, err := s.Query(t.Context(), analytics.Query{}); err == nil || !strings.Contains(err.Error(), "divide a day") {
		t.Errorf("Query = %v; want an error about the window size", err)
	}
}
