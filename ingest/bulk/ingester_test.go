package bulk_test

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	bolt "go.etcd.io/bbolt"

	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/ingest/bulk"
	"github.com/serverless-data-platform/sdp/ingest/objects"
	"github.com/serverless-data-platform/sdp/stream/shardlog"
)

// sensor is a valid sensor_reading event with the id.
func sensor(id string) string {
	return `{"specversion":"1.0","id":"` + id + `","source":"urn:sdp:plant:hamburg:line-3","type":"sensor_reading",` +
		`"time":"2026-11-26T09:16:30Z","data":{"device_id":"device-ht-0042","metric":"temperature","value":21.7,"unit":"celsius"}}`
}

// invalidType is a well-formed event that its schema rejects (no data).
func invalidType(id string) string {
	return `{"specversion":"1.0","id":"` + id + `","source":"urn:x","type":"sensor_reading","time":"2026-11-26T09:16:30Z"}`
}

// countingLog is the local stream with a record of the PutRecords calls made to it.
type countingLog struct {
	*shardlog.Log
	mu    sync.Mutex
	sizes []int
	// refuse, when set, answers some calls instead of the log: it returns the results, or nil to pass.
	refuse func(call int, recs []event.Record) ([]event.PutResult, error)
}

// PutRecords records the call and passes it to the log unless refuse answers it.
func (c *countingLog) PutRecords(ctx context.Context, recs []event.Record) ([]event.PutResult, error) {
	c.mu.Lock()
	call := len(c.sizes)
	c.sizes = append(c.sizes, len(recs))
	refuse := c.refuse
	c.mu.Unlock()
	if refuse != nil {
		if res, err := refuse(call, recs); res != nil || err != nil {
			return res, err
		}
	}
	return c.Log.PutRecords(ctx, recs)
}

// calls returns the sizes of the calls made.
func (c *countingLog) calls() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.sizes)
}

// ids returns the ids of every record in the stream, in shard order.
func (c *countingLog) ids(t *testing.T) []string {
	t.Helper()
	var ids []string
	for _, sh := range c.ShardIDs() {
		recs, err := c.Read(context.Background(), sh, shardlog.Position{Type: shardlog.TrimHorizon}, 100000)
		if err != nil {
			t.Fatalf("reading shard %s: %v", sh, err)
		}
		for _, r := range recs {
			var v struct {
				ID string `json:"id"`
			}
			if err := json.Unmarshal(r.Data, &v); err != nil {
				t.Fatalf("record %s: %v", r.SequenceNumber, err)
			}
			ids = append(ids, v.ID)
		}
	}
	return ids
}

// newLog opens a local stream of 2 shards on a fresh database.
func newLog(t *testing.T) *countingLog {
	t.Helper()
	db, err := bolt.Open(filepath.Join(t.TempDir(), "sdp.db"), 0o600, &bolt.Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	l, err := shardlog.Open(db, shardlog.Options{StreamName: "events", Shards: 2})
	if err != nil {
		t.Fatal(err)
	}
	return &countingLog{Log: l}
}

// newIngester returns an Ingester over the registry's validator and p.
func newIngester(t *testing.T, p *countingLog, opts ...bulk.IngesterOption) *bulk.Ingester {
	t.Helper()
	reg, err := event.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	g, err := bulk.NewIngester(reg, p, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// writeObject writes content as the object key of a new folder store.
func writeObject(t *testing.T, key, content string, compress bool) (*objects.Folder, string) {
	t.Helper()
	dir := t.TempDir()
	if compress {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		_, _ = zw.Write([]byte(content))
		_ = zw.Close()
		content = b.String()
	}
	path := filepath.Join(dir, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return objects.NewFolder(dir), dir
}

// readErrors reads an errors object's lines.
func readErrors(t *testing.T, dir, key string) []bulk.ErrorLine {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(key)))
	if err != nil {
		t.Fatalf("the errors object: %v", err)
	}
	var lines []bulk.ErrorLine
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		var l bulk.ErrorLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("errors object line %q: %v", sc.Text(), err)
		}
		lines = append(lines, l)
	}
	return lines
}

// errorSummary renders error lines as "line:index:id:rule".
func errorSummary(lines []bulk.ErrorLine) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		rule := l.Reason
		if j := strings.LastIndexByte(rule, '('); j >= 0 {
			rule = strings.TrimSuffix(rule[j+1:], ")")
		}
		out[i] = fmt.Sprintf("%d:%d:%s:%s", l.Line, l.Index, l.ID, rule)
	}
	return out
}

