// Package history keeps the record of each workflow execution of local mode, for audit and replay: its
// input, output, status, and each state's entry and exit with timestamps and errors — what Step Functions
// logs of an Express execution at log level ALL.
//
// Records live in the local stack's bbolt database, newest first, bounded in number: the oldest are dropped
// once there are more than the store keeps.
package history

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/segmentio/encoding/json"
	bolt "go.etcd.io/bbolt"

	"github.com/serverless-data-platform/sdp/workflow/asl"
)

// Record is one execution: its outcome, its data and its history.
type Record struct {
	ExecutionARN string     `json:"executionArn"`
	Name         string     `json:"name"`
	Status       asl.Status `json:"status"`
	// BatchID is the batch the execution processed, when its input is a batch.
	BatchID   string    `json:"batchId,omitempty"`
	StartDate time.Time `json:"startDate"`
	StopDate  time.Time `json:"stopDate"`
	Error     string    `json:"error,omitempty"`
	Cause     string    `json:"cause,omitempty"`
	// ReplayOf names the execution this one replayed, if it is a replay.
	ReplayOf string          `json:"replayOf,omitempty"`
	Input    json.RawMessage `json:"input,omitempty"`
	Output   json.RawMessage `json:"output,omitempty"`
	// Events is the execution's history in event order.
	Events []asl.HistoryEvent `json:"events,omitempty"`
}

// NewRecord returns the record of the execution that ended with res and had the history events.
func NewRecord(res *asl.Result, events []asl.HistoryEvent) *Record {
	r := &Record{
		ExecutionARN: res.ExecutionARN,
		Name:         res.Name,
		Status:       res.Status,
		StartDate:    res.StartDate,
		StopDate:     res.StopDate,
		Error:        res.Error,
		Cause:        res.Cause,
		Input:        res.Input,
		Output:       res.Output,
		Events:       events,
	}
	// The batch id is read from the output when there is one (a few hundred bytes for a batch result) rather
	// than from the input (the whole batch), which a failed execution leaves as the only place to look.
	var b struct {
		BatchID string `json:"batchId"`
	}
	if len(res.Output) > 0 && json.Unmarshal(res.Output, &b) == nil && b.BatchID != "" {
		r.BatchID = b.BatchID
	} else if json.Unmarshal(res.Input, &b) == nil {
		r.BatchID = b.BatchID
	}
	return r
}

// Summary returns the record without its data and history, as listings show it.
func (r *Record) Summary() Record {
	s := *r
	s.Input, s.Output, s.Events = nil, nil, nil
	return s
}

// Duration is how long the execution ran.
func (r *Record) Duration() time.Duration { return r.StopDate.Sub(r.StartDate) }

// Collector is the asl.Observer of one execution: it keeps the history events, without their data (the
// record keeps the execution's input and output). It is safe for concurrent use.
type Collector struct {
	mu     sync.Mutex
	events []asl.HistoryEvent
}

var _ asl.Observer = (*Collector)(nil)

// IncludeData returns false: state data is not recorded, only the execution's input and output.
func (c *Collector) IncludeData() bool { return false }

// Event keeps ev.
func (c *Collector) Event(_ string, ev asl.HistoryEvent) {
	c.mu.Lock()
	c.events = append(c.events, ev)
	c.mu.Unlock()
}

// Events returns the events kept, in ID order.
func (c *Collector) Events() []asl.HistoryEvent {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := slices.Clone(c.events)
	slices.SortStableFunc(out, func(a, b asl.HistoryEvent) int { return int(a.ID - b.ID) })
	return out
}

// ErrNotFound is wrapped by the error about an execution the store does not have.
var ErrNotFound = errors.New("execution not found")

// DefaultKeep is how many executions a Local keeps by default.
const DefaultKeep = 2000

// Buckets of the local store: records by key (start time, then name), and the key of each name and ARN.
var (
	recordsBucket = []byte("executions")
	indexBucket   = []byte("execution-index")
	countKey      = []byte("\x00count")
)

// Local is the store of execution records in local mode. It is safe for concurrent use.
type Local struct {
	db   *bolt.DB
	keep int

	// recent holds the timings of the newest executions saved since the store was opened, a ring of
	// RecentTimings entries whose next slot is next.
	mu     sync.Mutex
	recent []Timing
	next   int
}

// RecentTimings is how many timings of the newest executions a Local keeps in memory for Recent.
const RecentTimings = 512

// Timing is when one execution started and stopped, and how it ended.
type Timing struct {
	Name      string     `json:"name"`
	Status    asl.Status `json:"status"`
	StartDate time.Time  `json:"startDate"`
	StopDate  time.Time  `json:"stopDate"`
}

// Duration is how long the execution ran.
func (t Timing) Duration() time.Duration { return t.StopDate.Sub(t.StartDate) }

// OpenLocal returns the store on db (shared with the rest of the local stack), creating its buckets. It keeps
// the newest keep records (DefaultKeep when keep <= 0).
func OpenLocal(db *bolt.DB, keep int) (*Local, error) {
	if keep <= 0 {
		keep = DefaultKeep
	}
	err := db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{recordsBucket, indexBucket} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("history: create buckets: %w", err)
	}
	return &Local{db: db, keep: keep, recent: make([]Timing, 0, RecentTimings)}, nil
}

