package ingest

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	segjson "github.com/segmentio/encoding/json"

	"github.com/serverless-data-platform/sdp/event"
)

// TestServeHTTP posts bodies to the handler behind a real HTTP server on 127.0.0.1 and checks the status,
// the headers and the JSON answer.
func TestServeHTTP(t *testing.T) {
	t.Parallel()
	a, b := valid("ev-a"), valid("ev-bb")
	tests := []struct {
		name        string
		method      string
		header      map[string]string
		body        []byte
		put         func(int, []event.Record) ([]event.PutResult, error)
		wantStatus  int
		wantHeader  map[string]string
		wantBody    string // a substring of the answer
		wantTaken   []string
		chunked     bool // send without Content-Length
		wantNoError bool // the answer has no "error" member
	}{
		{
			name: "batch accepted", method: http.MethodPost, header: map[string]string{"Content-Type": event.ContentTypeBatch},
			body: batch(a, b), wantStatus: 202, wantBody: `{"accepted":2,"rejected":0,"errors":[]}`,
			wantTaken: []string{"ev-a", "ev-bb"}, wantNoError: true,
		},
		{
			name: "gzip ndjson", method: http.MethodPost,
			header: map[string]string{"Content-Type": event.ContentTypeNDJSON, "Content-Encoding": "gzip"},
			body:   gzipped(t, ndjson(a, b), 0), wantStatus: 202, wantTaken: []string{"ev-a", "ev-bb"},
		},
		// The stream throttles one record: 429, Retry-After, and the record marked retryable.
		{
			name: "throttled", method: http.MethodPost, body: batch(a, b),
			put:        refuse(event.ErrCodeThroughputExceeded, "ev-bb"),
			wantStatus: 429, wantHeader: map[string]string{"Retry-After": "2"},
			wantBody:  `{"index":1,"id":"ev-bb","reason":"not written: the stream is over its throughput`,
			wantTaken: []string{"ev-a"},
		},
		// The stream fails a record: 503 with Retry-After.
		{
			name: "stream down", method: http.MethodPost, body: batch(a),
			put:        refuse(event.ErrCodeInternalFailure, "ev-a"),
			wantStatus: 503, wantHeader: map[string]string{"Retry-After": "2"}, wantBody: `"retryable":true`,
		},
		{
			name: "wrong content type", method: http.MethodPost, header: map[string]string{"Content-Type": "text/csv"},
			body: []byte("id,type\n1,x\n"), wantStatus: 415, wantBody: `"error":"unsupported content type: \"text/csv\"`,
		},
		{
			name: "body over the limit", method: http.MethodPost,
			body: bytes.Repeat([]byte(" "), event.DefaultLimits.MaxBodyBytes+1), wantStatus: 413, wantBody: "too large",
		},
		// Without Content-Length, the limit is enforced while reading.
		{
			name: "chunked body over the limit", method: http.MethodPost, chunked: true,
			body: bytes.Repeat([]byte(" "), event.DefaultLimits.MaxBodyBytes+100), wantStatus: 413, wantBody: "too large",
		},
		{
			name: "chunked body within the limit", method: http.MethodPost, chunked: true,
			body: batch(a), wantStatus: 202, wantTaken: []string{"ev-a"},
		},
		{
			name: "GET", method: http.MethodGet, wantStatus: 405,
			wantHeader: map[string]string{"Allow": "POST"}, wantBody: "method GET is not allowed",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := &fakeProducer{put: tc.put}
			srv := httptest.NewServer(newHandler(t, p, WithRetryAfter(2*time.Second)))
			defer srv.Close()
			if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
				t.Fatalf("test server listens on %s, want 127.0.0.1", srv.URL)
			}
			var body io.Reader = bytes.NewReader(tc.body)
			if tc.chunked {
				body = io.MultiReader(body) // hides the length: the request is sent chunked
			}
			req, err := http.NewRequestWithContext(t.Context(), tc.method, srv.URL+"/v1/events", body)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tc.header {
				req.Header.Set(k, v)
			}
			res, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			got, err := io.ReadAll(res.Body)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != tc.wantStatus {
				t.Errorf("status = %d, want %d (%s)", res.StatusCode, tc.wantStatus, got)
			}
			if ct := res.Header.Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q, want application/json", ct)
			}
			for k, v := range tc.wantHeader {
				if res.Header.Get(k) != v {
					t.Errorf("%s = %q, want %q", k, res.Header.Get(k), v)
				}
			}
			if tc.wantHeader["Retry-After"] == "" && res.Header.Get("Retry-After") != "" {
				t.Errorf("Retry-After = %q on a %d", res.Header.Get("Retry-After"), res.StatusCode)
			}
			var resp Response
			if err := segjson.Unmarshal(got, &resp); err != nil || resp.Errors == nil {
				t.Errorf("answer %s is not a Response with an errors list: %v", got, err)
			}
			if !strings.Contains(string(got), tc.wantBody) {
				t.Errorf("answer %s does not contain %s", got, tc.wantBody)
			}
			if tc.wantNoError && resp.Error != "" {
				t.Errorf("answer %s has an error member", got)
			}
			if taken := p.takenIDs(); !slices.Equal(taken, tc.wantTaken) {
				t.Errorf("the stream took %q, want %q", taken, tc.wantTaken)
			}
		})
	}
}