// TestIngest ingests objects of each format with rejected lines into the local stream, and checks the
// stream's records, the result and the errors object.
func TestIngest(t *testing.T) {
	t.Parallel()
	ndjson := sensor("a1") + "\n\n{broken\n" + sensor("a2") + "\r\n" + invalidType("bad-1") + "\n" + sensor("a3") + "\n"
	array := "[\n" + sensor("a1") + ",\n{\"x\":},\n" + sensor("a2") + ",\n" + invalidType("bad-1") + ",\n" + sensor("a3") + "\n]\n"
	wantNDJSON := []string{"3:1::json", "5:3:bad-1:required"}
	wantArray := []string{"3:1::json", "5:3:bad-1:required"}
	tests := []struct {
		name       string
		key        string
		content    string
		gzip       bool
		wantErrors []string
	}{
		{"NDJSON", "in/2026/day.ndjson", ndjson, false, wantNDJSON},
		{"gzip NDJSON", "in/day.ndjson.gz", ndjson, true, wantNDJSON},
		{"JSON array", "in/day.json", array, false, wantArray},
		{"gzip JSON array named like NDJSON", "in/day.ndjson", array, true, wantArray},
		{"key with spaces", "in/my day.json", array, false, wantArray},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			store, dir := writeObject(t, tc.key, tc.content, tc.gzip)
			log := newLog(t)
			var progressBytes int64
			var progressEvents, progressRejected int
			g := newIngester(t, log, bulk.WithProgress(func(b int64, e, r int) {
				progressBytes += b
				progressEvents += e
				progressRejected += r
			}))
			res, err := g.Ingest(context.Background(), store, tc.key, bulk.Progress{}, time.Time{})
			if err != nil {
				t.Fatalf("Ingest: %v", err)
			}
			obj, _ := store.Stat(context.Background(), tc.key)
			want := bulk.Result{Done: true, Events: 5, Accepted: 3, Rejected: 2, Bytes: obj.Size,
				ErrorsKey: "errors/" + tc.key + ".ndjson"}
			got := res
			got.Next = bulk.Progress{}
			if got != want {
				t.Errorf("result = %+v, want %+v", got, want)
			}
			if res.Next.Index != 5 {
				t.Errorf("Next = %+v, want index 5", res.Next)
			}
			if progressBytes != obj.Size || progressEvents != 5 || progressRejected != 2 {
				t.Errorf("progress told %d bytes, %d events, %d rejected; want %d, 5, 2", progressBytes, progressEvents, progressRejected, obj.Size)
			}
			if ids := log.ids(t); !sameSet(ids, []string{"a1", "a2", "a3"}) {
				t.Errorf("the stream holds %q, want a1, a2, a3 once each", ids)
			}
			lines := readErrors(t, dir, res.ErrorsKey)
			if got := errorSummary(lines); !slices.Equal(got, tc.wantErrors) {
				t.Errorf("errors object:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.wantErrors, "\n"))
			}
			if len(lines) == 2 && (lines[1].Raw != invalidType("bad-1") || !strings.HasPrefix(lines[1].Reason, "/data: ")) {
				t.Errorf("second error line = %+v, want the raw event and a reason about /data", lines[1])
			}
		})
	}
}

// sameSet reports whether got holds each of want exactly once and nothing else.
func sameSet(got, want []string) bool {
	g, w := slices.Clone(got), slices.Clone(want)
	slices.Sort(g)
	slices.Sort(w)
	return slices.Equal(g, w)
}

