package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awskinesis "github.com/aws/aws-sdk-go-v2/service/kinesis"
	ktypes "github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/ingest"
	"github.com/serverless-data-platform/sdp/internal/emulator"
)

// updateGolden rewrites the golden files of the backfill summary.
var updateGolden = flag.Bool("update", false, "rewrite testdata/backfill/*.golden")

// bfEvent returns a valid page_view event with the id, on one line.
func bfEvent(t testing.TB, id string) string {
	t.Helper()
	body, _ := sampleIDs(t)
	var evs []map[string]any
	if err := json.Unmarshal(body, &evs); err != nil {
		t.Fatal(err)
	}
	ev := evs[0]
	ev["id"] = id
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// bfInvalid is an event of an unknown type: valid JSON that validation rejects.
func bfInvalid(id string) string {
	return `{"specversion":"1.0","id":"` + id + `","source":"s","type":"nope","time":"2026-11-26T00:00:00Z","data":{}}`
}

// bfFolder writes the backfill test objects into a new folder: NDJSON, a pretty-printed JSON array and
// gzip NDJSON, each with bad lines. It returns the folder, the good ids and the bad lines as "key:line".
func bfFolder(t *testing.T, prefix string) (string, []string, []string) {
	t.Helper()
	dir := t.TempDir()
	var good []string
	id := func(obj string, n int) string {
		s := fmt.Sprintf("%s-%s-%d", prefix, obj, n)
		good = append(good, s)
		return s
	}
	// a.ndjson: line 3 is not JSON, line 5 is an unknown type, line 6 is empty.
	a := strings.Join([]string{bfEvent(t, id("a", 1)), bfEvent(t, id("a", 2)), `{"id": broken`,
		bfEvent(t, id("a", 3)), bfInvalid(prefix + "-a-bad"), "", bfEvent(t, id("a", 4))}, "\n") + "\n"
	// b.json: a pretty-printed array; its third element (on line 5, after an empty line) is invalid.
	b := "[\n  " + bfEvent(t, id("b", 1)) + ",\n  " + bfEvent(t, id("b", 2)) + ",\n\n  " + bfInvalid(prefix+"-b-bad") +
		",\n  " + strings.Replace(bfEvent(t, id("b", 3)), `,"`, ",\n    \"", 3) + "\n]\n"
	// sub/c.ndjson.gz: line 2 is an unknown type.
	c := bfEvent(t, id("c", 1)) + "\n" + bfInvalid(prefix+"-c-bad") + "\n" + bfEvent(t, id("c", 2)) + "\n"
	var zc bytes.Buffer
	zw := gzip.NewWriter(&zc)
	zw.Write([]byte(c))
	zw.Close()
	for name, data := range map[string][]byte{"a.ndjson": []byte(a), "b.json": []byte(b), "sub/c.ndjson.gz": zc.Bytes()} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, good, []string{"a.ndjson:3", "a.ndjson:5", "b.json:5", "sub/c.ndjson.gz:2"}
}

// apiCounter sits in front of an ingest API and counts the requests and the events (lines) posted.
type apiCounter struct {
	mu       sync.Mutex
	requests int
	events   int
	ids      map[string]int
}

// handler returns the counting handler in front of next.
func (c *apiCounter) handler(t *testing.T, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("reading a request: %v", err)
		}
		plain := body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(bytes.NewReader(body))
			if err == nil {
				plain, err = io.ReadAll(zr)
			}
			if err != nil {
				t.Errorf("a gzip request does not decode: %v", err)
			}
		}
		c.mu.Lock()
		c.requests++
		if c.ids == nil {
			c.ids = map[string]int{}
		}
		for line := range bytes.Lines(plain) {
			c.events++
			c.ids[event.ReadID(line)]++
		}
		c.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}

// counts returns the requests and events seen.
func (c *apiCounter) counts() (int, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.requests, c.events
}

