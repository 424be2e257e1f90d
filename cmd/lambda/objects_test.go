package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awss3 "github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/serverless-data-platform/sdp/ingest"
	"github.com/serverless-data-platform/sdp/ingest/bulk"
	"github.com/serverless-data-platform/sdp/ingest/objects"
	"github.com/serverless-data-platform/sdp/internal/emulator"
)

// TestLambdaInvoker checks the self-invocation's request (Lambda's Invoke API of the function, InvocationType
// Event, the payload as body, signed with SigV4 for the lambda service) and that every answer but "queued"
// is an error naming the function.
func TestLambdaInvoker(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		status  int
		header  map[string]string
		body    string
		wantErr []string
	}{
		{name: "queued", status: http.StatusAccepted},
		{name: "refused", status: http.StatusForbidden,
			header:  map[string]string{"X-Amzn-Errortype": "AccessDeniedException"},
			body:    `{"Message":"not authorized to perform lambda:InvokeFunction"}`,
			wantErr: []string{"invoking sdp-Ingest-1", "403", "not authorized to perform lambda:InvokeFunction"}},
		{name: "no such function", status: http.StatusNotFound,
			header:  map[string]string{"X-Amzn-Errortype": "ResourceNotFoundException"},
			body:    `{"Type":"User","Message":"Function not found: sdp-Ingest-1"}`,
			wantErr: []string{"invoking sdp-Ingest-1", "ResourceNotFoundException", "Function not found"}},
		{name: "function error", status: http.StatusOK,
			header:  map[string]string{"X-Amz-Function-Error": "Unhandled"},
			body:    `{"errorMessage":"boom"}`,
			wantErr: []string{"invoking sdp-Ingest-1", "the function failed (Unhandled)", "boom"}},
		{name: "run, not queued", status: http.StatusOK, body: `null`,
			wantErr: []string{"invoking sdp-Ingest-1", "Lambda answered 200"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var got []*http.Request
			var gotBody []byte
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				mu.Lock()
				got, gotBody = append(got, r), b
				mu.Unlock()
				for k, v := range tc.header {
					w.Header().Set(k, v)
				}
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(tc.status)
				_, _ = io.WriteString(w, tc.body)
			}))
			defer srv.Close()
			inv := newSelfInvoker(testConfig(), settings{FunctionName: "sdp-Ingest-1", LambdaEndpoint: srv.URL})
			payload := []byte(`{"sdpResume":{"bucket":"b","key":"k"}}`)
			err := inv.InvokeAsync(t.Context(), payload)
			if len(tc.wantErr) > 0 {
				if err == nil {
					t.Fatalf("InvokeAsync error = nil, want one containing %q", tc.wantErr)
				}
				for _, want := range tc.wantErr {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("InvokeAsync error = %v, want one containing %q", err, want)
					}
				}
			} else if err != nil {
				t.Fatalf("InvokeAsync: %v", err)
			}
			mu.Lock()
			defer mu.Unlock()
			// None of these answers is worth retrying: one request each.
			if len(got) != 1 {
				t.Fatalf("%d requests, want 1", len(got))
			}
			r := got[0]
			if r.Method != http.MethodPost || r.URL.Path != "/2015-03-31/functions/sdp-Ingest-1/invocations" {
				t.Errorf("request %s %s, want POST /2015-03-31/functions/sdp-Ingest-1/invocations", r.Method, r.URL.Path)
			}
			if v := r.Header.Get("X-Amz-Invocation-Type"); v != "Event" {
				t.Errorf("X-Amz-Invocation-Type = %q, want Event", v)
			}
			wantAuth := "AWS4-HMAC-SHA256 Credential=" + testAccessKey + "/"
			if a := r.Header.Get("Authorization"); !strings.HasPrefix(a, wantAuth) || !strings.Contains(a, "/"+testRegion+"/lambda/aws4_request") {
				t.Errorf("Authorization = %q, want a SigV4 signature for lambda in %s", a, testRegion)
			}
			if !bytes.Equal(gotBody, payload) {
				t.Errorf("body %s, want %s", gotBody, payload)
			}
		})
	}
}