// TestIngestResume ingests an object one PutRecords call per Ingest (the deadline has always passed),
// resuming from each Next, and checks that every valid event reaches the stream exactly once and every
// rejected line is in exactly one part's errors object, with its right line number.
func TestIngestResume(t *testing.T) {
	t.Parallel()
	const n = 1000
	var lines, want []string
	var wantErrors []string
	for i := range n {
		switch {
		case i%97 == 5:
			// Malformed, but its brackets balance, so that it keeps a JSON array readable.
			lines = append(lines, `{"not": json}`)
			wantErrors = append(wantErrors, fmt.Sprintf("%d:%d::json", 2*i+1, i))
		case i%101 == 7:
			lines = append(lines, invalidType(fmt.Sprintf("bad-%d", i)))
			wantErrors = append(wantErrors, fmt.Sprintf("%d:%d:bad-%d:required", 2*i+1, i, i))
		default:
			id := fmt.Sprintf("ev-%04d", i)
			lines = append(lines, sensor(id))
			want = append(want, id)
		}
	}
	// Every event is followed by an empty line, so line numbers are 2*i+1.
	ndjson := strings.Join(lines, "\n\n") + "\n"
	array := "[" + strings.Join(lines, ",\n\n") + "]\n"
	tests := []struct {
		name    string
		content string
		gzip    bool
	}{
		{"NDJSON read by ranges", ndjson, false},
		{"gzip NDJSON read with skips", ndjson, true},
		{"JSON array read with skips", array, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			const key = "big/events.ndjson"
			store, dir := writeObject(t, key, tc.content, tc.gzip)
			log := newLog(t)
			g := newIngester(t, log, bulk.WithBatchSize(100))
			past := time.Unix(1, 0)
			var from bulk.Progress
			var gotErrors []string
			accepted, rejected, calls := 0, 0, 0
			for {
				calls++
				if calls > 50 {
					t.Fatalf("not done after %d calls, at %+v", calls, from)
				}
				res, err := g.Ingest(context.Background(), store, key, from, past)
				if err != nil {
					t.Fatalf("Ingest from %+v: %v", from, err)
				}
				accepted += res.Accepted
				rejected += res.Rejected
				if res.ErrorsKey != "" {
					if wantKey := fmt.Sprintf("errors/%s.part-%d.ndjson", key, from.Part+1); res.ErrorsKey != wantKey {
						t.Errorf("errors key %q, want %q", res.ErrorsKey, wantKey)
					}
					gotErrors = append(gotErrors, errorSummary(readErrors(t, dir, res.ErrorsKey))...)
				}
				if res.Done {
					break
				}
				if res.Next.Index <= from.Index || res.Next.Part != from.Part+1 {
					t.Fatalf("no progress: from %+v to %+v", from, res.Next)
				}
				from = res.Next
			}
			if calls < n/100 {
				t.Errorf("done in %d calls, want one per PutRecords call (at least %d)", calls, n/100)
			}
			if ids := log.ids(t); !sameSet(ids, want) {
				t.Errorf("the stream holds %d records, want the %d valid events exactly once", len(ids), len(want))
			}
			if accepted != len(want) || rejected != len(wantErrors) {
				t.Errorf("accepted %d, rejected %d; want %d and %d", accepted, rejected, len(want), len(wantErrors))
			}
			if !slices.Equal(gotErrors, wantErrors) {
				t.Errorf("errors objects:\n%s\nwant:\n%s", strings.Join(gotErrors, "\n"), strings.Join(wantErrors, "\n"))
			}
			for _, size := range log.calls() {
				if size > 100 {
					t.Errorf("a PutRecords call of %d records, want at most 100", size)
				}
			}
		})
	}
}

// TestIngestCalls checks the per-call limits, the rate hook, the retries of refused records and the
// errors of a stream that keeps refusing.
func TestIngestCalls(t *testing.T) {
	t.Parallel()
	var content strings.Builder
	var ids []string
	for i := range 25 {
		id := fmt.Sprintf("ev-%02d", i)
		ids = append(ids, id)
		content.WriteString(sensor(id) + "\n")
	}
	eventBytes := len(sensor("ev-00")) + len("ev-00")
	throttled := func(call int, recs []event.Record) ([]event.PutResult, error) {
		if call%2 == 1 {
			return nil, nil
		}
		// Even calls: refuse every other record as throttled.
		res := make([]event.PutResult, len(recs))
		for i := range res {
			if i%2 == 0 {
				res[i] = event.PutResult{ErrorCode: event.ErrCodeThroughputExceeded, ErrorMessage: "slow down"}
			} else {
				res[i] = event.PutResult{ShardID: "shardId-000000000000", SequenceNumber: "1"}
			}
		}
		return res, nil
	}
	tests := []struct {
		name      string
		opts      []bulk.IngesterOption
		refuse    func(int, []event.Record) ([]event.PutResult, error)
		wantCalls []int
		wantErr   string
		wantIDs   int // records in the stream (the refused records answered by refuse never reach it)
	}{
		{
			name: "batch size", opts: []bulk.IngesterOption{bulk.WithBatchSize(10)},
			wantCalls: []int{10, 10, 5}, wantIDs: 25,
		},
		{
			name: "bytes per call", opts: []bulk.IngesterOption{bulk.WithMaxBytesPerCall(4 * eventBytes)},
			wantCalls: []int{4, 4, 4, 4, 4, 4, 1}, wantIDs: 25,
		},
		{
			name: "throttled records are sent again", opts: []bulk.IngesterOption{bulk.WithBatchSize(10)},
			refuse: throttled,
			// Each batch: its refused half (the other half was "taken" by the fake), then the rest.
			wantCalls: []int{10, 5, 10, 5, 5, 3}, wantIDs: 5 + 5 + 3,
		},
		{
			name: "a stream that keeps failing", opts: []bulk.IngesterOption{bulk.WithBatchSize(10)},
			refuse: func(int, []event.Record) ([]event.PutResult, error) {
				return nil, errors.New("connection refused")
			},
			wantCalls: []int{10, 10, 10}, wantErr: "connection refused",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			store, _ := writeObject(t, "o.ndjson", content.String(), false)
			log := newLog(t)
			log.refuse = tc.refuse
			var waited []int
			opts := append([]bulk.IngesterOption{
				bulk.WithBackOff(func() backoff.BackOff { return backoff.WithMaxRetries(&backoff.ZeroBackOff{}, 2) }),
				bulk.WithRateLimit(func(_ context.Context, n int) error { waited = append(waited, n); return nil }),
			}, tc.opts...)
			g := newIngester(t, log, opts...)
			res, err := g.Ingest(context.Background(), store, "o.ndjson", bulk.Progress{}, time.Time{})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("Ingest error = %v, want one containing %q", err, tc.wantErr)
				}
				if res.Done || res.Next.Index != 0 || res.Next.Offset != 0 || res.Accepted != 0 {
					t.Errorf("result = %+v, want not done, Next at the start, nothing accepted", res)
				}
			} else if err != nil {
				t.Fatalf("Ingest: %v", err)
			} else if !res.Done || res.Accepted != 25 {
				t.Errorf("result = %+v, want done with 25 accepted", res)
			}
			if got := log.calls(); !slices.Equal(got, tc.wantCalls) {
				t.Errorf("PutRecords calls of %v records, want %v", got, tc.wantCalls)
			}
			if got := len(log.ids(t)); got != tc.wantIDs {
				t.Errorf("the stream holds %d records, want %d", got, tc.wantIDs)
			}
			if tc.wantErr == "" && sumInts(waited) != 25 {
				t.Errorf("the rate hook was asked for %v records, want 25 in all", waited)
			}
			_ = ids
		})
	}
}