// countedStack starts a local stack behind a counting proxy and returns the proxy's URL and the stack's.
func countedStack(t *testing.T) (string, string, *apiCounter) {
	t.Helper()
	base, _ := startStack(t, stackConfig{})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	c := &apiCounter{}
	srv := httptest.NewServer(c.handler(t, httputil.NewSingleHostReverseProxy(u)))
	t.Cleanup(srv.Close)
	return srv.URL, base, c
}

// runBackfill runs `sdp backfill` with args and returns the exit code, the JSON summary (when --output json
// was asked) and both outputs.
func runBackfill(t *testing.T, ctx context.Context, args ...string) (int, backfillSummary, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(ctx, append([]string{"backfill"}, args...), &out, &errOut)
	var sum backfillSummary
	if strings.Contains(strings.Join(args, " "), "--output json") && out.Len() > 0 {
		if err := json.Unmarshal(out.Bytes(), &sum); err != nil {
			t.Fatalf("the summary is not JSON (%v): %s", err, out.String())
		}
	}
	return code, sum, out.String(), errOut.String()
}

// readRejects reads an errors file as "key:line" strings, sorted.
func readRejects(t *testing.T, name string) []string {
	t.Helper()
	f, err := os.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var got []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r bfReject
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil || r.Reason == "" {
			t.Fatalf("errors file line %q: %v (or no reason)", sc.Text(), err)
		}
		got = append(got, fmt.Sprintf("%s:%d", r.Key, r.Line))
	}
	sort.Strings(got)
	return got
}

// TestBackfillFolder backfills a folder into a running stack: every good event is curated, every bad line is
// reported with its object and line; a rerun sends nothing. The summaries are the golden files.
func TestBackfillFolder(t *testing.T) {
	api, base, counter := countedStack(t)
	dir, good, bad := bfFolder(t, "fold")
	state := t.TempDir()
	manifest, errs := filepath.Join(state, "m.jsonl"), filepath.Join(state, "e.jsonl")
	args := []string{"--endpoint-url", api, "--output", "json", "--manifest", manifest, "--errors", errs, "--batch", "2", dir}

	// Batches of 2 make each object several requests, and a retry-free run against the real stack.
	code, sum, out, errOut := runBackfill(t, context.Background(), args...)
	if code != 0 {
		t.Fatalf("exit %d: %s %s", code, out, errOut)
	}
	want := bfObjectCounts{Total: 3, Done: 3}
	if sum.Objects != want || sum.Events != int64(len(good)+len(bad)) || sum.Accepted != int64(len(good)) || sum.Rejected != int64(len(bad)) {
		t.Fatalf("summary %+v, want objects %+v, %d events, %d accepted, %d rejected", sum, want, len(good)+len(bad), len(good), len(bad))
	}
	if got := readRejects(t, errs); strings.Join(got, " ") != strings.Join(bad, " ") {
		t.Errorf("rejected lines %v, want %v", got, bad)
	}
	for _, id := range good {
		eventually(t, 10*time.Second, "event "+id+" curated", func() bool {
			return getJSON(t, base+"/v1/events/"+id, nil) == http.StatusOK
		})
	}
	// The bytes counted are the objects' sizes as stored (the gzip one compressed).
	var size int64
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if fi, e := d.Info(); err == nil && e == nil && !d.IsDir() {
			size += fi.Size()
		}
		return nil
	})
	if sum.Bytes != size {
		t.Errorf("%d bytes read, the objects have %d", sum.Bytes, size)
	}
	checkGolden(t, sum, state)

	// The rerun skips every object and posts nothing.
	reqs, _ := counter.counts()
	code, sum, out, errOut = runBackfill(t, context.Background(), args...)
	if again, _ := counter.counts(); code != 0 || again != reqs || sum.Objects != (bfObjectCounts{Total: 3, Skipped: 3}) {
		t.Fatalf("rerun: exit %d, %d new requests, objects %+v: %s %s", code, again-reqs, sum.Objects, out, errOut)
	}
	// --restart sends everything again.
	code, sum, _, _ = runBackfill(t, context.Background(), append([]string{"--restart"}, args...)...)
	if again, _ := counter.counts(); code != 0 || again == reqs || sum.Objects.Done != 3 {
		t.Fatalf("--restart: exit %d, objects %+v, requests %d then %d", code, sum.Objects, reqs, again)
	}
}