// TestLambdaInvokerWithoutCredentials checks that the invoker refuses to send an unsigned request.
func TestLambdaInvokerWithoutCredentials(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	requests := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		requests++
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	inv := newSelfInvoker(aws.Config{Region: testRegion}, settings{FunctionName: "sdp-Ingest-1", LambdaEndpoint: srv.URL})
	err := inv.InvokeAsync(t.Context(), []byte(`{}`))
	if err == nil || !strings.Contains(err.Error(), "invoking sdp-Ingest-1: no AWS credentials") {
		t.Errorf("InvokeAsync error = %v, want one saying sdp-Ingest-1 has no AWS credentials", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if requests != 0 {
		t.Errorf("%d requests sent, want none", requests)
	}
}

// TestNewSelfInvokerOutsideLambda checks that no self-invoker is built without the function's name.
func TestNewSelfInvokerOutsideLambda(t *testing.T) {
	t.Parallel()
	if inv := newSelfInvoker(testConfig(), settings{}); inv != nil {
		t.Fatalf("newSelfInvoker without AWS_LAMBDA_FUNCTION_NAME = %v, want nil", inv)
	}
}

// s3Notification is an S3 event notification of an object created.
func s3Notification(bucket, key string) string {
	return fmt.Sprintf(`{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":"us-east-1",`+
		`"eventName":"ObjectCreated:Put","s3":{"s3SchemaVersion":"1.0","bucket":{"name":%q},"object":{"key":%q,"size":1}}}]}`,
		bucket, key)
}

// TestIngestFunctionS3Path builds the ingest function with its S3 path over a folder and checks that an S3
// notification gets its object's events to the stream.
func TestIngestFunctionS3Path(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	events, err := os.ReadFile(sampleEvents)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "in"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "in", "sample 1.json"), events, 0o644); err != nil {
		t.Fatal(err)
	}
	prod := &fakeProducer{}
	d := testDeps(&recorder{}, prod, nil, nil)
	d.newObjectStores = func(aws.Config, settings) ingest.ObjectStores {
		return func(bucket string) (objects.Store, error) { return objects.NewFolder(dir), nil }
	}
	h, err := newHandler(t.Context(), settings{Handler: nameIngest, EventStream: "events"}, d, discard())
	if err != nil {
		t.Fatalf("newHandler: %v", err)
	}
	out, _, err := invoke(t, h, s3Notification("raw", "in/sample+1.json"))
	if err != nil {
		t.Fatalf("Invoke: %v", err)
	}
	var resp ingest.ObjectsResponse
	if err := json.Unmarshal(out, &resp); err != nil {
		t.Fatalf("answer %s: %v", out, err)
	}
	if len(resp.Objects) != 1 || resp.Objects[0].Status != ingest.StatusDone || resp.Objects[0].Accepted != 5 {
		t.Errorf("answer %s, want the object done with its 5 events accepted", out)
	}
	prod.mu.Lock()
	defer prod.mu.Unlock()
	if len(prod.recs) != 5 {
		t.Errorf("the stream took %d records, want 5", len(prod.recs))
	}
}

// pastDeadline is a context whose deadline has passed but which is never done: an invocation out of time.
type pastDeadline struct{ context.Context }

// Deadline returns a time in the past.
func (pastDeadline) Deadline() (time.Time, bool) { return time.Unix(1, 0), true }

