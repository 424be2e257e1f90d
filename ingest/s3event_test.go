package ingest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/serverless-data-platform/sdp/event"
	"github.com/serverless-data-platform/sdp/ingest"
	"github.com/serverless-data-platform/sdp/ingest/bulk"
	"github.com/serverless-data-platform/sdp/ingest/objects"
)

// memStream is a stream that takes every record and remembers the events' ids.
type memStream struct {
	mu  sync.Mutex
	ids []string
}

// PutRecords takes recs.
func (m *memStream) PutRecords(_ context.Context, recs []event.Record) ([]event.PutResult, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	res := make([]event.PutResult, len(recs))
	for i, r := range recs {
		var v struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(r.Data, &v); err != nil {
			return nil, err
		}
		m.ids = append(m.ids, v.ID)
		res[i] = event.PutResult{ShardID: "shardId-000000000000", SequenceNumber: strconv.Itoa(len(m.ids))}
	}
	return res, nil
}

// taken returns the ids taken so far, sorted.
func (m *memStream) taken() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	ids := slices.Clone(m.ids)
	slices.Sort(ids)
	return ids
}

// sensorEvent is a valid sensor_reading event with the id.
func sensorEvent(id string) string {
	return `{"specversion":"1.0","id":"` + id + `","source":"urn:sdp:plant:hamburg:line-3","type":"sensor_reading",` +
		`"time":"2026-11-26T09:16:30Z","data":{"device_id":"device-ht-0042","metric":"temperature","value":21.7,"unit":"celsius"}}`
}

// ndjson returns n valid events with ids prefix-0000... as NDJSON, and their ids.
func ndjson(prefix string, n int) (string, []string) {
	var b strings.Builder
	ids := make([]string, n)
	for i := range n {
		ids[i] = fmt.Sprintf("%s-%04d", prefix, i)
		b.WriteString(sensorEvent(ids[i]) + "\n")
	}
	return b.String(), ids
}

// bucketFolder is a folder store per bucket, under one root.
type bucketFolder struct{ root string }

// put writes an object.
func (f bucketFolder) put(t *testing.T, bucket, key, content string) {
	t.Helper()
	path := filepath.Join(f.root, bucket, filepath.FromSlash(key))
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// stores returns the store of a bucket; a bucket without a folder does not exist.
func (f bucketFolder) stores(bucket string) (objects.Store, error) {
	dir := filepath.Join(f.root, bucket)
	if _, err := os.Stat(dir); err != nil {
		return nil, fmt.Errorf("bucket %q: %w", bucket, objects.ErrNotFound)
	}
	return objects.NewFolder(dir), nil
}

// selfQueue is a SelfInvoker that queues the payloads sent.
type selfQueue struct {
	mu       sync.Mutex
	payloads [][]byte
	err      error
}

// InvokeAsync queues payload.
func (q *selfQueue) InvokeAsync(_ context.Context, payload []byte) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.err != nil {
		return q.err
	}
	q.payloads = append(q.payloads, slices.Clone(payload))
	return nil
}

// pop takes the oldest payload, or nil.
func (q *selfQueue) pop() []byte {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.payloads) == 0 {
		return nil
	}
	p := q.payloads[0]
	q.payloads = q.payloads[1:]
	return p
}

// s3Event is an S3 notification of one record.
func s3Event(name, bucket, key string) []byte {
	return fmt.Appendf(nil, `{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"eu-central-1",`+
		`"eventName":%q,"s3":{"s3SchemaVersion":"1.0","bucket":{"name":%q,"arn":"arn:aws:s3:::%s"},`+
		`"object":{"key":%q,"size":10,"eTag":"x"}}}]}`, name, bucket, bucket, key)
}

// eventBridgeEvent is an EventBridge S3 event.
func eventBridgeEvent(detailType, bucket, key string) []byte {
	return fmt.Appendf(nil, `{"version":"0","id":"17793124","detail-type":%q,"source":"aws.s3","account":"123456789012",`+
		`"time":"2026-11-26T09:20:00Z","region":"eu-central-1","resources":["arn:aws:s3:::%s"],`+
		`"detail":{"version":"0","bucket":{"name":%q},"object":{"key":%q,"size":10,"etag":"x"},"reason":"PutObject"}}`,
		detailType, bucket, bucket, key)
}

// newObjectHandler returns a Handler with the S3 path over the folders, a bulk Ingester of batchSize and
// the self-invoker q (none when nil).
func newObjectHandler(t *testing.T, f bucketFolder, s *memStream, batchSize int, q *selfQueue) *ingest.Handler {
	t.Helper()
	reg, err := event.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	g, err := bulk.NewIngester(reg, s, bulk.WithBatchSize(batchSize))
	if err != nil {
		t.Fatal(err)
	}
	opts := []ingest.Option{ingest.WithObjects(f.stores, g)}
	if q != nil {
		opts = append(opts, ingest.WithSelfInvoker(q))
	}
	return ingest.New(reg, s, opts...)
}