// checkGolden compares the summaries, as JSON and as text, with the golden files, once the figures that vary
// between runs (the duration and the paths) are fixed.
func checkGolden(t *testing.T, sum backfillSummary, state string) {
	t.Helper()
	sum.Source = "FOLDER"
	sum.Target = "http://API/v1/events"
	// gzip's output may change with the Go release: the byte count is checked by the caller instead.
	sum.DurationSeconds, sum.EventsPerSecond, sum.Bytes = 2, float64(sum.Events)/2, 4000
	sum.Manifest = strings.Replace(sum.Manifest, state, "STATE", 1)
	sum.ErrorsFile = strings.Replace(sum.ErrorsFile, state, "STATE", 1)
	sort.Slice(sum.Rejects, func(i, j int) bool {
		return fmt.Sprint(sum.Rejects[i].Key, sum.Rejects[i].Line) < fmt.Sprint(sum.Rejects[j].Key, sum.Rejects[j].Line)
	})
	var js, text bytes.Buffer
	if err := printJSON(&js, sum); err != nil {
		t.Fatal(err)
	}
	writeBackfillText(&text, sum)
	for name, got := range map[string][]byte{"summary.json.golden": js.Bytes(), "summary.txt.golden": text.Bytes()} {
		p := filepath.Join("testdata", "backfill", name)
		if *updateGolden {
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, got, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("%v (run go test -run TestBackfillFolder -update to write it)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs:\n--- got\n%s\n--- want\n%s", p, got, want)
		}
	}
}

// TestBackfillResume stops a backfill after its first object, then resumes it: the resumed run sends the
// other objects only, and the two runs together send every good event exactly once.
func TestBackfillResume(t *testing.T) {
	api, base, counter := countedStack(t)
	dir, good, _ := bfFolder(t, "resume")
	manifest := filepath.Join(t.TempDir(), "m.jsonl")
	args := []string{"--endpoint-url", api, "--output", "json", "--manifest", manifest, "--concurrency", "1", dir}

	code, sum, out, errOut := runBackfill(t, context.Background(), append([]string{"--max-objects", "1"}, args...)...)
	if code != 0 || sum.Objects != (bfObjectCounts{Total: 3, Done: 1, Remaining: 2}) {
		t.Fatalf("first run: exit %d, objects %+v: %s %s", code, sum.Objects, out, errOut)
	}
	code, sum, out, errOut = runBackfill(t, context.Background(), args...)
	if code != 0 || sum.Objects != (bfObjectCounts{Total: 3, Done: 2, Skipped: 1}) {
		t.Fatalf("resumed run: exit %d, objects %+v: %s %s", code, sum.Objects, out, errOut)
	}
	// The proxy saw each good event once over both runs: the resumed run did not send the first object.
	counter.mu.Lock()
	for _, id := range good {
		if n := counter.ids[id]; n != 1 {
			t.Errorf("event %s was posted %d times, want once", id, n)
		}
	}
	counter.mu.Unlock()
	for _, id := range good {
		eventually(t, 10*time.Second, "event "+id+" curated", func() bool {
			return getJSON(t, base+"/v1/events/"+id, nil) == http.StatusOK
		})
	}
}

// fakeAPI is an ingest API that takes every event, except that it pushes back all events of the first
// `throttle` requests with 429 and Retry-After 0. It records when each request came and how many events.
type fakeAPI struct {
	mu       sync.Mutex
	throttle int
	calls    []time.Time
	events   []int
	// onCall, when set, runs after each answer is written.
	onCall func()
}