// TestIngestFunctionS3 runs the ingest function's S3 path against s3rver, through the function's own S3
// client: an object of 1200 events, with rejected lines, ingested over invocations that each run out of
// time, resumed from the progress marker by ranged reads, with the errors objects written beside it.
func TestIngestFunctionS3(t *testing.T) {
	t.Parallel()
	srv := emulator.Require(t, emulator.S3rver)
	ctx := emulator.Context(t)
	cfg := srv.Config()
	client := awss3.NewFromConfig(cfg, func(o *awss3.Options) { o.BaseEndpoint = aws.String(srv.Endpoint); o.UsePathStyle = true })
	b := make([]byte, 4)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	bucket := "sdp-raw-" + hex.EncodeToString(b)
	if _, err := client.CreateBucket(ctx, &awss3.CreateBucketInput{Bucket: aws.String(bucket)}); err != nil {
		t.Fatal(err)
	}
	const key = "backfill/day 1.ndjson"
	var content strings.Builder
	for i := range 1200 {
		if i%300 == 7 {
			content.WriteString("{not json}\n")
			continue
		}
		fmt.Fprintf(&content, `{"specversion":"1.0","id":"ev-%04d","source":"urn:sdp:plant:hamburg:line-3","type":"sensor_reading",`+
			`"time":"2026-11-26T09:16:30Z","data":{"device_id":"device-ht-0042","metric":"temperature","value":21.7,"unit":"celsius"}}`+"\n", i)
	}
	if _, err := client.PutObject(ctx, &awss3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key),
		Body: strings.NewReader(content.String())}); err != nil {
		t.Fatal(err)
	}

	cfg.BaseEndpoint = aws.String(srv.Endpoint)
	stores := newObjectStores(cfg, settings{S3Endpoint: srv.Endpoint})
	var queued []string
	prod := &fakeProducer{}
	reg, err := newRegistry(nameIngest, discard())
	if err != nil {
		t.Fatal(err)
	}
	// 299 events a PutRecords call: each invocation (out of time) ingests one call's worth, 300 lines.
	g, err := bulk.NewIngester(reg, prod, bulk.WithBatchSize(299))
	if err != nil {
		t.Fatal(err)
	}
	h := ingest.New(reg, prod, ingest.WithObjects(stores, g),
		ingest.WithSelfInvoker(ingest.SelfInvokerFunc(func(_ context.Context, p []byte) error {
			queued = append(queued, string(p))
			return nil
		})))
	payload := s3Notification(bucket, "backfill/day+1.ndjson")
	var statuses []string
	for payload != "" {
		if len(statuses) > 10 {
			t.Fatalf("not done after %d invocations: %v", len(statuses), statuses)
		}
		out, err := h.Invoke(pastDeadline{ctx}, []byte(payload))
		if err != nil {
			t.Fatalf("invocation %d: %v", len(statuses)+1, err)
		}
		var resp ingest.ObjectsResponse
		if err := json.Unmarshal(out, &resp); err != nil || len(resp.Objects) != 1 {
			t.Fatalf("answer %s: %v", out, err)
		}
		statuses = append(statuses, resp.Objects[0].Status)
		payload = ""
		if len(queued) > 0 {
			payload, queued = queued[0], queued[1:]
		}
	}
	// The fifth invocation finds the end of the object.
	if want := "continued continued continued continued done"; strings.Join(statuses, " ") != want {
		t.Errorf("statuses %v, want %s", statuses, want)
	}
	prod.mu.Lock()
	taken := len(prod.recs)
	prod.mu.Unlock()
	if taken != 1196 {
		t.Errorf("the stream took %d records, want the 1196 valid events", taken)
	}
	// Each of the four parts held one rejected line: its own errors object.
	for part := 1; part <= 4; part++ {
		k := fmt.Sprintf("errors/%s.part-%d.ndjson", key, part)
		obj, err := client.GetObject(ctx, &awss3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(k)})
		if err != nil {
			t.Errorf("errors object %s: %v", k, err)
			continue
		}
		body, _ := io.ReadAll(obj.Body)
		obj.Body.Close()
		line := 300*(part-1) + 8
		if want := fmt.Sprintf(`{"line":%d,"index":%d,`, line, line-1); !strings.HasPrefix(string(body), want) || strings.Count(string(body), "\n") != 1 {
			t.Errorf("errors object %s = %s, want one line starting %s", k, body, want)
		}
	}
}