// TestInvokeObjects checks S3 notifications and EventBridge events through Handler.Invoke.
func TestInvokeObjects(t *testing.T) {
	t.Parallel()
	content, ids := ndjson("ev", 3)
	tests := []struct {
		name        string
		payload     []byte
		wantStatus  string
		wantReason  string
		wantKey     string
		wantIDs     []string
		wantErrText string
	}{
		{
			name: "S3 notification with a URL-encoded key", payload: s3Event("ObjectCreated:Put", "raw", "in/my+day%3A1.ndjson"),
			wantStatus: ingest.StatusDone, wantKey: "in/my day:1.ndjson", wantIDs: ids,
		},
		{
			name: "S3 multipart upload", payload: s3Event("ObjectCreated:CompleteMultipartUpload", "raw", "in/plain.ndjson"),
			wantStatus: ingest.StatusDone, wantKey: "in/plain.ndjson", wantIDs: ids,
		},
		{
			name: "EventBridge Object Created with a plain key", payload: eventBridgeEvent("Object Created", "raw", "in/my day:1.ndjson"),
			wantStatus: ingest.StatusDone, wantKey: "in/my day:1.ndjson", wantIDs: ids,
		},
		{
			name: "S3 ObjectRemoved is skipped", payload: s3Event("ObjectRemoved:Delete", "raw", "in/plain.ndjson"),
			wantStatus: ingest.StatusSkipped, wantKey: "in/plain.ndjson", wantReason: "not an ObjectCreated event",
		},
		{
			name: "EventBridge Object Deleted is skipped", payload: eventBridgeEvent("Object Deleted", "raw", "in/plain.ndjson"),
			wantStatus: ingest.StatusSkipped, wantKey: "in/plain.ndjson", wantReason: "not an Object Created event",
		},
		{
			name: "errors objects are never ingested", payload: s3Event("ObjectCreated:Put", "raw", "errors/in/plain.ndjson.ndjson"),
			wantStatus: ingest.StatusSkipped, wantKey: "errors/in/plain.ndjson.ndjson", wantReason: "under errors/ or progress/",
		},
		{
			name: "progress markers are never ingested", payload: eventBridgeEvent("Object Created", "raw", "progress/in/plain.ndjson.json"),
			wantStatus: ingest.StatusSkipped, wantKey: "progress/in/plain.ndjson.json", wantReason: "under errors/ or progress/",
		},
		{
			name: "an object deleted since is skipped", payload: s3Event("ObjectCreated:Put", "raw", "in/gone.ndjson"),
			wantStatus: ingest.StatusSkipped, wantKey: "in/gone.ndjson", wantReason: "no longer exists",
		},
		{
			name: "a bucket that does not exist", payload: s3Event("ObjectCreated:Put", "nope", "in/plain.ndjson"),
			wantErrText: `the store of bucket "nope"`,
		},
		{
			name: "a key that is not URL-encoded", payload: s3Event("ObjectCreated:Put", "raw", "in/100%.ndjson"),
			wantErrText: "is not URL-encoded",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := bucketFolder{root: t.TempDir()}
			f.put(t, "raw", "in/my day:1.ndjson", content)
			f.put(t, "raw", "in/plain.ndjson", content)
			f.put(t, "raw", "errors/in/plain.ndjson.ndjson", content)
			f.put(t, "raw", "progress/in/plain.ndjson.json", content)
			s := &memStream{}
			out, err := newObjectHandler(t, f, s, 500, nil).Invoke(context.Background(), tc.payload)
			if tc.wantErrText != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErrText) {
					t.Fatalf("Invoke error = %v, want one containing %q", err, tc.wantErrText)
				}
				return
			}
			if err != nil {
				t.Fatalf("Invoke: %v", err)
			}
			var resp ingest.ObjectsResponse
			if err := json.Unmarshal(out, &resp); err != nil {
				t.Fatalf("answer %s: %v", out, err)
			}
			if len(resp.Objects) != 1 {
				t.Fatalf("answer %s, want one object", out)
			}
			o := resp.Objects[0]
			if o.Status != tc.wantStatus || o.Key != tc.wantKey || o.Bucket != "raw" || !strings.Contains(o.Reason, tc.wantReason) {
				t.Errorf("object = %+v, want status %q, key %q, reason containing %q", o, tc.wantStatus, tc.wantKey, tc.wantReason)
			}
			if got := s.taken(); !slices.Equal(got, tc.wantIDs) {
				t.Errorf("the stream took %q, want %q", got, tc.wantIDs)
			}
		})
	}
}

// pastDeadline is a context whose deadline has passed but which is never done: an invocation that has run
// out of time, without the timing of a real deadline.
type pastDeadline struct{ context.Context }

// Deadline returns a time in the past.
func (pastDeadline) Deadline() (time.Time, bool) { return time.Unix(1, 0), true }