// ServeHTTP answers one request.
func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var rd io.Reader = r.Body
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		rd = zr
	}
	body, _ := io.ReadAll(rd)
	n := bytes.Count(body, []byte("\n"))
	f.mu.Lock()
	f.calls = append(f.calls, time.Now())
	f.events = append(f.events, n)
	throttled := len(f.calls) <= f.throttle
	f.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if throttled {
		resp := ingest.Response{Errors: []ingest.ItemError{}}
		for i := range n {
			resp.Errors = append(resp.Errors, ingest.ItemError{Index: i, Reason: "throttled", Retryable: true})
		}
		resp.Rejected = n
		w.Header().Set("Retry-After", "0")
		w.WriteHeader(http.StatusTooManyRequests)
		json.NewEncoder(w).Encode(resp)
		return
	}
	w.WriteHeader(http.StatusAccepted)
	json.NewEncoder(w).Encode(ingest.Response{Accepted: n, Errors: []ingest.ItemError{}})
	if f.onCall != nil {
		f.onCall()
	}
}

// bfGoodFolder writes objects of n good events each and returns the folder.
func bfGoodFolder(t *testing.T, objs, n int) string {
	t.Helper()
	dir := t.TempDir()
	for o := range objs {
		var b strings.Builder
		for i := range n {
			b.WriteString(bfEvent(t, fmt.Sprintf("g-%d-%d", o, i)) + "\n")
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("o%d.ndjson", o)), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestBackfillAgainstFakeAPI covers the options against an API that counts what it gets.
func TestBackfillAgainstFakeAPI(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		throttle int
		objs, n  int
		// want
		code                int
		requests            int
		accepted            int64
		minElapsed          time.Duration
		done, failed, total int
		stderr              string
	}{
		{name: "batches of 3", args: []string{"--batch", "3"}, objs: 2, n: 7, requests: 6, accepted: 14, done: 2, total: 2},
		{name: "retries what a 429 pushed back", args: []string{"--batch", "10", "--concurrency", "1"}, throttle: 2, objs: 1, n: 5,
			requests: 3, accepted: 5, done: 1, total: 1},
		{name: "gives up after the retries", args: []string{"--max-retries", "1", "--concurrency", "1"}, throttle: 5, objs: 1, n: 5,
			code: 1, requests: 2, failed: 1, total: 1, stderr: "run the same command again"},
		{name: "dry run sends nothing", args: []string{"--dry-run"}, objs: 2, n: 5, accepted: 10, done: 2, total: 2},
		{name: "include glob", args: []string{"--include", "o1.*"}, objs: 3, n: 2, requests: 1, accepted: 2, done: 1, total: 1},
		{name: "exclude glob", args: []string{"--exclude", "o1.*"}, objs: 3, n: 2, requests: 2, accepted: 4, done: 2, total: 2},
		// 40 events at 100/s with a burst of one batch (10): the last batch is not allowed before 0.3 s.
		// It also prints progress lines, stderr being no terminal.
		{name: "rate limit", args: []string{"--rate", "100", "--batch", "10", "--progress-every", "50ms"}, objs: 2, n: 20, requests: 4, accepted: 40,
			minElapsed: 300 * time.Millisecond, done: 2, total: 2, stderr: "events/s, ETA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeAPI{throttle: tt.throttle}
			srv := httptest.NewServer(f)
			defer srv.Close()
			dir := bfGoodFolder(t, tt.objs, tt.n)
			manifest := filepath.Join(t.TempDir(), "m.jsonl")
			start := time.Now()
			args := append([]string{"--endpoint-url", srv.URL, "--output", "json", "--manifest", manifest}, tt.args...)
			code, sum, out, errOut := runBackfill(t, context.Background(), append(args, dir)...)
			elapsed := time.Since(start)
			f.mu.Lock()
			requests := len(f.calls)
			f.mu.Unlock()
			if code != tt.code || requests != tt.requests || sum.Accepted != tt.accepted ||
				sum.Objects.Done != tt.done || sum.Objects.Failed != tt.failed || sum.Objects.Total != tt.total {
				t.Fatalf("exit %d, %d requests, summary %+v; want exit %d, %d requests, %d accepted, objects %d done %d failed of %d\n%s\n%s",
					code, requests, sum, tt.code, tt.requests, tt.accepted, tt.done, tt.failed, tt.total, out, errOut)
			}
			if elapsed < tt.minElapsed {
				t.Errorf("took %v, the rate allows no less than %v", elapsed, tt.minElapsed)
			}
			if !strings.Contains(errOut, tt.stderr) {
				t.Errorf("stderr %q does not say %q", errOut, tt.stderr)
			}
			_, err := os.Stat(manifest)
			if slicesContains(tt.args, "--dry-run") != os.IsNotExist(err) {
				t.Errorf("manifest after the run: %v (a dry run writes none, others do)", err)
			}
		})
	}
}

