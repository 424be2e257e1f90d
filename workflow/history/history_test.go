package history_test

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/serverless-data-platform/sdp/workflow/asl"
	"github.com/serverless-data-platform/sdp/workflow/history"
)

func openStore(t *testing.T, keep int) *history.Local {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "h.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s, err := history.OpenLocal(db, keep)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var t0 = time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)

// record returns the record of execution i, started i seconds after t0.
func record(i int, status asl.Status) *history.Record {
	name := fmt.Sprintf("exec-%03d", i)
	res := &asl.Result{
		ExecutionARN: "arn:aws:states:us-east-1:000000000000:express:Workflow:" + name + ":uuid-" + name,
		Name:         name, Status: status,
		Input:     []byte(fmt.Sprintf(`{"batchId":"batch-%d","items":[]}`, i%3)),
		Output:    []byte(`{"processed":0,"failed":[]}`),
		StartDate: t0.Add(time.Duration(i) * time.Second), StopDate: t0.Add(time.Duration(i)*time.Second + 15*time.Millisecond),
	}
	return history.NewRecord(res, []asl.HistoryEvent{
		{ID: 1, Type: "ExecutionStarted", Timestamp: res.StartDate},
		{ID: 2, PreviousID: 1, Type: "PassStateEntered", State: "Done", Timestamp: res.StartDate},
	})
}

// TestLocalSaveListGet checks that records come back whole by name and by ARN, that listings are newest
// first, filtered, without data, and that a missing execution is ErrNotFound.
func TestLocalSaveListGet(t *testing.T) {
	s := openStore(t, 0)
	for i := range 6 {
		status := asl.StatusSucceeded
		if i == 4 {
			status = asl.StatusFailed
		}
		if err := s.Save(record(i, status)); err != nil {
			t.Fatal(err)
		}
	}
	all, total, err := s.List(history.Filter{})
	if err != nil || total != 6 || len(all) != 6 || all[0].Name != "exec-005" || all[5].Name != "exec-000" {
		t.Fatalf("List = %d records (total %d, %v); want 6, newest first", len(all), total, err)
	}
	if all[0].Input != nil || all[0].Events != nil || all[0].BatchID != "batch-2" {
		t.Errorf("summary = %+v; want no data, the batch id", all[0])
	}
	failed, _, _ := s.List(history.Filter{Status: asl.StatusFailed})
	if len(failed) != 1 || failed[0].Name != "exec-004" {
		t.Errorf("failed = %+v", failed)
	}
	batch, _, _ := s.List(history.Filter{BatchID: "batch-1", Limit: 1})
	if len(batch) != 1 || batch[0].Name != "exec-004" {
		t.Errorf("batch-1 limit 1 = %+v; want exec-004", batch)
	}
	want := record(3, asl.StatusSucceeded)
	for _, key := range []string{want.Name, want.ExecutionARN} {
		got, err := s.Get(key)
		if err != nil || string(got.Input) != string(want.Input) || len(got.Events) != 2 || got.Events[1].State != "Done" ||
			!got.StartDate.Equal(want.StartDate) || got.Duration() != 15*time.Millisecond {
			t.Errorf("Get(%s) = %+v, %v", key, got, err)
		}
	}
	if _, err := s.Get("nope"); !errors.Is(err, history.ErrNotFound) {
		t.Errorf("Get(nope) = %v; want ErrNotFound", err)
	}
}

// TestLocalKeepsNewest checks the bound: the oldest records go, with their names and ARNs.
func TestLocalKeepsNewest(t *testing.T) {
	s := openStore(t, 3)
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			if err := s.Save(record(i, asl.StatusSucceeded)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	recs, total, err := s.List(history.Filter{})
	if err != nil || total != 3 || len(recs) != 3 {
		t.Fatalf("List = %d (total %d, %v); want 3", len(recs), total, err)
	}
	for i, r := range recs {
		if want := fmt.Sprintf("exec-%03d", 9-i); r.Name != want {
			t.Errorf("record %d = %s; want %s", i, r.Name, want)
		}
	}
	old := record(0, asl.StatusSucceeded)
	for _, key := range []string{old.Name, old.ExecutionARN} {
		if _, err := s.Get(key); !errors.Is(err, history.ErrNotFound) {
			t.Errorf("Get(%s) of a dropped record = %v; want ErrNotFound", key, err)
		}
	}
	// Saving the same execution again replaces it rather than adding one.
	if err := s.Save(record(9, asl.StatusSucceeded)); err != nil {
		t.Fatal(err)
	}
	if _, total, _ := s.List(history.Filter{}); total != 3 {
		t.Errorf("total after saving a record again = %d; want 3", total)
	}
}

// TestCollector checks that the observer keeps events in ID order, without data.
func TestCollector(t *testing.T) {
	var c history.Collector
	if c.IncludeData() {
		t.Error("the collector asks for state data; records keep only the execution's input and output")
	}
	c.Event("arn", asl.HistoryEvent{ID: 3, Type: "B"})
	c.Event("arn", asl.HistoryEvent{ID: 1, Type: "A"})
	c.Event("arn", asl.HistoryEvent{ID: 2, Type: "M"})
	evs := c.Events()
	if len(evs) != 3 || evs[0].Type != "A" || evs[1].Type != "M" || evs[2].Type != "B" {
		t.Errorf("events = %+v; want ID order", evs)
	}
}

// TestLocalRecent checks the in-memory timings of the newest executions: newest first, bounded by n and
// by RecentTimings, with each execution's status and duration.
func TestLocalRecent(t *testing.T) {
	tests := []struct {
		name  string
		saved int
		n     int
		// wantFirst and wantLast are the indexes of the first and last execution returned.
		want, wantFirst, wantLast int
	}{
		{name: "none saved", saved: 0, n: 10, want: 0},
		{name: "fewer than asked", saved: 3, n: 10, want: 3, wantFirst: 2, wantLast: 0},
		{name: "bounded by n", saved: 20, n: 5, want: 5, wantFirst: 19, wantLast: 15},
		{name: "negative n", saved: 3, n: -1, want: 0},
		{name: "the ring wraps", saved: history.RecentTimings + 7, n: history.RecentTimings + 100,
			want: history.RecentTimings, wantFirst: history.RecentTimings + 6, wantLast: 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Saved one by one, each in its own commit: the database skips fsync to keep this fast.
			db, err := bolt.Open(filepath.Join(t.TempDir(), "h.db"), 0o600, &bolt.Options{Timeout: time.Second, NoSync: true})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
			db.MaxBatchDelay = time.Microsecond
			s, err := history.OpenLocal(db, tt.saved+1)
			if err != nil {
				t.Fatal(err)
			}
			for i := range tt.saved {
				status := asl.StatusSucceeded
				if i%5 == 1 {
					status = asl.StatusFailed
				}
				if err := s.Save(record(i, status)); err != nil {
					t.Fatal(err)
				}
			}
			got := s.Recent(tt.n)
			if len(got) != tt.want {
				t.Fatalf("Recent(%d) returned %d timings, want %d", tt.n, len(got), tt.want)
			}
			if tt.want == 0 {
				return
			}
			for k, i := range map[int]int{0: tt.wantFirst, len(got) - 1: tt.wantLast} {
				if g := got[k]; g.Name != fmt.Sprintf("exec-%03d", i) || g.Duration() != 15*time.Millisecond {
					t.Errorf("timing %d = %+v, want exec-%03d of 15ms", k, g, i)
				}
			}
			for k := 1; k < len(got); k++ {
				if !got[k-1].StartDate.After(got[k].StartDate) {
					t.Fatalf("timings %d and %d are not newest first: %v, %v", k-1, k, got[k-1].StartDate, got[k].StartDate)
				}
			}
			for _, g := range got {
				var i int
				if _, err := fmt.Sscanf(g.Name, "exec-%d", &i); err != nil {
					t.Fatal(err)
				}
				if want := map[bool]asl.Status{true: asl.StatusFailed, false: asl.StatusSucceeded}[i%5 == 1]; g.Status != want {
					t.Errorf("%s: status %s, want %s", g.Name, g.Status, want)
				}
			}
		})
	}
}