// sumInts adds up xs.
func sumInts(xs []int) int {
	s := 0
	for _, x := range xs {
		s += x
	}
	return s
}

// TestIngestBroken checks objects that break in the middle: the events before the break are ingested, and
// the break is reported as an error and in the errors object.
func TestIngestBroken(t *testing.T) {
	t.Parallel()
	var b bytes.Buffer
	zw := gzip.NewWriter(&b)
	for i := range 3000 {
		fmt.Fprintln(zw, sensor(fmt.Sprintf("ev-%04d", i)))
	}
	_ = zw.Close()
	cut := b.String()[:b.Len()/2]
	tests := []struct {
		name, content string
		wantErr       string
		minAccepted   int
	}{
		{"truncated gzip", cut, "the gzip stream is cut short", 100},
		{"array not closed", "[" + sensor("a1") + "," + sensor("a2"), "the array is not closed", 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			store, dir := writeObject(t, "broken", tc.content, false)
			log := newLog(t)
			res, err := newIngester(t, log).Ingest(context.Background(), store, "broken", bulk.Progress{}, time.Time{})
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Ingest error = %v, want one containing %q", err, tc.wantErr)
			}
			if res.Done || res.Accepted < tc.minAccepted || len(log.ids(t)) != res.Accepted {
				t.Errorf("result = %+v with %d records in the stream, want not done and at least %d accepted", res, len(log.ids(t)), tc.minAccepted)
			}
			lines := readErrors(t, dir, res.ErrorsKey)
			if len(lines) != 1 || !strings.Contains(lines[0].Reason, tc.wantErr) {
				t.Errorf("errors object = %+v, want one line about the break", lines)
			}
		})
	}
}

// TestIngestEmpty checks an empty object and a resume past the end of an object.
func TestIngestEmpty(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		content string
		from    bulk.Progress
	}{
		{"empty object", "", bulk.Progress{}},
		{"only blank lines", "\n \n\r\n", bulk.Progress{}},
		{"resume at the end", sensor("a1") + "\n", bulk.Progress{Offset: int64(len(sensor("a1")) + 1), Index: 1, Part: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			store, _ := writeObject(t, "o", tc.content, false)
			log := newLog(t)
			res, err := newIngester(t, log).Ingest(context.Background(), store, "o", tc.from, time.Time{})
			if err != nil {
				t.Fatalf("Ingest: %v", err)
			}
			if !res.Done || res.Events != 0 || res.ErrorsKey != "" || len(log.calls()) != 0 {
				t.Errorf("result = %+v after %d calls, want done with nothing read", res, len(log.calls()))
			}
		})
	}
}