// slicesContains reports whether s holds v.
func slicesContains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// TestBackfillErrors checks the refusals that happen before anything is sent, and an API that is down.
func TestBackfillErrors(t *testing.T) {
	dir := bfGoodFolder(t, 1, 1)
	file := filepath.Join(dir, "o0.ndjson")
	tests := []struct {
		name   string
		args   []string
		stderr string
	}{
		{"missing folder", []string{filepath.Join(dir, "nope")}, "give a folder or s3://bucket/prefix"},
		{"file, not folder", []string{file}, "is not a folder"},
		{"bad glob", []string{"--include", "[", dir}, "glob"},
		{"batch 0", []string{"--batch", "0", dir}, "--batch"},
		{"no bucket", []string{"s3:///x"}, "names no bucket"},
		{"API down", []string{"--endpoint-url", "http://127.0.0.1:1", "--max-retries", "0", dir}, "is `sdp up` running?"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append([]string{"--manifest", filepath.Join(t.TempDir(), "m.jsonl")}, tt.args...)
			code, _, out, errOut := runBackfill(t, context.Background(), args...)
			if code != 1 || !strings.Contains(out+errOut, tt.stderr) {
				t.Fatalf("exit %d, output %q %q; want exit 1 saying %q", code, out, errOut, tt.stderr)
			}
		})
	}
}

// TestBackfillCancelled stops a run by cancelling its context: it exits 1, saying how to continue.
func TestBackfillCancelled(t *testing.T) {
	// The API cancels the run as it answers the first request: the first object may or may not count as
	// done, but no object counts as failed, and the rest remain.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := &fakeAPI{onCall: cancel}
	srv := httptest.NewServer(f)
	defer srv.Close()
	dir := bfGoodFolder(t, 3, 5)
	code, sum, _, errOut := runBackfill(t, ctx, "--endpoint-url", srv.URL, "--output", "json", "--concurrency", "1",
		"--manifest", filepath.Join(t.TempDir(), "m.jsonl"), dir)
	if code != 1 || !strings.Contains(errOut, "interrupted") || sum.Objects.Failed != 0 || sum.Objects.Done+sum.Objects.Remaining != 3 {
		t.Fatalf("exit %d, objects %+v, stderr %q", code, sum.Objects, errOut)
	}
}