// TestInvokeObjectsContinued checks an object that takes several invocations: each writes the progress
// marker and invokes the function again, until every event was taken exactly once; a late duplicate resume
// request does nothing, and a replaced object starts over.
func TestInvokeObjectsContinued(t *testing.T) {
	t.Parallel()
	const bucket, key = "raw", "big/day 1.ndjson"
	content, ids := ndjson("ev", 250)
	f := bucketFolder{root: t.TempDir()}
	f.put(t, bucket, key, content)
	s, q := &memStream{}, &selfQueue{}
	h := newObjectHandler(t, f, s, 100, q)
	ctx := pastDeadline{context.Background()}

	payload := s3Event("ObjectCreated:Put", bucket, "big/day+1.ndjson")
	var statuses []string
	for payload != nil {
		if len(statuses) > 10 {
			t.Fatalf("not done after %d invocations: %v", len(statuses), statuses)
		}
		out, err := h.Invoke(ctx, payload)
		if err != nil {
			t.Fatalf("invocation %d: %v", len(statuses)+1, err)
		}
		var resp ingest.ObjectsResponse
		if err := json.Unmarshal(out, &resp); err != nil || len(resp.Objects) != 1 {
			t.Fatalf("answer %s: %v", out, err)
		}
		statuses = append(statuses, resp.Objects[0].Status)
		payload = q.pop()
		if payload != nil && !bytes.Equal(payload, []byte(`{"sdpResume":{"bucket":"raw","key":"big/day 1.ndjson"}}`)) {
			t.Fatalf("self-invocation payload %s", payload)
		}
	}
	if want := []string{"continued", "continued", "done"}; !slices.Equal(statuses, want) {
		t.Errorf("statuses %v, want %v", statuses, want)
	}
	if got := s.taken(); !slices.Equal(got, ids) {
		t.Errorf("the stream took %d events, want the %d events once each", len(got), len(ids))
	}
	store, _ := f.stores(bucket)
	obj, err := store.Stat(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	marker := readMarker(t, store, key)
	if want := (ingest.Marker{ETag: obj.ETag, ObjectProgress: ingest.ObjectProgress{Offset: obj.Size, Index: 250, Part: 2, Line: 251}, Done: true}); marker != want {
		t.Errorf("final marker %+v, want %+v", marker, want)
	}

	// A duplicate resume request after the end does nothing.
	out, err := h.Invoke(ctx, []byte(`{"sdpResume":{"bucket":"raw","key":"big/day 1.ndjson"}}`))
	if err != nil || !strings.Contains(string(out), `"status":"skipped"`) || len(s.taken()) != 250 || q.pop() != nil {
		t.Errorf("duplicate resume: %s, %v, %d taken; want skipped and nothing taken", out, err, len(s.taken()))
	}

	// A marker of another version of the object is ignored: the resume starts over.
	m := ingest.Marker{ETag: `"old"`, ObjectProgress: ingest.ObjectProgress{Offset: 1000, Index: 200, Part: 3}}
	b, _ := json.Marshal(m)
	if _, err := store.Put(context.Background(), ingest.ProgressKey(key), bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Invoke(context.Background(), []byte(`{"sdpResume":{"bucket":"raw","key":"big/day 1.ndjson"}}`)); err != nil {
		t.Fatal(err)
	}
	if got := len(s.taken()); got != 500 {
		t.Errorf("after a resume with a stale marker the stream took %d events, want 500 (the object again)", got)
	}
}

// readMarker reads the progress marker of key.
func readMarker(t *testing.T, store objects.Store, key string) ingest.Marker {
	t.Helper()
	rc, err := store.Open(context.Background(), ingest.ProgressKey(key))
	if err != nil {
		t.Fatalf("the progress marker: %v", err)
	}
	defer rc.Close()
	var m ingest.Marker
	if err := json.NewDecoder(rc).Decode(&m); err != nil {
		t.Fatalf("the progress marker: %v", err)
	}
	return m
}

// TestInvokeObjectsCannotContinue checks the errors of an unfinished object that cannot be handed on.
func TestInvokeObjectsCannotContinue(t *testing.T) {
	t.Parallel()
	content, _ := ndjson("ev", 250)
	tests := []struct {
		name    string
		q       *selfQueue
		wantErr string
	}{
		{"no self-invoker", nil, "cannot invoke itself to go on"},
		{"the self-invocation fails", &selfQueue{err: errors.New("AccessDenied")}, "AccessDenied"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := bucketFolder{root: t.TempDir()}
			f.put(t, "raw", "o.ndjson", content)
			h := newObjectHandler(t, f, &memStream{}, 100, tc.q)
			_, err := h.Invoke(pastDeadline{context.Background()}, s3Event("ObjectCreated:Put", "raw", "o.ndjson"))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Invoke error = %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}

// TestInvokeObjectsOff checks that without WithObjects a resume request is refused as unsupported.
func TestInvokeObjectsOff(t *testing.T) {
	t.Parallel()
	reg, err := event.NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	_, err = ingest.New(reg, &memStream{}).Invoke(context.Background(), []byte(`{"sdpResume":{"bucket":"b","key":"k"}}`))
	if !errors.Is(err, ingest.ErrUnsupportedEvent) {
		t.Fatalf("Invoke error = %v, want ErrUnsupportedEvent", err)
	}
}
