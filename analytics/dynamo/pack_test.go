package dynamo

import (
	"fmt"
	"testing"
	"time"

	"github.com/serverless-data-platform/sdp/event"
)

// TestPack checks that transactions hold at most 100 actions (one per fact, one per window), that no window
// appears twice in one, and that every fact is in exactly one.
func TestPack(t *testing.T) {
	base := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		windows []int // facts per window
		wantTxs int
	}{
		{"one small window", []int{3}, 1},
		{"99 facts fill one", []int{99}, 1},
		{"100 facts need two", []int{100}, 2},
		{"two windows of 49", []int{49, 49}, 1},
		{"two windows of 50", []int{50, 50}, 2},
		{"a window of 250", []int{250}, 3},
		{"100 windows of one", make100(1), 2},
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
			txs := pack(groupFacts(facts))
			if len(txs) != tc.wantTxs {
				t.Errorf("%d transactions; want %d", len(txs), tc.wantTxs)
			}
			seen := map[string]int{}
			for i, tx := range txs {
				actions, windows := 0, map[string]bool{}
				for _, g := range tx {
					if windows[g.pk+g.sk] {
						t.Errorf("transaction %d holds window %s twice", i, g.sk)
					}
					windows[g.pk+g.sk] = true
					actions += len(g.facts) + 1
					for _, f := range g.facts {
						seen[f.ID]++
					}
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
		})
	}
}

// make100 returns 100 windows of n facts.
func make100(n int) []int {
	out := make([]int, 100)
	for i := range out {
		out[i] = n
	}
	return out
}

// TestKeys checks that window sort keys sort by time, before 1970 included, and read back.
func TestKeys(t *testing.T) {
	times := []time.Time{
		time.Date(1900, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 0, 0, time.UTC),
		time.Unix(0, 0).UTC(),
		time.Date(2026, 11, 26, 9, 15, 0, 0, time.UTC),
		time.Date(2026, 11, 26, 9, 16, 0, 0, time.UTC),
	}
	for i, ts := range times {
		got, err := parseSK(windowSK(ts.Add(30 * time.Second)))
		if err != nil || !got.Equal(ts) {
			t.Errorf("parseSK(windowSK(%v)) = %v, %v", ts, got, err)
		}
		if i > 0 && windowSK(times[i-1]) >= windowSK(ts) {
			t.Errorf("windowSK(%v) does not sort before windowSK(%v)", times[i-1], ts)
		}
	}
	if windowPK("a#b", "c") == windowPK("a", "b#c") {
		t.Error("window partition keys of different types and sources collide")
	}
}