// emulatorEnv points the AWS configuration the command loads at the emulator's credentials, and returns the
// emulator's configuration for the test's own clients.
func emulatorEnv(t *testing.T, srv *emulator.Server) aws.Config {
	t.Helper()
	cfg := srv.Config()
	creds, err := cfg.Credentials.Retrieve(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", creds.AccessKeyID)
	t.Setenv("AWS_SECRET_ACCESS_KEY", creds.SecretAccessKey)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(t.TempDir(), "none"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(t.TempDir(), "none"))
	return cfg
}

// TestBackfillStream writes a folder to a Kinesis stream of kinesalite: the events are validated locally, so
// every bad line is reported and every good event is written.
func TestBackfillStream(t *testing.T) {
	srv := emulator.Require(t, emulator.Kinesalite)
	cfg := emulatorEnv(t, srv)
	kc := awskinesis.NewFromConfig(cfg, func(o *awskinesis.Options) { o.BaseEndpoint = aws.String(srv.Endpoint) })
	ctx := emulator.Context(t)
	name := fmt.Sprintf("backfill-%d", time.Now().UnixNano())
	if _, err := kc.CreateStream(ctx, &awskinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(1)}); err != nil {
		t.Fatalf("create stream %s: %v", name, err)
	}
	w := awskinesis.NewStreamExistsWaiter(kc, func(o *awskinesis.StreamExistsWaiterOptions) {
		o.MinDelay, o.MaxDelay = 50*time.Millisecond, 500*time.Millisecond
	})
	if err := w.Wait(ctx, &awskinesis.DescribeStreamInput{StreamName: aws.String(name)}, 30*time.Second); err != nil {
		t.Fatalf("stream %s did not become active: %v", name, err)
	}
	dir, good, bad := bfFolder(t, "stream")
	state := t.TempDir()
	code, sum, out, errOut := runBackfill(t, context.Background(), "--to", "stream", "--stream", name, "--endpoint-url", srv.Endpoint,
		"--output", "json", "--manifest", filepath.Join(state, "m.jsonl"), "--errors", filepath.Join(state, "e.jsonl"), dir)
	if code != 0 || sum.Objects.Done != 3 || sum.Accepted != int64(len(good)) || sum.Rejected != int64(len(bad)) {
		t.Fatalf("exit %d, summary %+v: %s %s", code, sum, out, errOut)
	}
	if got := readRejects(t, filepath.Join(state, "e.jsonl")); strings.Join(got, " ") != strings.Join(bad, " ") {
		t.Errorf("rejected lines %v, want %v", got, bad)
	}
	it, err := kc.GetShardIterator(ctx, &awskinesis.GetShardIteratorInput{StreamName: aws.String(name),
		ShardId: aws.String("shardId-000000000000"), ShardIteratorType: ktypes.ShardIteratorTypeTrimHorizon})
	if err != nil {
		t.Fatal(err)
	}
	recs, err := kc.GetRecords(ctx, &awskinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs.Records) != len(good) {
		t.Errorf("%d records in the stream, want %d", len(recs.Records), len(good))
	}
}