// recordKey orders records by start time, then name.
func recordKey(r *Record) []byte {
	k := make([]byte, 8, 8+len(r.Name))
	binary.BigEndian.PutUint64(k, uint64(r.StartDate.UnixNano()))
	return append(k, r.Name...)
}

// Save stores r (replacing a record of the same name and start) and drops the oldest records beyond the
// store's bound. Concurrent calls are written in one transaction where they can be.
func (l *Local) Save(r *Record) error {
	if r.Name == "" || r.ExecutionARN == "" {
		return fmt.Errorf("history: save: the record has no name or ARN")
	}
	v, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("history: save %q: encode: %w", r.Name, err)
	}
	k := recordKey(r)
	err = l.db.Batch(func(tx *bolt.Tx) error {
		recs, idx := tx.Bucket(recordsBucket), tx.Bucket(indexBucket)
		n := count(idx)
		if recs.Get(k) == nil {
			n++
		}
		if err := recs.Put(k, v); err != nil {
			return err
		}
		if err := idx.Put([]byte(r.Name), k); err != nil {
			return err
		}
		if err := idx.Put([]byte(r.ExecutionARN), k); err != nil {
			return err
		}
		// Drop the oldest beyond the bound, with their index entries.
		c := recs.Cursor()
		for ck, cv := c.First(); ck != nil && n > uint64(l.keep); ck, cv = c.First() {
			var old Record
			if json.Unmarshal(cv, &old) == nil {
				idx.Delete([]byte(old.Name))
				idx.Delete([]byte(old.ExecutionARN))
			}
			if err := c.Delete(); err != nil {
				return err
			}
			n--
		}
		return idx.Put(countKey, binary.BigEndian.AppendUint64(nil, n))
	})
	if err != nil {
		return fmt.Errorf("history: save %q: %w", r.Name, err)
	}
	l.remember(Timing{Name: r.Name, Status: r.Status, StartDate: r.StartDate, StopDate: r.StopDate})
	return nil
}

// remember adds t to the ring of recent timings, over the oldest once it is full.
func (l *Local) remember(t Timing) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.recent) < RecentTimings {
		l.recent = append(l.recent, t)
		return
	}
	l.recent[l.next] = t
	l.next = (l.next + 1) % RecentTimings
}

// Recent returns the timings of up to n of the newest executions saved since the store was opened (at
// most RecentTimings), newest saved first. It reads memory only, so it is cheap enough to call every
// second; executions recorded by an earlier process are not in it (List reads those).
func (l *Local) Recent(n int) []Timing {
	l.mu.Lock()
	defer l.mu.Unlock()
	n = min(max(n, 0), len(l.recent))
	out := make([]Timing, 0, n)
	// The newest entry is just before next (or last, while the ring fills).
	newest := len(l.recent) - 1
	if len(l.recent) == RecentTimings {
		newest = (l.next - 1 + RecentTimings) % RecentTimings
	}
	for i := range n {
		out = append(out, l.recent[(newest-i+len(l.recent))%len(l.recent)])
	}
	return out
}

// count reads the number of records.
func count(idx *bolt.Bucket) uint64 {
	if v := idx.Get(countKey); len(v) == 8 {
		return binary.BigEndian.Uint64(v)
	}
	return 0
}

// Filter selects records to list. Its zero value selects all.
type Filter struct {
	// Status keeps the records of that status only.
	Status asl.Status
	// BatchID keeps the records of executions of that batch only.
	BatchID string
	// Limit bounds the records returned (0: no bound).
	Limit int
}

// List returns the records that pass f, newest first, as summaries (without data and history), and how many
// records the store holds in all.
func (l *Local) List(f Filter) ([]Record, int, error) {
	var out []Record
	var total int
	err := l.db.View(func(tx *bolt.Tx) error {
		total = int(count(tx.Bucket(indexBucket)))
		c := tx.Bucket(recordsBucket).Cursor()
		for k, v := c.Last(); k != nil; k, v = c.Prev() {
			var r Record
			if err := json.Unmarshal(v, &r); err != nil {
				return fmt.Errorf("decode record %x: %w", k, err)
			}
			if (f.Status != "" && r.Status != f.Status) || (f.BatchID != "" && r.BatchID != f.BatchID) {
				continue
			}
			out = append(out, r.Summary())
			if f.Limit > 0 && len(out) == f.Limit {
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, 0, fmt.Errorf("history: list: %w", err)
	}
	return out, total, nil
}

// Get returns the whole record of the execution named by its name or ARN; ErrNotFound if there is none.
func (l *Local) Get(nameOrARN string) (*Record, error) {
	var r *Record
	err := l.db.View(func(tx *bolt.Tx) error {
		k := tx.Bucket(indexBucket).Get([]byte(strings.TrimSpace(nameOrARN)))
		if k == nil {
			return nil
		}
		v := tx.Bucket(recordsBucket).Get(k)
		if v == nil {
			return nil
		}
		r = new(Record)
		return json.Unmarshal(v, r)
	})
	if err != nil {
		return nil, fmt.Errorf("history: get %q: %w", nameOrARN, err)
	}
	if r == nil {
		return nil, fmt.Errorf("history: %q: %w", nameOrARN, ErrNotFound)
	}
	return r, nil
}