// TestBackfillS3 backfills a bucket prefix of s3rver through the S3 adapter.
func TestBackfillS3(t *testing.T) {
	srv := emulator.Require(t, emulator.S3rver)
	cfg := emulatorEnv(t, srv)
	client := awss3.NewFromConfig(cfg, func(o *awss3.Options) { o.BaseEndpoint = aws.String(srv.Endpoint); o.UsePathStyle = true })
	bucket := fmt.Sprintf("sdp-backfill-%d", time.Now().UnixNano())
	ctx := emulator.Context(t)
	if _, err := client.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	// The same objects under two prefixes: only the backfilled prefix is read.
	dir, good, bad := bfFolder(t, "s3")
	for _, key := range []string{"a.ndjson", "b.json", "sub/c.ndjson.gz"} {
		data, err := os.ReadFile(filepath.Join(dir, filepath.FromSlash(key)))
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"2026/" + key, "other/" + key} {
			if _, err := client.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(k), Body: bytes.NewReader(data)}); err != nil {
				t.Fatal(err)
			}
		}
	}
	// --endpoint-url names S3 here, so the API is given with --api-url.
	f := &fakeAPI{}
	api := httptest.NewServer(f)
	defer api.Close()
	state := t.TempDir()
	args := []string{"--endpoint-url", srv.Endpoint, "--region", "us-east-1", "--api-url", api.URL, "--output", "json",
		"--manifest", filepath.Join(state, "m.jsonl"), "--errors", filepath.Join(state, "e.jsonl"), "s3://" + bucket + "/2026/"}
	code, sum, out, errOut := runBackfill(t, context.Background(), args...)
	// The API here takes anything: all but the malformed line, which the reader refuses.
	if code != 0 || sum.Objects != (bfObjectCounts{Total: 3, Done: 3}) || sum.Accepted != int64(len(good)+len(bad)-1) {
		t.Fatalf("exit %d, summary %+v: %s %s", code, sum, out, errOut)
	}
	var wantRejects []string
	for _, b := range bad {
		wantRejects = append(wantRejects, "2026/"+b)
	}
	got := readRejects(t, filepath.Join(state, "e.jsonl"))
	if len(got) != 1 || got[0] != wantRejects[0] {
		t.Errorf("rejected before sending: %v, want [%s]", got, wantRejects[0])
	}
	code, sum, _, _ = runBackfill(t, context.Background(), args...)
	if code != 0 || sum.Objects != (bfObjectCounts{Total: 3, Skipped: 3}) {
		t.Fatalf("rerun: exit %d, objects %+v", code, sum.Objects)
	}
}

// TestBackfillKilled kills an sdp backfill process (SIGKILL) once it has finished some objects, runs it again,
// and checks that the second run skips every object the manifest holds, sends none of their events again, and
// completes the rest.
func TestBackfillKilled(t *testing.T) {
	bin, err := buildSDP()
	if err != nil {
		t.Fatal(err)
	}
	api, _, counter := countedStack(t)
	const objs, perObj = 6, 200
	dir := bfGoodFolder(t, objs, perObj)
	manifest := filepath.Join(t.TempDir(), "m.jsonl")
	args := []string{"--endpoint-url", api, "--output", "json", "--manifest", manifest, "--concurrency", "1",
		"--batch", "50", dir}

	cmd := exec.Command(bin, append([]string{"backfill", "--rate", "600", "--progress-every", "0"}, args...)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var finished []string
	eventually(t, 20*time.Second, "two objects in the manifest", func() bool {
		b, _ := os.ReadFile(manifest)
		finished = nil
		for line := range bytes.Lines(b) {
			var m struct{ Key string }
			if json.Unmarshal(line, &m) == nil && m.Key != "" {
				finished = append(finished, m.Key)
			}
		}
		return len(finished) >= 2
	})
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	b, _ := os.ReadFile(manifest)
	finished = finished[:0]
	for line := range bytes.Lines(b) {
		var m struct{ Key string }
		if json.Unmarshal(line, &m) == nil && m.Key != "" {
			finished = append(finished, m.Key)
		}
	}
	if len(finished) == objs {
		t.Fatalf("the backfill finished before it was killed; slow it down")
	}

	code, sum, out, errOut := runBackfill(t, context.Background(), args...)
	if code != 0 || sum.Objects.Skipped != len(finished) || sum.Objects.Done != objs-len(finished) {
		t.Fatalf("rerun: exit %d, objects %+v, want %d skipped and %d done: %s %s", code, sum.Objects,
			len(finished), objs-len(finished), out, errOut)
	}
	counter.mu.Lock()
	defer counter.mu.Unlock()
	for o := range objs {
		key := fmt.Sprintf("o%d.ndjson", o)
		for i := range perObj {
			id := fmt.Sprintf("g-%d-%d", o, i)
			n := counter.ids[id]
			switch {
			case slicesContains(finished, key) && n != 1:
				t.Fatalf("event %s of finished object %s was posted %d times, want once", id, key, n)
			case n < 1:
				t.Fatalf("event %s of %s was never posted", id, key)
			}
		}
	}
}
